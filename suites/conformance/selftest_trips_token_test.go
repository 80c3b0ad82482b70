package conformance

// tokenFaultTrips: the checks each fault of reference-op/faults_token.go must trip.
var tokenFaultTrips = map[string][]string{}
