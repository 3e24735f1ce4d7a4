package relay

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// Retry bounds of one request to the queen.
const (
	retryMax     = 3
	retryWaitMin = 100 * time.Millisecond
	retryWaitMax = time.Second
)

// newClient returns the retrying HTTP client every request to the queen
// goes through: a few jittered retries on network errors and 5xx, never on
// 4xx, none once ctx is done.
func newClient(log *slog.Logger) *retryablehttp.Client {
	c := retryablehttp.NewClient()
	c.RetryMax = retryMax
	c.RetryWaitMin = retryWaitMin
	c.RetryWaitMax = retryWaitMax
	c.Backoff = backoff
	c.CheckRetry = checkRetry
	c.Logger = retryLogger{log: log}
	return c
}

// unixTransport sends every request to the socket at path, whatever the
// URL's host: the queen's remote forward under the ssh transport. A
// missing socket (the queen's connection is down) fails the dial at once;
// nothing is buffered.
func unixTransport(path string) *http.Transport {
	var d net.Dialer
	return &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", path)
		},
		MaxIdleConns:    2,
		IdleConnTimeout: 30 * time.Second,
	}
}

// checkRetry retries network errors (as retryablehttp's default policy
// does, which also stops on a done ctx) and 5xx answers but 501 and a 503
// with Retry-After (a busy queen: the heartbeat loop waits as asked, an
// event goes with the next beat), and never a 4xx: the queen meant it.
func checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if err != nil {
		return retryablehttp.DefaultRetryPolicy(ctx, resp, err)
	}
	if resp.StatusCode == http.StatusServiceUnavailable && retryAfter(resp) > 0 {
		return false, nil // the caller waits as long as the queen asked
	}
	if resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented {
		return true, fmt.Errorf("queen answered %s", resp.Status)
	}
	return false, nil
}

// backoff doubles lo per attempt up to hi and picks a wait at random in
// the upper half, so agents restarted together do not retry in step.
func backoff(lo, hi time.Duration, attempt int, _ *http.Response) time.Duration {
	d := hi
	if attempt < 30 && lo<<attempt < hi {
		d = lo << attempt
	}
	if d <= 0 {
		return 0
	}
	return d/2 + rand.N(d/2+1)
}

// retryLogger gives retryablehttp's per-attempt messages to slog at debug
// level: the heartbeat loop reports outcomes itself, once per change.
// retryablehttp logs method and URL, never headers, so the token stays out.
type retryLogger struct{ log *slog.Logger }

var _ retryablehttp.LeveledLogger = retryLogger{}

// Error logs msg at debug level.
func (l retryLogger) Error(msg string, kv ...any) { l.log.Debug(msg, kv...) }

// Warn logs msg at debug level.
func (l retryLogger) Warn(msg string, kv ...any) { l.log.Debug(msg, kv...) }

// Info logs msg at debug level.
func (l retryLogger) Info(msg string, kv ...any) { l.log.Debug(msg, kv...) }

// Debug logs msg at debug level.
func (l retryLogger) Debug(msg string, kv ...any) { l.log.Debug(msg, kv...) }
