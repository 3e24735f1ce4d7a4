package main

import "testing"

func TestMemoryLimit(t *testing.T) {
	for _, c := range []struct {
		name, env, max string
		want           int64
	}{
		{"cgroup v2 limit", "", "1073741824\n", 966367641},
		{"no limit", "", "max\n", 0},
		{"cgroup v1 without a limit", "", "9223372036854771712\n", 0},
		{"the operator's GOMEMLIMIT wins", "512MiB", "1073741824\n", 0},
		{"not a number", "", "lots\n", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := memoryLimit(c.env, c.max); got != c.want {
				t.Errorf("memoryLimit(%q, %q) = %d, want %d", c.env, c.max, got, c.want)
			}
		})
	}
}
