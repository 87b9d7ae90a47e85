package cli_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/archive"
	"github.com/packetrecorderd/packetrecorderd/internal/cli"
	"github.com/packetrecorderd/packetrecorderd/internal/netlab"
	"github.com/packetrecorderd/packetrecorderd/internal/pcapio"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// meaningStore records n UDP packets of 100 bytes payload on iface, 1 ms
// apart from base, into a store directory of small segments.
func meaningStore(t *testing.T, dir, iface string, base time.Time, n int) {
	t.Helper()
	a, err := archive.Open(dir, archive.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	r, err := archive.NewRecording(dir, archive.RecordingConfig{Interface: iface, LinkType: 1, Snaplen: 65535, MaxBytes: 128 << 10})
	if err != nil {
		t.Fatal(err)
	}
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	var b store.Block
	for i := 0; i < n; {
		b.Reset(1)
		for j := 0; j < 100 && i < n; j++ {
			f := testkit.UDPFrame(mac, mac, -1, net.IPv4(10, 0, 0, 1), net.IPv4(10, 0, 1, 1), 1000, fmt.Appendf(make([]byte, 0, 100), "%-100d", i))
			b.Append(base.Add(time.Duration(i)*time.Millisecond).UnixNano(), len(f), f)
			i++
		}
		if err := r.Append(&b); err != nil {
			t.Fatal(err)
		}
		if err := r.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
}

// treeSums is the SHA-256 of every regular file under dir, by path.
func treeSums(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	sums := map[string][32]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		sums[p] = sha256.Sum256(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return sums
}

// TestExportNeverWritesIntoAStore: an output inside a store directory
// (its catalog, a segment, a new name in it, a link to a segment, a path
// through a linked directory) is refused before anything is written, and
// every file of the store is byte for byte what it was.
func TestExportNeverWritesIntoAStore(t *testing.T) {
	dir := t.TempDir()
	st := filepath.Join(dir, "store")
	meaningStore(t, st, "eth0", time.Now().Add(-time.Hour), 3000)
	var seg string
	filepath.WalkDir(filepath.Join(st, "segments"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && seg == "" && strings.HasSuffix(p, ".db") {
			seg = p
		}
		return nil
	})
	if seg == "" {
		t.Fatal("no segment written")
	}
	linkFile := filepath.Join(dir, "segment-link.pcap")
	linkDir := filepath.Join(dir, "segdir")
	if err := os.Symlink(seg, linkFile); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Dir(seg), linkDir); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "p.db")
	mustRun(t, "import", "-d", other, pcapFile(t, dir, 50, 20))
	before := treeSums(t, st)
	outs := []string{filepath.Join(st, "catalog.db"), seg, filepath.Join(st, "new.pcap"), linkFile, filepath.Join(linkDir, "x.pcap")}
	for _, out := range outs {
		for _, src := range [][]string{{"-d", st}, {"-d", other, "-s", "1"}} {
			r := run(t, append(append([]string{"export"}, src...), "-o", out)...)
			oneLineError(t, r, "inside the store")
		}
	}
	after := treeSums(t, st)
	for p, sum := range before { // readers may add -wal and -shm files
		if after[p] != sum {
			t.Errorf("%s changed", p)
		}
	}
	if got := strings.TrimSpace(mustRun(t, "query", "-d", st, "--count")); got != "3000" {
		t.Fatalf("the store holds %s packets after the refused exports, want 3000", got)
	}
	if _, err := os.Stat(filepath.Join(st, "new.pcap")); err == nil {
		t.Fatal("new.pcap was written inside the store")
	}
	// A directory that merely has a subdirectory named segments is no store.
	proj := filepath.Join(dir, "proj")
	if err := os.MkdirAll(filepath.Join(proj, "segments"), 0o700); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "export", "-d", st, "-c", "10", "-o", filepath.Join(proj, "ok.pcap"))
	// Nor is a segment changed as a database: captured into, renamed,
	// deleted from, vacuumed.
	for _, args := range [][]string{
		{"capture", "-i", "lo", "-c", "1", "-d", seg},
		{"capture", "-i", "lo", "-c", "1", "-d", filepath.Join(st, "x.db")},
		{"sessions", "-d", seg, "rename", "1", "x"},
		{"sessions", "-d", seg, "delete", "1"},
		{"vacuum", "-d", seg},
		{"import", "-d", seg, pcapFile(t, dir, 5, 20)},
		{"import", "-d", filepath.Join(st, "segments", "y.db"), pcapFile(t, dir, 5, 20)},
	} {
		oneLineError(t, run(t, args...), "inside the store")
	}
	after = treeSums(t, st)
	for p, sum := range before {
		if after[p] != sum {
			t.Errorf("%s changed", p)
		}
	}
}

// TestReplayNeedsAnInterface: without -i, replay sends nothing, not even
// onto the interface the session was recorded on (here a lab's veth, so
// that what arrives can be seen), and says so in one line;
// --display-only still works without -i.
func TestReplayNeedsAnInterface(t *testing.T) {
	testkit.RequireRoot(t, "a lab's veth shows whether replay sent anything")
	testkit.RequireTool(t, "tcpdump")
	testkit.RequireTool(t, "sqlite3")
	lab := netlab.New(t, "noi")
	dir := t.TempDir()
	db := labSession(t, lab, dir, []int{100, 100, 100, 100, 100}, time.Millisecond)
	// The session says it was recorded on the lab's host end.
	if out, err := exec.Command("sqlite3", db, "UPDATE sessions SET interface = '"+lab.HostIf+"'").CombinedOutput(); err != nil {
		t.Fatalf("sqlite3: %v: %s", err, out)
	}
	rx := filepath.Join(dir, "rx.pcap")
	dump := testkit.StartWitness(t, lab.PeerCommand("tcpdump", tcpdumpArgs(lab.PeerIf, rx, "ether proto 0x88b5")...))
	r := run(t, "replay", "-d", db, "-s", "1", "--speed", "0")
	time.Sleep(200 * time.Millisecond)
	testkit.Stop(t, dump)
	oneLineError(t, r, "-i")
	if _, got, _ := netlab.ReadPcap(rx); len(got) != 0 {
		t.Errorf("replay without -i sent %d frames onto the recorded interface %s", len(got), lab.HostIf)
	}
	out := mustRun(t, "replay", "-d", db, "-s", "1", "--display-only", "--speed", "0")
	// One line a packet ("N +0.000123s summary"); a summary's further
	// lines (an unknown ethertype's hex dump) do not start so.
	n := len(regexp.MustCompile(`(?m)^[0-9]+ [+-]`).FindAllString(out, -1))
	if n != 5 {
		t.Errorf("replay --display-only without -i printed %d packets' lines, want 5:\n%s", n, out)
	}
}

// TestCountChecksTheBlocks: a block blob cut short (by sqlite3, as a
// damaged file would be) makes query --count fail naming the packets, as
// reading them does, instead of printing the index's number; whole blocks
// still count without being read.
func TestCountChecksTheBlocks(t *testing.T) {
	testkit.RequireTool(t, "sqlite3")
	dir := t.TempDir()
	db := filepath.Join(dir, "p.db")
	mustRun(t, "import", "-d", db, pcapFile(t, dir, 5000, 200))
	if got := strings.TrimSpace(mustRun(t, "query", "-d", db, "-s", "1", "--count")); got != "5000" {
		t.Fatalf("count of the whole database: %s, want the 5000 imported", got)
	}
	out, err := exec.Command("sqlite3", db, `SELECT count(*) FROM blocks;
		UPDATE blocks SET data = substr(data, 1, length(data) - 100) WHERE seq = 1;
		SELECT first_packet, first_packet + packet_count - 1 FROM blocks WHERE seq = 1;`).CombinedOutput()
	if err != nil {
		t.Fatalf("sqlite3: %v: %s", err, out)
	}
	lines := strings.Fields(string(out))
	if len(lines) != 2 || lines[0] == "1" {
		t.Fatalf("sqlite3 says %q: want several blocks", out)
	}
	span := strings.Split(lines[1], "|") // the damaged block's first and last packet
	want := "packets " + span[0] + " to " + span[1]
	for _, args := range [][]string{
		{"query", "-d", db, "-s", "1", "--count"},
		{"query", "-d", db, "-s", "1", "--count", "udp"},
		{"export", "-d", db, "-s", "1", "-o", filepath.Join(dir, "out.pcap")},
	} {
		r := run(t, args...)
		if r.code == 0 || !strings.Contains(r.stderr, "packet") || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("%s: exit %d, stdout %q, stderr %q: want a one-line error", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
		if args[0] == "query" && len(args) == 6 && !strings.Contains(r.stderr, want) {
			t.Errorf("%s: stderr %q does not name %s", strings.Join(args, " "), r.stderr, want)
		}
	}
}

// TestFaultCaptureStdoutClosed: capture -w - whose reader goes away after
// 100 bytes (as head -c 100). With -d the capture goes on into the
// database, says the file output ended, and completes; with -w alone it
// stops as tcpdump does, with its summary, and exits 0.
func TestFaultCaptureStdoutClosed(t *testing.T) {
	lab := netlab.New(t, "pipe")
	dir := t.TempDir()
	db := filepath.Join(dir, "p.db")
	const want = 60
	type piped struct {
		cmd    *exec.Cmd
		stderr *testkit.SyncBuffer
		done   chan error
	}
	startPiped := func(args ...string) (*piped, *os.File) {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		p := &piped{cmd: exec.Command(binPath, args...), stderr: new(testkit.SyncBuffer), done: make(chan error, 1)}
		p.cmd.Stdout, p.cmd.Stderr = w, p.stderr
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		w.Close()
		go func() { p.done <- p.cmd.Wait() }()
		t.Cleanup(func() {
			if p.cmd.ProcessState == nil {
				p.cmd.Process.Kill()
				<-p.done
			}
		})
		return p, r
	}
	waitFor := func(p *piped, substr string) {
		for deadline := time.Now().Add(10 * time.Second); !strings.Contains(p.stderr.String(), substr); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q from the capture: %q", substr, p.stderr)
			}
		}
	}
	exit := func(p *piped) (int, string) {
		select {
		case err := <-p.done:
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				return ee.ExitCode(), ee.String()
			}
			return 0, ""
		case <-time.After(10 * time.Second):
			t.Fatalf("still running 10 s after its reader went away: %q", p.stderr)
		}
		return -1, ""
	}
	withDB, rd1 := startPiped("capture", "-i", lab.HostIf, "-c", fmt.Sprint(want), "-d", db, "-w", "-", "udp dst port 7777")
	alone, rd2 := startPiped("capture", "-i", lab.HostIf, "-w", "-", "udp dst port 7777")
	waitFor(withDB, "session ")
	waitFor(alone, "no database")
	// head -c 100 on each: read 100 bytes, then close.
	got := make(chan error, 2)
	for _, rd := range []*os.File{rd1, rd2} {
		go func() {
			_, err := io.ReadFull(rd, make([]byte, 100))
			rd.Close()
			got <- err
		}()
	}
	udp := lab.PeerUDP()
	for i := 0; i < want; i++ {
		udp.WriteToUDP([]byte(fmt.Sprintf("pkt-%d", i)), &net.UDPAddr{IP: lab.HostIP, Port: 7777})
		time.Sleep(20 * time.Millisecond)
	}
	for range 2 {
		if err := <-got; err != nil {
			t.Fatalf("reading 100 bytes of -w -: %v", err)
		}
	}
	if code, how := exit(withDB); code != 0 {
		t.Fatalf("capture -d -w - after its reader went away: exit %d (%s), stderr %q", code, how, withDB.stderr)
	}
	if !strings.Contains(withDB.stderr.String(), "file output ended") {
		t.Errorf("capture -d -w -: stderr %q does not say the file output ended", withDB.stderr)
	}
	ss := sessions(t, db)
	if len(ss) != 1 || ss[0].Packets != want || ss[0].Status != "complete" {
		t.Errorf("session after the pipe closed: %+v; want %d packets, complete", ss, want)
	}
	if code, how := exit(alone); code != 0 {
		t.Fatalf("capture -w - alone after its reader went away: exit %d (%s), stderr %q", code, how, alone.stderr)
	}
	if e := alone.stderr.String(); !strings.Contains(e, "received by filter") || !strings.Contains(e, "capture stopped") {
		t.Errorf("capture -w - alone: stderr %q: want the summary and why it stopped", e)
	}
}

// TestFailedCaptureLeavesNothing: a capture that cannot start (an
// unprivileged user without capabilities) leaves no database and no
// -reserve file behind; a database that was there before stays.
func TestFailedCaptureLeavesNothing(t *testing.T) {
	testkit.RequireRoot(t, "runs the capture as nobody")
	dir, err := os.MkdirTemp("", "prd-nocap-") // t.TempDir's parent is private to root
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o777)
	bin := filepath.Join(dir, "packetrecorder")
	data, err := os.ReadFile(binPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	asNobody := func(args ...string) (string, int) {
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return string(out), ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), 0
	}
	out, code := asNobody("capture", "-i", "lo", "-c", "1", "-d", "x.db")
	if code == 0 || !strings.Contains(out, "CAP_NET_RAW") {
		t.Fatalf("unprivileged capture: exit %d, %q", code, out)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "x.db*")); len(left) != 0 {
		t.Errorf("a capture that never started left %v", left)
	}
	// A database that existed keeps its sessions.
	if out, code := asNobody("import", "-d", "y.db", pcapFile(t, dir, 10, 20)); code != 0 {
		t.Fatalf("import as nobody: %d %s", code, out)
	}
	asNobody("capture", "-i", "lo", "-c", "1", "-d", "y.db")
	if ss := sessions(t, filepath.Join(dir, "y.db")); len(ss) != 1 || ss[0].Packets != 10 {
		t.Errorf("the existing database after a failed capture: %+v", ss)
	}
}

// TestRenameRefusesAnEmptyName: a name no one can type back with -s
// (empty, spaces, invisible characters) is refused and the old one kept.
func TestRenameRefusesAnEmptyName(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "p.db")
	mustRun(t, "import", "-d", db, "--name", "first", pcapFile(t, dir, 10, 20))
	for _, name := range []string{"", "   ", "\t", "\u200b"} {
		oneLineError(t, run(t, "sessions", "-d", db, "rename", "1", name), "invalid name")
	}
	if ss := sessions(t, db); ss[0].Name != "first" {
		t.Errorf("name after the refused renames: %q", ss[0].Name)
	}
	mustRun(t, "sessions", "-d", db, "rename", "1", "second", "try")
	if ss := sessions(t, db); ss[0].Name != "second try" {
		t.Errorf("name after rename: %q", ss[0].Name)
	}
}

// TestKeepPartialExitsPartial: import --keep-partial of a file cut in
// the middle of a record keeps the whole records before the cut (counted
// here from the file's layout) as an interrupted session, says so, and
// exits 3 (cli.ExitPartial), not 1; without it the import fails with 1
// and keeps nothing.
func TestKeepPartialExitsPartial(t *testing.T) {
	dir := t.TempDir()
	full := pcapFile(t, dir, 100, 20)
	data, err := os.ReadFile(full)
	if err != nil {
		t.Fatal(err)
	}
	// 24-byte file header, then records of a 16-byte header and the frame.
	rec := (len(data) - 24) / 100
	cut := filepath.Join(dir, "cut.pcap")
	if err := os.WriteFile(cut, data[:24+40*rec+rec/2], 0o600); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "p.db")
	r := run(t, "import", "-d", db, cut)
	if r.code != 1 || len(sessions(t, db)) != 0 {
		t.Fatalf("import of a cut file: exit %d, %q; want 1 and nothing kept", r.code, r.stderr)
	}
	r = run(t, "import", "-d", db, "--keep-partial", cut)
	if r.code != 3 || cli.ExitPartial != 3 {
		t.Errorf("import --keep-partial: exit %d, want 3; stderr %q", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "kept the 40 packets") || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Errorf("import --keep-partial: stderr %q: want one line saying it kept 40 packets", r.stderr)
	}
	if ss := sessions(t, db); len(ss) != 1 || ss[0].Packets != 40 || ss[0].Status != "interrupted" {
		t.Errorf("sessions after --keep-partial: %+v", ss)
	}
}

// TestReplayCountsWhatItRewrote: frames skipped as larger than the MTU
// are not counted as rewritten, and a rewrite that leaves a frame as it
// was (--dstmac with the address it already has) counts nothing.
func TestReplayCountsWhatItRewrote(t *testing.T) {
	lab := netlab.New(t, "rwc")
	dir := t.TempDir()
	// Two of five frames exceed the veth's 1500-byte MTU.
	db := labSession(t, lab, dir, []int{100, 9000, 100, 64000, 100}, time.Millisecond)
	res := replayJSONRun(t, "-d", db, "-s", "1", "-i", lab.HostIf, "--speed", "0", "--srcmac", "02:00:00:00:00:09")
	if res.Packets != 3 || res.Skipped != 2 || res.Rewritten != 3 {
		t.Errorf("--srcmac: sent %d, skipped %d, rewritten %d; want 3, 2, 3", res.Packets, res.Skipped, res.Rewritten)
	}
	res = replayJSONRun(t, "-d", db, "-s", "1", "-i", lab.HostIf, "--speed", "0", "--dstmac", lab.PeerMAC.String())
	if res.Packets != 3 || res.Rewritten != 0 {
		t.Errorf("--dstmac as it was: sent %d, rewritten %d; want 3, 0", res.Packets, res.Rewritten)
	}
}

// TestOneMeaningPerFlag: -c N stops after N packets on every command, as
// tcpdump -c; --count prints only the number, as tcpdump --count (the
// expected numbers are tcpdump's own); --count N where -c N was meant
// is a one-line error saying what to type.
func TestOneMeaningPerFlag(t *testing.T) {
	testkit.RequireTool(t, "tcpdump")
	dir := t.TempDir()
	file := pcapFile(t, dir, 100, 20)
	db := filepath.Join(dir, "p.db")
	mustRun(t, "import", "-d", db, file)
	tcpdumpCount := func(args ...string) string {
		out, stderr, err := testkit.RunTool("tcpdump", append([]string{"-r", file, "--count"}, args...)...)
		if err != nil {
			t.Fatalf("tcpdump --count %v: %v %s", args, err, stderr)
		}
		n, _, _ := strings.Cut(strings.TrimSpace(out), " ")
		return n
	}
	for _, args := range [][]string{nil, {"-c", "5"}, {"-c", "5", "udp"}} {
		want := tcpdumpCount(args...)
		if got := strings.TrimSpace(mustRun(t, append([]string{"query", "-d", db, "-s", "1", "--count"}, args...)...)); got != want {
			t.Errorf("query --count %v: %s, tcpdump --count: %s", args, got, want)
		}
	}
	// -c N on export, query and replay: N packets.
	out := filepath.Join(dir, "five.pcap")
	mustRun(t, "export", "-d", db, "-s", "1", "-c", "5", "-o", out)
	if n, _, _ := strings.Cut(func() string { o, _, _ := testkit.RunTool("tcpdump", "-r", out, "--count"); return o }(), " "); n != "5" {
		t.Errorf("export -c 5 wrote %s packets", n)
	}
	if got := strings.Count(mustRun(t, "query", "-d", db, "-s", "1", "-c", "5"), "\n"); got != 5 {
		t.Errorf("query -c 5 printed %d lines", got)
	}
	if got := strings.Count(mustRun(t, "replay", "-d", db, "-s", "1", "-c", "5", "--display-only", "--speed", "0"), "\n"); got != 5 {
		t.Errorf("replay -c 5 --display-only printed %d lines", got)
	}
	for _, args := range [][]string{
		{"query", "-d", db, "-s", "1", "--count", "5"},
		{"export", "-d", db, "-s", "1", "--count", "5", "-o", filepath.Join(dir, "x.pcap")},
		{"replay", "-d", db, "-s", "1", "--count", "5", "--display-only"},
		{"capture", "-i", "lo", "-d", filepath.Join(dir, "c.db"), "--count", "5"},
	} {
		oneLineError(t, run(t, args...), "-c 5")
	}
	if _, err := os.Stat(filepath.Join(dir, "x.pcap")); err == nil {
		t.Error("export --count 5 wrote a file")
	}
}

// TestBytesMeanOneThing: "bytes" are the captured packet bytes stored,
// "wire_bytes" the original lengths, "file_bytes" what files take on
// disk, in sessions of a database and of a store (table and JSON) and in
// status. Expected values: the frames' lengths as written, and the sizes
// the filesystem reports for the segment files.
func TestBytesMeanOneThing(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "p.db")
	mustRun(t, "import", "-d", db, pcapFile(t, dir, 100, 20)) // 100 frames of 14+20+8+20 bytes
	var ss []map[string]any
	if err := json.Unmarshal([]byte(mustRun(t, "sessions", "-d", db, "--json")), &ss); err != nil {
		t.Fatal(err)
	}
	if len(ss) != 1 || ss[0]["bytes"] != float64(6200) || ss[0]["wire_bytes"] != float64(6200) {
		t.Errorf("sessions -d DB --json: %v; want bytes and wire_bytes 6200", ss)
	}
	if table := mustRun(t, "sessions", "-d", db); !strings.Contains(table, "BYTES") || !strings.Contains(table, " 6200 ") {
		t.Errorf("sessions -d DB:\n%s\nwant BYTES 6200", table)
	}

	st := filepath.Join(dir, "store")
	meaningStore(t, st, "eth0", time.Now().Add(-time.Hour), 3000)
	var files int64
	filepath.WalkDir(filepath.Join(st, "segments"), func(p string, d fs.DirEntry, err error) error {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			files += fi.Size()
		}
		return nil
	})
	var recs []map[string]any
	if err := json.Unmarshal([]byte(mustRun(t, "sessions", "-d", st, "--json")), &recs); err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0]["file_bytes"] != float64(files) {
		t.Errorf("sessions -d STORE --json: %v; want file_bytes %d (the segment files' sizes)", recs, files)
	}
	if _, ok := recs[0]["bytes"]; ok {
		t.Errorf("sessions -d STORE --json has \"bytes\" = %v: bytes are packet bytes, these are file bytes", recs[0]["bytes"])
	}
	if table := mustRun(t, "sessions", "-d", st); !strings.Contains(table, "FILE BYTES") || !strings.Contains(table, fmt.Sprint(files)) {
		t.Errorf("sessions -d STORE:\n%s\nwant FILE BYTES %d", table, files)
	}

	// status labels the daemon's numbers: the interfaces' packet bytes,
	// the store's file bytes.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"version":"x","started_at":"2026-12-07T10:00:00Z",
			"interfaces":[{"name":"eth0","state":"recording","rings":1,"packets":7,"bytes":4242}],
			"store":{"path":"/s","file_bytes":919191,"bytes":919191,"free_bytes":5,"segments":3},"retention":{}}`)
	}))
	defer srv.Close()
	out := mustRun(t, "status", "--server", srv.URL)
	if !strings.Contains(out, "919191 file bytes") || !regexp.MustCompile(`(?m)^INTERFACE .*\bBYTES\b`).MatchString(out) || !strings.Contains(out, " 4242 ") {
		t.Errorf("status:\n%s\nwant the interface's 4242 packet bytes under BYTES and the store's 919191 file bytes", out)
	}
}

// twoInterfaceFile writes a pcapng of n UDP frames alternating between
// interfaces eth0 and eth1 (0-based frame i on eth(i%2)).
func twoInterfaceFile(t *testing.T, path string, n int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := pcapio.NewPcapngWriter(f, pcapio.PcapngConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"eth0", "eth1"} {
		if _, err := w.AddInterface(pcapio.Interface{LinkType: 1, Snaplen: 65535, Name: name, TsResol: 9, FCSLen: -1}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		fr := udpFrame(i, 20)
		if err := w.WritePacket(pcapio.Packet{Timestamp: 1_700_000_000e9 + int64(i)*1e6, OrigLen: len(fr), LinkType: 1, Interface: i % 2, Data: fr}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
}

// TestEveryInterfaceIsShown: a two-interface pcapng's session lists both
// interfaces; each packet's line and JSON name its interface (tshark's
// frame.interface_name is the witness); merged sessions number packets
// SESSION:N so that no two lines share a number; a store read without
// --interface names the interface on every line, whatever the window.
func TestEveryInterfaceIsShown(t *testing.T) {
	testkit.RequireTool(t, "tshark")
	dir := t.TempDir()
	file := filepath.Join(dir, "two.pcapng")
	twoInterfaceFile(t, file, 10)
	witness, _, err := testkit.RunTool("tshark", "-r", file, "-T", "fields", "-e", "frame.interface_name")
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Fields(witness) // by frame, 1-based order
	if len(want) != 10 {
		t.Fatalf("tshark: %q", witness)
	}
	db := filepath.Join(dir, "p.db")
	mustRun(t, "import", "-d", db, file)
	mustRun(t, "import", "-d", db, pcapFile(t, dir, 7, 20))

	var ss []struct {
		Interfaces []struct {
			Name string `json:"name"`
		} `json:"interfaces"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, "sessions", "-d", db, "--json")), &ss); err != nil {
		t.Fatal(err)
	}
	if len(ss) != 2 || len(ss[0].Interfaces) != 2 || ss[0].Interfaces[0].Name != "eth0" || ss[0].Interfaces[1].Name != "eth1" {
		t.Errorf("sessions --json: %+v; want session 1 on eth0 and eth1", ss)
	}
	if table := mustRun(t, "sessions", "-d", db); !strings.Contains(table, "eth0,eth1") {
		t.Errorf("sessions:\n%s\nwant eth0,eth1", table)
	}

	var pkts []struct {
		N         int64   `json:"n"`
		Interface *string `json:"interface"`
		Session   int64   `json:"session"`
	}
	decodeAll := func(out string) {
		pkts = pkts[:0]
		dec := json.NewDecoder(strings.NewReader(out))
		for dec.More() {
			var p struct {
				N         int64   `json:"n"`
				Interface *string `json:"interface"`
				Session   int64   `json:"session"`
			}
			if err := dec.Decode(&p); err != nil {
				t.Fatal(err)
			}
			pkts = append(pkts, p)
		}
	}
	decodeAll(mustRun(t, "query", "-d", db, "-s", "1", "--json", "-c", "0"))
	for i, p := range pkts {
		if p.Interface == nil || *p.Interface != want[i] {
			t.Errorf("query --json packet %d: interface %v, tshark says %s", p.N, p.Interface, want[i])
		}
	}
	for i, line := range strings.Split(strings.TrimSpace(mustRun(t, "query", "-d", db, "-s", "1", "-c", "0")), "\n") {
		if f := strings.Fields(line); len(f) < 2 || f[0] != fmt.Sprint(i+1) || f[1] != want[i] {
			t.Errorf("query line %q: want packet %d on %s", line, i+1, want[i])
		}
	}
	// Sessions 1 and 2 merged: 17 lines, no number twice.
	seen := map[string]bool{}
	lines := strings.Split(strings.TrimSpace(mustRun(t, "query", "-d", db, "-s", "1,2", "-c", "0")), "\n")
	for _, line := range lines {
		id := strings.Fields(line)[0]
		if seen[id] || !regexp.MustCompile(`^[12]:\d+$`).MatchString(id) {
			t.Errorf("merged line %q: want a SESSION:N number no other line has", line)
		}
		seen[id] = true
	}
	if len(lines) != 17 {
		t.Errorf("merged: %d lines, want 17", len(lines))
	}
	decodeAll(mustRun(t, "query", "-d", db, "-s", "1,2", "--json", "-c", "0"))
	perSession := map[int64]int{}
	for _, p := range pkts {
		perSession[p.Session]++
		if p.Interface == nil {
			t.Errorf("merged JSON packet %d of session %d has no interface", p.N, p.Session)
		}
	}
	if perSession[1] != 10 || perSession[2] != 7 {
		t.Errorf("merged JSON by session: %v; want 10 of session 1, 7 of session 2", perSession)
	}

	// A store of eth0 and eth1, each an hour apart: a window of eth0's
	// packets alone still names the interface; --interface drops it.
	st := filepath.Join(dir, "store")
	base := time.Now().Add(-3 * time.Hour).Truncate(time.Second)
	meaningStore(t, st, "eth0", base, 200)
	meaningStore(t, st, "eth1", base.Add(time.Hour), 200)
	window := []string{"--since", base.UTC().Format(time.RFC3339Nano), "--until", base.Add(time.Minute).UTC().Format(time.RFC3339Nano), "-c", "3"}
	for _, line := range strings.Split(strings.TrimSpace(mustRun(t, append([]string{"query", "-d", st}, window...)...)), "\n") {
		if f := strings.Fields(line); len(f) < 2 || f[1] != "eth0" {
			t.Errorf("store line %q: want the interface eth0 after the number", line)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(mustRun(t, append([]string{"query", "-d", st, "--interface", "eth0"}, window...)...)), "\n") {
		if strings.Contains(line, "eth0") {
			t.Errorf("store line with --interface eth0 %q: names the interface", line)
		}
	}
}

// TestExportPcapKeepsEveryInterfacesSnaplen: a pcap has one snaplen; a
// session imported from a pcapng whose interfaces differ (64 and 65535)
// exports with the largest, so that the packets of the second keep every
// byte, as tcpdump reads them back. It took the first interface's and
// cut them all to 64 bytes.
func TestExportPcapKeepsEveryInterfacesSnaplen(t *testing.T) {
	dir := t.TempDir()
	in, db, out := filepath.Join(dir, "two.pcapng"), filepath.Join(dir, "p.db"), filepath.Join(dir, "out.pcap")
	f, err := os.Create(in)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pcapio.NewPcapngWriter(f, pcapio.PcapngConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range []pcapio.Interface{{LinkType: 1, Snaplen: 64, Name: "small", TsResol: 9, FCSLen: -1}, {LinkType: 1, Snaplen: 65535, Name: "big", TsResol: 9, FCSLen: -1}} {
		if _, err := w.AddInterface(it); err != nil {
			t.Fatal(err)
		}
	}
	big := udpFrame(1, 200)
	if err := w.WritePacket(pcapio.Packet{Timestamp: 1_700_000_000e9, OrigLen: len(big), LinkType: 1, Interface: 1, Data: big}); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	mustRun(t, "import", "-d", db, in)
	mustRun(t, "export", "-d", db, "-s", "1", "-o", out)
	_, frames, err := netlab.ReadPcap(out)
	if err != nil || len(frames) != 1 || !bytes.Equal(frames[0].Data, big) {
		n := -1
		if len(frames) == 1 {
			n = len(frames[0].Data)
		}
		t.Fatalf("exported: %d frames, the first %d bytes (%v), want one of %d bytes", len(frames), n, err, len(big))
	}
	if o, _, err := testkit.RunTool("tcpdump", "-r", out, "-c", "1", "-x"); err == nil && strings.Contains(o, "[|") {
		t.Errorf("tcpdump reads a cut packet: %s", o)
	}
}
