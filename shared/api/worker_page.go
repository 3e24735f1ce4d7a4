package api

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Page sizes of the queen's GET /v1/workers/list (the limit parameter).
const (
	// DefaultWorkerPageLimit is the page size when limit is left out.
	DefaultWorkerPageLimit = 500
	// MaxWorkerPageLimit is the largest page the queen answers.
	MaxWorkerPageLimit = 5000
)

// CodeInvalidCursor answers a list cursor the queen did not give out.
const CodeInvalidCursor = "INVALID_CURSOR"

// ErrInvalidCursor is wrapped by [ParseWorkerCursor]'s errors.
var ErrInvalidCursor = errors.New("invalid cursor")

// WorkerCursorHint is the next step after an [ErrInvalidCursor].
const WorkerCursorHint = "pass the next_cursor of the previous page as it came, or leave cursor out to start from the first page"

// WorkerPage is the body of the queen's GET /v1/workers/list: a page of
// workers in list order (node, then worker id) and the cursor of the next
// page, empty on the last one. It is a [WorkerList] with one more field,
// so a reader of WorkerList reads the first page.
type WorkerPage struct {
	Workers []Worker `json:"workers"`
	// NextCursor is opaque: pass it back as the cursor parameter as is.
	NextCursor string `json:"next_cursor"`
}

// WorkerCursor returns the cursor of the page after the worker id of node:
// the key as base64url, opaque to clients, checked by
// [ParseWorkerCursor].
func WorkerCursor(node, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(node + "/" + id))
}

// maxCursorLen bounds a cursor before it is decoded: the base64 of the
// longest node name, '/' and the longest worker id.
var maxCursorLen = base64.RawURLEncoding.EncodedLen(MaxNodeNameLen + 1 + maxWorkerIDLen)

// ParseWorkerCursor returns the node and worker id of a cursor made by
// [WorkerCursor]; anything else is an error wrapping [ErrInvalidCursor].
func ParseWorkerCursor(c string) (node, id string, err error) {
	if len(c) > maxCursorLen {
		return "", "", fmt.Errorf("%w: longer than any cursor the queen gives out", ErrInvalidCursor)
	}
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return "", "", fmt.Errorf("%w: not base64url", ErrInvalidCursor)
	}
	node, id, ok := strings.Cut(string(raw), "/")
	if !ok || validateNodeName("node", node) != nil || ValidateWorkerID(id) != nil {
		return "", "", fmt.Errorf("%w: it names no worker position", ErrInvalidCursor)
	}
	return node, id, nil
}

// ParseWorkerPageLimit returns the page size of the limit parameter s:
// [DefaultWorkerPageLimit] when s is empty, else a whole number from 1 to
// [MaxWorkerPageLimit]; anything else is a [*FieldError] for "limit".
func ParseWorkerPageLimit(s string) (int, error) {
	if s == "" {
		return DefaultWorkerPageLimit, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxWorkerPageLimit {
		return 0, fieldErr("limit", s, fmt.Sprintf("must be a whole number from 1 to %d (default %d)", MaxWorkerPageLimit, DefaultWorkerPageLimit))
	}
	return n, nil
}
