package install

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// ManifestName is the file in the install path where install records what
// it created; uninstall removes exactly that and nothing else.
const ManifestName = ".rbee-install.json"

// manifestVersion is the format of the manifest this queen writes.
const manifestVersion = 1

// Paths under the install path that install may create. Trees are folders
// whose whole content the agent writes (its pid file, state and logs), so
// uninstall removes them whole when install created them; files are
// removed one by one; plain folders only when they are empty after that.
var (
	installFiles = []string{"bin/hive-agent", "bin/rbee-worker", ConfigName}
	installTrees = []string{"run", "logs"}
	installDirs  = []string{"bin"}
)

// knownPaths are every path install may create, the manifest itself last:
// uninstall removes it after everything else, so an interrupted uninstall
// can run again.
func knownPaths() []string {
	return slices.Concat(installDirs, installFiles, installTrees, []string{ManifestName})
}

// manifest is <install path>/.rbee-install.json: what install created on
// the node. Paths are relative to the install path.
type manifest struct {
	Version int `json:"version"`
	// CreatedDir is true when install created the install path itself.
	CreatedDir bool `json:"created_dir"`
	// Cloned is true when install cloned the checkout (a checkout the user
	// made is never removed).
	Cloned bool `json:"cloned"`
	// Created are the files and folders under the install path that did
	// not exist before install made them.
	Created []string `json:"created"`
}

// parseManifest reads a manifest and refuses one that names a path install
// never creates: a manifest edited by hand must not steer a delete.
func parseManifest(data string) (manifest, error) {
	var m manifest
	dec := json.NewDecoder(strings.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return manifest{}, fmt.Errorf("unreadable: %w", err)
	}
	if m.Version != manifestVersion {
		return manifest{}, fmt.Errorf("version %d, this queen knows %d", m.Version, manifestVersion)
	}
	for _, p := range m.Created {
		if !slices.Contains(knownPaths(), p) {
			return manifest{}, fmt.Errorf("names %q, which install never creates", p)
		}
	}
	return m, nil
}

// plan returns the manifest after this install: prev (zero when the node
// had none) plus every known path that did not exist when the node was
// probed, which this install may create.
func (prev manifest) plan(existing []string) manifest {
	next := manifest{Version: manifestVersion, CreatedDir: prev.CreatedDir, Cloned: prev.Cloned,
		Created: slices.Clone(prev.Created)}
	for _, p := range knownPaths() {
		if !slices.Contains(existing, p) && !slices.Contains(next.Created, p) {
			next.Created = append(next.Created, p)
		}
	}
	slices.SortFunc(next.Created, func(a, b string) int {
		return slices.Index(knownPaths(), a) - slices.Index(knownPaths(), b)
	})
	return next
}

// encode returns the manifest as one line of JSON.
func (m manifest) encode() string {
	data, _ := json.Marshal(m) // plain fields: cannot fail
	return string(data)
}

// removals returns the arguments of uninstallScript for what m created:
// "f:path" files, "t:path" trees, "d:path" folders removed when empty, in
// that order. The manifest itself is removed by the script, last.
func (m manifest) removals() []string {
	var out []string
	for _, group := range []struct {
		kind  string
		paths []string
	}{{"f", installFiles}, {"t", installTrees}, {"d", installDirs}} {
		for _, p := range group.paths {
			if slices.Contains(m.Created, p) {
				out = append(out, group.kind+":"+p)
			}
		}
	}
	return out
}
