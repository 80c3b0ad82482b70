package refop

import (
	"context"
	"fmt"

	"github.com/ciba-check/ciba-check/ciba"
)

// ResumeStats says what Resume picked up again.
type ResumeStats struct {
	// Pending is the number of undecided, unexpired requests found;
	// DeviceOffers of them were handed to the authentication device again.
	Pending      int
	DeviceOffers int
	// Notifications is the number of ping or push deliveries restarted.
	Notifications int
	// LostPushes counts push requests whose tokens were issued but whose
	// delivery never completed: token values are not stored (only hashes),
	// so they cannot be sent again; the client must start a new request.
	LostPushes int
}

// Resume continues the work a previous process left in flight in a
// durable Store. Call it once, after the OP serves and the device is
// reachable. What it does, and why:
//
//   - Every pending, unexpired request is offered to the authentication
//     device again, whether or not the previous process reached it: the
//     device may have lost it too (our mock device keeps requests in
//     memory), and the channel contract identifies a request by the
//     token's jti (= auth_req_id), so a device that still holds it answers
//     409, which counts as acknowledged. The device then decides through
//     the callback as before; polls keep answering authorization_pending
//     meanwhile (CIBA 11). A device that cannot be reached fails the
//     request, exactly as on the first offer (see OP).
//   - A decided ping or push request whose notification was neither
//     delivered nor given up is notified again, continuing the attempt
//     count, so the notifyAttempts bound holds across restarts (CIBA 10.2,
//     10.3). A ping the previous process sent just before dying may arrive
//     twice; that is harmless, the client only polls the token endpoint,
//     which redeems exactly once.
//   - Expired poll and ping requests are left alone: the token endpoint
//     answers expired_token for them (CIBA 11). A push request that
//     expired undecided, or whose expired_token payload was not delivered,
//     gets that payload (CIBA 12); a pending push request is re-armed to
//     get it at its expiry.
func (op *OP) Resume(ctx context.Context) (ResumeStats, error) {
	var st ResumeStats
	all, err := op.store.ListAuthRequests(ctx)
	if err != nil {
		return st, fmt.Errorf("listing stored requests: %w", err)
	}
	now := op.clock.Now()
	for _, ar := range all {
		push := ciba.DeliveryMode(ar.DeliveryMode) == ciba.ModePush
		if !now.Before(ar.ExpiresAt) {
			// A push request that expired undecided while the OP was down
			// still owes its client the expired_token payload (CIBA 12).
			switch {
			case push && ar.Status == StatusPending:
				op.expirePush(ctx, ar.ID)
				st.Notifications++
			case push && ar.Status == StatusExpired && !ar.NotifyDone && ar.NotifyAttempts < notifyAttempts:
				if op.notifyFrom(ar, ar.NotifyAttempts+1) {
					st.Notifications++
				}
			}
			continue
		}
		switch ar.Status {
		case StatusPending:
			st.Pending++
			if push {
				op.armPushExpiry(ar)
			}
			user, ok := op.userBySubject(ar.Subject)
			if !ok || op.cfg.DeviceEndpoint == "" {
				continue // decided by Decide or not at all; nothing to re-offer
			}
			op.offerToDevice(ar, user, true)
			st.DeviceOffers++
		case StatusApproved, StatusDenied, StatusFailed:
			if ar.NotifyDone || ar.NotifyAttempts >= notifyAttempts {
				continue
			}
			if op.notifyFrom(ar, ar.NotifyAttempts+1) {
				st.Notifications++
			}
		case StatusRedeemed:
			if ciba.DeliveryMode(ar.DeliveryMode) == ciba.ModePush && !ar.NotifyDone {
				st.LostPushes++
			}
		}
	}
	op.log.Info("resumed stored requests", "pending", st.Pending, "device_offers", st.DeviceOffers,
		"notifications", st.Notifications, "lost_pushes", st.LostPushes)
	return st, nil
}
