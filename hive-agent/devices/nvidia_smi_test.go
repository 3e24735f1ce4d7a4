package devices

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/rbee-fleet/rbee/shared/api"
)

// twoGPUs is what nvidia-smi prints on a box with two cards.
const twoGPUs = "0, NVIDIA GeForce RTX 3090, 24576, 23912\n1, NVIDIA GeForce RTX 3060, 12288, 11950\n"

var (
	rtx3090 = api.GPU{Index: 0, Name: "NVIDIA GeForce RTX 3090", MemoryTotalByte: 24576 * mib, MemoryFreeByte: 23912 * mib}
	rtx3060 = api.GPU{Index: 1, Name: "NVIDIA GeForce RTX 3060", MemoryTotalByte: 12288 * mib, MemoryFreeByte: 11950 * mib}
)

func TestParseNvidiaSMI(t *testing.T) {
	tests := []struct {
		name         string
		out          string
		want         []api.GPU
		wantWarnings []string
	}{
		{name: "empty output", out: ""},
		{name: "two GPUs", out: twoGPUs, want: []api.GPU{rtx3090, rtx3060}},
		{
			name: "CRLF line ends",
			out:  "0, NVIDIA GeForce RTX 3090, 24576, 23912\r\n1, NVIDIA GeForce RTX 3060, 12288, 11950\r\n",
			want: []api.GPU{rtx3090, rtx3060},
		},
		{
			name: "sorted by index",
			out:  "1, NVIDIA GeForce RTX 3060, 12288, 11950\n0, NVIDIA GeForce RTX 3090, 24576, 23912",
			want: []api.GPU{rtx3090, rtx3060},
		},
		{
			name: "blank lines and padding ignored",
			out:  "\n   \n  0 ,  NVIDIA GeForce RTX 3090 ,24576,   23912  \n\n\t\n",
			want: []api.GPU{rtx3090},
		},
		{
			name: "free N/A reads as 0",
			out:  "0, Tesla T4, 15360, [N/A]\n1, Tesla T4, 15360, [Not Supported]\n",
			want: []api.GPU{
				{Index: 0, Name: "Tesla T4", MemoryTotalByte: 15360 * mib},
				{Index: 1, Name: "Tesla T4", MemoryTotalByte: 15360 * mib},
			},
		},
		{
			name: "free above total clamps",
			out:  "0, NVIDIA A100-SXM4-40GB, 40960, 99999\n",
			want: []api.GPU{{Index: 0, Name: "NVIDIA A100-SXM4-40GB", MemoryTotalByte: 40960 * mib, MemoryFreeByte: 40960 * mib}},
		},
		{
			name: "name with a comma",
			out:  "0, NVIDIA H100, PCIe, 81559, 81000\n",
			want: []api.GPU{{Index: 0, Name: "NVIDIA H100, PCIe", MemoryTotalByte: 81559 * mib, MemoryFreeByte: 81000 * mib}},
		},
		{
			name: "largest total accepted",
			out:  "255, Big, 1000000, 0\n",
			want: []api.GPU{{Index: 255, Name: "Big", MemoryTotalByte: 1_000_000 * mib}},
		},
		{
			name:         "partial lines",
			out:          "0, NVIDIA GeForce RTX 3090\n1, NVIDIA GeForce RTX 3060, 12288, 11950\n2, NVIDIA GeForce RTX 3060, 12",
			want:         []api.GPU{rtx3060},
			wantWarnings: []string{"nvidia-smi line 1 skipped: want 4 fields (index, name, memory.total, memory.free), got 2", "nvidia-smi line 3 skipped: want 4 fields (index, name, memory.total, memory.free), got 3"},
		},
		{
			name: "garbage",
			out:  "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\n",
			wantWarnings: []string{
				"nvidia-smi line 1 skipped: want 4 fields (index, name, memory.total, memory.free), got 1",
			},
		},
		{
			name:         "header line",
			out:          "index, name, memory.total [MiB], memory.free [MiB]\n" + twoGPUs,
			want:         []api.GPU{rtx3090, rtx3060},
			wantWarnings: []string{`nvidia-smi line 1 skipped: index "index" is not a whole number`},
		},
		{
			name:         "duplicate index keeps the first",
			out:          twoGPUs + "0, NVIDIA GeForce RTX 4090, 24564, 24000\n",
			want:         []api.GPU{rtx3090, rtx3060},
			wantWarnings: []string{"nvidia-smi line 3 skipped: index 0 is listed twice"},
		},
		{
			name: "bad index",
			out:  "-1, A, 1, 1\n256, A, 1, 1\n1.5, A, 1, 1\n, A, 1, 1\n",
			wantWarnings: []string{
				"nvidia-smi line 1 skipped: index -1 is negative",
				"nvidia-smi line 2 skipped: index 256 is above 255",
				`nvidia-smi line 3 skipped: index "1.5" is not a whole number`,
				`nvidia-smi line 4 skipped: index "" is not a whole number`,
			},
		},
		{
			name: "bad memory",
			out:  "0, A, 24GB, 1\n1, A, -1, 0\n2, A, [N/A], [N/A]\n3, A, 1000001, 0\n4, A, 1024, lots\n5, A, 1024, 1.5\n",
			wantWarnings: []string{
				`nvidia-smi line 1 skipped: memory.total "24GB" is not a whole, non-negative number of MiB`,
				`nvidia-smi line 2 skipped: memory.total "-1" is not a whole, non-negative number of MiB`,
				`nvidia-smi line 3 skipped: memory.total "[N/A]" is not a whole, non-negative number of MiB`,
				"nvidia-smi line 4 skipped: memory.total 1000001 MiB is above 1000000 MiB",
				`nvidia-smi line 5 skipped: memory.free "lots" is not a whole, non-negative number of MiB`,
				`nvidia-smi line 6 skipped: memory.free "1.5" is not a whole, non-negative number of MiB`,
			},
		},
		{
			name: "bad name",
			out:  "0, , 1, 1\n1, Evil\x1b[2JName, 1, 1\n2, " + strings.Repeat("A", 257) + ", 1, 1\n3, bad\xffutf8, 1, 1\n4, tab\tinside, 1, 1\n",
			wantWarnings: []string{
				"nvidia-smi line 1 skipped: name is empty",
				`nvidia-smi line 2 skipped: name "Evil\x1b[2JName" has control characters`,
				"nvidia-smi line 3 skipped: name is 257 bytes, above 256",
				`nvidia-smi line 4 skipped: name "bad\xffutf8" is not UTF-8`,
				`nvidia-smi line 5 skipped: name "tab\tinside" has control characters`,
			},
		},
		{
			name: "long values cut in warnings",
			out:  strings.Repeat("9", 50) + ", A, 1, 1\n",
			wantWarnings: []string{
				`nvidia-smi line 1 skipped: index "` + strings.Repeat("9", 40) + `"… is not a whole number`,
			},
		},
		{
			name:         "warnings are capped",
			out:          strings.Repeat("junk\n", maxWarnings+7),
			wantWarnings: append(repeatWarnings(maxWarnings), "nvidia-smi: 7 more lines skipped"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, warnings := ParseNvidiaSMI([]byte(tt.out))
			if !slices.Equal(got, tt.want) {
				t.Errorf("GPUs:\n got %+v\nwant %+v", got, tt.want)
			}
			if !slices.Equal(warnings, tt.wantWarnings) {
				t.Errorf("warnings:\n got %q\nwant %q", warnings, tt.wantWarnings)
			}
		})
	}
}

func FuzzParseNvidiaSMI(f *testing.F) {
	for _, seed := range []string{
		"",
		twoGPUs,
		strings.ReplaceAll(twoGPUs, "\n", "\r\n"),
		"0, Tesla T4, 15360, [N/A]\n",
		"0, NVIDIA A100-SXM4-40GB, 40960, 99999\n",
		"0, NVIDIA H100, PCIe, 81559, 81000\n",
		"0, A, 1, 1\n0, B, 2, 2\n",
		"-1, A, 1, 1\n256, A, 1, 1\n+7, A, 1, 1\n",
		"0, A, 1000001, 0\n1, A, 9223372036854775807, 9223372036854775807\n",
		"0, Evil\x1b[2JName, 1, 1\n1, bad\xffutf8, 1, 1\n2, \u0085x\u00a0, 1, 1\n",
		",,,\n,,,,,,\n\r\r\n",
		"NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, out []byte) {
		gpus, warnings := ParseNvidiaSMI(out)
		if len(warnings) > maxWarnings+1 {
			t.Errorf("%d warnings, want at most %d", len(warnings), maxWarnings+1)
		}
		for i, g := range gpus {
			if i > 0 && g.Index <= gpus[i-1].Index {
				t.Errorf("GPU %d has index %d after %d: not sorted or duplicate", i, g.Index, gpus[i-1].Index)
			}
			if err := checkGPU(g); err != "" {
				t.Errorf("GPU %+v: %s", g, err)
			}
		}
	})
}

// checkGPU returns which rule of ParseNvidiaSMI g breaks, or "".
func checkGPU(g api.GPU) string {
	switch {
	case g.Index < 0 || g.Index > maxIndex:
		return "index out of 0–255"
	case g.Name == "" || len(g.Name) > maxNameLen || !utf8.ValidString(g.Name):
		return "name empty, too long or not UTF-8"
	case strings.ContainsFunc(g.Name, unicode.IsControl) || strings.TrimSpace(g.Name) != g.Name:
		return "name has control characters or is not trimmed"
	case g.MemoryTotalByte < 0 || g.MemoryTotalByte > maxMemoryTotalMiB*mib || g.MemoryTotalByte%mib != 0:
		return "total not whole MiB in 0–1000000"
	case g.MemoryFreeByte < 0 || g.MemoryFreeByte > g.MemoryTotalByte || g.MemoryFreeByte%mib != 0:
		return "free not whole MiB in 0–total"
	case api.ValidateCapability(api.CapabilityOf(api.BackendCUDA, g.Index)) != nil:
		return "capability does not validate"
	}
	return ""
}

// repeatWarnings returns the warnings for n lines of "junk".
func repeatWarnings(n int) []string {
	var w []string
	for i := range n {
		w = append(w, "nvidia-smi line "+strconv.Itoa(i+1)+" skipped: want 4 fields (index, name, memory.total, memory.free), got 1")
	}
	return w
}
