package server_test

import (
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/rbee-fleet/rbee/queen/server"
	"github.com/rbee-fleet/rbee/shared/api"
)

// endlessBeat is a heartbeat body of unknown length (sent chunked): a JSON
// string that goes on for size bytes and is never closed. It counts what the client took from it.
type endlessBeat struct {
	size int64
	sent atomic.Int64
}

func (b *endlessBeat) Read(p []byte) (int, error) {
	const start = `{"agent_version":"`
	sent := b.sent.Load()
	if sent >= b.size {
		return 0, io.EOF
	}
	n := copy(p, strings.Repeat("x", min(len(p), int(b.size-sent))))
	if sent == 0 {
		n = copy(p, start)
	}
	b.sent.Add(int64(n))
	return n, nil
}

// TestHeartbeatBodyReadStopsNearOneMiB sends a heartbeat whose body has no
// declared length and goes on for 64 MiB: the queen answers 413 and stops
// reading after about 1 MiB, so the client never gets to send most of it.
func TestHeartbeatBodyReadStopsNearOneMiB(t *testing.T) {
	const size = 64 << 20
	reg := openRouteRegistry(t)
	q := startRouteQueen(t, reg, server.Config{})
	a := addHive(t, reg, "gpu-a", api.StatusOnline)
	body := &endlessBeat{size: size}
	req, err := http.NewRequestWithContext(t.Context(), "POST", q.url+"/v1/hives/gpu-a/heartbeat", body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", bearerAuth(a.token))
	resp, err := q.client.Do(req)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("status %d, want 413", resp.StatusCode)
		}
	} else {
		t.Logf("the queen closed the connection before the client read its answer: %v", err)
	}
	// The client sends what the queen read plus what the socket buffers
	// hold; with the limit gone the queen reads all 64 MiB.
	sent := body.sent.Load()
	t.Logf("the client sent %d KiB", sent>>10)
	if sent > 16<<20 {
		t.Errorf("the client sent %d MiB of the body before the queen stopped reading; want about 1 MiB", sent>>20)
	}
}
