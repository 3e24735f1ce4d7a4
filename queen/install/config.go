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
	"slices"
	"strconv"
	"strings"

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

// DefaultBackends are the backends install writes into an agent's config:
// cpu and cuda, both run by the reference worker installed at
// <installPath>/bin/rbee-worker. Backends the config already has under
// other names (say a llama-server template added by hand) are kept.
//
// With bindHost set the workers bind that address only (127.0.0.1 under
// the ssh transport), else every interface.
func DefaultBackends(installPath, bindHost string) []api.Backend {
	worker := path.Join(installPath, "bin", "rbee-worker")
	argv := func() []string {
		a := []string{worker, "--worker-id", "{worker_id}", "--model-ref", "{model_ref}",
			"--backend", "{backend}", "--device", "{device}", "--port", "{port}", "--callback-url", "{callback_url}"}
		if bindHost != "" {
			a = append(a, "--host", bindHost)
		}
		return a
	}
	return []api.Backend{
		{Name: api.BackendCPU, Command: argv()},
		{Name: api.BackendCUDA, Command: argv()},
	}
}

// desiredConfig is the config the node should have, given the one it has
// (zero when none); its tokens are left to writeConfig.
func (j *job) desiredConfig(have api.AgentConfig) api.AgentConfig {
	bind, queenURL, queenURLs := "", j.in.QueenURL, queenList(j.in.QueenURL, j.in.PeerURLs)
	listen, workerHost := "0.0.0.0:"+strconv.Itoa(j.node.AgentPort), j.client.Endpoint().HostName
	if j.sshTransport() {
		e := SSHEndpoints(j.node)
		bind, queenURL, queenURLs, listen, workerHost = "127.0.0.1", e.QueenURL(), nil, e.Listen(), "127.0.0.1"
	}
	backends := DefaultBackends(j.node.InstallPath, bind)
	for _, b := range have.Backends {
		if !slices.ContainsFunc(backends, func(d api.Backend) bool { return d.Name == b.Name }) {
			backends = append(backends, b)
		}
	}
	return api.AgentConfig{
		NodeName:      j.node.NodeName,
		QueenURL:      queenURL,
		QueenURLs:     queenURLs,
		Listen:        listen,
		WorkerPortMin: orDefault(have.WorkerPortMin, api.DefaultWorkerPortMin),
		WorkerPortMax: orDefault(have.WorkerPortMax, api.DefaultWorkerPortMax),
		Backends:      backends,
		WorkerHost:    workerHost,
		// Kept as the operator set it by hand.
		WorkerStopGraceMS: have.WorkerStopGraceMS,
	}
}

// queenList is the queen_urls of an http transport agent: nil without
// peers (a single queen: queen_url says it all), else own first, then the
// peers, each once.
func queenList(own string, peers []string) []string {
	if len(peers) == 0 {
		return nil
	}
	list := []string{own}
	for _, p := range peers {
		if p = strings.TrimRight(p, "/"); p != "" && !slices.Contains(list, p) {
			list = append(list, p)
		}
	}
	return list
}

func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// writeConfig keeps the node's config when it is what it should be and its
// tokens are the ones the queen knows; otherwise it writes a new config
// with a fresh hive token and agent token (0600, atomically) and records
// them: the hive token's hash, the agent token itself.
func (j *job) writeConfig(ctx context.Context) error {
	file := path.Join(j.node.InstallPath, ConfigName)
	have, err := j.readConfig(file)
	if err != nil {
		have = api.AgentConfig{}
	}
	want := j.desiredConfig(have)
	if have.HiveToken != "" && have.QueenTokenSHA256 != "" {
		knownHash, _ := j.in.Registry.HiveTokenHash(ctx, j.node.NodeName)
		agentToken, _ := j.in.Registry.AgentToken(ctx, j.node.NodeName)
		want.HiveToken, want.QueenTokenSHA256 = have.HiveToken, have.QueenTokenSHA256
		if knownHash == HashToken(have.HiveToken) && agentToken != "" && HashToken(agentToken) == have.QueenTokenSHA256 &&
			reflect.DeepEqual(have, want) {
			j.say(PhaseConfig, "config unchanged")
			return nil
		}
	}
	token, hash := MintToken()
	agentToken, agentHash := MintToken()
	want.HiveToken, want.QueenTokenSHA256 = token, agentHash
	data, err := json.MarshalIndent(want, "", "  ")
	if err != nil {
		return err
	}
	j.say(PhaseConfig, "📝 writing %s (new hive token)", file)
	if err := j.client.WriteFileAtomic(ctx, file, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	if err := j.in.Registry.SetTokens(ctx, j.node.NodeName, hash, agentToken); err != nil {
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
