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
	data, schema, err := readSchema(r)
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
	data, schema, err := readSchema(r)
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

// readSchema reads a JSON document and its "schema" member.
func readSchema(r io.Reader) ([]byte, string, error) {
	data, err := readAll(r)
	if err != nil {
		return nil, "", err
	}
	schema, err := sniffSchema(data)
	return data, schema, err
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
	data, schema, err := readSchema(r)
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
