package cli

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/target"
	"github.com/ciba-check/ciba-check/internal/targetclient"
)

// checkClient checks what one client needs from the OP and from itself.
func checkClient(ctx context.Context, r *checkReport, s *targetclient.Session, tc *target.Client, opts *TargetCheckOptions) {
	md := s.Metadata
	item := "client " + tc.ID
	key, err := tc.LoadSigningKey()
	if tc.SigningKey == "" {
		r.ok(item+" signing key", "none: plain (unsigned) backchannel requests (CIBA 7.1)")
	} else if err != nil {
		r.fail(item+" signing key", "%v", err)
	} else {
		r.ok(item+" signing key", fmt.Sprintf("%s kid %q", key.Algorithm, key.KeyID))
		if algs := md.BackchannelAuthenticationRequestSigningAlgs; len(algs) > 0 && !slices.Contains(algs, key.Algorithm) {
			r.fail(item+" request signing", "the OP publishes backchannel_authentication_request_signing_alg_values_supported %v without %s (CIBA 4)", algs, key.Algorithm)
		}
		if algs := md.TokenEndpointAuthSigningAlgValuesSupported; tc.Auth == ciba.AuthPrivateKeyJWT && len(algs) > 0 && !slices.Contains(algs, key.Algorithm) {
			r.fail(item+" client assertion", "the OP publishes token_endpoint_auth_signing_alg_values_supported %v without %s", algs, key.Algorithm)
		}
	}
	if methods := md.TokenEndpointAuthMethodsSupported; len(methods) > 0 && !slices.Contains(methods, tc.Auth) {
		r.fail(item+" auth", "%s is not in the OP's token_endpoint_auth_methods_supported %v", tc.Auth, methods)
	} else {
		r.ok(item+" auth", string(tc.Auth))
	}
	if !slices.Contains(md.BackchannelTokenDeliveryModesSupported, tc.Mode) {
		r.fail(item+" mode", "%s is not in the OP's backchannel_token_delivery_modes_supported %v (CIBA 4)", tc.Mode, md.BackchannelTokenDeliveryModesSupported)
	} else {
		r.ok(item+" mode", string(tc.Mode))
	}
	checkClientTLS(ctx, r, s, tc, opts)
	checkClientSecret(ctx, r, s, tc, opts)
	if n := tc.Notification; n != nil {
		if ln, err := net.Listen("tcp", n.Listen); err != nil {
			r.fail(item+" notification", "cannot listen on %s: %v", n.Listen, err)
		} else {
			ln.Close()
			r.ok(item+" notification", fmt.Sprintf("can listen on %s; the OP must reach %s", n.Listen, n.URL))
		}
		if n.TLSCert == "" {
			r.fail(item+" notification", "no tls_cert: the notification endpoint must be served over HTTPS (CIBA 10.2)")
		} else if _, err := tc.LoadNotificationCertificate(); err != nil {
			r.fail(item+" notification", "%v", err)
		}
	}
}

// checkNoClientCert says whether a client without tls_cert can do
// without one.
func checkNoClientCert(r *checkReport, item string, s *targetclient.Session, tc *target.Client) {
	switch {
	case tc.Auth.UsesMTLS():
		r.fail(item, "no tls_cert, but %s needs one (RFC 8705 2)", tc.Auth)
	case !s.Target.FAPI:
		r.ok(item, "no tls_cert: fapi: false, access tokens need not be certificate-bound")
	case s.Metadata.TLSClientCertificateBoundAccessTokens:
		r.fail(item, "no tls_cert: the OP binds access tokens to client certificates (RFC 8705 3), FAPI requires it")
	}
}

// checkClientTLS makes one HTTPS request to the token endpoint (its mTLS
// alias when published, RFC 8705 5) presenting the client's certificate:
// any HTTP answer proves the handshake, including TLS 1.3 servers that
// refuse a certificate only after the handshake.
func checkClientTLS(ctx context.Context, r *checkReport, s *targetclient.Session, tc *target.Client, opts *TargetCheckOptions) {
	item := "client " + tc.ID + " TLS"
	cert, err := tc.LoadTLSCertificate()
	if err != nil {
		r.fail(item, "%v", err)
		return
	}
	if cert == nil {
		checkNoClientCert(r, item, s, tc)
		return
	}
	now := opts.Now()
	if leaf := cert.Leaf; leaf != nil && (now.After(leaf.NotAfter) || now.Before(leaf.NotBefore)) {
		r.fail(item, "certificate %q is valid from %s to %s, not now", leaf.Subject, leaf.NotBefore.Format(time.DateOnly), leaf.NotAfter.Format(time.DateOnly))
		return
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	hs, err := s.HandshakeClientTLS(ctx, cert)
	switch {
	case err != nil:
		r.fail(item, "%v", explainTLSError(err, caHint))
	case hs != nil:
		r.ok(item, fmt.Sprintf("handshake with %s (%s, %s)", hs.Host, tls.VersionName(hs.Version), tls.CipherSuiteName(hs.CipherSuite)))
	}
}

// checkDevice checks that the device the target names can be driven,
// with the session's HTTP client (hc; nil when there is no session).
func checkDevice(ctx context.Context, r *checkReport, t *target.Target, hc *http.Client, opts *TargetCheckOptions) {
	item := "device " + string(t.Device.Kind)
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	detail, err := targetclient.CheckDevice(ctx, t, hc)
	if err != nil {
		r.fail(item, "%v", explainTLSError(err, caHint))
		return
	}
	r.ok(item, detail)
}

// caHint says how target check's reader gives a CA bundle.
const caHint = "with ca: in target.yaml"
