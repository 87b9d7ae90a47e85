package hub

import (
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
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

// TestConfigTokensFileAndPublicMetrics: tokens_file's tokens are the
// hub's as the daemon's are (a token of the file is let in, a wrong one
// is not), metrics_public opens /metrics without a token; and with
// PostgreSQL unreachable, what needs it is a 503 naming it.
func TestConfigTokensFileAndPublicMetrics(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "token"), []byte("secret\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "tokens.yaml"), []byte(fmt.Sprintf("- name: fromfile\n  sha256: %x\n  scopes: [read]\n",
		sha256.Sum256([]byte("file-secret")))), 0o600)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := ln.Addr().String()
	ln.Close()
	path := filepath.Join(dir, "hub.yaml")
	os.WriteFile(path, []byte("postgres: \"postgres://u@"+refused+"/db?connect_timeout=2\"\nsensors: {token_file: token}\ntokens_file: tokens.yaml\nmetrics_public: true\n"), 0o600)
	c, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Options{Config: c})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	srv := httptest.NewServer(h.Server())
	defer srv.Close()
	get := func(path, secret string) (int, string) {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		if secret != "" {
			req.Header.Set("Authorization", "Bearer "+secret)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(b)
	}
	if code, body := get("/metrics", ""); code != 200 || !strings.Contains(body, "packetrecorder_hub_postgres_up") {
		t.Errorf("/metrics without a token, metrics_public: %d\n%s", code, body)
	}
	if code, _ := get("/api/v1/flows", "wrong-secret"); code != http.StatusUnauthorized {
		t.Errorf("a wrong token: %d, want 401", code)
	}
	code, body := get("/api/v1/flows", "file-secret")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "postgres unreachable") {
		t.Errorf("flows with tokens_file's token, PostgreSQL refusing: %d %s; want 503 naming PostgreSQL", code, body)
	}
	if code, body := get("/api/v1/packets", "file-secret"); code != http.StatusServiceUnavailable || !strings.Contains(body, "postgres unreachable") {
		t.Errorf("packets before the hub ever listed its sensors, PostgreSQL refusing: %d %s; want 503", code, body)
	}
}
