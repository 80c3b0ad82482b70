package target

// ConfigError is a run configuration that cannot work, outside the target
// file: a bad filter or focus expression, an unknown fault, a bad listen
// address. The suites and the embedded environment return it; the CLI
// maps it to a usage error (exit 2).
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }
