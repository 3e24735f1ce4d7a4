package agentconfig

import (
	"net"
	"net/url"
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
	ruleQueenURL  = "must be an http:// or https:// URL with a host, e.g. http://10.0.0.1:7833"
	ruleToken     = "must not contain spaces or control characters"
	ruleListen    = "must be host:port with a port of 1–65535, e.g. 0.0.0.0:7835"
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
	add(checkQueenURL(cfg.QueenURL))
	add(checkToken(cfg.HiveToken))
	add(checkListen(cfg.Listen))
	add(checkPort("worker_port_min", cfg.WorkerPortMin))
	add(checkPort("worker_port_max", cfg.WorkerPortMax))
	if validPort(cfg.WorkerPortMin) && validPort(cfg.WorkerPortMax) && cfg.WorkerPortMin > cfg.WorkerPortMax {
		add(&api.FieldError{Field: "worker_port_min", Value: strconv.Itoa(cfg.WorkerPortMin), Rule: rulePortOrder})
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
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
	u, err := url.Parse(raw)
	if err != nil {
		return &api.FieldError{Field: "queen_url", Rule: ruleQueenURL}
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return &api.FieldError{Field: "queen_url", Value: u.Redacted(), Rule: ruleQueenURL}
	}
	return nil
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
