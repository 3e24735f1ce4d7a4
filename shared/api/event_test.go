package api

import (
	"bufio"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestEventValidate(t *testing.T) {
	detail := &ErrorDetail{Code: CodeInvalidField, Message: "m"}
	tests := []struct {
		name    string
		event   Event
		wantErr bool
	}{
		{name: "progress", event: Event{Level: LevelInfo, Node: "gpu-1", Phase: "connect", Message: "connecting"}},
		{name: "retry warning", event: Event{Level: LevelWarn, Phase: "connect", Message: "timeout", Attempt: 1, Attempts: 3}},
		{name: "last with result", event: Event{Level: LevelInfo, Done: true, Result: json.RawMessage(`{"node_name":"gpu-1"}`)}},
		{name: "last with error", event: Event{Level: LevelError, Done: true, Error: detail}},
		{name: "unknown level", event: Event{Level: "debug", Message: "x"}, wantErr: true},
		{name: "error before the end", event: Event{Level: LevelError, Error: detail}, wantErr: true},
		{name: "result before the end", event: Event{Level: LevelInfo, Result: json.RawMessage(`{}`)}, wantErr: true},
		{name: "last with neither", event: Event{Level: LevelInfo, Done: true}, wantErr: true},
		{name: "last with both", event: Event{Level: LevelError, Done: true, Error: detail, Result: json.RawMessage(`{}`)}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.event.Validate()
			if (err != nil) != tt.wantErr {
				t.Fatalf("Validate() = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
		})
	}
}

// TestEventStream reads an NDJSON stream the way a client does: events until
// the one marked done, whose result decodes into a Node.
func TestEventStream(t *testing.T) {
	last, err := ResultEvent(1_760_000_000_123, "gpu-1", "added", validNode())
	if err != nil {
		t.Fatalf("ResultEvent: %v", err)
	}
	events := []Event{
		{TimeUnixMS: 1_760_000_000_000, Level: LevelInfo, Node: "gpu-1", Phase: "connect", Message: "connecting to 10.0.0.7:22", Attempt: 1, Attempts: 3},
		{TimeUnixMS: 1_760_000_000_100, Level: LevelInfo, Node: "gpu-1", Phase: "connect", Message: "connected", ElapsedMS: 100},
		last,
	}
	var stream strings.Builder
	enc := json.NewEncoder(&stream)
	for _, e := range events {
		if err := enc.Encode(e); err != nil {
			t.Fatalf("encode: %v", err)
		}
	}
	var final Event
	sc := bufio.NewScanner(strings.NewReader(stream.String()))
	for sc.Scan() {
		var e Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("decode line %q: %v", sc.Text(), err)
		}
		if err := e.Validate(); err != nil {
			t.Fatalf("event %q: %v", sc.Text(), err)
		}
		final = e
	}
	if !final.Done {
		t.Fatalf("stream ended without a done event")
	}
	var n Node
	if err := json.Unmarshal(final.Result, &n); err != nil {
		t.Fatalf("decode result: %v", err)
	}
	if n != validNode() {
		t.Errorf("result = %+v, want %+v", n, validNode())
	}
}

func TestErrorEvent(t *testing.T) {
	e := ErrorEvent(1, "gpu-1", ErrorDetail{Code: CodeNotFound, Message: `hive "gpu-1" not found`, Hint: "queen setup list-nodes"})
	if err := e.Validate(); err != nil {
		t.Fatalf("Validate() = %v", err)
	}
	raw, err := json.Marshal(e)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	want := `{"time_unix_ms":1,"level":"error","node":"gpu-1","message":"hive \"gpu-1\" not found","done":true,"error":{"code":"NOT_FOUND","message":"hive \"gpu-1\" not found","hint":"queen setup list-nodes"}}`
	if string(raw) != want {
		t.Errorf("JSON =\n%s\nwant\n%s", raw, want)
	}
}
