package mockdevice

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/clock"
)

// roundTripFunc answers the device's callbacks without a network.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// refOPChannelToken is a channel token shaped as the reference OP mints
// it for the mock device in a serve (reference-op/device.go, with
// devenv's channel key: ES256, claims marshalled from a map) for request
// id.
func refOPChannelToken(t testing.TB, iss, id string, iat, exp time.Time) string {
	return refOPChannelTokenAlg(t, "ES256", iss, id, iat, exp)
}

// refOPChannelTokenAlg is a channel token as the reference OP mints it
// with its alg key (PS256, RSA-2048, or ES256, P-256); the signature is
// random bytes of the real length, since nothing here verifies it.
func refOPChannelTokenAlg(t testing.TB, alg, iss, id string, iat, exp time.Time) string {
	t.Helper()
	sigBytes := map[string]int{"PS256": 256, "ES256": 64}[alg]
	if sigBytes == 0 {
		t.Fatalf("no channel token shape for alg %q", alg)
	}
	enc := base64.RawURLEncoding
	header := enc.EncodeToString([]byte(`{"alg":"` + alg + `","kid":"op-` + alg + `","typ":"ciba-channel+jwt"}`))
	payload, err := json.Marshal(map[string]any{
		"iss": iss, "aud": iss, "jti": id, "azp": "poll-pkjwt-ps256", "sub": "sub-load-user",
		"exp": exp.Unix(), "iat": iat.Unix(),
	})
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, sigBytes)
	_, _ = rand.Read(sig)
	return header + "." + enc.EncodeToString(payload) + "." + enc.EncodeToString(sig)
}

// heapInUse is the live heap after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestRecordBytesPerRequest measures what the device holds per pending
// request (from the OP's POST until the user decides: the record, its
// indexes and the OP's bearer token) and per settled one (history), with
// requests shaped like a load run's against the reference OP: 27-character
// auth_req_ids, one user, channel tokens signed ES256 (what a serve's OP
// sends its device: devenv's channel key) or PS256 (an OP whose channel
// key is RSA). It prints the figures; the bounds are 5-10% above what it
// measured (ES256: 267 and 156 bytes; PS256: 459 and 156, as every
// serve's pending request cost while its OP signed the channel with its
// first key, PS256; 595 and 259 before the record's fields were packed
// and the id map replaced, 1,314 and 658 before it was first compacted),
// so a change that undoes any of that shows. Of a pending request's
// bytes, the token's signature is 64 (ES256) or 256 (PS256), kept
// decoded.
func TestRecordBytesPerRequest(t *testing.T) {
	if testing.Short() {
		t.Skip("measures memory over thousands of requests")
	}
	for _, tt := range []struct {
		alg                     string
		mostPending, mostSettle float64
	}{
		{"ES256", 290, 170},
		{"PS256", 485, 170},
	} {
		t.Run(tt.alg, func(t *testing.T) {
			pending, settled := recordBytesPerRequest(t, tt.alg)
			for _, c := range []struct {
				what      string
				got, most float64
			}{{"pending", pending, tt.mostPending}, {"settled", settled, tt.mostSettle}} {
				if c.got > c.most {
					t.Errorf("%s request costs %.0f bytes, more than %.0f", c.what, c.got, c.most)
				}
			}
		})
	}
}

// recordBytesPerRequest is TestRecordBytesPerRequest's measure with
// channel tokens signed alg: the live heap per pending request and per
// settled one.
func recordBytesPerRequest(t *testing.T, alg string) (pending, settled float64) {
	const n = 4000
	const iss = "https://127.0.0.1:43117"
	clk := clock.NewFake(epoch)
	d, err := New(Config{
		CallbackURL: iss + "/ciba/auth/callback",
		HTTPClient: &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(strings.NewReader("")), Request: r}, nil
		})},
		Clock:       clk,
		Default:     Policy{Outcome: ciba.OutcomeNever},
		MaxRequests: n + 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ids := make([]string, n)
	tokens := make([]string, n)
	for i := range n {
		raw := make([]byte, 20)
		_, _ = rand.Read(raw)
		ids[i] = base64.RawURLEncoding.EncodeToString(raw)
	}
	body := `{"scope":"openid","login_hint":"load-user","is_consent_required":false}`
	base := heapInUse()
	for i, id := range ids {
		// Built here so the token counts towards the pending record.
		tokens[i] = refOPChannelTokenAlg(t, alg, iss, id, epoch, epoch.Add(time.Minute))
		postChannel(t, d, tokens[i], body)
		tokens[i] = ""
	}
	pending = float64(heapInUse()-base) / n
	for _, id := range ids {
		if err := d.Decide(context.Background(), id, ciba.DeviceSucceed); err != nil {
			t.Fatal(err)
		}
	}
	settled = float64(heapInUse()-base) / n
	if st := d.Stats(); st.Stored != n || st.Pending != 0 {
		t.Fatalf("stats %+v, want %d stored, none pending", st, n)
	}
	t.Logf("%s: bytes per pending request %.0f, per settled request %.0f (token %d bytes, %d requests)",
		alg, pending, settled, len(refOPChannelTokenAlg(t, alg, iss, ids[0], epoch, epoch)), n)
	runtime.KeepAlive(d)
	return pending, settled
}

// postChannel sends the device a channel request as the OP would.
func postChannel(t testing.TB, d *Device, token, body string) {
	t.Helper()
	r, _ := http.NewRequest(http.MethodPost, PathChannel, strings.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+token)
	r.Header.Set("Content-Type", "application/json")
	w := &discardWriter{header: http.Header{}}
	d.Handler().ServeHTTP(w, r)
	if w.status != http.StatusCreated {
		t.Fatalf("channel request: status %d", w.status)
	}
}

// TestForgottenRequestsGiveTheirMemoryBack sends a burst of requests
// the user never decides, lets the device forget them once they have
// expired, and checks the live heap returns near where it started: the
// indexes shrink (a Go map, and a slice popped from, keep the memory of
// their peak). (Settled requests are forgotten only to make room for
// newer ones, so their number never goes down.)
func TestForgottenRequestsGiveTheirMemoryBack(t *testing.T) {
	if testing.Short() {
		t.Skip("measures memory over thousands of requests")
	}
	const iss = "https://127.0.0.1:43117"
	body := `{"scope":"openid","login_hint":"load-user","is_consent_required":false}`
	for _, n := range []int{10000, 3000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			clk := clock.NewFake(epoch)
			d, err := New(Config{CallbackURL: iss + "/ciba/auth/callback", Clock: clk, Default: Policy{Outcome: ciba.OutcomeNever}, MaxRequests: n + 1})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			send := func(from, to int) {
				for i := from; i < to; i++ {
					id := fmt.Sprintf("burst-%021d", i)
					postChannel(t, d, refOPChannelToken(t, iss, id, clk.Now(), clk.Now().Add(time.Minute)), body)
				}
			}
			// One request first, so what the device keeps for good (the
			// shared token header and common fields) is in the base; it
			// is forgotten with the burst, and one sent after it is held
			// on (an index left empty could just be dropped).
			send(0, 1)
			base := heapInUse()
			send(1, n)
			peak := heapInUse()
			clk.Advance(time.Minute)
			send(n, n+1)
			clk.Advance(time.Minute) // the burst is forgotten 2 s after its expiry (see forgetAfter)
			if st := d.Stats(); st.Stored != 1 || st.ForgottenExpired != n {
				t.Fatalf("stats %+v, want the %d of the burst forgotten after expiring, 1 stored", st, n)
			}
			after := heapInUse()
			t.Logf("live heap %d B before the burst of %d, %+d at its peak, %+d after", base, n, int64(peak-base), int64(after)-int64(base))
			if grew := int64(after) - int64(base); grew > 16<<10 {
				t.Errorf("live heap %d B more than before the burst, of %d at its peak", grew, peak-base)
			}
			runtime.KeepAlive(d)
		})
	}
}

// discardWriter is a ResponseWriter that keeps only the status.
type discardWriter struct {
	header http.Header
	status int
}

func (w *discardWriter) Header() http.Header { return w.header }
func (w *discardWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return len(b), nil
}
func (w *discardWriter) WriteHeader(s int) {
	if w.status == 0 {
		w.status = s
	}
}

// TestRecordSizes pins the sizes of what a record is made of to the
// allocator's size classes they were fitted to (96 and 48 bytes on a
// 64-bit platform): a field more crosses into the next class (112, 64).
func TestRecordSizes(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("sizes fitted on 64-bit platforms")
	}
	for _, tt := range []struct {
		what      string
		got, want uintptr
	}{
		{"record", unsafe.Sizeof(record{}), 96},
		{"pendingPart", unsafe.Sizeof(pendingPart{}), 48},
		{"heldToken", unsafe.Sizeof(heldToken{}), 32},
	} {
		if tt.got > tt.want {
			t.Errorf("%s is %d bytes, more than %d", tt.what, tt.got, tt.want)
		}
	}
}
