package conformance

// authDiscoveryFaultTrips: the checks each fault of reference-op/faults_auth_discovery.go must trip.
var authDiscoveryFaultTrips = map[string][]string{}
