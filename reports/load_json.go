package reports

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// LoadSchemaV1 is the load runner's summary schema (docs/load-schema.md).
const LoadSchemaV1 = "ciba-check/load/v1"

// loadFields are LoadRun's members without its report model methods.
type loadFields LoadRun

// loadSummaryV1 is a LoadRun as a ciba-check/load/v1 summary: the schema
// member, then the run's (their tags are the schema's members and order).
type loadSummaryV1 struct {
	Schema string `json:"schema"`
	loadFields
}

// WriteLoadJSON writes l as an indented load summary (LoadSchemaV1) made
// by ciba-check toolVersion.
func WriteLoadJSON(w io.Writer, l *LoadRun, toolVersion string) error {
	s := loadSummaryV1{Schema: LoadSchemaV1, loadFields: loadFields(l.withEmpty())}
	s.ToolVersion = toolVersion
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(&s)
}

// withEmpty is l with its always-written maps and thresholds empty
// rather than nil.
func (l LoadRun) withEmpty() LoadRun {
	if l.Status == nil {
		l.Status = map[string]uint64{}
	}
	if l.OAuthErrors == nil {
		l.OAuthErrors = map[string]uint64{}
	}
	if l.Thresholds == nil {
		l.Thresholds = []Threshold{}
	}
	return l
}

// FromLoadJSON reads a load runner summary (ciba-check/load/v1) into a
// model with one load run.
func FromLoadJSON(r io.Reader) (*Model, error) {
	return decodeOnly(r, "load summary", LoadSchemaV1, decodeLoadSummary)
}

func decodeLoadSummary(data []byte) (*Model, error) {
	var s loadSummaryV1
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("reports: %s does not parse: %w", LoadSchemaV1, err)
	}
	run := LoadRun(s.loadFields)
	run.Mode = ModeOfScenario(run.Scenario)
	toolVersion := run.ToolVersion
	run.ToolVersion = ""
	m := LoadModel(toolVersion, run)
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}

// LoadModel is the report of load runs made by ciba-check toolVersion:
// generated when the last ended, its target the first run's.
func LoadModel(toolVersion string, runs ...LoadRun) *Model {
	m := &Model{Schema: SchemaVersion, ToolVersion: toolVersion, Checks: []Check{}, Load: runs}
	for _, l := range runs {
		if end := l.Started.Add(time.Duration(l.DurationSeconds * float64(time.Second))).UTC(); end.After(m.GeneratedAt) {
			m.GeneratedAt = end
		}
		if m.Target.Issuer == "" {
			m.Target.Issuer = l.Target
		}
	}
	return m
}

// ModeOfScenario is the delivery mode a load scenario uses.
func ModeOfScenario(s string) string {
	switch s {
	case "poll", "flow-poll":
		return "poll"
	case "flow-ping":
		return "ping"
	case "flow-push":
		return "push"
	}
	return ""
}

// loadRunModel is a LoadRun inside a report model: the model's name and
// mode, the load summary's members, and the CPU per request and its
// sharers flat as well, where report models before cpu have them.
type loadRunModel struct {
	Name string `json:"name"`
	Mode string `json:"mode,omitempty"`
	loadFields
	CPUPerRequestMicros float64  `json:"cpu_per_request_us,omitempty"`
	CPUSharedWith       []string `json:"cpu_shared_with,omitempty"`
}

// MarshalJSON writes l as a member of a report model's load.
func (l LoadRun) MarshalJSON() ([]byte, error) {
	m := loadRunModel{Name: l.Name, Mode: l.Mode, loadFields: loadFields(l.withEmpty())}
	if l.CPU != nil {
		m.CPUPerRequestMicros, m.CPUSharedWith = l.CPU.PerRequestMicros, l.CPU.SharedWith
	}
	// The model is written without HTML escaping (RenderJSON).
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&m); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// UnmarshalJSON reads a member of a report model's load, also one
// written before it had cpu (the CPU per request then only).
func (l *LoadRun) UnmarshalJSON(data []byte) error {
	var m loadRunModel
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	*l = LoadRun(m.loadFields)
	l.Name, l.Mode = m.Name, m.Mode
	if l.CPU == nil && (m.CPUPerRequestMicros != 0 || len(m.CPUSharedWith) > 0) {
		l.CPU = &LoadCPU{PerRequestMicros: m.CPUPerRequestMicros, SharedWith: m.CPUSharedWith}
	}
	return nil
}
