package main

import (
	"errors"
	"fmt"
	"testing"

	"github.com/rbee-fleet/rbee/queen/client"
	"github.com/rbee-fleet/rbee/shared/api"
)

func TestHintOf(t *testing.T) {
	apiErr := &client.APIError{Status: 409, Detail: api.ErrorDetail{Code: api.CodeAlreadyExists,
		Message: `hive already exists: "gpu-1"`, Hint: "remove it first with `queen setup remove-node --name gpu-1`"}}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{name: "plain", err: errors.New("boom"), want: ""},
		{name: "nil", err: nil, want: ""},
		{name: "api error", err: apiErr, want: "remove it first with `queen setup remove-node --name gpu-1`"},
		{name: "wrapped api error", err: fmt.Errorf("add node: %w", apiErr), want: "remove it first with `queen setup remove-node --name gpu-1`"},
		{name: "local", err: withHint(errors.New("SSH key not found: /k"), "check the path, or omit --ssh-key to use ssh-agent"),
			want: "check the path, or omit --ssh-key to use ssh-agent"},
		{name: "outer hint wins", err: withHint(apiErr, "pick another --name"), want: "pick another --name"},
		{name: "unreachable has its next step in the message", err: &client.UnreachableError{URL: "http://127.0.0.1:7833", Err: errors.New("refused")}, want: ""},
		{name: "bad answer", err: &client.ResponseError{Op: "GET /v1/hives", Err: errors.New("decode body")},
			want: "check that --queen-url points at a queen daemon of the same version as this command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := hintOf(tt.err); got != tt.want {
				t.Errorf("hintOf = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNodeNotFoundKeepsCause(t *testing.T) {
	cause := &client.APIError{Status: 404, Detail: api.ErrorDetail{Code: api.CodeNotFound, Message: "hive not found"}}
	err := nodeNotFound("gpu-9", cause)
	if err.Error() != `node "gpu-9" not found` || !errors.Is(err, errNodeNotFound) || !client.IsNotFound(err) {
		t.Errorf("nodeNotFound = %v", err)
	}
	other := errors.New("boom")
	if got := nodeNotFound("gpu-9", other); got != other {
		t.Errorf("nodeNotFound changed an unrelated error: %v", got)
	}
}
