package api

// MaxKeyNameLen is the longest client key name.
const MaxKeyNameLen = 64

const ruleKeyName = "must be 1–64 letters, digits, '.', '_' or '-'"

// ClientKey is a gateway client key as the queen lists it: never the key
// itself, which only the answer to its creation carries.
type ClientKey struct {
	Name string `json:"name"`
	// Key is set only in the answer to POST /v1/keys: the queen keeps
	// only its SHA-256, so it cannot be shown again.
	Key string `json:"key,omitempty"`
	// Scope is what the key may call; "gateway" (the OpenAI routes).
	Scope       string `json:"scope"`
	CreatedUnix int64  `json:"created_unix"`
	// RevokedUnix is when the key was revoked; 0 while it is in force.
	RevokedUnix int64 `json:"revoked_unix,omitempty"`
}

// ScopeGateway is the scope of a client key that may call the gateway.
const ScopeGateway = "gateway"

// CreateKeyRequest is the body of POST /v1/keys.
type CreateKeyRequest struct {
	Name string `json:"name"`
}

// Validate checks the key name.
func (r CreateKeyRequest) Validate() error { return ValidateKeyName(r.Name) }

// KeyList is the answer of GET /v1/keys.
type KeyList struct {
	Keys []ClientKey `json:"keys"`
}

// ValidateKeyName checks a client key name as found in a URL path or a
// request.
func ValidateKeyName(name string) error {
	if name == "" || len(name) > MaxKeyNameLen {
		return fieldErr("name", name, ruleKeyName)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !isNameAlnum(c) && !('A' <= c && c <= 'Z') && c != '.' && c != '_' && c != '-' {
			return fieldErr("name", name, ruleKeyName)
		}
	}
	return nil
}
