package refop_test

// backchannelFaultProbes observe the faults of faults_backchannel.go.
var backchannelFaultProbes = map[string]faultProbe{}
