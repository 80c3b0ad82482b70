package cli

import (
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ciba-check/ciba-check/internal/pki"
)

// files are the files init writes into dir, relative to it.
func (plan *initPlan) files(dir, caSource string) []string {
	files := []string{"target.yaml"}
	if dst, err := filepath.Abs(filepath.Join(dir, initCAFile)); caSource != "" && (err != nil || dst != caSource) {
		files = append(files, initCAFile)
	}
	for _, c := range plan.Clients {
		files = append(files, c.KeyFile, c.CertFile, c.CertKey, c.CSRFile, c.JWKSFile)
	}
	return files
}

// refuseOverwrite is a usage error when one of files already exists in
// dir (without --force).
func refuseOverwrite(dir string, files []string) error {
	var existing []string
	for _, f := range files {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			existing = append(existing, filepath.Join(dir, f))
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("init: %w", err)
		}
	}
	switch len(existing) {
	case 0:
		return nil
	case 1:
		return usageErrorf("init: %s already exists; use --force to overwrite", existing[0])
	}
	return usageErrorf("init: %s already exists (and %d more of the files init writes); use --force to overwrite", existing[0], len(existing)-1)
}

// writeInitFiles writes the clients' key material, the CA copy and
// target.yaml.
func writeInitFiles(opts *InitOptions, plan *initPlan, caSource string, yamlText []byte) error {
	now := opts.Now()
	for _, c := range plan.Clients {
		if err := writeClientMaterial(opts.Dir, c, opts.Rand, now); err != nil {
			return fmt.Errorf("init: client %s: %w", c.Name, err)
		}
	}
	if caSource != "" {
		if err := copyCA(caSource, filepath.Join(opts.Dir, initCAFile)); err != nil {
			return fmt.Errorf("init: --ca: %w", err)
		}
	}
	if err := os.WriteFile(filepath.Join(opts.Dir, "target.yaml"), yamlText, 0o644); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	return nil
}

// writeClientMaterial writes the client's signing key (0600), a
// self-signed TLS certificate and its key (0600), a CSR for the same key,
// and the public JWKS to register: the signing key plus the certificate
// (x5c) for self_signed_tls_client_auth (RFC 8705 2.2).
func writeClientMaterial(dir string, c initClient, rnd io.Reader, now time.Time) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	key, err := pki.GenerateSigningKey(rnd, c.Alg, c.Name)
	if err != nil {
		return err
	}
	if err := pki.WriteJWK(filepath.Join(dir, c.KeyFile), key); err != nil {
		return err
	}
	cert, err := pki.SelfSignedClient(rnd, now, "ciba-check "+c.Name)
	if err != nil {
		return err
	}
	if err := pki.WriteTLSCertificate(filepath.Join(dir, c.CertFile), filepath.Join(dir, c.CertKey), cert); err != nil {
		return err
	}
	signer, ok := cert.PrivateKey.(crypto.Signer)
	if !ok {
		return fmt.Errorf("the TLS key of type %T cannot sign a CSR", cert.PrivateKey)
	}
	csr, err := x509.CreateCertificateRequest(rnd, &x509.CertificateRequest{Subject: pkix.Name{
		CommonName: "ciba-check " + c.Name, Organization: []string{pki.Organization},
	}}, signer)
	if err != nil {
		return fmt.Errorf("CSR: %w", err)
	}
	if err := writePEMFile(filepath.Join(dir, c.CSRFile), "CERTIFICATE REQUEST", csr); err != nil {
		return err
	}
	return pki.WriteJWKS(filepath.Join(dir, c.JWKSFile), key, jose.JSONWebKey{
		Key:          cert.Leaf.PublicKey,
		KeyID:        c.Name + "-tls",
		Certificates: []*x509.Certificate{cert.Leaf},
	})
}

func writePEMFile(path, blockType string, der []byte) error {
	data := pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der})
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, pki.PublicFileMode)
	if err != nil {
		return err
	}
	if err := f.Chmod(pki.PublicFileMode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// copyCA copies the CA bundle src to dst (public: mode 0644); the same file
// is left alone.
func copyCA(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if absDst, err := filepath.Abs(dst); err == nil && absDst == src {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	return os.WriteFile(dst, data, pki.PublicFileMode)
}
