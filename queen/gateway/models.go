package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"

	"github.com/rbee-fleet/rbee/shared/api"
)

// ModelSpec is a model the gateway may spawn, and how.
type ModelSpec struct {
	// Model is the model ref, as clients name it and workers get it.
	Model string `json:"model"`
	// Backend is the agent backend to run it with; "" means cpu.
	Backend string `json:"backend,omitempty"`
	// DeviceKind is "cpu" or "cuda"; "" means cpu for the cpu backend,
	// else cuda.
	DeviceKind string `json:"device_kind,omitempty"`
	// MinFreeBytes is the free GPU memory (cuda) or RAM (cpu) a node needs
	// to get the model.
	MinFreeBytes int64 `json:"min_free_bytes,omitempty"`
	// ReadyTimeoutMS bounds the spawn; 0 means the spawn default (5 min).
	ReadyTimeoutMS int64 `json:"ready_timeout_ms,omitempty"`
}

// modelsFile is the operator's file of spawnable models.
type modelsFile struct {
	Models []ModelSpec `json:"models"`
}

func (m ModelSpec) withDefaults() ModelSpec {
	if m.Backend == "" {
		m.Backend = api.BackendCPU
	}
	if m.DeviceKind == "" {
		m.DeviceKind = "cuda"
		if m.Backend == api.BackendCPU {
			m.DeviceKind = api.BackendCPU
		}
	}
	return m
}

// validate checks one entry of the models file.
func (m ModelSpec) validate() error {
	m = m.withDefaults()
	switch {
	case api.ValidateModelRef(m.Model) != nil:
		return api.ValidateModelRef(m.Model)
	case api.ValidateBackendName(m.Backend) != nil:
		return api.ValidateBackendName(m.Backend)
	case m.DeviceKind != api.BackendCPU && m.DeviceKind != "cuda":
		return fmt.Errorf("device_kind %q: must be cpu or cuda", m.DeviceKind)
	case m.MinFreeBytes < 0 || m.ReadyTimeoutMS < 0:
		return errors.New("min_free_bytes and ready_timeout_ms must not be negative")
	}
	return nil
}

// LoadModels reads the spawnable models file: JSON of the form
// {"models":[{"model":"hf:org/name","backend":"cuda","device_kind":"cuda","min_free_bytes":8000000000}]}.
// Unknown fields and a model listed twice are errors.
func LoadModels(path string) ([]ModelSpec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read models file: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f modelsFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("models file %s: %w", path, err)
	}
	seen := map[string]bool{}
	for i, m := range f.Models {
		if err := m.validate(); err != nil {
			return nil, fmt.Errorf("models file %s: models[%d]: %w", path, i, err)
		}
		if seen[m.Model] {
			return nil, fmt.Errorf("models file %s: model %q is listed twice", path, m.Model)
		}
		seen[m.Model] = true
	}
	return f.Models, nil
}

// modelList is the answer of GET /v1/models.
type modelList struct {
	Object string        `json:"object"`
	Data   []modelObject `json:"data"`
}

type modelObject struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

// servable returns the models with a ready worker and the spawnable ones,
// sorted.
func (g *Gateway) servable() []string {
	var out []string
	g.table.mu.Lock()
	for model, p := range g.table.pools {
		if slices.ContainsFunc(p.ups, func(u *upstream) bool { return u.routable && !u.down }) {
			out = append(out, model)
		}
	}
	g.table.mu.Unlock()
	for model := range g.models {
		if !slices.Contains(out, model) {
			out = append(out, model)
		}
	}
	slices.Sort(out)
	return out
}

// listModels is GET /v1/models.
func (g *Gateway) listModels(w http.ResponseWriter, r *http.Request) {
	if _, ok := g.authenticate(w, r); !ok {
		return
	}
	list := modelList{Object: "list", Data: []modelObject{}}
	for _, m := range g.servable() {
		list.Data = append(list.Data, modelObject{ID: m, Object: "model", OwnedBy: "rbee"})
	}
	body, _ := json.Marshal(list)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = io.Copy(w, bytes.NewReader(body))
}
