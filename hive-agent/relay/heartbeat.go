package relay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/rbee-fleet/rbee/hive-agent/devices"
	"github.com/rbee-fleet/rbee/shared/api"
	"github.com/rbee-fleet/rbee/shared/version"
)

// requestTimeout bounds one heartbeat, retries included.
const requestTimeout = 5 * time.Second

// maxAnswer bounds how much of the queen's answer is read.
const maxAnswer = 1 << 20

// Config says where and as whom the agent beats.
type Config struct {
	// QueenURL is the queen's base URL, e.g. http://10.0.0.1:7833, or
	// unix:///path/queen.sock: the queen's remote forward on this node
	// (the ssh transport), which only this node's user may open. It is
	// the first queen tried.
	QueenURL string
	// QueenURLs are the other queens of an HA pair (http(s) URLs, the http
	// transport), as agentconfig.QueenURLs lists them; QueenURL may be
	// among them. The relay beats to one, follows a standby's pointer to
	// the active queen only within this list, and tries the next one when
	// a queen cannot be reached (see Failover).
	QueenURLs []string
	// NodeName is this node's name in the queen's registry.
	NodeName string
	// Token is the hive token; it goes in the Authorization header only.
	Token string
	// Beat is the body sent on every heartbeat; its Workers come from
	// Snapshot, as the whole list or as a delta.
	Beat api.HeartbeatRequest
	// Snapshot returns the agent's workers for each heartbeat; nil means
	// none.
	Snapshot func() []api.Worker
	// Devices returns the node's devices as last detected (cheaply: no
	// detection per beat); nil means none are sent. They go with the
	// first beat, when devices.Changed says they changed since the ones
	// the queen accepted, and when the queen asks for them.
	Devices func() api.Devices
}

// Relay is the agent's one line to the queen: heartbeats with the worker
// list (a snapshot or a delta, see Deltas), and worker register, update and
// remove events. It sends one request at a time, so the queen sees events
// and beats in the order they happened and a beat never undoes a later
// event; an event that could not be relayed goes with the next beats
// until the queen acknowledges one.
type Relay struct {
	client   *retryablehttp.Client
	token    atomic.Pointer[string] // replaced by SetToken
	beat     api.HeartbeatRequest
	snapshot func() []api.Worker
	devices  func() api.Devices
	node     string
	log      *slog.Logger

	mu sync.Mutex // one request at a time
	// queens are the queens' base URLs, cur the index of the one
	// requests go to, rotating whether the last switch was a rotation
	// (logged at debug until a queen answers again); guarded by mu.
	queens   []string
	cur      int
	rotating bool
	// sent are the devices the queen last accepted (nil: none yet, or
	// it asked for them again); guarded by mu.
	sent *api.Devices
	// deltas composes the beats' worker lists; guarded by mu.
	deltas *Deltas
	// legacy counts the beats still to send without seq, to a queen that
	// refused the field (one older than the delta protocol); guarded by
	// mu.
	legacy int
}

// New returns the relay of the agent described by cfg, which logs to log.
func New(cfg Config, log *slog.Logger) (*Relay, error) {
	if _, err := json.Marshal(cfg.Beat); err != nil {
		return nil, fmt.Errorf("encode heartbeat: %w", err)
	}
	client := newClient(log)
	queens := queenList(cfg)
	if len(queens) == 0 {
		return nil, errors.New("no queen URL; set queen_url in the agent's config")
	}
	if sock, ok := strings.CutPrefix(queens[0], "unix://"); ok {
		if len(queens) > 1 {
			return nil, errors.New("a unix:// queen URL (the ssh transport's forward) must be the only one; drop queen_urls from the agent's config")
		}
		client.HTTPClient.Transport = unixTransport(sock)
		queens[0] = "http://queen"
	}
	h := &Relay{
		client:   client,
		queens:   queens,
		beat:     cfg.Beat,
		snapshot: cfg.Snapshot,
		devices:  cfg.Devices,
		node:     cfg.NodeName,
		log:      log,
		deltas:   NewDeltas(api.SnapshotEvery),
	}
	h.SetToken(cfg.Token)
	return h, nil
}

// queenList returns cfg's queens, QueenURL first, each once, without
// trailing slashes.
func queenList(cfg Config) []string {
	var out []string
	for _, u := range append([]string{cfg.QueenURL}, cfg.QueenURLs...) {
		if u = strings.TrimRight(u, "/"); u != "" && !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	return out
}

// beatPath is the heartbeat route of this node.
func (h *Relay) beatPath() string { return "/v1/hives/" + url.PathEscape(h.node) + "/heartbeat" }

// SetToken makes token the hive token of the requests that start from now
// on; one in flight keeps the token it was sent with.
func (h *Relay) SetToken(token string) { h.token.Store(&token) }

// Run beats at once, then after each answer waits the interval the queen
// asked for (DefaultInterval until it answers), until ctx is done. Failures
// never stop it: it logs each change of outcome once and keeps beating.
// The beat after a failed one, and the snapshot the queen asked for with
// need_snapshot, wait a random time up to the interval, so that agents
// that lost a restarted queen together do not come back together; a 503
// with Retry-After waits that long and up to as long again at random.
// While the queen answers that this node was removed (410 Gone), the
// workers keep running and the waits double, jittered, up to
// MaxRemovedBackoff; the first accepted beat brings the interval back.
func (h *Relay) Run(ctx context.Context) {
	s := schedule{interval: DefaultInterval}
	last := outcomeNone
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		ans, err := h.Send(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			s.interval = nextInterval(s.interval, ans.IntervalMS)
		}
		wait := s.after(err, ans.NeedSnapshot)
		last = h.report(last, err, s.interval)
		timer.Reset(wait)
	}
}

// Send posts one heartbeat, with the worker list taken while no event is
// in flight (whole or as a delta, as Deltas says), under its own timeout
// and returns the queen's answer. A non-2xx answer is a [*StatusError].
func (h *Relay) Send(ctx context.Context) (api.HeartbeatResponse, error) {
	var ans api.HeartbeatResponse
	h.mu.Lock()
	defer h.mu.Unlock()
	beat := h.beat
	var workers []api.Worker
	if h.snapshot != nil {
		workers = h.snapshot()
	}
	beat.Devices = h.devicesToSend()
	err := h.sendBeat(ctx, &beat, workers, &ans)
	if err != nil {
		return ans, fmt.Errorf("send heartbeat: %w", err)
	}
	if beat.Devices != nil {
		h.sent = beat.Devices
	}
	if ans.NeedDevices {
		h.sent = nil
	}
	return ans, nil
}

// sendBeat sends beat with workers as Deltas says, or as the whole list
// without seq while h.legacy lasts. A queen that refuses the seq field
// (it predates the delta protocol) gets the beat again without it, and the
// next api.SnapshotEvery beats too; then the agent tries seq again. A
// beat a standby turned away goes at once to the active queen it named
// (see failover), with beat's devices set again for the new queen. The
// caller holds h.mu.
func (h *Relay) sendBeat(ctx context.Context, beat *api.HeartbeatRequest, workers []api.Worker, ans *api.HeartbeatResponse) error {
	if h.legacy > 0 {
		h.legacy--
		return h.do(ctx, http.MethodPost, h.beatPath(), wholeList(*beat, workers), ans)
	}
	var err error
	for i := range 2 { // a beat a standby turned away goes at once to the active queen it names, as a snapshot with the devices
		if i > 0 {
			beat.Devices = h.devicesToSend()
		}
		delta := *beat
		h.deltas.Next(&delta, workers)
		err = h.attempt(ctx, http.MethodPost, h.beatPath(), delta, ans)
		if !h.failover(ctx, err) {
			break
		}
	}
	if !refusesSeq(err) {
		h.deltas.Answer(*ans, err == nil)
		return err
	}
	h.log.Info("the queen predates delta heartbeats; sending the whole worker list without seq", "beats", api.SnapshotEvery)
	h.deltas.Resync()
	h.legacy = api.SnapshotEvery
	return h.do(ctx, http.MethodPost, h.beatPath(), wholeList(*beat, workers), ans)
}

// wholeList returns beat with workers as its whole list and no seq: the
// heartbeat of an agent before the delta protocol.
func wholeList(beat api.HeartbeatRequest, workers []api.Worker) api.HeartbeatRequest {
	beat.Workers = workers
	if beat.Workers == nil {
		beat.Workers = []api.Worker{}
	}
	return beat
}

// refusesSeq reports whether err is a queen refusing the seq field as
// unknown (400 INVALID_JSON): one older than the delta protocol.
func refusesSeq(err error) bool {
	se, ok := errors.AsType[*StatusError](err)
	return ok && se.StatusCode == http.StatusBadRequest && se.Detail.Code == api.CodeInvalidJSON &&
		strings.Contains(se.Detail.Message, `unknown field "seq"`)
}

// devicesToSend returns the devices when the queen should get them with
// this beat, else nil. The caller holds h.mu.
func (h *Relay) devicesToSend() *api.Devices {
	if h.devices == nil {
		return nil
	}
	d := h.devices()
	if h.sent != nil && !devices.Changed(*h.sent, d) {
		return nil
	}
	return &d
}

// do sends one request to path of the current queen, and once more to the
// active queen a standby named (see failover). The caller holds h.mu.
func (h *Relay) do(ctx context.Context, method, path string, body, ans any) error {
	err := h.attempt(ctx, method, path, body, ans)
	if h.failover(ctx, err) {
		err = h.attempt(ctx, method, path, body, ans)
		h.failover(ctx, err)
	}
	return err
}

// attempt sends one request to path of the current queen with body as
// JSON (nil: none) under requestTimeout and decodes a 2xx answer into ans
// (nil: ignored). A request that reached no queen fails with an
// [*UnreachableError]. The caller holds h.mu.
func (h *Relay) attempt(ctx context.Context, method, path string, body, ans any) error {
	u := h.queens[h.cur] + path
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	var data []byte
	if body != nil {
		var err error
		if data, err = json.Marshal(body); err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, method, u, data)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+*h.token.Load())
	req.Header.Set("User-Agent", "hive-agent/"+version.String())
	resp, err := h.client.Do(req)
	if err != nil {
		return &UnreachableError{Queen: h.queens[h.cur], Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return statusError(resp)
	}
	if ans == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswer))
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxAnswer)).Decode(ans); err != nil {
		return fmt.Errorf("decode answer: %w", err)
	}
	return nil
}

// statusError reads the queen's error body, if any, into a StatusError.
func statusError(resp *http.Response) error {
	se := &StatusError{StatusCode: resp.StatusCode, RetryAfter: retryAfter(resp),
		ActiveQueen: strings.TrimRight(resp.Header.Get(api.HeaderActiveQueen), "/")}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	var body api.ErrorBody
	if json.Unmarshal(bytes.TrimSpace(data), &body) == nil {
		se.Detail = body.Error
	}
	return se
}
