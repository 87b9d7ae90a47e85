package cli_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/packetrecorderd/packetrecorderd/internal/fleet"
	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// TestFaultHubReload: a hub process over a real PostgreSQL, its users'
// tokens in tokens_file. A token added to the file is refused until
// SIGHUP and works after it; one removed works until SIGHUP and gets a
// 401 after. A broken tokens file, and then a broken configuration, are
// refused with one log line naming the error: the hub keeps running
// with the tokens it had. A new listen address is refused with a
// warning and the old one kept, while the rest of the file (a token
// removed from tokens:) is applied. Before, the hub did not catch
// SIGHUP, and the signal killed it.
func TestFaultHubReload(t *testing.T) {
	dir := t.TempDir()
	pg := testkit.StartPostgresCluster(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	if err := fleet.ApplySchema(ctx, conn); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)

	const alice, bob, carol = "alice-secret-reload", "bob-secret-reload", "carol-secret-reload"
	hubToken := filepath.Join(dir, "hub-token")
	if err := os.WriteFile(hubToken, []byte(hubReadSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tokensFile := filepath.Join(dir, "tokens.yaml")
	writeTokens := func(text string) {
		t.Helper()
		tmp := tokensFile + ".new"
		if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, tokensFile); err != nil {
			t.Fatal(err)
		}
	}
	writeTokens(tokenLine("alice", alice, "read", ""))
	port := freePort(t)
	hubURL := fmt.Sprintf("http://127.0.0.1:%d", port)
	cfgPath := filepath.Join(dir, "hub.yaml")
	hubConfig := func(listen int, tokens string) string {
		return fmt.Sprintf("listen: 127.0.0.1:%d\npostgres: %q\nsensors:\n  token_file: %s\ntokens_file: %s\ntokens:\n%s",
			listen, pg.DSN, hubToken, tokensFile, tokens)
	}
	writeConfigAtomic(t, cfgPath, hubConfig(port, tokenLine("carol", carol, "read", "")))
	h := start(t, "hub", "--config", cfgPath)
	h.waitLine(t, "hub listening", 15*time.Second)

	client := &http.Client{Timeout: 10 * time.Second}
	status := func(secret string) int {
		t.Helper()
		resp := request(t, "GET", hubURL+"/api/v1/sessions", secret, nil, client)
		resp.Body.Close()
		return resp.StatusCode
	}
	want := func(when string, codes map[string]int) {
		t.Helper()
		for name, secret := range map[string]string{"alice": alice, "bob": bob, "carol": carol} {
			if got := status(secret); got != codes[name] {
				t.Errorf("%s: %s's token: %d, want %d", when, name, got, codes[name])
			}
		}
	}
	hup := func() {
		t.Helper()
		if err := h.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	want("at the start", map[string]int{"alice": 200, "bob": 401, "carol": 200})

	// bob replaces alice in the file: nothing changes until SIGHUP.
	writeTokens(tokenLine("bob", bob, "read", ""))
	want("the file changed, before SIGHUP", map[string]int{"alice": 200, "bob": 401, "carol": 200})
	hup()
	line := h.waitLine(t, "hub: reloaded", 15*time.Second)
	if !strings.Contains(line, "tokens=2") {
		t.Errorf("reload line %q: want the two tokens in force counted", line)
	}
	want("after SIGHUP", map[string]int{"alice": 401, "bob": 200, "carol": 200})

	// A broken tokens file: refused, one line naming it; bob still in.
	writeTokens("- name: dave\n  sha256: not-hex\n  scopes: [read]\n")
	hup()
	line = h.waitLine(t, "reload refused", 15*time.Second)
	if !strings.Contains(line, "tokens_file") || !strings.Contains(line, "level=ERROR") {
		t.Errorf("refusal line %q: want an error naming tokens_file", line)
	}
	want("after a broken tokens file", map[string]int{"alice": 401, "bob": 200, "carol": 200})

	// A configuration that does not parse: the same.
	writeTokens(tokenLine("bob", bob, "read", ""))
	writeConfigAtomic(t, cfgPath, hubConfig(port, tokenLine("carol", carol, "read", ""))+"no_such_key: 1\n")
	hup()
	line = h.waitLine(t, "reload refused", 15*time.Second)
	if !strings.Contains(line, "no_such_key") {
		t.Errorf("refusal line %q: want the unknown key named", line)
	}
	want("after a broken configuration", map[string]int{"alice": 401, "bob": 200, "carol": 200})

	// A new address (kept, with a warning) and carol gone from tokens:
	// (applied).
	other := freePort(t)
	writeConfigAtomic(t, cfgPath, hubConfig(other, tokenLine("erin", "erin-secret-reload", "read", "")))
	hup()
	line = h.waitLine(t, "needs a restart", 15*time.Second)
	if !strings.Contains(line, "listen") || !strings.Contains(line, fmt.Sprint(port)) {
		t.Errorf("warning %q: want listen named and the running address", line)
	}
	h.waitLine(t, "hub: reloaded", 15*time.Second)
	want("after a new listen address", map[string]int{"alice": 401, "bob": 200, "carol": 401})
	if resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", other)); err == nil {
		resp.Body.Close()
		t.Errorf("the hub answers on the new address %d: a reload cannot move it", other)
	}
	select {
	case err := <-h.done:
		h.done <- err
		t.Fatalf("the hub exited (%v): %s", err, h.stderr)
	default:
	}
	if t.Failed() {
		t.Logf("hub log:\n%s", h.stderr)
	}
}
