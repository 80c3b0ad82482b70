package refop

// tokenFaults deviate at the token endpoint, ID tokens, refresh, ping delivery, userinfo and TLS.
func tokenFaults() []Fault {
	return nil
}
