package hiveregistry

import (
	"fmt"
	"testing"
)

func BenchmarkAdd(b *testing.B) {
	r, _ := openTemp(b)
	nodes := make([]string, b.N)
	for i := range nodes {
		nodes[i] = fmt.Sprintf("gpu-%d", i)
	}
	n := sampleNode(b, "gpu-0")
	b.ResetTimer()
	for i := range b.N {
		n.NodeName = nodes[i]
		if err := r.Add(b.Context(), n); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGet(b *testing.B) {
	r, _ := openTemp(b)
	if err := r.Add(b.Context(), sampleNode(b, "gpu-1")); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := r.Get(b.Context(), "gpu-1"); err != nil {
			b.Fatal(err)
		}
	}
}
