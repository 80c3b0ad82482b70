package ciba

import "testing"

func TestParseOutcome(t *testing.T) {
	// The callback status each outcome sends the OP: never and error
	// send none.
	statuses := map[Outcome]DeviceStatus{
		OutcomeApprove: DeviceSucceed,
		OutcomeDeny:    DeviceUnauthorized,
		OutcomeCancel:  DeviceCancelled,
		OutcomeNever:   "",
		OutcomeError:   "",
	}
	if len(Outcomes()) != len(statuses) {
		t.Fatalf("Outcomes() = %v, want the %d outcomes of the table", Outcomes(), len(statuses))
	}
	for _, o := range Outcomes() {
		t.Run(string(o), func(t *testing.T) {
			got, err := ParseOutcome(string(o))
			if err != nil || got != o {
				t.Fatalf("ParseOutcome(%q) = %q, %v", o, got, err)
			}
			want, known := statuses[o]
			if !known {
				t.Fatalf("outcome %q is not in the table", o)
			}
			if status, sends := got.DeviceStatus(); status != want || sends != (want != "") {
				t.Fatalf("DeviceStatus() = %q, %v; want %q", status, sends, want)
			}
		})
	}
	for _, in := range []string{"Approve", "allow", ""} {
		if got, err := ParseOutcome(in); err == nil || got != "" {
			t.Errorf("ParseOutcome(%q) = %q, %v; want an error", in, got, err)
		}
	}
}
