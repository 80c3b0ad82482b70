package conformance

import (
	"embed"
	"fmt"
	"strings"

	"github.com/ciba-check/ciba-check/ciba"
)

// checkSources are the files that register checks: their comment blocks
// carry each check's normative basis, which a failure quotes at run time.
// One source of truth: the same blocks feed docs/coverage.md.
//
//go:embed checks_*.go
var checkSources embed.FS

// Profiles of a run (RunConfig.Profile; "" means ProfileSpec).
const (
	// ProfileSpec judges by the spec text alone: CERT-level checks warn.
	ProfileSpec = "spec"
	// ProfileOIDFCert also fails what the OIDF certification suite
	// demands beyond the spec text (CERT-level checks).
	ProfileOIDFCert = "oidf-cert"
)

// ParseProfile maps a --profile value to a profile.
func ParseProfile(s string) (string, error) {
	switch s {
	case "", ProfileSpec:
		return ProfileSpec, nil
	case ProfileOIDFCert:
		return ProfileOIDFCert, nil
	}
	return "", fmt.Errorf("--profile %q is not one of %s, %s", s, ProfileSpec, ProfileOIDFCert)
}

// Target profiles: what a run tests the OP as (target.yaml's fapi).
const (
	// TargetFAPICIBA is FAPI-CIBA (fapi: true, the default): CIBA Core
	// with the FAPI-CIBA profile's requirements on top.
	TargetFAPICIBA = "FAPI-CIBA"
	// TargetCIBACore is CIBA Core 1.0 alone (fapi: false): checks citing
	// only FAPI sections are skipped, push-mode checks run.
	TargetCIBACore = "CIBA Core"
)

// TargetProfile names the profile a target is tested as; every report
// format shows it.
func TargetProfile(fapi bool) string {
	if fapi {
		return TargetFAPICIBA
	}
	return TargetCIBACore
}

// Profile labels, added to every check from its Refs and Modes: a check
// applies to FAPI-CIBA (profile:fapi-ciba), to CIBA Core alone
// (profile:ciba), or to both. --label-filter 'profile:ciba' selects
// exactly the checks that run with fapi: false, 'profile:fapi-ciba' those
// that run with fapi: true, and 'profile:fapi-ciba && !profile:ciba' the
// FAPI-only ones.
const (
	LabelProfileFAPICIBA = "profile:fapi-ciba"
	LabelProfileCIBA     = "profile:ciba"
)

// profileLabels are the profile labels of a check: FAPI-only when every
// section it cites is a FAPI one; CIBA Core only when it exercises push
// mode alone (FAPI-CIBA 5.2.2-3 forbids push); else both.
func profileLabels(m Meta) []string {
	switch {
	case fapiOnly(m.SpecRefs):
		return []string{LabelProfileFAPICIBA}
	case len(m.Modes) == 1 && m.Modes[0] == string(ciba.ModePush):
		return []string{LabelProfileCIBA}
	}
	return []string{LabelProfileFAPICIBA, LabelProfileCIBA}
}

// basisLine is what a failure or warning prints under its message: the
// level, whose duty, and the sentence it enforces.
func basisLine(db DocBlock) string {
	if db.Quote == "" {
		return ""
	}
	return fmt.Sprintf("requirement (%s, %s's duty): %s", db.Level, db.Duty, db.Quote)
}

// fapiOnly reports whether every spec section refs cite is a FAPI one:
// such a check does not apply to an OP tested as plain CIBA (fapi: false).
func fapiOnly(refs []string) bool {
	if len(refs) == 0 {
		return false
	}
	for _, r := range refs {
		if !strings.HasPrefix(r, "FAPI-") {
			return false
		}
	}
	return true
}
