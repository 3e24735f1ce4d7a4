package devices

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestParseMemTotal(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		want    int64
		wantErr string
	}{
		{name: "linux", data: "MemTotal:       16303740 kB\nMemFree:         1200000 kB\n", want: 16303740 * 1024},
		{name: "not the first line", data: "MemFree: 1 kB\nMemTotal: 2048 kB\n", want: 2048 * 1024},
		{name: "missing", data: "MemFree: 1 kB\n", wantErr: "no MemTotal line"},
		{name: "empty", data: "", wantErr: "no MemTotal line"},
		{name: "other unit", data: "MemTotal: 16 GB\n", wantErr: `MemTotal line "MemTotal: 16 GB" is not "<n> kB"`},
		{name: "not a number", data: "MemTotal: lots kB\n", wantErr: `MemTotal "lots" is not a number of kB`},
		{name: "negative", data: "MemTotal: -1 kB\n", wantErr: `MemTotal "-1" is not a number of kB`},
		{name: "overflows bytes", data: "MemTotal: 9223372036854775807 kB\n", wantErr: `MemTotal "9223372036854775807" is not a number of kB`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseMemTotal([]byte(tt.data))
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("parseMemTotal = %d, %v; want error %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("parseMemTotal = %d, %v; want %d", got, err, tt.want)
			}
		})
	}
}

func TestMemTotalNamesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meminfo")
	if _, err := memTotal(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("memTotal(missing file) error %v, want one naming %s", err, path)
	}
}
