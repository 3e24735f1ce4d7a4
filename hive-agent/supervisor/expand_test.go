package supervisor

import "testing"

// TestExpandOnePass: placeholders are replaced in one pass, so a value is
// never scanned for placeholders again.
func TestExpandOnePass(t *testing.T) {
	values := map[string]string{
		"{worker_id}": "w-1", "{model_ref}": "hf:x/{port}", "{backend}": "cpu",
		"{device}": "0", "{port}": "8081", "{callback_url}": "http://127.0.0.1:7835/v1/workers/ready",
	}
	tests := []struct {
		arg, want string
	}{
		{arg: "--model-ref", want: "--model-ref"},
		{arg: "{model_ref}", want: "hf:x/{port}"},
		{arg: "--model={model_ref}:{port}", want: "--model=hf:x/{port}:8081"},
		{arg: "{port}{port}", want: "80818081"},
		{arg: "{worker_id}-{device}", want: "w-1-0"},
		{arg: "http://127.0.0.1:{port}/health", want: "http://127.0.0.1:8081/health"},
		{arg: "{unknown} {port", want: "{unknown} {port"},
		{arg: "{{port}}", want: "{8081}"},
		{arg: "", want: ""},
	}
	for _, tt := range tests {
		if got := expand(tt.arg, values); got != tt.want {
			t.Errorf("expand(%q) = %q, want %q", tt.arg, got, tt.want)
		}
	}
}
