package hiveregistry

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rbee-fleet/rbee/shared/api"
)

// store is where the rows live: a SQLite file (sqliteStore) or a
// PostgreSQL database (pgStore). The statements are written once, in SQL
// both understand, with :name parameters; each store binds them its own
// way. A store reports "no row" as an empty result, never as an error;
// Registry turns that into ErrNotFound and friends.
type store interface {
	// write runs stmts in order in one transaction and returns the number
	// of rows the last one changed. On PostgreSQL it is fenced.
	write(ctx context.Context, stmts ...stmt) (int64, error)
	// queryText returns the first column of the first row of query; NULL
	// reads as "".
	queryText(ctx context.Context, query string, args map[string]any) (string, bool, error)
	// nodes returns the rows of query, a SELECT of selectColumns.
	nodes(ctx context.Context, query string, args map[string]any) ([]api.Node, error)
	// clientKeys returns the rows of listKeysSQL.
	clientKeys(ctx context.Context) ([]api.ClientKey, error)
	// update reads the node called name with its row locked against other
	// writers, passes it to fn and stores fn's result, all in one
	// transaction; an unknown name is an error wrapping ErrNotFound.
	update(ctx context.Context, name string, fn func(api.Node) (api.Node, error)) (api.Node, error)
	quickCheck(ctx context.Context) error
	integrityCheck(ctx context.Context) (string, error)
	setBusyTimeout(ctx context.Context, d time.Duration) error
	close() error
}

// stmt is one statement of a write with its named arguments (":name").
type stmt struct {
	sql  string
	args map[string]any
}

// Options tune OpenStore.
type Options struct {
	// Fence, when set, guards every write to a PostgreSQL store: each
	// write (add, update, status, tokens, install record, removal, client
	// keys) runs in one transaction that calls Fence first, on that
	// transaction, and is rolled back with Fence's error (wrapped with %w)
	// when Fence returns one, so nothing of it lands. A queen holding a
	// lease uses it to check, inside the write's own transaction, that its
	// lease epoch is still the current one. Reads are not fenced. The
	// SQLite store ignores it (one queen owns the file).
	Fence func(ctx context.Context, tx pgx.Tx) error
}

// OpenStore opens the registry named by spec: "sqlite:<path>" or a bare
// path is a SQLite file, as Open; "postgres://…" or "postgresql://…" is a
// PostgreSQL DSN (pgx syntax), whose schema is created or migrated before
// OpenStore returns. ctx bounds the opening only.
func OpenStore(ctx context.Context, spec string, opts Options) (*Registry, error) {
	switch kind, rest := storeKind(spec); kind {
	case "sqlite":
		return Open(ctx, rest)
	case "postgres":
		s, err := openPG(ctx, spec, opts)
		if err != nil {
			return nil, err
		}
		return newRegistry(s), nil
	}
	return nil, fmt.Errorf("hive registry store %q: want sqlite:<path> (or a bare path) for a SQLite file, or postgres://… / postgresql://… for a PostgreSQL DSN", redact(spec))
}

// CheckSpec reports whether spec has one of the forms OpenStore takes,
// without opening anything, so a command line can refuse it at once.
func CheckSpec(spec string) error {
	if kind, _ := storeKind(spec); kind == "" {
		return fmt.Errorf("--store %q: want sqlite:<path> (or a bare path) for a SQLite file, or postgres://… / postgresql://… for a PostgreSQL DSN", redact(spec))
	}
	return nil
}

// storeKind sorts a spec: "sqlite" with the path, "postgres", or "" for
// neither (empty, or another scheme).
func storeKind(spec string) (kind, rest string) {
	switch {
	case strings.HasPrefix(spec, "postgres://"), strings.HasPrefix(spec, "postgresql://"):
		return "postgres", spec
	case strings.HasPrefix(spec, "sqlite:"):
		rest = strings.TrimPrefix(spec, "sqlite:")
		if rest == "" {
			return "", ""
		}
		return "sqlite", rest
	case spec == "", strings.Contains(spec, "://"):
		return "", ""
	}
	return "sqlite", spec
}

// redact hides the password of a DSN, for error messages and logs.
func redact(spec string) string {
	u, err := url.Parse(spec)
	if err != nil {
		return "(a DSN that does not parse)"
	}
	if u.Scheme == "" {
		return spec
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}
