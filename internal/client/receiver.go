package client

import (
	"bytes"
	"cmp"
	"container/list"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/clock"
)

// MaxNotificationBody bounds the body the receiver reads and keeps.
const MaxNotificationBody = 64 << 10

// Bounds of what a NotificationReceiver keeps (ReceiverConfig), so an OP
// flooding the endpoint cannot exhaust the tool's memory (issue 12).
const (
	// DefaultMaxNotifications is how many notifications each pool keeps.
	DefaultMaxNotifications = 4096
	// DefaultMaxNotificationBytes is how many bytes (bodies, parsed
	// payloads and headers, estimated) each pool keeps.
	DefaultMaxNotificationBytes = 16 << 20
	// DefaultMaxPerRequest is how many notifications are kept for one
	// auth_req_id; later ones are answered but not kept, and counted.
	// Checks look at the first few ("exactly one ping"), never at the
	// hundredth, so no verdict needs more.
	DefaultMaxPerRequest = 32
	// maxHeaderBytes bounds a notification's request headers.
	maxHeaderBytes = 64 << 10
)

// ReceiverConfig configures a NotificationReceiver.
type ReceiverConfig struct {
	// Listen is the TCP address, e.g. "127.0.0.1:0".
	Listen string
	// TLSCert is the server certificate (CIBA 10.2 requires HTTPS).
	TLSCert tls.Certificate
	// Path is where notifications are accepted, e.g. "/cb"; default "/".
	Path string
	// Clock stamps notifications; default clock.Real{}.
	Clock clock.Clock
	// MaxNotifications and MaxBytes bound each of the receiver's two pools
	// (see NotificationReceiver); zero means DefaultMaxNotifications and
	// DefaultMaxNotificationBytes.
	MaxNotifications int
	MaxBytes         int
	// MaxPerRequest bounds the notifications kept per auth_req_id; zero
	// means DefaultMaxPerRequest.
	MaxPerRequest int
}

// Notification is one HTTP request that reached the receiver, recorded as
// it arrived, whatever its method or path. The receiver passes no
// judgement on it: checking the path, token and members is the suite's.
type Notification struct {
	Received time.Time
	// RemoteAddr is the sender's address (host:port).
	RemoteAddr string
	Method     string
	Path       string
	Header     http.Header
	Body       []byte
	// Truncated is set when the body was longer than MaxNotificationBody.
	Truncated bool
	// Payload is the body parsed as a JSON object, nil when it is not one
	// (ping: {"auth_req_id"}, CIBA 10.2; push: a token or error payload,
	// CIBA 10.3 and 12).
	Payload map[string]any
	// AuthReqID is Payload's auth_req_id when it is a string.
	AuthReqID string
	// BearerToken is the credential of an "Authorization: Bearer" header
	// (scheme matched case-insensitively), "" when there is none.
	BearerToken string
	// Answer is what the receiver replied.
	Answer Answer
}

// Answer is a scripted reply to a notification.
type Answer struct {
	Status int
	Header http.Header
	Body   string
}

// AnswerNoContent is the default: 204 No Content.
func AnswerNoContent() Answer { return Answer{Status: http.StatusNoContent} }

// AnswerRedirect answers 301 Moved Permanently to location; the OP must not
// follow it (CIBA.md §4.1).
func AnswerRedirect(location string) Answer {
	return Answer{Status: http.StatusMovedPermanently, Header: http.Header{"Location": {location}}}
}

// AnswerStatus answers status with body (a JSON body unless Header sets
// another Content-Type); add headers such as Retry-After to its Header.
func AnswerStatus(status int, body string) Answer { return Answer{Status: status, Body: body} }

type waiter struct {
	authReqID, bearer string
	ch                chan Notification
}

// ReceiverStats counts what a receiver keeps and what it let go.
type ReceiverStats struct {
	// Kept and KeptBytes are what the receiver holds now.
	Kept      int
	KeptBytes int
	// Evicted counts notifications dropped, oldest first, to stay within
	// MaxNotifications and MaxBytes.
	Evicted int
	// OverPerRequest counts notifications not kept because their
	// auth_req_id already had MaxPerRequest.
	OverPerRequest int
}

// NotificationReceiver is an HTTPS endpoint that records ping and push
// notifications (CIBA 10.2, 10.3, 12) and answers as scripted.
//
// Notifications are routed by auth_req_id: a waiter (Wait, Expect) is
// found by the notification's auth_req_id (or bearer token) in O(1), and
// waiters on different auth_req_ids never see or delay each other, so
// concurrent checks can each wait for their own request.
//
// What it keeps is bounded, so an OP flooding the endpoint cannot exhaust
// memory. Notifications fall in two pools of MaxNotifications and MaxBytes
// each:
//   - watched: those whose auth_req_id the tool has asked about (Watch,
//     Wait, Expect or SetAnswers), i.e. requests a check or a load flow
//     started;
//   - others: the rest (unknown auth_req_ids, no auth_req_id, other paths).
//
// A full pool drops its oldest notification (counted in Stats().Evicted);
// nothing is refused. A notification a waiter is waiting for is handed to
// it on arrival, before anything is dropped, and a flood of others fills
// only the other pool: it can never push out the evidence of a request a
// check is waiting on. Each auth_req_id keeps at most MaxPerRequest
// notifications; later ones are answered as scripted, not kept, and counted.
type NotificationReceiver struct {
	cfg ReceiverConfig

	mu            sync.Mutex
	seq           uint64
	byID          map[string]*idBucket
	byBearer      map[string]*list.List // of *entry
	marks         *list.List            // of string: watched auth_req_ids
	watched       pool
	others        pool
	stats         ReceiverStats
	defaultAnswer Answer
	answers       map[string][]Answer
	counts        map[string]int
	waitByID      map[string][]*waiter
	waitByBearer  map[string][]*waiter
	srv           *http.Server
	ln            net.Listener
	closed        chan struct{}
	serveDone     chan struct{}
}

// NewNotificationReceiver checks cfg; Start opens the listener.
func NewNotificationReceiver(cfg ReceiverConfig) (*NotificationReceiver, error) {
	if cfg.Listen == "" {
		return nil, errors.New("client: ReceiverConfig.Listen is empty")
	}
	if len(cfg.TLSCert.Certificate) == 0 || cfg.TLSCert.PrivateKey == nil {
		return nil, errors.New("client: ReceiverConfig.TLSCert has no certificate or key")
	}
	if cfg.Path == "" {
		cfg.Path = "/"
	}
	if !strings.HasPrefix(cfg.Path, "/") {
		return nil, fmt.Errorf("client: ReceiverConfig.Path %q does not start with /", cfg.Path)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	for _, b := range []struct {
		v    *int
		def  int
		name string
	}{
		{&cfg.MaxNotifications, DefaultMaxNotifications, "MaxNotifications"},
		{&cfg.MaxBytes, DefaultMaxNotificationBytes, "MaxBytes"},
		{&cfg.MaxPerRequest, DefaultMaxPerRequest, "MaxPerRequest"},
	} {
		if *b.v < 0 {
			return nil, fmt.Errorf("client: ReceiverConfig.%s is negative (%d)", b.name, *b.v)
		}
		if *b.v == 0 {
			*b.v = b.def
		}
	}
	return &NotificationReceiver{
		cfg:           cfg,
		byID:          map[string]*idBucket{},
		byBearer:      map[string]*list.List{},
		marks:         list.New(),
		watched:       pool{l: list.New()},
		others:        pool{l: list.New()},
		defaultAnswer: AnswerNoContent(),
		answers:       map[string][]Answer{},
		counts:        map[string]int{},
		waitByID:      map[string][]*waiter{},
		waitByBearer:  map[string][]*waiter{},
		closed:        make(chan struct{}),
	}, nil
}

// Start listens and serves in the background; it returns the address
// listened on (host:port).
func (r *NotificationReceiver) Start() (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.srv != nil {
		return "", errors.New("client: receiver already started")
	}
	select {
	case <-r.closed:
		return "", errors.New("client: receiver closed")
	default:
	}
	ln, err := net.Listen("tcp", r.cfg.Listen)
	if err != nil {
		return "", fmt.Errorf("client: receiver listen on %s: %w", r.cfg.Listen, err)
	}
	r.ln = ln
	r.srv = &http.Server{
		Handler:           r,
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    maxHeaderBytes,
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{r.cfg.TLSCert}},
		// Handshake failures of probing peers are not the receiver's news.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	r.serveDone = make(chan struct{})
	srv, done := r.srv, r.serveDone
	go func() {
		defer close(done)
		_ = srv.ServeTLS(ln, "", "") // returns ErrServerClosed after Close
	}()
	return ln.Addr().String(), nil
}

// URL is the notification endpoint to register at the OP, once started.
func (r *NotificationReceiver) URL() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ln == nil {
		return ""
	}
	return "https://" + r.ln.Addr().String() + r.cfg.Path
}

// Close stops the server; pending Wait calls return an error.
func (r *NotificationReceiver) Close() error {
	r.mu.Lock()
	srv, done := r.srv, r.serveDone
	select {
	case <-r.closed:
	default:
		close(r.closed)
	}
	r.mu.Unlock()
	if srv == nil {
		return nil
	}
	err := srv.Close()
	<-done
	return err
}

// SetDefaultAnswer sets the answer to notifications without a scripted
// answer of their own (initially 204; Status 0 also means 204).
func (r *NotificationReceiver) SetDefaultAnswer(a Answer) error {
	if err := a.check(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.defaultAnswer = a
	return nil
}

// check refuses statuses net/http cannot send as a final answer.
func (a Answer) check() error {
	if a.Status != 0 && (a.Status < 200 || a.Status > 599) {
		return fmt.Errorf("client: answer status %d is not a final HTTP status (200-599)", a.Status)
	}
	return nil
}

// SetAnswers scripts the answers to notifications for authReqID: the n-th
// gets answers[n], later ones the last answer.
func (r *NotificationReceiver) SetAnswers(authReqID string, answers ...Answer) error {
	if authReqID == "" || len(answers) == 0 {
		return errors.New("client: SetAnswers needs an auth_req_id and at least one answer")
	}
	for _, a := range answers {
		if err := a.check(); err != nil {
			return err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.answers[authReqID] = append([]Answer(nil), answers...)
	r.counts[authReqID] = 0
	r.watchLocked(authReqID).scripted = true
	return nil
}

// Notifications returns a copy of the notifications kept (see
// NotificationReceiver for the bounds), in arrival order.
func (r *NotificationReceiver) Notifications() []Notification {
	r.mu.Lock()
	defer r.mu.Unlock()
	all := make([]*entry, 0, r.watched.l.Len()+r.others.l.Len())
	for _, p := range []*pool{&r.watched, &r.others} {
		for e := p.l.Front(); e != nil; e = e.Next() {
			all = append(all, e.Value.(*entry))
		}
	}
	slices.SortFunc(all, func(a, b *entry) int { return cmp.Compare(a.seq, b.seq) })
	out := make([]Notification, len(all))
	for i, e := range all {
		out[i] = e.n
	}
	return out
}

// NotificationsFor returns the notifications kept whose auth_req_id is
// authReqID, in arrival order. O(MaxPerRequest).
func (r *NotificationReceiver) NotificationsFor(authReqID string) []Notification {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.byID[authReqID]
	if b == nil {
		return nil
	}
	out := make([]Notification, 0, len(b.entries))
	for _, e := range b.entries {
		out = append(out, e.n)
	}
	return out
}

// Stats reports what the receiver keeps and what it let go.
func (r *NotificationReceiver) Stats() ReceiverStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.stats
	st.Kept = r.watched.l.Len() + r.others.l.Len()
	st.KeptBytes = r.watched.bytes + r.others.bytes
	return st
}

// Watch marks authReqID watched (see NotificationReceiver) without
// waiting: call it as soon as the OP acknowledges a request whose ping or
// push will be awaited, so the notification is out of reach of a flood
// even if it arrives before Wait is called. The marks of ids nothing
// arrives for are bounded (the earliest go first). O(1).
// A nil receiver ignores the call (poll clients have none).
func (r *NotificationReceiver) Watch(authReqID string) {
	if r == nil || authReqID == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.watchLocked(authReqID)
}

// Expect returns a channel that receives the first notification (already
// kept or still to come) whose auth_req_id is authReqID or, when
// bearerToken is not empty, whose bearer token is bearerToken; the latter
// catches notifications with a broken body. With both empty it never
// fires. authReqID becomes watched (see NotificationReceiver). O(1).
func (r *NotificationReceiver) Expect(authReqID, bearerToken string) <-chan Notification {
	w := &waiter{authReqID: authReqID, bearer: bearerToken, ch: make(chan Notification, 1)}
	r.mu.Lock()
	defer r.mu.Unlock()
	var first *entry
	if authReqID != "" {
		if b := r.watchLocked(authReqID); len(b.entries) > 0 {
			first = b.entries[0]
		}
	}
	if l := r.byBearer[bearerToken]; bearerToken != "" && l != nil {
		if e := l.Front().Value.(*entry); first == nil || e.seq < first.seq {
			first = e
		}
	}
	if first != nil {
		w.ch <- first.n
		return w.ch
	}
	if authReqID != "" {
		r.waitByID[authReqID] = append(r.waitByID[authReqID], w)
	}
	if bearerToken != "" {
		r.waitByBearer[bearerToken] = append(r.waitByBearer[bearerToken], w)
	}
	return w.ch
}

// Wait returns the first notification for authReqID, waiting until it
// arrives, ctx ends or the receiver is closed.
func (r *NotificationReceiver) Wait(ctx context.Context, authReqID string) (Notification, error) {
	ch := r.Expect(authReqID, "")
	select {
	case n := <-ch:
		return n, nil
	case <-ctx.Done():
		r.dropWaiter(authReqID, "", ch)
		return Notification{}, fmt.Errorf("client: waiting for a notification for %s: %w", Redact(authReqID), ctx.Err())
	case <-r.closed:
		r.dropWaiter(authReqID, "", ch)
		return Notification{}, errors.New("client: receiver closed while waiting for a notification")
	}
}

func (r *NotificationReceiver) dropWaiter(authReqID, bearer string, ch <-chan Notification) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ws := range [][]*waiter{r.waitByID[authReqID], r.waitByBearer[bearer]} {
		for _, w := range ws {
			if w.ch == ch {
				r.forgetWaiterLocked(w)
				break
			}
		}
	}
	// A watched auth_req_id nothing arrived for and nobody waits on any
	// more is forgotten, so abandoned waits leave nothing behind.
	if b := r.byID[authReqID]; b != nil {
		r.maybeForgetBucketLocked(authReqID, b)
	}
}

// ServeHTTP records the request and answers it. Requests to other paths or
// with other methods are recorded too and answered 404 or 405.
func (r *NotificationReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(req.Body, MaxNotificationBody+1))
	body = bytes.Clone(body) // no spare capacity kept alive
	n := Notification{
		Received:   r.cfg.Clock.Now(),
		RemoteAddr: req.RemoteAddr,
		Method:     req.Method,
		Path:       req.URL.Path,
		Header:     req.Header.Clone(),
	}
	if len(body) > MaxNotificationBody {
		body = body[:MaxNotificationBody]
		n.Truncated = true
	}
	n.Body = body
	var payload map[string]any
	if json.Unmarshal(body, &payload) == nil {
		n.Payload = payload
		if id, ok := payload["auth_req_id"].(string); ok {
			n.AuthReqID = id
		}
	}
	if scheme, cred, ok := strings.Cut(req.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "bearer") {
		n.BearerToken = strings.TrimSpace(cred)
	}

	r.mu.Lock()
	switch {
	case req.URL.Path != r.cfg.Path:
		n.Answer = Answer{Status: http.StatusNotFound}
	case req.Method != http.MethodPost:
		n.Answer = Answer{Status: http.StatusMethodNotAllowed, Header: http.Header{"Allow": {http.MethodPost}}}
	default:
		n.Answer = r.defaultAnswer
		if script, ok := r.answers[n.AuthReqID]; ok && n.AuthReqID != "" && len(script) > 0 {
			i := min(r.counts[n.AuthReqID], len(script)-1)
			r.counts[n.AuthReqID]++
			n.Answer = script[i]
		}
	}
	// Waiters first: whatever is kept or dropped below, a notification a
	// check waits for reaches it.
	r.deliverLocked(n)
	r.keepLocked(n)
	answer := n.Answer
	r.mu.Unlock()

	for k, vs := range answer.Header {
		w.Header()[k] = vs
	}
	status := answer.Status
	if status == 0 {
		status = http.StatusNoContent
	}
	if answer.Body != "" && w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(status)
	if answer.Body != "" {
		_, _ = io.WriteString(w, answer.Body)
	}
}

// PushPayload decodes a push notification's body: a token delivery
// (CIBA 10.3) or, when it has an error member, an error (CIBA 12).
func (n Notification) PushPayload() (*ciba.PushTokenPayload, *ciba.PushErrorPayload, error) {
	if n.Payload == nil {
		return nil, nil, errors.New("client: notification body is not a JSON object")
	}
	if _, isErr := n.Payload["error"]; isErr {
		var pe ciba.PushErrorPayload
		if err := json.Unmarshal(n.Body, &pe); err != nil {
			return nil, nil, fmt.Errorf("client: push error payload: %w", err)
		}
		return nil, &pe, nil
	}
	var pt ciba.PushTokenPayload
	if err := json.Unmarshal(n.Body, &pt); err != nil {
		return nil, nil, fmt.Errorf("client: push token payload: %w", err)
	}
	return &pt, nil, nil
}
