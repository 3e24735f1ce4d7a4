package install

import (
	"slices"
	"strings"
	"testing"
)

func TestManifestPlan(t *testing.T) {
	tests := []struct {
		name     string
		prev     manifest
		existing []string
		want     []string
	}{
		{name: "empty folder: everything is install's", want: knownPaths()},
		{name: "a bin folder of the user's is not recorded", existing: []string{"bin"},
			want: []string{"bin/hive-agent", "bin/rbee-worker", ConfigName, "run", "logs", ManifestName}},
		{name: "a re-run keeps what the first install created", existing: knownPaths(),
			prev: manifest{Created: []string{"bin", "bin/hive-agent", ManifestName}},
			want: []string{"bin", "bin/hive-agent", ManifestName}},
		{name: "an install before manifests records nothing it did not make",
			existing: []string{"bin", "bin/hive-agent", "bin/rbee-worker", ConfigName, "run", "logs"},
			want:     []string{ManifestName}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.prev.plan(tt.existing)
			if !slices.Equal(got.Created, tt.want) || got.Version != manifestVersion {
				t.Errorf("plan = %+v, want created %v", got, tt.want)
			}
		})
	}
}

func TestParseManifestRefusesForeignPaths(t *testing.T) {
	tests := []struct {
		name, data, wantErr string
	}{
		{name: "ours", data: manifest{Version: 1, Cloned: true, Created: knownPaths()}.encode()},
		{name: "a path install never creates", data: `{"version":1,"created":["../../home"]}`, wantErr: "never creates"},
		{name: "the checkout's files", data: `{"version":1,"created":["README.md"]}`, wantErr: "never creates"},
		{name: "another version", data: `{"version":2,"created":[]}`, wantErr: "version 2"},
		{name: "unknown field", data: `{"version":1,"remove":["/"]}`, wantErr: "unreadable"},
		{name: "garbage", data: `{"version":`, wantErr: "unreadable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseManifest(tt.data)
			if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("parseManifest(%s) = %v, want error containing %q", tt.data, err, tt.wantErr)
			}
		})
	}
}

func TestManifestRemovalsOnlyWhatWasCreated(t *testing.T) {
	m := manifest{Version: 1, Created: []string{"logs", "bin/hive-agent", ManifestName}}
	want := []string{"f:bin/hive-agent", "t:logs"}
	if got := m.removals(); !slices.Equal(got, want) {
		t.Errorf("removals = %v, want %v", got, want)
	}
}

func TestSameCommit(t *testing.T) {
	full := "0123456789abcdef0123456789abcdef01234567"
	tests := []struct {
		a, b string
		want bool
	}{
		{full, full, true},
		{full[:12], full, true},
		{full, full[:7], true},
		{full[:6], full, false},
		{"uploadtest01", full, false},
		{"", "", false},
		{full[:12], "1123456789ab", false},
	}
	for _, tt := range tests {
		if got := sameCommit(tt.a, tt.b); got != tt.want {
			t.Errorf("sameCommit(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}
