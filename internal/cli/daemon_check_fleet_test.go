package cli_test

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDaemonCheckFleetCutoff: --check's one line names the fleet sensor
// and the cutoff, and checking a fleet block connects to nothing: a
// listener standing in for its PostgreSQL is never dialled.
func TestDaemonCheckFleetCutoff(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan struct{}, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close()
			accepted <- struct{}{}
		}
	}()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.yaml")
	writeConfig(t, cfg, fmt.Sprintf(`store: %s
interfaces: [{name: eth0}]
fleet:
  sensor: dc1-uplink
  postgres: "postgres://prd@%s/fleet?connect_timeout=2"
  url: https://sensor1:7474
cutoff:
  default: 1MiB
  rules:
    - filter: "tcp port 443"
      bytes: 20KiB
    - filter: udp
      packets: 5
      keep: none
`, filepath.Join(dir, "store"), ln.Addr()))
	out := mustRun(t, "daemon", "--check", "--config", cfg)
	if strings.Count(out, "\n") != 1 || !strings.Contains(out, ": valid: 1 interfaces (eth0)") {
		t.Fatalf("--check: %q", out)
	}
	for _, want := range []string{"; fleet sensor dc1-uplink", "; cutoff (default 1.0 MiB, keep headers, 2 rules)"} {
		if !strings.Contains(out, want) {
			t.Errorf("--check: %q lacks %q", out, want)
		}
	}
	select {
	case <-accepted:
		t.Error("--check connected to the fleet's PostgreSQL")
	case <-time.After(200 * time.Millisecond):
	}
	// Without the blocks, the line names neither.
	writeConfig(t, cfg, "store: "+filepath.Join(dir, "store")+"\ninterfaces: [{name: eth0}]\n")
	if out := mustRun(t, "daemon", "--check", "--config", cfg); strings.Contains(out, "fleet") || strings.Contains(out, "cutoff") {
		t.Errorf("--check without fleet or cutoff: %q", out)
	}
}
