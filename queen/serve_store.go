package main

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"

	"github.com/rbee-fleet/rbee/queen/hiveregistry"
	"github.com/rbee-fleet/rbee/queen/server"
)

// runningQueen is a serving queen: its routes, its admin token and what
// to close when it ends.
type runningQueen interface {
	http.Handler
	tokenSetter
	Close()
}

// storeSpec is the --store value, or the data dir's SQLite file.
func (s *serveCmd) storeSpec(g *Globals) string {
	if s.Store != "" {
		return s.Store
	}
	return "sqlite:" + filepath.Join(g.DataDir, dbFile)
}

// storeName names the store in the log without a password.
func (s *serveCmd) storeName(g *Globals) string {
	spec := s.storeSpec(g)
	if isPostgres(spec) {
		return "postgres"
	}
	return strings.TrimPrefix(spec, "sqlite:")
}

// isPostgres reports whether spec names a PostgreSQL database.
func isPostgres(spec string) bool {
	return strings.HasPrefix(spec, "postgres://") || strings.HasPrefix(spec, "postgresql://")
}

// start opens the store and starts the queen on it: on SQLite one queen,
// always active; on PostgreSQL one of an HA pair.
func (s *serveCmd) start(ctx context.Context, g *Globals, cfg server.Config) (runningQueen, error) {
	spec := s.storeSpec(g)
	if isPostgres(spec) {
		return s.startHA(ctx, spec, cfg)
	}
	reg, err := hiveregistry.OpenStore(ctx, spec, hiveregistry.Options{})
	if err != nil {
		return nil, fmt.Errorf("open hive registry: %w", err)
	}
	if err := reg.QuickCheck(ctx); err != nil {
		reg.Close()
		db := strings.TrimPrefix(spec, "sqlite:")
		return nil, fmt.Errorf("%w; the queen does not serve from a damaged registry: restore a backup made with `queen db backup FILE`: %s",
			err, restoreSteps("FILE", db))
	}
	cfg.Registry = reg
	srv := server.New(cfg)
	go srv.Run(ctx)
	return &singleQueen{Server: srv, reg: reg}, nil
}

// singleQueen is a queen on SQLite: always active.
type singleQueen struct {
	*server.Server
	reg *hiveregistry.Registry
}

// ServeHTTP serves the queen's routes.
func (q *singleQueen) ServeHTTP(w http.ResponseWriter, r *http.Request) { q.Handler().ServeHTTP(w, r) }

// Close closes the registry.
func (q *singleQueen) Close() { q.reg.Close() }
