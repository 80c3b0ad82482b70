package target

import (
	"path/filepath"

	"github.com/ciba-check/ciba-check/ciba"
)

// applyDefaults fills what the schema documents as defaults.
func (t *Target) applyDefaults() {
	for i := range t.Clients {
		if t.Clients[i].Scope == "" {
			t.Clients[i].Scope = "openid"
		}
	}
	for i := range t.Users {
		if t.Users[i].Outcome == "" {
			t.Users[i].Outcome = ciba.OutcomeApprove
		}
	}
}

// filePaths lists pointers to every file path in t.
func (t *Target) filePaths() []*string {
	paths := []*string{&t.CA}
	for i := range t.Clients {
		c := &t.Clients[i]
		paths = append(paths, &c.SigningKey, &c.TLSCert, &c.TLSKey)
		if c.Notification != nil {
			paths = append(paths, &c.Notification.TLSCert, &c.Notification.TLSKey)
		}
	}
	return paths
}

// Files lists every file the target names (resolved, as after Parse), in
// the order of the file; empty fields are left out.
func (t *Target) Files() []string {
	var out []string
	for _, p := range t.filePaths() {
		if *p != "" {
			out = append(out, *p)
		}
	}
	return out
}

func (t *Target) resolvePaths(baseDir string) {
	for _, p := range t.filePaths() {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(baseDir, *p)
		}
	}
}
