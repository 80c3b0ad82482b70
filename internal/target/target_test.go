package target

import (
	"crypto/rand"
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/internal/pki"
)

// goodYAML is a valid target; tests edit single lines of it, so its line
// numbers matter: keep the numbered comment in step.
var goodLines = []string{
	/* 1 */ "issuer: https://op.example",
	/* 2 */ "ca: ca.pem",
	/* 3 */ "endpoints:",
	/* 4 */ "  token: https://op.example/token",
	/* 5 */ "fapi: true",
	/* 6 */ "clients:",
	/* 7 */ "  - id: poll-pkjwt",
	/* 8 */ "    auth: private_key_jwt",
	/* 9 */ "    mode: poll",
	/* 10 */ "    signing_key: keys/poll.jwk",
	/* 11 */ "    alg: ES256",
	/* 12 */ "  - id: ping-mtls",
	/* 13 */ "    auth: tls_client_auth",
	/* 14 */ "    mode: ping",
	/* 15 */ "    signing_key: keys/ping.pem",
	/* 16 */ "    tls_cert: certs/ping.pem",
	/* 17 */ "    tls_key: certs/ping.key",
	/* 18 */ "    scope: openid profile",
	/* 19 */ "    notification:",
	/* 20 */ "      listen: 127.0.0.1:9443",
	/* 21 */ "      url: https://127.0.0.1:9443/notify/ping-mtls",
	/* 22 */ "      tls_cert: certs/notify.pem",
	/* 23 */ "      tls_key: certs/notify.key",
	/* 24 */ "users:",
	/* 25 */ "  - name: alice",
	/* 26 */ "    login_hint: alice@example.com",
	/* 27 */ "    user_code: \"1234\"",
	/* 28 */ "    outcome: approve",
	/* 29 */ "    delay: 2s",
	/* 30 */ "  - name: bob",
	/* 31 */ "    id_token_hint: eyJ.x.y",
	/* 32 */ "    outcome: deny",
	/* 33 */ "device:",
	/* 34 */ "  kind: mockdevice",
	/* 35 */ "  url: https://127.0.0.1:9444",
}

// edit returns goodLines with line n (1-based) replaced by text; "" deletes it.
func edit(edits map[int]string) []byte {
	var out []string
	for i, l := range goodLines {
		if text, ok := edits[i+1]; ok {
			if text != "" {
				out = append(out, text)
			}
			continue
		}
		out = append(out, l)
	}
	return []byte(strings.Join(out, "\n") + "\n")
}

func noEnv(string) (string, bool) { return "", false }

func TestParseGood(t *testing.T) {
	base := filepath.FromSlash("/srv/op")
	got, err := ParseWithEnv(edit(nil), "target.yaml", base, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	want := &Target{
		Issuer:    "https://op.example",
		CA:        filepath.Join(base, "ca.pem"),
		Endpoints: Endpoints{Token: "https://op.example/token"},
		FAPI:      true,
		Clients: []Client{
			{ID: "poll-pkjwt", Auth: ciba.AuthPrivateKeyJWT, Mode: ciba.ModePoll, SigningKey: filepath.Join(base, "keys/poll.jwk"), Alg: "ES256", Scope: "openid"},
			{ID: "ping-mtls", Auth: ciba.AuthTLSClient, Mode: ciba.ModePing, SigningKey: filepath.Join(base, "keys/ping.pem"),
				TLSCert: filepath.Join(base, "certs/ping.pem"), TLSKey: filepath.Join(base, "certs/ping.key"), Scope: "openid profile",
				Notification: &Notification{Listen: "127.0.0.1:9443", URL: "https://127.0.0.1:9443/notify/ping-mtls",
					TLSCert: filepath.Join(base, "certs/notify.pem"), TLSKey: filepath.Join(base, "certs/notify.key")}},
		},
		Users: []User{
			{Name: "alice", LoginHint: "alice@example.com", UserCode: "1234", Outcome: ciba.OutcomeApprove, Delay: Duration(2 * time.Second)},
			{Name: "bob", IDTokenHint: "eyJ.x.y", Outcome: ciba.OutcomeDeny},
		},
		Device:  Device{Kind: DeviceMock, URL: "https://127.0.0.1:9444"},
		BaseDir: base,
		File:    "target.yaml",
	}
	// Every entry remembers where it starts, for messages about it.
	want.Clients[0].Line, want.Clients[1].Line = 7, 12
	want.Users[0].Line, want.Users[1].Line = 25, 30
	// Field positions are checked by TestFileErrorsNameTheirField.
	want.issuerLine = got.issuerLine
	for i := range got.Clients {
		want.Clients[i].places = got.Clients[i].places
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Parse =\n%+v\nwant\n%+v", got, want)
	}
}

func TestParseDefaultsAndVariants(t *testing.T) {
	tests := []struct {
		name  string
		edits map[int]string
		check func(t *testing.T, tg *Target)
	}{
		{"fapi defaults to true", map[int]string{5: ""}, func(t *testing.T, tg *Target) {
			if !tg.FAPI {
				t.Error("FAPI = false")
			}
		}},
		{"fapi false allows push", map[int]string{5: "fapi: false", 14: "    mode: push"}, func(t *testing.T, tg *Target) {
			if tg.FAPI || tg.Clients[1].Mode != ciba.ModePush {
				t.Errorf("FAPI %v mode %s", tg.FAPI, tg.Clients[1].Mode)
			}
		}},
		{"outcome defaults to approve", map[int]string{28: ""}, func(t *testing.T, tg *Target) {
			if tg.Users[0].Outcome != ciba.OutcomeApprove {
				t.Errorf("outcome %q", tg.Users[0].Outcome)
			}
		}},
		{"delay in milliseconds", map[int]string{29: "    delay: 500ms"}, func(t *testing.T, tg *Target) {
			if tg.Users[0].Delay.Std() != 500*time.Millisecond {
				t.Errorf("delay %v", tg.Users[0].Delay)
			}
		}},
		{"delay bare zero", map[int]string{29: "    delay: 0"}, func(t *testing.T, tg *Target) {
			if tg.Users[0].Delay != 0 {
				t.Errorf("delay %v", tg.Users[0].Delay)
			}
		}},
		{"absolute paths kept", map[int]string{2: "ca: /etc/ssl/op-ca.pem"}, func(t *testing.T, tg *Target) {
			if tg.CA != "/etc/ssl/op-ca.pem" {
				t.Errorf("ca %q", tg.CA)
			}
		}},
		{"no ca means system roots", map[int]string{2: ""}, func(t *testing.T, tg *Target) {
			pool, err := tg.RootCAs()
			if pool != nil || err != nil {
				t.Errorf("RootCAs = %v, %v", pool, err)
			}
		}},
		{"self-signed mtls", map[int]string{13: "    auth: self_signed_tls_client_auth"}, func(t *testing.T, tg *Target) {
			if tg.Clients[1].Auth != ciba.AuthSelfSignedTLSClient {
				t.Errorf("auth %q", tg.Clients[1].Auth)
			}
		}},
		{"approval_url device", map[int]string{34: "  kind: approval_url", 35: "  approval_url: https://op.example/action?token={auth_req_id}&type={action}"}, func(t *testing.T, tg *Target) {
			if tg.Device.Kind != DeviceApprovalURL || !strings.Contains(tg.Device.ApprovalURL, "{auth_req_id}") {
				t.Errorf("device %+v", tg.Device)
			}
		}},
		{"command device", map[int]string{34: "  kind: command", 35: "  command: ./approve.sh {auth_req_id} {login_hint} {action}"}, func(t *testing.T, tg *Target) {
			if tg.Device.Command != "./approve.sh {auth_req_id} {login_hint} {action}" {
				t.Errorf("command %q", tg.Device.Command)
			}
		}},
		{"hints device", map[int]string{34: "  kind: hints", 35: ""}, func(t *testing.T, tg *Target) {
			if tg.Device.Kind != DeviceHints {
				t.Errorf("kind %q", tg.Device.Kind)
			}
		}},
		{"unquoted numeric user code", map[int]string{27: "    user_code: 1234"}, func(t *testing.T, tg *Target) {
			if tg.Users[0].UserCode != "1234" {
				t.Errorf("user_code %q", tg.Users[0].UserCode)
			}
		}},
		{"user_code_parameter defaults to false", nil, func(t *testing.T, tg *Target) {
			// CIBA 4: backchannel_user_code_parameter "If omitted, the
			// default value is false".
			if tg.Clients[0].UserCodeParameter || tg.Clients[1].UserCodeParameter {
				t.Errorf("user_code_parameter %v %v", tg.Clients[0].UserCodeParameter, tg.Clients[1].UserCodeParameter)
			}
		}},
		{"user_code_parameter per client", map[int]string{11: "    alg: ES256\n    user_code_parameter: true"}, func(t *testing.T, tg *Target) {
			if !tg.Clients[0].UserCodeParameter || tg.Clients[1].UserCodeParameter {
				t.Errorf("user_code_parameter %v %v", tg.Clients[0].UserCodeParameter, tg.Clients[1].UserCodeParameter)
			}
		}},
		{"resource and acr", map[int]string{5: "fapi: true\nresource: https://api.example/accounts\nacr: urn:a urn:b"}, func(t *testing.T, tg *Target) {
			if tg.Resource != "https://api.example/accounts" || tg.ACR != "urn:a urn:b" {
				t.Errorf("resource %q acr %q", tg.Resource, tg.ACR)
			}
			// Lines follow the inserted keys.
			if tg.Clients[0].Line != 9 || tg.Users[1].Line != 32 {
				t.Errorf("lines %d %d", tg.Clients[0].Line, tg.Users[1].Line)
			}
		}},
		{"one login_hint in two shared entries", map[int]string{29: "    delay: 2s\n    shared: true", 31: "    login_hint: alice@example.com\n    shared: true"}, func(t *testing.T, tg *Target) {
			if !tg.Users[0].Shared || !tg.Users[1].Shared {
				t.Errorf("shared %v %v", tg.Users[0].Shared, tg.Users[1].Shared)
			}
		}},
		{"users not shared by default", nil, func(t *testing.T, tg *Target) {
			if tg.Users[0].Shared || tg.Users[1].Shared {
				t.Errorf("shared %v %v", tg.Users[0].Shared, tg.Users[1].Shared)
			}
		}},
		{"resource and acr default to none", nil, func(t *testing.T, tg *Target) {
			if tg.Resource != "" || tg.ACR != "" {
				t.Errorf("resource %q acr %q", tg.Resource, tg.ACR)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg, err := ParseWithEnv(edit(tt.edits), "target.yaml", "/srv", noEnv)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, tg)
		})
	}
}

func TestParseErrors(t *testing.T) {
	const methods = "private_key_jwt, tls_client_auth, self_signed_tls_client_auth"
	tests := []struct {
		name  string
		edits map[int]string
		want  string // the whole one-line message
	}{
		{"auth enum", map[int]string{13: "    auth: client_secret"},
			`target.yaml:13:5: clients[1].auth: "client_secret" is not one of ` + methods},
		{"unknown top-level key", map[int]string{5: "fapii: true"},
			`target.yaml:5:1: fapii: unknown key "fapii"`},
		{"unknown nested key", map[int]string{22: "      tls_crt: certs/notify.pem"},
			`target.yaml:22:7: clients[1].notification.tls_crt: unknown key "tls_crt"`},
		{"issuer not https", map[int]string{1: "issuer: http://op.example"},
			`target.yaml:1:1: issuer: "http://op.example" must be an https URL`},
		{"issuer not a URL", map[int]string{1: "issuer: https://op example:x"},
			`target.yaml:1:1: issuer: "https://op example:x" is not a valid URL`},
		{"issuer with query", map[int]string{1: "issuer: https://op.example?x=1"},
			`target.yaml:1:1: issuer: must have no query or fragment`},
		{"issuer missing", map[int]string{1: ""},
			`target.yaml:1:1: issuer: is required`},
		{"issuer wrong type", map[int]string{1: "issuer: [a, b]"},
			`target.yaml:1:9: issuer: must be a string`},
		{"endpoint not https", map[int]string{4: "  token: ftp://op.example/token"},
			`target.yaml:4:3: endpoints.token: "ftp://op.example/token" must be an https URL`},
		{"fapi not bool", map[int]string{5: "fapi: sometimes"},
			`target.yaml:5:7: fapi: must be true or false`},
		{"user_code_parameter not bool", map[int]string{11: "    user_code_parameter: sometimes"},
			`target.yaml:11:26: clients[0].user_code_parameter: must be true or false`},
		{"user_code_parameter misspelt", map[int]string{11: "    user_code_parameters: true"},
			`target.yaml:11:5: clients[0].user_code_parameters: unknown key "user_code_parameters"`},
		{"user_code_parameter on a user", map[int]string{27: "    user_code_parameter: true"},
			`target.yaml:27:5: users[0].user_code_parameter: unknown key "user_code_parameter"`},
		{"resource not https", map[int]string{5: "resource: http://api.example/accounts"},
			`target.yaml:5:1: resource: "http://api.example/accounts" must be an https URL`},
		{"resource not a string", map[int]string{5: "resource: [a]"},
			`target.yaml:5:11: resource: must be a string`},
		{"acr blank", map[int]string{5: "acr: ' '"},
			`target.yaml:5:1: acr: must name at least one acr value`},
		{"clients not a list", map[int]string{6: "clients: {}", 7: "", 8: "", 9: "", 10: "", 11: "", 12: "", 13: "", 14: "", 15: "", 16: "", 17: "", 18: "", 19: "", 20: "", 21: "", 22: "", 23: ""},
			`target.yaml:6:10: clients: must be a list`},
		{"no clients", map[int]string{6: "clients: []", 7: "", 8: "", 9: "", 10: "", 11: "", 12: "", 13: "", 14: "", 15: "", 16: "", 17: "", 18: "", 19: "", 20: "", 21: "", 22: "", 23: ""},
			`target.yaml:6:1: clients: at least one client is required`},
		{"duplicate client id", map[int]string{12: "  - id: poll-pkjwt"},
			`target.yaml:12:5: clients[1].id: "poll-pkjwt" is already the id of clients[0]`},
		{"client id missing", map[int]string{7: "  - auth: private_key_jwt", 8: ""},
			`target.yaml:7:5: clients[0].id: is required`},
		{"mode enum", map[int]string{9: "    mode: pull"},
			`target.yaml:9:5: clients[0].mode: "pull" is not one of poll, ping, push`},
		{"mode missing", map[int]string{9: ""},
			`target.yaml:7:5: clients[0].mode: is required: one of poll, ping, push`},
		{"push under fapi", map[int]string{14: "    mode: push"},
			`target.yaml:14:5: clients[1].mode: push is not allowed when fapi is true (FAPI-CIBA 5.2.2-3)`},
		{"signing key missing", map[int]string{10: ""},
			`target.yaml:7:5: clients[0].signing_key: is required`},
		{"alg not FAPI", map[int]string{11: "    alg: RS256"},
			`target.yaml:11:5: clients[0].alg: "RS256" is not one of PS256, ES256`},
		{"mtls without cert", map[int]string{16: "", 17: ""},
			`target.yaml:12:5: clients[1].tls_cert: is required for tls_client_auth (RFC 8705 2)`},
		{"cert without key", map[int]string{17: ""},
			`target.yaml:12:5: clients[1].tls_key: is required with tls_cert`},
		{"ping without notification", map[int]string{19: "", 20: "", 21: "", 22: "", 23: ""},
			`target.yaml:12:5: clients[1].notification: is required for ping mode`},
		{"poll with notification", map[int]string{11: "    notification: {listen: ':1', url: 'https://x/n'}"},
			`target.yaml:11:5: clients[0].notification: is only used by ping and push clients`},
		{"notification url not https", map[int]string{21: "      url: http://127.0.0.1:9443/notify"},
			`target.yaml:21:7: clients[1].notification.url: "http://127.0.0.1:9443/notify" must be an https URL`},
		{"notification listen bad", map[int]string{20: "      listen: 9443"},
			`target.yaml:20:7: clients[1].notification.listen: "9443" is not host:port`},
		{"notification listen port", map[int]string{20: "      listen: localhost:99999"},
			`target.yaml:20:7: clients[1].notification.listen: "localhost:99999" has an invalid port`},
		{"no users", map[int]string{24: "users: []", 25: "", 26: "", 27: "", 28: "", 29: "", 30: "", 31: "", 32: ""},
			`target.yaml:24:1: users: at least one user is required`},
		{"duplicate user", map[int]string{30: "  - name: alice"},
			`target.yaml:30:5: users[1].name: "alice" is already the name of users[0]`},
		{"two users with one login_hint", map[int]string{31: "    login_hint: alice@example.com"},
			`target.yaml:31:5: users[1].login_hint: is also the login_hint of users[0]: one user at the OP, which run --parallel would use twice at once; give each entry its own user, or mark both shared: true`},
		{"one login_hint, one entry shared", map[int]string{31: "    login_hint: alice@example.com\n    shared: true"},
			`target.yaml:31:5: users[1].login_hint: is also the login_hint of users[0]: one user at the OP, which run --parallel would use twice at once; give each entry its own user, or mark both shared: true`},
		{"no hint", map[int]string{26: ""},
			`target.yaml:25:5: users[0]: needs one of login_hint, login_hint_token, id_token_hint (CIBA 7.1)`},
		{"two hints", map[int]string{31: "    id_token_hint: eyJ.x.y\n    login_hint_token: abc"},
			`target.yaml:30:5: users[1]: has more than one of login_hint, login_hint_token, id_token_hint`},
		{"outcome enum", map[int]string{28: "    outcome: maybe"},
			`target.yaml:28:5: users[0].outcome: "maybe" is not one of approve, deny, never, cancel, error`},
		{"delay not a duration", map[int]string{29: "    delay: soon"},
			`target.yaml:29:12: users[0].delay: "soon" is not a duration such as "2s" or "500ms"`},
		{"delay without unit", map[int]string{29: "    delay: 5"},
			`target.yaml:29:12: users[0].delay: "5" is not a duration`},
		{"negative delay", map[int]string{29: "    delay: -1s"},
			`target.yaml:29:5: users[0].delay: must not be negative`},
		{"delay with never", map[int]string{28: "    outcome: never"},
			`target.yaml:29:5: users[0].delay: only applies to outcome approve or deny, not never`},
		{"device missing", map[int]string{33: "", 34: "", 35: ""},
			`target.yaml:1:1: device.kind: is required`},
		{"device kind enum", map[int]string{34: "  kind: robot"},
			`target.yaml:34:3: device.kind: "robot" is not one of mockdevice, approval_url, hints, command, manual`},
		{"mockdevice without url", map[int]string{35: ""},
			`target.yaml:33:1: device.url: is required for kind mockdevice`},
		{"field of another kind", map[int]string{34: "  kind: hints"},
			`target.yaml:35:3: device.url: is only used by kind mockdevice, not hints`},
		{"mockdevice url scheme", map[int]string{35: "  url: tcp://127.0.0.1:9444"},
			`target.yaml:35:3: device.url: "tcp://127.0.0.1:9444" must be an http or https URL`},
		{"approval_url without auth_req_id", map[int]string{34: "  kind: approval_url", 35: "  approval_url: https://op.example/act?type={action}"},
			`target.yaml:35:3: device.approval_url: must contain {auth_req_id}`},
		{"approval_url unknown placeholder", map[int]string{34: "  kind: approval_url", 35: "  approval_url: https://op.example/act?id={auth_req_id}&u={user}"},
			`target.yaml:35:3: device.approval_url: unknown placeholder {user}`},
		{"command unknown placeholder", map[int]string{34: "  kind: command", 35: "  command: approve {authreqid}"},
			`target.yaml:35:3: device.command: unknown placeholder {authreqid}`},
		{"duplicate key", map[int]string{5: "issuer: https://other.example"},
			`target.yaml:5:1: mapping key "issuer" already defined at [1:1]`},
		{"syntax error", map[int]string{4: "  token: [https://op.example/token"},
			`target.yaml:5:1: ',' or ']' must be specified`},
		{"unset env", map[int]string{1: "issuer: ${OP_ISSUER}"},
			`target.yaml:1:9: issuer: environment variable OP_ISSUER is not set`},
		{"bad env reference", map[int]string{26: "    login_hint: ${not-a-name}"},
			`target.yaml:26:17: users[0].login_hint: ${not-a-name} is not a valid environment variable reference`},
		{"unterminated env", map[int]string{26: "    login_hint: ${HINT"},
			`target.yaml:26:17: users[0].login_hint: unterminated ${ in "${HINT"`},
		// The first problem in the file wins, whatever the validation order.
		{"first error wins", map[int]string{1: "issuer: http://x", 34: "  kind: robot"},
			`target.yaml:1:1: issuer: "http://x" must be an https URL`},
		{"exact position beats missing field", map[int]string{10: "", 28: "    outcome: maybe"},
			`target.yaml:27:5: users[0].outcome: "maybe"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseWithEnv(edit(tt.edits), "target.yaml", "/srv", noEnv)
			if err == nil {
				t.Fatalf("no error; want %s", tt.want)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, tt.want) {
				t.Fatalf("error\n  %s\nwant prefix\n  %s", msg, tt.want)
			}
			if strings.Contains(msg, "\n") {
				t.Fatalf("error spans lines: %q", msg)
			}
			var te *Error
			if !errors.As(err, &te) || te.File != "target.yaml" {
				t.Fatalf("error %T is not a *target.Error naming the file", err)
			}
		})
	}
}

func TestParseWholeFileErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "t.yaml: is empty"},
		{"comment only", "# nothing\n", "t.yaml: is empty"},
		{"list", "- a\n- b\n", "t.yaml:1:1: must be a mapping"},
		{"scalar", "hello\n", "t.yaml:1:1: must be a mapping"},
		{"two documents", "issuer: https://a\n---\nissuer: https://b\n", "t.yaml:3:7: holds more than one YAML document"},
		{"tab indentation", "issuer: https://a\nclients:\n\t- id: x\n", "t.yaml:3:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseWithEnv([]byte(tt.in), "t.yaml", "/", noEnv)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("err = %v, want prefix %q", err, tt.want)
			}
		})
	}
}

func TestEnvExpansion(t *testing.T) {
	env := map[string]string{"HOST": "op.example", "EMPTY": "", "PORT": "8443", "TRICKY": "a${B}"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	tests := []struct {
		in, want, wantErr string
	}{
		{in: "plain", want: "plain"},
		{in: "https://${HOST}:${PORT}/x", want: "https://op.example:8443/x"},
		{in: "${MISSING:-fallback}", want: "fallback"},
		{in: "${EMPTY:-fallback}", want: "fallback"},
		{in: "${EMPTY}", want: ""},
		{in: "${MISSING:-}", want: ""},
		{in: "$${HOST}", want: "${HOST}"},
		{in: "cost $5 and $HOST", want: "cost $5 and $HOST"},
		{in: "${TRICKY}", want: "a${B}"}, // values are not expanded again
		{in: "${MISSING}", wantErr: "environment variable MISSING is not set"},
		{in: "${}", wantErr: "${} is not a valid environment variable reference"},
		{in: "${1A}", wantErr: "${1A} is not a valid"},
		{in: "x${HOST", wantErr: "unterminated ${"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := expandEnv(tt.in, lookup)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("expandEnv(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}

	// Through Parse: expansion reaches nested strings, file paths before
	// they resolve, and typed fields such as delay.
	in := edit(map[int]string{
		1:  "issuer: https://${HOST}",
		10: "    signing_key: ${KEYDIR:-keys}/poll.jwk",
		26: "    login_hint: ${HINT:-alice@example.com}",
		27: "    user_code: >-\n      code-${PORT}", // block scalars expand too
		29: "    delay: ${DELAY:-3s}",
		34: "  kind: ${KIND:-mockdevice}",
	})
	tg, err := ParseWithEnv(in, "target.yaml", "/srv", lookup)
	if err != nil {
		t.Fatal(err)
	}
	if tg.Issuer != "https://op.example" || tg.Clients[0].SigningKey != filepath.Join("/srv", "keys/poll.jwk") ||
		tg.Users[0].LoginHint != "alice@example.com" || tg.Users[0].Delay.Std() != 3*time.Second || tg.Device.Kind != DeviceMock ||
		tg.Users[0].UserCode != "code-8443" {
		t.Fatalf("expanded target: %+v", tg)
	}

	// Parse uses the process environment.
	t.Setenv("CIBA_CHECK_TEST_ISSUER", "https://env.example")
	tg, err = Parse(edit(map[int]string{1: "issuer: ${CIBA_CHECK_TEST_ISSUER}"}), "target.yaml", "/srv")
	if err != nil || tg.Issuer != "https://env.example" {
		t.Fatalf("Parse with process env: %v, %+v", err, tg)
	}
}

func TestWriteLoadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	src := edit(map[int]string{
		2:  "ca: " + filepath.Join(outside, "ca.pem"),                 // outside the folder: stays absolute
		5:  "fapi: true\nresource: https://api.example/r\nacr: urn:a", // the registration's world
		11: "    alg: ES256\n    user_code_parameter: true",
		27: "    user_code: \"$${NOT_EXPANDED} 0012\"",            // literal ${ and a leading zero
		31: "    id_token_hint: '${TOKEN:-x: y # not a comment}'", // YAML-special characters
	})
	orig, err := ParseWithEnv(src, "target.yaml", dir, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if orig.Users[0].UserCode != "${NOT_EXPANDED} 0012" || orig.Users[1].IDTokenHint != "x: y # not a comment" {
		t.Fatalf("parsed %q %q", orig.Users[0].UserCode, orig.Users[1].IDTokenHint)
	}
	path := filepath.Join(dir, "target.yaml")
	if err := orig.Write(path); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Fatalf("mode %o, want 644", fi.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	for _, want := range []string{"signing_key: keys/poll.jwk", "tls_cert: certs/notify.pem", "ca: " + filepath.Join(outside, "ca.pem"), "fapi: true", "delay: 2s",
		"resource: https://api.example/r", "acr: urn:a", "user_code_parameter: true"} {
		if !strings.Contains(text, want) {
			t.Errorf("written file lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, dir) {
		t.Errorf("written file holds absolute paths inside its folder:\n%s", text)
	}
	back, err := Load(path)
	if err != nil {
		t.Fatalf("Load(Write(t)): %v\n%s", err, text)
	}
	if !reflect.DeepEqual(withoutPositions(back), withoutPositions(orig)) {
		t.Fatalf("round trip differs:\n got %+v\nwant %+v\n%s", back, orig, text)
	}

	// Writing fapi: false and a zero delay survives too.
	orig.FAPI = false
	orig.Users[0].Delay = 0
	if err := orig.Write(path); err != nil {
		t.Fatal(err)
	}
	back, err = Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(withoutPositions(back), withoutPositions(orig)) {
		t.Fatalf("second round trip differs:\n got %+v\nwant %+v", back, orig)
	}
}

// withoutPositions is t without what depends on the file's layout (its
// name, the lines entries start on): a written file lays entries out anew.
func withoutPositions(t *Target) *Target {
	c := t.clone()
	c.File = ""
	c.issuerLine = 0
	for i := range c.Clients {
		c.Clients[i].Line = 0
		c.Clients[i].places = nil
	}
	for i := range c.Users {
		c.Users[i].Line = 0
	}
	return c
}

func TestLoadErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "none.yaml")
	if _, err := Load(missing); err == nil || !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Fatalf("Load(missing) = %v", err)
	}
	path := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(path, []byte("issuer: https://a\nbogus: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.HasPrefix(err.Error(), path+":2:1: bogus: unknown key") {
		t.Fatalf("Load(bad) = %v", err)
	}
}

func TestLookupsAndKeyMaterial(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	mustDir := func(p string) {
		if err := os.MkdirAll(filepath.Join(dir, p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mustDir("keys")
	mustDir("certs")
	es, err := pki.GenerateSigningKey(rand.Reader, "ES256", "poll-key")
	if err != nil {
		t.Fatal(err)
	}
	if err := pki.WriteJWK(filepath.Join(dir, "keys/poll.jwk"), es); err != nil {
		t.Fatal(err)
	}
	if err := pki.WriteKeyPEM(filepath.Join(dir, "keys/ping.pem"), es.Key); err != nil {
		t.Fatal(err)
	}
	ca, err := pki.NewCA(rand.Reader, now, "test CA")
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.Write(filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca.key")); err != nil {
		t.Fatal(err)
	}
	cli, err := ca.IssueClient(rand.Reader, now, "ping-mtls")
	if err != nil {
		t.Fatal(err)
	}
	writeCertPair(t, dir, "certs/ping", cli)

	tg, err := ParseWithEnv(edit(nil), "target.yaml", dir, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tg.Client("nobody"); ok {
		t.Error("Client(nobody) found")
	}
	if u, ok := tg.User("bob"); !ok || u.Name != "bob" {
		t.Errorf("User(bob) = %v, %v", u, ok)
	} else if p, v := u.Hint(); p != ciba.ParamIDTokenHint || v != "eyJ.x.y" {
		t.Errorf("bob.Hint() = %s, %s", p, v)
	}
	if u, _ := tg.User("alice"); u != nil {
		if p, v := u.Hint(); p != ciba.ParamLoginHint || v != "alice@example.com" {
			t.Errorf("alice.Hint() = %s, %s", p, v)
		}
	}
	if _, ok := tg.User("carol"); ok {
		t.Error("User(carol) found")
	}

	poll, ok := tg.Client("poll-pkjwt")
	if !ok {
		t.Fatal("Client(poll-pkjwt) not found")
	}
	key, err := poll.LoadSigningKey()
	if err != nil || key.KeyID != "poll-key" || key.Algorithm != "ES256" {
		t.Fatalf("LoadSigningKey = %v, %v", key.KeyID, err)
	}
	if c, err := poll.LoadTLSCertificate(); c != nil || err != nil {
		t.Fatalf("poll client without tls_cert: %v, %v", c, err)
	}
	// Pointers returned by Client refer into the target, so edits stick.
	poll.Alg = "PS256"
	if _, err := tg.Clients[0].LoadSigningKey(); err == nil || !strings.Contains(err.Error(), "alg PS256 does not fit the ES256 key") {
		t.Fatalf("alg mismatch err = %v", err)
	}

	ping, _ := tg.Client("ping-mtls")
	if k, err := ping.LoadSigningKey(); err != nil || k.Algorithm != "ES256" || k.KeyID == "" {
		t.Fatalf("PEM signing key: %v, %v", k, err)
	}
	cert, err := ping.LoadTLSCertificate()
	if err != nil || cert == nil || cert.Leaf.Subject.CommonName != "ping-mtls" {
		t.Fatalf("LoadTLSCertificate = %v, %v", cert, err)
	}
	pool, err := tg.RootCAs()
	if err != nil || pool == nil {
		t.Fatalf("RootCAs = %v, %v", pool, err)
	}
	if _, err := ping.Notification.LoadTLSCertificate(); err == nil || !strings.Contains(err.Error(), "notify.pem") {
		t.Fatalf("missing notification cert err = %v", err)
	}

	// Missing or broken files are named in the error.
	broken := *tg
	broken.CA = filepath.Join(dir, "keys/poll.jwk")
	if _, err := broken.RootCAs(); err == nil || !strings.Contains(err.Error(), "ca:") {
		t.Fatalf("RootCAs(bad file) = %v", err)
	}
	missing := Client{ID: "m", SigningKey: filepath.Join(dir, "nope.jwk")}
	if _, err := missing.LoadSigningKey(); err == nil || !strings.Contains(err.Error(), `client "m": signing_key`) {
		t.Fatalf("missing key err = %v", err)
	}
}

// TestFileErrorsNameTheirField: a key or certificate that cannot be read
// is reported at its own field (tls_key, not tls_cert) with the file:line
// of that field, as the parser's own errors are.
func TestFileErrorsNameTheirField(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	a, err := pki.SelfSignedClient(rand.Reader, now, "a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := pki.SelfSignedClient(rand.Reader, now, "b")
	if err != nil {
		t.Fatal(err)
	}
	writeCertPair(t, dir, "a", a)
	writeCertPair(t, dir, "b", b)
	es, err := pki.GenerateSigningKey(rand.Reader, "ES256", "k")
	if err != nil {
		t.Fatal(err)
	}
	if err := pki.WriteJWK(filepath.Join(dir, "k.jwk"), es); err != nil {
		t.Fatal(err)
	}
	doc := func(signingKey, cert, key, alg string) string {
		return strings.Join([]string{
			/* 1 */ "issuer: https://op.example",
			/* 2 */ "clients:",
			/* 3 */ "  - id: c1",
			/* 4 */ "    auth: tls_client_auth",
			/* 5 */ "    mode: poll",
			/* 6 */ "    signing_key: " + signingKey,
			/* 7 */ "    alg: " + alg,
			/* 8 */ "    tls_cert: " + cert,
			/* 9 */ "    tls_key: " + key,
			/* 10 */ "users:",
			/* 11 */ "  - name: u",
			/* 12 */ "    login_hint: u",
			/* 13 */ "device:",
			/* 14 */ "  kind: hints",
		}, "\n") + "\n"
	}
	tests := []struct {
		name                    string
		signingKey, cert, key   string
		alg                     string
		load                    func(c *Client) error
		wantPrefix, wantContain string
	}{
		{"missing tls_key", "k.jwk", "a.pem", "nokey.key", "ES256", tlsLoad,
			"mybank/target.yaml:9:5: clients[0].tls_key: ", "nokey.key"},
		{"tls_key of another certificate", "k.jwk", "a.pem", "b.key", "ES256", tlsLoad,
			"mybank/target.yaml:9:5: clients[0].tls_key: ", "does not match the certificate"},
		{"missing tls_cert", "k.jwk", "nocert.pem", "a.key", "ES256", tlsLoad,
			"mybank/target.yaml:8:5: clients[0].tls_cert: ", "nocert.pem"},
		{"tls_cert that is a key", "k.jwk", "a.key", "a.key", "ES256", tlsLoad,
			"mybank/target.yaml:8:5: clients[0].tls_cert: ", "no PEM CERTIFICATE"},
		{"missing signing_key", "none.jwk", "a.pem", "a.key", "ES256", keyLoad,
			"mybank/target.yaml:6:5: clients[0].signing_key: ", "none.jwk"},
		{"alg that does not fit the key", "k.jwk", "a.pem", "a.key", "PS256", keyLoad,
			"mybank/target.yaml:6:5: clients[0].signing_key: ", "alg PS256 does not fit the ES256 key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tgt, err := ParseWithEnv([]byte(doc(tt.signingKey, tt.cert, tt.key, tt.alg)), "mybank/target.yaml", dir, func(string) (string, bool) { return "", false })
			if err != nil {
				t.Fatal(err)
			}
			err = tt.load(&tgt.Clients[0])
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.HasPrefix(err.Error(), tt.wantPrefix) || !strings.Contains(err.Error(), tt.wantContain) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q, want one line starting %q containing %q", err, tt.wantPrefix, tt.wantContain)
			}
		})
	}
	// A client built in memory still names its field.
	c := &Client{ID: "mem", TLSCert: filepath.Join(dir, "a.pem"), TLSKey: filepath.Join(dir, "gone.key")}
	if _, err := c.LoadTLSCertificate(); err == nil || !strings.Contains(err.Error(), `client "mem": tls_key: `) {
		t.Errorf("in-memory client error %v, want it to name tls_key", err)
	}
}

func tlsLoad(c *Client) error { _, err := c.LoadTLSCertificate(); return err }
func keyLoad(c *Client) error { _, err := c.LoadSigningKey(); return err }

// writeCertPair writes c as dir/name.pem and dir/name.key.
func writeCertPair(t *testing.T, dir, name string, c tls.Certificate) {
	t.Helper()
	if err := pki.WriteTLSCertificate(filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key"), c); err != nil {
		t.Fatal(err)
	}
}
