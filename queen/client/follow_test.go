package client_test

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/rbee-fleet/rbee/queen/client"
	"github.com/rbee-fleet/rbee/shared/api"
)

// haQueen is a fake queen of an HA pair: standby (naming active) or not,
// counting the requests it got.
type haQueen struct {
	url    string
	active atomic.Pointer[string] // "" for the active queen itself
	hits   atomic.Int32
}

func newHAQueen(t *testing.T, activeURL string, code string) *haQueen {
	q := &haQueen{}
	q.active.Store(&activeURL)
	q.url = fakeQueen(t, func(w http.ResponseWriter, r *http.Request) {
		q.hits.Add(1)
		if code == "" {
			json.NewEncoder(w).Encode(api.HiveList{Nodes: []api.Node{{NodeName: q.url}}})
			return
		}
		if a := *q.active.Load(); a != "" {
			w.Header().Set(api.HeaderActiveQueen, a)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		json.NewEncoder(w).Encode(api.ErrorBody{Error: api.ErrorDetail{Code: code, Message: "not me"}})
	})
	return q
}

// TestFollowActiveQueen: of a --queen-url list the client reaches the
// active queen past dead addresses and standbys, follows the URL a standby
// names once, remembers the active one, and does not take another 503 for
// a standby.
func TestFollowActiveQueen(t *testing.T) {
	dead := "http://" + closedAddr(t)
	t.Run("past a dead queen and a standby naming the active one", func(t *testing.T) {
		active := newHAQueen(t, "", "")
		standby := newHAQueen(t, active.url, api.CodeStandby)
		c := client.New(dead+","+standby.url, testToken)
		l, err := c.ListNodes(t.Context())
		if err != nil || len(l.Nodes) != 1 || l.Nodes[0].NodeName != active.url {
			t.Fatalf("list: %+v, %v; want the active queen's answer", l, err)
		}
		if c.URL() != active.url {
			t.Errorf("URL() = %s, want the active %s", c.URL(), active.url)
		}
		if _, err := c.ListNodes(t.Context()); err != nil || standby.hits.Load() != 1 || active.hits.Load() != 2 {
			t.Errorf("second call: %v; standby hit %d times, active %d; want it straight to the active queen",
				err, standby.hits.Load(), active.hits.Load())
		}
	})
	t.Run("two standbys naming each other end with the standby error", func(t *testing.T) {
		a := newHAQueen(t, "", api.CodeStandby)
		b := newHAQueen(t, a.url, api.CodeStandby)
		a.active.Store(&b.url)
		_, err := client.New(a.url+","+b.url, testToken).ListNodes(t.Context())
		ae, ok := errors.AsType[*client.APIError](err)
		if !ok || ae.Detail.Code != api.CodeStandby || a.hits.Load() != 1 || b.hits.Load() != 1 {
			t.Fatalf("err %v, hits %d/%d; want STANDBY after one request to each", err, a.hits.Load(), b.hits.Load())
		}
	})
	t.Run("a busy registry is not a standby", func(t *testing.T) {
		busy := newHAQueen(t, "", api.CodeRegistryBusy)
		other := newHAQueen(t, "", "")
		_, err := client.New(busy.url+","+other.url, testToken).ListNodes(t.Context())
		if ae, ok := errors.AsType[*client.APIError](err); !ok || ae.Detail.Code != api.CodeRegistryBusy || other.hits.Load() != 0 {
			t.Fatalf("err %v, other hit %d times; want REGISTRY_BUSY from the first queen only", err, other.hits.Load())
		}
	})
	t.Run("every queen dead names the last", func(t *testing.T) {
		dead2 := "http://" + closedAddr(t)
		_, err := client.New(dead+" , "+dead2+"/", testToken).ListNodes(t.Context())
		if ue, ok := errors.AsType[*client.UnreachableError](err); !ok || ue.URL != dead2 {
			t.Fatalf("err %v; want unreachable naming %s", err, dead2)
		}
	})
	if got := client.URLs(" http://a:1/, http://b:2 ,http://a:1"); strings.Join(got, " ") != "http://a:1 http://b:2" {
		t.Errorf("URLs = %q", got)
	}
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
