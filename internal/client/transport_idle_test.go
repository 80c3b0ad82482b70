package client

import (
	"testing"
	"time"
)

// TestIdleConnectionsCloseBeforeCommonServerKeepAlive pins why the
// transport drops idle connections early: Node.js servers (oidc-provider)
// close kept-alive connections after 5 s, and CIBA 7.3's default poll
// interval is 5 s, so a connection kept longer is reused as the server
// closes it and the poll's POST is reset.
func TestIdleConnectionsCloseBeforeCommonServerKeepAlive(t *testing.T) {
	const nodeKeepAlive, defaultInterval = 5 * time.Second, 5 * time.Second
	tr := newTransport(nil, nil)
	if got := tr.IdleConnTimeout; got <= 0 || got >= min(nodeKeepAlive, defaultInterval) {
		t.Fatalf("IdleConnTimeout %v, want above 0 and below %v", got, min(nodeKeepAlive, defaultInterval))
	}
}
