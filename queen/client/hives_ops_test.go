package client_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/rbee-fleet/rbee/queen/client"
	"github.com/rbee-fleet/rbee/shared/api"
)

func TestHiveOperationRequests(t *testing.T) {
	status := api.HiveStatus{Node: "gpu-1", Status: api.StatusOnline, AgentURL: "http://10.0.0.7:7835", AgentPID: 4242, Healthy: true}
	tests := []struct {
		name       string
		call       func(ctx context.Context, c *client.Client, onEvent func(api.Event)) (any, error)
		wantReq    string
		wantBody   string
		wantAccept string
	}{
		{
			name: "uninstall",
			call: func(ctx context.Context, c *client.Client, on func(api.Event)) (any, error) {
				return c.Uninstall(ctx, "gpu-1", api.UninstallRequest{KeepSource: true}, on)
			},
			wantReq: "POST /v1/hives/gpu-1/uninstall", wantBody: `{"keep_source":true}`, wantAccept: api.ContentTypeNDJSON,
		},
		{
			name: "uninstall everything",
			call: func(ctx context.Context, c *client.Client, on func(api.Event)) (any, error) {
				return c.Uninstall(ctx, "gpu-1", api.UninstallRequest{}, on)
			},
			wantReq: "POST /v1/hives/gpu-1/uninstall", wantBody: `{}`, wantAccept: api.ContentTypeNDJSON,
		},
		{
			name: "start",
			call: func(ctx context.Context, c *client.Client, on func(api.Event)) (any, error) {
				return c.StartHive(ctx, "gpu-1", on)
			},
			wantReq: "POST /v1/hives/gpu-1/start", wantAccept: api.ContentTypeNDJSON,
		},
		{
			name: "stop",
			call: func(ctx context.Context, c *client.Client, on func(api.Event)) (any, error) {
				return c.StopHive(ctx, "gpu-1", on)
			},
			wantReq: "POST /v1/hives/gpu-1/stop", wantAccept: api.ContentTypeNDJSON,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var gotReq, gotBody, gotAccept string
			url := fakeQueen(t, func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				gotReq, gotBody, gotAccept = r.Method+" "+r.URL.Path, string(body), r.Header.Get("Accept")
				writeEvents(t, w,
					api.Event{Level: api.LevelInfo, Node: "gpu-1", Phase: "connect", Message: "connected", ElapsedMS: 120},
					resultEvent(t, "✅ done", status))
			})
			var msgs []string
			got, err := tt.call(t.Context(), client.New(url, testToken), func(ev api.Event) { msgs = append(msgs, ev.Message) })
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			if gotReq != tt.wantReq || gotAccept != tt.wantAccept {
				t.Errorf("request = %s (Accept %q), want %s (Accept %q)", gotReq, gotAccept, tt.wantReq, tt.wantAccept)
			}
			if strings.TrimSpace(gotBody) != tt.wantBody {
				t.Errorf("body = %q, want %q", gotBody, tt.wantBody)
			}
			if !reflect.DeepEqual(got, status) {
				t.Errorf("status = %+v, want %+v", got, status)
			}
			if want := []string{"connected", "✅ done"}; !reflect.DeepEqual(msgs, want) {
				t.Errorf("events = %q, want %q", msgs, want)
			}
		})
	}
}

func TestHiveStatus(t *testing.T) {
	want := api.HiveStatus{Node: "gpu-1", Status: api.StatusOffline, LastHeartbeatUnix: 1760000000, HealthError: "connection refused"}
	var gotReq string
	url := fakeQueen(t, func(w http.ResponseWriter, r *http.Request) {
		gotReq = r.Method + " " + r.URL.Path
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"node":"gpu-1","status":"offline","last_heartbeat_unix":1760000000,"healthy":false,"health_error":"connection refused"}`)
	})
	got, err := client.New(url, testToken).HiveStatus(t.Context(), "gpu-1")
	if err != nil {
		t.Fatalf("HiveStatus: %v", err)
	}
	if gotReq != "GET /v1/hives/gpu-1/status" {
		t.Errorf("request = %s, want GET /v1/hives/gpu-1/status", gotReq)
	}
	if got != want {
		t.Errorf("status = %+v, want %+v", got, want)
	}
}

func TestInstallReportsFailedNodesAsResults(t *testing.T) {
	want := api.InstallReport{Results: []api.InstallResult{
		{Node: "gpu-1", Result: api.ResultInstalled, Commit: "3f2a9c1d4e5b", Method: "build", AgentPID: 4242, DurationMS: 12300},
		{Node: "gpu-2", Result: api.ResultFailed, DurationMS: 4100, Phase: "build",
			Error: &api.ErrorDetail{Code: api.CodeSSHCommandFailed, Message: "go build: exit status 1", Hint: "install Go 1.26"}},
	}}
	var got api.InstallRequest
	var gotReq string
	url := fakeQueen(t, func(w http.ResponseWriter, r *http.Request) {
		gotReq = r.Method + " " + r.URL.Path
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &got); err != nil {
			t.Errorf("decode request: %v", err)
		}
		writeEvents(t, w,
			api.Event{Level: api.LevelInfo, Node: "gpu-1", Phase: "build", Message: "built", ElapsedMS: 9000},
			api.Event{Level: api.LevelError, Node: "gpu-2", Phase: "build", Message: "❌ go build failed"},
			resultEvent(t, "install done: 1 installed, 0 up to date, 1 failed", want))
	})
	req := api.InstallRequest{All: true, Method: "auto", Parallel: 4}
	r, err := client.New(url, testToken).Install(t.Context(), req, nil)
	if err != nil {
		t.Fatalf("Install: %v", err)
	}
	if gotReq != "POST /v1/install" || !reflect.DeepEqual(got, req) {
		t.Errorf("queen got %s %+v, want POST /v1/install %+v", gotReq, got, req)
	}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("report = %+v, want %+v", r, want)
	}
}

func TestHiveOperationsOfUnknownNode(t *testing.T) {
	url := fakeQueen(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"error":{"code":"NOT_FOUND","message":"hive not found: \"gpu-9\""}}`)
	})
	c := client.New(url, testToken)
	calls := map[string]func() error{
		"install": func() error {
			_, err := c.Install(t.Context(), api.InstallRequest{Nodes: []string{"gpu-9"}}, nil)
			return err
		},
		"uninstall": func() error { _, err := c.Uninstall(t.Context(), "gpu-9", api.UninstallRequest{}, nil); return err },
		"start":     func() error { _, err := c.StartHive(t.Context(), "gpu-9", nil); return err },
		"stop":      func() error { _, err := c.StopHive(t.Context(), "gpu-9", nil); return err },
		"status":    func() error { _, err := c.HiveStatus(t.Context(), "gpu-9"); return err },
	}
	for name, call := range calls {
		if err := call(); !client.IsNotFound(err) {
			t.Errorf("%s: err = %v, want not found", name, err)
		}
	}
}
