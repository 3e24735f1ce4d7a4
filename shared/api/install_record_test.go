package api

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

const (
	fullCommit  = "3f2a9c1d4e5b6a7980112233445566778899aabb"
	shortCommit = "3f2a9c1d4e5b"
)

func TestInstallRecordValidate(t *testing.T) {
	tests := []struct {
		name      string
		rec       InstallRecord
		wantField string
	}{
		{name: "never installed"},
		{name: "installed", rec: InstallRecord{Result: ResultInstalled, FinishedUnix: 1_760_000_000}},
		{name: "failed with a compiler's lines", rec: InstallRecord{Result: ResultFailed, Phase: "get binary",
			Error: "get binary: build:\n./broken.go:3:9: undefined: this", Hint: "fix the cause above", FinishedUnix: 1}},
		{name: "unknown result", rec: InstallRecord{Result: "installing"}, wantField: "last_install.result"},
		{name: "phase with an escape", rec: InstallRecord{Result: ResultFailed, Phase: "get\x1b[2J"}, wantField: "last_install.phase"},
		{name: "error too long", rec: InstallRecord{Result: ResultFailed, Error: strings.Repeat("x", MaxInstallErrorLen+1)}, wantField: "last_install.error"},
		{name: "hint too long", rec: InstallRecord{Result: ResultFailed, Hint: strings.Repeat("x", MaxInstallHintLen+1)}, wantField: "last_install.hint"},
		{name: "negative time", rec: InstallRecord{Result: ResultUpToDate, FinishedUnix: -1}, wantField: "last_install.finished_unix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertField(t, tt.rec.Validate(), tt.wantField)
			n := validNode()
			n.LastInstall = tt.rec
			assertField(t, n.Validate(), tt.wantField)
		})
	}
}

func TestNewInstallRecordCutsLongText(t *testing.T) {
	long := strings.Repeat("é", MaxInstallErrorLen) // 2 bytes each: the cut falls inside a rune
	res := InstallResult{Node: "gpu-1", Result: ResultFailed, Phase: "get binary",
		Error: &ErrorDetail{Message: long, Hint: strings.Repeat("h", 2*MaxInstallHintLen)}}
	rec := NewInstallRecord(res, 1_760_000_000)
	if len(rec.Error) > MaxInstallErrorLen || !utf8.ValidString(rec.Error) || !strings.HasPrefix(long, rec.Error) ||
		len(rec.Error) < MaxInstallErrorLen-utf8.UTFMax {
		t.Errorf("error cut to %d bytes (valid UTF-8: %v), want the head of the message within %d", len(rec.Error),
			utf8.ValidString(rec.Error), MaxInstallErrorLen)
	}
	if len(rec.Hint) != MaxInstallHintLen {
		t.Errorf("hint %d bytes, want %d", len(rec.Hint), MaxInstallHintLen)
	}
	if err := rec.Validate(); err != nil {
		t.Errorf("record of a long failure is invalid: %v", err)
	}
	ok := NewInstallRecord(InstallResult{Node: "gpu-1", Result: ResultUpToDate}, 7)
	if want := (InstallRecord{Result: ResultUpToDate, FinishedUnix: 7}); ok != want {
		t.Errorf("record %+v, want %+v", ok, want)
	}
}

func TestCommits(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		same bool
	}{
		{name: "equal", a: fullCommit, b: fullCommit, same: true},
		{name: "12 hex of the full commit", a: shortCommit, b: fullCommit, same: true},
		{name: "full commit and its 7 hex", a: fullCommit, b: fullCommit[:7], same: true},
		{name: "6 hex are too few", a: fullCommit[:6], b: fullCommit},
		{name: "another commit", a: "0123456789ab", b: fullCommit},
		{name: "dev build", a: "dev", b: fullCommit},
		{name: "empty", a: "", b: fullCommit},
		{name: "uppercase", a: strings.ToUpper(shortCommit), b: fullCommit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SameCommit(tt.a, tt.b); got != tt.same {
				t.Errorf("SameCommit(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.same)
			}
			if got := SameCommit(tt.b, tt.a); got != tt.same {
				t.Errorf("SameCommit(%q, %q) = %v, want %v", tt.b, tt.a, got, tt.same)
			}
		})
	}
	for in, want := range map[string]string{fullCommit: shortCommit, shortCommit: shortCommit, "dev": "dev", "": ""} {
		if got := ShortCommit(in); got != want {
			t.Errorf("ShortCommit(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestRetiredStatuses: no code can set installing or install_failed any
// more; a failed install is Node.LastInstall.
func TestRetiredStatuses(t *testing.T) {
	for _, s := range RetiredStatuses() {
		if slices.Contains(Statuses(), s) {
			t.Errorf("retired status %q is still in Statuses()", s)
		}
		assertField(t, ValidateStatus(s), "status")
	}
}

func TestNodeJSONLastInstall(t *testing.T) {
	n := validNode()
	n.LastInstall = InstallRecord{Result: ResultFailed, Phase: "get binary", Error: "boom", Hint: "fix it", FinishedUnix: 9}
	raw, err := json.Marshal(n)
	if err != nil {
		t.Fatal(err)
	}
	want := `"last_install":{"result":"failed","phase":"get binary","error":"boom","hint":"fix it","finished_unix":9}`
	if !strings.Contains(string(raw), want) {
		t.Errorf("JSON %s does not contain %s", raw, want)
	}
	if raw, _ := json.Marshal(validNode()); strings.Contains(string(raw), "last_install") {
		t.Errorf("a node never installed has a last_install: %s", raw)
	}
}
