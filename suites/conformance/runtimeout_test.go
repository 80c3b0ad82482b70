package conformance_test

import (
	"testing"
	"time"

	"github.com/ciba-check/ciba-check/suites/conformance"
)

// TestDefaultRunTimeout pins the run deadline README states: 20 s for each
// check that will run plus one check timeout (2 min by default) for the
// longest legitimate wait; "100 checks get 35 min 20 s, one check 2 min
// 20 s". A check timeout of zero or less means the default.
func TestDefaultRunTimeout(t *testing.T) {
	if conformance.CheckBudget != 20*time.Second || conformance.DefaultCheckTimeout != 2*time.Minute {
		t.Fatalf("CheckBudget %v, DefaultCheckTimeout %v; README states 20 s and 2 min", conformance.CheckBudget, conformance.DefaultCheckTimeout)
	}
	tests := []struct {
		name         string
		checks       int
		checkTimeout time.Duration
		want         time.Duration
	}{
		{"README: 100 checks", 100, 0, 35*time.Minute + 20*time.Second},
		{"README: one check", 1, 0, 2*time.Minute + 20*time.Second},
		{"100 checks, explicit 2 min check timeout", 100, 2 * time.Minute, 35*time.Minute + 20*time.Second},
		{"no check runs: the one check timeout only", 0, 0, 2 * time.Minute},
		{"negative check timeout means the default", 1, -time.Second, 2*time.Minute + 20*time.Second},
		{"10 checks, 30 s check timeout", 10, 30 * time.Second, 3*time.Minute + 50*time.Second},
		{"400 checks, 5 min check timeout", 400, 5 * time.Minute, 2*time.Hour + 18*time.Minute + 20*time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := conformance.DefaultRunTimeout(tt.checks, tt.checkTimeout); got != tt.want {
				t.Errorf("DefaultRunTimeout(%d, %v) = %v, want %v", tt.checks, tt.checkTimeout, got, tt.want)
			}
		})
	}
}
