package target

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/goccy/go-yaml"
)

// Marshal encodes t as YAML. File paths inside dir are written relative to
// it, so the folder can move as a whole; a literal ${ is written as $${ so
// that reading the file back does not expand it.
func (t *Target) Marshal(dir string) ([]byte, error) {
	out := t.clone()
	for _, p := range out.filePaths() {
		*p = relativeTo(dir, *p)
	}
	out.escapeEnv()
	data, err := yaml.MarshalWithOptions(out, yaml.Indent(2), yaml.IndentSequence(true))
	if err != nil {
		return nil, fmt.Errorf("target: encoding: %w", err)
	}
	return data, nil
}

// Write stores t at path (mode 0644: it holds no secrets, keys are
// separate files). Load(path) returns an equal Target.
func (t *Target) Write(path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("target: %w", err)
	}
	data, err := t.Marshal(filepath.Dir(abs))
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("target: %w", err)
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return fmt.Errorf("target: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("target: writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("target: writing %s: %w", path, err)
	}
	return nil
}

// relativeTo makes p relative to dir when p lies inside dir.
func relativeTo(dir, p string) string {
	if p == "" || dir == "" {
		return p
	}
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return p
	}
	absP, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	rel, err := filepath.Rel(absDir, absP)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return absP
	}
	return rel
}

func (t *Target) clone() *Target {
	c := *t
	c.Clients = make([]Client, len(t.Clients))
	copy(c.Clients, t.Clients)
	for i := range c.Clients {
		if n := c.Clients[i].Notification; n != nil {
			nc := *n
			c.Clients[i].Notification = &nc
		}
	}
	c.Users = make([]User, len(t.Users))
	copy(c.Users, t.Users)
	return &c
}

// escapeEnv protects every string value from ${ENV} expansion on reload.
func (t *Target) escapeEnv() {
	esc := func(s *string) { *s = strings.ReplaceAll(*s, "${", "$${") }
	for _, s := range []*string{&t.Issuer, &t.CA, &t.Endpoints.BackchannelAuthentication, &t.Endpoints.Token,
		&t.Endpoints.Userinfo, &t.Resource, &t.ACR, &t.Device.URL, &t.Device.ApprovalURL, &t.Device.Command} {
		esc(s)
	}
	for i := range t.Clients {
		c := &t.Clients[i]
		for _, s := range []*string{&c.ID, &c.SigningKey, &c.Alg, &c.TLSCert, &c.TLSKey, &c.Scope} {
			esc(s)
		}
		if n := c.Notification; n != nil {
			for _, s := range []*string{&n.Listen, &n.URL, &n.TLSCert, &n.TLSKey} {
				esc(s)
			}
		}
	}
	for i := range t.Users {
		u := &t.Users[i]
		for _, s := range []*string{&u.Name, &u.LoginHint, &u.LoginHintToken, &u.IDTokenHint, &u.UserCode} {
			esc(s)
		}
	}
}
