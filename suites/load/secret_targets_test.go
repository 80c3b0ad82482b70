package load

import (
	"net/url"
	"strings"
	"testing"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/client"
)

func TestPollTargetsSecretMethods(t *testing.T) {
	const id, secret = "client one", "s3cr3t+/:value-of-32-bytes-or-more"
	tests := []struct {
		method ciba.AuthMethod
		check  func(t *testing.T, form url.Values, tg vegeta.Target)
	}{
		{ciba.AuthClientSecretBasic, func(t *testing.T, form url.Values, tg vegeta.Target) {
			if got := tg.Header.Get("Authorization"); got != client.BasicAuthorization(id, secret) {
				t.Errorf("Authorization = %q", got)
			}
			if form.Has(ciba.ParamClientSecret) || form.Has(ciba.ParamClientID) {
				t.Errorf("body = %v", form)
			}
		}},
		{ciba.AuthClientSecretPost, func(t *testing.T, form url.Values, tg vegeta.Target) {
			if form.Get(ciba.ParamClientID) != id || form.Get(ciba.ParamClientSecret) != secret || tg.Header.Get("Authorization") != "" {
				t.Errorf("body = %v, header = %v", form, tg.Header)
			}
		}},
		{ciba.AuthClientSecretJWT, func(t *testing.T, form url.Values, tg vegeta.Target) {
			if form.Get(ciba.ParamClientAssertion) != "a.b.c" || form.Get(ciba.ParamClientAssertionType) != ciba.ClientAssertionTypeJWTBearer || form.Has(ciba.ParamClientSecret) {
				t.Errorf("body = %v", form)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(string(tt.method), func(t *testing.T) {
			pt := PollTargets{Endpoint: "https://op.example/token", ClientID: id, AuthMethod: tt.method, AuthReqIDs: []string{"r1"}}
			if tt.method == ciba.AuthClientSecretJWT {
				pt.Assertions = &InlineAssertions{Sign: func(string) (string, error) { return "a.b.c", nil }}
			} else {
				if _, err := pt.Targeter(); err == nil || !strings.Contains(err.Error(), "Secret") {
					t.Fatalf("no secret: err = %v", err)
				}
				pt.Secret = secret
			}
			tr, err := pt.Targeter()
			if err != nil {
				t.Fatal(err)
			}
			var tg vegeta.Target
			if err := tr(&tg); err != nil {
				t.Fatal(err)
			}
			form, err := url.ParseQuery(string(tg.Body))
			if err != nil {
				t.Fatal(err)
			}
			if form.Get(ciba.ParamGrantType) != ciba.GrantTypeCIBA || form.Get(ciba.ParamAuthReqID) != "r1" {
				t.Errorf("body = %v", form)
			}
			tt.check(t, form, tg)
		})
	}
}
