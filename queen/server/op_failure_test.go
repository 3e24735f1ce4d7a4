package server_test

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rbee-fleet/rbee/shared/api"
	"github.com/rbee-fleet/rbee/testenv/fleet"
)

// TestHiveOpKeepsTheFailedStepsCode runs hive start and uninstall over a
// real sshd on a node where nothing is installed: SSH works, the step
// after it fails, and the answer is HIVE_OP_FAILED with that step's hint
// (`queen setup install --node N` for start), not SSH_CONNECT_FAILED with
// "check that sshd listens". Nodes SSH cannot reach keep their SSH codes.
func TestHiveOpKeepsTheFailedStepsCode(t *testing.T) {
	f := fleet.New(t, fleet.Options{Mode: fleet.Loopback, Hosts: 1, Prefix: "opf"})
	h := f.Hosts[0]
	q := startQueen(t, filepath.Join(t.TempDir(), "beehives.db"))
	addNodes(t, q, f)
	addCopy(t, q, f, h, "closed", func(n *api.Node) { n.SSHPort = closedPort(t) })
	addCopy(t, q, f, h, "badkey", func(n *api.Node) { n.SSHKeyPath = otherKey(t) })

	tests := []struct {
		name, node, op string
		wantStatus     int // without streaming
		wantCode       string
		wantText       string // in the message
		wantHint       string
	}{
		{"start with nothing installed", h.Name, "start", http.StatusBadGateway, api.CodeHiveOpFailed,
			"no agent is installed at " + h.InstallDir, "queen setup install --node " + h.Name},
		{"uninstall with nothing installed", h.Name, "uninstall", http.StatusBadGateway, api.CodeHiveOpFailed,
			"no install manifest", "queen hive stop --node " + h.Name},
		{"start where sshd does not listen", "closed", "start", http.StatusBadGateway, api.CodeSSHConnectFailed,
			"connection refused", "sshd"},
		{"start with a key the node refuses", "badkey", "start", http.StatusUnprocessableEntity, api.CodeSSHAuthFailed,
			"Permission denied", "authorized_keys"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events := q.stream(t, "POST", "/v1/hives/"+tt.node+"/"+tt.op, nil)
			last := events[len(events)-1]
			if last.Error == nil {
				t.Fatalf("%s %s succeeded: %+v", tt.op, tt.node, last)
			}
			checkOpError(t, *last.Error, tt.wantCode, tt.wantText, tt.wantHint)
			var eb api.ErrorBody
			if st := q.call(t, "POST", "/v1/hives/"+tt.node+"/"+tt.op, nil, &eb); st != tt.wantStatus {
				t.Errorf("without streaming: %d %+v, want %d", st, eb.Error, tt.wantStatus)
			}
			checkOpError(t, eb.Error, tt.wantCode, tt.wantText, tt.wantHint)
		})
	}
}

// checkOpError fails t unless d has code, a message with text and a hint
// with hint.
func checkOpError(t *testing.T, d api.ErrorDetail, code, text, hint string) {
	t.Helper()
	if d.Code != code || !strings.Contains(d.Message, text) || !strings.Contains(d.Hint, hint) {
		t.Errorf("error %+v, want %s with %q in the message and %q in the hint", d, code, text, hint)
	}
}

// addCopy registers host h again under name, then changes its row with
// change (what add-node would have refused to save).
func addCopy(t *testing.T, q *queen, f *fleet.Fleet, h *fleet.Host, name string, change func(*api.Node)) {
	t.Helper()
	var n api.Node
	if st := q.call(t, "POST", "/v1/hives", addRequest(f, h, name), &n); st != http.StatusCreated {
		t.Fatalf("add %s: status %d", name, st)
	}
	if _, err := q.reg.Update(t.Context(), name, func(n *api.Node) error { change(n); return nil }); err != nil {
		t.Fatal(err)
	}
}
