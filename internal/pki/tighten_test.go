package pki

import (
	"os"
	"path/filepath"
	"testing"
)

func TestTightenPrivateFile(t *testing.T) {
	tests := []struct {
		mode      os.FileMode
		tightened bool
	}{
		{0o600, false},
		{0o400, false},
		{0o644, true},
		{0o640, true},
		{0o604, true},
		{0o660, true},
		{0o777, true},
	}
	for _, tt := range tests {
		t.Run(tt.mode.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "key.jwk")
			if err := os.WriteFile(path, []byte("{}"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			got, err := TightenPrivateFile(path)
			if err != nil || got != tt.tightened {
				t.Fatalf("TightenPrivateFile = %v, %v; want %v, nil", got, err, tt.tightened)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			want := tt.mode
			if tt.tightened {
				want = PrivateFileMode
			}
			if fi.Mode().Perm() != want {
				t.Errorf("mode %v after, want %v", fi.Mode().Perm(), want)
			}
		})
	}
	if _, err := TightenPrivateFile(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("a missing file is not an error")
	}
}
