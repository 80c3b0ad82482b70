package refop

// How a MemoryStore keeps a whole request (storedRequest): an AuthRequest
// is 344 bytes, over the 128 a Go map keeps in its slots, so each was a
// map slot pointing at an allocation of its own; its strings were copies
// of their own too. A storedRequest is 88 bytes, held in the slot.
//
// Bytes a request held, at 100,000 (go1.26, amd64; map figures include
// the slack of its tables):
//
//	                        AuthRequest  storedRequest
//	map slot and value          387          147
//	its own strings          48 + 8           48  (id; binding message)
//	expiry queue entry           27           27
//	age list entry               19           19
//	total (measured)          486.1        240.7

import (
	"container/heap"
	"math"
	"strings"
	"time"
)

// storedRequest is an AuthRequest as a MemoryStore keeps it, under its
// id: the strings that are copies of the caller's (id, binding message,
// user code, client notification token, failure reason) one after
// another in text, whose start is the map's key too; the strings that
// take few distinct values (client, subject, scope, acr, acr_values,
// delivery mode, status) as indexes of s.names (intern); times in Unix
// ns (unixNano: monotonic reading and location dropped, as for tokens);
// counts narrowed. A request with anything that does not fit (a string
// with no index, the shared strings being full; a text field over 64 KB;
// a count or interval out of range; a time outside what Unix ns hold) is
// kept whole in s.wideRequests instead, under the same key, and marked
// wide here.
type storedRequest struct {
	text                                                     string
	createdAt, expiresAt, lastPoll, authTime, deviceCalledAt int64
	interval                                                 int32
	// idLen, bindingLen, userCodeLen and tokenLen are the lengths of the
	// first four strings in text; the failure reason is the rest.
	idLen, bindingLen, userCodeLen, tokenLen               uint16
	clientID, subject, scope, acr, acrValues, mode, status uint16
	redemptions, notifyAttempts                            uint8
	notifyDone, wide                                       bool
}

// id is the request's id, the map's key (the key alone, for a wide one).
func (sr *storedRequest) id() string {
	if sr.wide {
		return sr.text
	}
	return sr.text[:sr.idLen]
}

// texts are the strings in text after the id: binding message, user
// code, client notification token and failure reason.
func (sr *storedRequest) texts() (binding, userCode, token, failure string) {
	rest := sr.text[sr.idLen:]
	binding, rest = rest[:sr.bindingLen], rest[sr.bindingLen:]
	userCode, rest = rest[:sr.userCodeLen], rest[sr.userCodeLen:]
	return binding, userCode, rest[:sr.tokenLen], rest[sr.tokenLen:]
}

// storedNanos is t as a storedRequest keeps it, and whether it comes
// back Equal: the zero time, or one within what Unix ns hold.
func storedNanos(t time.Time) (int64, bool) {
	if t.IsZero() {
		return math.MinInt64, true
	}
	if sec := t.Unix(); sec > -9e9 && sec < 9e9 { // within 285 years of 1970
		return t.UnixNano(), true
	}
	n := unixNano(t)
	return n, n != math.MinInt64 && n != math.MaxInt64 || t.Equal(maxUnixNano)
}

// storeRequest is r as stored, its text taken from old when what it
// holds is unchanged (an update that moves a time or a state allocates
// nothing). id is the key r is stored under; an r whose ID differs (an
// update that changed it) is kept whole. The caller holds s.mu.
func (s *MemoryStore) storeRequest(id string, r *AuthRequest, old *storedRequest) storedRequest {
	sr := storedRequest{redemptions: uint8(r.Redemptions), notifyAttempts: uint8(r.NotifyAttempts), notifyDone: r.NotifyDone, interval: int32(r.Interval)}
	fits := r.ID == id && r.Redemptions >= 0 && r.Redemptions <= math.MaxUint8 &&
		r.NotifyAttempts >= 0 && r.NotifyAttempts <= math.MaxUint8 && r.Interval >= math.MinInt32 && r.Interval <= math.MaxInt32
	times := [...]time.Time{r.CreatedAt, r.ExpiresAt, r.LastPoll, r.AuthTime, r.DeviceCalledAt}
	for i, f := range [...]*int64{&sr.createdAt, &sr.expiresAt, &sr.lastPoll, &sr.authTime, &sr.deviceCalledAt} {
		n, ok := storedNanos(times[i])
		*f, fits = n, fits && ok
	}
	names := [...]string{r.ClientID, r.Subject, r.Scope, r.ACR, r.ACRValues, r.DeliveryMode, string(r.Status)}
	var was [len(names)]uint16
	if old != nil && !old.wide {
		was = [...]uint16{old.clientID, old.subject, old.scope, old.acr, old.acrValues, old.mode, old.status}
	}
	for i, f := range [...]*uint16{&sr.clientID, &sr.subject, &sr.scope, &sr.acr, &sr.acrValues, &sr.mode, &sr.status} {
		if old != nil && !old.wide && s.names[was[i]] == names[i] {
			*f = was[i] // unchanged: no look-up (an update's usual case)
			continue
		}
		n, ok := s.nameOf(names[i])
		*f, fits = uint16(n), fits && ok && n <= math.MaxUint16
	}
	texts := [...]string{id, r.BindingMessage, r.UserCode, r.ClientNotificationToken}
	for i, f := range [...]*uint16{&sr.idLen, &sr.bindingLen, &sr.userCodeLen, &sr.tokenLen} {
		*f, fits = uint16(len(texts[i])), fits && len(texts[i]) <= math.MaxUint16
	}
	if !fits {
		w, key := s.own(*r), ""
		if old != nil {
			key = old.id() // the stored copy, never the caller's string
		} else {
			key = w.ID
		}
		s.wideRequests[key] = w
		return storedRequest{text: key, wide: true}
	}
	if old != nil && !old.wide {
		b, u, t, f := old.texts()
		if b == r.BindingMessage && u == r.UserCode && t == r.ClientNotificationToken && f == r.FailureReason {
			sr.text = old.text
		}
	}
	if sr.text == "" {
		sr.text = strings.Join([]string{id, r.BindingMessage, r.UserCode, r.ClientNotificationToken, r.FailureReason}, "")
	}
	if old != nil && old.wide {
		delete(s.wideRequests, old.id())
	}
	return sr
}

// whole is sr as an AuthRequest. The caller holds s.mu.
func (s *MemoryStore) whole(sr *storedRequest) AuthRequest {
	var r AuthRequest
	s.fill(&r, sr)
	return r
}

// expiresAt is sr's expiry, read without building the whole request. The
// caller holds s.mu.
func (s *MemoryStore) expiresAt(sr *storedRequest) time.Time {
	if sr.wide {
		return s.wideRequests[sr.text].ExpiresAt
	}
	return fromUnixNano(sr.expiresAt)
}

// storedTimes sets r's times to sr's, as fill would, when r is what sr
// was made from (storeRequest): the rest of r is as fill would make it.
// The caller holds s.mu.
func (s *MemoryStore) storedTimes(r *AuthRequest, sr *storedRequest) {
	if sr.wide {
		s.fill(r, sr)
		return
	}
	r.CreatedAt, r.ExpiresAt, r.LastPoll = fromUnixNano(sr.createdAt), fromUnixNano(sr.expiresAt), fromUnixNano(sr.lastPoll)
	r.AuthTime, r.DeviceCalledAt = fromUnixNano(sr.authTime), fromUnixNano(sr.deviceCalledAt)
}

// fill sets *r to sr as an AuthRequest (filling the caller's result in
// place spares a hot path a copy of its 344 bytes). The caller holds
// s.mu.
func (s *MemoryStore) fill(r *AuthRequest, sr *storedRequest) {
	if sr.wide {
		*r = s.wideRequests[sr.text]
		return
	}
	b, u, t, f := sr.texts()
	*r = AuthRequest{ID: sr.id(), ClientID: s.names[sr.clientID], Subject: s.names[sr.subject], Scope: s.names[sr.scope],
		ACR: s.names[sr.acr], ACRValues: s.names[sr.acrValues], BindingMessage: b, UserCode: u, ClientNotificationToken: t,
		DeliveryMode: s.names[sr.mode], CreatedAt: fromUnixNano(sr.createdAt), ExpiresAt: fromUnixNano(sr.expiresAt),
		Interval: int(sr.interval), LastPoll: fromUnixNano(sr.lastPoll), Status: AuthStatus(s.names[sr.status]),
		AuthTime: fromUnixNano(sr.authTime), Redemptions: int(sr.redemptions), FailureReason: f,
		DeviceCalledAt: fromUnixNano(sr.deviceCalledAt), NotifyAttempts: int(sr.notifyAttempts), NotifyDone: sr.notifyDone}
}

// dropRequest forgets the request stored under id. The caller holds
// s.mu.
func (s *MemoryStore) dropRequest(id string) {
	if sr, ok := s.requests[id]; ok && sr.wide {
		delete(s.wideRequests, id)
	}
	delete(s.requests, id)
}

// shrinkRequests gives back the memory of a burst of requests: when the
// requests held are half their peak or fewer, the map (which never
// shrinks) is rebuilt to their size, and the expiry queue and age list
// are rebuilt without the keys no longer held (retired before their
// expiry, or dropped): their backing arrays keep the size of their peak
// too. O(n) once per halving: O(1) amortised per request gone. The
// caller holds s.mu.
func (s *MemoryStore) shrinkRequests() {
	if s.requestsPeak <= shrinkFloor || len(s.requests) > s.requestsPeak/2 {
		return
	}
	m := fitMap(s.requests)
	s.requests, s.requestsPeak = m, len(m)
	held := func(k string) bool { _, ok := s.requests[k]; return ok }
	q := make(expiryQueue[string], 0, len(m))
	for _, e := range s.requestsExp {
		if held(e.key) {
			q = append(q, e)
		}
	}
	heap.Init(&q)
	s.requestsExp = q
	age := make([]string, 0, len(m))
	for _, k := range s.requestsAge.keys[s.requestsAge.head:] {
		if held(k) {
			age = append(age, k)
		}
	}
	s.requestsAge.keys, s.requestsAge.head = age, 0
}
