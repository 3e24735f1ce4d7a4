package statuspage_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/queen/hiveregistry"
	"github.com/rbee-fleet/rbee/queen/statuspage"
	"github.com/rbee-fleet/rbee/queen/workerregistry"
	"github.com/rbee-fleet/rbee/shared/api"
)

const token = "status-page-test-token-0123456789abcdef"

// site is a status page over a real SQLite hive registry and a real
// worker registry, served on loopback.
type site struct {
	url     string
	reg     *hiveregistry.Registry
	workers *workerregistry.Registry
	token   atomic.Pointer[string]
	handler http.Handler
}

func newSite(t testing.TB, nodes, workersPerNode int) *site {
	t.Helper()
	reg, err := hiveregistry.Open(t.Context(), filepath.Join(t.TempDir(), "beehives.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	s := &site{reg: reg, workers: workerregistry.New()}
	tok := token
	s.token.Store(&tok)
	now := time.Now()
	for i := range nodes {
		name := fmt.Sprintf("gpu-%04d", i)
		addNode(t, reg, name)
		for j := range workersPerNode {
			s.addWorker(t, name, fmt.Sprintf("w-%04d%06d", i, j), "hf:test/model-"+fmt.Sprint(j%4), now)
		}
	}
	s.handler = statuspage.New(statuspage.Config{Nodes: reg, Workers: s.workers,
		CheckToken: func(got string) bool { return got == *s.token.Load() }})
	srv := httptest.NewServer(s.handler)
	t.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

func addNode(t testing.TB, reg *hiveregistry.Registry, name string) {
	t.Helper()
	err := reg.Add(t.Context(), api.Node{NodeName: name, SSHHost: "10.0.0.7", SSHPort: 22, SSHUser: "rbee",
		GitRepoURL: "https://example.com/rbee.git", GitBranch: "main", InstallPath: "~/rbee", AgentPort: 7835,
		Transport: api.TransportHTTP, Status: api.StatusOnline, InstalledCommit: strings.Repeat("3f2a9c1d", 5)})
	if err != nil {
		t.Fatalf("add %s: %v", name, err)
	}
}

func (s *site) addWorker(t testing.TB, node, id, model string, now time.Time) {
	t.Helper()
	w := api.Worker{ID: id, Node: node, ModelRef: model, Backend: "cpu", State: api.WorkerIdle,
		URL: "http://10.0.0.7:8081", SlotsTotal: 4, SlotsAvailable: 3}
	if _, err := s.workers.Register(node, w, now); err != nil {
		t.Fatal(err)
	}
}

// client returns an HTTP client with a cookie jar that does not follow
// redirects.
func client(t testing.TB) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// login posts tok to the login form and returns the answer.
func (s *site) login(t testing.TB, c *http.Client, tok string, header map[string]string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("POST", s.url+"/ui/login", strings.NewReader(url.Values{"token": {tok}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// loggedIn returns a client with a session.
func (s *site) loggedIn(t testing.TB) *http.Client {
	t.Helper()
	c := client(t)
	if resp := s.login(t, c, token, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %s", resp.Status)
	}
	return c
}

func get(t testing.TB, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

var (
	seqAttr = regexp.MustCompile(`data-seq="(\d+)"`)
	csrfIn  = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
)

func TestLoginSetsAStrictHttpOnlyCookie(t *testing.T) {
	s := newSite(t, 1, 1)
	c := client(t)
	resp := s.login(t, c, token, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("login: %s to %q", resp.Status, resp.Header.Get("Location"))
	}
	cookies := resp.Cookies()
	if len(cookies) != 1 || !cookies[0].HttpOnly || cookies[0].SameSite != http.SameSiteStrictMode ||
		cookies[0].Path != "/" || len(cookies[0].Value) < 40 || strings.Contains(cookies[0].Value, token) {
		t.Fatalf("session cookie %+v", cookies)
	}
	r, body := get(t, c, s.url+"/")
	if r.StatusCode != 200 || !strings.Contains(body, `id="n-gpu-0000"`) || !strings.Contains(body, `id="w-w-0000000000"`) {
		t.Fatalf("page after login: %s\n%.400s", r.Status, body)
	}
	if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP %q", csp)
	}
}

// TestRefusals: every way in without a valid session, and every
// state-changing request without its checks, is refused.
func TestRefusals(t *testing.T) {
	s := newSite(t, 1, 1)
	tests := []struct {
		name     string
		do       func(t *testing.T) *http.Response
		want     int
		location string
	}{
		{name: "wrong token on the login", want: http.StatusUnauthorized, do: func(t *testing.T) *http.Response {
			return s.login(t, client(t), "not-the-token", nil)
		}},
		{name: "empty token on the login", want: http.StatusUnauthorized, do: func(t *testing.T) *http.Response {
			return s.login(t, client(t), "", nil)
		}},
		{name: "cross-site login with the right token", want: http.StatusForbidden, do: func(t *testing.T) *http.Response {
			return s.login(t, client(t), token, map[string]string{"Sec-Fetch-Site": "cross-site"})
		}},
		{name: "login from another origin", want: http.StatusForbidden, do: func(t *testing.T) *http.Response {
			return s.login(t, client(t), token, map[string]string{"Origin": "https://evil.example"})
		}},
		{name: "page without a cookie", want: http.StatusSeeOther, location: "/ui/login", do: func(t *testing.T) *http.Response {
			r, _ := get(t, client(t), s.url+"/")
			return r
		}},
		{name: "page with a forged cookie", want: http.StatusSeeOther, location: "/ui/login", do: func(t *testing.T) *http.Response {
			return withCookie(t, "GET", s.url+"/", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "", nil)
		}},
		{name: "updates without a cookie", want: http.StatusUnauthorized, do: func(t *testing.T) *http.Response {
			r, _ := get(t, client(t), s.url+"/ui/updates?since=1")
			return r
		}},
		{name: "updates with a forged cookie", want: http.StatusUnauthorized, do: func(t *testing.T) *http.Response {
			return withCookie(t, "GET", s.url+"/ui/updates?since=1", "forged", "", nil)
		}},
		{name: "cross-site logout with the session and its CSRF token", want: http.StatusForbidden, do: func(t *testing.T) *http.Response {
			cookie, csrf := s.session(t)
			return withCookie(t, "POST", s.url+"/ui/logout", cookie, "csrf="+csrf, map[string]string{"Sec-Fetch-Site": "cross-site"})
		}},
		{name: "logout without the CSRF token", want: http.StatusForbidden, do: func(t *testing.T) *http.Response {
			cookie, _ := s.session(t)
			return withCookie(t, "POST", s.url+"/ui/logout", cookie, "", nil)
		}},
		{name: "logout with another session's CSRF token", want: http.StatusForbidden, do: func(t *testing.T) *http.Response {
			cookie, _ := s.session(t)
			_, other := s.session(t)
			return withCookie(t, "POST", s.url+"/ui/logout", cookie, "csrf="+other, nil)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := tt.do(t)
			if resp.StatusCode != tt.want || resp.Header.Get("Location") != tt.location {
				t.Fatalf("got %s to %q, want %d to %q", resp.Status, resp.Header.Get("Location"), tt.want, tt.location)
			}
			if len(resp.Cookies()) > 0 && resp.Cookies()[0].Value != "" {
				t.Errorf("a refused request got a session cookie: %+v", resp.Cookies())
			}
		})
	}
}

// session logs in and returns the session cookie's value and the page's
// CSRF token.
func (s *site) session(t *testing.T) (cookie, csrf string) {
	t.Helper()
	c := s.loggedIn(t)
	u, _ := url.Parse(s.url)
	cookie = c.Jar.Cookies(u)[0].Value
	_, body := get(t, c, s.url+"/")
	m := csrfIn.FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no CSRF token on the page")
	}
	return cookie, m[1]
}

func withCookie(t *testing.T, method, u, cookie, form string, header map[string]string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(form))
	req.AddCookie(&http.Cookie{Name: "rbee_session", Value: cookie})
	if form != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestLogoutEndsTheSession(t *testing.T) {
	s := newSite(t, 1, 0)
	cookie, csrf := s.session(t)
	if resp := withCookie(t, "POST", s.url+"/ui/logout", cookie, "csrf="+csrf, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %s", resp.Status)
	}
	if resp := withCookie(t, "GET", s.url+"/", cookie, "", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("page after logout: %s, want a redirect to the login", resp.Status)
	}
}

func TestRotatedTokenEndsTheSession(t *testing.T) {
	s := newSite(t, 1, 0)
	c := s.loggedIn(t)
	rotated := "rotated-token-fedcba9876543210"
	s.token.Store(&rotated)
	if r, _ := get(t, c, s.url+"/"); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("page with a session of the old token: %s, want a redirect to the login", r.Status)
	}
}

// TestFieldsAreEscaped: markup in a model ref and in an install's error
// and hint (fields that admit it; node names are DNS-safe) shows as
// text, on the page and in the live updates.
func TestFieldsAreEscaped(t *testing.T) {
	s := newSite(t, 1, 0)
	evil := "hf:x/<script>alert(1)</script>"
	s.addWorker(t, "gpu-0000", "w-evil000001", evil, time.Now())
	rec := api.NewInstallRecord(api.InstallResult{Node: "gpu-0000", Result: api.ResultFailed, Phase: "build",
		Error: &api.ErrorDetail{Message: `<img src=x onerror="alert(2)">`, Hint: "<b>run</b> it"}}, time.Now().Unix())
	if err := s.reg.RecordInstall(t.Context(), "gpu-0000", rec); err != nil {
		t.Fatal(err)
	}
	c := s.loggedIn(t)
	_, body := get(t, c, s.url+"/")
	for _, bad := range []string{"<script>alert", "<img src=x", "<b>run</b>"} {
		if strings.Contains(body, bad) {
			t.Errorf("the page has %q unescaped", bad)
		}
	}
	for _, good := range []string{"hf:x/&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;img src=x onerror=&#34;alert(2)&#34;&gt;", "&lt;b&gt;run&lt;/b&gt; it"} {
		if !strings.Contains(body, good) {
			t.Errorf("the page lacks %q", good)
		}
	}
	seq := seqOf(t, body)
	time.Sleep(1100 * time.Millisecond) // past the view's refresh interval
	s.addWorker(t, "gpu-0000", "w-evil000002", evil, time.Now())
	u := poll(t, c, s.url, seq)
	if len(u.Rows) == 0 {
		t.Fatalf("no rows in the update %+v", u)
	}
	for _, r := range u.Rows {
		if strings.Contains(r.HTML, "<script") {
			t.Errorf("update row %s has markup from a field: %s", r.Key, r.HTML)
		}
	}
}

func seqOf(t testing.TB, body string) uint64 {
	t.Helper()
	m := seqAttr.FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no data-seq on the page")
	}
	var n uint64
	fmt.Sscan(m[1], &n)
	return n
}

// updateAnswer is the JSON of GET /ui/updates.
type updateAnswer struct {
	Seq    uint64           `json:"seq"`
	Reload bool             `json:"reload"`
	Rows   []updateRow      `json:"rows"`
	Gone   []updateRow      `json:"gone"`
	Beats  map[string]int64 `json:"beats"`
}

type updateRow struct {
	Kind string `json:"t"`
	Key  string `json:"k"`
	HTML string `json:"h"`
}

func poll(t testing.TB, c *http.Client, base string, since uint64) updateAnswer {
	t.Helper()
	r, body := get(t, c, fmt.Sprintf("%s/ui/updates?since=%d", base, since))
	if r.StatusCode != 200 {
		t.Fatalf("updates: %s %s", r.Status, body)
	}
	var u updateAnswer
	if err := json.Unmarshal([]byte(body), &u); err != nil {
		t.Fatalf("updates %q: %v", body, err)
	}
	return u
}

func keys(rows []updateRow) []string {
	var out []string
	for _, r := range rows {
		out = append(out, r.Kind+"-"+r.Key)
	}
	return out
}

// TestUpdatesCarryOnlyChanges: a poll answers the rows that changed since
// the page's sequence number, and nothing when nothing changed.
func TestUpdatesCarryOnlyChanges(t *testing.T) {
	s := newSite(t, 3, 2)
	c := s.loggedIn(t)
	_, body := get(t, c, s.url+"/")
	seq := seqOf(t, body)
	if u := poll(t, c, s.url, seq); len(u.Rows)+len(u.Gone) != 0 || u.Reload || u.Seq != seq {
		t.Fatalf("nothing changed, got %+v", u)
	}
	time.Sleep(1100 * time.Millisecond)
	s.addWorker(t, "gpu-0001", "w-new0000001", "hf:test/new", time.Now())
	if _, err := s.workers.Remove("gpu-0002", "w-0002000000"); err != nil {
		t.Fatal(err)
	}
	u := poll(t, c, s.url, seq)
	got, gone := strings.Join(keys(u.Rows), " "), strings.Join(keys(u.Gone), " ")
	// The new worker and the two nodes whose worker counts changed; the
	// summary (6 idle workers) stays as it was.
	for _, want := range []string{"w-w-new0000001", "n-gpu-0001", "n-gpu-0002"} {
		if !strings.Contains(got, want) {
			t.Errorf("rows %q lack %s", got, want)
		}
	}
	if strings.Contains(got, "n-gpu-0000") || strings.Contains(got, "w-w-0000000000") || strings.Contains(got, "s-all") {
		t.Errorf("rows %q have unchanged rows", got)
	}
	if gone != "w-w-0002000000" {
		t.Errorf("gone %q, want the removed worker", gone)
	}
	if again := poll(t, c, s.url, u.Seq); len(again.Rows)+len(again.Gone) != 0 {
		t.Errorf("second poll %+v, want nothing", again)
	}
	for _, stale := range []uint64{0, u.Seq + 1000} {
		if r := poll(t, c, s.url, stale); !r.Reload {
			t.Errorf("since=%d: %+v, want reload", stale, r)
		}
	}
}

func TestAssetsAreEmbedded(t *testing.T) {
	s := newSite(t, 0, 0)
	for _, p := range []string{"/ui/static/app.js", "/ui/static/style.css"} {
		r, body := get(t, client(t), s.url+p)
		if r.StatusCode != 200 || len(body) < 500 {
			t.Errorf("%s: %s, %d bytes", p, r.Status, len(body))
		}
	}
	if r, _ := get(t, client(t), s.url+"/ui/nothing"); r.StatusCode != http.StatusNotFound {
		t.Errorf("unknown /ui/ path: %s", r.Status)
	}
}

// TestRegistryWriteShowsAtNextRefresh: the view keeps the nodes it read
// until the registry is written, and a write (a status change) shows at
// the next refresh.
func TestRegistryWriteShowsAtNextRefresh(t *testing.T) {
	s := newSite(t, 3, 1)
	c := s.loggedIn(t)
	_, body := get(t, c, s.url+"/")
	seq := seqOf(t, body)
	time.Sleep(1100 * time.Millisecond)
	if u := poll(t, c, s.url, seq); len(u.Rows) != 0 {
		t.Fatalf("nothing written, got rows %v", keys(u.Rows))
	}
	if err := s.reg.SetStatus(t.Context(), "gpu-0001", api.StatusStopped, nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	u := poll(t, c, s.url, seq)
	var row string
	for _, r := range u.Rows {
		if r.Kind+"-"+r.Key == "n-gpu-0001" {
			row = r.HTML
		}
	}
	if !strings.Contains(row, "st-stopped") {
		t.Errorf("after the status write the node row is %q (rows %v), want it stopped", row, keys(u.Rows))
	}
}
