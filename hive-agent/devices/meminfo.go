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
	total, _, err := memInfo(path)
	return total, err
}

// memInfo returns MemTotal and MemAvailable of a /proc/meminfo file, in
// bytes; a missing or odd MemAvailable (kernels before 3.14) is 0.
func memInfo(path string) (total, available int64, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, err
	}
	total, err = parseMemTotal(data)
	if err != nil {
		return 0, 0, fmt.Errorf("parse %s: %w", path, err)
	}
	available, _ = parseMemField(data, "MemAvailable")
	return total, available, nil
}

// parseMemTotal reads the "MemTotal: <n> kB" line.
func parseMemTotal(data []byte) (int64, error) {
	return parseMemField(data, "MemTotal")
}

// parseMemField reads the "<key>: <n> kB" line.
func parseMemField(data []byte, key string) (int64, error) {
	for line := range bytes.Lines(data) {
		rest, ok := bytes.CutPrefix(line, []byte(key+":"))
		if !ok {
			continue
		}
		f := strings.Fields(string(rest))
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("%s line %s is not \"<n> kB\"", key, quoteShort(strings.TrimSpace(string(line))))
		}
		kB, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || kB < 0 || kB > (1<<63-1)/1024 {
			return 0, fmt.Errorf("%s %s is not a number of kB", key, quoteShort(f[0]))
		}
		return kB * 1024, nil
	}
	return 0, errors.New("no " + key + " line")
}
