package interop

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ciba-check/ciba-check/internal/target"
)

// manualLabelFilter picks the few checks of the manual run: the ping
// checks of CIBA 10.2 whose user approves or denies on the device, so the
// operator is asked both to approve and to deny.
const manualLabelFilter = "CIBA-10.2 && ping && !negative"

// notSelected is the skip reason of the checks a filter leaves out
// (conformance.NotSelected).
const notSelected = "not selected by --label-filter, --focus or --skip"

// manualTimeout bounds the manual run, operator included.
const manualTimeout = time.Minute

// The manual driver's protocol (internal/device/manual.go): a request
// block ending in a question without a newline, answered by one line;
// an answer it does not understand is asked again.
var (
	manualPromptRE = regexp.MustCompile(`Authentication request (\S+)\n  user: (.*)\n  client: (.*)\n(?:  binding message: .*\n)?Please (APPROVE|DENY) it on the authentication device, then type what you did \(approve/deny\): `)
	manualRetryRE  = regexp.MustCompile(`Please type approve or deny: `)
)

// operatorPrompt is one question the manual driver asked.
type operatorPrompt struct {
	AuthReqID, User, Client, Verb string
}

// operator plays the human at the terminal of a manual run: it reads the
// driver's questions from the run's stderr, does what is asked on the
// harness's device (its approval endpoint, as a person would press the
// button) and types the answer on the run's stdin. The first answer is
// garbled once, to see the driver ask again.
type operator struct {
	ctx      context.Context
	hc       *http.Client
	issuer   string
	answers  io.Writer
	output   *lockedBuffer
	done     chan struct{}
	mu       sync.Mutex
	prompts  []operatorPrompt
	retries  int
	problems []string
}

func (o *operator) problemf(format string, args ...any) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.problems = append(o.problems, fmt.Sprintf(format, args...))
}

// serve reads the run's stderr to its end.
func (o *operator) serve(stderr io.Reader) {
	defer close(o.done)
	var pending strings.Builder // output not yet matched to a question
	var garbled *operatorPrompt // the question answered with nonsense
	buf := make([]byte, 4096)
	for {
		n, err := stderr.Read(buf)
		if n > 0 {
			_, _ = o.output.Write(buf[:n])
			pending.Write(buf[:n])
			text := pending.String()
			if garbled != nil {
				if loc := manualRetryRE.FindStringIndex(text); loc != nil {
					o.mu.Lock()
					o.retries++
					o.mu.Unlock()
					o.answer(*garbled)
					garbled = nil
					text = text[loc[1]:]
				}
			}
			for garbled == nil {
				m := manualPromptRE.FindStringSubmatchIndex(text)
				if m == nil {
					break
				}
				p := operatorPrompt{AuthReqID: text[m[2]:m[3]], User: text[m[4]:m[5]], Client: text[m[6]:m[7]], Verb: text[m[8]:m[9]]}
				text = text[m[1]:]
				o.mu.Lock()
				o.prompts = append(o.prompts, p)
				first := len(o.prompts) == 1
				o.mu.Unlock()
				o.act(p)
				if first {
					fmt.Fprintln(o.answers, "maybe")
					garbled = &p
					continue
				}
				o.answer(p)
			}
			pending.Reset()
			pending.WriteString(text)
		}
		if err != nil {
			return
		}
	}
}

// act decides the request on the harness's device.
func (o *operator) act(p operatorPrompt) {
	action := "allow"
	if p.Verb == "DENY" {
		action = "deny"
	}
	u := o.issuer + "/ciba-sim?" + url.Values{"auth_req_id": {p.AuthReqID}, "action": {action}}.Encode()
	req, err := http.NewRequestWithContext(o.ctx, http.MethodPost, u, nil)
	if err != nil {
		o.problemf("%s: %v", p.AuthReqID, err)
		return
	}
	resp, err := o.hc.Do(req)
	if err != nil {
		o.problemf("%s %s on the device: %v", action, p.AuthReqID, err)
		return
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		o.problemf("%s %s on the device: HTTP %d %s", action, p.AuthReqID, resp.StatusCode, body)
	}
}

// answer types what the operator did.
func (o *operator) answer(p operatorPrompt) {
	if _, err := fmt.Fprintln(o.answers, strings.ToLower(p.Verb)); err != nil {
		o.problemf("answering %s: %v", p.AuthReqID, err)
	}
}

// testManualDevice runs a few checks with device kind manual, the test
// as the operator, and compares them with the expectation for manual.
func testManualDevice(t *testing.T, h *harness, bin string) {
	exp, err := loadExpectation(h.Choices.Expected)
	if err != nil {
		t.Fatal(err)
	}
	driverExp, err := exp.forDriver(target.DeviceManual)
	if err != nil {
		t.Fatal(err)
	}
	targetPath := writeDriverTarget(t, h, target.Device{Kind: target.DeviceManual})
	roots, err := h.Target.RootCAs()
	must(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), manualTimeout)
	defer cancel()
	op := &operator{
		ctx:    ctx,
		issuer: h.Issuer,
		hc: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		}},
		output: &lockedBuffer{},
		done:   make(chan struct{}),
	}
	run := runSuite(ctx, t, bin, targetPath, "manual", []string{"--label-filter", manualLabelFilter}, func(cmd *exec.Cmd) func() string {
		stdin, err := cmd.StdinPipe()
		must(t, err)
		op.answers = stdin
		// The questions go to stderr (the run's progress is on stdout).
		errR, errW := io.Pipe()
		cmd.Stderr = errW
		cmd.Stdout = op.output
		go op.serve(errR)
		return func() string {
			errW.Close()
			<-op.done
			return op.output.String()
		}
	})
	if ctx.Err() != nil {
		t.Fatalf("the manual run did not finish within %s:\n%s", manualTimeout, run.Output)
	}
	res := &run.Result
	t.Logf("ciba-check run --label-filter %q with device manual: %d passed, %d warnings, %d failed, %d skipped; %d questions answered", manualLabelFilter, res.Summary.Passed, res.Summary.Warnings, res.Summary.Failed, res.Summary.Skipped, len(op.prompts))

	// Only the selected checks ran; compare those.
	selected := *res
	selected.Checks = nil
	ran := map[string]bool{}
	for _, c := range res.Checks {
		if c.Outcome == "skipped" && c.SkipReason == notSelected {
			continue
		}
		ran[c.ID] = true
		selected.Checks = append(selected.Checks, c)
	}
	focused := &expectation{OP: driverExp.OP}
	for _, c := range driverExp.Checks {
		if ran[c.ID] {
			focused.Checks = append(focused.Checks, c)
		}
	}
	if diffs := compareOutcome(&selected, focused); len(diffs) > 0 {
		t.Errorf("the outcome against oidc-provider with device manual differs from %s:\n  %s\n\nrun output:\n%s", exp.file, strings.Join(diffs, "\n  "), run.Output)
	}
	if res.Summary.Passed < 2 {
		t.Errorf("%d checks passed with --label-filter %q, want at least 2 (the filter no longer selects the device checks?)\n%s", res.Summary.Passed, manualLabelFilter, run.Output)
	}

	verbs := map[string]int{}
	for _, p := range op.prompts {
		verbs[p.Verb]++
		if _, ok := h.Target.User(p.User); !ok {
			t.Errorf("question for %s names user %q, not a user of target.yaml", p.AuthReqID, p.User)
		}
		if _, ok := h.Target.Client(p.Client); !ok {
			t.Errorf("question for %s names client %q, not a client of target.yaml", p.AuthReqID, p.Client)
		}
	}
	if verbs["APPROVE"] == 0 || verbs["DENY"] == 0 {
		t.Errorf("the operator was asked %v, want at least one approval and one denial\n%s", verbs, run.Output)
	}
	if len(op.prompts) > 0 && op.retries != 1 {
		t.Errorf("after a garbled answer the driver asked again %d times, want once\n%s", op.retries, run.Output)
	}
	for _, p := range op.problems {
		t.Errorf("operator: %s", p)
	}
}
