package interop

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ciba-check/ciba-check/internal/target"
)

func TestExpectationFileLoads(t *testing.T) {
	for _, c := range []harnessChoices{defaultChoices, strictChoices} {
		exp, err := loadExpectation(c.Expected)
		if err != nil {
			t.Fatal(err)
		}
		if len(exp.Checks) == 0 || exp.OP == "" {
			t.Fatalf("%s names no OP or no checks", c.Expected)
		}
	}
}

func TestLoadExpectationRejects(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"unknown field", `{"checks":[],"extra":1}`, "unknown field"},
		{"empty id", `{"checks":[{"outcome":"failed","kind":"deviation","spec":"x","symptom":"y","reason":"z"}]}`, "id is empty"},
		{"passed listed", `{"checks":[{"id":"a","outcome":"passed","kind":"deviation","spec":"x","symptom":"y","reason":"z"}]}`, "passing checks are not listed"},
		{"bad kind", `{"checks":[{"id":"a","outcome":"failed","kind":"bug","spec":"x","symptom":"y","reason":"z"}]}`, "kind \"bug\""},
		{"no reason", `{"checks":[{"id":"a","outcome":"failed","kind":"suite","spec":"x","symptom":"y"}]}`, "all required"},
		{"warning of a MUST", `{"checks":[{"id":"a","outcome":"warning","kind":"deviation","spec":"x","symptom":"y","reason":"z"}]}`, "kind should goes with outcome warning"},
		{"should that fails", `{"checks":[{"id":"a","outcome":"failed","kind":"should","spec":"x","symptom":"y","reason":"z"}]}`, "kind should goes with outcome warning"},
		{"bad outcome", `{"checks":[{"id":"a","outcome":"warned","kind":"should","spec":"x","symptom":"y","reason":"z"}]}`, "not failed, warning or skipped"},
		{"driver not run", `{"checks":[],"drivers":{"mockdevice":{"checks":[{"id":"a","outcome":"failed","kind":"suite","spec":"x","symptom":"y","reason":"z"}]}}}`, "not a device kind the interop test runs"},
		{"approval_url as driver", `{"checks":[],"drivers":{"approval_url":{"checks":[{"id":"a","outcome":"failed","kind":"suite","spec":"x","symptom":"y","reason":"z"}]}}}`, "not a device kind the interop test runs"},
		{"empty driver", `{"checks":[],"drivers":{"hints":{"checks":[]}}}`, "drivers.hints lists no checks"},
		{"bad driver entry", `{"checks":[],"drivers":{"command":{"checks":[{"outcome":"failed","kind":"suite","spec":"x","symptom":"y","reason":"z"}]}}}`, "drivers.command.checks[0]: id is empty"},
		{"driver entry without reason", `{"checks":[],"drivers":{"hints":{"checks":[{"id":"a","outcome":"skipped","kind":"configuration","spec":"x","symptom":"y"}]}}}`, "all required"},
		{"duplicate", `{"checks":[{"id":"a","outcome":"failed","kind":"suite","spec":"x","symptom":"y","reason":"z"},{"id":"a","outcome":"failed","kind":"suite","spec":"x","symptom":"y","reason":"z"}]}`, "listed twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "expected.json")
			must(t, os.WriteFile(path, []byte(tt.body), 0o644))
			_, err := loadExpectation(path)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestCompareOutcome(t *testing.T) {
	exp := &expectation{file: "expected.json", Checks: []expectedCheck{
		{ID: "a/fails", Outcome: "failed", Kind: "deviation", Spec: "CIBA-13", Symptom: "request_uri_not_supported", Reason: "r"},
		{ID: "a/skips", Outcome: "skipped", Kind: "configuration", Spec: "CIBA-7.1", Symptom: "cannot report", Reason: "r"},
		{ID: "a/warns", Outcome: "warning", Kind: "should", Spec: "CIBA-11", Symptom: `got "authorization_pending"`, Reason: "r"},
	}}
	result := func(checks string) *runResult {
		var r runResult
		must(t, json.Unmarshal([]byte(`{"checks":`+checks+`}`), &r))
		return &r
	}
	const asExpected = `{"id":"a/fails","outcome":"failed","failure":{"message":"got \"request_uri_not_supported\""}},
		{"id":"a/skips","outcome":"skipped","skip_reason":"driver cannot report what it showed"},
		{"id":"a/warns","outcome":"warning","warning":{"message":"expected error [slow_down], got \"authorization_pending\" (HTTP 400)"}}`
	const warnsAsExpected = `{"id":"a/warns","outcome":"warning","warning":{"message":"got \"authorization_pending\""}}`
	tests := []struct {
		name   string
		checks string
		want   []string // substrings, one per expected difference
	}{
		{"as expected", `[` + asExpected + `,{"id":"b/passes","outcome":"passed"}]`, nil},
		{"other profile's check skipped", `[` + asExpected + `,{"id":"p/push","outcome":"skipped","skip_reason":"a push-mode check","labels":["push","profile:ciba"]},{"id":"b/both","outcome":"passed","labels":["profile:fapi-ciba","profile:ciba"]}]`, nil},
		{"other profile's check run", `[` + asExpected + `,{"id":"p/push","outcome":"passed","labels":["push","profile:ciba"]}]`,
			[]string{"p/push: passed, expected skipped"}},
		{"unlisted check fails", `[` + asExpected + `,{"id":"b/new","outcome":"failed","failure":{"message":"boom\nmore"}}]`,
			[]string{"b/new: failed, expected passed: boom"}},
		{"listed check now passes", `[{"id":"a/fails","outcome":"passed"},{"id":"a/skips","outcome":"skipped","skip_reason":"cannot report"},` + warnsAsExpected + `]`,
			[]string{"a/fails: passed, expected failed"}},
		{"other failure of a listed check", `[{"id":"a/fails","outcome":"failed","failure":{"message":"got 500"}},{"id":"a/skips","outcome":"skipped","skip_reason":"cannot report"},` + warnsAsExpected + `]`,
			[]string{"without the symptom \"request_uri_not_supported\""}},
		{"listed check not run", `[{"id":"a/fails","outcome":"failed","failure":{"message":"request_uri_not_supported"}},` + warnsAsExpected + `]`,
			[]string{"a/skips: listed in expected.json but not run"}},
		{"unlisted check warns", `[` + asExpected + `,{"id":"b/new","outcome":"warning","warning":{"message":"expected TLS 1.3\nmore"}}]`,
			[]string{"b/new: warning, expected passed: expected TLS 1.3"}},
		{"warning check now passes", `[{"id":"a/fails","outcome":"failed","failure":{"message":"request_uri_not_supported"}},{"id":"a/skips","outcome":"skipped","skip_reason":"cannot report"},{"id":"a/warns","outcome":"passed"}]`,
			[]string{"a/warns: passed, expected warning"}},
		{"warning check fails instead", `[{"id":"a/fails","outcome":"failed","failure":{"message":"request_uri_not_supported"}},{"id":"a/skips","outcome":"skipped","skip_reason":"cannot report"},{"id":"a/warns","outcome":"failed","failure":{"message":"got \"authorization_pending\""}}]`,
			[]string{"a/warns: failed, expected warning"}},
		{"other warning of a listed check", `[{"id":"a/fails","outcome":"failed","failure":{"message":"request_uri_not_supported"}},{"id":"a/skips","outcome":"skipped","skip_reason":"cannot report"},{"id":"a/warns","outcome":"warning","warning":{"message":"got HTTP 500"}}]`,
			[]string{"a/warns: warning as expected but without the symptom"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			diffs := compareOutcome(result(tt.checks), exp)
			if len(diffs) != len(tt.want) {
				t.Fatalf("differences %q, want %d", diffs, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.Contains(diffs[i], w) {
					t.Errorf("difference %q, want it to contain %q", diffs[i], w)
				}
			}
		})
	}
}

func TestNodeSupported(t *testing.T) {
	tests := map[string]bool{
		"v20.20.2": true, "v20.19.0": true, "v20.18.3": false, "v18.20.4": false,
		"v22.12.0": true, "v22.11.0": false, "v21.7.3": false, "v23.0.0": true, "v24.1.0": true,
		"": false, "20.20.2": false, "vX": false,
	}
	for version, want := range tests {
		if got := nodeSupported(version); got != want {
			t.Errorf("nodeSupported(%q) = %v, want %v", version, got, want)
		}
	}
}

func TestExpectationForDriver(t *testing.T) {
	base := expectedCheck{ID: "a/fails", Outcome: "failed", Kind: "deviation", Spec: "CIBA-13", Symptom: "s", Reason: "r"}
	kept := expectedCheck{ID: "a/warns", Outcome: "warning", Kind: "should", Spec: "CIBA-11", Symptom: "w", Reason: "r"}
	replaced := expectedCheck{ID: "a/fails", Outcome: "skipped", Kind: "configuration", Spec: "CIBA-13", Symptom: "cannot hold", Reason: "hints"}
	added := expectedCheck{ID: "b/skips", Outcome: "skipped", Kind: "configuration", Spec: "CIBA-7.1", Symptom: "cannot deny", Reason: "hints"}
	exp := &expectation{OP: "op", Checks: []expectedCheck{base, kept}, Drivers: map[target.DeviceKind]driverExpectation{
		target.DeviceHints: {Checks: []expectedCheck{added, replaced}},
	}}
	tests := []struct {
		kind    target.DeviceKind
		want    []expectedCheck
		wantErr string
	}{
		{kind: target.DeviceApprovalURL, want: []expectedCheck{base, kept}},
		{kind: target.DeviceCommand, want: []expectedCheck{base, kept}},
		{kind: target.DeviceHints, want: []expectedCheck{replaced, kept, added}},
		{kind: target.DeviceMock, wantErr: "no expectation for device kind"},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			got, err := exp.forDriver(tt.kind)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			must(t, err)
			if !reflect.DeepEqual(got.Checks, tt.want) {
				t.Errorf("checks %+v, want %+v", got.Checks, tt.want)
			}
			if got.OP != "op" {
				t.Errorf("op %q, want op", got.OP)
			}
		})
	}
	if len(exp.Checks) != 2 || exp.Checks[0] != base {
		t.Errorf("forDriver changed the expectation it was called on: %+v", exp.Checks)
	}
}

func TestManualPrompt(t *testing.T) {
	tests := []struct {
		name, text string
		want       *operatorPrompt
	}{
		{"approve with binding message", "\nAuthentication request abc-123_X\n  user: carol\n  client: ping-mtls\n  binding message: \"1234\"\nPlease APPROVE it on the authentication device, then type what you did (approve/deny): ",
			&operatorPrompt{AuthReqID: "abc-123_X", User: "carol", Client: "ping-mtls", Verb: "APPROVE"}},
		{"deny without binding message", "\nAuthentication request id2\n  user: bob\n  client: poll-mtls\nPlease DENY it on the authentication device, then type what you did (approve/deny): ",
			&operatorPrompt{AuthReqID: "id2", User: "bob", Client: "poll-mtls", Verb: "DENY"}},
		{"question not complete yet", "\nAuthentication request id3\n  user: bob\n  client: poll-mtls\nPlease DENY it on the auth", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := manualPromptRE.FindStringSubmatch(tt.text)
			if tt.want == nil {
				if m != nil {
					t.Fatalf("matched %q, want no question yet", m)
				}
				return
			}
			if m == nil {
				t.Fatal("no question found")
			}
			got := operatorPrompt{AuthReqID: m[1], User: m[2], Client: m[3], Verb: m[4]}
			if got != *tt.want {
				t.Errorf("question %+v, want %+v", got, *tt.want)
			}
		})
	}
}
