package hiveregistry

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rbee-fleet/rbee/shared/api"
)

// pgStore keeps the rows in a PostgreSQL database, through a pgx pool.
type pgStore struct {
	pool  *pgxpool.Pool
	fence func(context.Context, pgx.Tx) error
	// lockTimeout is the lock_timeout of the pool's connections, in ms.
	lockTimeout atomic.Int64
	// sql caches the PostgreSQL text of each shared statement.
	sql sync.Map
}

// openPG connects to the database at dsn and migrates its schema.
func openPG(ctx context.Context, dsn string, opts Options) (*pgStore, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("open hive registry %s: %w; see https://pkg.go.dev/github.com/jackc/pgx/v5/pgconn#ParseConfig for the DSN syntax", redact(dsn), err)
	}
	s := &pgStore{fence: opts.Fence}
	s.lockTimeout.Store(busyTimeout.Milliseconds())
	cfg.MaxConns = poolSize
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, fmt.Sprintf("SET lock_timeout = %d", s.lockTimeout.Load()))
		return err
	}
	if s.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return nil, fmt.Errorf("open hive registry %s: %w", redact(dsn), err)
	}
	if err := migratePG(ctx, s.pool); err != nil {
		s.pool.Close()
		return nil, fmt.Errorf("open hive registry %s: %w; check that the server runs and the DSN names a database this user may create tables in", redact(dsn), err)
	}
	return s, nil
}

func (s *pgStore) close() error {
	s.pool.Close()
	return nil
}

// param matches a :name parameter of the shared SQL.
var param = regexp.MustCompile(`:([A-Za-z_][A-Za-z0-9_]*)`)

// text returns query with its :name parameters as pgx's @name.
func (s *pgStore) text(query string) string {
	if t, ok := s.sql.Load(query); ok {
		return t.(string)
	}
	t := param.ReplaceAllString(query, "@$1")
	s.sql.Store(query, t)
	return t
}

// pgArgs turns {":name": v} into pgx.NamedArgs {"name": v}.
func pgArgs(args map[string]any) pgx.NamedArgs {
	named := make(pgx.NamedArgs, len(args))
	for k, v := range args {
		named[k[1:]] = v
	}
	return named
}

// inTx runs fn in a transaction that the fence, when set, checks first.
func (s *pgStore) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if s.fence != nil {
			if err := s.fence(ctx, tx); err != nil {
				return fmt.Errorf("write refused: %w", err)
			}
		}
		return fn(tx)
	})
}

// write runs stmts in one transaction; a lone statement without a fence
// runs on its own (PostgreSQL makes it a transaction anyway).
func (s *pgStore) write(ctx context.Context, stmts ...stmt) (int64, error) {
	if s.fence == nil && len(stmts) == 1 {
		tag, err := s.pool.Exec(ctx, s.text(stmts[0].sql), pgArgs(stmts[0].args))
		return tag.RowsAffected(), err
	}
	var changed int64
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		for _, st := range stmts {
			tag, err := tx.Exec(ctx, s.text(st.sql), pgArgs(st.args))
			if err != nil {
				return err
			}
			changed = tag.RowsAffected()
		}
		return nil
	})
	return changed, err
}

func (s *pgStore) queryText(ctx context.Context, query string, args map[string]any) (string, bool, error) {
	var text *string
	err := s.pool.QueryRow(ctx, s.text(query), pgArgs(args)).Scan(&text)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return "", false, nil
	case err != nil:
		return "", false, err
	case text == nil:
		return "", true, nil
	}
	return *text, true, nil
}

func (s *pgStore) nodes(ctx context.Context, query string, args map[string]any) ([]api.Node, error) {
	rows, err := s.pool.Query(ctx, s.text(query), pgArgs(args))
	if err != nil {
		return nil, err
	}
	return collectNodes(rows)
}

// collectNodes reads every row of a SELECT of selectColumns.
func collectNodes(rows pgx.Rows) ([]api.Node, error) {
	nodes, err := pgx.CollectRows(rows, scanPGNode)
	if nodes == nil {
		nodes = []api.Node{}
	}
	return nodes, err
}

// scanPGNode reads one row of selectColumns, in their order. A NULL
// last_connected_unix reads as 0 (never).
func scanPGNode(row pgx.CollectableRow) (api.Node, error) {
	var n api.Node
	var last *int64
	in := &n.LastInstall
	err := row.Scan(&n.NodeName, &n.SSHHost, &n.SSHPort, &n.SSHUser, &n.SSHKeyPath, &n.GitRepoURL,
		&n.GitBranch, &n.InstallPath, &n.AgentPort, &n.Status, &n.HostKey, &last,
		&n.InstalledCommit, &n.AgentURL, &n.AgentVersion, &n.CreatedUnix, &n.UpdatedUnix, &n.Transport,
		&in.Result, &in.Phase, &in.Error, &in.Hint, &in.FinishedUnix)
	if last != nil {
		n.LastConnectedUnix = *last
	}
	n.HostKeyFingerprint = fingerprint(n.HostKey)
	return n, err
}

func (s *pgStore) clientKeys(ctx context.Context) ([]api.ClientKey, error) {
	rows, err := s.pool.Query(ctx, listKeysSQL)
	if err != nil {
		return nil, err
	}
	keys, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (api.ClientKey, error) {
		var k api.ClientKey
		return k, row.Scan(&k.Name, &k.Scope, &k.CreatedUnix, &k.RevokedUnix)
	})
	if keys == nil {
		keys = []api.ClientKey{}
	}
	return keys, err
}

// update locks the row with SELECT … FOR UPDATE, so concurrent updates of
// one node run one after the other.
func (s *pgStore) update(ctx context.Context, name string, fn func(api.Node) (api.Node, error)) (api.Node, error) {
	var next api.Node
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, s.text(getSQL)+" FOR UPDATE", pgArgs(map[string]any{":node_name": name}))
		if err != nil {
			return fmt.Errorf("read %q: %w", name, err)
		}
		cur, err := collectNodes(rows)
		if err != nil {
			return fmt.Errorf("read %q: %w", name, err)
		}
		if len(cur) == 0 {
			return notFoundError(name)
		}
		if next, err = fn(cur[0]); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, s.text(updateSQL), pgArgs(updateArgs(next)))
		return err
	})
	if err != nil {
		return api.Node{}, err
	}
	return next, nil
}

// quickCheck asks the server for SELECT 1 and checks the schema version.
func (s *pgStore) quickCheck(ctx context.Context) error {
	var one int
	if err := s.pool.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("check hive registry: %w; is the PostgreSQL server up?", err)
	}
	version, err := pgVersion(ctx, s.pool)
	if err != nil {
		return fmt.Errorf("check hive registry: %w", err)
	}
	if version != len(pgMigrations) {
		return fmt.Errorf("%w: schema version %d, want %d; another queen version migrated the database, run the same version on every queen",
			ErrCorrupt, version, len(pgMigrations))
	}
	return nil
}

func (s *pgStore) integrityCheck(ctx context.Context) (string, error) {
	if err := s.quickCheck(ctx); err != nil {
		if errors.Is(err, ErrCorrupt) {
			return err.Error(), nil
		}
		return "", err
	}
	return "ok", nil
}

// setBusyTimeout sets lock_timeout for new connections and on the idle
// ones.
func (s *pgStore) setBusyTimeout(ctx context.Context, d time.Duration) error {
	s.lockTimeout.Store(d.Milliseconds())
	for _, c := range s.pool.AcquireAllIdle(ctx) {
		_, err := c.Exec(ctx, fmt.Sprintf("SET lock_timeout = %d", d.Milliseconds()))
		c.Release()
		if err != nil {
			return err
		}
	}
	return nil
}
