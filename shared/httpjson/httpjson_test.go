package httpjson

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rbee-fleet/rbee/shared/api"
)

func TestDecode(t *testing.T) {
	type body struct {
		Name  string `json:"name"`
		Count int    `json:"count"`
	}
	tests := []struct {
		name, in   string
		wantStatus int // 0: decoded
		wantCode   string
		wantInMsg  string
	}{
		{name: "ok", in: `{"name":"a","count":2}`},
		{name: "unknown field", in: `{"secret-payload":1}`, wantStatus: 400, wantCode: api.CodeInvalidJSON, wantInMsg: `unknown field "secret-payload"`},
		{name: "syntax", in: `{"name":"secret-payload"`, wantStatus: 400, wantCode: api.CodeInvalidJSON, wantInMsg: "malformed JSON"},
		{name: "wrong type", in: `{"count":"secret-payload"}`, wantStatus: 400, wantCode: api.CodeInvalidJSON, wantInMsg: `field "count" must be int`},
		{name: "two values", in: `{} {}`, wantStatus: 400, wantCode: api.CodeInvalidJSON, wantInMsg: "malformed JSON"},
		// The limit is 1 MiB (README), written out rather than taken from
		// MaxBody, so that a changed constant fails here.
		{name: "exactly 1 MiB", in: sized(1048576)},
		{name: "1 MiB and a byte", in: sized(1048577), wantStatus: 413, wantCode: api.CodeBodyTooLarge, wantInMsg: "1 MiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			var v body
			ok := Decode(rec, httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tt.in)), &v)
			if tt.wantStatus == 0 {
				if !ok || !strings.HasPrefix(v.Name, "a") || strings.Trim(v.Name, "a") != "" || v.Count != 2 {
					t.Fatalf("Decode = %v, %+v", ok, v)
				}
				return
			}
			var eb api.ErrorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil {
				t.Fatalf("error body: %v", err)
			}
			if ok || rec.Code != tt.wantStatus || eb.Error.Code != tt.wantCode || !strings.Contains(eb.Error.Message, tt.wantInMsg) {
				t.Errorf("Decode = %v, %d %+v", ok, rec.Code, eb)
			}
			if tt.name != "unknown field" && strings.Contains(eb.Error.Message, "secret-payload") {
				t.Errorf("the message echoes the payload: %q", eb.Error.Message)
			}
		})
	}
}

// sized returns a body that decodes to {name: "aaa…", count: 2} and is n
// bytes long.
func sized(n int) string {
	const head, tail = `{"count":2,"name":"`, `"}`
	return head + strings.Repeat("a", n-len(head)-len(tail)) + tail
}
