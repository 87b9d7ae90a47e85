package cli_test

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/netlab"
	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

func tcpdumpArgs(iface, out, expr string, extra ...string) []string {
	args := []string{"-i", iface, "-w", out, "-U", "--immediate-mode", "-n", "-s", "65535", "--time-stamp-precision=nano"}
	args = append(args, extra...)
	return append(args, expr)
}

// peerTraffic sends, from inside the lab's namespace, want UDP datagrams to
// HostIP:7777 with payload "pkt-N", each preceded by noise the capture filter
// must reject: UDP to another port, a TCP connection and pings.
func peerTraffic(t *testing.T, lab *netlab.Lab, want int) {
	t.Helper()
	ln, err := net.Listen("tcp4", net.JoinHostPort(lab.HostIP.String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("hello from the host"))
			c.Close()
		}
	}()
	udp := lab.PeerUDP()
	ping := lab.PeerCommand("ping", "-c", "3", "-i", "0.05", "-W", "1", lab.HostIP.String())
	if err := ping.Start(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < want; i++ {
		udp.WriteToUDP([]byte(fmt.Sprintf("noise-%d", i)), &net.UDPAddr{IP: lab.HostIP, Port: 7778})
		if i%5 == 0 {
			var c net.Conn
			err := lab.InPeer(func() (err error) {
				c, err = net.DialTimeout("tcp4", ln.Addr().String(), 2*time.Second)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 64)
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			c.Read(buf)
			c.Close()
		}
		if _, err := udp.WriteToUDP([]byte(fmt.Sprintf("pkt-%d", i)), &net.UDPAddr{IP: lab.HostIP, Port: 7777}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(1+i%4) * 3 * time.Millisecond) // irregular gaps
	}
	ping.Wait()
}

func TestCaptureQueryReplay(t *testing.T) {
	lab := netlab.New(t, "cqr")
	dir := t.TempDir()
	db := filepath.Join(dir, "lab.db")
	const want = 20
	const expr = "udp and dst port 7777"

	ref := filepath.Join(dir, "ref.pcap")
	tcpdump := testkit.StartWitness(t, exec.Command("tcpdump", tcpdumpArgs(lab.HostIf, ref, expr, "-c", strconv.Itoa(want))...))
	rec := start(t, "capture", "-i", lab.HostIf, "-f", expr, "-c", strconv.Itoa(want), "-d", db, "--name", "lab test")
	line := rec.waitLine(t, "session ", 10*time.Second)
	if !strings.Contains(line, "capturing on "+lab.HostIf) || !strings.Contains(line, "EN10MB") {
		t.Errorf("start line %q", line)
	}
	peerTraffic(t, lab, want)
	if code := rec.wait(t, 20*time.Second); code != 0 {
		t.Fatalf("capture exit %d: %s", code, rec.stderr)
	}
	if err := tcpdump.Wait(); err != nil {
		t.Fatalf("tcpdump: %v", err)
	}
	if !strings.Contains(rec.stderr.String(), fmt.Sprintf("%d packets stored", want)) || rec.stdout.Len() != 0 {
		t.Errorf("summary: stderr %q, stdout %q", rec.stderr, rec.stdout)
	}

	// Session metadata.
	ss := sessions(t, db)
	if len(ss) != 1 {
		t.Fatalf("%d sessions", len(ss))
	}
	s := ss[0]
	if s.Packets != want || s.Status != "complete" || s.Interface != lab.HostIf || s.Filter != expr ||
		s.LinkType != 1 || s.Snaplen != 65535 || s.Name != "lab test" || s.EndedAt == nil || s.KernelDropped != 0 {
		t.Errorf("session %+v", s)
	}
	started, err := time.Parse(time.RFC3339Nano, s.StartedAt)
	if err != nil || time.Since(started) > time.Minute {
		t.Errorf("started_at %q: %v", s.StartedAt, err)
	}

	// Every stored byte: equal to what tcpdump saw, and the packets we sent.
	lt, refFrames, err := netlab.ReadPcap(ref)
	if err != nil || lt != 1 || len(refFrames) != want {
		t.Fatalf("tcpdump reference: link type %d, %d frames, err %v", lt, len(refFrames), err)
	}
	id := strconv.FormatInt(s.ID, 10)
	pkts := queryJSON(t, "-d", db, "-s", id, "-l", "0", "--show-data")
	if len(pkts) != want {
		t.Fatalf("query returned %d packets", len(pkts))
	}
	var stored [][]byte
	var storedTS []time.Time
	for i, p := range pkts {
		data, err := hex.DecodeString(p.Data)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, data)
		ts, err := time.Parse(time.RFC3339Nano, p.TS)
		if err != nil {
			t.Fatal(err)
		}
		storedTS = append(storedTS, ts)
		if p.N != int64(i+1) || p.CapLen != len(data) || p.Len != len(data) {
			t.Errorf("packet %d: n %d caplen %d len %d data %d bytes", i+1, p.N, p.CapLen, p.Len, len(data))
		}
		if !bytes.Equal(data, refFrames[i].Data) {
			t.Errorf("packet %d differs from tcpdump's\nours % x\ntcpd % x", i+1, data, refFrames[i].Data)
		}
		if d := ts.UnixNano() - refFrames[i].TS; d > int64(time.Millisecond) || d < -int64(time.Millisecond) {
			t.Errorf("packet %d timestamp %v off tcpdump's by %v", i+1, ts, time.Duration(d))
		}
		// From first principles: Ethernet peer -> host, IPv4 UDP to 7777.
		if len(data) < 42 || !bytes.Equal(data[0:6], lab.HostMAC) || !bytes.Equal(data[6:12], lab.PeerMAC) ||
			binary.BigEndian.Uint16(data[12:]) != 0x0800 || data[23] != 17 ||
			!net.IP(data[26:30]).Equal(lab.PeerIP) || !net.IP(data[30:34]).Equal(lab.HostIP) ||
			binary.BigEndian.Uint16(data[36:]) != 7777 || string(data[42:]) != fmt.Sprintf("pkt-%d", i) {
			t.Errorf("packet %d is not the datagram sent: % x", i+1, data)
		}
		wantSum := fmt.Sprintf("IP %s.", lab.PeerIP)
		if !strings.HasPrefix(p.Summary, wantSum) || !strings.Contains(p.Summary, lab.HostIP.String()+".7777") || !strings.Contains(p.Summary, "UDP") {
			t.Errorf("summary %q", p.Summary)
		}
	}

	// The default listing: 10 lines, tcpdump-like, with hex dumps on request.
	out := mustRun(t, "query", "-d", db, "-s", id)
	if n := strings.Count(out, "\n"); n != 10 {
		t.Errorf("default query printed %d lines:\n%s", n, out)
	}
	out = mustRun(t, "query", "-d", db, "-s", id, "-l", "1", "--show-data")
	if !strings.Contains(out, "0x0000:") || !strings.Contains(out, "pkt-0") {
		t.Errorf("hex dump missing:\n%s", out)
	}

	// Replay onto the veth: the peer receives the same frames, byte for
	// byte, with the original spacing.
	rx := filepath.Join(dir, "rx.pcap")
	peerDump := testkit.StartWitness(t, lab.PeerCommand("tcpdump", tcpdumpArgs(lab.PeerIf, rx, expr)...))
	out = mustRun(t, "replay", "-d", db, "-s", id, "-i", lab.HostIf)
	if !strings.Contains(out, fmt.Sprintf("%d packets sent", want)) {
		t.Errorf("replay summary: %q", out)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, frames, _ := netlab.ReadPcap(rx)
		if len(frames) >= want || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	testkit.Stop(t, peerDump)
	_, got, err := netlab.ReadPcap(rx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != want {
		t.Fatalf("peer received %d frames, want %d", len(got), want)
	}
	for i := range got {
		if !bytes.Equal(got[i].Data, stored[i]) {
			t.Errorf("replayed frame %d differs\nsent % x\nrecv % x", i+1, stored[i], got[i].Data)
		}
	}
	origSpan := storedTS[want-1].Sub(storedTS[0])
	rxSpan := time.Duration(got[want-1].TS - got[0].TS)
	if diff := rxSpan - origSpan; diff > 10*time.Millisecond || diff < -10*time.Millisecond {
		t.Errorf("replay took %v, the capture spanned %v", rxSpan, origSpan)
	}

	// --display-only needs no socket and prints the schedule.
	out = mustRun(t, "replay", "-d", db, "-s", id, "--display-only", "--speed", "2")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != want || !strings.HasPrefix(lines[0], "1 +0.000000s IP ") {
		t.Errorf("display-only output:\n%s", out)
	}
}

func TestSignalStopsAndDrains(t *testing.T) {
	lab := netlab.New(t, "sig")
	db := filepath.Join(t.TempDir(), "sig.db")

	// An idle interface: Ctrl-C returns within a second.
	rec := start(t, "capture", "-i", lab.HostIf, "-d", db, "-f", "udp port 9")
	rec.waitLine(t, "session ", 10*time.Second)
	t0 := time.Now()
	rec.cmd.Process.Signal(syscall.SIGINT)
	if code := rec.wait(t, 5*time.Second); code != 0 {
		t.Fatalf("exit %d: %s", code, rec.stderr)
	}
	if d := time.Since(t0); d > time.Second {
		t.Errorf("idle capture took %v to stop", d)
	}

	// Under load: every packet the kernel accepted is stored.
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		rec := start(t, "capture", "-i", lab.HostIf, "-d", db, "-b", "64MB", "-f", "udp dst port 9999")
		rec.waitLine(t, "session ", 10*time.Second)
		udp := lab.PeerUDP()
		payload := make([]byte, 100)
		stop := time.Now().Add(3 * time.Second)
		sent := 0
		for i := 0; i < 300000 && time.Now().Before(stop); i++ {
			if i == 20000 {
				rec.cmd.Process.Signal(sig)
			}
			if _, err := udp.WriteToUDP(payload, &net.UDPAddr{IP: lab.HostIP, Port: 9999}); err == nil {
				sent++
			}
		}
		if code := rec.wait(t, 10*time.Second); code != 0 {
			t.Fatalf("%v: exit %d: %s", sig, code, rec.stderr)
		}
		ss := sessions(t, db)
		s := ss[len(ss)-1]
		t.Logf("%v after 20000 datagrams: %d sent, %d stored, kernel received %d, dropped %d", sig, sent, s.Packets, s.KernelReceived, s.KernelDropped)
		if s.Status != "complete" || s.Packets == 0 || s.KernelDropped != 0 || s.Packets != s.KernelReceived-s.KernelDropped {
			t.Errorf("%v: stored %d, kernel received %d dropped %d, status %s (sent %d)", sig, s.Packets, s.KernelReceived, s.KernelDropped, s.Status, sent)
		}
	}
}

func TestDurationStops(t *testing.T) {
	lab := netlab.New(t, "dur")
	db := filepath.Join(t.TempDir(), "d.db")
	t0 := time.Now()
	mustRun(t, "capture", "-i", lab.HostIf, "-d", db, "-t", "0.5")
	if d := time.Since(t0); d < 500*time.Millisecond || d > 3*time.Second {
		t.Errorf("-t 0.5 ran %v", d)
	}
	ss := sessions(t, db)
	if len(ss) != 1 || ss[0].Status != "complete" {
		t.Errorf("sessions %+v", ss)
	}
	if fi, err := os.Stat(db); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("database mode: %v %v", fi.Mode(), err)
	}
	entries, _ := os.ReadDir(filepath.Dir(db))
	for _, e := range entries {
		// The reserve beside the database (see store.Delete) stays, as
		// private as the database; the capture's own reserve never shows.
		if strings.Contains(e.Name(), "reserve") && e.Name() != filepath.Base(db)+"-reserve" {
			t.Errorf("capture left %s behind", e.Name())
		}
		if fi, err := e.Info(); err == nil && fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v: files beside the database are private", e.Name(), fi.Mode().Perm())
		}
	}
}

// TestDurationAndCountStopUnderLoad: -t and -c stop a capture while traffic
// flows at 100k packets/s. With -t every packet the kernel accepted is
// stored; with -c exactly that many are, the first ones, and nothing the
// kernel dropped.
func TestDurationAndCountStopUnderLoad(t *testing.T) {
	lab := netlab.New(t, "load")
	db := filepath.Join(t.TempDir(), "load.db")
	for _, c := range []struct {
		args  []string
		check func(s sessionInfo) bool
	}{
		{[]string{"-t", "0.5"}, func(s sessionInfo) bool { return s.Packets > 10000 && s.Packets == s.KernelReceived-s.KernelDropped }},
		{[]string{"-c", "30000"}, func(s sessionInfo) bool { return s.Packets == 30000 && s.KernelReceived >= 30000 }},
	} {
		rec := start(t, append([]string{"capture", "-i", lab.HostIf, "-d", db, "-b", "64MB", "-f", "udp dst port 9999"}, c.args...)...)
		rec.waitLine(t, "session ", 10*time.Second)
		done := make(chan int)
		go func() { done <- flood(t, lab, 9999, 100_000, time.Second) }()
		if code := rec.wait(t, 10*time.Second); code != 0 {
			t.Fatalf("%v: exit %d: %s", c.args, code, rec.stderr)
		}
		<-done
		ss := sessions(t, db)
		s := ss[len(ss)-1]
		t.Logf("%v: stored %d, kernel received %d, dropped %d", c.args, s.Packets, s.KernelReceived, s.KernelDropped)
		if !c.check(s) || s.KernelDropped != 0 || s.Status != "complete" {
			t.Errorf("%v: stored %d, kernel received %d, dropped %d, status %s", c.args, s.Packets, s.KernelReceived, s.KernelDropped, s.Status)
		}
	}
}

// TestCaptureAnyDevice: "-i any" inside a lab's namespace stores what
// "tcpdump -i any" stores there, byte for byte and to the nanosecond,
// LINUX_SLL2 headers included: datagrams in through the veth, the ICMP
// errors and echo replies going out of it, and pings on the namespace's
// loopback (whose outgoing copies libpcap skips). Three captures run at
// once, each beside its tcpdump: a filter the kernel runs (moved off the
// cooked header), one that reads a header byte the kernel cannot see and
// so runs in the process, and a snaplen below the header's, which both
// raise to 21 bytes.
func TestCaptureAnyDevice(t *testing.T) {
	lab := netlab.New(t, "any")
	dir := t.TempDir()
	cases := []struct {
		name string
		args []string // after capture -i any -d DB
		td   []string // tcpdump's, after tcpdumpArgs
		expr string
	}{
		{"kernel filter", []string{"-f", "icmp or udp port 7777"}, nil, "icmp or udp port 7777"},
		{"process filter", []string{"-f", "link[11] = 6 and udp port 7777"}, nil, "link[11] = 6 and udp port 7777"},
		{"short snaplen", []string{"-s", "10", "-f", "icmp"}, []string{"-s", "10"}, "icmp"},
	}
	type run struct {
		db, ref string
		rec     *background
		dump    *exec.Cmd
	}
	runs := make([]run, len(cases))
	for i, c := range cases {
		r := &runs[i]
		r.db, r.ref = filepath.Join(dir, fmt.Sprintf("any%d.db", i)), filepath.Join(dir, fmt.Sprintf("ref%d.pcap", i))
		args := tcpdumpArgs("any", r.ref, c.expr)
		if c.td != nil {
			args = append(append(args[:len(args)-1:len(args)-1], c.td...), c.expr)
		}
		r.dump = testkit.StartWitness(t, lab.PeerCommand("tcpdump", args...))
		r.rec = startCmd(t, lab.PeerCommand(binPath, append([]string{"capture", "-i", "any", "-d", r.db}, c.args...)...))
		r.rec.waitLine(t, "session ", 10*time.Second)
	}

	// Unconnected, so that the port-unreachable errors coming back do not
	// fail the next write.
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: lab.HostIP})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		for _, port := range []int{7777, 8888} {
			if _, err := conn.WriteToUDP([]byte(fmt.Sprintf("any-%d", i)), &net.UDPAddr{IP: lab.PeerIP, Port: port}); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	conn.Close()
	netlab.Run(t, "ping", "-c", "2", "-i", "0.2", "-W", "1", lab.PeerIP.String())
	if out, err := lab.PeerCommand("ping", "-c", "2", "-i", "0.2", "-W", "1", "127.0.0.1").CombinedOutput(); err != nil {
		t.Fatalf("ping in the lab: %v\n%s", err, out)
	}
	time.Sleep(300 * time.Millisecond)
	for i, c := range cases {
		r := runs[i]
		r.rec.cmd.Process.Signal(syscall.SIGINT)
		if code := r.rec.wait(t, 10*time.Second); code != 0 {
			t.Fatalf("%s: capture -i any: exit %d: %s", c.name, code, r.rec.stderr)
		}
		testkit.Stop(t, r.dump)
	}

	for i, c := range cases {
		r := runs[i]
		out := filepath.Join(dir, fmt.Sprintf("ours%d.pcap", i))
		mustRun(t, "export", "-d", r.db, "-s", "1", "-o", out)
		lt, ours, err := netlab.ReadPcap(out)
		if err != nil {
			t.Fatal(err)
		}
		refLT, want, err := netlab.ReadPcap(r.ref)
		if err != nil {
			t.Fatal(err)
		}
		if lt != 276 || refLT != 276 {
			t.Errorf("%s: link types: ours %d, tcpdump's %d; want 276 (LINUX_SLL2)", c.name, lt, refLT)
		}
		// At least the 5 datagrams to port 7777, or with "icmp" the 2
		// echo requests and replies on the veth and 4 ICMP messages on
		// the loopback.
		if len(want) < 5 || len(ours) != len(want) {
			t.Fatalf("%s: stored %d packets, tcpdump %d", c.name, len(ours), len(want))
		}
		for j := range want {
			if !bytes.Equal(ours[j].Data, want[j].Data) || ours[j].TS != want[j].TS || ours[j].OrigLen != want[j].OrigLen {
				t.Errorf("%s: packet %d differs:\nours    %d %d % x\ntcpdump %d %d % x", c.name, j+1,
					ours[j].TS, ours[j].OrigLen, ours[j].Data, want[j].TS, want[j].OrigLen, want[j].Data)
			}
		}
		// Where the filter ran: the kernel counts only the packets its
		// filter passed (the loopback's 4 outgoing copies among them, which
		// are not stored); run in the process, it counts everything,
		// the datagrams to port 8888 too.
		ss := sessions(t, r.db)
		inKernel := ss[0].KernelReceived <= ss[0].Packets+4
		if inKernel != (c.name != "process filter") {
			t.Errorf("%s: the kernel received %d packets for %d stored", c.name, ss[0].KernelReceived, ss[0].Packets)
		}
		if i != 0 {
			continue
		}
		// query names the interface and the direction as tcpdump -r does
		// (both resolve the index on this host): "lo    In  ", "?     Out ".
		q := strings.Split(strings.TrimSpace(mustRun(t, "query", "-d", r.db, "-s", "1", "-l", "0")), "\n")
		tdOut, err := exec.Command("tcpdump", "-r", r.ref, "-n").Output()
		if err != nil {
			t.Fatal(err)
		}
		td := strings.Split(strings.TrimSpace(string(tdOut)), "\n")
		if len(q) != len(want) || len(td) != len(want) {
			t.Fatalf("query printed %d lines, tcpdump -r %d, for %d packets", len(q), len(td), len(want))
		}
		for j := range q {
			// "N DATE TIME summary" and "TIME summary".
			ourCols := strings.SplitN(q[j], " ", 4)
			tdCols := strings.SplitN(td[j], " ", 2)
			if len(ourCols) < 4 || len(tdCols) < 2 || len(ourCols[3]) < 10 || len(tdCols[1]) < 10 || ourCols[3][:10] != tdCols[1][:10] {
				t.Errorf("line %d: ours %q, tcpdump %q", j+1, q[j], td[j])
			}
		}
	}
}

// TestCaptureDirection: -Q in keeps what the interface received (the
// peer's echo requests), -Q out what this host sent (the replies), as
// tcpdump -Q; the kernel's counters count what is kept.
func TestCaptureDirection(t *testing.T) {
	lab := netlab.New(t, "cqd")
	dir := t.TempDir()
	dbs := map[string]string{"in": filepath.Join(dir, "in.db"), "out": filepath.Join(dir, "out.db"), "inout": filepath.Join(dir, "both.db")}
	var recs []*background
	for q, db := range dbs {
		rec := start(t, "capture", "-i", lab.HostIf, "-Q", q, "-f", "icmp", "-t", "3", "-d", db)
		rec.waitLine(t, "session ", 10*time.Second)
		recs = append(recs, rec)
	}
	ping := lab.PeerCommand("ping", "-c", "5", "-i", "0.1", "-W", "1", lab.HostIP.String())
	if out, err := ping.CombinedOutput(); err != nil {
		t.Fatalf("ping: %v %s", err, out)
	}
	for _, rec := range recs {
		if code := rec.wait(t, 20*time.Second); code != 0 {
			t.Fatalf("capture exit %d: %s", code, rec.stderr)
		}
	}
	count := func(db, expr string) string {
		return strings.TrimSpace(mustRun(t, "query", "-d", db, "-s", "1", "--count", "--filter", expr))
	}
	for q, want := range map[string][2]string{"in": {"5", "0"}, "out": {"0", "5"}, "inout": {"5", "5"}} {
		if got := [2]string{count(dbs[q], "icmp[icmptype] == icmp-echo"), count(dbs[q], "icmp[icmptype] == icmp-echoreply")}; got != want {
			t.Errorf("-Q %s: %v echo requests and replies, want %v", q, got, want)
		}
	}
	if r := run(t, "capture", "-i", lab.HostIf, "-Q", "sideways", "-c", "1", "-d", filepath.Join(dir, "x.db")); r.code == 0 || !strings.Contains(r.stderr, "invalid direction") {
		t.Errorf("-Q sideways: %d %s", r.code, r.stderr)
	}
}

// TestCaptureWritesAFile: capture -w writes the packets it stores to a
// pcap or pcapng file too (- for standard output): tcpdump reads in it
// what tcpdump captured, and the same packets and times as the session.
func TestCaptureWritesAFile(t *testing.T) {
	lab := netlab.New(t, "cwf")
	dir := t.TempDir()
	const want = 20
	const expr = "udp and dst port 7777"
	ref := filepath.Join(dir, "ref.pcap")
	tcpdump := testkit.StartWitness(t, exec.Command("tcpdump", tcpdumpArgs(lab.HostIf, ref, expr, "-c", strconv.Itoa(want))...))
	db := filepath.Join(dir, "w.db")
	file := filepath.Join(dir, "out.pcapng")
	rec := start(t, "capture", "-i", lab.HostIf, "-c", strconv.Itoa(want), "-d", db, "-w", file, expr)
	rec.waitLine(t, "session ", 10*time.Second)
	// -w without -d: the file alone, as tcpdump -w.
	alone := filepath.Join(dir, "alone.pcap")
	soloCmd := exec.Command(binPath, "capture", "-i", lab.HostIf, "-c", strconv.Itoa(want), "-w", alone, expr)
	soloCmd.Dir = dir // where the default database would go
	solo := startCmd(t, soloCmd)
	solo.waitLine(t, "no database", 10*time.Second)
	piped := filepath.Join(dir, "piped.pcap")
	pipe := exec.Command("sh", "-c", fmt.Sprintf("%q capture -i %s -c %d -d %q -w - %q > %q", binPath, lab.HostIf, want, filepath.Join(dir, "p.db"), expr, piped))
	pipeErr := new(bytes.Buffer)
	pipe.Stderr = pipeErr
	if err := pipe.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // the piped capture opens its ring
	peerTraffic(t, lab, want)
	if code := rec.wait(t, 20*time.Second); code != 0 {
		t.Fatalf("capture exit %d: %s", code, rec.stderr)
	}
	if err := pipe.Wait(); err != nil {
		t.Fatalf("capture -w -: %v %s", err, pipeErr)
	}
	if code := solo.wait(t, 20*time.Second); code != 0 {
		t.Fatalf("capture -w alone: %d %s", code, solo.stderr)
	}
	if err := tcpdump.Wait(); err != nil {
		t.Fatalf("tcpdump: %v", err)
	}
	noTime := func(path string) string {
		out, _, err := testkit.RunTool("tcpdump", "-n", "-t", "-r", path)
		if err != nil {
			t.Fatalf("tcpdump -r %s: %v", path, err)
		}
		return out
	}
	if got, w := noTime(file), noTime(ref); got != w || strings.Count(got, "\n") != want {
		t.Errorf("-w file:\n%s\ntcpdump's:\n%s", got, w)
	}
	if got, w := noTime(piped), noTime(ref); got != w {
		t.Errorf("-w -:\n%s\ntcpdump's:\n%s", got, w)
	}
	if got, w := noTime(alone), noTime(ref); got != w {
		t.Errorf("-w alone:\n%s\ntcpdump's:\n%s", got, w)
	}
	if _, err := os.Stat(filepath.Join(dir, "packets.db")); err == nil {
		t.Error("-w alone made a database")
	}
	exp := filepath.Join(dir, "exp.pcapng")
	mustRun(t, "export", "-d", db, "-s", "1", "-o", exp)
	withTime := func(path string) string { out, _, _ := testkit.RunTool("tcpdump", "-n", "-tt", "-r", path); return out }
	if a, b := withTime(file), withTime(exp); a != b {
		t.Errorf("-w file and the session differ:\n%s\n%s", a, b)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("-w file mode: %v %v", fi, err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".out.pcapng.tmp-*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// TestIPBroadcastUsesTheCapturesNetmask: the session records its
// interface's netmask (a /30 here), so "ip broadcast" selects the stored
// packets to the subnet's broadcast address, as it would have live; a
// capture file knows no netmask and selects with tcpdump's 0.
func TestIPBroadcastUsesTheCapturesNetmask(t *testing.T) {
	lab := netlab.New(t, "bca")
	db := filepath.Join(t.TempDir(), "b.db")
	rec := start(t, "capture", "-i", lab.HostIf, "-d", db, "-t", "3", "icmp")
	rec.waitLine(t, "session ", 10*time.Second)
	bcast := net.IPv4(lab.HostIP[0], lab.HostIP[1], lab.HostIP[2], lab.HostIP[3]|3).String()
	lab.PeerCommand("ping", "-b", "-c", "3", "-i", "0.2", "-W", "1", bcast).Run() // no answer: broadcasts are ignored
	if out, err := lab.PeerCommand("ping", "-c", "2", "-i", "0.2", "-W", "1", lab.HostIP.String()).CombinedOutput(); err != nil {
		t.Fatalf("ping: %v %s", err, out)
	}
	if code := rec.wait(t, 20*time.Second); code != 0 {
		t.Fatalf("capture: %d %s", code, rec.stderr)
	}
	count := func(args ...string) string {
		return strings.TrimSpace(mustRun(t, append([]string{"query", "--count"}, args...)...))
	}
	if got := count("-d", db, "-s", "1", "ip broadcast"); got != "3" {
		t.Errorf("ip broadcast selects %s stored packets, want the 3 pings to %s", got, bcast)
	}
	if got := count("-d", db, "-s", "1", "dst host "+bcast); got != "3" {
		t.Errorf("dst host %s: %s", bcast, got)
	}
	file := filepath.Join(t.TempDir(), "b.pcap")
	mustRun(t, "export", "-d", db, "-s", "1", "-o", file)
	if got := count("-r", file, "ip broadcast"); got != "0" {
		t.Errorf("from a file (netmask 0) ip broadcast selects %s", got)
	}
}

// TestCaptureSeveralInterfaces: capture -i A -i B records both into one
// session, each packet with its interface, as dumpcap does: a pcapng
// export (and -w) has both interfaces, every packet sent on either is
// stored once, and the kernel's counters add up.
func TestCaptureSeveralInterfaces(t *testing.T) {
	testkit.RequireTool(t, "tshark")
	a, b := netlab.New(t, "cma"), netlab.New(t, "cmb")
	dir := t.TempDir()
	db := filepath.Join(dir, "m.db")
	wfile := filepath.Join(dir, "w.pcapng")
	rec := start(t, "capture", "-i", a.HostIf, "-i", b.HostIf, "-d", db, "-t", "3", "-w", wfile, "udp dst port 9999")
	rec.waitLine(t, "session ", 10*time.Second)
	done := make(chan int, 2)
	go func() { done <- flood(t, a, 9999, 2000, time.Second) }()
	go func() { done <- flood(t, b, 9999, 3000, time.Second) }()
	sentA, sentB := <-done, <-done
	if sentA > sentB {
		sentA, sentB = sentB, sentA // a sends 2000/s, b 3000/s
	}
	if code := rec.wait(t, 20*time.Second); code != 0 {
		t.Fatalf("capture: %d %s", code, rec.stderr)
	}
	ss := sessions(t, db)
	if len(ss) != 1 || ss[0].Interface != a.HostIf+","+b.HostIf || ss[0].Packets != int64(sentA+sentB) || ss[0].KernelDropped != 0 {
		t.Fatalf("session %+v; sent %d and %d", ss, sentA, sentB)
	}
	count := func(expr string) string {
		return strings.TrimSpace(mustRun(t, "query", "-d", db, "-s", "1", "--count", expr))
	}
	if got := count("src host " + a.PeerIP.String()); got != fmt.Sprint(sentA) {
		t.Errorf("from %s: %s stored, %d sent", a.PeerIf, got, sentA)
	}
	if got := count("src host " + b.PeerIP.String()); got != fmt.Sprint(sentB) {
		t.Errorf("from %s: %s stored, %d sent", b.PeerIf, got, sentB)
	}
	exp := filepath.Join(dir, "m.pcapng")
	mustRun(t, "export", "-d", db, "-s", "1", "-o", exp)
	for _, file := range []string{exp, wfile} {
		out, _, err := testkit.RunTool("tshark", "-r", file, "-T", "fields", "-e", "frame.interface_name", "-e", "ip.src")
		if err != nil {
			t.Fatal(err)
		}
		per := map[string]int{}
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			per[l]++
		}
		if per[a.HostIf+"\t"+a.PeerIP.String()] != sentA || per[b.HostIf+"\t"+b.PeerIP.String()] != sentB || len(per) != 2 {
			t.Errorf("%s: packets by interface and source %v; sent %d and %d", filepath.Base(file), per, sentA, sentB)
		}
	}
	if r := run(t, "capture", "-i", a.HostIf, "-i", a.HostIf, "-c", "1", "-d", db); r.code == 0 || !strings.Contains(r.stderr, "given twice") {
		t.Errorf("-i twice: %d %s", r.code, r.stderr)
	}
}
