package server_test

import (
	"bytes"
	"context"
	"image/png"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/rbee-fleet/rbee/shared/api"
	"github.com/rbee-fleet/rbee/testenv/fleet"
)

// Screenshot size of the browser test.
const (
	shotWidth  = 1280
	shotHeight = 900
)

// chromium returns the headless browser's path, or skips the test.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("chromium is not installed: run scripts/install-deps.sh as root (Debian package chromium)")
	return ""
}

// TestStatusPageInBrowser drives the status page in headless Chromium
// against a real queen and a 3-host loopback fleet with real agents and
// workers: log in, see the 3 nodes and their workers, see a worker spawned
// through the API appear within 2 s without a reload (with its model ref
// shown as text, not markup), see a node turn stopped after `hive stop`,
// read the page at phone width, and scrape /metrics after it all.
func TestStatusPageInBrowser(t *testing.T) {
	browser := chromium(t)
	f := fleet.New(t, fleet.Options{Mode: fleet.Loopback, Hosts: 3, Prefix: "sp"})
	q := startWorkerQueen(t, "127.0.0.1")
	dumpAgentLogs(t, f)
	addNodes(t, q.queen, f)
	rep, _ := installNodes(t, q.queen, api.InstallRequest{All: true, Method: "upload"})
	requireResults(t, rep, api.ResultInstalled)
	var workers []api.Worker
	for _, h := range f.Hosts {
		workers = append(workers, q.mustSpawn(t, api.SpawnWorkerRequest{Node: h.Name, ModelRef: "hf:test/tiny-gguf"}))
	}
	ctx := browserContext(t, browser)

	t.Run("log in and see the fleet", func(t *testing.T) {
		run(t, ctx, chromedp.Navigate(q.url+"/"), chromedp.WaitVisible(chromedp.CSS("#token")),
			chromedp.SendKeys(chromedp.CSS("#token"), token), chromedp.Submit(chromedp.CSS("#token")),
			chromedp.WaitVisible(chromedp.CSS("#tb-n")))
		if got := count(t, ctx, "#tb-n tr"); got != 3 {
			t.Errorf("%d node rows, want 3", got)
		}
		for _, h := range f.Hosts {
			if st := text(t, ctx, "#n-"+h.Name+" [data-label=status]"); st != api.StatusOnline {
				t.Errorf("node %s shows %q, want online", h.Name, st)
			}
		}
		for _, w := range workers {
			if got := text(t, ctx, "#w-"+w.ID+" [data-label=node]"); got != w.Node {
				t.Errorf("worker %s shows node %q, want %s", w.ID, got, w.Node)
			}
		}
		if got := count(t, ctx, "#tb-i tr"); got != 3 {
			t.Errorf("%d install rows, want 3", got)
		}
	})

	evil := "hf:x/<script>window.pwned=1</script>"
	t.Run("a spawned worker appears within 2 s without a reload", func(t *testing.T) {
		eval[bool](t, ctx, `window.notReloaded = true`)
		w := q.mustSpawn(t, api.SpawnWorkerRequest{Node: f.Hosts[1].Name, ModelRef: evil})
		start := time.Now()
		wait(t, ctx, 2*time.Second, "#w-"+w.ID)
		t.Logf("worker %s on the page %v after its spawn returned", w.ID, time.Since(start).Round(time.Millisecond))
		stayed, pwned := eval[bool](t, ctx, `window.notReloaded === true`), eval[bool](t, ctx, `window.pwned === 1`)
		if !stayed {
			t.Error("the page reloaded")
		}
		if got := text(t, ctx, "#w-"+w.ID+" .model"); got != evil || pwned {
			t.Errorf("model shows %q (script ran: %v), want the ref as text", got, pwned)
		}
		if n := count(t, ctx, "#tb-w script"); n != 0 {
			t.Errorf("%d script elements in the workers table", n)
		}
	})

	t.Run("a stopped agent turns its node stopped", func(t *testing.T) {
		name := f.Hosts[2].Name
		q.hiveOp(t, name, "stop")
		wait(t, ctx, 2*time.Second, "#n-"+name+" .st-stopped")
	})

	t.Run("screenshots at 1280 px and phone width", func(t *testing.T) {
		dir := t.ArtifactDir()
		checkShot(t, screenshot(t, ctx, filepath.Join(dir, "status-page-1280.png")), shotWidth)
		run(t, ctx, chromedp.EmulateViewport(390, 844))
		checkShot(t, screenshot(t, ctx, filepath.Join(dir, "status-page-390.png")), 390)
		width := eval[int](t, ctx, `document.documentElement.scrollWidth`)
		if width > 390 {
			t.Errorf("at phone width the page is %d px wide: it scrolls sideways", width)
		}
	})

	t.Run("metrics match the registries", func(t *testing.T) {
		checkFleetMetrics(t, q)
	})
}

func browserContext(t *testing.T, browser string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.NoSandbox,
		chromedp.WindowSize(shotWidth, shotHeight), chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// Start the browser on ctx itself: a browser started by a step with a
	// derived context would end with that context.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

func run(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("browser: %v", err)
	}
}

// result runs one action and returns its result.
func result[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	return v
}

func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	return result(t, ctx, chromedp.Evaluate[T](expr))
}

// wait waits up to within for an element to match sel.
func wait(t *testing.T, ctx context.Context, within time.Duration, sel string) {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	if err := chromedp.Do(wctx, chromedp.WaitReady(chromedp.CSS(sel))); err != nil {
		t.Fatalf("%s not on the page within %v: %v", sel, within, err)
	}
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	return strings.TrimSpace(result(t, ctx, chromedp.TextContent(chromedp.CSS(sel))))
}

func count(t *testing.T, ctx context.Context, sel string) int {
	t.Helper()
	return eval[int](t, ctx, `document.querySelectorAll(`+jsString(sel)+`).length`)
}

func jsString(s string) string { return "'" + strings.ReplaceAll(s, "'", `\'`) + "'" }

func screenshot(t *testing.T, ctx context.Context, path string) []byte {
	t.Helper()
	buf := result(t, ctx, chromedp.FullScreenshot(100))
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", path, len(buf))
	return buf
}

// checkShot checks a screenshot is a PNG of the window's width with a
// page drawn on it (many colours, not a blank canvas).
func checkShot(t *testing.T, data []byte, width int) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	b := img.Bounds()
	if b.Dx() != width || b.Dy() < 400 {
		t.Errorf("screenshot is %dx%d, want %d wide and at least 400 high", b.Dx(), b.Dy(), width)
	}
	colours := map[uint32]bool{}
	for y := b.Min.Y; y < b.Max.Y; y += 3 {
		for x := b.Min.X; x < b.Max.X; x += 3 {
			r, g, bl, _ := img.At(x, y).RGBA()
			colours[r>>8<<16|g>>8<<8|bl>>8] = true
		}
	}
	if len(colours) < 20 {
		t.Errorf("screenshot has %d colours: nothing drawn", len(colours))
	}
}

// checkFleetMetrics scrapes /metrics, parses it with the Prometheus text
// parser and compares it with the registries.
func checkFleetMetrics(t *testing.T, q *restartableQueen) {
	t.Helper()
	resp := q.do(t, "GET", "/metrics", nil, token, false)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("metrics: %s", resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("metrics do not parse: %v", err)
	}
	nodes := q.nodes(t)
	byStatus := map[string]float64{}
	for _, n := range nodes {
		byStatus[n.Status]++
	}
	for _, st := range api.Statuses() {
		if got := sample(families, "rbee_queen_nodes", map[string]string{"status": st}); got != byStatus[st] {
			t.Errorf("rbee_queen_nodes{status=%q} = %v, registry has %v", st, got, byStatus[st])
		}
	}
	ws := q.workers(t, "")
	if got := sum(families, "rbee_queen_workers"); got != float64(len(ws)) || len(ws) == 0 {
		t.Errorf("sum(rbee_queen_workers) = %v, registry lists %d", got, len(ws))
	}
	if got := sample(families, "rbee_queen_install_runs_total", map[string]string{"result": api.ResultInstalled}); got != 3 {
		t.Errorf("install runs installed = %v, want 3", got)
	}
	if h := families["rbee_queen_install_phase_duration_seconds"]; h == nil || len(h.Metric) < 3 {
		t.Errorf("no install phase histogram: %v", h)
	}
	for name, min := range map[string]float64{"rbee_queen_heartbeats_total": 3, "rbee_queen_ssh_handshakes_total": 3, "rbee_queen_http_requests_total": 10} {
		if got := sum(families, name); got < min {
			t.Errorf("%s = %v, want at least %v", name, got, min)
		}
	}
}

// sample returns the value of the series of name with exactly labels, 0
// when there is none.
func sample(families map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	for _, m := range metricsOf(families, name) {
		if len(m.GetLabel()) != len(labels) {
			continue
		}
		match := true
		for _, l := range m.GetLabel() {
			match = match && labels[l.GetName()] == l.GetValue()
		}
		if match {
			return value(m)
		}
	}
	return 0
}

// sum adds the values of every series of name.
func sum(families map[string]*dto.MetricFamily, name string) float64 {
	total := 0.0
	for _, m := range metricsOf(families, name) {
		total += value(m)
	}
	return total
}

func metricsOf(families map[string]*dto.MetricFamily, name string) []*dto.Metric {
	if f := families[name]; f != nil {
		return f.GetMetric()
	}
	return nil
}

func value(m *dto.Metric) float64 {
	switch {
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue()
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	}
	return 0
}
