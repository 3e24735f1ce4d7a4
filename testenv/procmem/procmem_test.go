package procmem

import (
	"os"
	"testing"

	"github.com/rbee-fleet/rbee/testenv/require"
)

func TestOfSelf(t *testing.T) {
	if err := Available(); err != nil {
		require.Missing(t, "/proc of Linux ("+err.Error()+")", "run the tests on Linux")
	}
	rss, hwm, err := Of(os.Getpid())
	if err != nil || rss <= 0 || hwm < rss {
		t.Errorf("Of(self) = %d, %d, %v; want 0 < rss ≤ hwm", rss, hwm, err)
	}
	if _, _, err := Of(-1); err == nil {
		t.Error("Of(-1) succeeded")
	}
}
