package hub

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigErrors: every mistake of a hub configuration is one line
// naming its key (and line); the daemon's own checks of tls, tokens and
// limits apply.
func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		yaml string
		want []string
	}{
		{"listen: 127.0.0.1:7480\n", []string{"postgres: required", "sensors: give token_file", "tokens: at least one token"}},
		{"postgres: \"postgres://u@h/db\"\nsensors: {cert: /x.pem}\ntokens: [{name: a, sha256: zz, scopes: [read]}]\n",
			[]string{"sensors: cert and key go together", "line 3: tokens.0.sha256"}},
		{"postgres: \"postgres://u@h/db\"\nlisten: 0.0.0.0:7480\nsensors: {token_file: /nonexistent/t}\n" +
			"tokens: [{name: a, sha256: " + strings.Repeat("ab", 32) + ", scopes: [read]}]\nlimits: {connections: -1}\n",
			[]string{"line 2: listen: 0.0.0.0:7480 is not a loopback address", "sensors: token file", "line 5: limits.connections"}},
		{"postgres: \"postgres://u@h/db\"\nsensor: {}\n", []string{"line 2: unknown key sensor"}},
	} {
		path := filepath.Join(dir, "hub.yaml")
		if err := os.WriteFile(path, []byte(tc.yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := LoadFile(path)
		if err == nil {
			t.Fatalf("%q: no error", tc.yaml)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q: error\n%v\nsays nothing of %q", tc.yaml, err, w)
			}
		}
		for _, l := range strings.Split(err.Error(), "\n") {
			if !strings.HasPrefix(l, "config ") && !strings.HasPrefix(l, "line ") && !strings.Contains(l, ": ") {
				t.Errorf("line %q names no key", l)
			}
		}
	}
	good := "postgres: \"postgres://u@h/db\"\nsensors: {token_file: token}\ntokens: [{name: a, sha256: " + strings.Repeat("ab", 32) + ", scopes: [read]}]\n"
	os.WriteFile(filepath.Join(dir, "token"), []byte("secret\n"), 0o600)
	path := filepath.Join(dir, "hub.yaml")
	os.WriteFile(path, []byte(good), 0o600)
	c, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if *c.Listen != DefaultListen || c.Sensors.TokenFile != filepath.Join(dir, "token") {
		t.Fatalf("listen %q, token_file %q: want the default and the path from the file's directory", *c.Listen, c.Sensors.TokenFile)
	}
}
