package fleet

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// stateFile is where a fleet keeps its own state, inside its folder, so that
// a fleet whose owner died (a test killed by a timeout) can be found and
// removed later.
const stateFile = "state.json"

// Owner identifies the process that owns a fleet: its pid and start time
// (so a recycled pid is not mistaken for the owner). The CLI's fleets have
// no owner (see [Fleet.Detach]): they live until `testenv down`.
type Owner struct {
	PID   int    `json:"pid"`
	Start string `json:"start"`
}

func currentOwner() *Owner {
	return &Owner{PID: os.Getpid(), Start: processStart(os.Getpid())}
}

// processStart returns the start time of pid in clock ticks since boot, ""
// when it does not run.
func processStart(pid int) string {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	s := string(stat)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 20 {
		return ""
	}
	return fields[19] // field 22 of stat; fields here start at field 3
}

func (o *Owner) alive() bool {
	return o == nil || (running(o.PID) && processStart(o.PID) == o.Start)
}

// Detach gives the fleet up from the process that started it: from now on
// [ReapStale] (and so [New] in every test process) leaves it alone, and it
// lives until [Fleet.Close] (`testenv down`), whatever happens to this
// process. It records that in the state file of the fleet folder, which is
// what ReapStale reads; clearing Owner alone would not.
func (f *Fleet) Detach() error {
	f.Owner = nil
	if err := f.save(); err != nil {
		return fmt.Errorf("detach fleet %s from its owner: %w; stop it with Close (`testenv down`) and start it again", f.ID, err)
	}
	return nil
}

// save writes the fleet's state into its folder.
func (f *Fleet) save() error {
	if f.Dir == "" {
		return nil
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(f.Dir, stateFile), data, 0o600)
}

// ReapStale closes every fleet in the temp folder whose owner process is
// gone, and returns the ids of those it closed. Detached fleets (the CLI's,
// see [Fleet.Detach]) and fleets of live processes are left alone: only
// Close, through `testenv down`, removes a detached fleet.
func ReapStale() ([]string, error) {
	paths, _ := filepath.Glob(filepath.Join(os.TempDir(), "rbee-fleet-*", stateFile))
	var reaped []string
	var errs []error
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		var f Fleet
		if json.Unmarshal(data, &f) != nil || f.Owner.alive() || f.Dir != filepath.Dir(p) {
			continue
		}
		if err := f.Close(); err != nil {
			errs = append(errs, fmt.Errorf("fleet %s: %w", f.ID, err))
			continue
		}
		reaped = append(reaped, f.ID)
	}
	return reaped, errors.Join(errs...)
}
