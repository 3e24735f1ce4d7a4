package api

import (
	"encoding/json"
	"fmt"
	"slices"
)

// ContentTypeNDJSON is the media type of a streamed operation: one [Event]
// per line.
const ContentTypeNDJSON = "application/x-ndjson"

// Event levels.
const (
	// LevelInfo is progress.
	LevelInfo = "info"
	// LevelWarn is a recoverable problem, e.g. a connect attempt that will be
	// retried.
	LevelWarn = "warn"
	// LevelError is a failure; on the last event it ends the operation.
	LevelError = "error"
)

// Event is one line of a streamed long operation (install, start, stop, the
// SSH validation of add-node). Every event but the last has Done false and
// neither Error nor Result. The last has Done true and exactly one of them:
// Error when the operation failed, Result (the operation's response, e.g. a
// [Node]) when it succeeded.
type Event struct {
	// TimeUnixMS is when the event happened, in Unix milliseconds.
	TimeUnixMS int64 `json:"time_unix_ms"`
	// Level is LevelInfo, LevelWarn or LevelError.
	Level string `json:"level"`
	// Node is the node the event is about; empty for the whole operation.
	Node string `json:"node,omitempty"`
	// Phase is the title of the running phase, e.g. "connect", "fetch source".
	Phase string `json:"phase,omitempty"`
	// Message is one line for humans.
	Message string `json:"message"`
	// Attempt is the 1-based attempt of a retried step; 0 when not retried.
	Attempt int `json:"attempt,omitempty"`
	// Attempts is how many attempts the step may take in all.
	Attempts int `json:"attempts,omitempty"`
	// ElapsedMS is how long the phase took, in milliseconds, on the event
	// that ends it.
	ElapsedMS int64 `json:"elapsed_ms,omitempty"`
	// Done marks the last event of the stream.
	Done bool `json:"done,omitempty"`
	// Error is why the operation failed; only on the last event.
	Error *ErrorDetail `json:"error,omitempty"`
	// Result is the operation's response; only on the last event of a
	// successful operation. Decode it with json.Unmarshal into the type the
	// route documents.
	Result json.RawMessage `json:"result,omitempty"`
}

// Validate checks the level and that only the last event, and always the last
// event, carries exactly one of Error and Result. Errors wrap [ErrInvalid].
func (e Event) Validate() error {
	hasResult := len(e.Result) > 0
	switch {
	case !slices.Contains([]string{LevelInfo, LevelWarn, LevelError}, e.Level):
		return fmt.Errorf("%w: event level %q must be info, warn or error", ErrInvalid, e.Level)
	case !e.Done && (e.Error != nil || hasResult):
		return fmt.Errorf("%w: only the last event (done) carries an error or a result", ErrInvalid)
	case e.Done && (e.Error != nil) == hasResult:
		return fmt.Errorf("%w: the last event (done) carries exactly one of error and result", ErrInvalid)
	}
	return nil
}

// ResultEvent returns the last event of a successful operation carrying
// result, encoded as JSON.
func ResultEvent(timeUnixMS int64, node, message string, result any) (Event, error) {
	raw, err := json.Marshal(result)
	if err != nil {
		return Event{}, fmt.Errorf("encode event result: %w", err)
	}
	return Event{TimeUnixMS: timeUnixMS, Level: LevelInfo, Node: node, Message: message, Done: true, Result: raw}, nil
}

// ErrorEvent returns the last event of a failed operation.
func ErrorEvent(timeUnixMS int64, node string, detail ErrorDetail) Event {
	return Event{TimeUnixMS: timeUnixMS, Level: LevelError, Node: node, Message: detail.Message, Done: true, Error: &detail}
}
