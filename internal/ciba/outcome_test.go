package ciba

import "testing"

func TestParseOutcome(t *testing.T) {
	tests := []struct {
		in      string
		want    Outcome
		status  DeviceStatus
		wantErr bool
	}{
		{"approve", OutcomeApprove, DeviceSucceed, false},
		{"deny", OutcomeDeny, DeviceUnauthorized, false},
		{"cancel", OutcomeCancel, DeviceCancelled, false},
		{"never", OutcomeNever, "", false},
		{"error", OutcomeError, "", false},
		{"Approve", "", "", true},
		{"allow", "", "", true},
		{"", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseOutcome(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("ParseOutcome(%q) = %q, %v", tt.in, got, err)
			}
			if status, ok := got.DeviceStatus(); status != tt.status || ok != (tt.status != "") {
				t.Fatalf("DeviceStatus() = %q, %v", status, ok)
			}
		})
	}
}
