package browsertest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/ciba-check/ciba-check/reports"
)

// chromiumNames are the binaries tried, Debian's first.
var chromiumNames = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"}

// findChromium returns the browser to drive: $CIBA_CHECK_CHROMIUM, or the
// first of chromiumNames on $PATH.
func findChromium() string {
	if p := os.Getenv("CIBA_CHECK_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range chromiumNames {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// artifactDir is where screenshots go for a person to look at: kept by
// CI as an artifact ($CIBA_CHECK_ARTIFACTS), ignored by git otherwise
// (reports/.gitignore).
func artifactDir(t *testing.T) string {
	dir := os.Getenv("CIBA_CHECK_ARTIFACTS")
	if dir == "" {
		dir = "artifacts"
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browserRecorder collects what the page tried to load and what the
// browser logged (CSP violations and script errors land there).
type browserRecorder struct {
	mu       sync.Mutex
	requests []string
	logs     []string
}

func (r *browserRecorder) listen(ev any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch e := ev.(type) {
	case *network.EventRequestWillBeSent:
		r.requests = append(r.requests, e.Request.URL)
	case *cdplog.EventEntryAdded:
		r.logs = append(r.logs, string(e.Entry.Source)+" "+string(e.Entry.Level)+": "+e.Entry.Text)
	}
}

func (r *browserRecorder) snapshot() (requests, logs []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.requests...), append([]string(nil), r.logs...)
}

// wantOnly fails t for every request the page made but for pageURL and
// every line the browser logged.
func (r *browserRecorder) wantOnly(t *testing.T, pageURL string) {
	t.Helper()
	requests, logs := r.snapshot()
	for _, u := range requests {
		if u != pageURL {
			t.Errorf("the page tried to load %s", u)
		}
	}
	for _, l := range logs {
		t.Errorf("browser logged: %s", l)
	}
}

// TestHTMLInBrowser opens a rendered report in headless Chromium with the
// network cut off, with JavaScript on and off, and checks what a reader
// sees. Without Chromium it skips, except in CI (CI=true), where a
// missing browser is a failure: install Debian's chromium package.
func TestHTMLInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	browser := findChromium()
	if browser == "" {
		msg := "no Chromium found (looked for $CIBA_CHECK_CHROMIUM and " + strings.Join(chromiumNames, ", ") + " on $PATH); install it with: apt-get install -y chromium"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	// The page is package reports' sample model, read from its JSON golden
	// file (kept current by TestRenderJSON) and rendered by this build: 26
	// checks (20 passed, 3 failed, 3 skipped), hostile OP text, and a poll
	// and a ping load run.
	sample, err := os.Open(filepath.Join("..", "testdata", "TestRenderJSON.json.golden"))
	if err != nil {
		t.Fatalf("reading the sample model: %v", err)
	}
	m, err := reports.DecodeJSON(sample)
	sample.Close()
	if err != nil {
		t.Fatal(err)
	}
	var html bytes.Buffer
	if err := reports.RenderHTML(&html, m); err != nil {
		t.Fatal(err)
	}
	page := filepath.Join(t.TempDir(), "report.html")
	if err := os.WriteFile(page, html.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	pageURL := "file://" + page

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		// Every host name fails to resolve: the page has no network.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1600),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()

	t.Run("javascript on", func(t *testing.T) {
		rec := &browserRecorder{}
		tab, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithListener(rec.listen))
		defer cancelTab()
		if err := chromedp.Do(tab, chromedp.Navigate(pageURL), chromedp.WaitVisible(chromedp.CSS("#verdict"))); err != nil {
			t.Fatalf("opening the report: %v", err)
		}
		verdict, err := chromedp.Run(tab, chromedp.Text(chromedp.CSS("#verdict")))
		if err != nil || verdict != "Failed" {
			t.Errorf("verdict = %q (%v), want Failed", verdict, err)
		}
		counts, err := chromedp.Run(tab, chromedp.Evaluate[[]string](`["passed","warning","failed","skipped"].map(o => document.getElementById("count-"+o).textContent)`))
		if err != nil || strings.Join(counts, " ") != "19 1 3 3" {
			t.Errorf("verdict counts = %v (%v), want 19 1 3 3", counts, err)
		}
		state, err := chromedp.Run(tab, chromedp.Evaluate[map[string]any](`({
			js: document.documentElement.classList.contains("js"),
			filtersShown: getComputedStyle(document.getElementById("filters")).display !== "none",
			checks: document.querySelectorAll("details.check").length,
			failedOpen: [...document.querySelectorAll("details.check.o-failed")].every(d => d.open),
			failedNames: [...document.querySelectorAll("details.check.o-failed .cname")].map(e => e.textContent),
			charts: document.querySelectorAll("figure.chart svg").length,
			lines: document.querySelectorAll("figure.chart polyline").length,
			matrixTiles: document.querySelectorAll(".mtiles a").length,
			failedTiles: [...document.querySelectorAll(".mtiles a.mt-failed .mnum")].map(e => e.textContent).join(" "),
			warningTiles: [...document.querySelectorAll(".mtiles a.mt-warning .mnum")].map(e => e.textContent).join(" "),
			warningOpen: [...document.querySelectorAll("details.check.o-warning")].every(d => d.open),
			warningColor: getComputedStyle(document.querySelector("details.check.o-warning .badge")).color,
			pwned: typeof window.__pwned,
			hostileShown: document.body.textContent.includes("<script>window.__pwned=1</script>"),
			width: document.documentElement.scrollWidth
		})`))
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"js": true, "filtersShown": true, "checks": float64(26), "failedOpen": true,
			"charts": float64(9), "matrixTiles": float64(11), "failedTiles": "7.1 7.3 10.1 11 13", "warningTiles": "7.1.1", "warningOpen": true, "warningColor": "rgb(154, 103, 0)", "pwned": "undefined", "hostileShown": true}
		for k, v := range want {
			if state[k] != v {
				t.Errorf("%s = %v, want %v", k, state[k], v)
			}
		}
		if names, _ := state["failedNames"].([]any); len(names) != 3 {
			t.Errorf("failed checks shown: %v, want 3", state["failedNames"])
		}
		if w, _ := state["width"].(float64); w > 1280 {
			t.Errorf("page is %v px wide in a 1280 px window: something overflows", w)
		}

		// The outcome filter leaves only failures; the section filter
		// narrows to one section; both report what is shown.
		visible := `[...document.querySelectorAll("details.check")].filter(d => d.offsetParent !== null).map(d => d.dataset.outcome + " " + d.dataset.section)`
		if err := chromedp.Do(tab, chromedp.Click(chromedp.CSS(`#filters button[data-outcome="failed"]`))); err != nil {
			t.Fatal(err)
		}
		shown, err := chromedp.Run(tab, chromedp.Evaluate[[]string](visible))
		if err != nil || len(shown) != 3 || !allHavePrefix(shown, "failed ") {
			t.Errorf("after filtering failed: %v (%v), want the 3 failures", shown, err)
		}
		// The warning filter leaves only the warning, never shown among passes.
		if err := chromedp.Do(tab, chromedp.Click(chromedp.CSS(`#filters button[data-outcome="warning"]`))); err != nil {
			t.Fatal(err)
		}
		if shown, err := chromedp.Run(tab, chromedp.Evaluate[[]string](visible)); err != nil || len(shown) != 1 || !allHavePrefix(shown, "warning ") {
			t.Errorf("after filtering warnings: %v (%v), want the 1 warning", shown, err)
		}
		if err := chromedp.Do(tab, chromedp.Click(chromedp.CSS(`#filters button[data-outcome="passed"]`))); err != nil {
			t.Fatal(err)
		}
		if shown, err := chromedp.Run(tab, chromedp.Evaluate[[]string](visible)); err != nil || len(shown) != 19 || !allHavePrefix(shown, "passed ") {
			t.Errorf("after filtering passed: %d shown (%v), want the 19 passes only", len(shown), err)
		}
		if err := chromedp.Do(tab, chromedp.Click(chromedp.CSS(`#filters button[data-outcome="failed"]`))); err != nil {
			t.Fatal(err)
		}
		full, err := chromedp.Run(tab, chromedp.FullScreenshot(90))
		if err == nil {
			err = os.WriteFile(filepath.Join(artifactDir(t), "report-failed-filter.jpeg"), full, 0o644)
		}
		if err != nil {
			t.Errorf("screenshot: %v", err)
		}
		if err := chromedp.Do(tab,
			chromedp.Click(chromedp.CSS(`#filters button[data-outcome="all"]`)),
			chromedp.SetValue(chromedp.CSS("#section-filter"), "CIBA-10.2"),
			chromedp.Evaluate[chromedp.Void](`document.getElementById("section-filter").dispatchEvent(new Event("change"))`),
		); err != nil {
			t.Fatal(err)
		}
		shown, err = chromedp.Run(tab, chromedp.Evaluate[[]string](visible))
		if err != nil || strings.Join(shown, ",") != "skipped CIBA-10.2,skipped CIBA-10.2" {
			t.Errorf("after filtering CIBA-10.2: %v (%v), want its 2 skipped checks", shown, err)
		}
		// A matrix tile filters by its section too, list items included
		// (FAPI-CIBA-5.2.2-9 is in FAPI-CIBA-5.2.2).
		if err := chromedp.Do(tab, chromedp.Click(chromedp.CSS(`.mtiles a[data-section="FAPI-CIBA-5.2.2"]`))); err != nil {
			t.Fatal(err)
		}
		shown, err = chromedp.Run(tab, chromedp.Evaluate[[]string](visible))
		if err != nil || len(shown) != 6 {
			t.Errorf("after clicking the FAPI-CIBA-5.2.2 tile: %v (%v), want its 6 checks", shown, err)
		}
		if sel, err := chromedp.Run(tab, chromedp.Value(chromedp.CSS("#section-filter"))); err != nil || sel != "FAPI-CIBA-5.2.2" {
			t.Errorf("section select shows %q (%v) after the tile click", sel, err)
		}
		if err := chromedp.Do(tab,
			chromedp.SetValue(chromedp.CSS("#section-filter"), ""),
			chromedp.Evaluate[chromedp.Void](`document.getElementById("section-filter").dispatchEvent(new Event("change"))`),
		); err != nil {
			t.Fatal(err)
		}

		// Screenshots for a person: the whole page, and a phone.
		full, err = chromedp.Run(tab, chromedp.FullScreenshot(90))
		if err == nil {
			err = os.WriteFile(filepath.Join(artifactDir(t), "report-desktop.jpeg"), full, 0o644)
		}
		if err != nil {
			t.Errorf("screenshot: %v", err)
		}
		if err := chromedp.Do(tab, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile)); err != nil {
			t.Fatal(err)
		}
		phoneWidth, err := chromedp.Run(tab, chromedp.Evaluate[float64](`document.documentElement.scrollWidth`))
		if err != nil || phoneWidth > 390 {
			t.Errorf("on a 390 px phone the page is %v px wide (%v): it must not scroll sideways", phoneWidth, err)
		}
		phone, err := chromedp.Run(tab, chromedp.FullScreenshot(80))
		if err == nil {
			err = os.WriteFile(filepath.Join(artifactDir(t), "report-phone.jpeg"), phone, 0o644)
		}
		if err != nil {
			t.Errorf("phone screenshot: %v", err)
		}
		pdf, err := chromedp.Run(tab, chromedp.PrintToPDF())
		if err == nil {
			err = os.WriteFile(filepath.Join(artifactDir(t), "report-print.pdf"), pdf, 0o644)
		}
		if err != nil || len(pdf) < 10_000 {
			t.Errorf("printing to PDF: %d bytes, %v", len(pdf), err)
		}

		rec.wantOnly(t, pageURL)
	})

	// The harness itself must see what it guards against, or the checks
	// above could pass on a page that loads things.
	t.Run("harness sees external loads and CSP violations", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "bad.html")
		html := `<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src https:"></head>` +
			`<body><p id="x">x</p><img src="https://cdn.example.com/logo.png"><script>document.title = "ran"</script></body></html>`
		if err := os.WriteFile(bad, []byte(html), 0o644); err != nil {
			t.Fatal(err)
		}
		rec := &browserRecorder{}
		tab, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithListener(rec.listen))
		defer cancelTab()
		if err := chromedp.Do(tab, chromedp.Navigate("file://"+bad), chromedp.WaitVisible(chromedp.CSS("#x"))); err != nil {
			t.Fatal(err)
		}
		// Events arrive asynchronously; poll briefly for both.
		deadline := time.Now().Add(10 * time.Second)
		for {
			requests, logs := rec.snapshot()
			sawImage := slices.ContainsFunc(requests, func(u string) bool { return strings.HasPrefix(u, "https://cdn.example.com/") })
			sawCSP := slices.ContainsFunc(logs, func(l string) bool { return strings.Contains(l, "Content Security Policy") })
			if sawImage && sawCSP {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the recorder missed the external image (%v) or the CSP violation (%v)", requests, logs)
			}
			if _, err := chromedp.Run(tab, chromedp.Evaluate[float64](`1`)); err != nil {
				t.Fatal(err)
			}
		}
	})

	t.Run("javascript off", func(t *testing.T) {
		rec := &browserRecorder{}
		tab, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithListener(rec.listen))
		defer cancelTab()
		noJS := chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
			return err
		})
		if err := chromedp.Do(tab, noJS, chromedp.Navigate(pageURL), chromedp.WaitVisible(chromedp.CSS("#verdict"))); err != nil {
			t.Fatalf("opening the report: %v", err)
		}
		verdict, err := chromedp.Run(tab, chromedp.Text(chromedp.CSS("#verdict")))
		if err != nil || verdict != "Failed" {
			t.Errorf("verdict = %q (%v), want Failed", verdict, err)
		}
		// Evaluate runs through the protocol even with page scripts off.
		state, err := chromedp.Run(tab, chromedp.Evaluate[map[string]any](`({
			js: document.documentElement.classList.contains("js"),
			filtersShown: getComputedStyle(document.getElementById("filters")).display !== "none",
			visibleChecks: [...document.querySelectorAll("details.check")].filter(d => d.offsetParent !== null).length,
			failedOpen: [...document.querySelectorAll("details.check.o-failed")].every(d => d.open),
			charts: document.querySelectorAll("figure.chart svg").length
		})`))
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"js": false, "filtersShown": false, "visibleChecks": float64(26), "failedOpen": true, "charts": float64(9)}
		for k, v := range want {
			if state[k] != v {
				t.Errorf("%s = %v, want %v", k, state[k], v)
			}
		}
		rec.wantOnly(t, pageURL)
	})
}

func allHavePrefix(ss []string, prefix string) bool {
	for _, s := range ss {
		if !strings.HasPrefix(s, prefix) {
			return false
		}
	}
	return true
}
