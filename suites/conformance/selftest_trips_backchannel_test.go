package conformance

// backchannelFaultTrips: the checks each fault of reference-op/faults_backchannel.go must trip.
var backchannelFaultTrips = map[string][]string{}
