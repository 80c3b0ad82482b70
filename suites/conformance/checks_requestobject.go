package conformance

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"time"

	"github.com/onsi/ginkgo/v2"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/client"
	"github.com/ciba-check/ciba-check/internal/target"
)

// expectRequestObjectRefused sends a backchannel request whose request
// object is built with opts and expects HTTP 400 invalid_request: the
// OIDF suite's verdict for every bad request object (CIBA.md pitfall 1;
// invalid_request_object is not a CIBA 13 code, and CIBA 13 wants "A
// single ASCII error code from one present in the list below"). A refusal
// counts only after the positive control: the same client's request with
// the same parameters and a valid request object is acknowledged, else
// the check is skipped (the OP refused the valid request too).
func expectRequestObjectRefused(ctx context.Context, f *Fixture, c *client.Client, opts ...client.JWTOption) {
	ginkgo.GinkgoHelper()
	p := f.Params(c, f.PendingUserOrAny())
	_, ex, err := c.Authenticate(ctx, p, client.CallRequestObject(opts...))
	expectRefused(f, c, p, ex, err, Status400, ciba.ErrInvalidRequest)
}

// requestObjectAudienceIssuerChecks registers the checks of aud and iss:
// the request object names this OP and the sending client (CIBA 7.1.1).
func requestObjectAudienceIssuerChecks(fw *Framework) {
	// Testname: Request object without aud refused
	// Spec: CIBA-7.1.1
	// Description: A request object without aud MUST be refused with
	// HTTP 400 invalid_request. Positive control: the same request
	// object with aud is acknowledged.
	// Quote: CIBA-7.1.1: "aud The Audience claim MUST contain the value of the Issuer Identifier for the OP, which identifies the Authorization Server as an intended audience." CIBA-7.2: "If the authentication request is signed, validate the JWT sent with the request parameter, which includes verifying the signature and ensuring that the JWT is valid in all other respects per [RFC7519]."
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("refuses a request object without aud", func(ctx context.Context, f *Fixture) {
		expectRequestObjectRefused(ctx, f, f.SigningClient(), client.WithoutClaim("aud"))
	}, Refs("CIBA-7.1.1"), Negative, OIDF(ModROMissingAud))

	// Testname: Request object for another audience refused
	// Spec: CIBA-7.1.1, RFC7519-4.1.3
	// Description: A request object whose aud is not the OP's issuer
	// MUST be refused with HTTP 400 invalid_request. Positive control:
	// the same request object with the OP's issuer as aud is
	// acknowledged.
	// Quote: CIBA-7.1.1: "aud The Audience claim MUST contain the value of the Issuer Identifier for the OP, which identifies the Authorization Server as an intended audience." RFC7519-4.1.3: "If the principal processing the claim does not identify itself with a value in the "aud" claim when this claim is present, then the JWT MUST be rejected."
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("refuses a request object whose aud is another server", func(ctx context.Context, f *Fixture) {
		expectRequestObjectRefused(ctx, f, f.SigningClient(), client.WithClaim("aud", "https://www.other1.example.com/"))
	}, Refs("CIBA-7.1.1", "RFC7519-4.1.3"), Negative, OIDF(ModROBadAud))

	// Testname: Request object without iss refused
	// Spec: CIBA-7.1.1
	// Description: A request object without iss MUST be refused with
	// HTTP 400 invalid_request. Positive control: the same request
	// object with iss is acknowledged.
	// Quote: CIBA-7.1.1: "iss The Issuer claim MUST be the client_id of the OAuth Client."
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("refuses a request object without iss", func(ctx context.Context, f *Fixture) {
		expectRequestObjectRefused(ctx, f, f.SigningClient(), client.WithoutClaim("iss"))
	}, Refs("CIBA-7.1.1"), Negative, OIDF(ModROMissingIss))

	// Testname: Request object issued by another client refused
	// Spec: CIBA-7.1.1
	// Description: A request object whose iss is another registered
	// client's id MUST be refused with HTTP 400 invalid_request.
	// Positive control: the same request object with the client's own
	// id as iss is acknowledged.
	// Quote: CIBA-7.1.1: "iss The Issuer claim MUST be the client_id of the OAuth Client."
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("refuses a request object whose iss is another client", func(ctx context.Context, f *Fixture) {
		c := f.SigningClient()
		other := f.OtherClient(c, false)
		expectRequestObjectRefused(ctx, f, c, client.WithClaim("iss", other.ClientID()))
	}, Refs("CIBA-7.1.1"), Negative, OIDF(ModROBadIss))
}

// requestObjectExpiryChecks registers the checks of exp: present, not past
// and at most 60 minutes ahead (CIBA 7.1.1, FAPI-CIBA 5.2.2).
func requestObjectExpiryChecks(fw *Framework) {
	// Testname: Request object without exp refused
	// Spec: CIBA-7.1.1, FAPI-CIBA-5.2.2-9
	// Description: A request object without exp MUST be refused with
	// HTTP 400 invalid_request. Positive control: the same request
	// object with exp is acknowledged.
	// Quote: CIBA-7.1.1: "exp An expiration time that limits the validity lifetime of the signed authentication request." FAPI-CIBA-5.2.2-9: "shall require the Signed Authentication Request to contain nbf and exp claims that limit the lifetime of the request to no more than 60 minutes"
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("refuses a request object without exp", func(ctx context.Context, f *Fixture) {
		expectRequestObjectRefused(ctx, f, f.SigningClient(), client.WithoutClaim("exp"))
	}, Refs("CIBA-7.1.1", "FAPI-CIBA-5.2.2-9"), Negative, OIDF(ModROMissingExp))

	// Testname: Expired request object refused
	// Spec: CIBA-7.1.1, RFC7519-4.1.4
	// Description: A request object whose exp lies an hour in the past
	// MUST be refused with HTTP 400 invalid_request. Positive control:
	// the same request object, current, is acknowledged.
	// Quote: CIBA-7.1.1: "exp An expiration time that limits the validity lifetime of the signed authentication request." RFC7519-4.1.4: "The "exp" (expiration time) claim identifies the expiration time on or after which the JWT MUST NOT be accepted for processing."
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("refuses a request object that expired an hour ago", func(ctx context.Context, f *Fixture) {
		expectRequestObjectRefused(ctx, f, f.SigningClient(), client.WithLifetime(-2*time.Hour+5*time.Minute, -time.Hour))
	}, Refs("CIBA-7.1.1", "RFC7519-4.1.4"), Negative, OIDF(ModROExpiredExp))

	// Testname: Request object living longer than 60 minutes refused
	// Spec: FAPI-CIBA-5.2.2-9
	// Description: A request object whose exp lies 70 minutes after
	// its nbf MUST be refused with HTTP 400 invalid_request. Positive
	// control: the same request object with the default lifetime is
	// acknowledged.
	// Quote: FAPI-CIBA-5.2.2-9: "shall require the Signed Authentication Request to contain nbf and exp claims that limit the lifetime of the request to no more than 60 minutes"
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("refuses a request object with exp 70 minutes in the future", func(ctx context.Context, f *Fixture) {
		expectRequestObjectRefused(ctx, f, f.SigningClient(), client.WithLifetime(0, 70*time.Minute))
	}, Refs("FAPI-CIBA-5.2.2-9"), Negative, OIDF(ModROExp70Future))
}

// requestObjectFreshnessChecks registers the checks of iat and nbf, which keep a
// request object fresh (CIBA 7.1.1, FAPI-RW 5.2.2).
func requestObjectFreshnessChecks(fw *Framework) {
	// Testname: Request object without iat refused
	// Spec: CIBA-7.1.1
	// Description: A request object without iat MUST be refused with
	// HTTP 400 invalid_request. Positive control: the same request
	// object with iat is acknowledged.
	// Quote: CIBA-7.1.1: "iat The time at which the signed authentication request was created." CIBA-7.2: "The OpenID Provider MUST validate the request received as follows: [...] If the authentication request is signed, validate the JWT sent with the request parameter, which includes verifying the signature and ensuring that the JWT is valid in all other respects per [RFC7519]."
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("refuses a request object without iat", func(ctx context.Context, f *Fixture) {
		expectRequestObjectRefused(ctx, f, f.SigningClient(), client.WithoutClaim("iat"))
	}, Refs("CIBA-7.1.1"), Negative, OIDF(ModROMissingIat))

	// Testname: Request object without nbf refused
	// Spec: FAPI-CIBA-5.2.2-9
	// Description: A request object without nbf MUST be refused with
	// HTTP 400 invalid_request. Positive control: the same request
	// object with nbf is acknowledged.
	// Quote: FAPI-CIBA-5.2.2-9: "shall require the Signed Authentication Request to contain nbf and exp claims that limit the lifetime of the request to no more than 60 minutes"
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("refuses a request object without nbf", func(ctx context.Context, f *Fixture) {
		expectRequestObjectRefused(ctx, f, f.SigningClient(), client.WithoutClaim("nbf"))
	}, Refs("FAPI-CIBA-5.2.2-9"), Negative, OIDF(ModROMissingNbf))

	// Testname: Request object not yet valid refused
	// Spec: CIBA-7.1.1, RFC7519-4.1.5
	// Description: A request object whose nbf lies 10 minutes in the
	// future MUST be refused with HTTP 400 invalid_request. Positive
	// control: the same request object with nbf now is acknowledged.
	// Quote: CIBA-7.1.1: "nbf The time before which the signed authentication request is unacceptable." RFC7519-4.1.5: "The "nbf" (not before) claim identifies the time before which the JWT MUST NOT be accepted for processing."
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("refuses a request object with nbf 10 minutes in the future", func(ctx context.Context, f *Fixture) {
		expectRequestObjectRefused(ctx, f, f.SigningClient(), client.WithLifetime(10*time.Minute, 15*time.Minute))
	}, Refs("CIBA-7.1.1", "RFC7519-4.1.5"), Negative, OIDF(ModRONbf10Future))

	// Testname: Request object valid for too long in the past refused
	// Spec: FAPI-CIBA-5.2.2-9
	// Description: A request object whose nbf lies 70 minutes in the
	// past (so nbf..exp exceeds 60 minutes) MUST be refused with HTTP
	// 400 invalid_request. Positive control: the same request object
	// with nbf now is acknowledged.
	// Quote: FAPI-CIBA-5.2.2-9: "shall require the Signed Authentication Request to contain nbf and exp claims that limit the lifetime of the request to no more than 60 minutes"
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("refuses a request object with nbf 70 minutes in the past", func(ctx context.Context, f *Fixture) {
		expectRequestObjectRefused(ctx, f, f.SigningClient(), client.WithLifetime(-70*time.Minute, 5*time.Minute))
	}, Refs("FAPI-CIBA-5.2.2-9"), Negative, OIDF(ModRONbf70Past))
}

// requestObjectReplayChecks registers the check of jti, which makes a request
// object unreplayable (CIBA 7.1.1).
func requestObjectReplayChecks(fw *Framework) {
	// Testname: Request object without jti refused
	// Spec: CIBA-7.1.1
	// Description: A request object without jti MUST be refused with
	// HTTP 400 invalid_request. Positive control: the same request
	// object with jti is acknowledged.
	// Quote: CIBA-7.1.1: "jti A unique identifier for the signed authentication request." CIBA-7.2: "The OpenID Provider MUST validate the request received as follows: [...] If the authentication request is signed, validate the JWT sent with the request parameter, which includes verifying the signature and ensuring that the JWT is valid in all other respects per [RFC7519]."
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("refuses a request object without jti", func(ctx context.Context, f *Fixture) {
		expectRequestObjectRefused(ctx, f, f.SigningClient(), client.WithoutClaim("jti"))
	}, Refs("CIBA-7.1.1"), Negative, OIDF(ModROMissingJti))
}

// requestObjectSignatureChecks registers the checks of the signature: none,
// tampered and non-FAPI algorithms are refused (CIBA 7.1.1, FAPI-RW 8.6).
func requestObjectSignatureChecks(fw *Framework) {
	// Testname: Unsigned (alg none) request object refused
	// Spec: CIBA-7.1.1, FAPI-RW-8.6
	// Description: A request object with alg none and no signature
	// MUST be refused with HTTP 400 invalid_request. Positive control:
	// the same request object, signed, is acknowledged.
	// Quote: CIBA-7.1.1: "The JWT MUST be secured with an asymmetric signature and follow the guidance from Section 10.1 of [OpenID.Core] regarding asymmetric signatures." FAPI-RW-8.6: "For JWS, both clients and authorization servers: 1. shall use PS256 or ES256 algorithms; 2. should not use algorithms that use RSASSA-PKCS1-v1_5 (e.g. RS256); 3. shall not use none;"
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("refuses a request object with alg none", func(ctx context.Context, f *Fixture) {
		expectRequestObjectRefused(ctx, f, f.SigningClient(), client.WithNoneAlg())
	}, Refs("CIBA-7.1.1", "FAPI-RW-8.6"), Negative, OIDF(ModROAlgNone))

	// Testname: Request object with a broken signature refused
	// Spec: CIBA-7.1.1, CIBA-7.2
	// Description: A request object whose signature bytes were altered
	// MUST be refused with HTTP 400 invalid_request. Positive control:
	// the same request object, intact, is acknowledged.
	// Quote: CIBA-7.2: "The OpenID Provider MUST validate the request received as follows: [...] If the authentication request is signed, validate the JWT sent with the request parameter, which includes verifying the signature and ensuring that the JWT is valid in all other respects per [RFC7519]."
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("refuses a request object with a tampered signature", func(ctx context.Context, f *Fixture) {
		expectRequestObjectRefused(ctx, f, f.SigningClient(), client.WithTamperedSignature())
	}, Refs("CIBA-7.1.1", "CIBA-7.2"), Negative, OIDF(ModROBadSignature))

	// Testname: RS256 request object refused
	// Spec: FAPI-RW-8.6
	// Description: A request object signed with RS256 (RSASSA-PKCS1-v1_5)
	// by the client's own RSA key MUST be refused with HTTP 400
	// invalid_request: FAPI allows only PS256 and ES256. Positive
	// control: the same request object signed with the client's
	// algorithm is acknowledged.
	// Quote: FAPI-RW-8.6: "For JWS, both clients and authorization servers: 1. shall use PS256 or ES256 algorithms; 2. should not use algorithms that use RSASSA-PKCS1-v1_5 (e.g. RS256); 3. shall not use none;"
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("refuses a request object signed with RS256", func(ctx context.Context, f *Fixture) {
		c := f.ClientWhere("client with an RSA signing key", func(tc *target.Client) bool { return isRSAKey(tc) })
		expectRequestObjectRefused(ctx, f, c, client.WithAlg(ciba.AlgRS256))
	}, Refs("FAPI-RW-8.6"), Negative, OIDF(ModRORS256))
}

// requestObjectKeyChecks registers the checks of the key a request object
// is verified with (only the client's own), and that the typ of RFC 9101
// is accepted.
func requestObjectKeyChecks(fw *Framework) {
	// Testname: Request object signed by another client refused
	// Spec: CIBA-7.1.1, CIBA-7.2
	// Description: A request object signed with another registered
	// client's key MUST be refused with HTTP 400 invalid_request: the
	// signature is checked against the authenticated client's keys.
	// Positive control: the same request object signed with the
	// client's own key is acknowledged.
	// Quote: CIBA-7.1.1: "iss The Issuer claim MUST be the client_id of the OAuth Client." CIBA-7.2: "The OpenID Provider MUST validate the request received as follows: [...] If the authentication request is signed, validate the JWT sent with the request parameter, which includes verifying the signature and ensuring that the JWT is valid in all other respects per [RFC7519]."
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("refuses a request object signed with another client's key", func(ctx context.Context, f *Fixture) {
		c := f.SigningClient()
		other := f.OtherClient(c, false)
		expectRequestObjectRefused(ctx, f, c, client.WithSigningKey(f.SigningKey(other)))
	}, Refs("CIBA-7.1.1", "CIBA-7.2"), Negative, OIDF(ModROOtherClient))

	// Testname: HS256 request object keyed with the public key refused
	// Spec: CIBA-7.1.1, FAPI-RW-8.6
	// Description: A request object signed with HS256 using the
	// client's public key as the HMAC secret (algorithm confusion) MUST
	// be refused with HTTP 400 invalid_request. Positive control: the
	// same request object signed with the client's key is acknowledged.
	// Quote: CIBA-7.1.1: "The JWT MUST be secured with an asymmetric signature and follow the guidance from Section 10.1 of [OpenID.Core] regarding asymmetric signatures." FAPI-RW-8.6: "For JWS, both clients and authorization servers: 1. shall use PS256 or ES256 algorithms; 2. should not use algorithms that use RSASSA-PKCS1-v1_5 (e.g. RS256); 3. shall not use none;"
	// Duty: OP
	// Level: MUST
	fw.ConformanceIt("refuses an HS256 request object keyed with the client's public key", func(ctx context.Context, f *Fixture) {
		c := f.SigningClient()
		pub, err := json.Marshal(c.PublicKey())
		if err != nil {
			f.Undetermined(nil, "encoding the public key: %v", err)
		}
		expectRequestObjectRefused(ctx, f, c, client.WithHS256Secret(pub))
	}, Refs("CIBA-7.1.1", "FAPI-RW-8.6"), Negative)

	// Testname: Request object with an explicit typ accepted
	// Spec: RFC9101-4, RFC9101-10.8, RFC7515-4.1.9
	// Description: A request object with the JOSE header typ
	// oauth-authz-req+jwt (the explicit type RFC 9101 10.8 names for
	// request objects) MUST be accepted like one without. Neither CIBA nor JAR
	// says an OP must accept it (JOSE leaves typ to the application);
	// the OIDF suite's second client sends it and fails an OP that
	// refuses: certification level. When the typ'd request object is
	// refused, the same request without typ decides: refused too, the
	// check is skipped.
	// Quote: RFC9101-4: "A Request Object (Section 2.1) has the media type [RFC2046] application/oauth-authz-req+jwt. Note that some existing deployments may alternatively be using the type application/jwt." RFC9101-10.8: "One would explicitly type a Request Object by including a typ Header Parameter with the value oauth-authz-req+jwt (which is registered in Section 9.4.1)." RFC7515-4.1.9: "This parameter is ignored by JWS implementations; any processing of this parameter is performed by the JWS application."
	// Duty: OP
	// Level: CERT
	fw.ConformanceIt("accepts a request object with typ oauth-authz-req+jwt", func(ctx context.Context, f *Fixture) {
		c := f.SigningClient()
		p := f.Params(c, f.PendingUserOrAny())
		startVariant(ctx, f, c, p, []client.CallOption{client.CallRequestObject(client.WithTyp("oauth-authz-req+jwt"))}, p,
			"a request object with typ oauth-authz-req+jwt to be accepted (RFC 9101 4)")
	}, Refs("RFC9101-4", "RFC9101-10.8", "RFC7515-4.1.9"), Cert, OIDF(ModHappy))
}

func isRSAKey(tc *target.Client) bool {
	k, err := tc.LoadSigningKey()
	if err != nil {
		return false
	}
	_, ok := k.Key.(*rsa.PrivateKey)
	return ok
}
