package load

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// ResultsFile is the results file of one run (nil Writer: none).
type ResultsFile struct {
	f   *os.File
	buf *bufio.Writer
}

// CreateResults opens path for the results (nothing when path is
// empty). They hold the OP's answers: owner-only, like a key file; an
// existing file keeps its mode under O_CREATE, so it is tightened.
func CreateResults(path string) (*ResultsFile, error) {
	out := &ResultsFile{}
	if path == "" {
		return out, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err == nil {
		if err = f.Chmod(0o600); err != nil {
			_ = f.Close()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("--output: %w", err)
	}
	out.f, out.buf = f, bufio.NewWriterSize(f, 1<<20)
	return out, nil
}

// Writer is where results go, nil without a file.
func (o *ResultsFile) Writer() io.Writer {
	if o.buf == nil {
		return nil
	}
	return o.buf
}

// Close flushes and closes the file.
func (o *ResultsFile) Close() error {
	if o.f == nil {
		return nil
	}
	return errors.Join(o.buf.Flush(), o.f.Close())
}

// Suffixed inserts "-suffix" before a file name's extension:
// results.bin -> results-ping.bin (for two modes' runs).
func Suffixed(path, suffix string) string {
	if path == "" {
		return ""
	}
	slash := strings.LastIndexAny(path, `/\`)
	if dot := strings.LastIndexByte(path, '.'); dot > slash+1 {
		return path[:dot] + "-" + suffix + path[dot:]
	}
	return fmt.Sprintf("%s-%s", path, suffix)
}
