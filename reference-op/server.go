package refop

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// Server runs an OP over TLS.
type Server struct {
	// Timeouts apply from the next Start; NewServer sets DefaultTimeouts.
	Timeouts Timeouts

	op   *OP
	addr string
	cert tls.Certificate

	mu  sync.Mutex
	srv *http.Server
	ln  net.Listener
	// done carries Serve's result.
	done chan error
}

// Timeouts bound how long a client may take (slow clients, CIBA.md 7.5):
// reading the request headers, reading the whole request, writing the
// answer, and keeping an idle connection.
type Timeouts struct {
	ReadHeader, Read, Write, Idle time.Duration
}

// DefaultTimeouts are the server's limits unless Server.Timeouts is set.
func DefaultTimeouts() Timeouts {
	return Timeouts{ReadHeader: 5 * time.Second, Read: 15 * time.Second, Write: 30 * time.Second, Idle: 120 * time.Second}
}

// NewServer prepares a server for op on addr ("host:port"; port 0 picks
// one) with the given RSA server certificate.
func NewServer(op *OP, addr string, cert tls.Certificate) *Server {
	return &Server{op: op, addr: addr, cert: cert, Timeouts: DefaultTimeouts()}
}

// Start listens and serves in the background; it returns the bound address.
func (s *Server) Start() (net.Addr, error) {
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return nil, err
	}
	return s.StartOn(ln), nil
}

// StartOn serves on an existing listener (useful when the issuer URL must
// be known, hence the port bound, before the OP is built).
func (s *Server) StartOn(ln net.Listener) net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.srv = &http.Server{
		Handler:           s.op.Handler(),
		TLSConfig:         s.op.TLSConfig(s.cert),
		ReadHeaderTimeout: s.Timeouts.ReadHeader,
		ReadTimeout:       s.Timeouts.Read,
		WriteTimeout:      s.Timeouts.Write,
		IdleTimeout:       s.Timeouts.Idle,
		MaxHeaderBytes:    32 << 10,
		// Refused handshakes (old TLS versions, non-FAPI suites) are the
		// server working as intended: log them at debug level through the
		// OP's logger instead of on stderr.
		ErrorLog: slog.NewLogLogger(s.op.log.Handler(), slog.LevelDebug),
	}
	s.ln = ln
	s.done = make(chan error, 1)
	srv := s.srv
	go func() {
		err := srv.ServeTLS(ln, "", "")
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.done <- err
	}()
	return ln.Addr()
}

// Shutdown stops accepting, waits for in-flight requests (bounded by
// ctx), then closes the OP's background work.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	srv, done := s.srv, s.done
	s.mu.Unlock()
	var err error
	if srv != nil {
		err = srv.Shutdown(ctx)
		if err != nil {
			// Connections still open at the deadline (a client that keeps
			// its HTTP/2 connection after GOAWAY, a slow handler) are
			// closed, so nothing outlives the server.
			err = errors.Join(err, srv.Close())
		}
		if serveErr := <-done; err == nil {
			err = serveErr
		}
	}
	return errors.Join(err, s.op.Close())
}
