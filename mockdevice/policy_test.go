package mockdevice

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/ciba-check/ciba-check/ciba"
)

func TestParsePolicy(t *testing.T) {
	tests := []struct {
		in      string
		want    Policy
		wantErr bool
	}{
		{"approve", Policy{Outcome: ciba.OutcomeApprove}, false},
		{"  deny ", Policy{Outcome: ciba.OutcomeDeny}, false},
		{"approve after 5s", Policy{Outcome: ciba.OutcomeApprove, Delay: 5 * time.Second}, false},
		{"cancel after 1m30s", Policy{Outcome: ciba.OutcomeCancel, Delay: 90 * time.Second}, false},
		{"error 503", Policy{Outcome: ciba.OutcomeError, ErrorStatus: 503}, false},
		{"error", Policy{Outcome: ciba.OutcomeError}, false},
		{"never", Policy{Outcome: ciba.OutcomeNever}, false},
		{"", Policy{}, true},
		{"approve later", Policy{}, true},
		{"approve after", Policy{}, true},
		{"approve after soon", Policy{}, true},
		{"approve after -1s", Policy{}, true},
		{"never after 5s", Policy{}, true},
		{"error after 5s", Policy{}, true},
		{"error 200", Policy{}, true},
		{"error 5xx", Policy{}, true},
		{"deny 403", Policy{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParsePolicy(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("ParsePolicy(%q) = %+v, %v", tt.in, got, err)
			}
			if err != nil {
				return
			}
			// String is ParsePolicy's inverse.
			if back, err := ParsePolicy(got.String()); err != nil || back != got {
				t.Fatalf("round trip via %q: %+v, %v", got.String(), back, err)
			}
		})
	}
}

func TestPolicyJSON(t *testing.T) {
	tests := []struct {
		json    string
		want    Policy
		wantErr bool
	}{
		{`{"outcome":"deny","delay":"2s"}`, Policy{Outcome: ciba.OutcomeDeny, Delay: 2 * time.Second}, false},
		{`{"outcome":"error","error_status":429}`, Policy{Outcome: ciba.OutcomeError, ErrorStatus: 429}, false},
		{`{"outcome":"never"}`, Policy{Outcome: ciba.OutcomeNever}, false},
		{`{"outcome":"approve","delay":"2 seconds"}`, Policy{}, true},
		{`{"outcome":"approve","error_status":503}`, Policy{}, true},
		{`{"outcome":""}`, Policy{}, true},
		{`{"outcome":7}`, Policy{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.json, func(t *testing.T) {
			var got Policy
			err := json.Unmarshal([]byte(tt.json), &got)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("Unmarshal = %+v, %v", got, err)
			}
			if err != nil {
				return
			}
			out, err := json.Marshal(got)
			if err != nil || string(out) != tt.json {
				t.Fatalf("Marshal = %s, %v; want %s", out, err, tt.json)
			}
		})
	}
}
