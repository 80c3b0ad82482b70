package conformance

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/onsi/ginkgo/v2/types"

	"github.com/ciba-check/ciba-check/internal/client"
)

// TestCheckResultRedactsJWSSignatures: an ID token quoted in a failure,
// a warning or a skip reason keeps header and claims, never its signature.
func TestCheckResultRedactsJWSSignatures(t *testing.T) {
	enc := base64.RawURLEncoding.EncodeToString
	sig := strings.Repeat("c2lnbmF0dXJl", 20)
	tok := enc([]byte(`{"alg":"ES256","kid":"op"}`)) + "." + enc([]byte(`{"sub":"alice","aud":"c1"}`)) + "." + sig
	body := `  < {"access_token":"abc123…","id_token":"` + tok + `"}`
	warning := types.ReportEntry{Name: WarningEntry}
	warning.Value = types.WrapEntryValue("expected x\n" + body)
	tests := []struct {
		name string
		sr   types.SpecReport
		msg  func(CheckResult) string
	}{
		{"failure", types.SpecReport{State: types.SpecStateFailed, Failure: types.Failure{Message: "expected y\n" + body}}, func(c CheckResult) string { return c.Failure }},
		{"skip reason", types.SpecReport{State: types.SpecStateSkipped, Failure: types.Failure{Message: CouldNotDetermine + "x\n" + body}}, func(c CheckResult) string { return c.SkipReason }},
		{"warning", types.SpecReport{State: types.SpecStatePassed, ReportEntries: types.ReportEntries{warning}}, func(c CheckResult) string { return c.Failure }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.sr.LeafNodeType = types.NodeTypeIt
			got := tt.msg(checkResult(tt.sr))
			if strings.Contains(got, sig[:20]) {
				t.Errorf("the signature is still in %q", got)
			}
			if !strings.Contains(got, tok[:len(tok)-len(sig)]+client.SignatureRedacted) {
				t.Errorf("header and claims are not shown with the signature redacted: %q", got)
			}
		})
	}
}
