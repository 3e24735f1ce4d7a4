package agentconfig

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/rbee-fleet/rbee/shared/api"
)

// maxConfigSize bounds how much of the config file Load reads.
const maxConfigSize = 1 << 20

// Load reads the config at path, refuses it when group or others may access
// it, applies the defaults and validates it. Unknown fields are ignored so
// an older agent can read the config of a newer queen. Errors name the file
// and end with the next step.
func Load(path string) (api.AgentConfig, error) {
	var cfg api.AgentConfig
	f, err := os.Open(path)
	if err != nil {
		return cfg, fmt.Errorf("open config: %w; pass the hive-agent.json written by `queen setup install` with --config", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return cfg, fmt.Errorf("stat config %s: %w; check the file and its folder", path, err)
	}
	if mode := info.Mode().Perm(); mode&0o077 != 0 {
		return cfg, &ModeError{Path: path, Mode: mode}
	}
	if err := decode(f, &cfg); err != nil {
		return cfg, fmt.Errorf("parse config %s: %w; %s", path, err, reinstallStep(cfg.NodeName))
	}
	ApplyDefaults(&cfg)
	if err := Validate(cfg); err != nil {
		return cfg, fmt.Errorf("check config %s: %w; fix the field in the file or %s", path, err, reinstallStep(cfg.NodeName))
	}
	return cfg, nil
}

// decode reads one JSON object into cfg, refusing anything after it but
// blanks, and describes a failure without echoing the file's contents,
// which hold the token.
func decode(r io.Reader, cfg *api.AgentConfig) error {
	dec := json.NewDecoder(io.LimitReader(r, maxConfigSize))
	if err := describe(dec.Decode(cfg)); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("there is more after the JSON object (from byte %d); the file must hold one object", dec.InputOffset())
	}
	return nil
}

// describe says what is wrong with the JSON without quoting it.
func describe(err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, io.EOF):
		return errors.New("the file is empty")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("the JSON ends early")
	case errors.As(err, &syntax):
		return fmt.Errorf("JSON syntax error at byte %d", syntax.Offset)
	case errors.As(err, &typ):
		return fmt.Errorf("field %q must be %s", typ.Field, typ.Type)
	default:
		return errors.New("malformed JSON")
	}
}

// reinstallStep is the command that rewrites the config from the queen.
func reinstallStep(node string) string {
	if node == "" {
		node = "<node>"
	}
	return fmt.Sprintf("re-run `queen setup install --node %s` on the queen", node)
}
