package hiveregistry

import "testing"

// TestErrorMessages pins the text users read, next step included.
func TestErrorMessages(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		r, _ := open(t)
		if err := r.Add(t.Context(), sampleNode(t, "gpu-3")); err != nil {
			t.Fatalf("Add: %v", err)
		}
		tests := []struct {
			name string
			op   string
			want string
		}{
			{
				name: "duplicate add",
				op:   "add",
				want: "hive already exists: \"gpu-3\"; change it with `queen setup update-node --name gpu-3` or remove it first with `queen setup remove-node --name gpu-3`",
			},
			{
				name: "unknown get",
				op:   "get",
				want: "get hive: hive not found: \"gpu-9\"; list the registered nodes with `queen setup list-nodes`",
			},
			{
				name: "unknown remove",
				op:   "remove",
				want: "remove hive: hive not found: \"gpu-9\"; list the registered nodes with `queen setup list-nodes`",
			},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err := runOp(t, r, tt.op)
				if err == nil || err.Error() != tt.want {
					t.Errorf("error =\n%v\nwant\n%s", err, tt.want)
				}
			})
		}
	})
}

// runOp performs the failing operation a TestErrorMessages case names.
func runOp(t *testing.T, r *Registry, op string) error {
	t.Helper()
	ctx := t.Context()
	switch op {
	case "add":
		return r.Add(ctx, sampleNode(t, "gpu-3"))
	case "get":
		_, err := r.Get(ctx, "gpu-9")
		return err
	case "remove":
		return r.Remove(ctx, "gpu-9")
	}
	t.Fatalf("unknown op %q", op)
	return nil
}
