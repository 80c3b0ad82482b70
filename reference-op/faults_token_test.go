package refop_test

// tokenFaultProbes observe the faults of faults_token.go.
var tokenFaultProbes = map[string]faultProbe{}
