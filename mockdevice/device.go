package mockdevice

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/clock"
)

// Errors of Decide and the waiting methods, compared with errors.Is.
var (
	ErrUnknownRequest  = errors.New("mockdevice: unknown request id")
	ErrAlreadyDecided  = errors.New("mockdevice: request already decided")
	ErrInvalidDecision = errors.New("mockdevice: status must be SUCCEED, UNAUTHORIZED or CANCELLED")
	ErrCallbackFailed  = errors.New("mockdevice: OP callback failed")
	ErrClosed          = errors.New("mockdevice: device closed")
)

// DefaultCallbackTimeout bounds one callback to the OP when
// Config.CallbackTimeout is zero.
const DefaultCallbackTimeout = 10 * time.Second

// DefaultMaxRequests is how many requests a Device remembers when
// Config.MaxRequests is zero.
const DefaultMaxRequests = 10000

// Config configures a Device. CallbackURL is required; the rest has
// defaults.
type Config struct {
	// CallbackURL is the OP's authentication channel callback, e.g.
	// https://op/ciba/auth/callback (reference OP) or
	// <realm issuer>/protocol/openid-connect/ext/ciba/auth/callback (Keycloak).
	CallbackURL string
	// HTTPClient calls the OP back; nil means http.DefaultClient. The device
	// uses a copy that never follows redirects, so a redirecting callback is
	// recorded as a failure rather than silently re-posted elsewhere.
	HTTPClient *http.Client
	// CallbackTimeout bounds each callback; zero means DefaultCallbackTimeout.
	CallbackTimeout time.Duration
	// Clock times the scripted delays; nil means clock.Real.
	Clock clock.Clock
	// Policies script users by login_hint; others get Default.
	Policies map[string]Policy
	// Default is the policy of login_hints not in Policies; the zero value
	// means ciba.OutcomeApprove without delay.
	Default Policy
	// VerifyKeys, when set, makes the device verify the OP's bearer JWT:
	// signature (asymmetric algorithms only), exp, and aud containing iss.
	// Invalid tokens are answered 401. When nil the token's claims are read
	// without verification.
	VerifyKeys KeySource
	// Issuer, when set together with VerifyKeys, is the iss (and aud) the
	// bearer JWT must carry.
	Issuer string
	// Logger receives one line per request, decision and callback failure;
	// nil discards.
	Logger *slog.Logger
	// MaxRequests bounds the record, so a long load run cannot exhaust
	// memory: beyond it the earliest settled request is forgotten, or, when
	// none is settled, the earliest received undecided one.
	// Undecided requests are also forgotten once they have expired (plus
	// the clock skew observed, at most ExpiryGrace). Zero means
	// DefaultMaxRequests.
	MaxRequests int
}

// State is where a recorded request stands.
type State string

// The states of a Request.
const (
	StatePending   State = "pending"
	StateApproved  State = "approved"
	StateDenied    State = "denied"
	StateCancelled State = "cancelled"
	// StateFailed marks a request refused by an ciba.OutcomeError policy.
	StateFailed State = "failed"
)

func stateFor(status ciba.DeviceStatus) State {
	switch status {
	case ciba.DeviceSucceed:
		return StateApproved
	case ciba.DeviceUnauthorized:
		return StateDenied
	}
	return StateCancelled
}

// Request records one authentication request: what the OP asked the device
// to show the user, and what became of it.
type Request struct {
	// ID is the bearer JWT's jti (the reference OP's auth_req_id).
	ID string `json:"id"`
	// Issuer, Subject and ClientID are the JWT's iss, sub and azp.
	Issuer            string `json:"iss,omitempty"`
	Subject           string `json:"sub,omitempty"`
	ClientID          string `json:"client_id,omitempty"`
	LoginHint         string `json:"login_hint"`
	Scope             string `json:"scope"`
	BindingMessage    string `json:"binding_message,omitempty"`
	UserCode          string `json:"user_code,omitempty"`
	ACRValues         string `json:"acr_values,omitempty"`
	IsConsentRequired bool   `json:"is_consent_required"`
	// Policy is what the device was scripted to do with the request.
	Policy     Policy    `json:"policy"`
	ReceivedAt time.Time `json:"received_at"`
	// ResponseStatus is what the device answered the OP's POST: 201, or
	// the error status of an ciba.OutcomeError policy.
	ResponseStatus int       `json:"response_status"`
	State          State     `json:"state"`
	DecidedAt      time.Time `json:"decided_at,omitzero"`
	// CalledBackAt is when the callback to the OP finished, successfully
	// or not; zero while none has been made.
	CalledBackAt time.Time `json:"called_back_at,omitzero"`
	// CallbackStatus is the OP's answer to the callback (0 if it got none).
	CallbackStatus int `json:"callback_status,omitempty"`
	// CallbackError says why the callback failed; empty on success (2xx).
	CallbackError string `json:"callback_error,omitempty"`
	// ExpiresAt is the bearer token's exp: the request's expiry at the OP
	// (DefaultRequestLifetime after arrival when the token has none). An
	// undecided request is forgotten once the OP can no longer accept its
	// callback: the clock skew observed on the token's iat after it (plus
	// a margin), or ExpiryGrace after it without iat.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// Settled reports whether nothing more will happen to the request: it was
// refused, or decided and the OP called back.
func (r Request) Settled() bool {
	return r.State == StateFailed || (r.State != StatePending && !r.CalledBackAt.IsZero())
}

// Device is the mock authentication device. Its methods are safe for
// concurrent use.
type Device struct {
	callbackURL     string
	client          *http.Client
	callbackTimeout time.Duration
	clock           clock.Clock
	verifyKeys      KeySource
	issuer          string
	log             *slog.Logger
	maxRequests     int
	handler         http.Handler

	mu            sync.Mutex
	policies      map[string]Policy
	defaultPolicy Policy
	index         index
	// watches wakes waiters: the channel under a request's id (or
	// login_hint) key is closed on the next change of such a request, so
	// a change wakes only the waiters of that request, without polling.
	watches map[watchKey]*watch
	closed  bool
	// inflight counts scheduled decisions and running callbacks; Close
	// waits for it.
	inflight sync.WaitGroup
}

// New checks cfg and returns a Device. Call Close when done.
func New(cfg Config) (*Device, error) {
	u, err := url.Parse(cfg.CallbackURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("mockdevice: CallbackURL %q is not an absolute http(s) URL", cfg.CallbackURL)
	}
	if cfg.Issuer != "" && cfg.VerifyKeys == nil {
		return nil, fmt.Errorf("mockdevice: Issuer %q would go unchecked: set VerifyKeys too", cfg.Issuer)
	}
	if cfg.Default.Outcome == "" {
		cfg.Default.Outcome = ciba.OutcomeApprove
	}
	if err := cfg.Default.Validate(); err != nil {
		return nil, fmt.Errorf("mockdevice: default policy: %w", err)
	}
	policies := make(map[string]Policy, len(cfg.Policies))
	for hint, p := range cfg.Policies {
		if err := p.Validate(); err != nil {
			return nil, fmt.Errorf("mockdevice: policy for %q: %w", hint, err)
		}
		policies[hint] = p
	}
	client := http.DefaultClient
	if cfg.HTTPClient != nil {
		client = cfg.HTTPClient
	}
	noRedirects := *client
	noRedirects.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if cfg.CallbackTimeout <= 0 {
		cfg.CallbackTimeout = DefaultCallbackTimeout
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxRequests < 0 {
		return nil, fmt.Errorf("mockdevice: negative MaxRequests %d", cfg.MaxRequests)
	}
	if cfg.MaxRequests == 0 {
		cfg.MaxRequests = DefaultMaxRequests
	}
	d := &Device{
		callbackURL:     cfg.CallbackURL,
		client:          &noRedirects,
		callbackTimeout: cfg.CallbackTimeout,
		clock:           cfg.Clock,
		verifyKeys:      cfg.VerifyKeys,
		issuer:          cfg.Issuer,
		log:             cfg.Logger,
		maxRequests:     cfg.MaxRequests,
		policies:        policies,
		defaultPolicy:   cfg.Default,
		index:           newIndex(cfg.Clock.Now().Location()),
		watches:         map[watchKey]*watch{},
	}
	d.handler = d.routes()
	return d, nil
}

// Handler serves the channel and the HTTP API described in the package doc.
func (d *Device) Handler() http.Handler { return d.handler }

// Close stops scheduled decisions (their requests stay pending), refuses
// new requests and decisions with ErrClosed, and waits for callbacks in
// flight, each bounded by the callback timeout.
func (d *Device) Close() {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		d.inflight.Wait()
		return
	}
	d.closed = true
	// Over a copy of the keys: stopping a timer forgets it, which may
	// swap in a smaller map (takeTimer).
	for _, rec := range slices.Collect(maps.Keys(d.index.timers)) {
		d.stopTimerLocked(rec)
	}
	for k, w := range d.watches {
		close(w.ch)
		delete(d.watches, k)
	}
	d.mu.Unlock()
	d.inflight.Wait()
}

// SetPolicy scripts the user behind loginHint from now on; requests already
// received keep the policy they got.
func (d *Device) SetPolicy(loginHint string, p Policy) error {
	if err := p.Validate(); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.policies[loginHint] = p
	return nil
}

// DeletePolicy returns loginHint to the default policy.
func (d *Device) DeletePolicy(loginHint string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.policies, loginHint)
}

// SetDefaultPolicy replaces the policy of login_hints without their own.
func (d *Device) SetDefaultPolicy(p Policy) error {
	if err := p.Validate(); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.defaultPolicy = p
	return nil
}

// Policies returns a copy of the scripted policies and the default.
func (d *Device) Policies() (byLoginHint map[string]Policy, def Policy) {
	d.mu.Lock()
	defer d.mu.Unlock()
	byLoginHint = make(map[string]Policy, len(d.policies))
	for k, v := range d.policies {
		byLoginHint[k] = v
	}
	return byLoginHint, d.defaultPolicy
}

// Requests returns every recorded request in arrival order.
func (d *Device) Requests() []Request {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.forgetExpiredLocked()
	out := make([]Request, 0, d.index.byID.len())
	for rec := d.index.arrivals.head; rec != nil; rec = rec.byArrival.next {
		out = append(out, d.index.request(rec))
	}
	return out
}

// Request returns the request with the given id.
func (d *Device) Request(id string) (Request, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	rec := d.index.byID.get(id)
	if rec == nil {
		return Request{}, false
	}
	return d.index.request(rec), true
}

// Stats reports what the record holds and what it has forgotten; the
// requests due to be forgotten go first, so an idle device reports what
// it still needs to hold.
func (d *Device) Stats() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.forgetExpiredLocked()
	st := d.index.stats
	st.Stored = d.index.byID.len()
	st.Pending = len(d.index.undecided)
	return st
}

// Match selects the request WaitMatch waits for, through an index: the
// request with ID, or else the earliest recorded request for LoginHint.
// With Settled, only once it is Settled. One of ID and LoginHint is
// required; with both, the request with ID must also carry LoginHint.
type Match struct {
	ID        string
	LoginHint string
	Settled   bool
}

// ok reports whether rec satisfies m.
func (m Match) ok(rec *record) bool {
	return (m.ID == "" || rec.id == m.ID) && (m.LoginHint == "" || rec.loginHint == m.LoginHint) &&
		(!m.Settled || rec.settled())
}

// ErrEmptyMatch is WaitMatch's answer to a Match with neither ID nor LoginHint.
var ErrEmptyMatch = errors.New("mockdevice: a Match needs an ID or a LoginHint")

// watchKey names what a waiter watches: one id, or one login_hint.
type watchKey struct{ id, hint string }

type watch struct {
	ch      chan struct{}
	waiters int
}

// WaitMatch blocks until a recorded request satisfies m and returns it, or
// ctx's error. It looks the request up by id, or by login_hint (then the
// earliest satisfying m; with Settled the login_hint's requests are looked
// through in arrival order), and wakes only when a request with that id or
// login_hint changes: it never polls and never scans the whole record.
func (d *Device) WaitMatch(ctx context.Context, m Match) (Request, error) {
	if m.ID == "" && m.LoginHint == "" {
		return Request{}, ErrEmptyMatch
	}
	key := watchKey{id: m.ID}
	if m.ID == "" {
		key = watchKey{hint: m.LoginHint}
	}
	for {
		d.mu.Lock()
		if r, ok := d.findLocked(m); ok {
			d.mu.Unlock()
			return r, nil
		}
		if d.closed {
			d.mu.Unlock()
			return Request{}, ErrClosed
		}
		w := d.watches[key]
		if w == nil {
			w = &watch{ch: make(chan struct{})}
			d.watches[key] = w
		}
		w.waiters++
		d.mu.Unlock()
		var err error
		select {
		case <-ctx.Done():
			err = ctx.Err()
		case <-w.ch:
		}
		d.mu.Lock()
		if w.waiters--; w.waiters == 0 && d.watches[key] == w {
			delete(d.watches, key)
		}
		d.mu.Unlock()
		if err != nil {
			return Request{}, err
		}
	}
}

// findLocked looks m up through the indexes.
func (d *Device) findLocked(m Match) (Request, bool) {
	if m.ID != "" {
		if rec := d.index.byID.get(m.ID); rec != nil && m.ok(rec) {
			return d.index.request(rec), true
		}
		return Request{}, false
	}
	if c := d.index.byHint[m.LoginHint]; c != nil {
		for rec := c.head; rec != nil; rec = rec.byHint.next {
			if m.ok(rec) {
				return d.index.request(rec), true
			}
			if !m.Settled {
				break
			}
		}
	}
	return Request{}, false
}

// Wait blocks until the request with id has arrived.
func (d *Device) Wait(ctx context.Context, id string) (Request, error) {
	return d.WaitMatch(ctx, Match{ID: id})
}

// WaitSettled blocks until the request with id is Settled: refused, or
// decided with the OP's callback finished.
func (d *Device) WaitSettled(ctx context.Context, id string) (Request, error) {
	return d.WaitMatch(ctx, Match{ID: id, Settled: true})
}

// Decide makes the user answer the pending request id with status and
// calls the OP back before returning. The decision stands even when the
// callback fails; the error then wraps ErrCallbackFailed. Deciding a request
// twice gives ErrAlreadyDecided, an unknown id ErrUnknownRequest.
func (d *Device) Decide(ctx context.Context, id string, status ciba.DeviceStatus) error {
	_, err := d.decideAndCallBack(ctx, id, status)
	return err
}

// decideAndCallBack is Decide returning the request as it ended up.
func (d *Device) decideAndCallBack(ctx context.Context, id string, status ciba.DeviceStatus) (Request, error) {
	if !status.Valid() {
		return Request{}, fmt.Errorf("%w: got %q", ErrInvalidDecision, status)
	}
	token, err := d.decide(id, status)
	if err != nil {
		return Request{}, err
	}
	defer d.inflight.Done()
	return d.callBack(ctx, id, token, status)
}

// decide moves a pending request to the state status implies. On success
// the caller owns one inflight count and must call the OP back.
func (d *Device) decide(id string, status ciba.DeviceStatus) (token string, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return "", ErrClosed
	}
	rec := d.index.byID.get(id)
	if rec == nil {
		return "", fmt.Errorf("%w: %q", ErrUnknownRequest, id)
	}
	if st := states[rec.state]; st != StatePending {
		return "", fmt.Errorf("%w: %q is %s", ErrAlreadyDecided, id, st)
	}
	d.stopTimerLocked(rec)
	d.index.decided(rec)
	rec.state = codeOf(stateFor(status))
	rec.setDecided(stampOf(d.clock.Now()))
	d.inflight.Add(1)
	d.notifyLocked(rec)
	d.log.Info("mockdevice: decided", "id", id, "status", status)
	return rec.pend.token.String(rec), nil
}

// callBack POSTs the decision to the OP with the request's bearer token
// and records the outcome.
func (d *Device) callBack(ctx context.Context, id, token string, status ciba.DeviceStatus) (Request, error) {
	httpStatus, cbErr := d.post(ctx, token, status)
	d.mu.Lock()
	defer d.mu.Unlock()
	// A decided request leaves every index that forgets (the expiry heap)
	// and joins the settled list only now, so it is still here.
	rec := d.index.byID.get(id)
	rec.setCalledBack(stampOf(d.clock.Now()))
	rec.callbackStatus = int16(httpStatus)
	if cbErr != nil {
		rec.grow().callbackError = cbErr.Error()
		d.log.Warn("mockdevice: callback failed", "id", id, "error", cbErr)
	}
	d.index.settle(rec)
	d.notifyLocked(rec)
	req := d.index.request(rec)
	if cbErr != nil {
		return req, fmt.Errorf("%w: %v", ErrCallbackFailed, cbErr)
	}
	return req, nil
}

// post sends one callback; a non-2xx answer is an error.
func (d *Device) post(ctx context.Context, token string, status ciba.DeviceStatus) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, d.callbackTimeout)
	defer cancel()
	body, err := json.Marshal(ciba.DeviceCallback{Status: status})
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.callbackURL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("OP answered %d: %q", resp.StatusCode, snippet)
	}
	return resp.StatusCode, nil
}

// errDuplicate reports a second channel request with an id already seen.
var errDuplicate = errors.New("duplicate request id")

// receive records a request from the OP and returns the policy it gets.
// req.ExpiresAt is the bearer token's exp and iat its iat, each zero when
// it has none.
func (d *Device) receive(req Request, token string, iat time.Time) (Policy, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return Policy{}, ErrClosed
	}
	d.forgetExpiredLocked()
	if d.index.byID.get(req.ID) != nil {
		return Policy{}, errDuplicate
	}
	p, ok := d.policies[req.LoginHint]
	if !ok {
		p = d.defaultPolicy
	}
	req.Policy = p
	req.ReceivedAt = d.clock.Now()
	if req.ExpiresAt.IsZero() {
		req.ExpiresAt = req.ReceivedAt.Add(DefaultRequestLifetime)
	}
	// The record derives ResponseStatus from the state and the policy.
	req.State = StatePending
	if p.Outcome == ciba.OutcomeError {
		req.State = StateFailed
	}
	d.makeRoomLocked()
	rec := d.index.newRecord(req, token, iat, req.ExpiresAt.Add(forgetAfter(req.ReceivedAt, iat)))
	d.index.add(rec)
	d.notifyLocked(rec)
	d.log.Info("mockdevice: request", "id", req.ID, "login_hint", req.LoginHint,
		"client_id", req.ClientID, "binding_message", req.BindingMessage, "policy", p.String())
	return p, nil
}

// schedule starts the scripted decision of request id, if its policy has
// one. It runs after the OP got its 201, so the OP is ready for the callback.
func (d *Device) schedule(id string, p Policy) {
	status, decides := p.Outcome.DeviceStatus()
	if !decides {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	rec := d.index.byID.get(id)
	if d.closed || rec == nil || states[rec.state] != StatePending {
		return
	}
	d.inflight.Add(1)
	d.index.setTimer(rec, d.clock.AfterFunc(p.Delay, func() {
		defer d.inflight.Done()
		token, err := d.decideScheduled(id, status)
		if err != nil {
			return // decided by hand meanwhile, or closed
		}
		defer d.inflight.Done()
		_, _ = d.callBack(context.Background(), id, token, status)
	}))
}

// decideScheduled is decide for a timer that has fired: it forgets the
// timer first so decide does not try to stop it.
func (d *Device) decideScheduled(id string, status ciba.DeviceStatus) (string, error) {
	d.mu.Lock()
	if rec := d.index.byID.get(id); rec != nil {
		d.index.takeTimer(rec)
	}
	d.mu.Unlock()
	return d.decide(id, status)
}

// stopTimerLocked cancels a scheduled decision and releases its inflight
// count if the timer had not fired.
func (d *Device) stopTimerLocked(rec *record) {
	if t := d.index.takeTimer(rec); t != nil && t.Stop() {
		d.inflight.Done()
	}
}

// makeRoomLocked makes room for one more request when the record is
// full: it forgets the earliest settled request or, when none is settled,
// the earliest received undecided one. O(log n).
func (d *Device) makeRoomLocked() {
	if d.index.byID.len() < d.maxRequests {
		return
	}
	rec, pending := d.index.victim()
	if rec == nil {
		return // every request awaits its callback: bounded by those in flight
	}
	if pending {
		d.index.stats.ForgottenPending++
		d.log.Warn("mockdevice: record full of undecided requests; forgetting the earliest",
			"id", rec.id, "max_requests", d.maxRequests)
	} else {
		d.index.stats.ForgottenSettled++
	}
	d.forgetLocked(rec)
}

// forgetExpiredLocked forgets the undecided requests whose callback the
// OP can no longer accept (see forgetAfter). O(k log n) for k of them.
func (d *Device) forgetExpiredLocked() {
	now := d.clock.Now()
	for rec := d.index.expired(now); rec != nil; rec = d.index.expired(now) {
		d.index.stats.ForgottenExpired++
		d.forgetLocked(rec)
	}
}

// forgetLocked drops a request from the record, cancelling its scheduled
// decision; its waiters wake and find it gone.
func (d *Device) forgetLocked(rec *record) {
	d.stopTimerLocked(rec)
	d.index.remove(rec)
	d.notifyLocked(rec)
}

// notifyLocked wakes the waiters of rec's id and login_hint.
func (d *Device) notifyLocked(rec *record) {
	for _, k := range []watchKey{{id: rec.id}, {hint: rec.loginHint}} {
		if w, ok := d.watches[k]; ok {
			close(w.ch)
			delete(d.watches, k)
		}
	}
}
