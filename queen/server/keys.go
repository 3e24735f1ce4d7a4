package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"sync"

	"github.com/rbee-fleet/rbee/queen/hiveregistry"
	"github.com/rbee-fleet/rbee/shared/api"
)

// clientKeyPrefix starts every client key, so a key found in a log or a
// config file is recognisable.
const clientKeyPrefix = "rbk_"

// clientKeys checks gateway client keys against the registry, keeping the
// hashes it found in force in memory. Creating and revoking go through
// it, so the cache never outlives a revoke.
type clientKeys struct {
	s  *Server
	mu sync.RWMutex
	ok map[string]string // key hash → name, of keys found in force
}

// hashKey is the SHA-256 hex the registry keeps of a client key.
func hashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// ClientOf returns the name of the client key in force that key is.
func (k *clientKeys) ClientOf(ctx context.Context, key string) (string, bool, error) {
	hash := hashKey(key)
	k.mu.RLock()
	name, ok := k.ok[hash]
	k.mu.RUnlock()
	if ok {
		return name, true, nil
	}
	name, err := k.s.cfg.Registry.ClientKeyByHash(ctx, hash)
	if errors.Is(err, hiveregistry.ErrNoKey) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.ok[hash] = name
	return name, true, nil
}

// IsAdminToken reports whether key is the admin token in force.
func (k *clientKeys) IsAdminToken(key string) bool {
	return subtle.ConstantTimeCompare([]byte(key), []byte(*k.s.adminToken.Load())) == 1
}

// forget drops the cache after a revoke.
func (k *clientKeys) forget() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.ok = map[string]string{}
}

// createKey is POST /v1/keys: it answers the new key, once.
func (s *Server) createKey(w http.ResponseWriter, r *http.Request) {
	var req api.CreateKeyRequest
	if !decode(w, r, &req) {
		return
	}
	if err := req.Validate(); err != nil {
		writeInvalid(w, err)
		return
	}
	key := clientKeyPrefix + rand.Text() + rand.Text()
	k, err := s.cfg.Registry.AddClientKey(r.Context(), req.Name, hashKey(key))
	if errors.Is(err, hiveregistry.ErrKeyExists) {
		writeError(w, http.StatusConflict, api.ErrorDetail{Code: api.CodeAlreadyExists, Message: err.Error(),
			Hint: "revoke it with `queen keys revoke --name " + req.Name + "` or pick another name"})
		return
	}
	if err != nil {
		s.internal(w, "create client key", err)
		return
	}
	k.Key = key
	s.log.Info("client key created", "key_name", req.Name)
	writeJSON(w, http.StatusCreated, k)
}

// listKeys is GET /v1/keys.
func (s *Server) listKeys(w http.ResponseWriter, r *http.Request) {
	keys, err := s.cfg.Registry.ClientKeys(r.Context())
	if err != nil {
		s.internal(w, "list client keys", err)
		return
	}
	writeJSON(w, http.StatusOK, api.KeyList{Keys: keys})
}

// revokeKey is DELETE /v1/keys/{name}.
func (s *Server) revokeKey(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := api.ValidateKeyName(name); err != nil {
		writeInvalid(w, err)
		return
	}
	err := s.cfg.Registry.RevokeClientKey(r.Context(), name)
	s.keys.forget()
	if errors.Is(err, hiveregistry.ErrKeyNotFound) {
		writeError(w, http.StatusNotFound, api.ErrorDetail{Code: api.CodeNotFound, Message: err.Error(),
			Hint: "list the keys with `queen keys list`"})
		return
	}
	if err != nil {
		s.internal(w, "revoke client key", err)
		return
	}
	s.log.Info("client key revoked", "key_name", name)
	w.WriteHeader(http.StatusNoContent)
}
