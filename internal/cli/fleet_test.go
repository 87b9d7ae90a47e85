package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/packetrecorderd/packetrecorderd/internal/netlab"
	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// fleetStatus is what the fleet tests read of GET /api/v1/status.
type fleetStatus struct {
	Interfaces []struct {
		Packets int64
		Drops   struct{ Kernel, App int64 }
	} `json:"interfaces"`
	Fleet *struct {
		Connected     bool   `json:"connected"`
		OutboxBytes   int64  `json:"outbox_bytes"`
		OutboxRecords int64  `json:"outbox_records"`
		OutboxMax     int64  `json:"outbox_max_bytes"`
		Shipped       uint64 `json:"shipped_records"`
		Dropped       uint64 `json:"dropped_records"`
		LastError     string `json:"last_error"`
	} `json:"fleet"`
}

func (d *daemonProc) fleetStatus(t *testing.T) fleetStatus {
	t.Helper()
	code, body := d.get(t, "/api/v1/status")
	var st fleetStatus
	if code != 200 || json.Unmarshal([]byte(body), &st) != nil || st.Fleet == nil {
		t.Fatalf("status: %d %s", code, body)
	}
	return st
}

// fleetDownFor is how long TestFaultFleetPostgresDown keeps PostgreSQL
// stopped: PRD_FLEET_DOWN (a Go duration; issue #22's figure is 30s),
// else 5 s.
func fleetDownFor(t *testing.T) time.Duration {
	if v := os.Getenv("PRD_FLEET_DOWN"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("PRD_FLEET_DOWN: %v", err)
		}
		return d
	}
	return 5 * time.Second
}

// fleetConversations is tshark's -z conv,udp and -z conv,tcp of a
// capture: frames per conversation "A:port B:port".
func fleetConversations(t *testing.T, pcap string) map[string]int {
	t.Helper()
	rows, err := testkit.TsharkConversations(pcap)
	if err != nil {
		t.Fatal(err)
	}
	convs := map[string]int{}
	for _, r := range rows {
		convs[r.A+" "+r.B] += r.Frames
	}
	return convs
}

// sendRound sends one datagram from the peer to each port, paced at
// about rate a second; it returns how many were sent.
func sendRound(t *testing.T, udp *net.UDPConn, host net.IP, ports []int, rate int) int {
	t.Helper()
	start := time.Now()
	sent := 0
	for i, p := range ports {
		if i%50 == 0 {
			if w := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate))); w > 0 {
				time.Sleep(w)
			}
		}
		if _, err := udp.WriteToUDP([]byte(fmt.Sprintf("flow %d", p)), &net.UDPAddr{IP: host, Port: p}); err == nil {
			sent++
		}
	}
	return sent
}

// fleetTCPServer listens on the host's side of the lab (port 25000) and
// returns a function that makes n TCP connections from the peer, each
// sending three messages and closing, and waits until the server has
// closed them too.
func fleetTCPServer(t *testing.T, lab *netlab.Lab) func(n int) int {
	t.Helper()
	ln, err := net.Listen("tcp4", net.JoinHostPort(lab.HostIP.String(), "25000"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	closed := make(chan struct{}, 1024)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				io.Copy(io.Discard, c)
				c.Close()
				closed <- struct{}{}
			}()
		}
	}()
	return func(n int) int {
		t.Helper()
		err := lab.InPeer(func() error {
			for i := 0; i < n; i++ {
				c, err := net.Dial("tcp4", net.JoinHostPort(lab.HostIP.String(), "25000"))
				if err != nil {
					return err
				}
				for m := 0; m < 3; m++ {
					fmt.Fprintf(c, "message %d of connection %d\n", m, i)
				}
				c.Close()
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i++ {
			select {
			case <-closed:
			case <-time.After(10 * time.Second):
				t.Fatal("the TCP server did not see every connection end")
			}
		}
		return n
	}
}

func fleetTokenFile(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "token")
	if err := os.WriteFile(p, []byte(testToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func portRange(from, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = from + i
	}
	return out
}

func pgConn(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// fleetConfig writes a daemon config recording the lab's interface
// (UDP to ports 20000-39999) with a fleet block; the password comes from
// a file beside it. The tests poll status every 100 ms for many
// seconds, above the default rate limit a token has.
func fleetConfig(t *testing.T, dir string, lab *netlab.Lab, pg *testkit.Postgres, sensor, extra string) string {
	t.Helper()
	pw := filepath.Join(dir, "pg-password")
	if err := os.WriteFile(pw, []byte(pg.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "c.yaml")
	writeConfig(t, cfg, fmt.Sprintf(`store: %s
interfaces:
  - name: %s
    filter: "udp dst portrange 20000-39999 or tcp port 25000"
listen: 127.0.0.1:0
limits:
  requests_per_minute: 100000
fleet:
  sensor: %s
  postgres: "postgres://%s@%s:%d/postgres?sslmode=disable"
  postgres_password_file: pg-password
  url: http://127.0.0.1:7474
%s`, filepath.Join(dir, "store"), lab.HostIf, sensor, pg.User, pg.Host, pg.Port, extra))
	return cfg
}

// TestFaultFleetPostgresDown: a daemon ships its flow records while
// PostgreSQL runs, keeps recording while it is stopped (PRD_FLEET_DOWN,
// 5 s by default) under a steady load of old and new flows, shows the
// outbox growing and the error in status and metrics, and catches up
// when it is back. Every flow tshark sees in tcpdump's capture of the
// same interface is one row, with tshark's frame count, ended; every
// packet sent is stored; the segments' summaries count the stored packets.
func TestFaultFleetPostgresDown(t *testing.T) {
	testkit.RequireTool(t, "tcpdump")
	testkit.RequireTool(t, "tshark")
	pg := testkit.StartPostgresCluster(t)
	lab := netlab.New(t, "fpd")
	dir := t.TempDir()
	d := startDaemon(t, fleetConfig(t, dir, lab, pg, "lab-down", ""))
	witness := filepath.Join(dir, "witness.pcap")
	dump := testkit.StartWitness(t, exec.Command("tcpdump", tcpdumpArgs(lab.HostIf, witness, "udp dst portrange 20000-39999 or tcp port 25000", "-B", "65536")...))
	time.Sleep(time.Second)
	udp := lab.PeerUDP()
	tcpTo := fleetTCPServer(t, lab)
	old, fresh := portRange(20000, 1500), portRange(30000, 1500)
	const rate = 3000
	sent := sendRound(t, udp, lab.HostIP, old, rate)
	conns := tcpTo(20)
	// Shipped while PostgreSQL is up: the active flows' records.
	deadline := time.Now().Add(20 * time.Second)
	for st := d.fleetStatus(t); st.Fleet.Shipped < uint64(len(old)) || st.Fleet.OutboxRecords > 0; st = d.fleetStatus(t) {
		if time.Now().After(deadline) {
			t.Fatalf("not shipped: %+v", st.Fleet)
		}
		time.Sleep(100 * time.Millisecond)
	}
	pg.Stop()
	down := time.Now()
	// Old flows go on and new ones start while it is down, until the
	// figure's time is up.
	for rounds := 0; rounds == 0 || time.Since(down) < fleetDownFor(t)-time.Second; rounds++ {
		sent += sendRound(t, udp, lab.HostIP, old, rate)
		sent += sendRound(t, udp, lab.HostIP, fresh, rate)
		conns += tcpTo(20)
	}
	time.Sleep(1500 * time.Millisecond) // the active flows' records are queued
	st := d.fleetStatus(t)
	if st.Fleet.Connected || st.Fleet.LastError == "" || st.Fleet.OutboxRecords == 0 || st.Fleet.OutboxBytes == 0 || st.Fleet.Dropped != 0 {
		t.Errorf("while PostgreSQL is down: %+v", st.Fleet)
	}
	_, metrics := d.get(t, "/metrics")
	if !regexp.MustCompile(`(?m)^packetrecorder_fleet_outbox_records [1-9]`).MatchString(metrics) ||
		!regexp.MustCompile(`(?m)^packetrecorder_fleet_connected 0$`).MatchString(metrics) {
		t.Errorf("metrics while PostgreSQL is down:\n%s", grepLines(metrics, "packetrecorder_fleet"))
	}
	statusOut := mustRun(t, "status", "--server", "http://"+d.addr, "--token-file", fleetTokenFile(t, dir))
	if !strings.Contains(statusOut, "fleet lab-down: not connected") || !strings.Contains(statusOut, "fleet error: ") {
		t.Errorf("packetrecorder status while PostgreSQL is down:\n%s", statusOut)
	}
	time.Sleep(time.Until(down.Add(fleetDownFor(t))))
	pg.Start()
	back := time.Now()
	t.Logf("PostgreSQL was down for %v; %d datagrams sent", back.Sub(down).Round(time.Millisecond), sent)
	waitCaughtUp(t, d)
	t.Logf("the outbox (%d records, %d bytes) was shipped %v after PostgreSQL came back", st.Fleet.OutboxRecords, st.Fleet.OutboxBytes, time.Since(back).Round(time.Millisecond))
	sent += sendRound(t, udp, lab.HostIP, old, rate)
	sent += sendRound(t, udp, lab.HostIP, fresh, rate)
	conns += tcpTo(20)
	time.Sleep(1500 * time.Millisecond)
	testkit.Stop(t, dump)
	waitCaughtUp(t, d)
	ist := d.fleetStatus(t).Interfaces
	// SIGTERM: the flows end (their final records) and are shipped.
	d.stop(t, 15*time.Second)

	_, frames, err := netlab.ReadPcap(witness)
	if err != nil {
		t.Fatal(err)
	}
	udpFrames := 0
	for _, f := range frames {
		if len(f.Data) > 23 && f.Data[23] == 17 {
			udpFrames++
		}
	}
	if udpFrames != sent || len(ist) != 1 || ist[0].Packets != int64(len(frames)) || ist[0].Drops.Kernel+ist[0].Drops.App != 0 {
		t.Errorf("sent %d datagrams, tcpdump saw %d (%d frames in all), the daemon stored %+v", sent, udpFrames, len(frames), ist)
	}
	want := fleetConversations(t, witness)
	if len(want) != len(old)+len(fresh)+conns {
		t.Errorf("tshark sees %d conversations, %d UDP flows and %d TCP connections were made", len(want), len(old)+len(fresh), conns)
	}
	c := pgConn(t, pg.DSN)
	ctx := context.Background()
	rows, err := c.Query(ctx, `SELECT host(src) || ':' || sport || ' ' || host(dst) || ':' || dport, packets_fwd, packets_rev, ended
		FROM prd_flows WHERE sensor = 'lab-down' AND interface = $1`, lab.HostIf)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	n := 0
	for rows.Next() {
		var k string
		var fwd, rev int64
		var ended bool
		if err := rows.Scan(&k, &fwd, &rev, &ended); err != nil {
			t.Fatal(err)
		}
		n++
		if _, dup := got[k]; dup {
			t.Errorf("flow %s twice", k)
		}
		got[k] = int(fwd + rev)
		if !ended {
			t.Errorf("flow %s not ended after the daemon stopped", k)
		}
	}
	if n != len(want) {
		t.Errorf("%d flow rows, tshark sees %d conversations", n, len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("flow %s: %d packets in PostgreSQL, tshark %d", k, got[k], v)
		}
	}
	var segPackets int64
	var segs, open int
	c.QueryRow(ctx, `SELECT coalesce(sum(packets), 0), count(*), count(*) FILTER (WHERE NOT closed) FROM prd_segments WHERE sensor = 'lab-down'`).Scan(&segPackets, &segs, &open)
	if segPackets != int64(len(frames)) || segs == 0 || open != 0 {
		t.Errorf("segments: %d packets in %d (%d open), tcpdump saw %d", segPackets, segs, open, len(frames))
	}
	var ifaces []string
	c.QueryRow(ctx, `SELECT interfaces FROM prd_sensors WHERE sensor = 'lab-down'`).Scan(&ifaces)
	if len(ifaces) != 1 || ifaces[0] != lab.HostIf {
		t.Errorf("registered interfaces %v", ifaces)
	}
	// Everything shipped: the outbox holds no record file.
	if files, _ := filepath.Glob(filepath.Join(dir, "store", "outbox", "*.rec")); len(files) != 0 {
		t.Errorf("outbox files left after a clean stop: %v", files)
	}
}

// waitCaughtUp waits until the daemon is connected with nothing left in
// its outbox.
func waitCaughtUp(t *testing.T, d *daemonProc) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for st := d.fleetStatus(t); !st.Fleet.Connected || st.Fleet.OutboxRecords > 0; st = d.fleetStatus(t) {
		if time.Now().After(deadline) {
			t.Fatalf("not caught up: %+v", st.Fleet)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestFaultFleetOutboxFull: with PostgreSQL down and a 1 MiB outbox, a
// burst of new flows fills it: the records beyond it are dropped and
// counted in status, 'packetrecorder status' and metrics, while every
// packet is still recorded; once PostgreSQL is back the outbox empties,
// no flow is duplicated, and there is room again.
func TestFaultFleetOutboxFull(t *testing.T) {
	testkit.RequireTool(t, "tcpdump")
	pg := testkit.StartPostgresCluster(t)
	pg.Stop()
	lab := netlab.New(t, "fof")
	dir := t.TempDir()
	d := startDaemon(t, fleetConfig(t, dir, lab, pg, "lab-full", "  outbox_max: 1MiB\n"))
	witness := filepath.Join(dir, "witness.pcap")
	dump := testkit.StartWitness(t, exec.Command("tcpdump", tcpdumpArgs(lab.HostIf, witness, "udp dst portrange 20000-39999", "-B", "65536")...))
	time.Sleep(time.Second)
	udp := lab.PeerUDP()
	sent := 0
	deadline := time.Now().Add(60 * time.Second)
	for from := 20000; d.fleetStatus(t).Fleet.Dropped == 0; from += 4000 {
		if from >= 40000 || time.Now().After(deadline) {
			t.Fatalf("the outbox never filled: %+v", d.fleetStatus(t).Fleet)
		}
		sent += sendRound(t, udp, lab.HostIP, portRange(from, 4000), 8000)
		time.Sleep(1200 * time.Millisecond) // the flows' records reach the outbox
	}
	time.Sleep(500 * time.Millisecond)
	testkit.Stop(t, dump)
	st := d.fleetStatus(t)
	if st.Fleet.Dropped == 0 || st.Fleet.OutboxBytes > 1<<20 || st.Fleet.OutboxMax != 1<<20 || st.Fleet.Connected {
		t.Errorf("outbox full: %+v", st.Fleet)
	}
	_, frames, err := netlab.ReadPcap(witness)
	if err != nil {
		t.Fatal(err)
	}
	if len(frames) != sent || st.Interfaces[0].Packets != int64(sent) {
		t.Errorf("sent %d, tcpdump saw %d, stored %d: recording must go on while the outbox is full", sent, len(frames), st.Interfaces[0].Packets)
	}
	_, metrics := d.get(t, "/metrics")
	if !regexp.MustCompile(`(?m)^packetrecorder_fleet_dropped_records_total [1-9]`).MatchString(metrics) {
		t.Errorf("metrics:\n%s", grepLines(metrics, "packetrecorder_fleet"))
	}
	out := mustRun(t, "status", "--server", "http://"+d.addr, "--token-file", fleetTokenFile(t, dir))
	if !strings.Contains(out, "FLEET RECORDS DROPPED: ") {
		t.Errorf("packetrecorder status:\n%s", out)
	}
	if !strings.Contains(d.stderr.String(), "fleet outbox full") {
		t.Errorf("no error logged for the full outbox:\n%s", d.stderr)
	}
	pg.Start()
	deadline = time.Now().Add(60 * time.Second)
	for st = d.fleetStatus(t); st.Fleet.OutboxRecords != 0 || !st.Fleet.Connected; st = d.fleetStatus(t) {
		if time.Now().After(deadline) {
			t.Fatalf("the outbox was not shipped: %+v", st.Fleet)
		}
		time.Sleep(200 * time.Millisecond)
	}
	c := pgConn(t, pg.DSN)
	var rows, keys int
	c.QueryRow(context.Background(), `SELECT count(*), count(DISTINCT (src, sport, dst, dport, first_ns)) FROM prd_flows WHERE sensor = 'lab-full'`).Scan(&rows, &keys)
	if rows == 0 || rows != keys {
		t.Errorf("%d rows, %d distinct flows", rows, keys)
	}
	// Room again: new flows are shipped.
	time.Sleep(1500 * time.Millisecond) // the acknowledged files are deleted
	before := d.fleetStatus(t).Fleet.Dropped
	sendRound(t, udp, lab.HostIP, portRange(39000, 500), 4000)
	time.Sleep(2 * time.Second)
	if st := d.fleetStatus(t).Fleet; st.Dropped != before || st.OutboxBytes >= 1<<20 {
		t.Errorf("after catching up: %+v (dropped %d before)", st, before)
	}
	d.stop(t, 15*time.Second)
}

// TestFleetSegmentsFollowRetention: the segments' summaries in
// PostgreSQL follow the store: one row per segment the daemon made, the
// ones retention deleted marked deleted (as many as status counts; an
// empty one the recording removed at its stop is marked deleted too), the
// others (as many as the store's files) not, and their packets summing
// to what was stored.
func TestFleetSegmentsFollowRetention(t *testing.T) {
	pg := testkit.StartPostgresCluster(t)
	lab := netlab.New(t, "fsr")
	dir := t.TempDir()
	d := startDaemon(t, fleetConfig(t, dir, lab, pg, "lab-ret", `compression: none
segment:
  max_bytes: 1MiB
retention:
  max_bytes: 3MiB
`))
	udp := lab.PeerUDP()
	payload := make([]byte, 1000)
	sent := 0
	for i := 0; i < 10000; i++ {
		if i%200 == 0 {
			time.Sleep(20 * time.Millisecond)
		}
		if _, err := udp.WriteToUDP(payload, &net.UDPAddr{IP: lab.HostIP, Port: 20000 + i%100}); err == nil {
			sent++
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for d.status(t).Retention.DeletedSegments == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("retention deleted nothing: %+v", d.status(t))
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(1500 * time.Millisecond)
	st := d.status(t)
	d.stop(t, 15*time.Second)
	files, _ := filepath.Glob(filepath.Join(dir, "store", "segments", lab.HostIf, "*.db"))
	onDisk := map[string]bool{}
	for _, f := range files {
		onDisk[filepath.Base(f)] = true
	}
	c := pgConn(t, pg.DSN)
	rows, err := c.Query(context.Background(), `SELECT segment, deleted_at IS NOT NULL, packets
		FROM prd_segments WHERE sensor = 'lab-ret' AND interface = $1`, lab.HostIf)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	// Retention goes on deleting while the daemon runs, so the status
	// read before the stop is a lower bound; the files left after the
	// stop are exact: a row is marked deleted exactly when its file is
	// gone (a segment opened ahead and removed empty at the stop too).
	var deleted, deletedWithPackets, kept int
	var packets int64
	for rows.Next() {
		var seg string
		var gone bool
		var n int64
		if err := rows.Scan(&seg, &gone, &n); err != nil {
			t.Fatal(err)
		}
		packets += n
		switch {
		case gone && onDisk[filepath.Base(seg)]:
			t.Errorf("segment %s marked deleted in PostgreSQL, still on disk", seg)
		case !gone && !onDisk[filepath.Base(seg)]:
			t.Errorf("segment %s live in PostgreSQL, not on disk", seg)
		case gone:
			deleted++
			if n > 0 {
				deletedWithPackets++
			}
		default:
			kept++
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if int64(deletedWithPackets) < st.Retention.DeletedSegments || kept != len(files) || packets != int64(sent) || st.Interfaces[0].Packets != int64(sent) {
		t.Errorf("PostgreSQL: %d segments deleted (%d with packets), %d kept, %d packets; status before the stop: %d deleted; %d files; %d sent, %d stored",
			deleted, deletedWithPackets, kept, packets, st.Retention.DeletedSegments, len(files), sent, st.Interfaces[0].Packets)
	}
}
