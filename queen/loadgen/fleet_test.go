package loadgen

import (
	"strings"
	"testing"

	"github.com/rbee-fleet/rbee/shared/api"
)

func TestNewFleetRefusesConfig(t *testing.T) {
	for name, cfg := range map[string]FleetConfig{
		"no base URL": {Hives: testHives(1)},
		"no hives":    {BaseURL: "http://127.0.0.1:7833"},
		"negative":    {BaseURL: "http://127.0.0.1:7833", Hives: testHives(1), WorkersPerHive: -1},
	} {
		if _, err := NewFleet(cfg); err == nil {
			t.Errorf("%s: NewFleet accepted %+v", name, cfg)
		}
	}
}

func TestDiff(t *testing.T) {
	a, b, c := api.Worker{ID: "a", Node: "n"}, api.Worker{ID: "b", Node: "n"}, api.Worker{ID: "c", Node: "n"}
	bChanged := b
	bChanged.SlotsAvailable = 3
	aLater := a
	aLater.LastHeartbeatUnix = 99 // the queen's own field
	tests := []struct {
		name   string
		listed []api.Worker
		want   []string
	}{
		{name: "equal", listed: []api.Worker{aLater, b}},
		{name: "ghost", listed: []api.Worker{a, b, c}, want: []string{"ghost n/c"}},
		{name: "missing", listed: []api.Worker{a}, want: []string{"missing n/b"}},
		{name: "duplicate", listed: []api.Worker{a, a, b}, want: []string{"a listed twice"}},
		{name: "changed", listed: []api.Worker{a, bChanged}, want: []string{"b: listed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Diff([]api.Worker{a, b}, tt.listed, 10)
			if len(got) != len(tt.want) {
				t.Fatalf("Diff = %v, want %v", got, tt.want)
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tt.want[i]) {
					t.Errorf("Diff[%d] = %q, want it to start with %q", i, got[i], tt.want[i])
				}
			}
		})
	}
}
