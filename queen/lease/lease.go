package lease

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Roles a queen has.
const (
	RoleActive  = "active"
	RoleStandby = "standby"
)

// Defaults of [Config].
const (
	DefaultPoll = time.Second
	DefaultTTL  = 5 * time.Second
)

// lockKey is the advisory lock the queens of one database compete for
// ("rbeeQUEN" in ASCII); setupKey serialises the table's creation.
const (
	lockKey  int64 = 0x7262656551554e
	setupKey int64 = lockKey + 1
)

// ErrFenced marks a write refused because this queen no longer holds the
// lease; the error wrapping it names the epochs.
var ErrFenced = errors.New("fenced")

const createSQL = `CREATE TABLE IF NOT EXISTS queen_lease (
	id integer PRIMARY KEY CHECK (id = 1),
	epoch bigint NOT NULL,
	holder text NOT NULL,
	holder_url text NOT NULL,
	renewed_at timestamptz NOT NULL)`

const acquireSQL = `INSERT INTO queen_lease (id, epoch, holder, holder_url, renewed_at)
	VALUES (1, 1, $1, $2, now())
	ON CONFLICT (id) DO UPDATE SET epoch = queen_lease.epoch + 1,
		holder = EXCLUDED.holder, holder_url = EXCLUDED.holder_url, renewed_at = now()
	RETURNING epoch`

// Config is what a [Lease] needs.
type Config struct {
	// DSN is the PostgreSQL connection string (postgres://…), required.
	DSN string
	// Holder names this queen in the lease row; "" means hostname:pid.
	Holder string
	// URL is the URL clients reach this queen at; standbys send clients
	// to the active queen's URL.
	URL string
	// Poll is how often the holder renews and standbys try the lock; 0
	// means DefaultPoll.
	Poll time.Duration
	// TTL is the lease time: a holder that could not renew for this long
	// steps down, and the server ends a lock session idle this long. 0
	// means DefaultTTL; it must exceed Poll.
	TTL time.Duration
	// Logger receives role changes; nil means slog.Default().
	Logger *slog.Logger
	// OnActive runs in its own goroutine each time this queen becomes
	// active; ctx ends when it steps down or Start's context ends.
	OnActive func(ctx context.Context, epoch int64)
}

// Status is a queen's view of the lease.
type Status struct {
	Role      string        // RoleActive or RoleStandby
	Epoch     int64         // this queen's epoch when active, else the last one seen (0: none yet)
	ActiveURL string        // the active queen's URL as last seen ("" when unknown)
	Holder    string        // the active queen's holder name as last seen
	Age       time.Duration // time since the active queen last renewed, as last seen
}

// Lease is one queen's part in the competition for the lease.
type Lease struct {
	cfg    Config
	log    *slog.Logger
	fenced chan struct{} // Fence asks the loop to check the lease now
	done   chan struct{} // closed when the loop has ended

	conn    *pgx.Conn // the lock connection, only touched by the loop
	locked  bool      // conn holds the advisory lock
	failing bool      // the last database operation failed (logged once)

	mu      sync.Mutex
	active  bool
	epoch   int64
	holder  string
	url     string
	renewed time.Time          // when the active queen last renewed (local clock)
	cancel  context.CancelFunc // ends the OnActive context
}

// Start creates the lease table if needed and competes for the lease until
// ctx ends. It makes the first attempt before it returns, so the status is
// known from the start: active, or standby naming the active queen.
func Start(ctx context.Context, cfg Config) (*Lease, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	l := &Lease{cfg: cfg, log: cfg.Logger, fenced: make(chan struct{}, 1), done: make(chan struct{})}
	if err := l.createTable(ctx); err != nil {
		return nil, err
	}
	l.compete(ctx)
	go l.run(ctx)
	return l, nil
}

// fill applies the defaults and checks cfg.
func (c *Config) fill() error {
	if c.Poll <= 0 {
		c.Poll = DefaultPoll
	}
	if c.TTL <= 0 {
		c.TTL = DefaultTTL
	}
	if c.TTL <= c.Poll {
		return fmt.Errorf("lease time %s must exceed the poll interval %s; raise --lease-ttl or lower --lease-poll", c.TTL, c.Poll)
	}
	if c.Holder == "" {
		host, _ := os.Hostname()
		c.Holder = host + ":" + strconv.Itoa(os.Getpid())
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// createTable creates queen_lease, one queen at a time.
func (l *Lease) createTable(ctx context.Context) error {
	conn, err := l.dial(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", setupKey); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, createSQL)
		return err
	})
	if err != nil {
		return fmt.Errorf("create the table queen_lease: %w; the DSN's user needs CREATE on the database", err)
	}
	return nil
}

// dial opens a connection for the lease: its session ends on the server
// when idle for TTL, so a paused queen loses the lock.
func (l *Lease) dial(ctx context.Context) (*pgx.Conn, error) {
	cc, err := pgx.ParseConfig(l.cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("parse the PostgreSQL DSN: %w; pass --store postgres://USER@HOST/DB", err)
	}
	cc.RuntimeParams["idle_session_timeout"] = strconv.FormatInt(l.cfg.TTL.Milliseconds(), 10)
	cc.RuntimeParams["application_name"] = "rbee queen lease " + l.cfg.Holder
	ctx, cancel := context.WithTimeout(ctx, l.opTimeout())
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL for the lease: %w; is the database up?", err)
	}
	return conn, nil
}

// opTimeout bounds one database operation of the loop.
func (l *Lease) opTimeout() time.Duration { return max(l.cfg.TTL/3, l.cfg.Poll) }

// Status returns this queen's view of the lease. A holder whose last
// renewal is older than the lease time (it was paused, its loop has not
// run yet) is standby from that moment on, with the active queen unknown.
func (l *Lease) Status() Status {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := Status{Role: RoleStandby, Epoch: l.epoch, ActiveURL: l.url, Holder: l.holder}
	switch {
	case l.inForce():
		st.Role = RoleActive
	case l.active:
		st.ActiveURL, st.Holder = "", ""
	}
	if !l.renewed.IsZero() {
		st.Age = time.Since(l.renewed)
	}
	return st
}

// Active reports whether this queen holds the lease, renewed within the
// lease time.
func (l *Lease) Active() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.inForce()
}

// inForce reports whether this queen holds a lease renewed within the
// lease time; l.mu must be held.
func (l *Lease) inForce() bool {
	return l.active && time.Since(l.renewed) <= l.cfg.TTL
}

// holding reports whether the loop runs this queen as the holder (until
// it steps down), whatever the lease's age.
func (l *Lease) holding() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.active
}

// Done is closed when the lease has ended (Start's context ended) and its
// lock connection is closed.
func (l *Lease) Done() <-chan struct{} { return l.done }

// Fence lets a write transaction go on only while this queen holds the
// lease under the current epoch: it reads the epoch FOR SHARE, so a
// takeover waits for tx to end. Otherwise it returns an error wrapping
// ErrFenced and makes the queen step down.
func (l *Lease) Fence(ctx context.Context, tx pgx.Tx) error {
	var current int64
	err := tx.QueryRow(ctx, "SELECT epoch FROM queen_lease WHERE id = 1 FOR SHARE").Scan(&current)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("read the lease epoch: %w", err)
	}
	l.mu.Lock()
	active, mine := l.inForce(), l.epoch
	l.mu.Unlock()
	if active && current == mine {
		return nil
	}
	select {
	case l.fenced <- struct{}{}:
	default:
	}
	if !active {
		return fmt.Errorf("%w: this queen is standby (current epoch %d); send the request to the active queen", ErrFenced, current)
	}
	return fmt.Errorf("%w: this queen lost the lease (epoch %d, current %d); it is standby now", ErrFenced, mine, current)
}
