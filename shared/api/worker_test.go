package api

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestValidateModelRef(t *testing.T) {
	tests := []struct {
		name    string
		value   string
		wantErr bool
	}{
		{name: "hugging face", value: "hf:TheBloke/TinyLlama-GGUF"},
		{name: "path", value: "/models/tiny.gguf"},
		{name: "placeholder text", value: "hf:x/{port}"},
		{name: "dash inside", value: "hf:a/b--c"},
		{name: "256 chars", value: strings.Repeat("m", 256)},
		{name: "257 chars", value: strings.Repeat("m", 257), wantErr: true},
		{name: "empty", value: "", wantErr: true},
		{name: "leading dash (an option)", value: "--never-ready", wantErr: true},
		{name: "single dash", value: "-", wantErr: true},
		{name: "space", value: "hf:a b", wantErr: true},
		{name: "control character", value: "hf:a\nb", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateModelRef(tt.value)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ValidateModelRef(%q) = %v, want error %v", tt.value, err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "not starting with '-'") {
				t.Errorf("error %q does not state the rule", err)
			}
			spawn := SpawnWorkerRequest{ModelRef: tt.value}
			if err := spawn.Validate(false); (err != nil) != tt.wantErr {
				t.Errorf("spawn of model %q: Validate = %v, want error %v", tt.value, err, tt.wantErr)
			}
		})
	}
}

func TestReadyCallbackValidate(t *testing.T) {
	ok := ReadyCallback{ID: "w-1", URL: "http://10.0.0.2:8081", ModelRef: "hf:x/y", Backend: "cpu", SlotsTotal: 4, VRAMBytes: 1}
	tests := []struct {
		name   string
		change func(*ReadyCallback)
		field  string // "" when valid
	}{
		{name: "valid", change: func(*ReadyCallback) {}},
		{name: "no url", change: func(c *ReadyCallback) { c.URL = "" }, field: "url"},
		{name: "url without port", change: func(c *ReadyCallback) { c.URL = "http://10.0.0.2" }, field: "url"},
		{name: "bad id", change: func(c *ReadyCallback) { c.ID = "../x" }, field: "worker_id"},
		{name: "negative slots", change: func(c *ReadyCallback) { c.SlotsTotal = -1 }, field: "slots_total"},
		{name: "negative vram", change: func(c *ReadyCallback) { c.VRAMBytes = -1 }, field: "vram_bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cb := ok
			tt.change(&cb)
			err := cb.Validate()
			fe, isField := AsFieldError(err)
			switch {
			case tt.field == "" && err != nil:
				t.Errorf("Validate = %v, want nil", err)
			case tt.field != "" && (!isField || fe.Field != tt.field):
				t.Errorf("Validate = %v, want an error of field %s", err, tt.field)
			}
		})
	}
}

// TestStopAnswerJSON: killed and stop_ms are in a stop's answer only.
func TestStopAnswerJSON(t *testing.T) {
	for _, tt := range []struct {
		w    Worker
		want []string
		not  []string
	}{
		{w: Worker{ID: "w-1", Killed: true, StopMS: 10012}, want: []string{`"killed":true`, `"stop_ms":10012`}},
		{w: Worker{ID: "w-1"}, not: []string{`"killed"`, `"stop_ms"`}},
	} {
		raw, err := json.Marshal(tt.w)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range tt.want {
			if !strings.Contains(string(raw), s) {
				t.Errorf("JSON %s lacks %s", raw, s)
			}
		}
		for _, s := range tt.not {
			if strings.Contains(string(raw), s) {
				t.Errorf("JSON %s has %s", raw, s)
			}
		}
	}
}
