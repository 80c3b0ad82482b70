package refop

// authDiscoveryFaults deviate at client authentication (private_key_jwt, mTLS) at every endpoint, and discovery/JWKS.
func authDiscoveryFaults() []Fault {
	return nil
}
