package reports

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
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
