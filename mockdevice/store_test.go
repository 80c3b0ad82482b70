package mockdevice

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/clock"
)

// sendIssued posts a channel request whose bearer token was issued at iat
// and expires at exp (either claim left out when zero).
func (h *harness) sendIssued(t *testing.T, id, loginHint string, iat, exp time.Time) {
	t.Helper()
	claims := defaultClaims(id)
	claims.IssuedAt, claims.Expiry = nil, nil
	if !iat.IsZero() {
		claims.IssuedAt = jwt.NewNumericDate(iat)
	}
	if !exp.IsZero() {
		claims.Expiry = jwt.NewNumericDate(exp)
	}
	body := `{"scope":"openid","login_hint":"` + loginHint + `"}`
	w := h.do(http.MethodPost, PathChannel, "Bearer "+sign(t, h.key.private, jose.ES256, claims), "application/json", body)
	if w.Code != http.StatusCreated {
		t.Fatalf("POST %s: status %d; body %s", PathChannel, w.Code, w.Body)
	}
}

func storedIDs(d *Device) []string {
	var ids []string
	for _, r := range d.Requests() {
		ids = append(ids, r.ID)
	}
	return ids
}

// TestDeviceForgetsUndecidedRequestsOnceExpired drives the fake clock past
// each request's expiry plus what it is kept beyond (the skew observed on
// its iat plus skewMargin; ExpiryGrace without iat, or when the skew is
// larger) and checks exactly the expired undecided ones are gone, decided
// ones stay, and a scheduled decision of a forgotten request is cancelled.
func TestDeviceForgetsUndecidedRequestsOnceExpired(t *testing.T) {
	all := []string{"short", "skewed", "noiat", "farskew", "long", "noexp", "slow", "done"}
	tests := []struct {
		name     string
		advance  time.Duration
		wantIDs  []string
		wantGone int
	}{
		{"before any expiry", 30 * time.Second, all, 0},
		{"at expiry, within the margin", time.Minute + skewMargin, all, 0},
		{"past the margin of one issued on arrival", time.Minute + skewMargin + time.Nanosecond,
			[]string{"skewed", "noiat", "farskew", "long", "noexp", "slow", "done"}, 1},
		{"at the observed skew and margin", time.Minute + 10*time.Second + skewMargin,
			[]string{"skewed", "noiat", "farskew", "long", "noexp", "slow", "done"}, 1},
		{"past the observed skew and margin", time.Minute + 10*time.Second + skewMargin + time.Nanosecond,
			[]string{"noiat", "farskew", "long", "noexp", "slow", "done"}, 2},
		{"at the full grace: without iat, or a skew beyond it", time.Minute + ExpiryGrace,
			[]string{"noiat", "farskew", "long", "noexp", "slow", "done"}, 2},
		{"past the full grace", time.Minute + ExpiryGrace + time.Nanosecond,
			[]string{"long", "noexp", "slow", "done"}, 4},
		{"past the slow one's expiry", 3*time.Minute + skewMargin + time.Nanosecond, []string{"long", "noexp", "done"}, 5},
		{"past the default lifetime of one without exp", DefaultRequestLifetime + skewMargin + time.Nanosecond, []string{"long", "done"}, 6},
		{"past every expiry", time.Hour, []string{"done"}, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, func(c *Config) {
				c.Default = Policy{Outcome: ciba.OutcomeNever}
				c.Policies = map[string]Policy{
					"auto": {Outcome: ciba.OutcomeApprove},
					"slow": {Outcome: ciba.OutcomeApprove, Delay: 2 * time.Hour},
				}
			})
			exp := epoch.Add(time.Minute)
			h.sendIssued(t, "short", "carol", epoch, exp)
			// Issued 10 s before it arrived: the device's clock may be
			// that far ahead of the OP's.
			h.sendIssued(t, "skewed", "carol", epoch.Add(-10*time.Second), exp)
			h.sendIssued(t, "noiat", "carol", time.Time{}, exp)
			h.sendIssued(t, "farskew", "carol", epoch.Add(-5*time.Minute), exp)
			h.sendIssued(t, "long", "carol", epoch, epoch.Add(30*time.Minute))
			h.sendIssued(t, "noexp", "carol", epoch, time.Time{})
			h.sendIssued(t, "slow", "slow", epoch, epoch.Add(3*time.Minute))
			h.sendIssued(t, "done", "auto", epoch, exp)
			h.op.next(t)
			if _, err := h.device.WaitSettled(waitCtx(t), "done"); err != nil {
				t.Fatal(err)
			}
			if got := h.clock.Pending(); got != 1 {
				t.Fatalf("%d timers scheduled, want slow's", got)
			}
			h.clock.Advance(tt.advance)
			if got := storedIDs(h.device); !slices.Equal(got, tt.wantIDs) {
				t.Fatalf("kept %v, want %v", got, tt.wantIDs)
			}
			st := h.device.Stats()
			if st.ForgottenExpired != tt.wantGone || st.Stored != len(tt.wantIDs) {
				t.Fatalf("stats %+v, want %d forgotten and %d stored", st, tt.wantGone, len(tt.wantIDs))
			}
			if _, ok := h.device.Request("slow"); !ok && h.clock.Pending() != 0 {
				t.Fatal("slow was forgotten but its scheduled decision was not cancelled")
			}
		})
	}
}

// TestDeviceRecordStaysBoundedWhateverArrives sends many more requests than the
// record holds, of every kind, and checks the bound and what is forgotten
// first.
func TestDeviceRecordStaysBoundedWhateverArrives(t *testing.T) {
	tests := []struct {
		name        string
		hint        string // the policy of every request sent
		wantKept    []string
		wantStats   Stats
		needsSettle bool
	}{
		{"settled: the earliest settled go", "auto", []string{"r-7", "r-8", "r-9"},
			Stats{Stored: 3, ForgottenSettled: 7}, true},
		{"refused: settled at once", "fail", []string{"r-7", "r-8", "r-9"},
			Stats{Stored: 3, ForgottenSettled: 7}, false},
		{"undecided: the earliest received goes, whatever its expiry", "wait", []string{"r-7", "r-8", "r-9"},
			Stats{Stored: 3, Pending: 3, ForgottenPending: 7}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, func(c *Config) {
				c.MaxRequests = 3
				c.Policies = map[string]Policy{
					"auto": {Outcome: ciba.OutcomeApprove},
					"fail": {Outcome: ciba.OutcomeError},
					"wait": {Outcome: ciba.OutcomeNever},
				}
			})
			for i := range 10 {
				id := fmt.Sprintf("r-%d", i)
				// Later requests expire sooner, except the last: the
				// closest to expiry is never the one to forget.
				exp := epoch.Add(time.Hour - time.Duration(i)*time.Minute)
				if i == 9 {
					exp = epoch.Add(2 * time.Hour)
				}
				if i < 2 {
					exp = epoch.Add(3 * time.Hour)
				}
				claims := defaultClaims(id)
				claims.Expiry = jwt.NewNumericDate(exp)
				want := http.StatusCreated
				if tt.hint == "fail" {
					want = DefaultErrorStatus
				}
				w := h.do(http.MethodPost, PathChannel, "Bearer "+sign(t, h.key.private, jose.ES256, claims),
					"application/json", `{"scope":"openid","login_hint":"`+tt.hint+`"}`)
				if w.Code != want {
					t.Fatalf("%s: status %d", id, w.Code)
				}
				if tt.needsSettle {
					h.op.next(t)
					if _, err := h.device.WaitSettled(waitCtx(t), id); err != nil {
						t.Fatal(err)
					}
				}
				if n := h.device.Stats().Stored; n > 3 {
					t.Fatalf("after %s: %d stored, bound 3", id, n)
				}
			}
			if got := storedIDs(h.device); !slices.Equal(got, tt.wantKept) {
				t.Fatalf("kept %v, want %v", got, tt.wantKept)
			}
			if got := h.device.Stats(); got != tt.wantStats {
				t.Fatalf("stats %+v, want %+v", got, tt.wantStats)
			}
			// A settled request keeps no bearer token: no callback needs it.
			h.device.mu.Lock()
			for rec := range h.device.index.byID.all() {
				id := rec.id
				if rec.settled() && rec.pend != nil {
					t.Errorf("settled %s still holds the OP's bearer token", id)
				}
				if states[rec.state] == StatePending && (rec.pend == nil || rec.pend.token.String(rec) == "") {
					t.Errorf("pending %s lost the bearer token its callback needs", id)
				}
			}
			h.device.mu.Unlock()
		})
	}
}

// TestDeviceWaitMatchFindsByIndex checks each kind of Match against a record
// holding several requests per login_hint.
func TestDeviceWaitMatchFindsByIndex(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Default = Policy{Outcome: ciba.OutcomeNever}
		c.Policies = map[string]Policy{"auto": {Outcome: ciba.OutcomeApprove}}
	})
	h.send(t, "w-1", "carol", http.StatusCreated)
	h.send(t, "a-1", "auto", http.StatusCreated)
	h.op.next(t)
	h.send(t, "w-2", "carol", http.StatusCreated)
	if err := h.device.Decide(waitCtx(t), "w-2", "SUCCEED"); err != nil {
		t.Fatal(err)
	}
	h.op.next(t)
	tests := []struct {
		name  string
		match Match
		want  string
	}{
		{"by id", Match{ID: "w-2"}, "w-2"},
		{"by id, settled", Match{ID: "a-1", Settled: true}, "a-1"},
		{"by id and its login_hint", Match{ID: "w-1", LoginHint: "carol"}, "w-1"},
		{"by login_hint: the earliest", Match{LoginHint: "carol"}, "w-1"},
		{"by login_hint, settled: the earliest settled", Match{LoginHint: "carol", Settled: true}, "w-2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := h.device.WaitMatch(waitCtx(t), tt.match)
			if err != nil || r.ID != tt.want {
				t.Fatalf("got %q, %v; want %q", r.ID, err, tt.want)
			}
		})
	}
	if _, err := h.device.WaitMatch(waitCtx(t), Match{Settled: true}); err != ErrEmptyMatch {
		t.Fatalf("an empty Match: %v, want ErrEmptyMatch", err)
	}
}

// TestDeviceWaitersOfDifferentRequestsDoNotWakeEachOther checks a change of one
// request wakes only the waiters of that request (by id or login_hint).
func TestDeviceWaitersOfDifferentRequestsDoNotWakeEachOther(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Default = Policy{Outcome: ciba.OutcomeNever} })
	done := make(chan string, 2)
	for _, id := range []string{"x-1", "x-2"} {
		go func() {
			if _, err := h.device.WaitSettled(waitCtx(t), id); err == nil {
				done <- id
			}
		}()
	}
	h.send(t, "x-1", "carol", http.StatusCreated)
	h.send(t, "x-2", "dave", http.StatusCreated)
	if err := h.device.Decide(waitCtx(t), "x-2", "UNAUTHORIZED"); err != nil {
		t.Fatal(err)
	}
	h.op.next(t)
	if got := <-done; got != "x-2" {
		t.Fatalf("%s woke first", got)
	}
	h.device.mu.Lock()
	_, x2Watched := h.device.watches[watchKey{id: "x-2"}]
	h.device.mu.Unlock()
	if x2Watched {
		t.Fatal("x-2's watch outlived its waiter")
	}
	if err := h.device.Decide(waitCtx(t), "x-1", "CANCELLED"); err != nil {
		t.Fatal(err)
	}
	h.op.next(t)
	if got := <-done; got != "x-1" {
		t.Fatalf("%s woke", got)
	}
}

// TestDeviceKeepsAnUndecidedRequestWhileTheOPAcceptsItsCallback puts the
// OP's clock behind or ahead of the device's and the token some time in
// transit, as the reference OP mints it (iat and exp whole seconds,
// reference-op/device.go), and checks the device still holds and can
// decide the request at the last instant the OP accepts the callback
// (before exp on the OP's clock), yet has forgotten it soon after: within
// the skew, the transit, iat's truncation and skewMargin, and never later
// than ExpiryGrace.
func TestDeviceKeepsAnUndecidedRequestWhileTheOPAcceptsItsCallback(t *testing.T) {
	tests := []struct {
		name    string
		skew    time.Duration // the device's clock minus the OP's
		transit time.Duration // from signing the token to its arrival
	}{
		{"same clock", 0, 0},
		{"same clock, slow delivery", 0, 800 * time.Millisecond},
		{"device ahead", 7600 * time.Millisecond, 30 * time.Millisecond},
		{"device ahead by almost the leeway", 29 * time.Second, 0},
		{"device behind", -12 * time.Second, 300 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, func(c *Config) { c.Default = Policy{Outcome: ciba.OutcomeNever} })
			// The device's clock reads epoch on arrival.
			signed := epoch.Add(-tt.skew - tt.transit) // on the OP's clock
			iat := signed.Truncate(time.Second)
			exp := signed.Add(time.Minute).Truncate(time.Second)
			h.sendIssued(t, "decided-late", "carol", iat, exp)
			h.sendIssued(t, "never", "carol", iat, exp)
			lastAccepted := exp.Add(tt.skew - time.Nanosecond) // on the device's clock
			h.clock.Advance(lastAccepted.Sub(epoch))
			if got := storedIDs(h.device); !slices.Equal(got, []string{"decided-late", "never"}) {
				t.Fatalf("at the last instant the OP accepts a callback the device holds %v", got)
			}
			if err := h.device.Decide(waitCtx(t), "decided-late", ciba.DeviceSucceed); err != nil {
				t.Fatal(err)
			}
			h.op.next(t)
			kept := min(max(tt.skew, 0)+tt.transit+time.Second+skewMargin, ExpiryGrace)
			h.clock.Advance(exp.Add(kept + time.Nanosecond).Sub(h.clock.Now()))
			if st := h.device.Stats(); st.Stored != 1 || st.Pending != 0 || st.ForgottenExpired != 1 {
				t.Fatalf("%v after expiry: stats %+v, want the undecided one forgotten", kept, st)
			}
			if got := storedIDs(h.device); !slices.Equal(got, []string{"decided-late"}) {
				t.Fatalf("%v after expiry the device holds %v, want the undecided one forgotten", kept, got)
			}
		})
	}
}

// TestHeldTokenComesBackAsSent checks the bearer token a pending record
// keeps for the callback comes back byte for byte: compacted when it is a
// canonical compact JWS (its payload rebuilt from the record when it is
// the reference OP's for the record), kept whole otherwise.
func TestHeldTokenComesBackAsSent(t *testing.T) {
	jws := sign(t, newOPKey(t, "k").private, jose.ES256, defaultClaims("req-1"))
	iat, exp := epoch, epoch.Add(time.Minute)
	refOP := refOPChannelToken(t, testIssuer, "req-1", iat, exp)
	// The iat is kept as int32 seconds before exp when the payload is
	// rebuilt; one further off keeps the payload decoded.
	refOPIat := func(iat time.Time) string { return refOPChannelToken(t, testIssuer, "req-1", iat, exp) }
	farBefore := exp.Add(-math.MaxInt32 * time.Second)
	tooFarBefore, tooFarAfter := farBefore.Add(-time.Second), exp.Add(-math.MinInt32*time.Second+time.Second)
	rec := &record{id: "req-1", common: &common{iss: testIssuer, clientID: "poll-pkjwt-ps256", sub: "sub-load-user"}, received: stampOf(iat)}
	rec.setExpires(stampOf(exp))
	other := *rec
	other.common = &common{iss: testIssuer, clientID: "poll-pkjwt-ps256", sub: "someone-else"}
	tests := []struct {
		name               string
		token              string
		rec                *record
		iat                time.Time
		compacted, rebuilt bool
	}{
		{"the reference OP's, for the record", refOP, rec, iat, true, true},
		{"the reference OP's, for another subject", refOP, &other, iat, true, false},
		{"the reference OP's, another iat", refOP, rec, iat.Add(time.Second), true, false},
		{"the reference OP's, iat 68 years before exp", refOPIat(farBefore), rec, farBefore, true, true},
		{"the reference OP's, iat over 68 years before exp", refOPIat(tooFarBefore), rec, tooFarBefore, true, false},
		{"the reference OP's, iat over 68 years after exp", refOPIat(tooFarAfter), rec, tooFarAfter, true, false},
		{"another OP's", jws, rec, iat, true, false},
		{"line break in the signature (the decoder skips it)", jws[:len(jws)-4] + "\n" + jws[len(jws)-4:], rec, iat, false, false},
		{"padded segment", jws + "=", rec, iat, false, false},
		{"non-canonical trailing bits", "eyJhbGciOiJub25lIn0.AB.AA", rec, iat, false, false},
		{"JWE, five segments", "a.b.c.d.e", rec, iat, false, false},
		{"two segments", "eyJhbGciOiJub25lIn0.AA", rec, iat, false, false},
		{"empty header", ".AA.AA", rec, iat, false, false},
		{"opaque", "an-opaque-token", rec, iat, false, false},
		{"empty payload and signature", "eyJhbGciOiJub25lIn0..", rec, iat, true, false},
	}
	x := newIndex(time.UTC)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			held := x.hold(tt.token, tt.rec, tt.iat)
			if got := held.String(tt.rec); got != tt.token {
				t.Fatalf("came back as %q, want %q", got, tt.token)
			}
			if compacted := held.header != nil; compacted != tt.compacted || held.rebuilt() != tt.rebuilt {
				t.Fatalf("compacted %v, rebuilt %v; want %v, %v", compacted, held.rebuilt(), tt.compacted, tt.rebuilt)
			}
			if tt.compacted && len(tt.token) > 3 && len(held.rest) >= len(tt.token)-len(*held.header) {
				t.Fatalf("compacted to %d bytes of %d", len(held.rest), len(tt.token))
			}
		})
	}
}

// TestCallbackCarriesTheOPsTokenAsSent sends channel tokens the device
// keeps in each form and checks each callback carries the token exactly.
func TestCallbackCarriesTheOPsTokenAsSent(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Default = Policy{Outcome: ciba.OutcomeNever} })
	refOP := func(id string) string {
		return refOPChannelToken(t, testIssuer, id, epoch, epoch.Add(time.Minute))
	}
	withNBF := func(id string) string { // a claim the reference OP does not send
		claims := defaultClaims(id)
		claims.NotBefore = claims.IssuedAt
		return sign(t, h.key.private, jose.ES256, claims)
	}
	for _, tt := range []struct {
		name  string
		token func(id string) string
	}{{"rebuilt", refOP}, {"decoded", withNBF}} {
		t.Run(tt.name, func(t *testing.T) {
			token := tt.token(tt.name)
			w := h.do(http.MethodPost, PathChannel, "Bearer "+token, "application/json", `{"scope":"openid","login_hint":"carol"}`)
			if w.Code != http.StatusCreated {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			h.device.mu.Lock()
			rebuilt := h.device.index.byID.get(tt.name).pend.token.rebuilt()
			h.device.mu.Unlock()
			if rebuilt != (tt.name == "rebuilt") {
				t.Fatalf("payload rebuilt %v", rebuilt)
			}
			if err := h.device.Decide(waitCtx(t), tt.name, ciba.DeviceSucceed); err != nil {
				t.Fatal(err)
			}
			if cb := h.op.next(t); cb.Authorization != "Bearer "+token {
				t.Fatalf("callback carried %q, want %q", cb.Authorization, "Bearer "+token)
			}
		})
	}
}

// TestRecordTimesComeBackAsRead checks the times a record keeps compactly
// come back as the device's clock read them, in its location (the JSON
// shows the same offset as before), and the token's exp in UTC.
func TestRecordTimesComeBackAsRead(t *testing.T) {
	for _, tt := range []struct {
		loc *time.Location
		// after is when the request is decided: a delta from its arrival
		// or, beyond about 4.29 s, a stamp kept whole in the extras.
		after time.Duration
	}{
		{time.UTC, 1500 * time.Millisecond},
		{time.FixedZone("CET", 3600), 0},
		{time.FixedZone("odd", -(3*3600 + 1800)), 1500 * time.Millisecond},
		{time.UTC, (math.MaxUint32 - 2) * time.Nanosecond},
		{time.UTC, (math.MaxUint32 - 1) * time.Nanosecond},
		{time.FixedZone("CET", 3600), 48 * time.Hour},
	} {
		loc := tt.loc
		t.Run(fmt.Sprintf("%s+%v", loc, tt.after), func(t *testing.T) {
			start := epoch.Add(123456789 * time.Nanosecond).In(loc)
			fake := clock.NewFake(start)
			h := newHarness(t, func(c *Config) {
				c.Clock = fake
				c.Default = Policy{Outcome: ciba.OutcomeNever}
			})
			h.send(t, "req-1", "carol", http.StatusCreated)
			fake.Advance(tt.after)
			if err := h.device.Decide(waitCtx(t), "req-1", ciba.DeviceSucceed); err != nil {
				t.Fatal(err)
			}
			h.op.next(t)
			w := h.do(http.MethodGet, PathRequests+"/req-1", "", "", "")
			var got map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			decided := start.Add(tt.after)
			for field, want := range map[string]time.Time{
				"received_at": start, "decided_at": decided, "called_back_at": decided,
				"expires_at": epoch.Add(5 * time.Minute).UTC(),
			} {
				if wantJSON := want.Format(time.RFC3339Nano); got[field] != wantJSON {
					t.Errorf("%s %v, want %s", field, got[field], wantJSON)
				}
			}
		})
	}
}

// TestDeltaKeepsEveryStamp checks a stamp kept as a delta from its base
// comes back exactly, and one too far off (after it, up to the ends of a
// stamp's range, where a plain subtraction would overflow, or before it)
// is reported as not fitting, so the record keeps it whole.
func TestDeltaKeepsEveryStamp(t *testing.T) {
	const lo, hi = stamp(math.MinInt64), stamp(math.MaxInt64)
	const most = math.MaxUint32 - 2 // the furthest after its base a delta holds: 4.29 s
	for _, tt := range []struct {
		name    string
		base, s stamp
		fits    bool
	}{
		{"none", 1000, 0, true},
		{"same instant", 1000, 1000, true},
		{"1.5 s later", 1000, 1000 + 1500000000, true},
		{"4.29 s later, the most", 1000, 1000 + most, true},
		{"just too late", 1000, 1000 + most + 1, false},
		{"1 ns earlier (the clock stepped back)", 1000, 999, false},
		{"base at the far end", hi, hi, true},
		{"base at the near end", lo, lo + most, true},
		{"span of the whole range", lo, hi, false},
		{"span of the whole range back", hi, lo, false},
		{"across the epoch", -5, 5, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d, ok := deltaOf(tt.base, tt.s)
			if ok != tt.fits {
				t.Fatalf("deltaOf(%d, %d) fits %v, want %v", tt.base, tt.s, ok, tt.fits)
			}
			far := stamp(0)
			if !ok {
				if d != farDelta {
					t.Fatalf("a stamp that does not fit is delta %d, want farDelta", d)
				}
				far = tt.s
			}
			if got := d.at(tt.base, far); got != tt.s {
				t.Fatalf("came back as %d, want %d", got, tt.s)
			}
		})
	}
}

// TestExpiryKeepsEveryStamp checks an expiry kept as whole seconds after
// its record's arrival comes back exactly, and one that is not a whole
// second or too far off (up to the ends of a stamp's range) is reported
// as not fitting, so the record keeps it whole.
func TestExpiryKeepsEveryStamp(t *testing.T) {
	const sec = stamp(time.Second)
	const lo, hi = stamp(math.MinInt64), stamp(math.MaxInt64)
	received := stampOf(epoch.Add(123456789))
	for _, tt := range []struct {
		name        string
		received, s stamp
		fits        bool
	}{
		{"a minute later", received, stampOf(epoch.Add(time.Minute)), true},
		{"the second it arrived in", received, stampOf(epoch), true},
		{"an hour earlier", received, stampOf(epoch.Add(-time.Hour)), true},
		{"not a whole second (the default expiry)", received, received + stamp(DefaultRequestLifetime), false},
		{"none (the zero stamp comes back)", received, 0, true},
		{"68 years later, the most", 0, math.MaxInt32 * sec, true},
		{"just too late", 0, (math.MaxInt32 + 1) * sec, false},
		{"68 years earlier, the most", 0, (math.MinInt32 + 1) * sec, true},
		{"just too early", 0, math.MinInt32 * sec, false},
		{"received just before the epoch, expiring at it", -sec, 0, true},
		{"received just before the epoch, expiring after", -1, 5 * sec, true},
		{"received at the far end", hi, hi / sec * sec, true},
		{"received at the near end", lo, lo / sec * sec, true},
		{"clamped to the far end", 0, hi, false},
		{"across the whole range", lo, hi / sec * sec, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e, ok := expiryOf(tt.received, tt.s)
			if ok != tt.fits {
				t.Fatalf("expiryOf(%d, %d) fits %v, want %v", tt.received, tt.s, ok, tt.fits)
			}
			far := stamp(0)
			if !ok {
				if e != farExpiry {
					t.Fatalf("an expiry that does not fit is %d, want farExpiry", e)
				}
				far = tt.s
			}
			if got := e.at(tt.received, far); got != tt.s {
				t.Fatalf("came back as %d, want %d", got, tt.s)
			}
		})
	}
}

// TestSettledQueueKeepsItsOrder pushes and pops records through the
// settled queue against a plain slice and checks the front after each
// step, and that the array shrinks once the queue drains.
func TestSettledQueueKeepsItsOrder(t *testing.T) {
	for _, tt := range []struct {
		name       string
		steps      []int // records pushed (>0) or popped (<0) in turn
		wantCapMax int   // of the array at the end
	}{
		{"empty", nil, 0},
		{"one in, one out", []int{1, -1}, 1},
		{"a burst, drained", []int{1000, -1000}, 0},
		{"a burst, all but a few drained", []int{1000, -995}, 2 * minShrink},
		{"steady churn", []int{100, -50, 200, -200, 300, -340}, 64},
		{"interleaved", []int{3, -1, 3, -2, 70, -60, 1, -5}, 32},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var f fifo
			var want []*record
			for _, n := range tt.steps {
				for ; n > 0; n-- {
					rec := &record{id: fmt.Sprint(len(want))}
					f.push(rec)
					want = append(want, rec)
				}
				for ; n < 0; n++ {
					if f.front() != want[0] {
						t.Fatalf("front %v, want %v", f.front(), want[0])
					}
					f.pop()
					want = want[1:]
				}
				if f.len() != len(want) {
					t.Fatalf("%d queued, want %d", f.len(), len(want))
				}
			}
			if len(want) == 0 && f.front() != nil {
				t.Fatalf("an empty queue has front %v", f.front())
			}
			if len(want) > 0 && f.front() != want[0] {
				t.Fatalf("front %v, want %v", f.front(), want[0])
			}
			if cap(f.q) > tt.wantCapMax {
				t.Errorf("array capacity %d with %d queued, want at most %d", cap(f.q), f.len(), tt.wantCapMax)
			}
		})
	}
}

// TestExpiresAtComesBackAsRead checks the expiry a record keeps in whole
// seconds from its arrival, or whole when it is not a whole second (the
// default of a token without exp), comes back exactly, in UTC.
func TestExpiresAtComesBackAsRead(t *testing.T) {
	start := epoch.Add(123456789 * time.Nanosecond)
	for _, tt := range []struct {
		name string
		exp  time.Time
		want time.Time
	}{
		{"the token's exp", epoch.Add(5 * time.Minute), epoch.Add(5 * time.Minute)},
		{"an exp already past", epoch.Add(-10 * time.Second), epoch.Add(-10 * time.Second)},
		{"no exp: the default lifetime", time.Time{}, start.Add(DefaultRequestLifetime)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, func(c *Config) {
				c.Clock = clock.NewFake(start.In(time.FixedZone("CET", 3600)))
				c.Default = Policy{Outcome: ciba.OutcomeNever}
			})
			h.sendIssued(t, "req-1", "carol", time.Time{}, tt.exp)
			r, ok := h.device.Request("req-1")
			if !ok {
				t.Fatal("req-1 not recorded")
			}
			if !r.ExpiresAt.Equal(tt.want) || r.ExpiresAt.Location() != time.UTC {
				t.Fatalf("expires at %v, want %v in UTC", r.ExpiresAt, tt.want.UTC())
			}
		})
	}
}

// TestScheduledDecisionsLeaveNoTimerBehind checks a pending request's
// scheduled decision is held only while it is due: decided by hand,
// fired, forgotten or stopped by Close, it leaves index.timers.
func TestScheduledDecisionsLeaveNoTimerBehind(t *testing.T) {
	const n = 40
	for _, tt := range []struct {
		name   string
		finish func(t *testing.T, h *harness)
	}{
		{"decided by hand or fired", func(t *testing.T, h *harness) {
			for i := range n / 4 {
				if err := h.device.Decide(waitCtx(t), fmt.Sprint("s-", i), ciba.DeviceSucceed); err != nil {
					t.Fatal(err)
				}
			}
			h.clock.Advance(time.Minute)
			for i := range n {
				if _, err := h.device.WaitSettled(waitCtx(t), fmt.Sprint("s-", i)); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"forgotten to make room", func(t *testing.T, h *harness) {
			if err := h.device.SetDefaultPolicy(Policy{Outcome: ciba.OutcomeNever}); err != nil {
				t.Fatal(err)
			}
			for i := range n {
				h.send(t, fmt.Sprint("r-", i), "carol", http.StatusCreated)
			}
		}},
		{"closed", func(_ *testing.T, h *harness) { h.device.Close() }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, func(c *Config) {
				c.Default = Policy{Outcome: ciba.OutcomeApprove, Delay: time.Minute}
				c.MaxRequests = n
			})
			for i := range n {
				h.send(t, fmt.Sprint("s-", i), "carol", http.StatusCreated)
			}
			timers := func() int {
				h.device.mu.Lock()
				defer h.device.mu.Unlock()
				return len(h.device.index.timers)
			}
			if got := timers(); got != n {
				t.Fatalf("%d timers for %d scheduled decisions", got, n)
			}
			tt.finish(t, h)
			if got := timers(); got != 0 {
				t.Fatalf("%d timers left behind", got)
			}
		})
	}
}
