package load

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/devenv"
	"github.com/ciba-check/ciba-check/internal/target"
	"github.com/ciba-check/ciba-check/internal/targetclient"
	refop "github.com/ciba-check/ciba-check/reference-op"
)

func TestSuffixed(t *testing.T) {
	for in, want := range map[string]string{
		"results.bin": "results-ping.bin", "dir.d/out": "dir.d/out-ping", "/a/b.c.json": "/a/b.c-ping.json", ".hidden": ".hidden-ping", "": "",
	} {
		if got := Suffixed(in, "ping"); got != want {
			t.Fatalf("Suffixed(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPlanPicksClientAndUser(t *testing.T) {
	tg := &target.Target{
		Clients: []target.Client{
			{ID: "push", Mode: ciba.ModePush, Auth: ciba.AuthPrivateKeyJWT},
			{ID: "jwt", Mode: ciba.ModePoll, Auth: ciba.AuthPrivateKeyJWT},
			{ID: "basic", Mode: ciba.ModePoll, Auth: ciba.AuthClientSecretBasic},
			{ID: "ping", Mode: ciba.ModePing, Auth: ciba.AuthTLSClient},
		},
		Users: []target.User{{Name: "alice", Outcome: ciba.OutcomeApprove}, {Name: "bob", Outcome: ciba.OutcomeNever}},
	}
	tests := []struct {
		name      string
		plan      Plan
		mode      ciba.DeliveryMode
		client    string
		user      string
		clientErr string
		userErr   string
		fapi      bool
	}{
		{name: "defaults", plan: Plan{Auth: AuthAny}, mode: ciba.ModePoll, client: "jwt", user: "bob"},
		{name: "secret", plan: Plan{Auth: AuthSecret, User: "alice"}, mode: ciba.ModePoll, client: "basic", user: "alice"},
		{name: "mtls ping", plan: Plan{Auth: AuthMTLS}, mode: ciba.ModePing, client: "ping", user: "bob"},
		{name: "named push client", plan: Plan{ClientID: "push"}, mode: ciba.ModePoll, clientErr: `--client "push" is a push client`, user: "bob"},
		{name: "unknown", plan: Plan{ClientID: "nobody", User: "carol"}, mode: ciba.ModePoll, clientErr: `--client "nobody" is not in the target`, userErr: `--user "carol" is not in the target`},
		{name: "no such auth", plan: Plan{Auth: AuthMTLS}, mode: ciba.ModePoll, clientErr: "the target has no poll client with --auth mtls", user: "bob"},
		{name: "push", plan: Plan{Auth: AuthAny}, mode: ciba.ModePush, client: "push", user: "bob"},
		{name: "named push client for push", plan: Plan{ClientID: "push"}, mode: ciba.ModePush, client: "push", user: "bob"},
		{name: "named poll client for push", plan: Plan{ClientID: "jwt"}, mode: ciba.ModePush, clientErr: `--client "jwt" is a poll client; --mode push needs a push client`, user: "bob"},
		{name: "no push client with the auth", plan: Plan{Auth: AuthSecret}, mode: ciba.ModePush, clientErr: "the target has no push client with --auth client_secret", user: "bob"},
		{name: "push under FAPI", plan: Plan{Auth: AuthAny}, mode: ciba.ModePush, fapi: true, clientErr: "this target is FAPI-CIBA, which forbids push (FAPI-CIBA 5.2.2-3): give --no-fapi", user: "bob"},
		{name: "poll under FAPI", plan: Plan{Auth: AuthAny}, mode: ciba.ModePoll, fapi: true, client: "jwt", user: "bob"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := *tg
			tg.FAPI = tt.fapi
			tc, err := tt.plan.pickClient(&tg, tt.mode)
			got := ""
			if tc != nil {
				got = tc.ID
			}
			checkPick(t, "pickClient", got, err, tt.client, tt.clientErr)
			u, err := tt.plan.pickUser(&tg)
			if got = ""; u != nil {
				got = u.Name
			}
			checkPick(t, "pickUser", got, err, tt.user, tt.userErr)
		})
	}
}

// checkPick compares a pick's name or error with the wanted one.
func checkPick(t *testing.T, what, got string, err error, want, wantErr string) {
	t.Helper()
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("%s error %v, want %q", what, err, wantErr)
		}
		return
	}
	if err != nil || got != want {
		t.Errorf("%s = %q, %v; want %s", what, got, err, want)
	}
}

func TestPendingOutlivesRun(t *testing.T) {
	tests := []struct {
		name                  string
		granted, elapsed, run time.Duration
		wantErr               string
	}{
		{name: "expires_in unknown", granted: 0, elapsed: time.Second, run: time.Hour},
		{name: "granted as asked", granted: PendingLifetime(30*time.Second, 0), elapsed: time.Second, run: 30 * time.Second},
		{name: "exactly enough", granted: 31 * time.Second, elapsed: time.Second, run: 30 * time.Second},
		{name: "capped below the run", granted: 20 * time.Second, elapsed: 500 * time.Millisecond, run: 30 * time.Second,
			wantErr: "the OP granted the pending requests expires_in 20s (requested_expiry at least 35s), and 500ms of it went on their start and the warm-up: they would expire during the 30s run (expired_token); run for at most 18s"},
		{name: "warm-up ate it", granted: 31 * time.Second, elapsed: 2 * time.Second, run: 30 * time.Second, wantErr: "run for at most 28s"},
		{name: "nothing left", granted: 2 * time.Second, elapsed: 1500 * time.Millisecond, run: 30 * time.Second, wantErr: "the OP's expiry is too short for a poll run"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := pendingOutlivesRun(tt.granted, tt.elapsed, tt.run)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("got %v, want no error", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

// A poll run asks the OP for pending requests that outlive it by
// PendingMargin, and refuses to start when the OP granted less than the
// run needs (here: an OP that always grants 120 s).
func TestPollRunPendingLifetime(t *testing.T) {
	for _, tt := range []struct {
		name       string
		allowances []string
		run        time.Duration
		wantErr    string
	}{
		{name: "granted as asked", run: 300 * time.Millisecond},
		{name: "OP grants less than the run needs", allowances: []string{refop.AllowRequestedExpiryIgnored}, run: 10 * time.Minute,
			wantErr: "the OP granted the pending requests expires_in 2m0s (requested_expiry at least 10m5s)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env, err := devenv.Start(t.Context(), devenv.Options{Allowances: tt.allowances})
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				if err := env.Close(ctx); err != nil {
					t.Error(err)
				}
			}()
			plan := Plan{Poll: true, ClientID: "poll-mtls", User: "carol", Rate: Rate{Freq: 50, Per: time.Second}, Duration: tt.run, Pending: 3}
			s, err := targetclient.Open(t.Context(), env.Target, plan.SessionOptions(nil, io.Discard))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			sums, err := Run(t.Context(), s, plan)
			if tt.wantErr != "" {
				if sums != nil || err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, %v; want no summary and an error containing %q", sums, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if u := sums[0].Requests.Unexpected; u != 0 {
				t.Fatalf("%d unexpected answers", u)
			}
		})
	}
}
