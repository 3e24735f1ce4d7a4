package api

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestFieldErrorMessage(t *testing.T) {
	tests := []struct {
		name string
		err  *FieldError
		want string
	}{
		{
			name: "node name",
			err:  &FieldError{Field: "name", Value: "Bad_Name", Rule: ruleNodeName},
			want: `invalid name "Bad_Name": must be 1–63 lowercase letters, digits, '-' or '.', starting and ending with a letter or digit`,
		},
		{
			name: "empty value is left out",
			err:  &FieldError{Field: "ssh_host", Rule: "is required"},
			want: `invalid ssh_host: is required`,
		},
		{
			name: "control characters are escaped",
			err:  &FieldError{Field: "install_path", Value: "/opt/rbee\n\x1b[31m", Rule: ruleNoControl},
			want: `invalid install_path "/opt/rbee\n\x1b[31m": ` + ruleNoControl,
		},
		{
			name: "long value is cut on a rune boundary",
			err:  &FieldError{Field: "ssh_host", Value: strings.Repeat("a", 63) + "ü" + strings.Repeat("b", 100), Rule: "r"},
			want: `invalid ssh_host "` + strings.Repeat("a", 63) + `"…: r`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %s\nwant      %s", got, tt.want)
			}
		})
	}
}

func TestFieldErrorWrapsErrInvalid(t *testing.T) {
	err := fmt.Errorf("add node: %w", errors.Join(
		validateNodeName("name", "Bad_Name"),
		validatePort("ssh_port", 70000, true),
	))
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("errors.Is(%v, ErrInvalid) = false", err)
	}
	fe, ok := AsFieldError(err)
	if !ok || fe.Field != "name" || fe.Value != "Bad_Name" {
		t.Fatalf("AsFieldError = %+v, %v; want the name error first", fe, ok)
	}
}

// assertField checks that err is nil when wantField is empty, and otherwise
// a *FieldError for wantField that wraps ErrInvalid.
func assertField(t *testing.T, err error, wantField string) {
	t.Helper()
	if wantField == "" {
		if err != nil {
			t.Fatalf("got error %v, want none", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("got no error, want one for field %q", wantField)
	}
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("error %v does not wrap ErrInvalid", err)
	}
	fe, ok := AsFieldError(err)
	if !ok {
		t.Fatalf("error %v is not a *FieldError", err)
	}
	if fe.Field != wantField {
		t.Errorf("error names field %q, want %q (%v)", fe.Field, wantField, err)
	}
}
