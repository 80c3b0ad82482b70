package targetclient

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ciba-check/ciba-check/internal/target"
)

// TestCheckDevice: each device kind is checked without driving it, with
// the HTTP client given; what cannot be driven is an error that says why.
func TestCheckDevice(t *testing.T) {
	mock := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`[]`))
	}))
	defer mock.Close()
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	dir := t.TempDir()
	tests := []struct {
		name       string
		device     target.Device
		wantDetail string
		wantErr    string
	}{
		{"mock device answers", target.Device{Kind: target.DeviceMock, URL: mock.URL}, mock.URL + " answers", ""},
		{"mock device down", target.Device{Kind: target.DeviceMock, URL: down.URL}, "", down.URL + ": "},
		{"approval URL template", target.Device{Kind: target.DeviceApprovalURL, ApprovalURL: "https://d.example/{auth_req_id}?a={action}"}, "called only during a run", ""},
		{"command that runs", target.Device{Kind: target.DeviceCommand, Command: "true {auth_req_id} {action}"}, "runs true {auth_req_id} {action} in " + dir, ""},
		{"command that does not", target.Device{Kind: target.DeviceCommand, Command: "no-such-program-ciba {auth_req_id} {action}"}, "", `"no-such-program-ciba" cannot be run`},
		{"hints", target.Device{Kind: target.DeviceHints}, "nothing to reach", ""},
		{"manual", target.Device{Kind: target.DeviceManual}, "by hand", ""},
		{"unknown", target.Device{Kind: "telepathy"}, "", "unknown device kind"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tgt := &target.Target{Device: tt.device, BaseDir: dir}
			detail, err := CheckDevice(context.Background(), tgt, mock.Client())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !strings.Contains(detail, tt.wantDetail) {
				t.Fatalf("CheckDevice = %q, %v; want %q", detail, err, tt.wantDetail)
			}
		})
	}
}

func TestDiscoveryURL(t *testing.T) {
	for _, issuer := range []string{"https://op.example/realm", "https://op.example/realm/"} {
		if got, want := DiscoveryURL(issuer), "https://op.example/realm/.well-known/openid-configuration"; got != want {
			t.Errorf("DiscoveryURL(%q) = %q, want %q", issuer, got, want)
		}
	}
}
