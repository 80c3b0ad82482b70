package conformance

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/onsi/ginkgo/v2"

	"github.com/ciba-check/ciba-check/ciba"
)

// LabelNegative marks attack probes and other checks that send a bad
// request on purpose.
const LabelNegative = "negative"

// LabelShould marks checks of SHOULD, MAY or judgement requirements: an
// expectation of theirs that does not hold is a warning, not a failure
// (CIBA.md: "SHOULD-level items are warnings in the report, never a
// silent pass").
const LabelShould = "should"

// LabelCert marks checks of what the OIDF certification suite demands
// beyond the spec text: a warning by default, a failure under the
// certification profile (RunConfig.Profile = ProfileOIDFCert).
const LabelCert = "cert"

// refRE is the form of a spec-section label: a document prefix and a
// section, optionally with the item of a numbered list (FAPI-CIBA's
// "5.2.2-9"). Ginkgo labels may not contain '/', so sections use dots.
var refRE = regexp.MustCompile(`^(CIBA|FAPI-CIBA|FAPI-RW|FAPI-R|OIDC|OIDC-DISCOVERY|RFC\d{4})-\d+(\.\d+)*(-\d+)?$`)

// Decorator is a piece of check metadata given to ConformanceIt.
type Decorator interface{ labels() []string }

type labelList []string

func (l labelList) labels() []string { return l }

// Refs names the spec sections a check proves, e.g. "CIBA-7.1.1",
// "FAPI-CIBA-5.2.2-9", "RFC8705-3".
func Refs(refs ...string) Decorator { return labelList(refs) }

// Modes names the delivery modes the check exercises.
func Modes(modes ...ciba.DeliveryMode) Decorator {
	out := make(labelList, len(modes))
	for i, m := range modes {
		out[i] = string(m)
	}
	return out
}

// Auth names the client authentication methods the check exercises.
func Auth(methods ...ciba.AuthMethod) Decorator {
	out := make(labelList, len(methods))
	for i, m := range methods {
		out[i] = string(m)
	}
	return out
}

// Negative marks a check that sends a bad request on purpose.
var Negative Decorator = labelList{LabelNegative}

// Should gives a check SHOULD severity: when its expectation does not
// hold the outcome is "warning" (same message and quoted exchange as a
// failure), which does not fail the run and is never shown as passed.
// Use it only when every expectation of the check is SHOULD, MAY or
// judgement; its comment block's Description then says SHOULD.
var Should Decorator = labelList{LabelShould}

// Cert gives a check certification level: what only the OIDF
// certification suite demands (its comment block's Level is CERT). An
// unmet expectation is a warning, and a failure only under
// --profile oidf-cert.
var Cert Decorator = labelList{LabelCert}

// FAPIOnly gives a check the profile FAPI-CIBA alone although it cites a
// non-FAPI section: for a check whose requirement is FAPI's and whose
// other section only defines what it looks at (RFC 8705 3.3 defines the
// metadata FAPI requires to be true). Every other check's profile labels
// follow from its Refs and Modes (profileLabels); do not use it to
// exempt a check that CIBA Core requires.
var FAPIOnly Decorator = labelList{LabelProfileFAPICIBA}

// OIDF names the OpenID Foundation FAPI-CIBA test modules a check covers,
// by their exact names (CIBA.md §6.1).
func OIDF(modules ...string) Decorator { return labelList(modules) }

// Meta is what the labels of a check say about it.
type Meta struct {
	SpecRefs    []string `json:"spec_refs"`
	Modes       []string `json:"modes"`
	Auth        []string `json:"auth"`
	Negative    bool     `json:"negative"`
	Should      bool     `json:"should"`
	Cert        bool     `json:"cert"`
	OIDFModules []string `json:"oidf_modules"`
}

// Severity is "should" for checks decorated Should, "cert" for checks
// decorated Cert, else "must".
func (m Meta) Severity() string {
	switch {
	case m.Should:
		return SeverityShould
	case m.Cert:
		return SeverityCert
	}
	return SeverityMust
}

// Severities of checks, as the JSON report names them.
const (
	SeverityMust   = "must"
	SeverityShould = "should"
	SeverityCert   = "cert"
)

// Classify sorts a check's labels into its metadata. Unknown labels
// (none are made by ConformanceIt) are ignored.
func Classify(labels []string) Meta {
	m := Meta{SpecRefs: []string{}, Modes: []string{}, Auth: []string{}, OIDFModules: []string{}}
	for _, l := range labels {
		switch {
		case l == LabelNegative:
			m.Negative = true
		case l == LabelShould:
			m.Should = true
		case l == LabelCert:
			m.Cert = true
		case ciba.DeliveryMode(l).Valid():
			m.Modes = append(m.Modes, l)
		case ciba.AuthMethod(l).Known():
			m.Auth = append(m.Auth, l)
		case refRE.MatchString(l):
			m.SpecRefs = append(m.SpecRefs, l)
		case IsOIDFModule(l):
			m.OIDFModules = append(m.OIDFModules, l)
		}
	}
	return m
}

// validateLabels checks the labels of one check: at least one spec ref,
// every label of a known kind, each valid for Ginkgo.
func validateLabels(name string, labels []string) error {
	hasRef := false
	for _, l := range labels {
		if _, err := validGinkgoLabel(l); err != nil {
			return fmt.Errorf("check %q: label %q: %w", name, l, err)
		}
		switch {
		case l == LabelNegative, l == LabelShould, l == LabelCert, ciba.DeliveryMode(l).Valid(), ciba.AuthMethod(l).Known(), l == LabelProfileFAPICIBA:
		case refRE.MatchString(l):
			hasRef = true
		case strings.HasPrefix(l, "fapi-ciba"):
			if !IsOIDFModule(l) {
				return fmt.Errorf("check %q: %q is not a module of the OIDF FAPI-CIBA plan", name, l)
			}
		default:
			return fmt.Errorf("check %q: label %q is not a spec section (like CIBA-7.1.1), mode, auth method, %q, %q, %q or OIDF module", name, l, LabelNegative, LabelShould, LabelCert)
		}
	}
	if !hasRef {
		return fmt.Errorf("check %q: no spec section (Refs)", name)
	}
	if slices.Contains(labels, LabelShould) && slices.Contains(labels, LabelCert) {
		return fmt.Errorf("check %q: decorated both Should and Cert", name)
	}
	return nil
}

func validGinkgoLabel(l string) (string, error) {
	if strings.TrimSpace(l) == "" {
		return "", fmt.Errorf("empty label")
	}
	if strings.ContainsAny(l, "&|!,()/") {
		return "", fmt.Errorf("labels may not contain any of &|!,()/")
	}
	return l, nil
}

func labelsOf(decorators []Decorator) ginkgo.Labels {
	var out ginkgo.Labels
	for _, d := range decorators {
		for _, l := range d.labels() {
			if !slices.Contains(out, l) {
				out = append(out, l)
			}
		}
	}
	return out
}
