package reports

import (
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// LoadSchemaV1 is the load runner's summary schema (docs/load-schema.md).
const LoadSchemaV1 = "ciba-check/load/v1"

// loadSummaryV1 is a LoadRun as a ciba-check/load/v1 summary: the
// members and order of docs/load-schema.md. It is the one definition of
// that schema; WriteLoadJSON writes it and FromLoadJSON reads it.
type loadSummaryV1 struct {
	Schema            string            `json:"schema"`
	Scenario          string            `json:"scenario"`
	ToolVersion       string            `json:"tool_version,omitempty"`
	Target            string            `json:"target,omitempty"`
	ClientID          string            `json:"client_id,omitempty"`
	Shards            []string          `json:"shards,omitempty"`
	Started           time.Time         `json:"started"`
	DurationSeconds   float64           `json:"duration_seconds"`
	SendSeconds       float64           `json:"send_seconds,omitempty"`
	Rate              LoadRate          `json:"rate"`
	Requests          LoadCount         `json:"requests"`
	ErrorRate         float64           `json:"error_rate"`
	LatencyMS         Latency           `json:"latency_ms"`
	ApprovalToTokenMS *Latency          `json:"approval_to_token_ms,omitempty"`
	Status            map[string]uint64 `json:"status"`
	OAuthErrors       map[string]uint64 `json:"oauth_errors"`
	Errors            []ErrorCount      `json:"errors,omitempty"`
	CPU               *loadCPUV1        `json:"cpu,omitempty"`
	Pool              *LoadPool         `json:"assertion_pool,omitempty"`
	Generator         *LoadGenerator    `json:"generator,omitempty"`
	Thresholds        []Threshold       `json:"thresholds"`
	Passed            bool              `json:"passed"`
	Aborted           string            `json:"aborted,omitempty"`
	Series            []SeriesPoint     `json:"series,omitempty"`
	Histogram         []HistogramBin    `json:"histogram,omitempty"`
}

// loadCPUV1 is the cpu member of a load summary.
type loadCPUV1 struct {
	Seconds          float64  `json:"seconds"`
	PerRequestMicros float64  `json:"per_request_us"`
	IncludesTarget   bool     `json:"includes_target"`
	Cores            int      `json:"cores,omitempty"`
	Busy             float64  `json:"busy,omitempty"`
	SharedWith       []string `json:"shared_with,omitempty"`
	Attribution      string   `json:"attribution,omitempty"`
	ProcessSeconds   float64  `json:"process_seconds,omitempty"`
}

// WriteLoadJSON writes l as an indented load summary (LoadSchemaV1) made
// by ciba-check toolVersion.
func WriteLoadJSON(w io.Writer, l *LoadRun, toolVersion string) error {
	s := loadSummaryV1{
		Schema: LoadSchemaV1, Scenario: l.Scenario, ToolVersion: toolVersion,
		Target: l.Target, ClientID: l.ClientID, Shards: l.Shards, Started: l.Started,
		DurationSeconds: l.DurationSeconds, SendSeconds: l.SendSeconds,
		Rate: l.Rate, Requests: l.Requests, ErrorRate: l.ErrorRate,
		LatencyMS: l.LatencyMS, ApprovalToTokenMS: l.ApprovalToTokenMS,
		Status: orEmpty(l.Status), OAuthErrors: orEmpty(l.OAuthErrors), Errors: l.Errors,
		Pool: l.Pool, Generator: l.Generator, Thresholds: l.Thresholds,
		Passed: l.Passed, Aborted: l.Aborted, Series: l.Series, Histogram: l.Histogram,
	}
	if s.Thresholds == nil {
		s.Thresholds = []Threshold{}
	}
	if c := l.CPU; c != nil {
		s.CPU = &loadCPUV1{
			Seconds: c.Seconds, PerRequestMicros: l.CPUPerRequestMicros, IncludesTarget: c.IncludesTarget,
			Cores: c.Cores, Busy: c.Busy, SharedWith: l.CPUSharedWith,
			Attribution: c.Attribution, ProcessSeconds: c.ProcessSeconds,
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(&s)
}

func orEmpty(m map[string]uint64) map[string]uint64 {
	if m == nil {
		return map[string]uint64{}
	}
	return m
}

// run is the summary's LoadRun, its mode derived from the scenario.
func (s *loadSummaryV1) run() LoadRun {
	l := LoadRun{
		Scenario: s.Scenario, Mode: ModeOfScenario(s.Scenario),
		Target: s.Target, ClientID: s.ClientID, Shards: s.Shards, Started: s.Started,
		DurationSeconds: s.DurationSeconds, SendSeconds: s.SendSeconds,
		Rate: s.Rate, Requests: s.Requests, ErrorRate: s.ErrorRate,
		LatencyMS: s.LatencyMS, ApprovalToTokenMS: s.ApprovalToTokenMS,
		Status: s.Status, OAuthErrors: s.OAuthErrors, Errors: s.Errors,
		Pool: s.Pool, Generator: s.Generator, Thresholds: s.Thresholds,
		Passed: s.Passed, Aborted: s.Aborted, Series: s.Series, Histogram: s.Histogram,
	}
	if c := s.CPU; c != nil {
		l.CPU = &LoadCPU{Seconds: c.Seconds, IncludesTarget: c.IncludesTarget, Cores: c.Cores, Busy: c.Busy,
			Attribution: c.Attribution, ProcessSeconds: c.ProcessSeconds}
		l.CPUPerRequestMicros, l.CPUSharedWith = c.PerRequestMicros, c.SharedWith
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
	m := LoadModel(s.ToolVersion, s.run())
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
