package install

import (
	"path"
	"sync"
)

// HashCache remembers the SHA-256 of the binaries the probe hashed on each
// node, with what stat said of the file then (inode, size, mtime and
// ctime: any write, chmod or rename changes the ctime, and no user can set
// it). A re-run passes the stat to the probe, which hashes only a binary
// whose stat changed: hashing both binaries costs about 80 ms of a core on
// every node. The zero value is empty and ready; a nil *HashCache
// remembers nothing. It is safe for concurrent use.
type HashCache struct {
	mu     sync.Mutex
	hashes map[hashKey]hashed
}

// hashKey is one binary on one node.
type hashKey struct{ node, file string }

// hashed is a binary's stat and the SHA-256 it had then.
type hashed struct{ stat, sha256 string }

// binaryFacts are the probe's stat and hash facts of the installed
// binaries, by file under the install path.
var binaryFacts = []struct{ file, stat, sha256 string }{
	{"bin/hive-agent", "binary_stat", "binary_sha256"},
	{"bin/rbee-worker", "worker_stat", "worker_sha256"},
}

// known returns the stat the cache has a hash for of file on node, "" if
// none.
func (c *HashCache) known(node, file string) string {
	if c == nil {
		return ""
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hashes[hashKey{node, file}].stat
}

// fill completes the probe's facts f of node, whose install path is p:
// a binary the probe did not hash because its stat is the one the cache
// knows gets the cached hash, and a binary it hashed is remembered.
func (c *HashCache) fill(node, p string, f map[string]string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.hashes == nil {
		c.hashes = map[hashKey]hashed{}
	}
	for _, b := range binaryFacts {
		key := hashKey{node, path.Join(p, b.file)}
		stat := f[b.stat]
		switch {
		case stat == "":
			delete(c.hashes, key)
		case f[b.sha256] != "":
			c.hashes[key] = hashed{stat: stat, sha256: f[b.sha256]}
		case c.hashes[key].stat == stat:
			f[b.sha256] = c.hashes[key].sha256
		}
	}
}
