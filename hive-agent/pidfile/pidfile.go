// Package pidfile writes and removes the agent's pid file,
// <install_path>/run/hive-agent.pid. The queen reads it to stop or restart
// the agent, after checking that /proc/PID/cmdline names hive-agent.
package pidfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ForConfig returns the pid file of the agent whose config is configPath:
// run/hive-agent.pid next to it.
func ForConfig(configPath string) string {
	return filepath.Join(filepath.Dir(configPath), "run", "hive-agent.pid")
}

// Write puts pid in path atomically (a temp file in the same folder, then a
// rename), creating the folder with mode 0755.
func Write(path string, pid int) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create pid folder: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".hive-agent.pid.*")
	if err != nil {
		return fmt.Errorf("create pid file: %w", err)
	}
	if err := fill(tmp, pid); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("rename pid file into place: %w", err)
	}
	return nil
}

// fill writes pid to f, makes it 0644 and closes it.
func fill(f *os.File, pid int) error {
	_, err := fmt.Fprintf(f, "%d\n", pid)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write pid file %s: %w", f.Name(), err)
	}
	return nil
}

// Remove deletes path if it still holds pid. A missing file is fine; a file
// holding another pid belongs to a newer agent and stays.
func Remove(path string, pid int) error {
	got, err := Read(path)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && got != pid) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove pid file: %w", err)
	}
	return nil
}

// Read returns the pid in path.
func Read(path string) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read pid file: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("read pid file %s: no pid in it", path)
	}
	return pid, nil
}
