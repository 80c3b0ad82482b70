package load

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/client"
	"github.com/ciba-check/ciba-check/internal/target"
	"github.com/ciba-check/ciba-check/internal/targetclient"
)

// PollTargets describes the token requests of the poll scenario (CIBA
// 10.1): one per hit, round-robin over pending auth_req_ids, each with a
// fresh client assertion under private_key_jwt (RFC 7523 2.2) and
// client_secret_jwt (OIDC Core 9), the client_id under mutual TLS (RFC
// 8705 2), an Authorization: Basic header under client_secret_basic or
// client_id and client_secret in the body under client_secret_post (RFC
// 6749 2.3.1).
type PollTargets struct {
	// Endpoint is the token endpoint posted to (its mTLS alias when the
	// OP publishes one, RFC 8705 5).
	Endpoint   string
	ClientID   string
	AuthMethod ciba.AuthMethod
	// Secret is the client secret of client_secret_basic and
	// client_secret_post.
	Secret     string
	AuthReqIDs []string
	// Assertions supplies the client assertions; required for
	// private_key_jwt and client_secret_jwt.
	Assertions AssertionSource
	// Ctx bounds waiting for an assertion; when it ends the targeter
	// fails, which stops the vegeta attack.
	Ctx context.Context
}

// Targeter returns the vegeta.Targeter of pt.
func (pt PollTargets) Targeter() (vegeta.Targeter, error) {
	if pt.Endpoint == "" {
		return nil, errors.New("load: PollTargets.Endpoint is empty")
	}
	if len(pt.AuthReqIDs) == 0 {
		return nil, errors.New("load: PollTargets has no auth_req_ids to poll")
	}
	jwt := pt.AuthMethod == ciba.AuthPrivateKeyJWT || pt.AuthMethod == ciba.AuthClientSecretJWT
	secret := pt.AuthMethod == ciba.AuthClientSecretBasic || pt.AuthMethod == ciba.AuthClientSecretPost
	if !jwt && !secret && !pt.AuthMethod.UsesMTLS() {
		return nil, fmt.Errorf("load: client authentication %q is not private_key_jwt, client_secret_basic, client_secret_post, client_secret_jwt or mutual TLS", pt.AuthMethod)
	}
	if jwt && pt.Assertions == nil {
		return nil, fmt.Errorf("load: a %s client needs PollTargets.Assertions", pt.AuthMethod)
	}
	if secret && pt.Secret == "" {
		return nil, fmt.Errorf("load: a %s client needs PollTargets.Secret", pt.AuthMethod)
	}
	ctx := pt.Ctx
	if ctx == nil {
		ctx = context.Background()
	}
	// The fixed part of every body, encoded once.
	prefix := make([]string, len(pt.AuthReqIDs))
	for i, id := range pt.AuthReqIDs {
		f := url.Values{ciba.ParamGrantType: {ciba.GrantTypeCIBA}, ciba.ParamAuthReqID: {id}}
		switch {
		case jwt:
			f.Set(ciba.ParamClientAssertionType, ciba.ClientAssertionTypeJWTBearer)
		case pt.AuthMethod == ciba.AuthClientSecretBasic:
		case pt.AuthMethod == ciba.AuthClientSecretPost:
			f.Set(ciba.ParamClientID, pt.ClientID)
			f.Set(ciba.ParamClientSecret, pt.Secret)
		default:
			f.Set(ciba.ParamClientID, pt.ClientID)
		}
		prefix[i] = f.Encode()
	}
	header := http.Header{
		"Content-Type": {"application/x-www-form-urlencoded"},
		"Accept":       {"application/json"},
	}
	if pt.AuthMethod == ciba.AuthClientSecretBasic {
		header.Set("Authorization", client.BasicAuthorization(pt.ClientID, pt.Secret))
	}
	var next atomic.Uint64
	return func(t *vegeta.Target) error {
		if t == nil {
			return vegeta.ErrNilTarget
		}
		body := prefix[(next.Add(1)-1)%uint64(len(prefix))]
		if jwt {
			a, err := pt.Assertions.Take(ctx)
			if err != nil {
				return err
			}
			body += "&" + ciba.ParamClientAssertion + "=" + url.QueryEscape(a)
		}
		*t = vegeta.Target{Method: http.MethodPost, URL: pt.Endpoint, Body: []byte(body), Header: header}
		return nil
	}, nil
}

// AuthParamsFor are the authentication request parameters for user
// (CIBA 7.1): its hint, the scope, and for ping and push clients a fresh
// client_notification_token.
func AuthParamsFor(c *client.Client, user *target.User, scope string, expiry time.Duration) (client.AuthParams, error) {
	p, err := targetclient.AuthRequest(c, user, scope, user.UserCode != "")
	if expiry > 0 {
		p.RequestedExpiry = int(expiry.Round(time.Second) / time.Second)
	}
	return p, err
}

// StartPending makes n backchannel authentication requests for user (one
// who never answers) with requested_expiry expiry, parallel at a time, and
// returns their auth_req_ids and the shortest expires_in the OP granted
// them (CIBA 7.3), 0 if it gave none: an OP may grant less than was
// requested (CIBA 7.1).
func StartPending(ctx context.Context, c *client.Client, user *target.User, scope string, n, parallel int, expiry time.Duration) ([]string, time.Duration, error) {
	if n < 1 {
		return nil, 0, fmt.Errorf("load: %d pending requests asked for; need at least 1", n)
	}
	parallel = max(1, min(parallel, n))
	ids := make([]string, n)
	granted := make([]int, n)
	var (
		wg       sync.WaitGroup
		next     atomic.Int64
		firstErr atomic.Pointer[error]
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				p, err := AuthParamsFor(c, user, scope, expiry)
				if err == nil {
					var ack *ciba.AuthenticationResponse
					ack, _, err = c.Authenticate(ctx, p)
					if err == nil {
						ids[i], granted[i] = ack.AuthReqID, ack.ExpiresIn
						continue
					}
				}
				err = fmt.Errorf("load: starting pending request %d of %d: %w", i+1, n, err)
				if firstErr.CompareAndSwap(nil, &err) {
					cancel()
				}
				return
			}
		}()
	}
	wg.Wait()
	if e := firstErr.Load(); e != nil {
		return nil, 0, *e
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	shortest := 0
	for _, g := range granted {
		if g > 0 && (shortest == 0 || g < shortest) {
			shortest = g
		}
	}
	return ids, time.Duration(shortest) * time.Second, nil
}

// AttackName encodes what merge needs to know about a shard into vegeta's
// attack name, which every encoded result carries: the scenario, shard,
// rate, planned duration and the OP's issuer (target; empty when unknown).
func AttackName(s Scenario, shard Shard, r Rate, planned time.Duration, target string) string {
	v := url.Values{"rate": {r.String()}, "duration": {planned.String()}}
	if shard.Count > 1 {
		v.Set("shard", shard.String())
	}
	if target != "" {
		v.Set("target", target)
	}
	return "ciba-check/" + string(s) + "?" + v.Encode()
}

// attackInfo is what AttackName encoded.
type attackInfo struct {
	Scenario Scenario
	Shard    string
	Rate     Rate
	Planned  time.Duration
	Target   string
}

func parseAttackName(name string) (attackInfo, error) {
	rest, ok := strings.CutPrefix(name, "ciba-check/")
	if !ok {
		return attackInfo{}, fmt.Errorf("attack %q was not written by ciba-check load", name)
	}
	sc, q, _ := strings.Cut(rest, "?")
	v, err := url.ParseQuery(q)
	if err != nil {
		return attackInfo{}, fmt.Errorf("attack %q: %w", name, err)
	}
	info := attackInfo{Scenario: Scenario(sc), Shard: v.Get("shard"), Target: v.Get("target")}
	if !info.Scenario.valid() {
		return attackInfo{}, fmt.Errorf("attack %q: unknown scenario %q", name, sc)
	}
	if info.Rate, err = ParseRate(v.Get("rate")); err != nil {
		return attackInfo{}, fmt.Errorf("attack %q: %w", name, err)
	}
	if info.Planned, err = time.ParseDuration(v.Get("duration")); err != nil {
		return attackInfo{}, fmt.Errorf("attack %q: duration: %w", name, err)
	}
	return info, nil
}
