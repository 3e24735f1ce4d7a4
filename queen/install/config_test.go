package install

import (
	"slices"
	"testing"
)

func TestQueenList(t *testing.T) {
	tests := []struct {
		name  string
		own   string
		peers []string
		want  []string
	}{
		{name: "one queen: queen_url alone", own: "http://10.0.0.1:7833"},
		{name: "a pair", own: "http://10.0.0.1:7833", peers: []string{"http://10.0.0.2:7833/"},
			want: []string{"http://10.0.0.1:7833", "http://10.0.0.2:7833"}},
		{name: "itself among the peers, and twice the same peer", own: "http://10.0.0.1:7833",
			peers: []string{"http://10.0.0.1:7833", "http://10.0.0.2:7833", "http://10.0.0.2:7833"},
			want:  []string{"http://10.0.0.1:7833", "http://10.0.0.2:7833"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := queenList(tt.own, tt.peers); !slices.Equal(got, tt.want) {
				t.Errorf("queenList = %q, want %q", got, tt.want)
			}
		})
	}
}
