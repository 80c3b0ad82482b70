package targetclient

import (
	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/client"
	"github.com/ciba-check/ciba-check/internal/target"
)

// AuthRequest is the backchannel authentication request a flow for test
// user u sends (CIBA 7.1), the one request the conformance suite, its
// preflight and the load runner all start from: scope, the user's own
// hint (exactly one of login_hint, login_hint_token, id_token_hint), its
// user_code when withUserCode, and for ping and push clients a fresh
// client_notification_token.
func AuthRequest(c *client.Client, u *target.User, scope string, withUserCode bool) (client.AuthParams, error) {
	param, hint := u.Hint()
	p := WithHint(client.AuthParams{Scope: scope}, param, hint)
	if withUserCode {
		p.UserCode = u.UserCode
	}
	if c.Mode() != ciba.ModePoll {
		tok, err := c.NewJTI()
		if err != nil {
			return p, err
		}
		p.ClientNotificationToken = tok
	}
	return p, nil
}

// WithHint returns p carrying value as its only hint, of type param
// (login_hint, login_hint_token or id_token_hint).
func WithHint(p client.AuthParams, param, value string) client.AuthParams {
	p.LoginHint, p.LoginHintToken, p.IDTokenHint = "", "", ""
	switch param {
	case ciba.ParamLoginHint:
		p.LoginHint = value
	case ciba.ParamLoginHintToken:
		p.LoginHintToken = value
	default:
		p.IDTokenHint = value
	}
	return p
}
