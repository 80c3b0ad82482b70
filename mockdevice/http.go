package mockdevice

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/ciba-check/ciba-check/ciba"
)

// Routes of the device's HTTP API (see the package doc).
const (
	// PathChannel is where the OP POSTs authentication requests; configure
	// the OP's device endpoint (Keycloak: the HTTP authentication channel
	// URI) as <device base URL> + PathChannel.
	PathChannel = "/channel"
	// PathRequests lists recorded requests; PathRequests/{id} is one.
	PathRequests = "/requests"
	// PathPolicies/{login_hint} scripts one user at run time.
	PathPolicies = "/policies"
	// PathDefaultPolicy replaces the default policy at run time.
	PathDefaultPolicy = "/policy"
	// PathAction serves the OIDF suite's automated_ciba_approval_url.
	PathAction = "/action"
)

// MaxBodyBytes caps every request body the device reads.
const MaxBodyBytes = 64 << 10

// Actions of the automated_ciba_approval_url contract.
const (
	ActionAllow = "allow"
	ActionDeny  = "deny"
)

// ApprovalURLTemplate returns the automated_ciba_approval_url to configure
// in the OIDF suite (or target.yaml) for a device served at baseURL, e.g.
// "https://127.0.0.1:8443/action?token={auth_req_id}&type={action}".
// The suite substitutes the auth_req_id, which must equal the channel
// token's jti (true of our reference OP).
func ApprovalURLTemplate(baseURL string) string {
	return strings.TrimRight(baseURL, "/") + PathAction + "?token={auth_req_id}&type={action}"
}

func (d *Device) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+PathChannel, d.handleChannel)
	mux.HandleFunc("GET "+PathRequests, d.handleList)
	mux.HandleFunc("GET "+PathRequests+"/{id}", d.handleGet)
	mux.HandleFunc("POST "+PathRequests+"/{id}/{action}", d.handleDecide)
	mux.HandleFunc("GET "+PathPolicies, d.handleListPolicies)
	mux.HandleFunc("PUT "+PathPolicies+"/{login_hint...}", d.handlePutPolicy)
	mux.HandleFunc("DELETE "+PathPolicies+"/{login_hint...}", d.handleDeletePolicy)
	mux.HandleFunc("PUT "+PathDefaultPolicy, d.handlePutDefaultPolicy)
	mux.HandleFunc("POST "+PathAction, d.handleAction)

	// ServeMux answers a wrong method with a plain-text 405; these
	// method-less patterns are less specific, so they catch exactly those
	// cases and answer in JSON like every other error.
	allowed := map[string]string{
		PathChannel:                       "POST",
		PathRequests:                      "GET, HEAD",
		PathRequests + "/{id}":            "GET, HEAD",
		PathRequests + "/{id}/{action}":   "POST",
		PathPolicies:                      "GET, HEAD",
		PathPolicies + "/{login_hint...}": "PUT, DELETE",
		PathDefaultPolicy:                 "PUT",
		PathAction:                        "POST",
	}
	for pattern, allow := range allowed {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			writeError(w, http.StatusMethodNotAllowed, "method_not_allowed",
				fmt.Sprintf("%s is not allowed here; use %s", r.Method, allow))
		})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such route: "+r.URL.Path)
	})
	return mux
}

// handleChannel receives an authentication request from the OP (Keycloak's
// HTTP authentication channel contract, see the package doc).
func (d *Device) handleChannel(w http.ResponseWriter, r *http.Request) {
	token, err := bearerToken(r)
	if err != nil {
		writeTokenError(w, err.Error())
		return
	}
	claims, err := readToken(r.Context(), token, d.verifyKeys, d.issuer, d.clock.Now())
	if err != nil {
		writeTokenError(w, err.Error())
		return
	}
	if claims.ID == "" {
		writeTokenError(w, "bearer token has no jti; the device needs it as the request id")
		return
	}
	var body ciba.DeviceAuthRequest
	if status, code, desc := readJSON(w, r, &body, false); status != 0 {
		writeError(w, status, code, desc)
		return
	}
	req := Request{
		ID:                claims.ID,
		Issuer:            claims.Issuer,
		Subject:           claims.Subject,
		ClientID:          claims.AZP,
		LoginHint:         body.LoginHint,
		Scope:             body.Scope,
		BindingMessage:    body.BindingMessage,
		UserCode:          body.UserCode,
		ACRValues:         body.ACRValues,
		IsConsentRequired: body.IsConsentRequired,
	}
	if claims.Expiry != nil {
		req.ExpiresAt = claims.Expiry.Time().UTC()
	}
	var iat time.Time
	if claims.IssuedAt != nil {
		iat = claims.IssuedAt.Time()
	}
	policy, err := d.receive(req, token, iat)
	switch {
	case errors.Is(err, ErrClosed):
		writeError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the device is shutting down")
		return
	case errors.Is(err, errDuplicate):
		writeError(w, http.StatusConflict, "invalid_request", fmt.Sprintf("request id (jti) %q was already received", req.ID))
		return
	case err != nil:
		writeError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	if policy.Outcome == ciba.OutcomeError {
		writeError(w, policy.errorStatus(), "scripted_error",
			fmt.Sprintf("the device's policy for login_hint %q is to fail", req.LoginHint))
		return
	}
	w.WriteHeader(http.StatusCreated)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	d.schedule(req.ID, policy)
}

func (d *Device) handleList(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, d.Requests())
}

// Long-poll parameters of GET /requests/{id}: ?wait=arrival|settled blocks
// until the request has arrived or is Settled, for at most
// ?timeout=<duration> (default DefaultLongPoll, capped at MaxLongPoll), so
// a remote driver waits without polling in a loop.
const (
	WaitArrival     = "arrival"
	WaitSettled     = "settled"
	DefaultLongPoll = 30 * time.Second
	MaxLongPoll     = 2 * time.Minute
)

func (d *Device) handleGet(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	q := r.URL.Query()
	if wait := q.Get("wait"); wait != "" {
		match := Match{ID: id}
		switch wait {
		case WaitArrival:
		case WaitSettled:
			match.Settled = true
		default:
			writeError(w, http.StatusBadRequest, "invalid_request",
				fmt.Sprintf("wait must be %s or %s, got %q", WaitArrival, WaitSettled, wait))
			return
		}
		timeout := DefaultLongPoll
		if s := q.Get("timeout"); s != "" {
			t, err := time.ParseDuration(s)
			if err != nil || t <= 0 {
				writeError(w, http.StatusBadRequest, "invalid_request",
					fmt.Sprintf("timeout must be a positive duration such as 10s, got %q", s))
				return
			}
			timeout = min(t, MaxLongPoll)
		}
		// Real time on purpose: this bounds an HTTP exchange, not the
		// scripted user, so it must not depend on a fake clock advancing.
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		// On timeout the current state (or 404) below tells the caller
		// what it has.
		if _, err := d.WaitMatch(ctx, match); errors.Is(err, ErrClosed) {
			writeError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the device is shutting down")
			return
		}
	}
	req, ok := d.Request(id)
	if !ok {
		writeError(w, http.StatusNotFound, "unknown_request", fmt.Sprintf("no request with id %q", id))
		return
	}
	writeJSON(w, http.StatusOK, req)
}

// decisions maps the hand-decision route's last segment to a status.
func decision(action string) (ciba.DeviceStatus, bool) {
	switch action {
	case "approve":
		return ciba.DeviceSucceed, true
	case "deny":
		return ciba.DeviceUnauthorized, true
	case "cancel":
		return ciba.DeviceCancelled, true
	}
	return "", false
}

func (d *Device) handleDecide(w http.ResponseWriter, r *http.Request) {
	action := r.PathValue("action")
	status, ok := decision(action)
	if !ok {
		writeError(w, http.StatusBadRequest, "invalid_request",
			fmt.Sprintf("unknown action %q; use approve, deny or cancel", action))
		return
	}
	d.writeDecision(w, r, r.PathValue("id"), status)
}

// handleAction is the OIDF suite's automated_ciba_approval_url contract:
// POST with an empty body, any 2xx is success (CIBA.md 6.2).
func (d *Device) handleAction(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var status ciba.DeviceStatus
	switch action := q.Get("type"); action {
	case ActionAllow:
		status = ciba.DeviceSucceed
	case ActionDeny:
		status = ciba.DeviceUnauthorized
	default:
		writeError(w, http.StatusBadRequest, "invalid_request",
			fmt.Sprintf("type must be %s or %s, got %q", ActionAllow, ActionDeny, action))
		return
	}
	id := q.Get("token")
	if id == "" {
		writeError(w, http.StatusBadRequest, "invalid_request", "missing token (the auth_req_id)")
		return
	}
	d.writeDecision(w, r, id, status)
}

// writeDecision decides id by hand and answers with the decided request.
func (d *Device) writeDecision(w http.ResponseWriter, r *http.Request, id string, status ciba.DeviceStatus) {
	req, err := d.decideAndCallBack(r.Context(), id, status)
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, req)
	case errors.Is(err, ErrUnknownRequest):
		writeError(w, http.StatusNotFound, "unknown_request", err.Error())
	case errors.Is(err, ErrAlreadyDecided):
		writeError(w, http.StatusConflict, "already_decided", err.Error())
	case errors.Is(err, ErrClosed):
		writeError(w, http.StatusServiceUnavailable, "temporarily_unavailable", err.Error())
	case errors.Is(err, ErrCallbackFailed):
		// The decision stands; the OP refused or missed it.
		writeError(w, http.StatusBadGateway, "callback_failed", err.Error())
	default:
		writeError(w, http.StatusBadRequest, "invalid_request", err.Error())
	}
}

// policiesResponse is the body of GET /policies.
type policiesResponse struct {
	Default  Policy            `json:"default"`
	Policies map[string]Policy `json:"policies"`
}

func (d *Device) handleListPolicies(w http.ResponseWriter, _ *http.Request) {
	byHint, def := d.Policies()
	writeJSON(w, http.StatusOK, policiesResponse{Default: def, Policies: byHint})
}

// loginHintOf reads the {login_hint} of the policy routes; an empty one is
// most likely a client bug, and PathDefaultPolicy covers "everyone else".
func loginHintOf(w http.ResponseWriter, r *http.Request) (string, bool) {
	hint := r.PathValue("login_hint")
	if hint == "" {
		writeError(w, http.StatusBadRequest, "invalid_request",
			"missing login_hint in the path; use "+PathDefaultPolicy+" for the default policy")
		return "", false
	}
	return hint, true
}

func (d *Device) handlePutPolicy(w http.ResponseWriter, r *http.Request) {
	hint, ok := loginHintOf(w, r)
	if !ok {
		return
	}
	p, ok := readPolicy(w, r)
	if !ok {
		return
	}
	if err := d.SetPolicy(hint, p); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (d *Device) handleDeletePolicy(w http.ResponseWriter, r *http.Request) {
	hint, ok := loginHintOf(w, r)
	if !ok {
		return
	}
	d.DeletePolicy(hint)
	w.WriteHeader(http.StatusNoContent)
}

func (d *Device) handlePutDefaultPolicy(w http.ResponseWriter, r *http.Request) {
	p, ok := readPolicy(w, r)
	if !ok {
		return
	}
	if err := d.SetDefaultPolicy(p); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// readPolicy reads a policy body strictly (unknown members are errors, so
// a typo like "outcom" is not silently the default) and answers errors.
func readPolicy(w http.ResponseWriter, r *http.Request) (Policy, bool) {
	var wire policyJSON
	if status, code, desc := readJSON(w, r, &wire, true); status != 0 {
		writeError(w, status, code, desc)
		return Policy{}, false
	}
	p, err := wire.policy()
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return Policy{}, false
	}
	return p, true
}

// readJSON decodes one JSON value from a body of at most MaxBodyBytes.
// On failure it returns the status, error code and description to answer.
func readJSON(w http.ResponseWriter, r *http.Request, v any, strict bool) (status int, code, desc string) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return http.StatusUnsupportedMediaType, "invalid_request",
				fmt.Sprintf("Content-Type must be application/json, got %q", ct)
		}
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return http.StatusRequestEntityTooLarge, "invalid_request",
				fmt.Sprintf("body exceeds %d bytes", MaxBodyBytes)
		}
		return http.StatusBadRequest, "invalid_request", "cannot read body: " + err.Error()
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		return http.StatusBadRequest, "invalid_request", "empty body; want a JSON object"
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		return http.StatusBadRequest, "invalid_request", "body is not the expected JSON object: " + err.Error()
	}
	if _, err := dec.Token(); err != io.EOF {
		return http.StatusBadRequest, "invalid_request", "trailing data after the JSON object"
	}
	return 0, "", ""
}

func writeTokenError(w http.ResponseWriter, desc string) {
	// RFC 6750 3: a rejected bearer token is 401 with WWW-Authenticate.
	w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	writeError(w, http.StatusUnauthorized, "invalid_token", desc)
}

func writeError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, ciba.ErrorResponse{Error: code, ErrorDescription: asciiOnly(desc)})
}

// asciiOnly keeps error_description within the characters RFC 6749 5.2
// allows (printable ASCII), since descriptions may quote untrusted input.
func asciiOnly(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, s)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
