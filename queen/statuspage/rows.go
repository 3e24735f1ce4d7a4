package statuspage

import (
	"slices"
	"strconv"
	"strings"

	"github.com/rbee-fleet/rbee/shared/api"
)

// nodeRow is what a node's row shows.
type nodeRow struct {
	Name, Status, SSH, AgentURL string
	Transport, ConnError        string // how the queen reaches the agent, and why SSH is down
	Connected                   bool   // the queen's SSH connection is up
	Commit, CommitFull, Running string // installed (short, full), running (short)
	Drift                       bool   // the running agent is not the installed commit
	Behind                      string // the branch head (short) when the installed commit is not it
	Caps                        []string
	Devices                     []Device
	Workers                     int
	LastBeat                    int64 // Unix seconds, 0: none; sent apart, so not compared
}

func (a nodeRow) equal(b nodeRow) bool {
	return a.equalScalars(b) && slices.Equal(a.Caps, b.Caps) && slices.Equal(a.Devices, b.Devices)
}

// equalScalars compares the fields other than the slices and LastBeat.
func (a nodeRow) equalScalars(b nodeRow) bool {
	return a.Name == b.Name && a.Status == b.Status && a.SSH == b.SSH && a.AgentURL == b.AgentURL &&
		a.Transport == b.Transport && a.ConnError == b.ConnError && a.Connected == b.Connected &&
		a.Commit == b.Commit && a.CommitFull == b.CommitFull && a.Running == b.Running &&
		a.Drift == b.Drift && a.Behind == b.Behind && a.Workers == b.Workers
}

// nodeRows returns the nodes' rows in registry order.
func nodeRows(nodes []api.Node, hives map[string]Hive, conns Connections, perNode map[string]int) ([]string, []nodeRow) {
	keys, rows := make([]string, len(nodes)), make([]nodeRow, len(nodes))
	for i, n := range nodes {
		h := hives[n.NodeName]
		keys[i] = n.NodeName
		rows[i] = nodeRow{Name: n.NodeName, Status: n.Status, SSH: sshTarget(n), AgentURL: n.AgentURL,
			Commit: api.ShortCommit(n.InstalledCommit), CommitFull: n.InstalledCommit,
			Running: api.ShortCommit(h.AgentVersion), Drift: drifted(n.InstalledCommit, h.AgentVersion),
			Caps: h.Capabilities, Devices: h.Devices, Workers: perNode[n.NodeName], LastBeat: beatUnix(h),
			Transport: n.Transport, Behind: behind(n.InstalledCommit, h.BranchHead)}
		if conns != nil {
			c := conns.Connection(n.NodeName)
			rows[i].Connected, rows[i].ConnError = c.Connected, c.LastError
		}
	}
	return keys, rows
}

func sshTarget(n api.Node) string {
	host := n.SSHHost
	if n.SSHUser != "" {
		host = n.SSHUser + "@" + host
	}
	if n.SSHPort != 0 && n.SSHPort != 22 {
		host += ":" + strconv.Itoa(n.SSHPort)
	}
	return host
}

// behind returns the branch head, short, when the installed commit is
// not it (both must be commits; they compare by prefix).
func behind(installed, head string) string {
	if !api.IsCommit(installed) || !api.IsCommit(head) || api.SameCommit(installed, head) {
		return ""
	}
	return api.ShortCommit(head)
}

// drifted reports whether the running agent's commit differs from the
// installed one; commits compare by prefix (README: Node statuses), and a
// version that is not a commit (a dev build) is not judged.
func drifted(installed, running string) bool {
	if !api.IsCommit(installed) || !api.IsCommit(running) {
		return false
	}
	return !strings.HasPrefix(installed, running) && !strings.HasPrefix(running, installed)
}

func beatUnix(h Hive) int64 {
	if h.LastBeat.IsZero() {
		return 0
	}
	return h.LastBeat.Unix()
}

// workerRow is what a worker's row shows.
type workerRow struct {
	ID, Node, Model, Device, State, URL string
	SlotsUsed, SlotsTotal, Restarts     int
	Started                             int64
	Exit                                string
}

// workerRows returns the workers' rows (ordered as listed: by node, then
// id) and the number of workers per node.
func workerRows(ws []api.Worker) ([]string, []workerRow, map[string]int) {
	keys, rows, perNode := make([]string, len(ws)), make([]workerRow, len(ws)), map[string]int{}
	for i, w := range ws {
		keys[i] = w.ID
		perNode[w.Node]++
		rows[i] = workerRow{ID: w.ID, Node: w.Node, Model: w.ModelRef, Device: deviceName(w), State: w.State,
			URL: w.URL, SlotsUsed: w.SlotsTotal - w.SlotsAvailable, SlotsTotal: w.SlotsTotal,
			Restarts: w.Restarts, Started: w.StartedUnix}
		if w.ExitCode != nil {
			rows[i].Exit = strconv.Itoa(*w.ExitCode)
		}
	}
	return keys, rows, perNode
}

// deviceName is "cpu" or the backend's device, e.g. "cuda:1".
func deviceName(w api.Worker) string {
	if w.Backend == api.BackendCPU {
		return api.BackendCPU
	}
	return w.Backend + ":" + strconv.Itoa(w.Device)
}

// installRow is what the row of a node's last install shows.
type installRow struct {
	Node, Result, Phase, Error, Hint string
	Finished                         int64
	Phases                           []Phase
}

func (a installRow) equal(b installRow) bool {
	return a.Node == b.Node && a.Result == b.Result && a.Phase == b.Phase && a.Error == b.Error &&
		a.Hint == b.Hint && a.Finished == b.Finished && slices.Equal(a.Phases, b.Phases)
}

// installRows returns a row for each node that was installed or has an
// install running.
func installRows(nodes []api.Node, installs Installs) ([]string, []installRow) {
	var keys []string
	var rows []installRow
	for _, n := range nodes {
		var phases []Phase
		if installs != nil {
			phases = installs.LastPhases(n.NodeName)
		}
		li := n.LastInstall
		if li.Result == "" && len(phases) == 0 {
			continue
		}
		keys = append(keys, n.NodeName)
		rows = append(rows, installRow{Node: n.NodeName, Result: li.Result, Phase: li.Phase, Error: li.Error,
			Hint: li.Hint, Finished: li.FinishedUnix, Phases: phases})
	}
	return keys, rows
}

// count is one number of the summary.
type count struct {
	Name string
	N    int
}

// summaryRow is the counts at the top of the page.
type summaryRow struct {
	Nodes, Workers         []count
	NodeTotal, WorkerTotal int
}

func (a summaryRow) equal(b summaryRow) bool {
	return a.NodeTotal == b.NodeTotal && a.WorkerTotal == b.WorkerTotal &&
		slices.Equal(a.Nodes, b.Nodes) && slices.Equal(a.Workers, b.Workers)
}

// newSummary counts the nodes by status and the workers by state.
func newSummary(nodes []api.Node, workers map[string]*entry[workerRow]) summaryRow {
	s := summaryRow{NodeTotal: len(nodes), WorkerTotal: len(workers)}
	byStatus, byState := map[string]int{}, map[string]int{}
	for _, n := range nodes {
		byStatus[n.Status]++
	}
	for _, e := range workers {
		byState[e.data.State]++
	}
	for _, st := range api.Statuses() {
		s.Nodes = append(s.Nodes, count{st, byStatus[st]})
	}
	for _, st := range api.WorkerStates() {
		s.Workers = append(s.Workers, count{st, byState[st]})
	}
	return s
}
