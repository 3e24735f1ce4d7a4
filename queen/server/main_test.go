package server_test

import (
	"os"
	"testing"

	"github.com/rbee-fleet/rbee/testenv/gobuild"
)

func TestMain(m *testing.M) {
	code := m.Run()
	gobuild.Cleanup()
	os.Exit(code)
}
