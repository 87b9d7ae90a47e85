package cli_test

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/netlab"
	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// explained is what query --explain printed.
type explained struct {
	packets, read, blocks     int64
	skipped, segments, unsumm int64
	hasSegments               bool
	out                       string
}

var (
	explainPackets  = regexp.MustCompile(`(?m)^packets: (\d+)$`)
	explainBlocks   = regexp.MustCompile(`(?m)^blocks read: (\d+) of (\d+)`)
	explainSegments = regexp.MustCompile(`(?m)^segments skipped by the catalog: (\d+) of (\d+) closed \((\d+) without`)
)

func explain(t *testing.T, args ...string) explained {
	t.Helper()
	out := mustRun(t, append([]string{"query", "--explain"}, args...)...)
	e := explained{out: out}
	m := explainPackets.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("query --explain printed no packet count:\n%s", out)
	}
	e.packets, _ = strconv.ParseInt(m[1], 10, 64)
	if m := explainBlocks.FindStringSubmatch(out); m != nil {
		e.read, _ = strconv.ParseInt(m[1], 10, 64)
		e.blocks, _ = strconv.ParseInt(m[2], 10, 64)
	}
	if m := explainSegments.FindStringSubmatch(out); m != nil {
		e.hasSegments = true
		e.skipped, _ = strconv.ParseInt(m[1], 10, 64)
		e.segments, _ = strconv.ParseInt(m[2], 10, 64)
		e.unsumm, _ = strconv.ParseInt(m[3], 10, 64)
	}
	return e
}

// findLive polls query --explain (another process, reading the database
// or store as it is being written) until the selection holds want
// packets, and returns how long after sent that was and the last plan.
func findLive(t *testing.T, sent time.Time, want int64, args ...string) (time.Duration, explained) {
	t.Helper()
	deadline := sent.Add(5 * time.Second)
	for {
		e := explain(t, args...)
		if e.packets >= want {
			return time.Since(sent), e
		}
		if time.Now().After(deadline) {
			t.Fatalf("query --explain %s: %d packets 5 s after they were sent, want %d:\n%s", strings.Join(args, " "), e.packets, want, e.out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// floodUntil sends 100-byte datagrams from the peer to HostIP:port at
// about rate a second until stop is set, and returns how many it sent.
func floodUntil(lab *netlab.Lab, port, rate int, stop *atomic.Bool) int {
	udp := lab.PeerUDP()
	payload := make([]byte, 100)
	dst := &net.UDPAddr{IP: lab.HostIP, Port: port}
	start := time.Now()
	sent := 0
	for !stop.Load() && time.Since(start) < time.Minute {
		due := start.Add(time.Duration(float64(sent) / float64(rate) * float64(time.Second)))
		if w := time.Until(due); w > 0 {
			time.Sleep(w)
		}
		for i := 0; i < 50; i++ {
			if _, err := udp.WriteToUDP(payload, dst); err == nil {
				sent++
			}
		}
	}
	return sent
}

// needle sends one datagram from a fresh peer socket to HostIP:port and
// returns the filter that selects it alone and when it was sent.
func needle(t *testing.T, lab *netlab.Lab, port int) (string, time.Time) {
	t.Helper()
	udp := lab.PeerUDP()
	src := udp.LocalAddr().(*net.UDPAddr).Port
	sent := time.Now()
	if _, err := udp.WriteToUDP([]byte("needle"), &net.UDPAddr{IP: lab.HostIP, Port: port}); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("udp and host %s and src port %d and dst port %d", lab.PeerIP, src, port), sent
}

// throughIndex fails unless the plan found the needle by the index: at
// most 3 blocks read (the needle's, and about 1% more) of those in the
// window.
func throughIndex(t *testing.T, what string, e explained) {
	t.Helper()
	if e.read > 3 {
		t.Fatalf("%s: the plan read %d of %d blocks for one datagram:\n%s", what, e.read, e.blocks, e.out)
	}
}

// TestLiveIndexDaemon: datagrams sent to a running daemon, among a flood
// that rolls a segment over about every half second while retention
// deletes the oldest, are found by query --explain in another process
// within 1 s of being sent, through the index (a few blocks read of many;
// closed segments skipped by the catalog's summaries), including needles
// that landed in the first or last commit of a segment.
func TestLiveIndexDaemon(t *testing.T) {
	testkit.RequireTool(t, "sqlite3")
	lab := netlab.New(t, "lix")
	d, _, st := startStoreDaemon(t, `store: %s
compression: none
segment:
  max_bytes: 1MiB
retention:
  max_bytes: 6MiB
interfaces:
  - name: %s
    filter: udp
listen: 127.0.0.1:0
`, lab.HostIf)
	var stop atomic.Bool
	flooded := make(chan int, 1)
	go func() { flooded <- floodUntil(lab, 9999, 5000, &stop) }()
	defer func() {
		stop.Store(true)
		<-flooded
	}()
	time.Sleep(1500 * time.Millisecond)
	var worst time.Duration
	nearRoll, maxBlocks, skipped, segments := 0, int64(0), int64(0), int64(0)
	var tooks []time.Duration
	defer func() { checkLiveMedian(t, "daemon", tooks) }()
	const needles = 16
	for i := 0; i < needles; i++ {
		expr, sent := needle(t, lab, 20000+i)
		took, e := findLive(t, sent, 1, "-d", st, expr)
		worst = max(worst, took)
		tooks = append(tooks, took)
		if took > liveIndexEach {
			t.Errorf("needle %d found %v after it was sent, want under %v", i, took, liveIndexEach)
		}
		throughIndex(t, fmt.Sprintf("needle %d", i), e)
		maxBlocks = max(maxBlocks, e.blocks)
		skipped = max(skipped, e.skipped)
		segments = max(segments, e.segments)
		if e.hasSegments && e.unsumm != 0 {
			t.Errorf("needle %d: %d closed segments without a summary:\n%s", i, e.unsumm, e.out)
		}
		// Where the needle lies: its packet number against its segment's
		// first and last packet (the catalog, read by sqlite3).
		pk := queryJSON(t, "-d", st, "-c", "0", expr)
		if len(pk) != 1 {
			t.Fatalf("needle %d: query gives %d packets", i, len(pk))
		}
		row := sqlite3Out(t, filepath.Join(st, "catalog.db"), fmt.Sprintf(
			"SELECT first_packet, packets, closed FROM segments WHERE first_packet <= %d ORDER BY first_packet DESC LIMIT 1", pk[0].N))
		var first, n, closed int64
		fmt.Sscanf(strings.ReplaceAll(row, "|", " "), "%d %d %d", &first, &n, &closed)
		// A commit is 100 ms: 500 packets of the flood.
		if pk[0].N-first < 500 || closed == 1 && first+n-1-pk[0].N < 500 {
			nearRoll++
		}
		time.Sleep(time.Duration(137+i*29) * time.Millisecond)
	}
	stop.Store(true)
	<-flooded
	flooded <- 0
	s := d.status(t)
	d.stop(t, 5*time.Second)
	t.Logf("%d needles: the slowest found %v after it was sent; %d in a segment's first or last commit; up to %d blocks in the segments opened, up to %d of %d closed segments skipped by the catalog; retention deleted %d segments",
		needles, worst, nearRoll, maxBlocks, skipped, segments, s.Retention.DeletedSegments)
	if nearRoll == 0 {
		t.Error("no needle landed near a roll-over: the test did not test one")
	}
	if s.Retention.DeletedSegments == 0 {
		t.Error("retention deleted no segment: the test did not test it")
	}
	if segments < 3 || skipped == 0 {
		t.Errorf("at most %d closed segments in the window, %d skipped: the catalog had nothing to narrow", segments, skipped)
	}
}

// TestLiveIndexCaptureAndImport: during capture (a database being written
// by another process) a needle is found through the index within 1 s of
// being sent; and the pcap tcpdump wrote of the same traffic, imported,
// answers each needle through the index at once, exactly as tcpdump
// reads the needle from that pcap.
func TestLiveIndexCaptureAndImport(t *testing.T) {
	testkit.RequireTool(t, "tcpdump")
	lab := netlab.New(t, "lic")
	dir := t.TempDir()
	db := filepath.Join(dir, "c.db")
	witness := filepath.Join(dir, "witness.pcap")
	dump := testkit.StartWitness(t, exec.Command("tcpdump", tcpdumpArgs(lab.HostIf, witness, "udp", "-B", "65536")...))
	rec := start(t, "capture", "-i", lab.HostIf, "-d", db, "-f", "udp", "--compression", "none")
	rec.waitLine(t, "session ", 10*time.Second)
	var stop atomic.Bool
	flooded := make(chan int, 1)
	go func() { flooded <- floodUntil(lab, 9999, 5000, &stop) }()
	time.Sleep(1500 * time.Millisecond)
	var exprs []string
	var tooks []time.Duration
	for i := 0; i < 8; i++ {
		expr, sent := needle(t, lab, 21000+i)
		exprs = append(exprs, expr)
		took, e := findLive(t, sent, 1, "-d", db, "-s", "1", expr)
		tooks = append(tooks, took)
		if took > liveIndexEach {
			t.Errorf("capture: needle %d found %v after it was sent, want under %v", i, took, liveIndexEach)
		}
		throughIndex(t, fmt.Sprintf("capture: needle %d", i), e)
		t.Logf("capture: needle %d found %v after it was sent, %d of %d blocks read", i, took.Round(time.Millisecond), e.read, e.blocks)
		if e.blocks < 5 && i > 4 {
			t.Errorf("capture: %d blocks in the database: the index had nothing to narrow", e.blocks)
		}
		time.Sleep(200 * time.Millisecond)
	}
	checkLiveMedian(t, "capture", tooks)
	stop.Store(true)
	<-flooded
	time.Sleep(500 * time.Millisecond)
	testkit.Stop(t, dump)
	rec.cmd.Process.Signal(os.Interrupt)
	if code := rec.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("capture exit %d: %s", code, rec.stderr)
	}

	imported := filepath.Join(dir, "i.db")
	mustRun(t, "import", "-d", imported, "--compression", "none", witness)
	done := time.Now()
	for i, expr := range exprs {
		e := explain(t, "-d", imported, "-s", "1", expr)
		want, _, err := testkit.RunTool("tcpdump", "-n", "-r", witness, expr)
		if err != nil {
			t.Fatal(err)
		}
		if int64(strings.Count(want, "\n")) != e.packets || e.packets != 1 {
			t.Errorf("import: needle %d: %d packets, tcpdump reads %d from the pcap", i, e.packets, strings.Count(want, "\n"))
		}
		throughIndex(t, fmt.Sprintf("import: needle %d", i), e)
		if i == 0 {
			t.Logf("import: needle found %v after the import ended, %d of %d blocks read", time.Since(done).Round(time.Millisecond), e.read, e.blocks)
		}
		if e.blocks < 10 {
			t.Errorf("import: %d blocks: the index had nothing to narrow", e.blocks)
		}
	}
	if took := time.Since(done); took > time.Duration(len(exprs))*time.Second {
		t.Errorf("import: the needles took %v to find after the import", took)
	}
}

// TestStenoreadSecurityOnionQuery: Security Onion's query through
// stenoread ("before T and after T and tcp and host A and host B and port
// p and port q") against the daemon's Stenographer endpoint, on a store
// of a UDP flood with one TCP connection among it, prints what tcpdump
// prints of the connection from its own capture of the same packets, and
// the daemon's audit line says its walk skipped the closed segments that
// cannot hold the connection by the catalog and read only the connection's
// blocks (at most 3) of the segments it opened.
func TestStenoreadSecurityOnionQuery(t *testing.T) {
	for _, tool := range []string{"stenoread", "stenocurl", "jq", "curl", "tcpdump"} {
		testkit.RequireTool(t, tool)
	}
	lab := netlab.New(t, "sonion")
	certs := makeCerts(t)
	d, dir, _ := startStoreDaemon(t, `store: %s
compression: none
segment:
  max_bytes: 1MiB
interfaces:
  - name: %s
listen: 127.0.0.1:0
tls:
  cert: %s
  key: %s
  client_ca: %s
  client_scopes: [read]
`, lab.HostIf, certs.serverCert, certs.serverKey, certs.ca)
	certDir := filepath.Join(dir, "steno-certs")
	os.Mkdir(certDir, 0o700)
	for src, dst := range map[string]string{certs.clientCert: "client_cert.pem", certs.clientKey: "client_key.pem", certs.ca: "ca_cert.pem"} {
		b, _ := os.ReadFile(src)
		os.WriteFile(filepath.Join(certDir, dst), b, 0o600)
	}
	_, port, _ := strings.Cut(d.addr, ":")
	stenoCfg := filepath.Join(dir, "steno.json")
	os.WriteFile(stenoCfg, []byte(fmt.Sprintf(`{"Host": "127.0.0.1", "Port": %s, "CertPath": %q}`, port, certDir)), 0o600)
	t.Setenv("STENOGRAPHER_CONFIG", stenoCfg)

	witness := filepath.Join(dir, "witness.pcap")
	dump := testkit.StartWitness(t, exec.Command("tcpdump", tcpdumpArgs(lab.HostIf, witness, "tcp", "-B", "65536")...))
	time.Sleep(time.Second)
	var stop atomic.Bool
	flooded := make(chan int, 1)
	go func() { flooded <- floodUntil(lab, 9999, 5000, &stop) }()
	time.Sleep(2 * time.Second)
	// One TCP connection from the peer to a listener on the host.
	ln, err := net.Listen("tcp4", net.JoinHostPort(lab.HostIP.String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	served := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Write([]byte("hello from the host\n"))
			var b [64]byte
			c.Read(b[:])
			c.Close()
		}
		served <- err
	}()
	t0 := time.Now()
	var clientPort int
	err = lab.InPeer(func() error {
		c, err := net.Dial("tcp4", ln.Addr().String())
		if err != nil {
			return err
		}
		defer c.Close()
		clientPort = c.LocalAddr().(*net.TCPAddr).Port
		var b [64]byte
		c.Read(b[:])
		c.Write([]byte("hello from the peer\n"))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // the flood goes on past the connection
	stop.Store(true)
	<-flooded
	time.Sleep(500 * time.Millisecond)
	testkit.Stop(t, dump)
	t1 := time.Now()

	serverPort := ln.Addr().(*net.TCPAddr).Port
	rfc := func(ts time.Time) string { return ts.UTC().Format(time.RFC3339) }
	query := fmt.Sprintf("before %s and after %s and tcp and host %s and host %s and port %d and port %d",
		rfc(t1.Add(time.Minute)), rfc(t0.Add(-time.Minute)), lab.PeerIP, lab.HostIP, clientPort, serverPort)
	cmd := exec.Command("stenoread", query, "-n", "-tt")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("stenoread %q: %v\n%s", query, err, errb.String())
	}
	want, _, err := testkit.RunTool("tcpdump", "-n", "-tt", "-r", witness,
		fmt.Sprintf("tcp and host %s and host %s and port %d and port %d", lab.PeerIP, lab.HostIP, clientPort, serverPort))
	if err != nil {
		t.Fatal(err)
	}
	// The two captures' kernel timestamps of a packet may differ by a
	// few microseconds: the lines are compared without them, the times
	// within 100 µs.
	got, exp := strings.Split(strings.TrimSpace(out.String()), "\n"), strings.Split(strings.TrimSpace(want), "\n")
	if len(got) != len(exp) || len(exp) < 6 {
		t.Fatalf("stenoread %q printed %d lines, tcpdump of its own capture %d:\n%s\n---\n%s", query, len(got), len(exp), out.String(), want)
	}
	for i := range exp {
		gts, gline, _ := strings.Cut(got[i], " ")
		wts, wline, _ := strings.Cut(exp[i], " ")
		g, _ := strconv.ParseFloat(gts, 64)
		w, _ := strconv.ParseFloat(wts, 64)
		if gline != wline || g-w > 100e-6 || w-g > 100e-6 {
			t.Errorf("line %d: stenoread printed\n%s\ntcpdump of its own capture\n%s", i+1, got[i], exp[i])
		}
	}
	d.stop(t, 5*time.Second)
	// The audit line of the Stenographer query says what its walk read.
	var audit string
	for _, line := range strings.Split(d.stderr.String(), "\n") {
		if strings.Contains(line, "msg=audit") && strings.Contains(line, "path=/query") {
			audit = line
		}
	}
	m := regexp.MustCompile(`blocks_read=(\d+) blocks=(\d+) segments_skipped=(\d+) segments=(\d+)`).FindStringSubmatch(audit)
	if m == nil {
		t.Fatalf("no audit line of the query with its plan: %q", audit)
	}
	read, _ := strconv.Atoi(m[1])
	blocks, _ := strconv.Atoi(m[2])
	skippedSegs, _ := strconv.Atoi(m[3])
	segs, _ := strconv.Atoi(m[4])
	t.Logf("stenoread: %d lines; the daemon read %d of %d blocks, skipped %d of %d closed segments by the catalog", strings.Count(want, "\n"), read, blocks, skippedSegs, segs)
	if read > 3 {
		t.Errorf("the daemon read %d of %d blocks of the segments it opened for one connection", read, blocks)
	}
	if segs < 2 || skippedSegs == 0 {
		t.Errorf("%d of %d closed segments skipped by the catalog", skippedSegs, segs)
	}
}

// The bound is 1 s from a packet sent to the packet found through
// the index. Each poll here is a whole `query --explain` process, which a
// loaded machine (CI runs packages side by side) can stall for longer than
// the recorder takes: the median of the needles must be within the bound,
// and each within liveIndexEach.
const (
	liveIndexMedian = time.Second
	liveIndexEach   = 5 * time.Second
)

func checkLiveMedian(t *testing.T, what string, tooks []time.Duration) {
	t.Helper()
	if len(tooks) == 0 {
		return
	}
	sorted := slices.Clone(tooks)
	slices.Sort(sorted)
	med := sorted[len(sorted)/2]
	t.Logf("%s: needles found through the index %v after they were sent (median of %d)", what, med.Round(time.Millisecond), len(sorted))
	if med > liveIndexMedian {
		t.Errorf("%s: median time to find a needle %v, want under %v", what, med, liveIndexMedian)
	}
}
