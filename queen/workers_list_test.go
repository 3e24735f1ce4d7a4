package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rbee-fleet/rbee/queen/hiveregistry"
	"github.com/rbee-fleet/rbee/queen/install"
	"github.com/rbee-fleet/rbee/queen/server"
	"github.com/rbee-fleet/rbee/shared/api"
)

// startPagedQueen serves a real queen (server.New on a SQLite hive
// registry) behind the fake queen's recorder, with perHive idle workers on
// each of hives online hives, registered through the register route.
func startPagedQueen(t *testing.T, hives, perHive int) *fakeQueen {
	t.Helper()
	reg, err := hiveregistry.Open(t.Context(), filepath.Join(t.TempDir(), "beehives.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	h := server.New(server.Config{Registry: reg, Token: testToken, Logger: slog.New(slog.DiscardHandler)}).Handler()
	for n := range hives {
		node := fmt.Sprintf("hive-%02d", n)
		hiveToken := addPagedHive(t, reg, node)
		for i := range perHive {
			w := api.Worker{ID: fmt.Sprintf("w-%02d-%04d", n, i), URL: "http://10.0.0.7:8081", ModelRef: tinyLlama,
				Backend: api.BackendCUDA, Device: i % 4, State: api.WorkerIdle, SlotsTotal: 4, SlotsAvailable: 4, StartedUnix: 1_760_000_000}
			body, _ := json.Marshal(w)
			req := httptest.NewRequest(http.MethodPost, "/v1/workers/register", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+hiveToken)
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusCreated {
				t.Fatalf("register %s: %d %s", w.ID, rec.Code, rec.Body)
			}
		}
	}
	return newFakeQueen(t, h.ServeHTTP)
}

// addPagedHive adds an online hive and returns its hive token.
func addPagedHive(t *testing.T, reg *hiveregistry.Registry, node string) string {
	t.Helper()
	n := api.Node{NodeName: node, SSHHost: "10.0.0.7", SSHPort: 22, SSHUser: "rbee", GitRepoURL: "https://github.com/rbee-fleet/rbee.git",
		GitBranch: "main", InstallPath: "~/rbee", AgentPort: 7835, Status: api.StatusOnline, Transport: api.TransportHTTP}
	if err := reg.Add(t.Context(), n); err != nil {
		t.Fatal(err)
	}
	hiveToken, _ := install.MintToken()
	agentToken, _ := install.MintToken()
	if err := reg.SetTokens(t.Context(), node, install.HashToken(hiveToken), agentToken); err != nil {
		t.Fatal(err)
	}
	return hiveToken
}

// TestWorkersListFollowsPages runs `workers list` against a real queen
// holding more workers than one page: the CLI follows the cursors to the
// end and prints every worker once, in the queen's order, in the output a
// single answer gave before there were pages.
func TestWorkersListFollowsPages(t *testing.T) {
	q := startPagedQueen(t, 3, 401) // 1,203 workers
	var all api.WorkerList
	for n := range 3 {
		for i := range 401 {
			all.Workers = append(all.Workers, api.Worker{ID: fmt.Sprintf("w-%02d-%04d", n, i), Node: fmt.Sprintf("hive-%02d", n)})
		}
	}

	t.Run("table, pages of 100", func(t *testing.T) {
		before := q.count()
		res := runQueen(t, q.args("workers", "list", "--limit", "100")...)
		if res.err != nil {
			t.Fatalf("workers list: %v", res.err)
		}
		lines := strings.Split(strings.TrimSuffix(res.stdout, "\n"), "\n")
		if len(lines) != 1+len(all.Workers) || !strings.HasPrefix(lines[0], "ID ") {
			t.Fatalf("%d lines, want a header and %d workers; first %q", len(lines), len(all.Workers), lines[0])
		}
		for i, w := range all.Workers {
			if f := strings.Fields(lines[i+1]); f[0] != w.ID || f[1] != w.Node {
				t.Fatalf("line %d = %q, want %s on %s", i+1, lines[i+1], w.ID, w.Node)
			}
		}
		if got := q.count() - before; got != 13 {
			t.Errorf("%d requests, want 13 pages of at most 100", got)
		}
		if last := q.last(t); last.path != "/v1/workers/list" {
			t.Errorf("last request %s", last.path)
		}
	})

	t.Run("json is one document, as the whole list", func(t *testing.T) {
		res := runQueen(t, q.args("--json", "workers", "list", "--limit", "500")...)
		if res.err != nil {
			t.Fatalf("workers list --json: %v", res.err)
		}
		var got api.WorkerList
		if err := json.Unmarshal([]byte(res.stdout), &got); err != nil {
			t.Fatalf("stdout is not one JSON document: %v", err)
		}
		if len(got.Workers) != len(all.Workers) {
			t.Fatalf("%d workers, want %d", len(got.Workers), len(all.Workers))
		}
		for i, w := range got.Workers {
			if w.ID != all.Workers[i].ID || w.Node != all.Workers[i].Node {
				t.Fatalf("worker %d = %s on %s, want %s on %s", i, w.ID, w.Node, all.Workers[i].ID, all.Workers[i].Node)
			}
		}
		if want := mustIndent(t, got); res.stdout != want {
			t.Errorf("streamed document differs from the indented whole list")
		}
	})

	t.Run("a filter is sent with every page", func(t *testing.T) {
		var queries []url.Values
		spy := newFakeQueen(t, func(w http.ResponseWriter, r *http.Request) {
			queries = append(queries, r.URL.Query())
			fwd := r.Clone(r.Context())
			fwd.URL.Host, fwd.URL.Scheme, fwd.RequestURI = "", "", ""
			resp, err := http.DefaultClient.Do(withURL(fwd, q.url))
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			w.WriteHeader(resp.StatusCode)
			_, _ = io.Copy(w, resp.Body)
		})
		res := runQueen(t, spy.args("workers", "list", "--capability", "cuda:2", "--node", "hive-01", "--limit", "40")...)
		if res.err != nil {
			t.Fatalf("workers list: %v", res.err)
		}
		if rows := strings.Count(res.stdout, "\n") - 1; rows != 100 || len(queries) != 3 {
			t.Fatalf("%d rows in %d pages, want 100 in 3", rows, len(queries))
		}
		for i, qv := range queries {
			if qv.Get("capability") != "cuda:2" || qv.Get("node") != "hive-01" || qv.Get("limit") != "40" || (i > 0) != (qv.Get("cursor") != "") {
				t.Errorf("page %d query %v", i, qv)
			}
		}
	})
}

// withURL points r at base, keeping its path and query.
func withURL(r *http.Request, base string) *http.Request {
	u, _ := url.Parse(base + r.URL.RequestURI())
	r.URL, r.Host = u, u.Host
	return r
}

func TestWorkersListLimitIsCheckedBeforeAnyRequest(t *testing.T) {
	for _, limit := range []string{"0", "-1", "5001"} {
		t.Run(limit, func(t *testing.T) {
			q := newFakeQueen(t, func(w http.ResponseWriter, r *http.Request) {})
			res := runQueen(t, q.args("workers", "list", "--limit="+limit)...)
			if limit == "0" { // the flag's zero value: the queen's default
				if q.count() != 1 {
					t.Errorf("--limit 0: %d requests, want one with the queen's default", q.count())
				}
				return
			}
			if res.err == nil || !strings.Contains(res.err.Error(), "check --limit") || q.count() != 0 {
				t.Errorf("--limit %s: err %v, %d requests; want a --limit error and no request", limit, res.err, q.count())
			}
		})
	}
}
