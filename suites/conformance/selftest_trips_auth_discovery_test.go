package conformance

import refop "github.com/ciba-check/ciba-check/reference-op"

// authDiscoveryFaultTrips: the checks each fault of reference-op/faults_auth_discovery.go must trip.
var authDiscoveryFaultTrips = map[string][]string{
	// Client authentication. The default assertion aud is the endpoint's
	// own URL, so only the other aud values can be refused in isolation.
	refop.FaultAssertionAudStringOnly: {"accepts a backchannel client assertion with aud = [backchannel endpoint] as an array"},
	refop.FaultAssertionAudEndpointOnly: {
		"accepts a backchannel client assertion with aud = issuer",
		"accepts a backchannel client assertion with aud = token endpoint",
		"accepts a token client assertion with aud = issuer",
	},
	// The mTLS probes name a private_key_jwt client as "another client",
	// so accepting client_id alone also lets those requests through.
	refop.FaultClientIDWithoutAssertion: {
		"refuses a backchannel request whose client_id differs from the request object's iss",
		"refuses a backchannel request with client_id but no client assertion",
		"refuses a token request naming another client over the caller's certificate",
		"refuses a token request with client_id but no client assertion",
	},
	refop.FaultAcceptRS256Assertion:   {"refuses a backchannel client assertion signed with RS256", "refuses a token client assertion signed with RS256"},
	refop.FaultAcceptNoneAssertion:    {"refuses a client assertion with alg none"},
	refop.FaultAcceptHS256Assertion:   {"refuses an HS256 client assertion keyed with the client's public key"},
	refop.FaultIgnoreAssertionExp:     {"refuses an expired client assertion"},
	refop.FaultIgnoreAssertionReplay:  {"refuses a replayed client assertion"},
	refop.FaultIgnoreAssertionAud:     {"refuses a client assertion whose aud is another server"},
	refop.FaultIgnoreAssertionSub:     {"refuses a client assertion whose sub is not its iss"},
	refop.FaultAssertionAnyClientKey:  {"refuses a client assertion signed with another client's key"},
	refop.FaultIgnoreAssertionType:    {"refuses a wrong client_assertion_type"},
	refop.FaultMTLSWithoutCertificate: {"refuses a mutual-TLS client that presents no certificate"},
	// Identified by its certificate, the caller redeems another client's
	// auth_req_id: invalid_grant instead of invalid_client.
	refop.FaultMTLSClientFromCertificate: {
		"refuses a backchannel request whose client_id differs from the request object's iss",
		"refuses a token request naming another client over the caller's certificate",
	},
	refop.FaultMTLSActsForClientID: {
		"refuses a backchannel request naming another client over the caller's certificate",
		"refuses a backchannel request whose client_id differs from the request object's iss",
		"refuses a token request naming another client over the caller's certificate",
	},

	// Discovery and JWKS.
	refop.FaultDiscoveryTextPlain: {"serves the discovery document with HTTP 200 as application/json"},
	// The suite takes the published issuer as the assertion aud and the
	// expected ID token iss.
	refop.FaultIssuerTrailingSlash: {
		"accepts a backchannel client assertion with aud = issuer",
		"accepts a token client assertion with aud = issuer",
		"issues an ID token with iss, aud, sub, iat and a future exp",
		"publishes an issuer identical to the discovery URL prefix",
	},
	refop.FaultNoPollMode:            {"lists poll in backchannel_token_delivery_modes_supported"},
	refop.FaultNoPingMode:            {"lists ping when the target registers ping clients"},
	refop.FaultNoCIBAGrantType:       {"lists the CIBA grant type in grant_types_supported"},
	refop.FaultAdvertiseClientSecret: {"offers only private_key_jwt and mutual-TLS client authentication"},
	refop.FaultAdvertiseRS256: {
		"publishes only PS256/ES256 as backchannel request signing algorithms",
		"publishes only PS256/ES256 for client assertions",
		"publishes only PS256/ES256 for signed userinfo if at all",
	},
	refop.FaultIDTokenAlgNone:             {"publishes PS256 or ES256 and never none for ID tokens"},
	refop.FaultDiscoveryNullMembers:       {"publishes mtls_endpoint_aliases as an object of https URLs if at all", "publishes only PS256/ES256 for signed userinfo if at all"},
	refop.FaultNoCertBoundAccessTokenFlag: {"advertises tls_client_certificate_bound_access_tokens true"},
	refop.FaultJWKSDuplicateKid:           {"publishes a JWKS whose keys all have distinct kids"},
	refop.FaultJWKSLegacyRSA1024:          {"publishes RSA keys of at least 2048 bits and EC keys of at least 160 bits"},
	refop.FaultHTTPEndpointURLs:           {"publishes backchannel_authentication_endpoint as an https URL", "publishes token_endpoint as an https URL"},
	// A null flag reads as false: the user_code checks then skip.
	refop.FaultUserCodeFlagNull: {
		"accepts a request with the user's user_code",
		"publishes backchannel_user_code_parameter_supported as a boolean if at all",
		"refuses a request with a wrong user_code with invalid_user_code",
		"refuses a request without the user's user_code with missing_user_code",
	},
}
