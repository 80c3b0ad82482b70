package conformance

import (
	"context"
	"crypto"
	"errors"

	"github.com/go-jose/go-jose/v4"
	"github.com/onsi/ginkgo/v2"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/client"
	"github.com/ciba-check/ciba-check/internal/target"
)

// otherClientKey is the signing key of a second registered client, or
// skips when the target has none or both clients share one key (then a
// signature by "the other client" is the client's own).
func otherClientKey(f *Fixture, c *client.Client) jose.JSONWebKey {
	ginkgo.GinkgoHelper()
	k := f.SigningKey(f.OtherClient(c, false))
	mine, theirs := c.PublicKey(), k.Public()
	a, err1 := mine.Thumbprint(crypto.SHA256)
	b, err2 := theirs.Thumbprint(crypto.SHA256)
	if err1 == nil && err2 == nil && string(a) == string(b) {
		f.Skipf("the second client signs with the same key as %s", c.ClientID())
	}
	return k
}

// tokenRequestHonoured reports whether a valid token request for an
// acknowledged request got an answer of the protocol: tokens, or
// authorization_pending / slow_down while the user has not decided.
func tokenRequestHonoured(tr *ciba.TokenResponse, err error) bool {
	if err == nil {
		return tr != nil
	}
	return errors.Is(err, ciba.ErrAuthorizationPending) || errors.Is(err, ciba.ErrSlowDown)
}

// tokenControl is the positive control of a token-endpoint probe: c
// starts a request for u and makes the valid token request for it
// (opts changing it, e.g. a fixed assertion), which must be honoured
// (tokenRequestHonoured); otherwise the probe is skipped. It returns the
// acknowledgement the probe then uses.
func tokenControl(ctx context.Context, f *Fixture, c *client.Client, u *target.User, opts ...client.CallOption) *ciba.AuthenticationResponse {
	ginkgo.GinkgoHelper()
	ack := f.ControlAck(c, f.Params(c, u))
	tr, ex, err := c.Token(ctx, ack.AuthReqID, opts...)
	if !hadResponse(ex) {
		f.Undetermined(ex, "the valid token request of %s got no answer: %v", c.ClientID(), err)
	}
	f.Control(tokenRequestHonoured(tr, err), ex, "the valid token request of %s for its own pending request was answered: %v", c.ClientID(), err)
	return ack
}

// inAuthReqIDCharset reports whether s is made only of the characters
// CIBA 7.3 allows in an auth_req_id: A-Z a-z 0-9 . - _ (empty: false).
// A value outside it is "otherwise malformed" (RFC 6749 5.2), so
// invalid_request is a fair answer to it as well as invalid_grant.
func inAuthReqIDCharset(s string) bool { return ciba.ValidAuthReqID(s) }

// attackTokenChecks registers the probes of the token request: an altered
// auth_req_id and an unknown grant type (CIBA 11, RFC 6749 5.2).
func attackTokenChecks(fw *Framework) {
	// Testname: Altered auth_req_id refused
	// Spec: CIBA-11, CIBA-7.3, RFC6749-5.2
	// Description: The client's own auth_req_id with a character
	// appended or removed MUST be answered with HTTP 400
	// invalid_grant, never a server error. Values outside the
	// auth_req_id character set of CIBA 7.3 (SQL and NoSQL
	// metacharacters) are also malformed, so invalid_request is
	// accepted for them.
	// Quote: CIBA-11: "If the auth_req_id is invalid or was issued to
	// another Client, an invalid_grant error MUST be returned as
	// described in Section 5.2 of [RFC6749]." CIBA-7.3: "The OpenID
	// Provider MUST restrict the characters used to 'A'-'Z', 'a'-'z',
	// '0'-'9', '.', '-' and '_'" RFC6749-5.2: "invalid_request The
	// request is missing a required parameter, includes an unsupported
	// parameter value (other than grant type), repeats a parameter,
	// includes multiple credentials, utilizes more than one mechanism
	// for authenticating the client, or is otherwise malformed."
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("refuses an altered auth_req_id with invalid_grant, or invalid_request when malformed", func(ctx context.Context, f *Fixture) {
		c := f.Client(ciba.ModePoll, AnyAuth)
		ack := tokenControl(ctx, f, c, f.PendingUserOrAny())
		for _, id := range []string{ack.AuthReqID + "A", ack.AuthReqID[1:], "' OR '1'='1", `{"$ne":null}`} {
			codes := []*ciba.Error{ciba.ErrInvalidGrant}
			if !inAuthReqIDCharset(id) {
				codes = append(codes, ciba.ErrInvalidRequest)
			}
			_, ex, err := c.Token(ctx, id)
			f.ExpectOAuthError(ex, err, Status400, codes...)
		}
	}, Refs("CIBA-11", "CIBA-7.3", "RFC6749-5.2"), Modes(ciba.ModePoll), Negative)

	// Testname: Unknown grant type refused
	// Spec: RFC6749-5.2
	// Description: A token request with an unknown grant_type MUST be
	// answered with HTTP 400 unsupported_grant_type (invalid_request
	// is for unsupported values "other than grant type").
	// Quote: RFC6749-5.2: "The authorization server responds with an
	// HTTP 400 (Bad Request) status code (unless specified otherwise)
	// and includes the following parameters with the response: error
	// REQUIRED. A single ASCII [USASCII] error code from the
	// following:" ... "unsupported_grant_type The authorization grant
	// type is not supported by the authorization server."
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("refuses an unknown grant_type with unsupported_grant_type", func(ctx context.Context, f *Fixture) {
		c := f.Client(AnyMode, AnyAuth)
		ack := tokenControl(ctx, f, c, f.PendingUserOrAny())
		_, ex, err := c.Token(ctx, ack.AuthReqID, client.CallForm(ciba.ParamGrantType, "urn:ciba-check:no-such-grant"))
		f.ExpectOAuthError(ex, err, Status400, ciba.ErrUnsupportedGrantType)
	}, Refs("RFC6749-5.2"), Negative)
}
