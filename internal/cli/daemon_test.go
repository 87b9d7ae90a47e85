package cli_test

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/netlab"
	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// daemonStatus is what the tests read of GET /api/v1/status.
type daemonStatus struct {
	Interfaces []struct {
		Name, State    string
		Packets, Bytes int64
		Received       int64
		Drops          struct{ Kernel, App, Reload int64 }
		Error          string
	} `json:"interfaces"`
	Store struct {
		Bytes        int64      `json:"file_bytes"` // what the store's files take on disk
		FreeBytes    int64      `json:"free_bytes"`
		Segments     int64      `json:"segments"`
		OldestPacket *time.Time `json:"oldest_packet"`
	} `json:"store"`
	Retention struct {
		Blocked         bool
		Paused          bool  `json:"recording_paused"`
		DeletedPackets  int64 `json:"deleted_packets"`
		DeletedSegments int64 `json:"deleted_segments"`
	} `json:"retention"`
}

type daemonProc struct {
	*background
	addr string
}

var listenRE = regexp.MustCompile(`msg=listening addr=(\S+)`)

// startDaemon starts the daemon on a config and waits until it is ready.
func startDaemon(t *testing.T, config string, env ...string) *daemonProc {
	t.Helper()
	cmd := exec.Command(binPath, "daemon", "--config", config)
	cmd.Env = append(os.Environ(), env...)
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

func (d *daemonProc) get(t *testing.T, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+d.addr+path, nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (d *daemonProc) status(t *testing.T) daemonStatus {
	t.Helper()
	code, body := d.get(t, "/api/v1/status")
	var st daemonStatus
	if code != 200 || json.Unmarshal([]byte(body), &st) != nil {
		t.Fatalf("status: %d %s", code, body)
	}
	return st
}

// stop sends SIGTERM and requires a clean exit within limit.
func (d *daemonProc) stop(t *testing.T, limit time.Duration) time.Duration {
	t.Helper()
	t0 := time.Now()
	d.cmd.Process.Signal(syscall.SIGTERM)
	if code := d.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("daemon exit %d: %s", code, d.stderr)
	}
	took := time.Since(t0)
	if took > limit {
		t.Errorf("SIGTERM took %v, want under %v", took, limit)
	}
	return took
}

// testToken is the secret of the token writeConfig gives every daemon
// configuration that names none, with every scope.
const testToken = "prd-test-token-0123456789"

func testTokenStanza() string {
	sum := sha256.Sum256([]byte(testToken))
	return fmt.Sprintf("tokens:\n  - name: tests\n    sha256: %x\n    scopes: [read, admin, metrics]\n", sum)
}

// startStoreDaemon starts a daemon recording into a store in a new
// temporary directory dir: config is its configuration, a fmt format
// whose first verb is the store's path (dir/store) and args the rest,
// written to dir/c.yaml by writeConfig. It returns the daemon, dir and
// the store's path.
func startStoreDaemon(t *testing.T, config string, args ...any) (d *daemonProc, dir, st string) {
	t.Helper()
	dir = t.TempDir()
	st = filepath.Join(dir, "store")
	cfg := filepath.Join(dir, "c.yaml")
	writeConfig(t, cfg, fmt.Sprintf(config, append([]any{st}, args...)...))
	return startDaemon(t, cfg), dir, st
}

func writeConfig(t *testing.T, path, text string) {
	t.Helper()
	if strings.Contains(text, "interfaces:") && !strings.Contains(text, "tokens:") {
		if !strings.HasSuffix(text, "\n") {
			text += "\n"
		}
		text += testTokenStanza()
	}
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

func storeCount(t *testing.T, dir string, args ...string) int64 {
	t.Helper()
	var n int64
	fmt.Sscan(mustRun(t, append([]string{"query", "-d", dir, "--count"}, args...)...), &n)
	return n
}

// TestDaemonRecordsTwoInterfaces: two interfaces (one with two fanout
// rings) at a steady rate with retention cycling: every packet the kernel
// accepted is stored or deleted by retention, none dropped; the store
// stays within its cap plus one segment per ring; SIGTERM drains and
// exits promptly; the CLI reads the store ordered by time.
func TestDaemonRecordsTwoInterfaces(t *testing.T) {
	a, b := netlab.New(t, "dma"), netlab.New(t, "dmb")
	// Uncompressed: the flood's zero payloads would compress to nothing,
	// and this test is of retention's budget.
	d, _, st := startStoreDaemon(t, `store: %s
compression: none
segment:
  max_bytes: 1MiB
retention:
  max_bytes: 10MiB
interfaces:
  - name: %s
    filter: "udp dst port 9999"
  - name: %s
    filter: "udp dst port 9999"
    fanout: 2
listen: 127.0.0.1:0
`, a.HostIf, b.HostIf)
	if fi, err := os.Stat(st); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("store directory: %v %v", fi, err)
	}
	done := make(chan int, 2)
	for _, lab := range []*netlab.Lab{a, b} {
		go func() { done <- flood(t, lab, 9999, 15_000, 3*time.Second) }()
	}
	// 14 MB of packets (2 x 45,000 frames of 158 bytes stored) against a
	// 10 MiB cap: retention deletes, and still keeps segments of both
	// interfaces (it keeps 400 ms of writing, 1.9 MB at this rate, in
	// hand under the cap, and each ring's open segment is in the cap).
	const capBytes, segBytes, rings = 10 << 20, 1 << 20, 3
	maxSeen := int64(0)
	for i := 0; i < 2; {
		select {
		case <-done:
			i++
		case <-time.After(200 * time.Millisecond):
			maxSeen = max(maxSeen, d.status(t).Store.Bytes)
		}
	}
	time.Sleep(time.Second) // everything committed; retention settles
	s := d.status(t)
	maxSeen = max(maxSeen, s.Store.Bytes)
	// A segment closes at the commit that reaches its size: allow a
	// commit's worth (100 ms at this rate) on top.
	if limit := int64(capBytes + rings*(segBytes+segBytes/2)); maxSeen > limit {
		t.Errorf("store reached %d bytes, over the cap plus a segment per ring (%d)", maxSeen, limit)
	}
	if s.Retention.DeletedSegments == 0 {
		t.Errorf("retention never deleted a segment: %+v", s)
	}
	var captured int64
	for _, it := range s.Interfaces {
		if it.State != "recording" || it.Drops.Kernel != 0 || it.Drops.App != 0 || it.Packets < 40_000 {
			t.Errorf("interface %+v", it)
		}
		captured += it.Packets
	}
	d.stop(t, 2*time.Second)
	stored := storeCount(t, st)
	if captured != stored+s.Retention.DeletedPackets {
		t.Errorf("captured %d, stored %d + deleted by retention %d = %d", captured, stored, s.Retention.DeletedPackets, stored+s.Retention.DeletedPackets)
	}
	// Both interfaces, merged by time; each interface's own packets too.
	for _, args := range [][]string{{}, {"--interface", b.HostIf}} {
		pkts := queryJSON(t, append([]string{"-d", st, "-l", "0"}, args...)...)
		var last time.Time
		for i, p := range pkts {
			ts, _ := time.Parse(time.RFC3339Nano, p.TS)
			if ts.Before(last) {
				t.Fatalf("%v: packet %d at %v comes after %v", args, i, ts, last)
			}
			last = ts
		}
		if int64(len(pkts)) != storeCount(t, st, args...) {
			t.Errorf("%v: query returned %d packets, --count says otherwise", args, len(pkts))
		}
	}
	// A row per ring that recorded (one UDP flow hashes to one of b's two
	// rings), each numbering its packets on across segments.
	out := mustRun(t, "sessions", "-d", st)
	if !strings.Contains(out, a.HostIf) || !strings.Contains(out, b.HostIf) || strings.Count(out, "\n") > 1+3 {
		t.Errorf("sessions of the store:\n%s", out)
	}
}

// TestDaemonKillAndRestart: after kill -9 the store is intact, the
// interrupted segment is closed with what it holds (the last ~150 ms may
// be missing), and recording resumes into the same store.
func TestDaemonKillAndRestart(t *testing.T) {
	lab := netlab.New(t, "dmk")
	dir := t.TempDir()
	st := filepath.Join(dir, "store")
	cfg := filepath.Join(dir, "c.yaml")
	writeConfig(t, cfg, fmt.Sprintf("store: %s\nsegment:\n  max_bytes: 2MiB\ninterfaces:\n  - name: %s\n    filter: udp dst port 9999\nlisten: 127.0.0.1:0\n", st, lab.HostIf))
	d := startDaemon(t, cfg)
	go flood(t, lab, 9999, 20_000, 2*time.Second)
	time.Sleep(time.Second)
	killedAt := time.Now()
	d.cmd.Process.Kill()
	d.wait(t, 5*time.Second)
	time.Sleep(1200 * time.Millisecond)

	d = startDaemon(t, cfg)
	flood(t, lab, 9999, 5_000, 500*time.Millisecond)
	time.Sleep(300 * time.Millisecond)
	d.stop(t, 2*time.Second)
	var recs []struct {
		Packets  int64   `json:"packets"`
		Status   string  `json:"status"`
		NewestAt *string `json:"newest_packet"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, "sessions", "-d", st, "--json")), &recs); err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].Packets < 5000 || recs[1].Packets < 2400 || recs[0].Status != "interrupted" || recs[1].Status != "complete" {
		t.Fatalf("recordings after kill -9 and restart: %+v", recs)
	}
	newest, _ := time.Parse(time.RFC3339Nano, *recs[0].NewestAt)
	if lag := killedAt.Sub(newest); lag > 400*time.Millisecond {
		t.Errorf("the killed recording's last packet is %v before the kill", lag)
	}
	segs, _ := filepath.Glob(filepath.Join(st, "segments", lab.HostIf, "*.db"))
	for _, f := range segs {
		checkIntegrity(t, f)
	}
	if storeCount(t, st) != recs[0].Packets+recs[1].Packets {
		t.Errorf("query counts differ from the recordings")
	}
}

// notifyListener receives systemd notify messages.
func notifyListener(t *testing.T) (string, <-chan string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch := make(chan string, 100)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			for _, l := range strings.Split(strings.TrimSpace(string(buf[:n])), "\n") {
				ch <- l
			}
		}
	}()
	return path, ch
}

func expectNotify(t *testing.T, ch <-chan string, want string, within time.Duration) {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case m := <-ch:
			if m == want {
				return
			}
		case <-deadline:
			t.Fatalf("no %s from the daemon within %v", want, within)
		}
	}
}

// TestDaemonReloadAndNotify: the notify protocol (READY, WATCHDOG,
// RELOADING, STOPPING); SIGHUP adds an interface without touching the
// one that did not change; a bad configuration is refused, counted, and
// the old one keeps running.
func TestDaemonReloadAndNotify(t *testing.T) {
	a, b := netlab.New(t, "dmr"), netlab.New(t, "dms")
	dir := t.TempDir()
	st := filepath.Join(dir, "store")
	cfg := filepath.Join(dir, "c.yaml")
	base := fmt.Sprintf("store: %s\nlisten: 127.0.0.1:0\ninterfaces:\n  - name: %s\n    filter: udp dst port 9999\n", st, a.HostIf)
	writeConfig(t, cfg, base)
	sock, msgs := notifyListener(t)
	d := startDaemon(t, cfg, "NOTIFY_SOCKET="+sock, "WATCHDOG_USEC=400000")
	expectNotify(t, msgs, "READY=1", 5*time.Second)
	expectNotify(t, msgs, "WATCHDOG=1", 2*time.Second) // an idle link still pings
	go flood(t, a, 9999, 5_000, 3*time.Second)
	time.Sleep(500 * time.Millisecond)

	writeConfig(t, cfg, base+fmt.Sprintf("  - name: %s\n", b.HostIf))
	d.cmd.Process.Signal(syscall.SIGHUP)
	expectNotify(t, msgs, "RELOADING=1", 5*time.Second)
	expectNotify(t, msgs, "READY=1", 5*time.Second)
	time.Sleep(300 * time.Millisecond)
	s := d.status(t)
	if len(s.Interfaces) != 2 || s.Interfaces[0].State != "recording" || s.Interfaces[1].State != "recording" {
		t.Fatalf("after adding an interface: %+v", s.Interfaces)
	}
	writeConfig(t, cfg, base+"  - name: "+b.HostIf+"\n    snaplen: banana\n")
	d.cmd.Process.Signal(syscall.SIGHUP)
	expectNotify(t, msgs, "READY=1", 5*time.Second)
	time.Sleep(200 * time.Millisecond)
	if _, m := d.get(t, "/metrics"); !strings.Contains(m, `packetrecorder_config_reloads_total{result="failure"} 1`) ||
		!strings.Contains(m, `packetrecorder_config_reloads_total{result="success"} 1`) {
		t.Errorf("reload counters: %s", grepLines(m, "reloads"))
	}
	if s := d.status(t); len(s.Interfaces) != 2 {
		t.Errorf("a refused configuration changed the interfaces: %+v", s.Interfaces)
	}
	if !strings.Contains(d.stderr.String(), "reload refused") {
		t.Errorf("no log line for the refused reload")
	}
	time.Sleep(2 * time.Second)
	d.stop(t, 2*time.Second)
	expectNotify(t, msgs, "STOPPING=1", time.Second)
	// The interface that did not change kept recording: one recording,
	// no gap across the reloads.
	var recs []struct {
		Interface string `json:"interface"`
	}
	json.Unmarshal([]byte(mustRun(t, "sessions", "-d", st, "--json")), &recs)
	n := 0
	for _, r := range recs {
		if r.Interface == a.HostIf {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%s has %d recordings after two reloads, want 1 (unchanged interfaces keep their rings)", a.HostIf, n)
	}
}

func grepLines(text, substr string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestDaemonInterfaceComesAndGoes: an interface missing at start is
// retried until it appears; one that goes down comes back; the state is
// in status and metrics.
func TestDaemonInterfaceComesAndGoes(t *testing.T) {
	lab := netlab.New(t, "dmc")
	dir := t.TempDir()
	st := filepath.Join(dir, "store")
	cfg := filepath.Join(dir, "c.yaml")
	late := fmt.Sprintf("prdl%d", os.Getpid()%100000)
	writeConfig(t, cfg, fmt.Sprintf("store: %s\nlisten: 127.0.0.1:0\ninterfaces:\n  - name: %s\n  - name: %s\n", st, lab.HostIf, late))
	d := startDaemon(t, cfg)
	waitState := func(iface, want string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			for _, it := range d.status(t).Interfaces {
				if it.Name == iface && it.State == want {
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never %s: %+v", iface, want, d.status(t).Interfaces)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitState(lab.HostIf, "recording")
	waitState(late, "missing")
	if _, m := d.get(t, "/metrics"); !strings.Contains(m, fmt.Sprintf(`packetrecorder_interface_up{interface="%s",state="missing"} 0`, late)) {
		t.Errorf("metrics: %s", grepLines(m, "interface_up"))
	}
	netlab.Run(t, "ip", "link", "add", late, "type", "veth", "peer", "name", late+"p")
	t.Cleanup(func() { exec.Command("ip", "link", "delete", late).Run() })
	netlab.Run(t, "ip", "link", "set", late, "up")
	netlab.Run(t, "ip", "link", "set", late+"p", "up")
	waitState(late, "recording")
	netlab.Run(t, "ip", "link", "set", lab.HostIf, "down")
	waitState(lab.HostIf, "down")
	netlab.Run(t, "ip", "link", "set", lab.HostIf, "up")
	waitState(lab.HostIf, "recording")
	netlab.Run(t, "ip", "link", "delete", late)
	waitState(late, "missing")
	d.stop(t, 2*time.Second)
}

// TestDaemonMetricsThroughPrometheus: a real Prometheus scrapes the
// daemon; its query API returns the daemon's own counts; promtool finds
// nothing to complain about.
func TestDaemonMetricsThroughPrometheus(t *testing.T) {
	testkit.RequireTool(t, "prometheus")
	testkit.RequireTool(t, "promtool")
	lab := netlab.New(t, "dmp")
	dir := t.TempDir()
	st := filepath.Join(dir, "store")
	cfg := filepath.Join(dir, "c.yaml")
	writeConfig(t, cfg, fmt.Sprintf("store: %s\nlisten: 127.0.0.1:0\ninterfaces:\n  - name: %s\n    filter: udp dst port 9999\n", st, lab.HostIf))
	d := startDaemon(t, cfg)
	sent := flood(t, lab, 9999, 5_000, time.Second)
	time.Sleep(500 * time.Millisecond)
	_, metrics := d.get(t, "/metrics")
	check := exec.Command("promtool", "check", "metrics")
	check.Stdin = strings.NewReader(metrics)
	if out, err := check.CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) != 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
	for _, name := range []string{"packetrecorder_packets_captured_total", "packetrecorder_bytes_captured_total", "packetrecorder_packets_dropped_total",
		"packetrecorder_store_bytes", "packetrecorder_store_oldest_packet_timestamp_seconds", "packetrecorder_retention_deleted_bytes_total",
		"packetrecorder_retention_deleted_packets_total", "packetrecorder_build_info"} {
		if !strings.Contains(metrics, "\n"+name) {
			t.Errorf("metric %s missing", name)
		}
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	promAddr := ln.Addr().String()
	ln.Close()
	pcfg := filepath.Join(dir, "prometheus.yml")
	writeConfig(t, pcfg, fmt.Sprintf("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: packetrecorder\n    authorization:\n      credentials: %s\n    static_configs:\n      - targets: ['%s']\n", testToken, d.addr))
	prom := exec.Command("prometheus", "--config.file="+pcfg, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+promAddr)
	prom.Stdout, prom.Stderr = io.Discard, io.Discard
	if err := prom.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { prom.Process.Kill(); prom.Wait() })
	want := d.status(t).Interfaces[0].Packets
	if want < int64(sent)*99/100 {
		t.Fatalf("status says %d packets of %d sent", want, sent)
	}
	q := fmt.Sprintf("http://%s/api/v1/query?query=packetrecorder_packets_captured_total{interface=%%22%s%%22}", promAddr, lab.HostIf)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(q)
		if err == nil {
			var r struct {
				Data struct {
					Result []struct {
						Value []any `json:"value"`
					} `json:"result"`
				} `json:"data"`
			}
			json.NewDecoder(resp.Body).Decode(&r)
			resp.Body.Close()
			if len(r.Data.Result) == 1 && len(r.Data.Result[0].Value) == 2 {
				if got := r.Data.Result[0].Value[1]; got != fmt.Sprint(want) {
					t.Errorf("Prometheus has %v packets captured, the daemon %d", got, want)
				}
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus never scraped the daemon")
		}
		time.Sleep(300 * time.Millisecond)
	}
	d.stop(t, 2*time.Second)
}

// TestDaemonRetention: max_age deletes what is too old; a hold keeps its
// window; when holds leave no room and when_held is stop, recording
// pauses, loudly, and resumes when the hold is released.
func TestDaemonRetention(t *testing.T) {
	lab := netlab.New(t, "dmt")
	dir := t.TempDir()
	st := filepath.Join(dir, "store")
	cfg := filepath.Join(dir, "c.yaml")
	writeConfig(t, cfg, fmt.Sprintf("store: %s\nsegment:\n  max_age: 1s\nretention:\n  max_age: 3s\nlisten: 127.0.0.1:0\ninterfaces:\n  - name: %s\n    filter: udp dst port 9999\n", st, lab.HostIf))
	d := startDaemon(t, cfg)
	t0 := time.Now()
	go flood(t, lab, 9999, 2_000, 7*time.Second)
	time.Sleep(1500 * time.Millisecond)
	// Hold the first half second of traffic.
	holdSince, holdUntil := t0.Add(-time.Second).UTC().Format(time.RFC3339Nano), t0.Add(500*time.Millisecond).UTC().Format(time.RFC3339Nano)
	out := mustRun(t, "hold", "-d", st, "--since", holdSince, "--until", holdUntil, "--reason", "case 4711")
	if !strings.HasPrefix(out, "hold 1: ") {
		t.Fatalf("hold: %q", out)
	}
	time.Sleep(6500 * time.Millisecond)
	s := d.status(t)
	if s.Retention.DeletedSegments == 0 {
		t.Fatalf("max_age deleted nothing: %+v", s.Retention)
	}
	// The held window is still there; what follows it, older than 3 s, is not.
	if n := storeCount(t, st, "--since", holdSince, "--until", holdUntil); n == 0 {
		t.Errorf("the held window lost its packets")
	}
	old := t0.Add(2 * time.Second).UTC().Format(time.RFC3339Nano)
	mid := t0.Add(3 * time.Second).UTC().Format(time.RFC3339Nano)
	if n := storeCount(t, st, "--since", old, "--until", mid); n != 0 {
		t.Errorf("%d packets older than max_age kept", n)
	}
	if !strings.Contains(d.stderr.String(), "retention deleted segments") || !strings.Contains(d.stderr.String(), "reason=max_age") {
		t.Errorf("no log line for retention")
	}
	d.stop(t, 2*time.Second)

	// Holds that leave no room, when_held: stop: recording pauses.
	writeConfig(t, cfg, fmt.Sprintf("store: %s\nretention:\n  min_free: 99%%\n  when_held: stop\nlisten: 127.0.0.1:0\ninterfaces:\n  - name: %s\n", st, lab.HostIf))
	mustRun(t, "hold", "-d", st, "--since", "2000-01-01T00:00:00Z", "--until", "2200-01-01T00:00:00Z", "--reason", "everything")
	d = startDaemon(t, cfg)
	deadline := time.Now().Add(5 * time.Second)
	for s = d.status(t); !s.Retention.Paused; s = d.status(t) {
		if time.Now().After(deadline) {
			t.Fatalf("not paused: %+v", s)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code, _ := d.get(t, "/healthz"); code != http.StatusServiceUnavailable {
		t.Errorf("/healthz while paused: %d", code)
	}
	if _, m := d.get(t, "/metrics"); !strings.Contains(m, "packetrecorder_retention_blocked 1") {
		t.Errorf("metrics: %s", grepLines(m, "blocked"))
	}
	if s.Interfaces[0].State != "paused" || !strings.Contains(d.stderr.String(), "holds leave no room") {
		t.Errorf("state %q; log %s", s.Interfaces[0].State, d.stderr)
	}
	d.stop(t, 2*time.Second)
}

// TestDaemonCheck: --check validates and exits; a bad file names the line.
func TestDaemonCheck(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.yaml")
	writeConfig(t, cfg, "store: /tmp/x\ninterfaces:\n  - name: eth0\n    fanout: 2\n")
	if out := mustRun(t, "daemon", "--check", "--config", cfg); !strings.Contains(out, "valid") {
		t.Errorf("--check: %q", out)
	}
	writeConfig(t, cfg, "store: /tmp/x\ninterfaces:\n  - name: eth0\n  - name: eth0\n")
	oneLineError(t, run(t, "daemon", "--check", "--config", cfg), "line 4: interfaces.1.name")
	oneLineError(t, run(t, "daemon", "--config", cfg), "is already configured")
	// The shipped example is valid.
	if out := mustRun(t, "daemon", "--check", "--config", "../../dist/config.yaml"); !strings.Contains(out, "valid") {
		t.Errorf("dist/config.yaml: %q", out)
	}
}

// TestUnitFile: systemd-analyze verifies the shipped unit.
func TestUnitFile(t *testing.T) {
	testkit.RequireTool(t, "systemd-analyze")
	unit, err := os.ReadFile("../../dist/packetrecorder.service")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// The unit names the installed binary; verify it against the one built.
	text := strings.ReplaceAll(string(unit), "/usr/local/bin/packetrecorder", binPath)
	path := filepath.Join(dir, "packetrecorder.service")
	writeConfig(t, path, text)
	out, err := exec.Command("systemd-analyze", "verify", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) != 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	for _, want := range []string{"Type=notify", "WatchdogSec=", "AmbientCapabilities=CAP_NET_RAW CAP_NET_ADMIN", "CapabilityBoundingSet=CAP_NET_RAW CAP_NET_ADMIN",
		"User=packetrecorder", "ProtectSystem=strict", "ReadWritePaths=/var/lib/packetrecorder", "ExecReload=/bin/kill -HUP $MAINPID"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("unit lacks %s", want)
		}
	}
}
