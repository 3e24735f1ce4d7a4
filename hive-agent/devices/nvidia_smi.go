package devices

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/rbee-fleet/rbee/shared/api"
)

// queryArgs are nvidia-smi's arguments: one CSV line per GPU, memory in MiB.
var queryArgs = []string{"--query-gpu=index,name,memory.total,memory.free", "--format=csv,noheader,nounits"}

// Limits on what ParseNvidiaSMI accepts.
const (
	mib = 1 << 20
	// maxIndex matches the device range spawn requests accept.
	maxIndex = 255
	// maxMemoryTotalMiB is far above any GPU made; more is a garbled line.
	maxMemoryTotalMiB = 1_000_000
	maxNameLen        = 256
	// maxWarnings bounds the warnings of one output; the rest are counted.
	maxWarnings = 20
)

// ParseNvidiaSMI parses the output of
//
//	nvidia-smi --query-gpu=index,name,memory.total,memory.free --format=csv,noheader,nounits
//
// into GPUs sorted by index, with memory in bytes. Each line is
// "index, name, total MiB, free MiB"; a name with commas keeps them (the
// first and the last two fields are the numbers).
//
// A line is skipped, with a warning naming its number and the reason, when
// it has fewer than 4 fields, an index that is not a whole number in 0–255
// or that an earlier line already used, a name that is empty, longer than
// 256 bytes, not UTF-8 or holds control characters, or memory that is not a
// whole number of MiB or a total above 1,000,000 MiB. Free memory of
// "[N/A]" or "[Not Supported]" reads as 0, and free memory above the total
// as the total. Blank lines are ignored. It never panics.
func ParseNvidiaSMI(out []byte) (gpus []api.GPU, warnings []string) {
	seen := make(map[int]bool)
	lineNo, more := 0, 0
	for line := range bytes.Lines(out) {
		lineNo++
		text := strings.TrimSpace(string(line))
		if text == "" {
			continue
		}
		gpu, err := parseGPULine(text)
		if err == nil && seen[gpu.Index] {
			err = fmt.Errorf("index %d is listed twice", gpu.Index)
		}
		if err != nil {
			if len(warnings) == maxWarnings {
				more++
				continue
			}
			warnings = append(warnings, fmt.Sprintf("nvidia-smi line %d skipped: %v", lineNo, err))
			continue
		}
		seen[gpu.Index] = true
		gpus = append(gpus, gpu)
	}
	if more > 0 {
		warnings = append(warnings, fmt.Sprintf("nvidia-smi: %d more lines skipped", more))
	}
	slices.SortFunc(gpus, func(a, b api.GPU) int { return cmp.Compare(a.Index, b.Index) })
	return gpus, warnings
}

// parseGPULine parses one trimmed, non-blank line.
func parseGPULine(line string) (api.GPU, error) {
	if n := strings.Count(line, ",") + 1; n < 4 {
		return api.GPU{}, fmt.Errorf("want 4 fields (index, name, memory.total, memory.free), got %d", n)
	}
	indexField, rest, _ := strings.Cut(line, ",")
	rest, freeField := cutLast(rest)
	name, totalField := cutLast(rest)
	index, err := parseIndex(strings.TrimSpace(indexField))
	if err != nil {
		return api.GPU{}, err
	}
	name = strings.TrimSpace(name)
	if err := checkName(name); err != nil {
		return api.GPU{}, err
	}
	total, err := parseMiB("memory.total", strings.TrimSpace(totalField))
	if err != nil {
		return api.GPU{}, err
	}
	if total > maxMemoryTotalMiB {
		return api.GPU{}, fmt.Errorf("memory.total %d MiB is above %d MiB", total, maxMemoryTotalMiB)
	}
	free, err := parseFreeMiB(strings.TrimSpace(freeField))
	if err != nil {
		return api.GPU{}, err
	}
	return api.GPU{Index: index, Name: name, MemoryTotalByte: total * mib, MemoryFreeByte: min(free, total) * mib}, nil
}

// cutLast splits s around its last comma.
func cutLast(s string) (before, after string) {
	i := strings.LastIndexByte(s, ',')
	return s[:i], s[i+1:]
}

func parseIndex(s string) (int, error) {
	n, err := strconv.Atoi(s)
	switch {
	case err != nil:
		return 0, fmt.Errorf("index %s is not a whole number", quoteShort(s))
	case n < 0:
		return 0, fmt.Errorf("index %d is negative", n)
	case n > maxIndex:
		return 0, fmt.Errorf("index %d is above %d", n, maxIndex)
	}
	return n, nil
}

func checkName(name string) error {
	switch {
	case name == "":
		return errors.New("name is empty")
	case len(name) > maxNameLen:
		return fmt.Errorf("name is %d bytes, above %d", len(name), maxNameLen)
	case !utf8.ValidString(name):
		return fmt.Errorf("name %s is not UTF-8", quoteShort(name))
	case strings.ContainsFunc(name, unicode.IsControl):
		return fmt.Errorf("name %s has control characters", quoteShort(name))
	}
	return nil
}

// parseMiB parses a memory field: a whole, non-negative number of MiB.
func parseMiB(field, s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s %s is not a whole, non-negative number of MiB", field, quoteShort(s))
	}
	return n, nil
}

// parseFreeMiB is parseMiB for memory.free, which some GPUs do not report.
func parseFreeMiB(s string) (int64, error) {
	if s == "[N/A]" || s == "[Not Supported]" {
		return 0, nil
	}
	return parseMiB("memory.free", s)
}

// quoteShort quotes s for a warning, cut to 40 bytes.
func quoteShort(s string) string { return quoteCut(s, 40) }

// quoteCut quotes s, cut to maxLen bytes.
func quoteCut(s string, maxLen int) string {
	if len(s) > maxLen {
		return strconv.Quote(s[:maxLen]) + "…"
	}
	return strconv.Quote(s)
}
