package refop_test

import (
	"crypto/tls"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ciba-check/ciba-check/ciba"
	refop "github.com/ciba-check/ciba-check/reference-op"
)

// faultProbe observes a fault: it returns true when the OP shows the
// faulty behaviour. Every fault must be off by default and on when
// switched on (TestFaultsChangeBehaviour).
type faultProbe = func(t *testing.T, h *harness) bool

// faultProbes merges the per-area tables (faults_*_test.go).
var faultProbes = mergeProbes(coreFaultProbes, backchannelFaultProbes, authDiscoveryFaultProbes, tokenFaultProbes, clientAuthFaultProbes, pushFaultProbes)

func mergeProbes(tables ...map[string]faultProbe) map[string]faultProbe {
	out := map[string]faultProbe{}
	for _, t := range tables {
		for name, p := range t {
			out[name] = p
		}
	}
	return out
}

// coreFaultProbes observe the faults of faults.go.
var coreFaultProbes = map[string]faultProbe{
	refop.FaultAcceptAlgNone: func(t *testing.T, h *harness) bool {
		f := h.authForm(cPoll, h.issuer)
		f.Set("request", unsignedJWT(h.requestClaims(cPoll, nil)))
		return h.post(cPoll, refop.PathBackchannel, f).status == 200
	},
	refop.FaultAcceptRS256: func(t *testing.T, h *harness) bool {
		f := h.authForm(cPoll2, h.issuer)
		f.Set("request", signJWT(t, rsaKey(), "RS256", cPoll2+"-rsa", h.requestClaims(cPoll2, nil), nil))
		return h.post(cPoll2, refop.PathBackchannel, f).status == 200
	},
	refop.FaultAllowUnsignedRequest: func(t *testing.T, h *harness) bool {
		f := h.authForm(cPoll, h.issuer)
		f.Set("scope", "openid")
		f.Set("login_hint", "alice")
		return h.post(cPoll, refop.PathBackchannel, f).status == 200
	},
	refop.FaultIgnoreRequestObjectExp: func(t *testing.T, h *harness) bool {
		return h.backchannel(cPoll, map[string]any{"exp": nil}).status == 200
	},
	refop.FaultInvalidRequestObjectCode: func(t *testing.T, h *harness) bool {
		return h.backchannel(cPoll, map[string]any{"aud": nil}).str("error") == "invalid_request_object"
	},
	refop.FaultIssueTokenTwice: func(t *testing.T, h *harness) bool {
		id := h.start(cPoll, nil)
		h.approve(id)
		return h.poll(cPoll, id).status == 200 && h.poll(cPoll, id).status == 200
	},
	refop.FaultCrossClientAuthReqID: func(t *testing.T, h *harness) bool {
		id := h.start(cPoll, nil)
		h.approve(id)
		return h.poll(cPoll2, id).status == 200
	},
	refop.FaultAcceptExpiredToken: func(t *testing.T, h *harness) bool {
		id := h.start(cPoll, map[string]any{"requested_expiry": 10})
		h.clock.Advance(11 * time.Second)
		return h.poll(cPoll, id).str("error") != "expired_token"
	},
	refop.FaultUnboundAccessToken: func(t *testing.T, h *harness) bool {
		at := h.tokens(cPoll).str("access_token")
		return h.userinfo(cPoll2, at).status == 200
	},
	refop.FaultWrongIDTokenAud: func(t *testing.T, h *harness) bool {
		_, c := decodeJWT(t, h.tokens(cPoll).str("id_token"))
		return c["aud"] != cPoll
	},
	refop.FaultMissingAtHash: func(t *testing.T, h *harness) bool {
		_, c := decodeJWT(t, h.tokens(cPoll).str("id_token"))
		return c["at_hash"] == nil
	},
	refop.FaultPushUnderFAPI: func(t *testing.T, h *harness) bool {
		disc := h.get("", refop.PathDiscovery)
		return h.backchannel(cPush, nil).status == 200 && strings.Contains(jsonOf(disc.body["backchannel_token_delivery_modes_supported"]), "push")
	},
	refop.FaultTLSWeakCiphers: func(t *testing.T, h *harness) bool {
		conn, err := tls.Dial("tcp", h.srv.Listener.Addr().String(), &tls.Config{
			RootCAs: h.roots, MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA},
		})
		if err != nil {
			return false
		}
		conn.Close()
		return true
	},
	refop.FaultNoPingOnDeny: func(t *testing.T, h *harness) bool {
		id := h.start(cPing, nil)
		h.decide(id, ciba.DeviceUnauthorized)
		if h.logs.waitFor(t, "authentication decided", 1).attrs["notify"] == "true" {
			h.ping.next(t) // the ping really comes
			return false
		}
		_ = h.op.Close() // nothing in flight may still send one
		select {
		case <-h.ping.got:
			return false
		default:
			return true
		}
	},
	refop.FaultPingRetryAfter4xx: func(t *testing.T, h *harness) bool {
		h.ping.setAnswer(func(string, int) (int, string) { return 401, "" })
		h.approve(h.start(cPing, nil))
		return h.logs.waitFor(t, "notification sent", 1).attrs["retry"] == "true"
	},
	refop.FaultFollowNotificationRedirect: func(t *testing.T, h *harness) bool {
		h.ping.setAnswer(func(p string, _ int) (int, string) {
			if p == "/elsewhere" {
				return 204, ""
			}
			return 307, "/elsewhere"
		})
		h.approve(h.start(cPing, nil))
		h.logs.waitFor(t, "notification sent", 1)
		for {
			select {
			case n := <-h.ping.got:
				if n.path == "/elsewhere" {
					return true
				}
			default:
				return false
			}
		}
	},
	refop.FaultNoCNFInIntrospection: func(t *testing.T, h *harness) bool {
		f := h.authForm(cPoll, h.issuer)
		f.Set("token", h.tokens(cPoll).str("access_token"))
		r := h.post(cPoll, refop.PathIntrospect, f)
		return r.body["active"] == true && r.body["cnf"] == nil
	},
	refop.FaultShortAuthReqID: func(t *testing.T, h *harness) bool {
		return len(h.start(cPoll, nil)) < 22 // 128 bits in base64url
	},
	refop.FaultRefreshCrossClient: func(t *testing.T, h *harness) bool {
		f := h.authForm(cPoll2, h.issuer+refop.PathToken)
		f.Set("grant_type", "refresh_token")
		f.Set("refresh_token", h.tokens(cPoll).str("refresh_token"))
		return h.post(cPoll2, refop.PathToken, f).status == 200
	},
}

// tokens runs a full approved flow for id and returns the token response.
func (h *harness) tokens(id string) response {
	h.t.Helper()
	authReqID := h.start(id, nil)
	h.approve(authReqID)
	r := h.poll(id, authReqID)
	if r.status != 200 {
		h.t.Fatalf("tokens: %d %s", r.status, r.raw)
	}
	return r
}

func TestFaultsChangeBehaviour(t *testing.T) {
	faults := refop.Faults()
	if len(faults) < 15 {
		t.Errorf("%d faults, want at least 15", len(faults))
	}
	for _, f := range faults {
		probe, ok := faultProbes[f.Name]
		if !ok {
			t.Errorf("fault %s has no probe", f.Name)
			continue
		}
		if f.Breaks == "" || len(f.Trips) == 0 {
			t.Errorf("fault %s lacks Breaks or Trips", f.Name)
		}
		base := faultBase[f.Name]
		if _, push := pushFaultProbes[f.Name]; push {
			base = []option{withPush}
		}
		t.Run(f.Name, func(t *testing.T) {
			probeSwitch(t, "fault "+f.Name, probe, base, withFaults(f.Name))
		})
	}
	if len(faultProbes) != len(faults) {
		t.Errorf("%d probes for %d faults", len(faultProbes), len(faults))
	}
}

// probeSwitch runs probe against an OP built with base, first without and
// then with the switch on (a fault or an allowance): off, the behaviour
// must not show; on, it must.
func probeSwitch(t *testing.T, what string, probe faultProbe, base []option, on option) {
	t.Helper()
	if probe(t, newHarness(t, base...)) {
		t.Errorf("the behaviour of %s shows without it", what)
	}
	if !probe(t, newHarness(t, append(slices.Clone(base), on)...)) {
		t.Errorf("%s changed nothing", what)
	}
}

func TestFaultsCatalogue(t *testing.T) {
	a, b := refop.Faults(), refop.Faults()
	a[0].Name = "changed"
	if b[0].Name == "changed" {
		t.Error("Faults returns shared state")
	}
	names := make([]string, len(b))
	for i, f := range b {
		names[i] = f.Name
	}
	if !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) {
		t.Errorf("fault names not sorted and unique: %v", names)
	}
}

// TestTLS checks FAPI-RW 8.5 on the live server.
func TestTLS(t *testing.T) {
	h := newHarness(t)
	addr := h.srv.Listener.Addr().String()
	tests := []struct {
		name string
		cfg  *tls.Config
		ok   bool
		ver  uint16
	}{
		{"default negotiates TLS 1.3", &tls.Config{}, true, tls.VersionTLS13},
		{"TLS 1.2 FAPI suite", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384}}, true, tls.VersionTLS12},
		{"TLS 1.2 CBC suite refused", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA}}, false, 0},
		{"TLS 1.1 refused", &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.RootCAs = h.roots
			conn, err := tls.Dial("tcp", addr, cfg)
			if (err == nil) != tt.ok {
				t.Fatalf("handshake err=%v, want ok=%v", err, tt.ok)
			}
			if err == nil {
				defer conn.Close()
				if v := conn.ConnectionState().Version; v != tt.ver {
					t.Errorf("version %x, want %x", v, tt.ver)
				}
			}
		})
	}
	c := refop.ServerTLSConfig(tls.Certificate{})
	if c.MinVersion != tls.VersionTLS12 || c.ClientAuth != tls.RequestClientCert || !slices.Equal(c.CipherSuites, ciba.FAPITLS12CipherSuites) {
		t.Errorf("ServerTLSConfig %+v", c)
	}
}
