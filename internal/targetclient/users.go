package targetclient

import (
	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/target"
)

// PendingUser is the first user of t whose device never answers by
// itself (outcome never): a request for them stays pending until the
// tool decides it (CIBA 7.3 authorization_pending). Nil when t has none.
func PendingUser(t *target.Target) *target.User {
	for i := range t.Users {
		if t.Users[i].Outcome == ciba.OutcomeNever {
			return &t.Users[i]
		}
	}
	return nil
}
