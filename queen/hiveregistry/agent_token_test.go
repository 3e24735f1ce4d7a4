package hiveregistry

import (
	"errors"
	"testing"
)

func TestTokens(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		r, _ := open(t)
		ctx := t.Context()
		for _, name := range []string{"gpu-1", "gpu-2"} {
			if err := r.Add(ctx, sampleNode(t, name)); err != nil {
				t.Fatal(err)
			}
		}
		if tok, err := r.AgentToken(ctx, "gpu-1"); err != nil || tok != "" {
			t.Errorf("AgentToken before install = %q, %v; want empty", tok, err)
		}
		if err := r.SetTokens(ctx, "gpu-1", "hash-1", "agent-1"); err != nil {
			t.Fatal(err)
		}
		if tok, err := r.AgentToken(ctx, "gpu-1"); err != nil || tok != "agent-1" {
			t.Errorf("AgentToken = %q, %v", tok, err)
		}
		if h, err := r.HiveTokenHash(ctx, "gpu-1"); err != nil || h != "hash-1" {
			t.Errorf("HiveTokenHash = %q, %v", h, err)
		}
		tests := []struct {
			hash, want string
			err        error
		}{
			{hash: "hash-1", want: "gpu-1"},
			{hash: "hash-2", err: ErrNoToken},
			{hash: "", err: ErrNoToken},
		}
		for _, tt := range tests {
			got, err := r.NodeByTokenHash(ctx, tt.hash)
			if got != tt.want || !errors.Is(err, tt.err) {
				t.Errorf("NodeByTokenHash(%q) = %q, %v; want %q, %v", tt.hash, got, err, tt.want, tt.err)
			}
		}
		// Two nodes never share a hive token.
		if err := r.SetTokens(ctx, "gpu-2", "hash-1", "agent-2"); err == nil {
			t.Error("a second node got the same hive token hash")
		}
		if got, _ := r.NodeByTokenHash(ctx, "hash-1"); got != "gpu-1" {
			t.Errorf("after the refused write the hash belongs to %q", got)
		}
		// Clearing (uninstall) forgets both.
		if err := r.SetTokens(ctx, "gpu-1", "", ""); err != nil {
			t.Fatal(err)
		}
		if _, err := r.NodeByTokenHash(ctx, "hash-1"); !errors.Is(err, ErrNoToken) {
			t.Errorf("cleared hash still finds a node: %v", err)
		}
		if tok, _ := r.AgentToken(ctx, "gpu-1"); tok != "" {
			t.Errorf("cleared agent token = %q", tok)
		}
		assertNotFound(t, r.SetTokens(ctx, "nope", "h", "a"))
		if _, err := r.AgentToken(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("AgentToken of an unknown node: %v", err)
		}
	})
}
