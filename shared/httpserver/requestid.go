package httpserver

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

// RequestIDHeader carries a request's id in both directions: a client may
// send one, and every answer has one.
const RequestIDHeader = "X-Request-ID"

// maxRequestIDLen bounds a client's request id.
const maxRequestIDLen = 64

type requestIDKey struct{}

// RequestID returns the id of the request ctx belongs to, "" outside one.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// withRequestID gives every request an id: the client's X-Request-ID when
// it is well formed, else a new one. It is set on the answer's header
// before the handler runs (so error writers can put it in their bodies)
// and in the request's context.
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(RequestIDHeader)
		if !wellFormedID(id) {
			id = newRequestID()
		}
		w.Header().Set(RequestIDHeader, id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id)))
	})
}

// wellFormedID accepts 1–64 letters, digits and . _ : -.
func wellFormedID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	return strings.Trim(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-") == ""
}

func newRequestID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// LogHandler wraps h so that every record logged with the context of a
// request carries its request_id.
func LogHandler(h slog.Handler) slog.Handler { return ctxHandler{h} }

type ctxHandler struct{ slog.Handler }

// Handle adds the request id of ctx, if any.
func (c ctxHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestID(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	return c.Handler.Handle(ctx, r)
}

// WithAttrs keeps the wrapper around the derived handler.
func (c ctxHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return ctxHandler{c.Handler.WithAttrs(attrs)}
}

// WithGroup keeps the wrapper around the derived handler.
func (c ctxHandler) WithGroup(name string) slog.Handler { return ctxHandler{c.Handler.WithGroup(name)} }

// refusalLog logs refused requests (401 and 403): method, path, remote
// address, a fingerprint of the presented token (never the token) and the
// request id, at most burst lines at once and rate per second after; the
// lines it held back are counted in the next one.
type refusalLog struct {
	log   *slog.Logger
	rate  float64
	burst float64

	mu         sync.Mutex
	tokens     float64
	last       time.Time
	suppressed int
}

func newRefusalLog(log *slog.Logger) *refusalLog {
	return &refusalLog{log: log, rate: 5, burst: 20, tokens: 20}
}

// wrap logs the requests next refuses.
func (l *refusalLog) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := NewRecorder(w)
		next.ServeHTTP(rec, r)
		if st := rec.Status(); st == http.StatusUnauthorized || st == http.StatusForbidden {
			l.refused(r, st)
		}
	})
}

func (l *refusalLog) refused(r *http.Request, status int) {
	held, ok := l.allow(time.Now())
	if !ok {
		return
	}
	attrs := []any{"status", status, "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr,
		"token", tokenFingerprint(r.Header.Get("Authorization"))}
	if held > 0 {
		attrs = append(attrs, "refusals_not_logged", held)
	}
	l.log.WarnContext(r.Context(), "refused request", attrs...)
}

// allow takes a token of the bucket; it returns how many lines were held
// back since the last one logged.
func (l *refusalLog) allow(now time.Time) (held int, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() {
		l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	}
	l.last = now
	if l.tokens < 1 {
		l.suppressed++
		return 0, false
	}
	l.tokens--
	held, l.suppressed = l.suppressed, 0
	return held, true
}

// tokenFingerprint names the bearer token of an Authorization header by
// the first 12 hex digits of its SHA-256: enough to tell tokens apart in a
// log, useless to an attacker. "none" when there is no bearer token.
func tokenFingerprint(header string) string {
	token, ok := strings.CutPrefix(header, "Bearer ")
	if !ok || token == "" {
		return "none"
	}
	sum := sha256.Sum256([]byte(token))
	return "sha256:" + hex.EncodeToString(sum[:6])
}
