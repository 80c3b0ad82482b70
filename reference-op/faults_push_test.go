package refop_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/ciba-check/ciba-check/ciba"
	refop "github.com/ciba-check/ciba-check/reference-op"
)

// withPush turns FAPI off: push clients are served (Config.PushAllowed).
func withPush(c *refop.Config) { c.PushAllowed = true }

// pushFaultProbes observe the faults of faults_push.go; they run against
// an OP with push allowed (TestFaultsChangeBehaviour).
var pushFaultProbes = map[string]faultProbe{
	refop.FaultPushWithoutBearer: func(t *testing.T, h *harness) bool {
		h.approve(h.start(cPush, nil))
		return h.ping.next(t).auth == ""
	},
	refop.FaultPushMissingRTHash: func(t *testing.T, h *harness) bool {
		h.approve(h.start(cPush, nil))
		var p ciba.PushTokenPayload
		if err := json.Unmarshal([]byte(h.ping.next(t).body), &p); err != nil || p.RefreshToken == "" {
			t.Fatalf("push payload: %v", err)
		}
		_, c := decodeJWT(t, p.IDToken)
		return c[ciba.ClaimRTHash] == nil
	},
	refop.FaultPushTwice: func(t *testing.T, h *harness) bool {
		h.approve(h.start(cPush, nil))
		h.ping.next(t)
		// The fault's extra copy goes out before the logged delivery.
		h.logs.waitFor(t, "notification sent", 1)
		select {
		case <-h.ping.got:
			return true
		default:
			return false
		}
	},
	refop.FaultPushErrorWrongCode: func(t *testing.T, h *harness) bool {
		h.decide(h.start(cPush, nil), ciba.DeviceCancelled)
		var e ciba.PushErrorPayload
		if err := json.Unmarshal([]byte(h.ping.next(t).body), &e); err != nil {
			t.Fatal(err)
		}
		return e.Error != "access_denied"
	},
	refop.FaultPushSendsPing: func(t *testing.T, h *harness) bool {
		h.approve(h.start(cPush, nil))
		return !strings.Contains(h.ping.next(t).body, "access_token")
	},
	refop.FaultPollAcceptedForPushClient: func(t *testing.T, h *harness) bool {
		return h.poll(cPush, h.start(cPush, nil)).str("error") != "unauthorized_client"
	},
}
