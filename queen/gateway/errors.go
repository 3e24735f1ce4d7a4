package gateway

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// OpenAI error types used in the gateway's error answers.
const (
	typeInvalidRequest = "invalid_request_error"
	typeAuthentication = "authentication_error"
	typePermission     = "permission_error"
	typeRateLimit      = "rate_limit_error"
	typeServer         = "server_error"
)

// Codes of the gateway's error answers.
const (
	codeInvalidKey      = "invalid_api_key"
	codeAdminToken      = "admin_token_not_accepted"
	codeInvalidJSON     = "invalid_json"
	codeModelRequired   = "model_required"
	codeBodyTooLarge    = "body_too_large"
	codeModelNotFound   = "model_not_found"
	codeQueueFull       = "queue_full"
	codeQueueTimeout    = "queue_wait_exceeded"
	codeSpawnFailed     = "spawn_failed"
	codeWorkerFailed    = "worker_failed"
	codeWorkerUnreached = "worker_unreachable"
	codeInternal        = "internal_error"
)

// ErrorBody is the OpenAI error shape of every error answer of the
// gateway: {"error":{"message":"…","type":"…","param":null,"code":"…"}}.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the inside of an [ErrorBody].
type ErrorDetail struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    string  `json:"code"`
}

// apiError is an error answer waiting to be written.
type apiError struct {
	status     int
	typ, code  string
	msg        string
	retryAfter int // seconds; 0 means no Retry-After
}

func (e *apiError) Error() string { return e.msg }

func (e *apiError) write(w http.ResponseWriter) {
	if e.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.retryAfter))
	}
	body, _ := json.Marshal(ErrorBody{Error: ErrorDetail{Message: e.msg, Type: e.typ, Code: e.code}})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(e.status)
	_, _ = w.Write(append(body, '\n'))
}

// errorEvent is the server-sent event that ends a stream cut short.
func errorEvent(e *apiError) []byte {
	body, _ := json.Marshal(ErrorBody{Error: ErrorDetail{Message: e.msg, Type: e.typ, Code: e.code}})
	return append(append([]byte("data: "), body...), '\n', '\n')
}
