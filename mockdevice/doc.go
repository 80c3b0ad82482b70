// Package mockdevice is a scriptable stand-in for the user's authentication
// device (the phone of CIBA 1 and 2). An OP under test reaches it over
// HTTP(S) through the authentication channel contract of Keycloak's CIBA
// "HTTP authentication channel", so the same device serves our reference OP
// and a real Keycloak:
//
//   - OP -> device: POST PathChannel with a JSON ciba.DeviceAuthRequest
//     ({scope, binding_message, login_hint, is_consent_required, acr_values,
//     user_code}) and "Authorization: Bearer <JWT signed by the OP>". The JWT
//     carries iss, aud (the issuer), jti (the request's id; our reference OP
//     uses the auth_req_id), azp (client_id), sub, exp and iat. The device
//     answers 201 Created with an empty body, or the status its policy says.
//   - device -> OP: once the user "decides", POST Config.CallbackURL with a
//     JSON ciba.DeviceCallback {"status": "SUCCEED"|"UNAUTHORIZED"|
//     "CANCELLED"} and the same bearer token. Keycloak's callback is
//     <realm issuer>/protocol/openid-connect/ext/ciba/auth/callback.
//
// What the user "does" is scripted per login_hint with a Policy: approve,
// deny or cancel (optionally after a delay run on the injected clock), never
// answer until decided by hand, or fail the OP's POST with an HTTP error.
// Every request is recorded with what it showed the user, so tests and the
// conformance suite can assert on binding_message, scope or user_code.
//
// # HTTP routes
//
// All served by Device.Handler. Every error body is JSON
// {"error": "...", "error_description": "..."}; request bodies are limited
// to MaxBodyBytes.
//
//	POST /channel                         the OP-facing channel (PathChannel)
//	GET  /requests                        every recorded Request, in arrival order
//	GET  /requests/{id}                   one Request; 404 if unknown
//	GET  /requests/{id}?wait=arrival|settled&timeout=10s
//	                                      long-poll until it arrives / is settled
//	POST /requests/{id}/approve           decide by hand: SUCCEED
//	POST /requests/{id}/deny              decide by hand: UNAUTHORIZED
//	POST /requests/{id}/cancel            decide by hand: CANCELLED
//	GET  /policies                        the scripted policies and the default
//	PUT  /policies/{login_hint}           script a user: {"outcome":"deny","delay":"2s"}
//	                                      or {"outcome":"error","error_status":503}
//	DELETE /policies/{login_hint}         back to the default policy
//	PUT  /policy                          replace the default policy
//	POST /action?token={auth_req_id}&type={action}
//	                                      the OIDF suite's automated_ciba_approval_url
//	                                      contract, action allow or deny (see ApprovalURLTemplate)
//
// Client drives these routes from Go for a device in another process.
//
// The record is bounded (Config.MaxRequests) and indexed by id and
// login_hint, so a device that has seen a million requests answers as
// fast as a fresh one: an undecided request is forgotten once the OP can
// no longer accept its callback, shortly after the expiry its bearer token
// carries (exp; see Request.ExpiresAt), and when the record is full the
// earliest settled request makes room (see Device.Stats).
//
// Deciding answers 200 with the decided Request, 404 for an unknown id, 409
// if it was already decided, 400 for an unknown action and 502 when the OP's
// callback failed (the decision stands and the failure is recorded).
package mockdevice
