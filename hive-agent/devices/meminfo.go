package devices

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// memTotal returns MemTotal of a /proc/meminfo file, in bytes.
func memTotal(path string) (int64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	n, err := parseMemTotal(data)
	if err != nil {
		return 0, fmt.Errorf("parse %s: %w", path, err)
	}
	return n, nil
}

// parseMemTotal reads the "MemTotal: <n> kB" line.
func parseMemTotal(data []byte) (int64, error) {
	for line := range bytes.Lines(data) {
		rest, ok := bytes.CutPrefix(line, []byte("MemTotal:"))
		if !ok {
			continue
		}
		f := strings.Fields(string(rest))
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("MemTotal line %s is not \"<n> kB\"", quoteShort(strings.TrimSpace(string(line))))
		}
		kB, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || kB < 0 || kB > (1<<63-1)/1024 {
			return 0, fmt.Errorf("MemTotal %s is not a number of kB", quoteShort(f[0]))
		}
		return kB * 1024, nil
	}
	return 0, errors.New("no MemTotal line")
}
