package api

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// ErrInvalid is wrapped by every validation error of this package; a server
// answers it with HTTP 400 and [CodeInvalidField].
var ErrInvalid = errors.New("invalid request")

// FieldError is one broken validation rule of one field. It unwraps to
// [ErrInvalid].
type FieldError struct {
	// Field is the JSON name of the field, e.g. "ssh_host".
	Field string
	// Value is the rejected value as given; Error shows at most
	// maxShownValue bytes of it, quoted.
	Value string
	// Rule says what the value must look like, e.g. "must be 1–65535".
	Rule string
}

// maxShownValue bounds how much of a rejected value an error message echoes.
const maxShownValue = 64

// Error returns `invalid <field> "<value>": <rule>`, leaving the value out
// when it is empty.
func (e *FieldError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("invalid %s: %s", e.Field, e.Rule)
	}
	return fmt.Sprintf("invalid %s %s: %s", e.Field, shownValue(e.Value), e.Rule)
}

// Unwrap returns [ErrInvalid].
func (e *FieldError) Unwrap() error { return ErrInvalid }

// AsFieldError returns the first [*FieldError] in err's tree, if any.
func AsFieldError(err error) (*FieldError, bool) {
	return errors.AsType[*FieldError](err)
}

// shownValue quotes v for an error message, cut to maxShownValue bytes on a
// rune boundary; %q-style quoting keeps control characters out of terminals
// and logs.
func shownValue(v string) string {
	if len(v) <= maxShownValue {
		return strconv.Quote(v)
	}
	cut := maxShownValue
	for cut > 0 && !utf8.RuneStart(v[cut]) {
		cut--
	}
	return strconv.Quote(v[:cut]) + "…"
}

// fieldErr builds a *FieldError.
func fieldErr(field, value, rule string) error {
	return &FieldError{Field: field, Value: value, Rule: rule}
}
