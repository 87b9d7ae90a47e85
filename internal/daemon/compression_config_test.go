package daemon

import (
	"strings"
	"testing"

	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

// The compression keys: zstd by default, none or a level when set, and a
// mistake is an error naming the key and its line.
func TestConfigCompression(t *testing.T) {
	for _, c := range []struct {
		yaml string
		want store.Compression
	}{
		{"store: /s\ninterfaces: [{name: eth0}]\n", store.Compression{}},
		{"store: /s\ncompression: zstd\ncompression_level: 3\ninterfaces: [{name: eth0}]\n", store.Compression{Level: 3}},
		{"store: /s\ncompression: none\ninterfaces: [{name: eth0}]\n", store.Compression{None: true}},
		{"store: /s\ncompression: s2\ninterfaces: [{name: eth0}]\n", store.Compression{S2: true}},
	} {
		cfg, err := Parse([]byte(c.yaml))
		if err != nil {
			t.Fatalf("%q: %v", c.yaml, err)
		}
		if got := cfg.BlockCompression(); got != c.want {
			t.Errorf("%q: compression %+v, want %+v", c.yaml, got, c.want)
		}
	}
	for _, c := range []struct{ yaml, want string }{
		{"store: /s\ncompression: lz4\ninterfaces: [{name: eth0}]\n", `line 2: compression: "lz4": use zstd, s2 or none`},
		{"store: /s\ncompression: s2\ncompression_level: 2\ninterfaces: [{name: eth0}]\n", "line 3: compression_level: 2: a level is zstd's; s2 has none"},
		{"store: /s\ncompression_level: 9\ninterfaces: [{name: eth0}]\n", "line 2: compression_level: 9: must be 1 to 4"},
		{"store: /s\ncompression_level: -1\ninterfaces: [{name: eth0}]\n", "line 2: compression_level"},
	} {
		if _, err := Parse([]byte(c.yaml)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want an error containing %q", c.yaml, err, c.want)
		}
	}
}
