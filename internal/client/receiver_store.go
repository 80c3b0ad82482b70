package client

import (
	"container/list"
	"slices"
)

// entry is one kept notification.
type entry struct {
	n        Notification
	seq      uint64 // arrival order
	size     int    // estimated bytes held
	pool     *pool
	el       *list.Element // in pool.l
	id       *idBucket     // nil without auth_req_id
	bearerEl *list.Element // in byBearer[n.BearerToken], nil without one
}

// pool is one of the receiver's two bounded FIFOs (watched, others).
type pool struct {
	l     *list.List // of *entry, oldest first
	bytes int
}

// idBucket indexes one auth_req_id's kept notifications.
type idBucket struct {
	entries []*entry // at most MaxPerRequest, arrival order
	// watched: the tool asked about this auth_req_id, so its
	// notifications go to the watched pool. scripted: it has scripted
	// answers, so the bucket lives even while empty.
	watched, scripted bool
	// mark is the bucket's place in the receiver's marks (watched ids in
	// the order they were first watched), nil once dropped from them.
	mark *list.Element
}

// marksPerNotification bounds the watched auth_req_ids remembered while
// nothing has arrived for them: MaxNotifications times this.
const marksPerNotification = 4

// entryOverhead estimates what a kept notification holds beside its body
// and headers: the struct, list elements and map entries.
const entryOverhead = 512

// entrySize estimates a notification's memory: the body, its parsed
// payload (about as large again), and the headers.
func entrySize(n Notification) int {
	size := entryOverhead + 2*len(n.Body) + len(n.RemoteAddr) + len(n.Path)
	for k, vs := range n.Header {
		size += len(k)
		for _, v := range vs {
			size += len(v) + 16
		}
	}
	return size
}

// watchLocked marks authReqID watched, moving what is already kept of it
// to the watched pool, and returns its bucket.
func (r *NotificationReceiver) watchLocked(authReqID string) *idBucket {
	b := r.byID[authReqID]
	if b == nil {
		b = &idBucket{}
		r.byID[authReqID] = b
	}
	if !b.watched {
		b.watched = true
		for _, e := range b.entries {
			r.unlinkLocked(e)
			r.linkLocked(e, &r.watched)
		}
		r.trimLocked(&r.watched)
		b.mark = r.marks.PushBack(authReqID)
		r.trimMarksLocked()
	}
	return b
}

// trimMarksLocked bounds the watched auth_req_ids: beyond the bound the
// earliest watched forgets its mark, and its bucket goes if nothing keeps
// it (no notification, waiter or script). So Watch calls for requests that
// never get a notification leave nothing behind for good.
func (r *NotificationReceiver) trimMarksLocked() {
	for r.marks.Len() > marksPerNotification*r.cfg.MaxNotifications {
		id := r.marks.Remove(r.marks.Front()).(string)
		if b := r.byID[id]; b != nil {
			b.mark = nil
			r.maybeForgetBucketLocked(id, b)
		}
	}
}

// maybeForgetBucketLocked deletes b (of id) when nothing needs it.
func (r *NotificationReceiver) maybeForgetBucketLocked(id string, b *idBucket) {
	if len(b.entries) > 0 || b.scripted || len(r.waitByID[id]) > 0 {
		return
	}
	if b.mark != nil {
		r.marks.Remove(b.mark)
		b.mark = nil
	}
	delete(r.byID, id)
}

// deliverLocked hands n to the waiters of its auth_req_id and bearer
// token. O(number of those waiters).
func (r *NotificationReceiver) deliverLocked(n Notification) {
	fire := func(ws []*waiter) {
		for _, w := range ws {
			w.ch <- n // buffered, and each waiter is fired once
			r.forgetWaiterLocked(w)
		}
	}
	if n.AuthReqID != "" {
		fire(slices.Clone(r.waitByID[n.AuthReqID]))
	}
	if n.BearerToken != "" {
		fire(slices.Clone(r.waitByBearer[n.BearerToken]))
	}
}

// forgetWaiterLocked removes w from both waiter indexes.
func (r *NotificationReceiver) forgetWaiterLocked(w *waiter) {
	for _, m := range []struct {
		waiters map[string][]*waiter
		key     string
	}{{r.waitByID, w.authReqID}, {r.waitByBearer, w.bearer}} {
		if m.key == "" {
			continue
		}
		ws := slices.DeleteFunc(m.waiters[m.key], func(o *waiter) bool { return o == w })
		if len(ws) == 0 {
			delete(m.waiters, m.key)
		} else {
			m.waiters[m.key] = ws
		}
	}
}

// keepLocked stores n within the bounds: at most MaxPerRequest per
// auth_req_id, then its pool's oldest make room.
func (r *NotificationReceiver) keepLocked(n Notification) {
	var b *idBucket
	if n.AuthReqID != "" {
		b = r.byID[n.AuthReqID]
		if b != nil && len(b.entries) >= r.cfg.MaxPerRequest {
			r.stats.OverPerRequest++
			return
		}
		if b == nil {
			b = &idBucket{}
			r.byID[n.AuthReqID] = b
		}
	}
	r.seq++
	e := &entry{n: n, seq: r.seq, size: entrySize(n), id: b}
	if b != nil {
		b.entries = append(b.entries, e)
	}
	if n.BearerToken != "" {
		l := r.byBearer[n.BearerToken]
		if l == nil {
			l = list.New()
			r.byBearer[n.BearerToken] = l
		}
		e.bearerEl = l.PushBack(e)
	}
	p := &r.others
	if b != nil && b.watched {
		p = &r.watched
	}
	r.linkLocked(e, p)
	r.trimLocked(p)
}

func (r *NotificationReceiver) linkLocked(e *entry, p *pool) {
	e.pool = p
	e.el = p.l.PushBack(e)
	p.bytes += e.size
}

func (r *NotificationReceiver) unlinkLocked(e *entry) {
	e.pool.l.Remove(e.el)
	e.pool.bytes -= e.size
	e.pool, e.el = nil, nil
}

// trimLocked drops p's oldest notifications until it is within bounds.
func (r *NotificationReceiver) trimLocked(p *pool) {
	for p.l.Len() > 0 && (p.l.Len() > r.cfg.MaxNotifications || p.bytes > r.cfg.MaxBytes) {
		r.evictLocked(p.l.Front().Value.(*entry))
	}
}

// evictLocked forgets a kept notification from every index.
func (r *NotificationReceiver) evictLocked(e *entry) {
	r.stats.Evicted++
	r.unlinkLocked(e)
	if b := e.id; b != nil {
		b.entries = slices.DeleteFunc(b.entries, func(o *entry) bool { return o == e })
		r.maybeForgetBucketLocked(e.n.AuthReqID, b)
	}
	if e.bearerEl != nil {
		l := r.byBearer[e.n.BearerToken]
		l.Remove(e.bearerEl)
		if l.Len() == 0 {
			delete(r.byBearer, e.n.BearerToken)
		}
	}
}
