package conformance

import (
	"embed"
	"fmt"
	"strings"
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
