// Package version holds the build version of the rbee binaries.
//
// The Makefile, and install when it builds on a node, stamp Version with
// the full git commit:
//
//	go build -ldflags "-X github.com/rbee-fleet/rbee/shared/version.Version=$(git rev-parse HEAD)"
//
// A binary built without the stamp reports the VCS revision that the Go
// toolchain recorded, or "dev" when there is none.
package version

import "runtime/debug"

// Version is set at link time with -ldflags -X; see the package doc.
var Version = ""

// APIVersion is the version of the HTTP API both binaries speak.
const APIVersion = "v1"

// String returns the version of this binary: the stamped Version, else the
// VCS revision recorded by the Go toolchain, else "dev".
func String() string {
	if Version != "" {
		return Version
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && s.Value != "" {
				return s.Value
			}
		}
	}
	return "dev"
}
