package install

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"reflect"
	"strconv"

	"github.com/rbee-fleet/rbee/shared/api"
)

// ConfigName is the agent's config file in the install path.
const ConfigName = "hive-agent.json"

// MintToken returns a new hive token and its hash, the only form the queen
// keeps.
func MintToken() (token, hash string) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	token = hex.EncodeToString(b)
	return token, HashToken(token)
}

// HashToken returns the SHA-256 of a hive token in hex.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// desiredConfig is the config the node should have; its token is left to
// writeConfig.
func (j *job) desiredConfig() api.AgentConfig {
	return api.AgentConfig{
		NodeName:      j.node.NodeName,
		QueenURL:      j.in.QueenURL,
		Listen:        "0.0.0.0:" + strconv.Itoa(j.node.AgentPort),
		WorkerPortMin: api.DefaultWorkerPortMin,
		WorkerPortMax: api.DefaultWorkerPortMax,
	}
}

// writeConfig keeps the node's config when it is what it should be and its
// token is the one the queen knows; otherwise it writes a new config with a
// fresh token (0600, atomically) and records the token's hash.
func (j *job) writeConfig(ctx context.Context) error {
	want := j.desiredConfig()
	file := path.Join(j.node.InstallPath, ConfigName)
	if have, err := j.readConfig(file); err == nil && have.HiveToken != "" {
		known, _ := j.in.Registry.HiveTokenHash(ctx, j.node.NodeName)
		want.HiveToken = have.HiveToken
		if known == HashToken(have.HiveToken) && reflect.DeepEqual(have, want) {
			j.say(PhaseConfig, "config unchanged")
			return nil
		}
	}
	token, hash := MintToken()
	want.HiveToken = token
	data, err := json.MarshalIndent(want, "", "  ")
	if err != nil {
		return err
	}
	j.say(PhaseConfig, "📝 writing %s (new hive token)", file)
	if err := j.client.WriteFileAtomic(ctx, file, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	if err := j.in.Registry.SetHiveTokenHash(ctx, j.node.NodeName, hash); err != nil {
		return fmt.Errorf("record the hive token: %w", err)
	}
	j.configChanged = true
	return nil
}

func (j *job) readConfig(file string) (api.AgentConfig, error) {
	var cfg api.AgentConfig
	sc, err := j.client.SFTP()
	if err != nil {
		return cfg, err
	}
	f, err := sc.Open(file)
	if err != nil {
		return cfg, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return cfg, err
	}
	return cfg, json.Unmarshal(data, &cfg)
}
