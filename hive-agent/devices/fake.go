package devices

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode"

	"github.com/rbee-fleet/rbee/shared/api"
)

// WriteFakeNvidiaSMI is for tests and demos: it writes an executable
// /bin/sh script named nvidia-smi into dir that, whatever its arguments,
// prints gpus the way the query Detect runs does (one
// "index, name, total, free" line each, memory in MiB rounded down, in the
// order given) and exits 0. It returns the script's path. Put dir first on
// PATH to make Detect report these GPUs. A name with a control character is
// an error, since nvidia-smi prints one line per GPU.
func WriteFakeNvidiaSMI(dir string, gpus []api.GPU) (string, error) {
	var b strings.Builder
	// Only shell builtins: the script works with nothing else on PATH.
	b.WriteString("#!/bin/sh\n# Fake nvidia-smi written by devices.WriteFakeNvidiaSMI, for tests and demos.\n")
	for _, g := range gpus {
		if strings.ContainsFunc(g.Name, unicode.IsControl) {
			return "", fmt.Errorf("write fake nvidia-smi: GPU %d: name %q has a control character", g.Index, g.Name)
		}
		line := fmt.Sprintf("%d, %s, %d, %d", g.Index, g.Name, g.MemoryTotalByte/mib, g.MemoryFreeByte/mib)
		b.WriteString("printf '%s\\n' " + shellQuote(line) + "\n")
	}
	path := filepath.Join(dir, "nvidia-smi")
	if err := os.WriteFile(path, []byte(b.String()), 0o755); err != nil {
		return "", fmt.Errorf("write fake nvidia-smi: %w", err)
	}
	// WriteFile's mode is cut by the umask, and leaves an existing file's.
	if err := os.Chmod(path, 0o755); err != nil {
		return "", fmt.Errorf("write fake nvidia-smi: %w", err)
	}
	return path, nil
}

// shellQuote quotes s as one POSIX shell word.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
