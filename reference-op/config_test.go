package refop_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ciba-check/ciba-check/ciba"
	refop "github.com/ciba-check/ciba-check/reference-op"
)

func TestNewValidatesConfig(t *testing.T) {
	good := func(t *testing.T) refop.Config {
		k := ecKey(t)
		return refop.Config{
			Issuer:      "https://op.example:8443",
			SigningKeys: []jose.JSONWebKey{{Key: k, KeyID: "k1", Algorithm: "ES256"}},
			Clients: []refop.Client{{ID: "c1", AuthMethod: ciba.AuthPrivateKeyJWT, DeliveryMode: ciba.ModePoll,
				JWKS: jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: ecKey(t).Public(), KeyID: "c"}}}}},
			Users: []refop.User{{Subject: "s1", LoginHint: "h1"}},
		}
	}
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		mut  func(*refop.Config)
		want string // error substring; "" means valid
	}{
		{"valid", func(*refop.Config) {}, ""},
		{"http issuer", func(c *refop.Config) { c.Issuer = "http://op.example" }, "issuer"},
		{"issuer with path", func(c *refop.Config) { c.Issuer = "https://op.example/x" }, "issuer"},
		{"issuer empty", func(c *refop.Config) { c.Issuer = "" }, "issuer"},
		{"unknown fault", func(c *refop.Config) { c.Faults = []string{"nope"} }, "valid faults: accept-alg-none"},
		{"no signing key", func(c *refop.Config) { c.SigningKeys = nil }, "signing keys"},
		{"signing key without kid", func(c *refop.Config) { c.SigningKeys[0].KeyID = "" }, "kid"},
		{"public signing key", func(c *refop.Config) { c.SigningKeys[0].Key = ecKey(t).Public() }, "private key"},
		{"EC key with PS256", func(c *refop.Config) { c.SigningKeys[0].Algorithm = "PS256" }, "ES256"},
		{"small RSA key", func(c *refop.Config) {
			c.SigningKeys = []jose.JSONWebKey{{Key: small, KeyID: "r", Algorithm: "PS256"}}
		}, "2048"},
		{"RSA key RS256", func(c *refop.Config) {
			c.SigningKeys = []jose.JSONWebKey{{Key: rsaKey(), KeyID: "r", Algorithm: "RS256"}}
		}, "PS256"},
		{"channel key named", func(c *refop.Config) { c.ChannelKeyID = "k1" }, ""},
		{"channel key not a signing key", func(c *refop.Config) { c.ChannelKeyID = "k2" }, "channel key"},
		{"duplicate client", func(c *refop.Config) { c.Clients = append(c.Clients, c.Clients[0]) }, "duplicate"},
		{"client without id", func(c *refop.Config) { c.Clients[0].ID = "" }, "id is required"},
		{"public client", func(c *refop.Config) { c.Clients[0].AuthMethod = ciba.AuthNone }, "FAPI-CIBA 5.2.2-1"},
		{"client secret", func(c *refop.Config) { c.Clients[0].AuthMethod = ciba.AuthClientSecretBasic }, "not allowed"},
		{"bad mode", func(c *refop.Config) { c.Clients[0].DeliveryMode = "carrier-pigeon" }, "delivery mode"},
		{"ping without endpoint", func(c *refop.Config) { c.Clients[0].DeliveryMode = ciba.ModePing }, "notification endpoint"},
		{"ping with http endpoint", func(c *refop.Config) {
			c.Clients[0].DeliveryMode = ciba.ModePing
			c.Clients[0].NotificationEndpoint = "http://client.example/cb"
		}, "https"},
		{"RS256 request alg", func(c *refop.Config) { c.Clients[0].RequestSigningAlg = "RS256" }, "PS256 or ES256"},
		{"ES384 request alg under FAPI", func(c *refop.Config) { c.Clients[0].RequestSigningAlg = "ES384" }, "PS256 or ES256"},
		{"EdDSA request alg under FAPI", func(c *refop.Config) { c.Clients[0].RequestSigningAlg = "EdDSA" }, "PS256 or ES256"},
		{"ES512 request alg with FAPI off", func(c *refop.Config) { c.PushAllowed = true; c.Clients[0].RequestSigningAlg = "ES512" }, ""},
		{"EdDSA request alg with FAPI off", func(c *refop.Config) { c.PushAllowed = true; c.Clients[0].RequestSigningAlg = "EdDSA" }, ""},
		{"HS256 request alg with FAPI off", func(c *refop.Config) { c.PushAllowed = true; c.Clients[0].RequestSigningAlg = "HS256" }, "FAPI off: any of"},
		{"private key in client JWKS", func(c *refop.Config) { c.Clients[0].JWKS.Keys[0].Key = ecKey(t) }, "public key"},
		{"small RSA client key", func(c *refop.Config) { c.Clients[0].JWKS.Keys[0].Key = &small.PublicKey }, "2048"},
		{"pkjwt without keys", func(c *refop.Config) { c.Clients[0].JWKS.Keys = nil }, "JWKS"},
		{"tls_client_auth without CA", func(c *refop.Config) {
			c.Clients[0].AuthMethod = ciba.AuthTLSClient
			c.Clients[0].TLSSubjectDN = "CN=x"
		}, "ClientCAs"},
		{"user without subject", func(c *refop.Config) { c.Users[0].Subject = "" }, "subject"},
		{"duplicate login hint", func(c *refop.Config) { c.Users = append(c.Users, refop.User{Subject: "s2", LoginHint: "h1"}) }, "login hint"},
		{"negative interval", func(c *refop.Config) { c.Interval = -1 }, "interval"},
		{"negative expiry", func(c *refop.Config) { c.MaxExpiry = -time.Second }, "max expiry"},
		{"default above max", func(c *refop.Config) { c.DefaultExpiry = time.Hour; c.MaxExpiry = time.Minute }, "exceeds"},
		{"bad device endpoint", func(c *refop.Config) { c.DeviceEndpoint = "ftp://x" }, "device endpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good(t)
			tt.mut(&cfg)
			op, err := refop.New(cfg)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				_ = op.Close()
				return
			}
			if err == nil {
				_ = op.Close()
				t.Fatalf("New succeeded, want error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

// TestPS256 uses an RSA OP key and an RSA client key with a registered
// request signing alg.
func TestPS256(t *testing.T) {
	h := newHarness(t, func(c *refop.Config) {
		c.SigningKeys = []jose.JSONWebKey{{Key: rsaKey(), KeyID: "op-ps256", Algorithm: "PS256"}}
		for i := range c.Clients {
			if c.Clients[i].ID == cPoll2 {
				c.Clients[i].RequestSigningAlg = "PS256"
			}
		}
	})
	ps256 := func() string { return signJWT(t, rsaKey(), "PS256", cPoll2+"-rsa", h.requestClaims(cPoll2, nil), nil) }
	f := h.authForm(cPoll2, h.issuer)
	f.Set("request", ps256())
	r := h.post(cPoll2, refop.PathBackchannel, f)
	if r.status != 200 {
		t.Fatalf("PS256 request: %d %s", r.status, r.raw)
	}
	// ES256 is a FAPI alg but not the registered one (CIBA 4).
	wantError(t, h.backchannel(cPoll2, nil), 400, "invalid_request")

	id := r.str("auth_req_id")
	h.approve(id)
	tok := h.poll(cPoll2, id)
	hdr, _ := decodeJWT(t, tok.str("id_token"))
	if hdr["alg"] != "PS256" || hdr["kid"] != "op-ps256" {
		t.Errorf("id token header %v", hdr)
	}
	h.verifyWithJWKS(tok.str("id_token"))
}

// TestChannelKey: the channel token to the device is signed with the key
// Config.ChannelKeyID names (the first signing key when it names none),
// and the OP takes it back on the callback either way; ID tokens stay
// with the first key.
func TestChannelKey(t *testing.T) {
	keys := func(t *testing.T) []jose.JSONWebKey {
		return []jose.JSONWebKey{
			{Key: rsaKey(), KeyID: "op-ps256", Algorithm: "PS256", Use: "sig"},
			{Key: ecKey(t), KeyID: "op-es256", Algorithm: "ES256", Use: "sig"},
		}
	}
	for _, tt := range []struct {
		name, channelKey string
		wantAlg, wantKid string
		wantSigBytes     int
	}{
		{"first key", "", "PS256", "op-ps256", 256},
		{"ES256 key named", "op-es256", "ES256", "op-es256", 64},
		{"PS256 key named", "op-ps256", "PS256", "op-ps256", 256},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, func(c *refop.Config) { c.SigningKeys, c.ChannelKeyID = keys(t), tt.channelKey })
			id := h.start(cPoll, nil)
			token := h.device.await(t, id).token
			hdr, _ := decodeJWT(t, token)
			if hdr["alg"] != tt.wantAlg || hdr["kid"] != tt.wantKid || hdr["typ"] != "ciba-channel+jwt" {
				t.Errorf("channel token header %v, want alg %s, kid %s", hdr, tt.wantAlg, tt.wantKid)
			}
			if sig, err := base64.RawURLEncoding.DecodeString(token[strings.LastIndexByte(token, '.')+1:]); err != nil || len(sig) != tt.wantSigBytes {
				t.Errorf("channel token signature of %d bytes (%v), want %d", len(sig), err, tt.wantSigBytes)
			}
			h.verifyWithJWKS(token)
			h.approve(id)
			tok := h.poll(cPoll, id)
			if hdr, _ := decodeJWT(t, tok.str("id_token")); hdr["kid"] != "op-ps256" {
				t.Errorf("id token header %v, want the first key's kid", hdr)
			}
		})
	}
}

// TestPushMode (PushAllowed, plain CIBA only): tokens and errors are
// pushed (CIBA 10.3, 12).
func TestPushMode(t *testing.T) {
	h := newHarness(t, func(c *refop.Config) { c.PushAllowed = true })
	id := h.start(cPush, nil)
	h.approve(id)
	n := h.ping.next(t)
	var p ciba.PushTokenPayload
	if err := json.Unmarshal([]byte(n.body), &p); err != nil || p.AuthReqID != id || p.AccessToken == "" || p.RefreshToken == "" {
		t.Fatalf("push payload %s", n.body)
	}
	c := h.verifyWithJWKS(p.IDToken)
	if c[ciba.ClaimAuthReqID] != id || c["at_hash"] != halfHash(p.AccessToken) || c[ciba.ClaimRTHash] != halfHash(p.RefreshToken) {
		t.Errorf("push id token %v", c)
	}
	wantError(t, h.poll(cPush, id), 400, "unauthorized_client")

	denied := h.start(cPush, nil)
	h.decide(denied, ciba.DeviceCancelled)
	n = h.ping.next(t)
	var e ciba.PushErrorPayload
	if err := json.Unmarshal([]byte(n.body), &e); err != nil || e.AuthReqID != denied || e.Error != "access_denied" {
		t.Fatalf("push error payload %s", n.body)
	}
}

// panicStore fails every call, to prove handlers never leak a panic or
// a bare 500.
type panicStore struct{ refop.Store }

func (panicStore) UseJTI(context.Context, string, time.Time, time.Time) (bool, error) {
	panic("boom")
}

type failingStore struct{ refop.Store }

func (failingStore) UseJTI(context.Context, string, time.Time, time.Time) (bool, error) {
	return false, errors.New("disk on fire")
}

func TestServerErrors(t *testing.T) {
	for name, store := range map[string]refop.Store{"panic": panicStore{refop.NewMemoryStore()}, "error": failingStore{refop.NewMemoryStore()}} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, func(c *refop.Config) { c.Store = store })
			wantError(t, h.backchannel(cPoll, nil), 500, "server_error")
			want := map[string]string{"panic": "handler panic", "error": "disk on fire"}[name]
			if !strings.Contains(h.logs.all(), want) {
				t.Errorf("log lacks %q:\n%s", want, h.logs.all())
			}
		})
	}
}

// TestUserinfoInteractionID: FAPI-R 6.2.1-11 echo or generation.
func TestUserinfoInteractionID(t *testing.T) {
	h := newHarness(t)
	at := h.tokens(cPoll).str("access_token")
	const id = "c770aef3-6784-41f7-8e0e-ff5f97bddb3a"
	req, _ := http.NewRequest(http.MethodGet, h.issuer+refop.PathUserinfo, nil)
	req.Header.Set("Authorization", "Bearer "+at)
	req.Header.Set("x-fapi-interaction-id", id)
	if r := h.do(cPoll, req); r.header.Get("x-fapi-interaction-id") != id || r.status != 200 {
		t.Errorf("echo: %d %q", r.status, r.header.Get("x-fapi-interaction-id"))
	}
	r := h.userinfo(cPoll, at)
	if got := r.header.Get("x-fapi-interaction-id"); len(got) != 36 || got == id {
		t.Errorf("generated id %q", got)
	}
	// Token in the query is not accepted (FAPI-R 6.2.1-3).
	req, _ = http.NewRequest(http.MethodGet, h.issuer+refop.PathUserinfo+"?access_token="+at, nil)
	wantError(t, h.do(cPoll, req), 401, "invalid_token")
}

func TestServerStartShutdown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	cert, x := selfSignedCert(t, rsaKey(), "refop", now, true, nil, nil)
	op, err := refop.New(refop.Config{
		Issuer:      "https://" + ln.Addr().String(),
		SigningKeys: []jose.JSONWebKey{{Key: ecKey(t), KeyID: "k", Algorithm: "ES256"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := refop.NewServer(op, "", cert)
	addr := srv.StartOn(ln)
	roots := x509Pool(x)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	resp, err := client.Get("https://" + addr.String() + refop.PathDiscovery)
	if err != nil {
		t.Fatal(err)
	}
	var md ciba.ProviderMetadata
	_ = json.NewDecoder(resp.Body).Decode(&md)
	resp.Body.Close()
	if md.Issuer != "https://"+ln.Addr().String() {
		t.Errorf("issuer %q", md.Issuer)
	}
	client.CloseIdleConnections()
	h2 := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true}}
	resp, err = h2.Get("https://" + addr.String() + refop.PathJWKS)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Proto != "HTTP/2.0" {
		t.Errorf("proto %s, want HTTP/2.0", resp.Proto)
	}
	h2.CloseIdleConnections()
	if err := srv.Shutdown(ctx(t)); err != nil {
		t.Fatal(err)
	}

	// Start on port 0.
	op2, err := refop.New(refop.Config{Issuer: "https://127.0.0.1", SigningKeys: []jose.JSONWebKey{{Key: ecKey(t), KeyID: "k", Algorithm: "ES256"}}})
	if err != nil {
		t.Fatal(err)
	}
	srv2 := refop.NewServer(op2, "127.0.0.1:0", cert)
	a, err := srv2.Start()
	if err != nil {
		t.Fatal(err)
	}
	if a.(*net.TCPAddr).Port == 0 {
		t.Error("no port bound")
	}
	if err := srv2.Shutdown(ctx(t)); err != nil {
		t.Fatal(err)
	}
}
