package hub

import (
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

// TestHubReloadWhileServing: a reload that runs while the hub makes its
// API server (Run, at start) is not lost: the server answers by the rules
// of the configuration in force once both are done. Each round flips
// metrics_public in the file and reloads while a server is made; /metrics
// without a token must answer 200 exactly when the configuration in
// force says metrics_public. Before, a reload that came between the
// server's reading of the configuration and its registration updated no
// server (none was registered yet), and the new one kept the old rules.
func TestHubReloadWhileServing(t *testing.T) {
	h, write := newFileHub(t, "metrics_public: false")
	defer h.Close()
	lost := 0
	const rounds = 300
	for i := range rounds {
		public := i%2 == 0
		write(fmt.Sprintf("metrics_public: %v", public))
		done := make(chan error, 1)
		go func() { done <- h.Reload() }()
		srv := h.Server()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		if got := rec.Code == http.StatusOK; got != h.config().MetricsPublic {
			lost++
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d servers made during a reload answer /metrics by the rules it replaced", lost, rounds)
	}
}

// newFileHub makes a hub of the configuration file hubConfigFile writes
// with first, which it rereads on Reload; write replaces the file.
func newFileHub(t *testing.T, first string) (h *Hub, write func(extra string)) {
	t.Helper()
	path, write := hubConfigFile(t)
	write(first)
	cfg, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h, err = New(Options{Config: cfg, Path: path, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return h, write
}

// hubConfigFile writes a token file for the sensors and returns the path
// of a hub's configuration file and the function that (re)writes it, as
// an editor does (a new file renamed over the old): plain HTTP, one read
// token, and the lines of extra.
func hubConfigFile(t *testing.T) (path string, write func(extra string)) {
	t.Helper()
	dir := t.TempDir()
	token := filepath.Join(dir, "sensors-token")
	if err := os.WriteFile(token, []byte(testSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(dir, "hub.yaml")
	return path, func(extra string) {
		t.Helper()
		text := fmt.Sprintf(`listen: 127.0.0.1:0
postgres: "postgres://nobody@127.0.0.1:1/none?connect_timeout=1"
sensors: {token_file: %s}
tokens: [{name: reader, sha256: %x, scopes: [read]}]
%s
`, token, sha256.Sum256([]byte(testSecret)), extra)
		if err := os.WriteFile(path+".new", []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".new", path); err != nil {
			t.Fatal(err)
		}
	}
}
