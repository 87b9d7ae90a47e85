package cli_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/netlab"
	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// startDaemonCmd is startDaemon for a command that wraps the daemon (as
// prlimit does).
func startDaemonCmd(t *testing.T, cmd *exec.Cmd) *daemonProc {
	t.Helper()
	d := &daemonProc{background: startCmd(t, cmd)}
	deadline := time.Now().Add(15 * time.Second)
	for {
		errs := d.stderr.String()
		if m := listenRE.FindStringSubmatch(errs); m != nil && strings.Contains(errs, "msg=ready") {
			d.addr = m[1]
			return d
		}
		if d.cmd.ProcessState != nil || time.Now().After(deadline) {
			t.Fatalf("daemon not ready: %s", errs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// idleConns opens n TCP connections from the loopback address src to
// addr, sends nothing, and returns how many the server keeps open (a
// read that times out) after a second; the rest it closed or reset.
func idleConns(t *testing.T, src, addr string, n int) (open int, conns []net.Conn) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 2 * time.Second}
	for range n {
		c, err := d.Dial("tcp", addr)
		if err != nil {
			continue // reset before the dial returned: refused
		}
		conns = append(conns, c)
	}
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.SetReadDeadline(time.Now().Add(time.Second))
			_, err := c.Read(make([]byte, 1))
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				mu.Lock()
				open++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return open, conns
}

// getJSON decodes the answer to GET path with the token secret.
func getJSON(addr, path, secret string, v any) error {
	req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
	req.Header.Set("Authorization", "Bearer "+secret)
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	return json.Unmarshal(b, v)
}

// apiAnswers asks for the status from 127.0.0.1 with the token.
func apiAnswers(addr, secret string) error {
	req, _ := http.NewRequest("GET", "http://"+addr+"/api/v1/status", nil)
	req.Header.Set("Authorization", "Bearer "+secret)
	c := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

var secretRE = regexp.MustCompile(`(?m)^# (prd_\S+)$`)

// TestFaultDescriptorExhaustion: a recording daemon whose hard limit of
// open files is 512 is flooded with idle TCP connections, from one client
// address and then from eight, while it records 60,000 datagrams into
// 1 MiB segments (each roll-over opens files). The connections beyond
// the per-client limit, then beyond the total that the descriptor budget
// allows, are closed at once; recording loses nothing (sent = stored, no
// drops, no "too many open files"); the API answers a client within its
// limits during the first flood and everyone after. The token comes from
// the tokens file 'token new --append' wrote, as dist/config.yaml says.
func TestFaultDescriptorExhaustion(t *testing.T) {
	testkit.RequireRoot(t, "records an interface")
	testkit.RequireTool(t, "prlimit")
	lab := netlab.New(t, "fdx")
	dir := t.TempDir()
	st := filepath.Join(dir, "store")
	cfg := filepath.Join(dir, "c.yaml")
	out := mustRun(t, "token", "new", "flooded", "--append", filepath.Join(dir, "tokens.yaml"))
	m := secretRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("token new printed no secret:\n%s", out)
	}
	secret := m[1]
	writeConfig(t, cfg, fmt.Sprintf(`store: %s
segment:
  max_bytes: 1MiB
interfaces:
  - name: %s
    filter: "udp dst port 9999"
listen: 127.0.0.1:0
tokens_file: tokens.yaml
limits:
  connections: 4000
  connections_per_client: 50
tokens: []
`, st, lab.HostIf))
	if out := mustRun(t, "daemon", "--check", "--config", cfg); !strings.Contains(out, "tokens 1 (1 from ") {
		t.Fatalf("--check: %s", out)
	}
	// 512 descriptors, one ring: (512 - 64 - 16) / 2 = 216 connections.
	const budget, perClient = 216, 50
	d := startDaemonCmd(t, exec.Command("prlimit", "--nofile=512:512", binPath, "daemon", "--config", cfg))
	if err := apiAnswers(d.addr, secret); err != nil {
		t.Fatalf("the token from the tokens file: %v", err)
	}
	sentCh := make(chan int, 1)
	go func() { sentCh <- flood(t, lab, 9999, 15_000, 4*time.Second) }()
	time.Sleep(300 * time.Millisecond)

	// One client address, 300 connections: 50 stay open.
	open, first := idleConns(t, "127.0.0.2", d.addr, 300)
	if open != perClient {
		t.Errorf("one client holds %d idle connections, want %d (limits.connections_per_client)", open, perClient)
	}
	if err := apiAnswers(d.addr, secret); err != nil {
		t.Errorf("the API does not answer another client during the flood: %v", err)
	}
	// Eight more addresses, 100 each: the total stops at the budget.
	total := open
	var more []net.Conn
	for i := 3; i <= 10; i++ {
		o, c := idleConns(t, fmt.Sprintf("127.0.0.%d", i), d.addr, 100)
		total += o
		more = append(more, c...)
	}
	if total > budget || total < budget-perClient {
		t.Errorf("%d idle connections open in all, want %d (the descriptor budget)", total, budget)
	}
	sent := <-sentCh
	for _, c := range append(first, more...) {
		c.Close()
	}
	time.Sleep(500 * time.Millisecond)
	if err := apiAnswers(d.addr, secret); err != nil {
		t.Errorf("the API does not answer after the flood: %v", err)
	}
	time.Sleep(300 * time.Millisecond) // the last commit
	var s daemonStatus
	if err := getJSON(d.addr, "/api/v1/status", secret, &s); err != nil {
		t.Fatal(err)
	}
	d.stop(t, 3*time.Second)
	if len(s.Interfaces) != 1 || s.Interfaces[0].State != "recording" || s.Interfaces[0].Drops.Kernel != 0 || s.Interfaces[0].Drops.App != 0 {
		t.Errorf("interface after the flood: %+v", s.Interfaces)
	}
	if strings.Contains(d.stderr.String(), "too many open files") {
		t.Errorf("the daemon ran out of descriptors:\n%s", grepLines(d.stderr.String(), "too many open files"))
	}
	if stored := storeCount(t, st); stored != int64(sent) {
		t.Errorf("sent %d datagrams, stored %d", sent, stored)
	}
	if !strings.Contains(d.stderr.String(), "connection refused: over the limit") {
		t.Errorf("no log line about refused connections")
	}
}
