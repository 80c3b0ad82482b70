package reports

import (
	"fmt"
	"time"
)

// sampleTime is the fixed date of every sample model, so renders are
// byte-for-byte stable.
var sampleTime = time.Date(2026, 11, 25, 14, 30, 0, 0, time.UTC)

// lcg is a tiny deterministic generator for sample data (the same numbers
// on every platform, unlike floating-point formulas).
type lcg uint64

func (l *lcg) next(n int) int {
	*l = *l*6364136223846793005 + 1442695040888963407
	return int(uint64(*l>>33) % uint64(n))
}

// hostileText is what a malicious OP might put in an error_description:
// it must be shown as text and never run.
const hostileText = `<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">`

// sampleModel is a conformance run with passes, a warning, failures, skips and
// hostile OP content, plus a poll and a ping load run with series.
func sampleModel() *Model {
	m := &Model{
		Schema:      SchemaVersion,
		ToolVersion: "v0.4.0",
		GeneratedAt: sampleTime,
		Target:      Target{Issuer: "https://op.example.com/realms/bank", Description: "Example Bank staging", Profile: "FAPI-CIBA"},
		Environment: map[string]string{"go": "go1.26.8", "os": "linux/amd64", "runner": "github-actions"},
	}
	tokenExchange := Exchange{
		Method: "POST", URL: "https://op.example.com/realms/bank/token",
		RequestHeaders: []Header{{"Content-Type", "application/x-www-form-urlencoded"}},
		RequestBody:    "grant_type=urn:openid:params:grant-type:ciba&auth_req_id=1c266114-a1be-4252-8ad1-04986c5b9ac1&client_assertion=[redacted]",
		Status:         400,
		ResponseHeaders: []Header{
			{"Content-Type", "application/json"},
			{"Cache-Control", "no-store"},
		},
		ResponseBody: `{"error":"invalid_grant","error_description":"` + hostileText + `"}`,
	}
	groups := []struct {
		name   string
		checks []Check
	}{
		{"Discovery", []Check{
			{Name: "publishes backchannel_authentication_endpoint over https", SpecRefs: []string{"CIBA-4"}, Outcome: Passed, DurationSeconds: 0.012},
			{Name: "lists urn:openid:params:grant-type:ciba in grant_types_supported", SpecRefs: []string{"CIBA-4"}, Outcome: Passed, DurationSeconds: 0.004},
			{Name: "lists backchannel_token_delivery_modes_supported without push under FAPI", SpecRefs: []string{"CIBA-4", "FAPI-CIBA-5.2.2-5"}, Outcome: Passed, DurationSeconds: 0.003},
			{Name: "advertises PS256 or ES256 for backchannel request signing", SpecRefs: []string{"FAPI-CIBA-5.2.2-4"}, Outcome: Passed, DurationSeconds: 0.003},
		}},
		{"Backchannel authentication endpoint", []Check{
			{Name: "acknowledges with JSON and an auth_req_id of A-Z a-z 0-9 . - _", SpecRefs: []string{"CIBA-7.3"}, Modes: []string{"poll"}, Auth: []string{"private_key_jwt"}, OIDFModules: []string{"fapi-ciba-id1"}, Outcome: Passed, DurationSeconds: 0.041},
			{Name: "issues unique auth_req_ids of at least 128 bits", SpecRefs: []string{"CIBA-7.3"}, Outcome: Passed, DurationSeconds: 0.083},
			{Name: "acknowledges with expires_in as a positive JSON number", SpecRefs: []string{"CIBA-7.3"}, Outcome: Passed, DurationSeconds: 0.038},
			{
				Name: "rejects a request without a hint with invalid_request", SpecRefs: []string{"CIBA-7.1", "CIBA-13"}, Negative: true, Modes: []string{"poll"}, Auth: []string{"private_key_jwt"},
				Outcome: Failed, DurationSeconds: 0.052,
				Level: "MUST", Duty: "OP", Quote: `CIBA-13: "invalid_request The request is missing a required parameter, includes an invalid parameter value, includes a parameter more than once, contains more than one of the hints, or is otherwise malformed."`,
				Message:  "expected HTTP 400 invalid_request (CIBA 13), got HTTP 200 with an auth_req_id",
				Expected: "HTTP 400\n{\"error\":\"invalid_request\"}",
				Got:      "HTTP 200\n{\"auth_req_id\":\"abc\",\"expires_in\":120}",
				Exchanges: []Exchange{{
					Method: "POST", URL: "https://op.example.com/realms/bank/bc-authorize",
					RequestBody: "request=[redacted JWT]&client_assertion=[redacted]", Status: 200,
					ResponseHeaders: []Header{{"Content-Type", "application/json"}},
					ResponseBody:    `{"auth_req_id":"abc","expires_in":120}`,
				}},
				Location: "suites/conformance/checks_backchannel.go:142",
			},
			{Name: "rejects more than one hint", SpecRefs: []string{"CIBA-7.1"}, Negative: true, Outcome: Passed, DurationSeconds: 0.031},
			{Name: "rejects an unknown login_hint with unknown_user_id", SpecRefs: []string{"CIBA-13"}, Negative: true, Outcome: Passed, DurationSeconds: 0.029},
			{Name: "requires user_code when the client is registered for it", SpecRefs: []string{"CIBA-7.1"}, Outcome: Skipped, Message: "no client in target.yaml is registered with backchannel_user_code_parameter"},
		}},
		{"Signed authentication request", []Check{
			{Name: "rejects an unsigned request under FAPI", SpecRefs: []string{"FAPI-CIBA-5.2.2-1"}, Negative: true, Outcome: Passed, DurationSeconds: 0.027},
			{Name: "rejects alg none", SpecRefs: []string{"CIBA-7.1.1", "FAPI-CIBA-5.2.2-4"}, Negative: true, Outcome: Passed, DurationSeconds: 0.022},
			{Name: "rejects a request object living longer than 60 minutes", SpecRefs: []string{"FAPI-CIBA-5.2.2-9"}, Negative: true, Outcome: Passed, DurationSeconds: 0.025},
			{
				Name: "rejects a replayed jti", SpecRefs: []string{"CIBA-7.1.1"}, Negative: true, Should: true, Outcome: Warning, DurationSeconds: 0.044,
				Message:  "expected HTTP [400] with error [invalid_request], got a success\n  > POST https://op.example.com/realms/bank/bc-authorize\n  < HTTP 200",
				Location: "suites/conformance/checks_requestobject.go:190",
			},
			{Name: "rejects a request object with the wrong aud", SpecRefs: []string{"CIBA-7.1.1"}, Negative: true, Outcome: Passed, DurationSeconds: 0.021},
		}},
		{"Token endpoint", []Check{
			{Name: "answers authorization_pending while the user has not decided", SpecRefs: []string{"CIBA-11"}, Modes: []string{"poll"}, Outcome: Passed, DurationSeconds: 1.204},
			{
				Name: "answers slow_down when polled faster than the interval", SpecRefs: []string{"CIBA-11", "CIBA-7.3"}, Modes: []string{"poll"}, Auth: []string{"tls_client_auth"},
				Outcome: Failed, DurationSeconds: 2.115,
				Message:   "expected slow_down (CIBA 11) to a poll 200 ms after the previous one, got invalid_grant: " + hostileText,
				Exchanges: []Exchange{tokenExchange},
			},
			{Name: "issues tokens once after approval", SpecRefs: []string{"CIBA-10.1"}, Modes: []string{"poll"}, Outcome: Passed, DurationSeconds: 1.531},
			{Name: "answers access_denied after the user denies", SpecRefs: []string{"CIBA-11"}, Outcome: Passed, DurationSeconds: 1.402},
			{Name: "answers expired_token after expiry", SpecRefs: []string{"CIBA-11"}, Outcome: Passed, DurationSeconds: 3.009},
			{Name: "binds the access token to the client certificate", SpecRefs: []string{"FAPI-CIBA-5.2.2-7", "RFC8705-3"}, Auth: []string{"tls_client_auth"}, Outcome: Passed, DurationSeconds: 1.311},
			{Name: "id_token carries urn:openid:params:jwt:claim:auth_req_id", SpecRefs: []string{"CIBA-10.1.1"}, Outcome: Passed, DurationSeconds: 1.288},
			{Name: "refuses a second token request for the same auth_req_id", SpecRefs: []string{"CIBA-10.1"}, Negative: true, Outcome: Failed, DurationSeconds: 1.77,
				Message:   "expected invalid_grant to the second token request (tokens are issued once), got HTTP 200 with a second access token",
				Exchanges: []Exchange{{Method: "POST", URL: "https://op.example.com/realms/bank/token", Status: 0, Error: "read tcp 10.0.0.5:443: connection reset by peer"}},
			},
		}},
		{"Ping callback", []Check{
			{Name: "pings the client notification endpoint with the bearer token", SpecRefs: []string{"CIBA-10.2"}, Modes: []string{"ping"}, Outcome: Skipped, Message: "no ping client configured in target.yaml"},
			{Name: "sends only auth_req_id in the ping body", SpecRefs: []string{"CIBA-10.2"}, Modes: []string{"ping"}, Outcome: Skipped, Message: "no ping client configured in target.yaml"},
		}},
	}
	for _, g := range groups {
		for _, c := range g.checks {
			c.Group = g.name
			m.Checks = append(m.Checks, c)
		}
	}
	m.Load = []LoadRun{sampleLoadRun("flow-poll", "poll", 50, 1), sampleLoadRun("flow-ping", "ping", 50, 2)}
	return m
}

// sampleLoadRun is a one-minute flow run at rate/s with a series of 5 s
// buckets and a latency histogram; seed varies the numbers.
func sampleLoadRun(scenario, mode string, rate float64, seed int) LoadRun {
	r := lcg(seed)
	run := LoadRun{
		Name: scenario, Scenario: scenario, Mode: mode, Target: "https://op.example.com/realms/bank", ClientID: "load-" + mode,
		Started: sampleTime.Add(-5 * time.Minute), DurationSeconds: 60,
		Rate:     LoadRate{Requested: fmt.Sprintf("%g/s", rate), Intended: rate, Sent: rate - 0.2, Achieved: rate - 0.9},
		Requests: LoadCount{Intended: 3000, Sent: 2988, Dropped: 12, OK: 2946, Unexpected: 42},
		Status:   map[string]uint64{"200": 2946, "400": 30, "0": 12},
		OAuthErrors: map[string]uint64{
			"invalid_grant": 30,
		},
		Errors: []ErrorCount{{Error: "400 invalid_grant", Count: 30}, {Error: "dial tcp: i/o timeout", Count: 12}},
		CPU:    &LoadCPU{PerRequestMicros: 812},
	}
	run.ErrorRate = float64(run.Requests.Unexpected) / float64(run.Requests.Sent)
	base := 1000.0 // poll adds up to an interval of waiting
	if mode == "ping" {
		base = 180
	}
	run.LatencyMS = Latency{Min: base * 0.9, Mean: base * 1.2, P50: base * 1.1, P90: base * 1.5, P95: base * 1.7, P99: base * 2.3, Max: base * 3.1}
	appr := Latency{Min: base * 0.3, Mean: base * 0.55, P50: base * 0.5, P90: base * 0.8, P95: base * 0.9, P99: base * 1.2, Max: base * 1.6}
	run.ApprovalToTokenMS = &appr
	for i := 0; i < 12; i++ {
		sent := uint64(245 + r.next(10))
		bad := uint64(r.next(4))
		if i == 7 {
			bad = 18 // a burst of errors
		}
		run.Series = append(run.Series, SeriesPoint{
			OffsetSeconds: float64(i * 5), BucketSeconds: 5, Sent: sent, OK: sent - bad, Unexpected: bad,
			P50MS: base * (1 + float64(r.next(20))/100), P99MS: base * (2 + float64(r.next(60))/100),
		})
	}
	for i := 1; i <= 16; i++ {
		shape := 16 - (i-6)*(i-6)/2
		if shape < 1 {
			shape = 1
		}
		run.Histogram = append(run.Histogram, HistogramBin{UpToMS: base * 0.25 * float64(i), Count: uint64(shape*20 + r.next(15))})
	}
	run.Thresholds = []Threshold{
		// Flows' latency thresholds judge approval → token, as the runner does.
		{Expr: "p(99)<1s", Value: appr.P99, Unit: "ms", OK: appr.P99 < 1000},
		{Expr: "errors<2%", Value: run.ErrorRate, Unit: "ratio", OK: run.ErrorRate < 0.02},
		{Expr: "rate>45", Value: run.Rate.Achieved, Unit: "/s", OK: run.Rate.Achieved > 45},
	}
	run.Passed = true
	for _, t := range run.Thresholds {
		run.Passed = run.Passed && t.OK
	}
	return run
}
