package api

import (
	"errors"
	"strings"
	"testing"
)

func TestWorkerCursorRoundTrip(t *testing.T) {
	for _, k := range [][2]string{{"gpu-1", "w-1"}, {"a", "b"}, {strings.Repeat("n", MaxNodeNameLen), strings.Repeat("w", maxWorkerIDLen)}, {"host.lan", "w_7.x"}} {
		c := WorkerCursor(k[0], k[1])
		node, id, err := ParseWorkerCursor(c)
		if err != nil || node != k[0] || id != k[1] {
			t.Errorf("ParseWorkerCursor(WorkerCursor(%q, %q)) = %q, %q, %v", k[0], k[1], node, id, err)
		}
	}
}

func TestParseWorkerCursorRejects(t *testing.T) {
	for name, c := range map[string]string{
		"not base64":        "!!!",
		"padded base64":     WorkerCursor("gpu-1", "w-1") + "=",
		"no separator":      WorkerCursor("gpu-1", "")[:8],
		"empty node":        WorkerCursor("", "w-1"),
		"bad node":          WorkerCursor("Bad_Node", "w-1"),
		"bad id":            WorkerCursor("gpu-1", "-w"),
		"id with a slash":   WorkerCursor("gpu-1", "w/1"),
		"longer than a key": strings.Repeat("A", maxCursorLen+1),
	} {
		if _, _, err := ParseWorkerCursor(c); !errors.Is(err, ErrInvalidCursor) {
			t.Errorf("%s: ParseWorkerCursor(%q) = %v, want ErrInvalidCursor", name, c, err)
		}
	}
}

func TestParseWorkerPageLimit(t *testing.T) {
	tests := []struct {
		in   string
		want int
		ok   bool
	}{
		{"", DefaultWorkerPageLimit, true}, {"1", 1, true}, {"5000", 5000, true},
		{"0", 0, false}, {"5001", 0, false}, {"-1", 0, false}, {"ten", 0, false}, {"1e3", 0, false}, {" 5", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseWorkerPageLimit(tt.in)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("ParseWorkerPageLimit(%q) = %d, %v; want %d, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
		if fe, ok := AsFieldError(err); err != nil && (!ok || fe.Field != "limit") {
			t.Errorf("ParseWorkerPageLimit(%q): %v is not a field error of limit", tt.in, err)
		}
	}
}
