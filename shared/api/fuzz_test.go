package api

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"unicode"
)

// FuzzAddNodeRequestDecode feeds arbitrary bodies through the server's first
// two steps, decode and Validate: neither may panic, every error must be an
// ErrInvalid, and a request that passes has no control character in any
// string field and still passes after Defaults.
func FuzzAddNodeRequestDecode(f *testing.F) {
	f.Add([]byte(`{"name":"gpu-1","ssh_host":"10.0.0.7","git_repo_url":"https://github.com/rbee-fleet/rbee.git","install_path":"~/rbee"}`))
	f.Add([]byte(`{"name":"a.b","ssh_host":"::1","ssh_port":2222,"ssh_user":"_x","ssh_key_path":"/k","git_repo_url":"git@h:r","git_branch":"f/x","install_path":"/o","agent_port":1,"host_key_fingerprint":"` + ed25519Print + `","connect_timeout_ms":100}`))
	f.Add([]byte(`{"name":"x","ssh_host":"-oProxyCommand=id","git_repo_url":"ext::sh -c id","install_path":"/r\n"}`))
	f.Add([]byte(`{"name":"x","ssh_host":"h","git_repo_url":"https://h/r","install_path":"/r\u2028","git_branch":"main\u202e"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var r AddNodeRequest
		if json.Unmarshal(body, &r) != nil {
			return
		}
		err := r.Validate()
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate() = %v, not an ErrInvalid", err)
			}
			return
		}
		assertNoControl(t, reflect.ValueOf(r))
		r.Defaults()
		if err := r.Validate(); err != nil {
			t.Fatalf("valid request fails after Defaults: %v", err)
		}
	})
}

// FuzzUpdateNodeRequestDecode is FuzzAddNodeRequestDecode for PATCH bodies;
// a request that passes must also leave a valid node valid after ApplyTo.
func FuzzUpdateNodeRequestDecode(f *testing.F) {
	f.Add([]byte(`{"git_branch":"dev"}`))
	f.Add([]byte(`{"ssh_host":"gpu-2","ssh_port":2222,"ssh_user":"","ssh_key_path":"","reset_host_key":true,"host_key_fingerprint":"` + ed25519Print + `"}`))
	f.Add([]byte(`{"install_path":"~/../etc","agent_port":0,"git_repo_url":"--upload-pack=id"}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var r UpdateNodeRequest
		if json.Unmarshal(body, &r) != nil {
			return
		}
		err := r.Validate()
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate() = %v, not an ErrInvalid", err)
			}
			return
		}
		assertNoControl(t, reflect.ValueOf(r))
		n := validNode()
		r.ApplyTo(&n)
		if err := n.Validate(); err != nil {
			t.Fatalf("valid update breaks a valid node: %v", err)
		}
	})
}

// assertNoControl fails if any string or *string field of the struct v holds
// a control character.
func assertNoControl(t *testing.T, v reflect.Value) {
	t.Helper()
	for i := range v.NumField() {
		f := v.Field(i)
		if f.Kind() == reflect.Pointer && !f.IsNil() {
			f = f.Elem()
		}
		if f.Kind() != reflect.String {
			continue
		}
		for _, r := range f.String() {
			if unicode.IsControl(r) {
				t.Fatalf("field %s = %q passed validation with control character %U", v.Type().Field(i).Name, f.String(), r)
			}
		}
	}
}
