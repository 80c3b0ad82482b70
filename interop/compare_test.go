package interop

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestExpectationFileLoads(t *testing.T) {
	exp, err := loadExpectation(expectedFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(exp.Checks) == 0 || exp.OP == "" {
		t.Fatalf("%s names no OP or no checks", expectedFile)
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
	exp := &expectation{Checks: []expectedCheck{
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
