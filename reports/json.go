package reports

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// maxInput bounds what the decoders read: a report larger than this is
// not one ciba-check wrote.
const maxInput = 256 << 20

// RenderJSON writes m as indented JSON under SchemaVersion. Map keys are
// sorted, so the same model always gives the same bytes.
func RenderJSON(w io.Writer, m *Model) error {
	if err := m.Validate(); err != nil {
		return err
	}
	out := *m
	out.Schema = SchemaVersion
	if out.Checks == nil {
		out.Checks = []Check{}
	}
	if out.Load == nil {
		out.Load = []LoadRun{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(&out)
}

// DecodeJSON reads a model written by RenderJSON. A missing or different
// schema is an error that says which schema was found and which this
// version reads; unknown fields are ignored (v1 only ever adds fields).
func DecodeJSON(r io.Reader) (*Model, error) {
	data, err := readAll(r)
	if err != nil {
		return nil, err
	}
	schema, err := sniffSchema(data)
	if err != nil {
		return nil, err
	}
	if schema != SchemaVersion {
		return nil, schemaError(schema)
	}
	return decodeModel(data)
}

// Decode reads any JSON result ciba-check writes: a report model
// (SchemaVersion), a conformance run (ConformanceSchemaV1) or a load
// summary (LoadSchemaV1), told apart by their "schema" member.
func Decode(r io.Reader) (*Model, error) {
	data, err := readAll(r)
	if err != nil {
		return nil, err
	}
	schema, err := sniffSchema(data)
	if err != nil {
		return nil, err
	}
	switch schema {
	case SchemaVersion:
		return decodeModel(data)
	case LoadSchemaV1:
		return decodeLoadSummary(data)
	case ConformanceSchemaV1:
		return decodeConformance(data)
	}
	return nil, schemaError(schema)
}

func readAll(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxInput+1))
	if err != nil {
		return nil, fmt.Errorf("reports: reading: %w", err)
	}
	if len(data) > maxInput {
		return nil, fmt.Errorf("reports: input is larger than %d MiB", maxInput>>20)
	}
	return data, nil
}

func decodeModel(data []byte) (*Model, error) {
	var m Model
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("reports: %s does not parse: %w", SchemaVersion, err)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	if m.Checks == nil {
		m.Checks = []Check{}
	}
	if m.Load == nil {
		m.Load = []LoadRun{}
	}
	return &m, nil
}

func sniffSchema(data []byte) (string, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return "", errors.New("reports: the input is empty, not a ciba-check JSON report")
	}
	var head struct {
		Schema *string `json:"schema"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return "", fmt.Errorf("reports: not a JSON object: %w", err)
	}
	if head.Schema == nil {
		return "", fmt.Errorf(`reports: no "schema" member: not a ciba-check JSON report (want %q, %q or %q)`, SchemaVersion, ConformanceSchemaV1, LoadSchemaV1)
	}
	return *head.Schema, nil
}

func schemaError(schema string) error {
	if strings.HasPrefix(schema, "ciba-check/report/") {
		return fmt.Errorf("reports: report schema %q is not supported: this ciba-check reads %q; use the ciba-check version that wrote it", schema, SchemaVersion)
	}
	return fmt.Errorf("reports: unknown schema %q: this ciba-check reads %q, %q and %q", schema, SchemaVersion, ConformanceSchemaV1, LoadSchemaV1)
}

// LoadSchemaV1 is the load runner's summary schema (docs/load-schema.md).
const LoadSchemaV1 = "ciba-check/load/v1"

// loadSummaryV1 mirrors the members of a ciba-check/load/v1 summary this
// package shows. It is a copy rather than an import so that the load
// runner can depend on reports without a cycle.
type loadSummaryV1 struct {
	Schema      string `json:"schema"`
	ToolVersion string `json:"tool_version"`
	LoadRun
	CPU *struct {
		PerRequestMicros float64  `json:"per_request_us"`
		SharedWith       []string `json:"shared_with"`
	} `json:"cpu"`
}

// FromLoadJSON reads a load runner summary (ciba-check/load/v1) into a
// model with one load run.
func FromLoadJSON(r io.Reader) (*Model, error) {
	return decodeOnly(r, "load summary", LoadSchemaV1, decodeLoadSummary)
}

// decodeOnly reads a document that must carry schema want and decodes it.
func decodeOnly(r io.Reader, what, want string, decode func([]byte) (*Model, error)) (*Model, error) {
	data, err := readAll(r)
	if err != nil {
		return nil, err
	}
	schema, err := sniffSchema(data)
	if err != nil {
		return nil, err
	}
	if schema != want {
		return nil, fmt.Errorf("reports: %s schema %q is not %q", what, schema, want)
	}
	return decode(data)
}

func decodeLoadSummary(data []byte) (*Model, error) {
	var s loadSummaryV1
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("reports: %s does not parse: %w", LoadSchemaV1, err)
	}
	run := s.LoadRun
	if run.Mode == "" {
		run.Mode = modeOfScenario(run.Scenario)
	}
	if s.CPU != nil {
		run.CPUPerRequestMicros = s.CPU.PerRequestMicros
		run.CPUSharedWith = s.CPU.SharedWith
	}
	m := &Model{
		Schema:      SchemaVersion,
		ToolVersion: s.ToolVersion,
		GeneratedAt: run.Started.Add(time.Duration(s.DurationSeconds * float64(time.Second))).UTC(),
		Target:      Target{Issuer: s.Target},
		Checks:      []Check{},
		Load:        []LoadRun{run},
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}

// modeOfScenario is the delivery mode a load scenario uses.
func modeOfScenario(s string) string {
	switch s {
	case "poll", "flow-poll":
		return "poll"
	case "flow-ping":
		return "ping"
	}
	return ""
}

// ConformanceSchemaV1 is the conformance run's JSON (`run --json`,
// docs/report-schema.md).
const ConformanceSchemaV1 = "ciba-check/conformance/v1"

// conformanceV1 mirrors the members of a ciba-check/conformance/v1 run
// this package shows (a copy, so the suite can depend on reports).
type conformanceV1 struct {
	Tool struct {
		Version string `json:"version"`
	} `json:"tool"`
	Target struct {
		Issuer  string   `json:"issuer"`
		Device  string   `json:"device"`
		Profile string   `json:"profile"`
		OffHost []string `json:"off_host_endpoints"`
	} `json:"target"`
	Started  time.Time `json:"started"`
	Duration float64   `json:"duration_seconds"`
	Error    string    `json:"error"`
	Checks   []struct {
		Name        string   `json:"name"`
		Section     string   `json:"section"`
		SpecRefs    []string `json:"spec_refs"`
		Modes       []string `json:"modes"`
		Auth        []string `json:"auth"`
		Negative    bool     `json:"negative"`
		Severity    string   `json:"severity"`
		Level       string   `json:"level"`
		Duty        string   `json:"duty"`
		Quote       string   `json:"quote"`
		OIDFModules []string `json:"oidf_modules"`
		Outcome     string   `json:"outcome"`
		Duration    float64  `json:"duration_seconds"`
		// expected, got and exchanges are not in v1 yet; when the suite
		// adds them under these names (exchanges in this model's shape)
		// they show up in the reports with no change here.
		Failure *struct {
			Message   string     `json:"message"`
			Location  string     `json:"location"`
			Expected  string     `json:"expected"`
			Got       string     `json:"got"`
			Exchanges []Exchange `json:"exchanges"`
		} `json:"failure"`
		// Warning is set on checks with outcome "warning" (added to v1:
		// older files have neither the outcome nor the member).
		Warning *struct {
			Message  string `json:"message"`
			Location string `json:"location"`
		} `json:"warning"`
		SkipReason string `json:"skip_reason"`
	} `json:"checks"`
}

// FromConformanceJSON reads a conformance run (ciba-check/conformance/v1).
func FromConformanceJSON(r io.Reader) (*Model, error) {
	return decodeOnly(r, "conformance", ConformanceSchemaV1, decodeConformance)
}

func decodeConformance(data []byte) (*Model, error) {
	var c conformanceV1
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("reports: %s does not parse: %w", ConformanceSchemaV1, err)
	}
	m := &Model{
		Schema:      SchemaVersion,
		ToolVersion: c.Tool.Version,
		Target:      Target{Issuer: c.Target.Issuer, Profile: c.Target.Profile},
		Error:       c.Error,
		Checks:      make([]Check, 0, len(c.Checks)),
		Load:        []LoadRun{},
	}
	if !c.Started.IsZero() {
		m.GeneratedAt = c.Started.Add(time.Duration(c.Duration * float64(time.Second))).UTC()
	}
	if c.Target.Device != "" {
		m.Environment = map[string]string{"device": c.Target.Device}
	}
	if len(c.Target.OffHost) > 0 {
		if m.Environment == nil {
			m.Environment = map[string]string{}
		}
		m.Environment["endpoints off the issuer's host"] = strings.Join(c.Target.OffHost, "; ")
	}
	for _, in := range c.Checks {
		out := Check{
			Name: in.Name, Group: in.Section, SpecRefs: in.SpecRefs, Modes: in.Modes, Auth: in.Auth,
			Negative: in.Negative, Should: in.Severity == "should" || in.Severity == "cert", OIDFModules: in.OIDFModules, DurationSeconds: in.Duration,
			Level: in.Level, Duty: in.Duty, Quote: in.Quote,
		}
		if f := in.Failure; f != nil {
			out.Message, out.Location = f.Message, f.Location
			out.Expected, out.Got, out.Exchanges = f.Expected, f.Got, f.Exchanges
		}
		// Ginkgo's spec states: passed, skipped and pending are not
		// failures; panicked, interrupted, aborted, timedout are. warning
		// is ciba-check's own: a passed spec with an unmet SHOULD.
		switch in.Outcome {
		case string(Passed):
			out.Outcome = Passed
		case string(Warning):
			out.Outcome = Warning
			if w := in.Warning; w != nil {
				out.Message, out.Location = w.Message, w.Location
			}
		case string(Skipped):
			out.Outcome, out.Message = Skipped, in.SkipReason
		case "pending":
			out.Outcome, out.Message = Skipped, "pending: not implemented yet"
		case string(Failed):
			out.Outcome = Failed
		case "panicked", "interrupted", "aborted", "timedout":
			out.Outcome = Failed
			out.Message = strings.TrimSpace(in.Outcome + ": " + out.Message)
		default:
			return nil, fmt.Errorf("reports: %s: check %q has unknown outcome %q", ConformanceSchemaV1, in.Name, in.Outcome)
		}
		m.Checks = append(m.Checks, out)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}
