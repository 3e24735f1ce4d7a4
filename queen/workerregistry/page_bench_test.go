package workerregistry

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/rbee-fleet/rbee/shared/api"
)

// scaleModels are the models of scaleFleet: a quarter of the workers each.
var scaleModels = []string{"hf:a/one-GGUF", "hf:b/two-GGUF", "hf:c/three-GGUF", "/models/four.gguf"}

// scaleFleet returns a registry of nodes × 16 workers: worker i of a node
// runs scaleModels[i%4] on cuda device i%8, so a model matches a quarter
// of the fleet and a capability an eighth; the fleet is 10,000
// nodes (160,000 workers).
func scaleFleet(tb testing.TB, nodes int) *Registry {
	tb.Helper()
	r := New()
	for n := range nodes {
		node := fmt.Sprintf("hive-%05d", n)
		for i := range 16 {
			w := sampleWorker(node, fmt.Sprintf("w-%05d-%02d", n, i))
			w.ModelRef, w.Device = scaleModels[i%4], i%8
			mustRegister(tb, r, node, decoded(tb, w), t0)
		}
	}
	return r
}

// decoded returns w as a heartbeat delivers it: decoded from JSON, so
// every string is an allocation of its own, as in the queen.
func decoded(tb testing.TB, w api.Worker) api.Worker {
	tb.Helper()
	b, err := json.Marshal(w)
	if err != nil {
		tb.Fatal(err)
	}
	var out api.Worker
	if err := json.Unmarshal(b, &out); err != nil {
		tb.Fatal(err)
	}
	return out
}

// BenchmarkListPage compares, on 160,000 workers in one run, the list as
// it was (referenceList: scan everything, sort, encode the whole answer
// at once) with a page of 500 off the indexes, encoded worker by worker
// through a buffer, as the queen's handler does. Each sub-benchmark times
// many calls itself and reports p50-ms and p99-ms per call (a page, or the
// whole answer before) and B/call, so -benchtime 1x is enough:
//
//	go test -run '^$' -bench ListPage -benchtime 1x ./queen/workerregistry/
func BenchmarkListPage(b *testing.B) {
	r := scaleFleet(b, 10_000)
	model, capability := api.WorkerFilter{Model: scaleModels[1]}, api.WorkerFilter{Capability: "cuda:3"}
	for _, bc := range []struct {
		name  string
		calls int
		call  func(i int) int // returns the workers it listed
	}{
		{"before/model-40000", 5, func(int) int { return encodeWhole(referenceList(r, model)) }},
		{"after/model-page-500", 400, pageAt(r, model, 40_000)},
		{"before/capability-20000", 5, func(int) int { return encodeWhole(referenceList(r, capability)) }},
		{"after/capability-page-500", 400, pageAt(r, capability, 20_000)},
		{"before/all-160000", 3, func(int) int { return encodeWhole(referenceList(r, api.WorkerFilter{})) }},
		{"after/all-page-500", 320, pageAt(r, api.WorkerFilter{}, 160_000)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				timeCalls(b, bc.calls, bc.call)
			}
		})
	}
}

// pageAt returns a call that lists the page of 500 starting at the i-th
// step through the matches of f (total of them), cycling, and encodes it.
func pageAt(r *Registry, f api.WorkerFilter, total int) func(i int) int {
	keys := r.List(f)
	var buf []api.Worker
	return func(i int) int {
		at := Position{}
		if k := (i * 500) % total; k > 0 {
			at = Position{Node: keys[k-1].Node, ID: keys[k-1].ID}
		}
		buf, _ = r.Page(f, at, 500, buf[:0])
		return encodePage(buf)
	}
}

// timeCalls runs call n times and reports the p50 and p99 of one call in
// ms and the bytes allocated per call.
func timeCalls(b *testing.B, n int, call func(i int) int) {
	b.Helper()
	durs := make([]time.Duration, n)
	var before, after runtime.MemStats
	runtime.GC() // the garbage of the sub-benchmark before is not this one's
	runtime.ReadMemStats(&before)
	for i := range n {
		start := time.Now()
		if call(i) == 0 {
			b.Fatal("a call listed nothing")
		}
		durs[i] = time.Since(start)
	}
	runtime.ReadMemStats(&after)
	slices.Sort(durs)
	b.ReportMetric(ms(durs[n/2]), "p50-ms")
	b.ReportMetric(ms(durs[(n*99)/100]), "p99-ms")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(n), "B/call")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// encodeWhole encodes the list as the handler did before pages: one
// json.Encoder call, which builds the whole answer in memory first.
func encodeWhole(ws []api.Worker) int {
	_ = json.NewEncoder(io.Discard).Encode(api.WorkerList{Workers: ws})
	return len(ws)
}

// pageWriter is the reused buffer of encodePage, as the handler pools its
// own.
var pageWriter = bufio.NewWriterSize(io.Discard, 32<<10)

// encodePage encodes a page as the handler does now: one worker at a
// time through a 32 KiB buffer.
func encodePage(ws []api.Worker) int {
	bw := pageWriter
	enc := json.NewEncoder(bw)
	for i := range ws {
		_ = enc.Encode(&ws[i])
	}
	_ = bw.Flush()
	return len(ws)
}

// BenchmarkRegistryMemory reports the heap one worker costs in a registry
// of 160,000 registered from decoded JSON as heartbeats deliver them
// (records, their strings, the id and node maps and the ordered indexes:
// B/worker) and what the indexes alone add
// (index-B/worker).
func BenchmarkRegistryMemory(b *testing.B) {
	for b.Loop() {
		base := heapInUse()
		r := scaleFleet(b, 10_000)
		whole := heapInUse()
		r.idx = index{}
		without := heapInUse()
		runtime.KeepAlive(r)
		b.ReportMetric(float64(whole-base)/160_000, "B/worker")
		b.ReportMetric(float64(whole-without)/160_000, "index-B/worker")
	}
}

func heapInUse() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
