package load

import (
	"strings"
	"testing"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/target"
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
