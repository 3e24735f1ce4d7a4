package agentconfig

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/rbee-fleet/rbee/shared/api"
)

const testToken = "hvt_3f9c2a7d41e8b6"

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		edit api.AgentConfig // fields set here replace the valid config's
		zero []string        // JSON fields cleared before the check
		want []string        // fields named by the errors, in order
	}{
		{name: "valid", want: nil},
		{name: "https queen behind a path", edit: api.AgentConfig{QueenURL: "https://queen.lab.example:8443/rbee/"}},
		{name: "listen on every interface", edit: api.AgentConfig{Listen: ":7835"}},
		{name: "listen on ipv6", edit: api.AgentConfig{Listen: "[::1]:7835"}},
		{name: "one worker port", edit: api.AgentConfig{WorkerPortMin: 9000, WorkerPortMax: 9000}},
		{name: "missing node_name", zero: []string{"node_name"}, want: []string{"node_name"}},
		{name: "upper-case node_name", edit: api.AgentConfig{NodeName: "GPU_1"}, want: []string{"node_name"}},
		{name: "missing queen_url", zero: []string{"queen_url"}, want: []string{"queen_url"}},
		{name: "queen_url without scheme", edit: api.AgentConfig{QueenURL: "10.0.0.1:7833"}, want: []string{"queen_url"}},
		{name: "ftp queen_url", edit: api.AgentConfig{QueenURL: "ftp://10.0.0.1/"}, want: []string{"queen_url"}},
		{name: "queen_url without host", edit: api.AgentConfig{QueenURL: "http:///v1"}, want: []string{"queen_url"}},
		{name: "an HA pair's queen_urls", edit: api.AgentConfig{QueenURLs: []string{"http://10.0.0.1:7833", "https://10.0.0.9:7833/"}}},
		{name: "queen_urls without queen_url", edit: api.AgentConfig{QueenURLs: []string{"http://10.0.0.9:7833"}}, zero: []string{"queen_url"}},
		{name: "queen_urls with a unix socket", edit: api.AgentConfig{QueenURLs: []string{"http://10.0.0.9:7833", "unix:///opt/rbee/run/queen.sock"}},
			want: []string{"queen_urls[1]"}},
		{name: "queen_urls next to a unix queen_url", edit: api.AgentConfig{QueenURL: "unix:///opt/rbee/run/queen.sock", QueenURLs: []string{"http://10.0.0.9:7833"}},
			want: []string{"queen_url"}},
		{name: "queen_urls without scheme and without host", edit: api.AgentConfig{QueenURLs: []string{"10.0.0.9:7833", "http:///v1", "ftp://q/"}},
			want: []string{"queen_urls[0]", "queen_urls[1]", "queen_urls[2]"}},
		{name: "missing hive_token", zero: []string{"hive_token"}, want: []string{"hive_token"}},
		{name: "hive_token with a newline", edit: api.AgentConfig{HiveToken: testToken + "\n"}, want: []string{"hive_token"}},
		{name: "listen without port", edit: api.AgentConfig{Listen: "0.0.0.0"}, want: []string{"listen"}},
		{name: "listen port 0", edit: api.AgentConfig{Listen: "127.0.0.1:0"}, want: []string{"listen"}},
		{name: "listen port too big", edit: api.AgentConfig{Listen: "127.0.0.1:65536"}, want: []string{"listen"}},
		{name: "listen named port", edit: api.AgentConfig{Listen: "127.0.0.1:http"}, want: []string{"listen"}},
		{name: "worker port above range", edit: api.AgentConfig{WorkerPortMax: 70000}, want: []string{"worker_port_max"}},
		{name: "worker ports reversed", edit: api.AgentConfig{WorkerPortMin: 9000, WorkerPortMax: 8100}, want: []string{"worker_port_min"}},
		{name: "health checks every 100 ms with a 2 s timeout", edit: api.AgentConfig{WorkerHealthIntervalMS: 100, WorkerHealthTimeoutMS: 2000}},
		{name: "health interval below 100 ms", edit: api.AgentConfig{WorkerHealthIntervalMS: 50}, want: []string{"worker_health_interval_ms"}},
		{name: "negative health timeout", edit: api.AgentConfig{WorkerHealthTimeoutMS: -1}, want: []string{"worker_health_timeout_ms"}},
		{name: "health timeout over a minute", edit: api.AgentConfig{WorkerHealthTimeoutMS: 60001}, want: []string{"worker_health_timeout_ms"}},
		{name: "restart policies", edit: api.AgentConfig{Backends: []api.Backend{
			{Name: "cpu", Command: []string{"/opt/rbee/bin/rbee-worker"}, Restart: api.RestartNever},
			{Name: "cuda", Command: []string{"/opt/rbee/bin/rbee-worker"}, Restart: api.RestartOnFailure, MaxRestarts: 5}}}},
		{name: "restart always", edit: api.AgentConfig{Backends: []api.Backend{
			{Name: "cpu", Command: []string{"rbee-worker"}, Restart: "always"}}}, want: []string{"backends[0].restart"}},
		{name: "negative max_restarts", edit: api.AgentConfig{Backends: []api.Backend{
			{Name: "cpu", Command: []string{"rbee-worker"}, MaxRestarts: -1}}}, want: []string{"backends[0].max_restarts"}},
		{name: "everything missing", zero: []string{"node_name", "queen_url", "hive_token"},
			want: []string{"node_name", "queen_url", "hive_token"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := configWith(t, tt.edit, tt.zero)
			err := Validate(cfg)
			var got []string
			if fes, ok := errors.AsType[FieldErrors](err); ok {
				for _, fe := range fes {
					got = append(got, fe.Field)
				}
			} else if err != nil {
				t.Fatalf("Validate returned %T %v, want FieldErrors", err, err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Validate named %q, want %q (err: %v)", got, tt.want, err)
			}
			if err != nil && strings.Contains(err.Error(), strings.TrimSpace(cfg.HiveToken)) && cfg.HiveToken != "" {
				t.Errorf("error shows the hive token: %v", err)
			}
			if err != nil && !errors.Is(err, api.ErrInvalid) {
				t.Errorf("error does not wrap api.ErrInvalid: %v", err)
			}
		})
	}
}

func TestQueenURLs(t *testing.T) {
	tests := []struct {
		name string
		cfg  api.AgentConfig
		want []string
	}{
		{name: "queen_url alone (an older config)", cfg: api.AgentConfig{QueenURL: "http://a:7833/"}, want: []string{"http://a:7833"}},
		{name: "queen_url first, then queen_urls once each", cfg: api.AgentConfig{QueenURL: "http://b:7833",
			QueenURLs: []string{"http://a:7833", "http://b:7833/", "http://a:7833"}}, want: []string{"http://b:7833", "http://a:7833"}},
		{name: "queen_urls alone", cfg: api.AgentConfig{QueenURLs: []string{"http://a:7833", "http://b:7833"}},
			want: []string{"http://a:7833", "http://b:7833"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := QueenURLs(tt.cfg); !slices.Equal(got, tt.want) {
				t.Errorf("QueenURLs = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestApplyDefaults(t *testing.T) {
	var cfg api.AgentConfig
	ApplyDefaults(&cfg)
	want := api.AgentConfig{Listen: "0.0.0.0:" + strconv.Itoa(api.DefaultAgentPort),
		WorkerPortMin: 8081, WorkerPortMax: 8999}
	if cfg.Listen != want.Listen || cfg.WorkerPortMin != want.WorkerPortMin || cfg.WorkerPortMax != want.WorkerPortMax {
		t.Errorf("ApplyDefaults gave %+v, want %+v", cfg, want)
	}
	kept := api.AgentConfig{Listen: "127.0.0.1:9", WorkerPortMin: 20000, WorkerPortMax: 20010}
	got := kept
	ApplyDefaults(&got)
	if got.Listen != kept.Listen || got.WorkerPortMin != kept.WorkerPortMin || got.WorkerPortMax != kept.WorkerPortMax {
		t.Errorf("ApplyDefaults changed set fields: %+v", got)
	}
}

// validConfig is a config as the queen writes it.
func validConfig() api.AgentConfig {
	return api.AgentConfig{
		NodeName:      "gpu-1",
		QueenURL:      "http://10.0.0.1:7833",
		HiveToken:     testToken,
		Listen:        "0.0.0.0:7835",
		WorkerPortMin: 8081,
		WorkerPortMax: 8999,
	}
}

// configWith returns validConfig with the non-zero fields of edit set and
// the named fields cleared.
func configWith(t *testing.T, edit api.AgentConfig, zero []string) api.AgentConfig {
	t.Helper()
	cfg := validConfig()
	if edit.NodeName != "" {
		cfg.NodeName = edit.NodeName
	}
	if edit.QueenURL != "" {
		cfg.QueenURL = edit.QueenURL
	}
	if edit.QueenURLs != nil {
		cfg.QueenURLs = edit.QueenURLs
	}
	if edit.HiveToken != "" {
		cfg.HiveToken = edit.HiveToken
	}
	if edit.Listen != "" {
		cfg.Listen = edit.Listen
	}
	if edit.WorkerPortMin != 0 {
		cfg.WorkerPortMin = edit.WorkerPortMin
	}
	if edit.WorkerPortMax != 0 {
		cfg.WorkerPortMax = edit.WorkerPortMax
	}
	if edit.WorkerHealthIntervalMS != 0 {
		cfg.WorkerHealthIntervalMS = edit.WorkerHealthIntervalMS
	}
	if edit.WorkerHealthTimeoutMS != 0 {
		cfg.WorkerHealthTimeoutMS = edit.WorkerHealthTimeoutMS
	}
	if edit.Backends != nil {
		cfg.Backends = edit.Backends
	}
	for _, f := range zero {
		switch f {
		case "node_name":
			cfg.NodeName = ""
		case "queen_url":
			cfg.QueenURL = ""
		case "hive_token":
			cfg.HiveToken = ""
		default:
			t.Fatalf("configWith: no field %q", f)
		}
	}
	return cfg
}
