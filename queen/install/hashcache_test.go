package install

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestHashCacheFill checks that a hashed binary is remembered with its
// stat, that a later probe that skipped hashing the same stat gets the
// remembered hash, and that a changed stat gets none.
func TestHashCacheFill(t *testing.T) {
	var c HashCache
	c.fill("n1", "/p", map[string]string{"binary_stat": "1 2 3 4", "binary_sha256": "aa"})
	if got := c.known("n1", "/p/bin/hive-agent"); got != "1 2 3 4" {
		t.Fatalf("known stat %q, want the probed one", got)
	}
	same := map[string]string{"binary_stat": "1 2 3 4"}
	c.fill("n1", "/p", same)
	if same["binary_sha256"] != "aa" {
		t.Errorf("unchanged binary: sha256 %q, want the remembered aa", same["binary_sha256"])
	}
	changed := map[string]string{"binary_stat": "1 2 3 5"}
	c.fill("n1", "/p", changed)
	if changed["binary_sha256"] != "" {
		t.Errorf("changed binary: sha256 %q, want none (it must be hashed)", changed["binary_sha256"])
	}
	if got := c.known("n2", "/p/bin/hive-agent"); got != "" {
		t.Errorf("another node: known stat %q, want none", got)
	}
	var none *HashCache
	none.fill("n1", "/p", same)
	if none.known("n1", "/p/bin/hive-agent") != "" {
		t.Error("a nil cache knows a stat")
	}
}

// TestProbeHashesOnlyChangedBinaries runs the probe's hashes function with
// sh on real files: without a known stat it hashes both binaries, with the
// agent's stat it hashes only the worker, and after the agent is rewritten
// it hashes the agent again.
func TestProbeHashesOnlyChangedBinaries(t *testing.T) {
	p := t.TempDir()
	agent, worker := filepath.Join(p, "bin", "hive-agent"), filepath.Join(p, "bin", "rbee-worker")
	writeFile(t, agent, "agent")
	writeFile(t, worker, "worker")
	first := runHashes(t, p, "", "")
	if first["binary_sha256"] != sha256Hex("agent") || first["worker_sha256"] != sha256Hex("worker") || first["binary_stat"] == "" {
		t.Fatalf("first probe %v, want both hashed and stated", first)
	}
	second := runHashes(t, p, first["binary_stat"], "")
	if _, ok := second["binary_sha256"]; ok || second["worker_sha256"] != sha256Hex("worker") {
		t.Errorf("known agent stat: %v, want only the worker hashed", second)
	}
	writeFile(t, agent, "agent2")
	third := runHashes(t, p, first["binary_stat"], first["worker_stat"])
	if third["binary_sha256"] != sha256Hex("agent2") || third["worker_sha256"] != "" {
		t.Errorf("rewritten agent: %v, want the agent hashed again and the worker not", third)
	}
}

func runHashes(t *testing.T, p, knownAgent, knownWorker string) map[string]string {
	t.Helper()
	out, err := exec.Command("sh", "-c", hashFunction+`hashes "$@"`, "sh", p, knownAgent, knownWorker).Output()
	if err != nil {
		t.Fatalf("hashes: %v", err)
	}
	return keyValues(string(out))
}

func writeFile(t *testing.T, file, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(data), 0o755); err != nil {
		t.Fatal(err)
	}
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
