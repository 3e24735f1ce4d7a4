package agentconfig

import (
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/rbee-fleet/rbee/shared/api"
)

// DefaultListen is the agent's listen address when the config has none:
// every interface, port [api.DefaultAgentPort].
const DefaultListen = "0.0.0.0:7835"

// ApplyDefaults fills the fields the config may leave out: listen and the
// worker port range.
func ApplyDefaults(cfg *api.AgentConfig) {
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if cfg.WorkerPortMin == 0 {
		cfg.WorkerPortMin = api.DefaultWorkerPortMin
	}
	if cfg.WorkerPortMax == 0 {
		cfg.WorkerPortMax = api.DefaultWorkerPortMax
	}
}

// Rules of the config fields, one per rule.
const (
	ruleRequired  = "is required"
	ruleQueenURL  = "must be an http:// or https:// URL with a host, e.g. http://10.0.0.1:7833, or unix:// and an absolute socket path"
	ruleQueenURLs = "must be an http:// or https:// URL with a host, e.g. http://10.0.0.2:7833"
	ruleUnixAlone = "must be the only queen URL: a unix:// queen_url (the ssh transport's forward) goes with no queen_urls"
	ruleToken     = "must not contain spaces or control characters"
	ruleListen    = "must be host:port with a port of 1–65535, e.g. 0.0.0.0:7835, or an absolute socket path"
	rulePort      = "must be 1–65535"
	rulePortOrder = "must not be above worker_port_max"
)

// FieldErrors are the broken rules of a config, in field order. Each one is
// an [*api.FieldError] naming its JSON field.
type FieldErrors []*api.FieldError

// Error lists the broken rules on one line.
func (e FieldErrors) Error() string {
	msgs := make([]string, len(e))
	for i, fe := range e {
		msgs[i] = fe.Error()
	}
	return strings.Join(msgs, ", ")
}

// Unwrap returns the field errors.
func (e FieldErrors) Unwrap() []error {
	errs := make([]error, len(e))
	for i, fe := range e {
		errs[i] = fe
	}
	return errs
}

// Validate checks cfg after [ApplyDefaults] and returns [FieldErrors] for
// every broken rule, or nil. It never shows the hive token.
func Validate(cfg api.AgentConfig) error {
	var errs FieldErrors
	add := func(fe *api.FieldError) {
		if fe != nil {
			errs = append(errs, fe)
		}
	}
	add(checkNodeName(cfg.NodeName))
	if cfg.QueenURL != "" || len(cfg.QueenURLs) == 0 {
		add(checkQueenURL(cfg.QueenURL))
	}
	for _, fe := range checkQueenURLs(cfg) {
		add(fe)
	}
	add(checkToken(cfg.HiveToken))
	add(checkListen(cfg.Listen))
	add(checkPort("worker_port_min", cfg.WorkerPortMin))
	add(checkPort("worker_port_max", cfg.WorkerPortMax))
	if validPort(cfg.WorkerPortMin) && validPort(cfg.WorkerPortMax) && cfg.WorkerPortMin > cfg.WorkerPortMax {
		add(&api.FieldError{Field: "worker_port_min", Value: strconv.Itoa(cfg.WorkerPortMin), Rule: rulePortOrder})
	}
	for i, b := range cfg.Backends {
		add(checkBackend(i, b, cfg.Backends[:i]))
	}
	add(checkWorkerHost(cfg.WorkerHost))
	add(checkSHA256("queen_token_sha256", cfg.QueenTokenSHA256))
	if cfg.WorkerStopGraceMS < 0 {
		add(&api.FieldError{Field: "worker_stop_grace_ms", Value: strconv.FormatInt(cfg.WorkerStopGraceMS, 10), Rule: "must not be negative"})
	}
	add(checkMS("worker_health_interval_ms", cfg.WorkerHealthIntervalMS, ruleHealthInterval, 100, 3_600_000))
	add(checkMS("worker_health_timeout_ms", cfg.WorkerHealthTimeoutMS, ruleHealthTimeout, 100, 60_000))
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// Rules of the worker fields.
const (
	ruleBackendCommand = "must be a non-empty argv list whose first element is an absolute path or a program name"
	ruleBackendDup     = "must not repeat a backend name"
	rulePlaceholder    = "has an unknown {placeholder}; the known ones are {worker_id} {model_ref} {backend} {device} {port} {callback_url}"
	ruleWorkerHost     = "must be a host name or IP address without port, e.g. 10.0.0.2"
	ruleSHA256         = "must be 64 lowercase hex digits"
	ruleRestart        = "must be on-failure or never (empty means on-failure)"
	ruleMaxRestarts    = "must be 0–100 (0 means 3)"
	ruleHealthInterval = "must be 0 (5 s) or 100–3600000 milliseconds"
	ruleHealthTimeout  = "must be 0 (2 s) or 100–60000 milliseconds"
)

// maxRestarts bounds a backend's max_restarts.
const maxRestarts = 100

// checkMS checks a duration in milliseconds that is 0 (the default) or
// within lo–hi.
func checkMS(field string, ms int64, rule string, lo, hi int64) *api.FieldError {
	if ms != 0 && (ms < lo || ms > hi) {
		return &api.FieldError{Field: field, Value: strconv.FormatInt(ms, 10), Rule: rule}
	}
	return nil
}

// checkRestart checks the restart policy fields of backend field.
func checkRestart(field string, b api.Backend) *api.FieldError {
	if b.Restart != "" && b.Restart != api.RestartOnFailure && b.Restart != api.RestartNever {
		return &api.FieldError{Field: field + ".restart", Value: b.Restart, Rule: ruleRestart}
	}
	if b.MaxRestarts < 0 || b.MaxRestarts > maxRestarts {
		return &api.FieldError{Field: field + ".max_restarts", Value: strconv.Itoa(b.MaxRestarts), Rule: ruleMaxRestarts}
	}
	return nil
}

func checkBackend(i int, b api.Backend, before []api.Backend) *api.FieldError {
	field := "backends[" + strconv.Itoa(i) + "]"
	if fe, ok := api.AsFieldError(api.ValidateBackendName(b.Name)); ok {
		return &api.FieldError{Field: field + ".name", Value: fe.Value, Rule: fe.Rule}
	}
	for _, o := range before {
		if o.Name == b.Name {
			return &api.FieldError{Field: field + ".name", Value: b.Name, Rule: ruleBackendDup}
		}
	}
	if len(b.Command) == 0 || strings.TrimSpace(b.Command[0]) == "" {
		return &api.FieldError{Field: field + ".command", Rule: ruleBackendCommand}
	}
	for _, arg := range append(slices.Clone(b.Command), b.HealthURL) {
		if unknownPlaceholder(arg) {
			return &api.FieldError{Field: field + ".command", Value: arg, Rule: rulePlaceholder}
		}
	}
	if b.DeviceKind != "" && b.DeviceKind != api.BackendCPU && b.DeviceKind != api.BackendCUDA {
		return &api.FieldError{Field: field + ".device_kind", Value: b.DeviceKind, Rule: "must be cpu or cuda"}
	}
	if b.SlotsTotal < 0 {
		return &api.FieldError{Field: field + ".slots_total", Value: strconv.Itoa(b.SlotsTotal), Rule: "must not be negative"}
	}
	return checkRestart(field, b)
}

// unknownPlaceholder reports whether arg holds a {word} that is not one of
// api.Placeholders.
func unknownPlaceholder(arg string) bool {
	for _, ph := range api.Placeholders {
		arg = strings.ReplaceAll(arg, ph, "")
	}
	open := strings.IndexByte(arg, '{')
	return open >= 0 && strings.IndexByte(arg[open:], '}') > 0
}

func checkWorkerHost(host string) *api.FieldError {
	if host == "" {
		return nil
	}
	if strings.ContainsAny(host, ":/ @") && net.ParseIP(host) == nil || strings.ContainsFunc(host, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return &api.FieldError{Field: "worker_host", Value: host, Rule: ruleWorkerHost}
	}
	return nil
}

func checkSHA256(field, v string) *api.FieldError {
	if v == "" {
		return nil
	}
	if len(v) != 64 || strings.Trim(v, "0123456789abcdef") != "" {
		return &api.FieldError{Field: field, Rule: ruleSHA256}
	}
	return nil
}

func checkNodeName(name string) *api.FieldError {
	if name == "" {
		return &api.FieldError{Field: "node_name", Rule: ruleRequired}
	}
	if fe, ok := api.AsFieldError(api.ValidateNodeName(name)); ok {
		return &api.FieldError{Field: "node_name", Value: fe.Value, Rule: fe.Rule}
	}
	return nil
}

func checkQueenURL(raw string) *api.FieldError {
	if raw == "" {
		return &api.FieldError{Field: "queen_url", Rule: ruleQueenURL}
	}
	if p, ok := strings.CutPrefix(raw, "unix://"); ok {
		if !strings.HasPrefix(p, "/") {
			return &api.FieldError{Field: "queen_url", Value: raw, Rule: ruleQueenURL}
		}
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return &api.FieldError{Field: "queen_url", Rule: ruleQueenURL}
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return &api.FieldError{Field: "queen_url", Value: u.Redacted(), Rule: ruleQueenURL}
	}
	return nil
}

// checkQueenURLs checks each of queen_urls: http(s) URLs only, and none
// next to a unix:// queen_url.
func checkQueenURLs(cfg api.AgentConfig) []*api.FieldError {
	if strings.HasPrefix(cfg.QueenURL, "unix://") && len(cfg.QueenURLs) > 0 {
		return []*api.FieldError{{Field: "queen_url", Value: cfg.QueenURL, Rule: ruleUnixAlone}}
	}
	var errs []*api.FieldError
	for i, raw := range cfg.QueenURLs {
		field := "queen_urls[" + strconv.Itoa(i) + "]"
		u, err := url.Parse(raw)
		switch {
		case err != nil:
			errs = append(errs, &api.FieldError{Field: field, Rule: ruleQueenURLs})
		case (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			errs = append(errs, &api.FieldError{Field: field, Value: u.Redacted(), Rule: ruleQueenURLs})
		}
	}
	return errs
}

// QueenURLs returns the queens the agent of cfg beats to, in the order it
// tries them: queen_url first, then queen_urls, each once, without
// trailing slashes.
func QueenURLs(cfg api.AgentConfig) []string {
	var out []string
	for _, u := range append([]string{cfg.QueenURL}, cfg.QueenURLs...) {
		if u = strings.TrimRight(u, "/"); u != "" && !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	return out
}

// checkToken never puts the token in the error.
func checkToken(token string) *api.FieldError {
	if token == "" {
		return &api.FieldError{Field: "hive_token", Rule: ruleRequired}
	}
	for _, r := range token {
		if r <= ' ' || r == 0x7f {
			return &api.FieldError{Field: "hive_token", Rule: ruleToken}
		}
	}
	return nil
}

func checkListen(addr string) *api.FieldError {
	if strings.HasPrefix(addr, "/") {
		return nil // a Unix socket
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return &api.FieldError{Field: "listen", Value: addr, Rule: ruleListen}
	}
	if n, err := strconv.Atoi(port); err != nil || !validPort(n) {
		return &api.FieldError{Field: "listen", Value: addr, Rule: ruleListen}
	}
	return nil
}

func checkPort(field string, port int) *api.FieldError {
	if !validPort(port) {
		return &api.FieldError{Field: field, Value: strconv.Itoa(port), Rule: rulePort}
	}
	return nil
}

func validPort(n int) bool { return 1 <= n && n <= 65535 }
