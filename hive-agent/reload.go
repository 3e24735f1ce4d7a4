package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"os"

	"github.com/rbee-fleet/rbee/hive-agent/agentconfig"
	"github.com/rbee-fleet/rbee/hive-agent/relay"
	"github.com/rbee-fleet/rbee/hive-agent/server"
	"github.com/rbee-fleet/rbee/shared/api"
)

// tokenReload puts the tokens of the agent's config file in force again
// on SIGHUP (queen setup rotate-token writes the file, then signals the
// agent): the hive token the relay sends to the queen, and the SHA-256 of
// the queen token the API accepts. Workers keep running.
type tokenReload struct {
	path  string
	log   *slog.Logger
	relay *relay.Relay
	api   *server.API
	// cur is the config whose tokens are in force.
	cur api.AgentConfig
}

// run reloads on every signal from hup until ctx ends.
func (r *tokenReload) run(ctx context.Context, hup <-chan os.Signal) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			r.reload()
		}
	}
}

// reload reads the config and puts its tokens in force. A config that
// fails to load is logged and the tokens in force stay. The log names the
// tokens by the start of their SHA-256, never the tokens.
func (r *tokenReload) reload() {
	cfg, err := agentconfig.Load(r.path)
	if err != nil {
		r.log.Error("SIGHUP: config not reloaded; the tokens in force stay", "err", err)
		return
	}
	hiveChanged := cfg.HiveToken != r.cur.HiveToken
	queenChanged := cfg.QueenTokenSHA256 != r.cur.QueenTokenSHA256
	r.relay.SetToken(cfg.HiveToken)
	r.api.SetQueenTokenSHA256(cfg.QueenTokenSHA256)
	r.cur.HiveToken, r.cur.QueenTokenSHA256 = cfg.HiveToken, cfg.QueenTokenSHA256
	r.log.Info("SIGHUP: reloaded the tokens of the config; other fields take effect when the agent restarts",
		"file", r.path,
		"hive_token_changed", hiveChanged, "hive_token_sha256_prefix", fingerprint(cfg.HiveToken),
		"queen_token_changed", queenChanged, "queen_token_sha256_prefix", prefix(cfg.QueenTokenSHA256))
}

// fingerprint names a token in logs without revealing it: the first 12 hex
// digits of its SHA-256.
func fingerprint(token string) string {
	sum := sha256.Sum256([]byte(token))
	return prefix(hex.EncodeToString(sum[:]))
}

// prefix returns the first 12 characters of a hex SHA-256, "" for none.
func prefix(sum string) string {
	return sum[:min(len(sum), 12)]
}
