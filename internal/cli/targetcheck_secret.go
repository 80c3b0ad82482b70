package cli

import (
	"context"
	"fmt"

	"github.com/ciba-check/ciba-check/internal/target"
	"github.com/ciba-check/ciba-check/internal/targetclient"
)

// checkClientSecret proves a secret client's secret (Session.ProveSecret).
// The secret itself is never printed; messages name its ${NAME}
// reference.
func checkClientSecret(ctx context.Context, r *checkReport, s *targetclient.Session, tc *target.Client, opts *TargetCheckOptions) {
	if !tc.UsesSecret() {
		return
	}
	item := "client " + tc.ID + " secret"
	stepCtx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	verdict, oe, err := s.ProveSecret(stepCtx, tc)
	switch {
	case err != nil:
		r.fail(item, "%v", err)
	case verdict == targetclient.SecretAccepted:
		r.ok(item, fmt.Sprintf("%s accepted (%s; an unknown auth_req_id was answered invalid_grant)", tc.Secret, tc.Auth))
	case verdict == targetclient.SecretRefused:
		r.fail(item, "the OP refused the client authentication (%s, HTTP %d): check that %s holds the client secret registered for %s and that the client is registered for %s (%s)",
			oe.Code, oe.Status, tc.Secret, tc.ID, tc.Auth, s.Target.Where(tc.Line))
	case oe == nil:
		r.fail(item, "the token endpoint issued tokens for an auth_req_id nobody issued; cannot tell whether %s is right", tc.Secret)
	default:
		r.fail(item, "an unknown auth_req_id was answered %s (HTTP %d), not invalid_grant (CIBA 11): cannot tell whether %s is right", oe.Code, oe.Status, tc.Secret)
	}
}
