package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/target"
	"github.com/ciba-check/ciba-check/internal/targetclient"
)

// checkClientSecret proves a secret client's secret with a token request
// that cannot succeed: an auth_req_id nobody issued. The OP authenticates
// the client before it looks the auth_req_id up (RFC 6749 5.2: a failed
// client authentication is invalid_client), so invalid_grant means the
// secret is right and invalid_client that it is wrong. The secret itself
// is never printed; messages name its ${NAME} reference.
func checkClientSecret(ctx context.Context, r *checkReport, s *targetclient.Session, tc *target.Client, opts *TargetCheckOptions) {
	if !tc.UsesSecret() {
		return
	}
	item := "client " + tc.ID + " secret"
	c, err := s.Client(tc)
	if err != nil {
		r.fail(item, "%v", err)
		return
	}
	defer c.CloseIdleConnections()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		r.fail(item, "%v", err)
		return
	}
	stepCtx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	_, _, err = c.Token(stepCtx, "ciba-check-unknown-"+hex.EncodeToString(b))
	var oe *ciba.Error
	switch {
	case err == nil:
		r.fail(item, "the token endpoint issued tokens for an auth_req_id nobody issued; cannot tell whether %s is right", tc.Secret)
	case !errors.As(err, &oe):
		r.fail(item, "the token request failed: %v", err)
	case oe.Code == ciba.ErrInvalidGrant.Code:
		r.ok(item, fmt.Sprintf("%s accepted (%s; an unknown auth_req_id was answered invalid_grant)", tc.Secret, tc.Auth))
	case oe.Code == ciba.ErrInvalidClient.Code || oe.Code == ciba.ErrUnauthorizedClient.Code:
		r.fail(item, "the OP refused the client authentication (%s, HTTP %d): check that %s holds the client secret registered for %s and that the client is registered for %s (%s)",
			oe.Code, oe.Status, tc.Secret, tc.ID, tc.Auth, s.Target.Where(tc.Line))
	default:
		r.fail(item, "an unknown auth_req_id was answered %s (HTTP %d), not invalid_grant (CIBA 11): cannot tell whether %s is right", oe.Code, oe.Status, tc.Secret)
	}
}
