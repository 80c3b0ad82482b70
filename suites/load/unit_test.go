package load

import (
	"bytes"
	"context"
	"errors"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/clock"
	"github.com/ciba-check/ciba-check/reports"
)

func TestPacerDropsLateHitsInsteadOfBursting(t *testing.T) {
	p := NewPacer(Rate{Freq: 100, Per: time.Second}, PacerOptions{Slack: 20 * time.Millisecond}) // one hit per 10 ms
	// On time: hit 0 at 0, hit 1 is due at 10 ms.
	if w, stop := p.Pace(0, 0); w != 0 || stop {
		t.Fatalf("first hit waits %v", w)
	}
	if w, _ := p.Pace(2*time.Millisecond, 1); w != 8*time.Millisecond {
		t.Fatalf("second hit waits %v, want 8ms", w)
	}
	// The workers were busy: hit 2 (due at 20 ms) is asked for at 100 ms.
	// Hits 2..7 (due 20..70 ms) are more than 20 ms late and are dropped;
	// hit 8 (due 80 ms) still goes, at once.
	if w, _ := p.Pace(100*time.Millisecond, 2); w != 0 {
		t.Fatalf("late hit waits %v", w)
	}
	if p.Dropped() != 6 {
		t.Fatalf("dropped %d, want 6", p.Dropped())
	}
	// The schedule continues where it was: the next hit (sent count 3 +
	// 6 dropped = hit 9) is due at 90 ms, already past but within slack.
	if w, _ := p.Pace(100*time.Millisecond, 3); w != 0 || p.Dropped() != 6 {
		t.Fatalf("waits %v, dropped %d", w, p.Dropped())
	}
	if got := p.Intended(time.Second); got != 100 {
		t.Fatalf("intended in 1s = %d, want 100", got)
	}
	mx := NewPacer(Rate{Max: true}, PacerOptions{})
	if w, stop := mx.Pace(time.Hour, 0); w != 0 || stop || mx.Dropped() != 0 || mx.Intended(time.Hour) != 0 {
		t.Fatal("a max pacer must neither wait nor drop")
	}
}

// virtualClock is a clock.Clock for driving the pacer the way vegeta
// does, in virtual time: AfterFunc advances time to the deadline, first
// completing the hits whose answers arrive by then, and then calls f.
type virtualClock struct {
	start   time.Time
	now     time.Duration
	answers []time.Duration // when each hit in flight completes
	pacer   *Pacer
}

func (c *virtualClock) Now() time.Time { return c.start.Add(c.now) }

func (c *virtualClock) advance(to time.Duration) {
	slices.Sort(c.answers)
	for len(c.answers) > 0 && c.answers[0] <= to {
		c.answers = c.answers[1:]
		c.pacer.Done()
	}
	c.now = max(c.now, to)
}

func (c *virtualClock) AfterFunc(d time.Duration, f func()) clock.Timer {
	c.advance(c.now + d)
	f()
	return stoppedTimer{}
}

type stoppedTimer struct{}

func (stoppedTimer) Stop() bool { return false }

// TestPacerCapsInFlight runs the pacer as vegeta's attack loop does
// (Pace, sleep the wait, hand a hit over) in virtual time, with answers
// that take latency(i) for hit i, and checks when each hit was sent.
func TestPacerCapsInFlight(t *testing.T) {
	ms := time.Millisecond
	const tenMS = 10 * time.Millisecond // the rate: 100/s
	for _, tt := range []struct {
		name     string
		cap      int
		end      time.Duration
		latency  func(i int) time.Duration
		sentAt   []time.Duration // when each hit went
		atCap    uint64
		peak     uint64
		describe string
	}{
		{
			name: "answers faster than the rate: every hit on schedule",
			cap:  2, end: 50 * ms,
			latency: func(int) time.Duration { return 5 * ms },
			sentAt:  []time.Duration{0, 10 * ms, 20 * ms, 30 * ms, 40 * ms},
			peak:    1,
		},
		{
			name: "answers take 35 ms with a cap of 2: the hits due at a full cap are dropped",
			cap:  2, end: 100 * ms,
			latency: func(int) time.Duration { return 35 * ms },
			// 0 and 10 fill the cap; 20 and 30 are dropped; 0's answer at
			// 35 frees a slot for 40, 10's at 45 one for 50; 60, 70
			// dropped; 40's at 75 frees 80, 50's at 85 frees 90.
			sentAt: []time.Duration{0, 10 * ms, 40 * ms, 50 * ms, 80 * ms, 90 * ms},
			atCap:  4, peak: 2,
		},
		{
			name: "one answer stalls 100 ms with a cap of 1: drops during the stall, no burst after it",
			cap:  1, end: 150 * ms,
			latency: func(i int) time.Duration {
				if i == 1 {
					return 100 * ms
				}
				return ms
			},
			// hit 1 (10 ms) holds the slot until 110 ms: hits due at 20..110
			// ms are dropped one by one at their due time (110 is still
			// held: the answer arrives at 110 but the cap is judged first
			// at 110 with the answer counted), then 120.. go on schedule.
			sentAt: []time.Duration{0, 10 * ms, 110 * ms, 120 * ms, 130 * ms, 140 * ms},
			atCap:  9, peak: 1,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clk := &virtualClock{start: time.Unix(0, 0)}
			p := NewPacer(Rate{Freq: 1, Per: tenMS}, PacerOptions{Slack: 20 * ms, MaxInFlight: tt.cap, End: tt.end, Clock: clk})
			clk.pacer = p
			var sent []time.Duration
			for hits := 0; hits < 100; hits++ {
				wait, stop := p.Pace(clk.now, uint64(hits))
				if stop {
					break
				}
				clk.advance(clk.now + wait)
				sent = append(sent, clk.now)
				clk.answers = append(clk.answers, clk.now+tt.latency(hits))
			}
			if !slices.Equal(sent, tt.sentAt) {
				t.Fatalf("hits sent at %v, want %v", sent, tt.sentAt)
			}
			if p.DroppedAtCap() != tt.atCap || p.DroppedLate() != 0 || p.PeakInFlight() != tt.peak {
				t.Fatalf("dropped %d at the cap, %d late, peak %d; want %d, 0, %d", p.DroppedAtCap(), p.DroppedLate(), p.PeakInFlight(), tt.atCap, tt.peak)
			}
			if intended := p.Intended(tt.end); uint64(len(sent))+p.Dropped() != intended {
				t.Fatalf("%d sent + %d dropped != %d intended", len(sent), p.Dropped(), intended)
			}
		})
	}
}

// TestPacerCatchesUpLateHitsIntoFreeSlots: when the generator stalls (it
// asks for a hit late), the hits due during the stall still go at once
// while slots are free and they are at most DefaultSlack late, as k6
// starts late iterations on free VUs; never beyond the cap, and hits
// later than the slack are dropped as late.
func TestPacerCatchesUpLateHitsIntoFreeSlots(t *testing.T) {
	ms := time.Millisecond
	rate := Rate{Freq: 100, Per: time.Second} // one hit per 10 ms
	for _, tt := range []struct {
		name                 string
		stall                time.Duration // when hit 1 is asked for
		sentAt               []time.Duration
		late, atCap          uint64
		maxLate              time.Duration
		wantPeak, wantInSent int
	}{
		{
			// Hits 1 and 2 (due 10, 20 ms) go at 80 ms, 70 and 60 ms late
			// (the 50 ms rule dropped them); the cap of 3 is then full, so
			// hits 3..10 (the run ends at 110 ms) are dropped at the cap.
			name: "stall of 80 ms: catch-up up to the cap", stall: 80 * ms,
			sentAt: []time.Duration{0, 80 * ms, 80 * ms}, atCap: 8, maxLate: 70 * ms, wantPeak: 3,
		},
		{
			// Hits 1..14 (due 10..140 ms) are more than 250 ms late at
			// 400 ms: dropped; 15 and 16 (due 150, 160 ms) still go,
			// and 17..42 (the run ends at 430 ms) find the cap full.
			name: "stall of 400 ms: hits beyond the slack are dropped late", stall: 400 * ms,
			sentAt: []time.Duration{0, 400 * ms, 400 * ms}, late: 14, atCap: 26, maxLate: 250 * ms, wantPeak: 3,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clk := &virtualClock{start: time.Unix(0, 0)}
			end := tt.stall + 30*ms
			p := NewPacer(rate, PacerOptions{MaxInFlight: 3, End: end, Clock: clk})
			clk.pacer = p
			var sent []time.Duration
			for hits := 0; ; hits++ {
				if hits == 1 {
					clk.advance(tt.stall)
				}
				wait, stop := p.Pace(clk.now, uint64(hits))
				if stop {
					break
				}
				clk.advance(clk.now + wait)
				sent = append(sent, clk.now)
				clk.answers = append(clk.answers, clk.now+time.Second) // the answers outlast the run
			}
			if !slices.Equal(sent, tt.sentAt) {
				t.Fatalf("hits sent at %v, want %v", sent, tt.sentAt)
			}
			if p.DroppedLate() != tt.late || p.DroppedAtCap() != tt.atCap || p.MaxLate() != tt.maxLate || p.PeakInFlight() != uint64(tt.wantPeak) {
				t.Fatalf("dropped %d late, %d at the cap, latest start %v, peak %d; want %d, %d, %v, %d",
					p.DroppedLate(), p.DroppedAtCap(), p.MaxLate(), p.PeakInFlight(), tt.late, tt.atCap, tt.maxLate, tt.wantPeak)
			}
			if intended := p.Intended(end); uint64(len(sent))+p.Dropped() != intended {
				t.Fatalf("%d sent + %d dropped != %d intended", len(sent), p.Dropped(), intended)
			}
		})
	}
}

// TestPacerStopsWaitingWhenStopped: a stopped run ends a wait at the cap.
func TestPacerStopsWaitingWhenStopped(t *testing.T) {
	stop := make(chan struct{})
	clk := clock.NewFake(time.Unix(0, 0))
	p := NewPacer(Rate{Freq: 1, Per: time.Second}, PacerOptions{MaxInFlight: 1, Clock: clk, Stop: stop})
	if w, s := p.Pace(0, 0); w != 0 || s {
		t.Fatalf("first hit: wait %v stop %v", w, s)
	}
	got := make(chan bool, 1)
	go func() {
		_, s := p.Pace(0, 1) // waits for hit 1, due in a second
		got <- s
	}()
	waitPending(t, clk)
	close(stop)
	if !<-got {
		t.Fatal("Pace did not report the stop")
	}
}

func TestDefaultMaxInFlight(t *testing.T) {
	for _, tt := range []struct {
		rate    Rate
		latency time.Duration
		want    int
	}{
		{Rate{Max: true}, time.Second, DefaultMaxRateWorkers},
		{Rate{Freq: 8000, Per: time.Second}, 2 * time.Millisecond, 800},            // 8000 × 100 ms (the floor)
		{Rate{Freq: 5000, Per: time.Second}, 40 * time.Millisecond, 800},           // 5000 × 4 × 40 ms
		{Rate{Freq: 10, Per: time.Second}, 5 * time.Millisecond, 64},               // the floor of the cap
		{Rate{Freq: 50000, Per: time.Second}, time.Second, 4096},                   // the ceiling
		{Rate{Freq: 100, Per: 100 * time.Millisecond}, 30 * time.Millisecond, 120}, // 1000/s × 120 ms
	} {
		if got := DefaultMaxInFlight(tt.rate, tt.latency); got != tt.want {
			t.Errorf("DefaultMaxInFlight(%v, %v) = %d, want %d", tt.rate, tt.latency, got, tt.want)
		}
	}
}

// TestSentNeverExceedsIntended drives the pacer as vegeta's attack loop
// does (the duration is checked before pacing, then the hit is sent once
// its wait is over) and as the flow loop does, and checks the accounting:
// the intended hits of a run of duration D are those due before D, and
// exactly those are sent when the workers keep up. Before StopAt, 250/s
// for 10 s sent 2,501 of 2,500 intended (the hit due at exactly 10 s).
func TestSentNeverExceedsIntended(t *testing.T) {
	tests := []struct {
		rate     Rate
		duration time.Duration
		want     uint64
	}{
		{Rate{Freq: 250, Per: time.Second}, 10 * time.Second, 2500},
		{Rate{Freq: 3, Per: time.Second}, 1500 * time.Millisecond, 5}, // due at 0, .33, .67, 1, 1.33 s
		{Rate{Freq: 50, Per: time.Minute}, time.Minute, 50},
		{Rate{Freq: 7, Per: 3 * time.Second}, 10 * time.Second, 24},
		{Rate{Freq: 10, Per: time.Second}, 20 * time.Second, 200},
	}
	for _, tt := range tests {
		t.Run(tt.rate.String()+" "+tt.duration.String(), func(t *testing.T) {
			// vegeta v12's attack loop: stop when elapsed > duration,
			// else pace, wait, send.
			p := NewPacer(tt.rate, PacerOptions{}).StopAt(tt.duration)
			var elapsed time.Duration
			var sent uint64
			for elapsed <= tt.duration {
				wait, stop := p.Pace(elapsed, sent)
				if stop {
					break
				}
				elapsed += wait
				sent++
			}
			// The run ends after its last answer, at or after the
			// duration unless the pacer stopped it first.
			if got := p.Intended(max(elapsed+time.Millisecond, tt.duration)); sent != got || got != tt.want {
				t.Errorf("vegeta loop: sent %d, intended %d, want both %d", sent, got, tt.want)
			}
			// Interrupted half way: what was sent was intended by then.
			half := tt.duration / 2
			p = NewPacer(tt.rate, PacerOptions{}).StopAt(tt.duration)
			elapsed, sent = 0, 0
			for {
				wait, stop := p.Pace(elapsed, sent)
				if stop || elapsed+wait >= half { // interrupted at half
					break
				}
				elapsed += wait
				sent++
			}
			if got := p.Intended(half); sent > got {
				t.Errorf("interrupted at %v: sent %d > intended %d", half, sent, got)
			}
		})
	}
}

// signer returns a SignFunc that records jtis and can be told to fail.
type signer struct {
	mu   sync.Mutex
	jtis []string
	fail error
}

func (s *signer) sign(jti string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return "", s.fail
	}
	s.jtis = append(s.jtis, jti)
	return "jwt." + jti, nil
}

func TestAssertionPoolNeverReusesAndDiscardsStale(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	s := &signer{}
	p, err := NewAssertionPool(PoolConfig{Sign: s.sign, Lifetime: 60 * time.Second, MinRemaining: 20 * time.Second,
		Size: 8, Signers: 2, JTIPrefix: "t-", Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	p.Start(ctx)
	defer p.Close()
	if err := p.Fill(ctx); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for range 50 {
		a, err := p.Take(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if seen[a] || !strings.HasPrefix(a, "jwt.t-") {
			t.Fatalf("assertion %q handed out twice or without the prefix", a)
		}
		seen[a] = true
	}
	// Once the pool is full again, 45 s pass: the 8 waiting ones have
	// 15 s left, less than MinRemaining, so they are thrown away, not sent.
	deadline := time.Now().Add(5 * time.Second)
	for len(p.ready) < cap(p.ready) {
		if time.Now().After(deadline) {
			t.Fatal("the pool was not refilled")
		}
		time.Sleep(time.Millisecond)
	}
	clk.Advance(45 * time.Second)
	a, err := p.Take(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if seen[a] {
		t.Fatalf("assertion %q reused", a)
	}
	st := p.Stats()
	if st.Stale < 8 || st.Taken != 51 {
		t.Fatalf("stats %+v: want at least 8 stale and 51 taken", st)
	}
}

func TestAssertionPoolReportsSigningFailure(t *testing.T) {
	s := &signer{fail: errors.New("key gone")}
	p, err := NewAssertionPool(PoolConfig{Sign: s.sign, Lifetime: time.Minute, Size: 4, Signers: 1, Clock: clock.NewFake(time.Unix(0, 0))})
	if err != nil {
		t.Fatal(err)
	}
	p.Start(t.Context())
	defer p.Close()
	if err := p.Fill(t.Context()); err == nil || !strings.Contains(err.Error(), "key gone") {
		t.Fatalf("Fill error %v, want the signing failure", err)
	}
	if _, err := p.Take(t.Context()); err == nil || !strings.Contains(err.Error(), "key gone") {
		t.Fatalf("Take error %v, want the signing failure", err)
	}
}

func TestAssertionPoolTakeStopsWithContext(t *testing.T) {
	// Never started: nothing is ever signed, so Take waits until ctx ends.
	p, err := NewAssertionPool(PoolConfig{Sign: (&signer{}).sign, Lifetime: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := p.Take(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Take error %v, want context.Canceled", err)
	}
}

func TestNewAssertionPoolRefusesBadConfig(t *testing.T) {
	for _, cfg := range []PoolConfig{
		{Lifetime: time.Minute},
		{Sign: (&signer{}).sign},
		{Sign: (&signer{}).sign, Lifetime: time.Minute, MinRemaining: time.Minute},
	} {
		if _, err := NewAssertionPool(cfg); err == nil {
			t.Fatalf("NewAssertionPool(%+v) accepted", cfg)
		}
	}
}

type fixedAssertions struct{ n int }

func (f *fixedAssertions) Take(ctx context.Context) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	f.n++
	return "a" + strings.Repeat("+", f.n), nil
}

func TestPollTargets(t *testing.T) {
	t.Run("mtls round robin", func(t *testing.T) {
		tr, err := PollTargets{Endpoint: "https://op/token", ClientID: "c1", AuthMethod: ciba.AuthTLSClient, AuthReqIDs: []string{"r1", "r2"}}.Targeter()
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for range 3 {
			var tg vegeta.Target
			if err := tr(&tg); err != nil {
				t.Fatal(err)
			}
			f, err := url.ParseQuery(string(tg.Body))
			if err != nil {
				t.Fatal(err)
			}
			if tg.Method != http.MethodPost || tg.URL != "https://op/token" || f.Get("grant_type") != ciba.GrantTypeCIBA ||
				f.Get("client_id") != "c1" || f.Has("client_assertion") || tg.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
				t.Fatalf("target %+v, body %q", tg, tg.Body)
			}
			ids = append(ids, f.Get("auth_req_id"))
		}
		if strings.Join(ids, ",") != "r1,r2,r1" {
			t.Fatalf("auth_req_ids %v, want round robin", ids)
		}
	})
	t.Run("private_key_jwt fresh assertion each", func(t *testing.T) {
		src := &fixedAssertions{}
		tr, err := PollTargets{Endpoint: "https://op/token", ClientID: "c1", AuthMethod: ciba.AuthPrivateKeyJWT,
			AuthReqIDs: []string{"r1"}, Assertions: src, Ctx: t.Context()}.Targeter()
		if err != nil {
			t.Fatal(err)
		}
		var prev string
		for range 2 {
			var tg vegeta.Target
			if err := tr(&tg); err != nil {
				t.Fatal(err)
			}
			f, _ := url.ParseQuery(string(tg.Body))
			a := f.Get("client_assertion")
			if a == "" || a == prev || f.Get("client_assertion_type") != ciba.ClientAssertionTypeJWTBearer || f.Has("client_id") {
				t.Fatalf("body %q: want a new assertion (with '+' escaped) and no client_id", tg.Body)
			}
			prev = a
		}
	})
	t.Run("refusals", func(t *testing.T) {
		for _, pt := range []PollTargets{
			{AuthMethod: ciba.AuthTLSClient, AuthReqIDs: []string{"r"}},
			{Endpoint: "e", AuthMethod: ciba.AuthTLSClient},
			{Endpoint: "e", AuthMethod: ciba.AuthPrivateKeyJWT, AuthReqIDs: []string{"r"}},
			{Endpoint: "e", AuthMethod: "client_secret_basic", AuthReqIDs: []string{"r"}},
		} {
			if _, err := pt.Targeter(); err == nil {
				t.Fatalf("Targeter(%+v) accepted", pt)
			}
		}
	})
	t.Run("assertion failure stops", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		tr, _ := PollTargets{Endpoint: "e", AuthMethod: ciba.AuthPrivateKeyJWT, AuthReqIDs: []string{"r"},
			Assertions: &fixedAssertions{}, Ctx: ctx}.Targeter()
		if err := tr(&vegeta.Target{}); err == nil {
			t.Fatal("targeter succeeded without an assertion")
		}
	})
}

func result(code int, body string, lat time.Duration, at time.Time) *vegeta.Result {
	return &vegeta.Result{Attack: AttackName(ScenarioPoll, Shard{0, 1}, Rate{Freq: 10, Per: time.Second}, time.Second, ""),
		Code: uint16(code), Body: []byte(body), Latency: lat, Timestamp: at, Method: "POST", URL: "https://op/token"}
}

func TestClassify(t *testing.T) {
	now := time.Unix(0, 0)
	tests := []struct {
		name     string
		scenario Scenario
		res      *vegeta.Result
		class    Class
		code     string
	}{
		{"pending", ScenarioPoll, result(400, `{"error":"authorization_pending"}`, 0, now), ClassExpected, "authorization_pending"},
		{"slow_down", ScenarioPoll, result(400, `{"error":"slow_down","error_description":"x"}`, 0, now), ClassExpected, "slow_down"},
		{"tokens", ScenarioPoll, result(200, `{"access_token":"x"}`, 0, now), ClassOK, ""},
		{"expired", ScenarioPoll, result(400, `{"error":"expired_token"}`, 0, now), ClassUnexpected, "expired_token"},
		{"pending with 401", ScenarioPoll, result(401, `{"error":"authorization_pending"}`, 0, now), ClassUnexpected, "authorization_pending"},
		{"invalid_client", ScenarioPoll, result(401, `{"error":"invalid_client"}`, 0, now), ClassUnexpected, "invalid_client"},
		{"html 500", ScenarioPoll, result(500, `<html>`, 0, now), ClassUnexpected, ""},
		{"transport", ScenarioPoll, &vegeta.Result{Error: "connection refused"}, ClassUnexpected, ""},
		{"flow ok", ScenarioFlowPing, &vegeta.Result{Code: 200}, ClassOK, ""},
		{"flow denied", ScenarioFlowPoll, &vegeta.Result{Code: 400, Body: []byte(`{"error":"access_denied"}`), Error: "polling: access_denied"}, ClassUnexpected, "access_denied"},
		{"flow pending is a failure", ScenarioFlowPoll, &vegeta.Result{Code: 400, Body: []byte(`{"error":"authorization_pending"}`)}, ClassUnexpected, "authorization_pending"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			class, code := Classify(tt.scenario, tt.res)
			if class != tt.class || code != tt.code {
				t.Fatalf("Classify = %v %q, want %v %q", class, code, tt.class, tt.code)
			}
		})
	}
}

func TestRecorderSummary(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	rec := NewRecorder(ScenarioPoll)
	for i := range 98 {
		rec.Add(result(400, `{"error":"authorization_pending"}`, time.Duration(i+1)*time.Millisecond, start.Add(time.Duration(i)*10*time.Millisecond)))
	}
	rec.Add(result(400, `{"error":"expired_token"}`, time.Millisecond, start.Add(980*time.Millisecond)))
	rec.Add(&vegeta.Result{Attack: "x", Error: "dial tcp: refused", Timestamp: start.Add(990 * time.Millisecond), Latency: 10 * time.Millisecond})
	ts, err := ParseThresholds([]string{"errors<0.05", "rate>1000", "p(50)<100ms"})
	if err != nil {
		t.Fatal(err)
	}
	s := rec.Summary(RunInfo{Rate: Rate{Freq: 100, Per: time.Second}, Elapsed: time.Second, Dropped: 2, Thresholds: ts, Shards: []string{"0/2"}})
	if s.Mode != "poll" || s.Requests.Sent != 100 || s.Requests.Expected != 98 || s.Requests.Unexpected != 2 || s.Requests.OK != 0 {
		t.Fatalf("counts %+v", s.Requests)
	}
	if s.Requests.Intended != 100 || s.Requests.Dropped != 2 {
		t.Fatalf("intended %d dropped %d, want 100 and 2", s.Requests.Intended, s.Requests.Dropped)
	}
	if s.ErrorRate != 0.02 || s.Rate.Achieved != 98 || s.OAuthErrors["expired_token"] != 1 || s.Status["0"] != 1 || s.Status["400"] != 99 {
		t.Fatalf("summary %+v", s)
	}
	if len(s.Errors) != 2 || s.LatencyMS.Max != 98 {
		t.Fatalf("errors %+v, max latency %v", s.Errors, s.LatencyMS.Max)
	}
	if s.Passed || len(s.Thresholds) != 3 || !s.Thresholds[0].OK || s.Thresholds[1].OK || !s.Thresholds[2].OK {
		t.Fatalf("thresholds %+v passed=%v: want errors and p50 to hold, rate to break", s.Thresholds, s.Passed)
	}
	text := summaryText(t, s)
	for _, want := range []string{"✓ errors<0.05", "✗ rate>1000  (measured 98.0/s)", "dropped 2", "expired_token×1", "shards        0/2",
		"warning       2 of 100 intended requests dropped (2.0%)"} {
		if !strings.Contains(text, want) {
			t.Fatalf("text summary lacks %q:\n%s", want, text)
		}
	}
	// Without thresholds nothing is judged, and the summary says so.
	none := rec.Summary(RunInfo{Rate: Rate{Freq: 100, Per: time.Second}, Elapsed: time.Second})
	if text := summaryText(t, none); !strings.Contains(text, "thresholds    none set: nothing was judged") {
		t.Errorf("a summary without thresholds does not say so:\n%s", text)
	}
	back, err := reports.FromLoadJSON(summaryJSON(t, s))
	if err != nil || back.Load[0].Requests != s.Requests || back.Load[0].Passed {
		t.Fatalf("JSON round trip: %+v, %v", back, err)
	}
}

// summaryText is the terminal report of s.
func summaryText(t *testing.T, s *reports.LoadRun) string {
	t.Helper()
	var b bytes.Buffer
	if err := reports.RenderLoadText(&b, reports.LoadModel("", *s)); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// summaryJSON is s as a load summary (ciba-check/load/v1).
func summaryJSON(t *testing.T, s *reports.LoadRun) *bytes.Buffer {
	t.Helper()
	var b bytes.Buffer
	if err := reports.WriteLoadJSON(&b, s, "test"); err != nil {
		t.Fatal(err)
	}
	return &b
}

func TestRecorderFlowApprovalLatency(t *testing.T) {
	rec := NewRecorder(ScenarioFlowPing)
	at := time.Unix(0, 0)
	for i := range 10 {
		rec.Add(&vegeta.Result{Code: 200, Timestamp: at, Latency: time.Second, Method: MethodFlow,
			Headers: http.Header{HeaderApprovalToToken: {strconv.FormatInt((time.Duration(i+1) * time.Millisecond).Nanoseconds(), 10)}}})
	}
	ts, _ := ParseThresholds([]string{"max<=10ms", "p(50)<9ms"})
	s := rec.Summary(RunInfo{Rate: Rate{Freq: 10, Per: time.Second}, Thresholds: ts})
	if s.ApprovalToTokenMS == nil || s.ApprovalToTokenMS.Max != 10 || s.ApprovalToTokenMS.Min != 1 || s.LatencyMS.P50 != 1000 {
		t.Fatalf("approval %+v latency %+v", s.ApprovalToTokenMS, s.LatencyMS)
	}
	if !s.Passed {
		t.Fatalf("thresholds %+v should hold on approval-to-token latency", s.Thresholds)
	}
}

func TestProgress(t *testing.T) {
	snap := Snapshot{Elapsed: 3 * time.Second, Total: 10 * time.Second, Count: 300, Rate: 99.5, P99: 12 * time.Millisecond, Unexpected: 1, Dropped: 4}
	var buf bytes.Buffer
	p := &Progress{W: &buf}
	if got, want := p.Line(snap), "3s/10s  300 sent  99.5/s ok  p99 12ms  1 unexpected  4 dropped"; got != want {
		t.Fatalf("line %q, want %q", got, want)
	}
	p.Write(snap)
	if !strings.HasSuffix(buf.String(), "dropped\n") || strings.Contains(buf.String(), "\r") {
		t.Fatalf("log line %q", buf.String())
	}
	buf.Reset()
	p.TTY = true
	p.Write(snap)
	if !strings.HasPrefix(buf.String(), "\r\x1b[K3s/10s") || strings.Contains(buf.String(), "\n") {
		t.Fatalf("terminal line %q", buf.String())
	}
}

// syncBuffer is a bytes.Buffer safe for the progress goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestProgressRunOnFakeClock(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	var out syncBuffer
	p := &Progress{W: &out, Clock: clk}
	ctx, cancel := context.WithCancel(t.Context())
	drawn := make(chan Snapshot, 10)
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Run(ctx, func() Snapshot {
			s := Snapshot{Elapsed: clk.Now().Sub(time.Unix(0, 0))}
			drawn <- s
			return s
		})
	}()
	for i := 1; i <= 2; i++ {
		waitPending(t, clk)
		clk.Advance(LogRefresh)
		if s := <-drawn; s.Elapsed != time.Duration(i)*LogRefresh {
			t.Fatalf("update %d at %v", i, s.Elapsed)
		}
	}
	cancel()
	<-done
	if n := strings.Count(out.String(), "\n"); n != 2 {
		t.Fatalf("%d lines, want 2 (one per %v):\n%s", n, LogRefresh, out.String())
	}
}

// waitPending waits until something has scheduled a timer on clk.
func waitPending(t *testing.T, clk *clock.Fake) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for clk.Pending() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no timer was scheduled")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestSendAndCompletionRates: the send rate is over the window flows were
// started in; the achieved (completion) rate over the whole run, whose
// drain of in-flight flows it includes, and the summary says both.
func TestSendAndCompletionRates(t *testing.T) {
	rec := NewRecorder(ScenarioFlowPoll)
	at := time.Unix(0, 0)
	for i := range 200 {
		rec.Add(&vegeta.Result{Code: 200, Timestamp: at.Add(time.Duration(i) * 100 * time.Millisecond), Latency: 800 * time.Millisecond, Method: MethodFlow,
			Headers: http.Header{HeaderApprovalToToken: {strconv.FormatInt((300 * time.Millisecond).Nanoseconds(), 10)}}})
	}
	s := rec.Summary(RunInfo{Rate: Rate{Freq: 10, Per: time.Second}, Planned: 20 * time.Second, Elapsed: 20800 * time.Millisecond})
	if s.Requests.Sent != 200 || s.Requests.Intended != 200 {
		t.Fatalf("sent %d of %d intended, want 200 of 200", s.Requests.Sent, s.Requests.Intended)
	}
	if s.SendSeconds != 20 || s.Rate.Sent != 10 || math.Abs(s.Rate.Achieved-200/20.8) > 1e-9 {
		t.Fatalf("send window %vs, sent %v/s, achieved %v/s; want 20s, 10/s, %.2f/s", s.SendSeconds, s.Rate.Sent, s.Rate.Achieved, 200/20.8)
	}
	if want, text := "sent 10.0/s over 20.00s, achieved 9.6/s over 20.80s (incl. 0.80s draining in-flight flows)", summaryText(t, s); !strings.Contains(text, want) {
		t.Errorf("summary lacks %q:\n%s", want, text)
	}
}
