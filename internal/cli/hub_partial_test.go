package cli_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/packetrecorderd/packetrecorderd/internal/api"
	"github.com/packetrecorderd/packetrecorderd/internal/fleet"
	"github.com/packetrecorderd/packetrecorderd/internal/pcapio"
	"github.com/packetrecorderd/packetrecorderd/internal/selection"
	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// hubUDPFrame is an Ethernet frame of an IPv4 UDP datagram from 10.1.0.1
// to 10.1.0.2, ports sport and 53, with n payload bytes.
func hubUDPFrame(sport uint16, n int) []byte {
	b := make([]byte, 14+20+8+n)
	b[0], b[6] = 0x02, 0x02
	binary.BigEndian.PutUint16(b[12:], 0x0800)
	ip := b[14:]
	ip[0], ip[8], ip[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+n))
	copy(ip[12:], []byte{10, 1, 0, 1})
	copy(ip[16:], []byte{10, 1, 0, 2})
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
	udp := ip[20:]
	binary.BigEndian.PutUint16(udp[0:], sport)
	binary.BigEndian.PutUint16(udp[2:], 53)
	binary.BigEndian.PutUint16(udp[4:], uint16(8+n))
	return b
}

// fileSensor serves a capture file through the real API, as a sensor's
// store: what a hub asks.
type fileSensor struct{ path string }

func (f fileSensor) Select(ctx context.Context, spec selection.Spec) (*selection.Selection, error) {
	spec.File, spec.Interface = f.path, ""
	return selection.Open(ctx, spec)
}
func (fileSensor) Recordings() ([]selection.Recording, error) {
	return []selection.Recording{{ID: 1, Interface: "eth0", Packets: 5}}, nil
}

// TestFaultHubPartialCommands: a hub process over a real PostgreSQL
// with two registered sensors, "up" (answers, caught up) and "down"
// (refuses connections, never marked what it shipped). Every command
// that takes --server says on stderr which sensor is missing from the
// hub's answer and exits 3, or 0 with --partial-ok: sessions, replay
// --display-only, flows (down's flow records are not known shipped),
// status. Then PostgreSQL stops: flows is a 503 naming PostgreSQL;
// packets still come, asked of every sensor the hub listed last (down
// named); a hub started while PostgreSQL is down answers 503.
func TestFaultHubPartialCommands(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	capPath := filepath.Join(dir, "up.pcapng")
	f, err := os.Create(capPath)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pcapio.NewPcapngWriter(f, pcapio.PcapngConfig{})
	if err != nil {
		t.Fatal(err)
	}
	w.AddInterface(pcapio.Interface{LinkType: 1, Snaplen: 65535, Name: "eth0", TsResol: 9, FCSLen: -1})
	const nPackets = 5
	for i := range nPackets {
		d := hubUDPFrame(uint16(4000+i), 10)
		if err := w.WritePacket(pcapio.Packet{Timestamp: t0.Add(time.Duration(i) * time.Millisecond).UnixNano(), OrigLen: len(d), LinkType: 1, Data: d}); err != nil {
			t.Fatal(err)
		}
	}
	w.Flush()
	f.Close()
	if got := len(tcpdumpLines(t, capPath)); got != nPackets {
		t.Fatalf("tcpdump reads %d packets of the test capture, want %d", got, nPackets)
	}
	access := api.Access{Tokens: []api.Token{{Name: "hub", SHA256: sha256.Sum256([]byte(hubReadSecret)), Scopes: []string{api.ScopeRead}}}}
	up := httptest.NewServer(api.New(api.Options{Selector: fileSensor{capPath}, Status: func() any { return map[string]string{"version": "test"} }}, access))
	defer up.Close()
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close() // refuses connections

	pg := testkit.StartPostgresCluster(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	if err := fleet.ApplySchema(ctx, conn); err != nil {
		t.Fatal(err)
	}
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO prd_sensors (sensor, url, interfaces, flows_through_ns) VALUES ('up', $1, '{eth0}', $2), ('down', $3, '{eth0}', NULL)`,
			[]any{up.URL, time.Now().Add(time.Hour).UnixNano(), down.URL}},
		{`INSERT INTO prd_segments (sensor, interface, segment, first_ns, last_ns, packets, bytes, closed)
			VALUES ('up', 'eth0', 'a', $1, $2, 5, 260, true), ('down', 'eth0', 'a', $1, $2, 5, 260, true)`,
			[]any{t0.UnixNano(), t0.Add(time.Second).UnixNano()}},
	} {
		if _, err := conn.Exec(ctx, q.sql, q.args...); err != nil {
			t.Fatal(err)
		}
	}
	conn.Close(ctx)

	hubToken := filepath.Join(dir, "hub-token")
	userToken := filepath.Join(dir, "user-token")
	os.WriteFile(hubToken, []byte(hubReadSecret+"\n"), 0o600)
	os.WriteFile(userToken, []byte(hubUserSecret+"\n"), 0o600)
	startHub := func(name string) string {
		port := freePort(t)
		cfg := filepath.Join(dir, name+".yaml")
		writeConfig(t, cfg, fmt.Sprintf("listen: 127.0.0.1:%d\npostgres: %q\nsensors:\n  token_file: %s\ntokens:\n%s",
			port, pg.DSN, hubToken, tokenLine("user", hubUserSecret, "read", "")))
		h := start(t, "hub", "--config", cfg)
		h.waitLine(t, "hub listening", 15*time.Second)
		return fmt.Sprintf("http://127.0.0.1:%d", port)
	}
	hubURL := startHub("hub")
	args := func(cmd ...string) []string { return append(cmd, "--server", hubURL, "--token-file", userToken) }
	partial := func(what string, r result) {
		t.Helper()
		if r.code != 3 || strings.Count(r.stderr, "sensor down did not answer") != 1 || strings.Contains(r.stderr, "sensor up ") {
			t.Errorf("%s: exit %d, stderr %q; want 3 and one line naming down", what, r.code, r.stderr)
		}
	}
	whole := func(what string, r result) {
		t.Helper()
		if r.code != 0 || !strings.Contains(r.stderr, "sensor down did not answer") {
			t.Errorf("%s --partial-ok: exit %d, stderr %q; want 0, down still named", what, r.code, r.stderr)
		}
	}

	r := run(t, args("sessions")...)
	partial("sessions", r)
	if !strings.Contains(r.stdout, "up/eth0") {
		t.Errorf("sessions: up's recording not listed:\n%s", r.stdout)
	}
	whole("sessions", run(t, args("sessions", "--partial-ok")...))

	r = run(t, args("replay", "--display-only", "--speed", "0")...)
	partial("replay --display-only", r)
	if n := strings.Count(r.stdout, "10.1.0.1."); n != nPackets {
		t.Errorf("replay --display-only: %d of up's packets shown, want %d:\n%s", n, nPackets, r.stdout)
	}
	whole("replay --display-only", run(t, args("replay", "--display-only", "--speed", "0", "--partial-ok")...))

	r = run(t, args("flows")...)
	partial("flows", r)
	if !strings.Contains(r.stderr, "not known to be shipped") {
		t.Errorf("flows: stderr %q does not say why down is missing", r.stderr)
	}
	whole("flows", run(t, args("flows", "--partial-ok")...))

	r = run(t, args("status")...)
	partial("status", r)
	if !strings.Contains(r.stdout, "PostgreSQL ok") {
		t.Errorf("status:\n%s", r.stdout)
	}
	whole("status", run(t, args("status", "--partial-ok")...))

	// PostgreSQL down at the hub.
	pg.Stop()
	r = run(t, args("flows")...)
	if r.code == 0 || r.code == 3 || !strings.Contains(r.stderr, "postgres unreachable") || !strings.Contains(r.stderr, "503") ||
		strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Errorf("flows with PostgreSQL down: exit %d, stderr %q; want one line naming PostgreSQL, 503", r.code, r.stderr)
	}
	r = run(t, args("query", "--count", "-c", "0")...)
	partial("query --count with PostgreSQL down", r)
	if strings.TrimSpace(r.stdout) != fmt.Sprint(nPackets) {
		t.Errorf("query --count with PostgreSQL down: %q, want up's %d", r.stdout, nPackets)
	}
	// A hub that never listed the sensors cannot know whom to ask.
	hubURL = startHub("hub2")
	r = run(t, args("query", "--count", "-c", "0")...)
	if r.code == 0 || r.code == 3 || !strings.Contains(r.stderr, "postgres unreachable") || !strings.Contains(r.stderr, "503") {
		t.Errorf("a hub started with PostgreSQL down: exit %d, stderr %q; want a 503 naming PostgreSQL", r.code, r.stderr)
	}
}
