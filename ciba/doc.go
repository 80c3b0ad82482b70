// Package ciba is the shared vocabulary of ciba-check: the wire types,
// parameter and claim names, constants and OAuth error codes of OpenID
// Connect CIBA Core 1.0 and the FAPI-CIBA profile.
//
// It holds no verdicts. The reference OP validates requests with its own
// code and the conformance suite judges responses with its own; both only
// share the words they speak, so a bug in one cannot hide in the other.
package ciba
