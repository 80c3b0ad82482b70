package refop_test

// authDiscoveryFaultProbes observe the faults of faults_auth_discovery.go.
var authDiscoveryFaultProbes = map[string]faultProbe{}
