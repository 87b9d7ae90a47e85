package cli_test

// Tests for the defects of issue 11: wrong answers, lost data, access and
// limits. Each runs the real binary.

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"

	"github.com/packetrecorderd/packetrecorderd/internal/netlab"
	"github.com/packetrecorderd/packetrecorderd/internal/pcapio"
	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// udpFrame is an Ethernet/IPv4/UDP frame of payload bytes (at least 8),
// numbered i in its first eight.
func udpFrame(i, payload int) []byte {
	p := make([]byte, payload)
	binary.BigEndian.PutUint64(p, uint64(i))
	return testkit.UDPFrame(net.HardwareAddr{2, 0, 0, 0, 0, 2}, net.HardwareAddr{2, 0, 0, 0, 0, 1}, -1,
		net.IPv4(10, 1, 0, 1), net.IPv4(10, 1, 0, 2), 5000, p)
}

// writePcap writes n UDP frames, 1 ms apart from base (ns), to w.
func writePcap(t *testing.T, w io.Writer, base int64, first, n, payload int) {
	t.Helper()
	pw, err := pcapio.NewPcapWriter(w, 1, 65535, true)
	if err != nil {
		t.Fatal(err)
	}
	writeFrames(t, pw, base, first, n, payload)
}

func writeFrames(t *testing.T, pw pcapio.PacketWriter, base int64, first, n, payload int) {
	t.Helper()
	for i := first; i < first+n; i++ {
		f := udpFrame(i, payload)
		if err := pw.WritePacket(pcapio.Packet{Timestamp: base + int64(i)*1e6, OrigLen: len(f), LinkType: 1, Data: f}); err != nil {
			t.Fatal(err)
		}
	}
	if err := pw.Flush(); err != nil {
		t.Fatal(err)
	}
}

// pcapFile writes a capture of n frames and returns its path.
func pcapFile(t *testing.T, dir string, n, payload int) string {
	t.Helper()
	path := filepath.Join(dir, fmt.Sprintf("udp-%d.pcap", n))
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	writePcap(t, bw, 1_700_000_000e9, 0, n, payload)
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return path
}

// oneLine checks a failed command's stderr: one line, saying want.
func oneLineError(t *testing.T, r result, want string) {
	t.Helper()
	if r.code == 0 {
		t.Fatalf("exit 0, want an error saying %q; stdout %q", want, r.stdout)
	}
	lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
	if len(lines) != 1 || !strings.Contains(r.stderr, want) || strings.Contains(r.stderr, "goroutine ") {
		t.Errorf("stderr %q: want one line saying %q", r.stderr, want)
	}
}

// TestExportNeverDestroysTheDatabase: -o naming the database, one of its
// side files, or a link to it is refused, and the database is intact.
func TestExportNeverDestroysTheDatabase(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "p.db")
	mustRun(t, "import", "-d", db, pcapFile(t, dir, 50, 20))
	link := filepath.Join(dir, "link.pcap")
	os.Symlink(db, link)
	for _, out := range []string{db, db + "-wal", db + "-journal", link, "./" + filepath.Base(db)} {
		cmd := exec.Command(binPath, "export", "-d", db, "-s", "1", "-o", out)
		cmd.Dir = dir
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		if err == nil || !strings.Contains(stderr.String(), "is the database") {
			t.Errorf("export -o %s: %v, stderr %q", out, err, stderr.String())
		}
	}
	if ss := sessions(t, db); len(ss) != 1 || ss[0].Packets != 50 {
		t.Fatalf("database after the refused exports: %+v", ss)
	}
	checkIntegrity(t, db)
}

// TestExportInterruptedKeepsTheTarget: a signal or SIGKILL in the middle
// of an export leaves the target file as it was; an export that
// finishes replaces it whole.
func TestExportInterruptedKeepsTheTarget(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "p.db")
	mustRun(t, "import", "-d", db, pcapFile(t, dir, 400_000, 200))
	target := filepath.Join(dir, "out.pcap")
	old := []byte("the previous export, which must survive\n")
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			// Signal the export while it writes its temporary file; on a
			// busy machine it may finish first: then try again.
			var exp *background
			for try := 0; ; try++ {
				if try == 5 {
					t.Fatalf("the export always finished before the %v", sig)
				}
				os.WriteFile(target, old, 0o600)
				exp = start(t, "export", "-d", db, "-s", "1", "-o", target)
				writing := false
				for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
					if m, _ := filepath.Glob(filepath.Join(dir, ".out.pcap.tmp-*")); len(m) > 0 {
						writing = true
						break
					}
					if exp.cmd.ProcessState != nil {
						break
					}
				}
				if !writing {
					exp.wait(t, 10*time.Second)
					continue
				}
				exp.cmd.Process.Signal(sig)
				if code := exp.wait(t, 10*time.Second); code != 0 {
					break
				}
			}
			got, err := os.ReadFile(target)
			if err != nil || !bytes.Equal(got, old) {
				t.Errorf("after %v the target holds %d bytes (%v), want the old %d", sig, len(got), err, len(old))
			}
			if sig != syscall.SIGKILL {
				if m, _ := filepath.Glob(filepath.Join(dir, ".out.pcap.tmp-*")); len(m) > 0 {
					t.Errorf("temporary files left after %v: %v", sig, m)
				}
				if !strings.Contains(exp.stderr.String(), "interrupted") {
					t.Errorf("stderr %q", exp.stderr)
				}
			}
		})
	}
	mustRun(t, "export", "-d", db, "-s", "1", "-o", target, "-c", "1000")
	if out, err := exec.Command("capinfos", "-c", "-M", target).Output(); testkit.Strict() || err == nil {
		if !strings.Contains(string(out), "1000") {
			t.Errorf("the finished export: capinfos says %q (%v)", out, err)
		}
	}
}

// readBytes is what process pid has read so far (rchar of /proc/PID/io),
// 0 when that cannot be read.
func readBytes(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "rchar: "); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

// TestImportInterruptedFileStoresNothing: a file import stopped by a
// signal is all or nothing, as the README promises.
func TestImportInterruptedFileStoresNothing(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "p.db")
	big := pcapFile(t, dir, 1_500_000, 100)
	fi, err := os.Stat(big)
	if err != nil {
		t.Fatal(err)
	}
	bigSize := fi.Size()
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP} {
		imp := start(t, "import", "-d", db, big)
		// Signalled once it has read a tenth of the file (its rchar in
		// /proc), not after a fixed time: on a quiet machine the whole
		// file goes in within a few hundred milliseconds.
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			if readBytes(imp.cmd.Process.Pid) > bigSize/10 {
				break
			}
		}
		imp.cmd.Process.Signal(sig)
		if code := imp.wait(t, 20*time.Second); code == 0 {
			t.Fatalf("%v: the import finished first; make the file bigger", sig)
		}
		if !strings.Contains(imp.stderr.String(), "interrupted, nothing stored") {
			t.Errorf("%v: stderr %q", sig, imp.stderr)
		}
		if ss := sessions(t, db); len(ss) != 0 {
			t.Errorf("%v: sessions left behind: %+v", sig, ss)
		}
	}
	checkIntegrity(t, db)
}

// TestImportStreamKeepsEverything: `tcpdump -w - | packetrecorder import -`
// stopped with Ctrl-C (which reaches both) keeps every packet that comes
// through the pipe, committed as it arrives, and ends the session
// normally; the session starts at its first packet.
func TestImportStreamKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "p.db")
	cmd := exec.Command(binPath, "import", "-d", db, "-")
	pipe, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	imp := startCmd(t, cmd)
	base := int64(1_600_000_000e9)
	pw, err := pcapio.NewPcapWriter(pipe, 1, 65535, true)
	if err != nil {
		t.Fatal(err)
	}
	writeFrames(t, pw, base, 0, 84, 30)
	// Committed on a clock while the stream goes on: visible to a reader.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if ss := sessionsMaybe(db); len(ss) == 1 && ss[0].Packets == 84 {
			if ss[0].Status != "recording" {
				t.Errorf("a running stream import is %q", ss[0].Status)
			}
			// A session still being written cannot be deleted, and a
			// list with it deletes nothing.
			r := run(t, "sessions", "-d", db, "delete", "1")
			oneLineError(t, r, "still recording")
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("packets of a live stream not committed within 5 s: %+v", sessionsMaybe(db))
		}
		time.Sleep(20 * time.Millisecond)
	}
	imp.cmd.Process.Signal(syscall.SIGINT)
	time.Sleep(100 * time.Millisecond)
	writeFrames(t, pw, base, 84, 10, 30) // what tcpdump flushes after its own Ctrl-C
	pipe.Close()
	if code := imp.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit %d: %s", code, imp.stderr)
	}
	ss := sessions(t, db)
	if len(ss) != 1 || ss[0].Packets != 94 || ss[0].Status != "complete" {
		t.Fatalf("sessions %+v, want 94 packets, complete", ss)
	}
	if st, _ := time.Parse(time.RFC3339Nano, ss[0].StartedAt); st.UnixNano() != base {
		t.Errorf("session starts %s, its first packet %s", ss[0].StartedAt, time.Unix(0, base).UTC().Format(time.RFC3339Nano))
	}
}

// sessionsMaybe is sessions --json, nil when it fails.
func sessionsMaybe(db string) []sessionInfo {
	out, err := exec.Command(binPath, "sessions", "-d", db, "--json").Output()
	if err != nil {
		return nil
	}
	var ss []sessionInfo
	if json.Unmarshal(out, &ss) != nil {
		return nil
	}
	return ss
}

// TestSessionsDeleteIsAllOrNothing: one unknown id deletes nothing.
func TestSessionsDeleteIsAllOrNothing(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "p.db")
	f := pcapFile(t, dir, 10, 10)
	mustRun(t, "import", "-d", db, f)
	mustRun(t, "import", "-d", db, f)
	oneLineError(t, run(t, "sessions", "-d", db, "delete", "1", "999"), "session 999: no such session")
	if ss := sessions(t, db); len(ss) != 2 {
		t.Fatalf("a failed delete changed the sessions: %+v", ss)
	}
	mustRun(t, "sessions", "-d", db, "delete", "1", "2")
	if ss := sessions(t, db); len(ss) != 0 {
		t.Fatalf("sessions after delete: %+v", ss)
	}
	checkIntegrity(t, db)
}

// TestControlCharactersAreEscaped: names and notes go to a terminal
// escaped, one session a line.
func TestControlCharactersAreEscaped(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "p.db")
	mustRun(t, "import", "-d", db, pcapFile(t, dir, 3, 10))
	mustRun(t, "sessions", "-d", db, "rename", "1", "evil\x1b[2J\nsecond line\tand\rmore\x07")
	out := mustRun(t, "sessions", "-d", db)
	if strings.ContainsAny(out, "\x1b\r\x07\t") || strings.Count(out, "\n") != 2 {
		t.Errorf("control characters reach the terminal: %q", out)
	}
	if !strings.Contains(out, `evil\x1b[2J\nsecond line\tand\rmore\a`) {
		t.Errorf("name not shown escaped: %q", out)
	}
	// JSON keeps the exact text.
	if ss := sessions(t, db); ss[0].Name != "evil\x1b[2J\nsecond line\tand\rmore\x07" {
		t.Errorf("JSON name %q", ss[0].Name)
	}
}

// TestUserIsCheckedFirst: a bad -Z leaves no session behind.
func TestUserIsCheckedFirst(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "p.db")
	oneLineError(t, run(t, "capture", "-i", "lo", "-d", db, "-c", "1", "-Z", "nosuchuser-prd"), "nosuchuser-prd")
	oneLineError(t, run(t, "capture", "-i", "lo", "-d", db, "-c", "1", "--user", ""), "--user needs a user name")
	if _, err := os.Stat(db); err == nil {
		if ss := sessions(t, db); len(ss) != 0 {
			t.Errorf("sessions after a bad --user: %+v", ss)
		}
	}
}

// TestTimeBounds: the epoch is a bound like any other, windows out of
// the range of nanosecond timestamps and inverted windows are errors.
func TestTimeBounds(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "p.db")
	mustRun(t, "import", "-d", db, pcapFile(t, dir, 20, 10))
	count := func(args ...string) string {
		return strings.TrimSpace(mustRun(t, append([]string{"query", "-d", db, "-s", "1", "--count"}, args...)...))
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--until", "1970-01-01T00:00:00Z"}, "0"},
		{[]string{"--since", "1970-01-01T00:00:00Z"}, "20"},
		{[]string{"--since", "2262-04-11T00:00:00Z"}, "0"},
		{[]string{"--until", "1677-09-22T00:00:00Z"}, "0"},
		{[]string{"--since", "2023-11-14T22:13:20.005Z", "--until", "2023-11-14T22:13:20.009Z"}, "5"},
	} {
		if got := count(c.args...); got != c.want {
			t.Errorf("query %v --count = %s, want %s", c.args, got, c.want)
		}
	}
	oneLineError(t, run(t, "query", "-d", db, "-s", "1", "--since", "2300-01-01T00:00:00Z"), "timestamps reach from")
	oneLineError(t, run(t, "export", "-d", db, "-s", "1", "-o", filepath.Join(dir, "x.pcap"), "--until", "1600-01-01T00:00:00Z"), "timestamps reach from")
	oneLineError(t, run(t, "replay", "-d", db, "-s", "1", "--display-only", "--since", "2023-11-14T22:13:21Z", "--until", "2023-11-14T22:13:20Z"), "is after --until")
}

// TestMissingBlocksAreReported: a block row deleted behind our back (a
// damaged or edited database) makes query, export and replay fail, not
// answer with fewer packets.
func TestMissingBlocksAreReported(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "p.db")
	mustRun(t, "import", "-d", db, pcapFile(t, dir, 20000, 100))
	conn, err := sqlite3.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	err = conn.Exec(`DELETE FROM blocks WHERE id = (SELECT id FROM blocks ORDER BY first_packet LIMIT 1 OFFSET 2)`)
	conn.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"query", "-d", db, "-s", "1", "--count"},
		{"query", "-d", db, "-s", "1", "--count", "--filter", "udp"},
		{"query", "-d", db, "-s", "1", "-l", "0"},
		{"export", "-d", db, "-s", "1", "-o", filepath.Join(dir, "x.pcap")},
		{"replay", "-d", db, "-s", "1", "--display-only"},
	} {
		oneLineError(t, run(t, args...), "are missing")
	}
}

// TestLimits: an address-space or file-descriptor limit gives one clear
// line or fits; never a panic.
func TestLimits(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "p.db")
	file := pcapFile(t, dir, 100, 10)
	mustRun(t, "import", "-d", db, file)
	for _, c := range []struct{ limit, cmd string }{
		{"ulimit -v 2000000", "sessions"},
		{"ulimit -v 2000000", "query -s 1 -l 0"},
		{"ulimit -v 2000000", "import " + file},
		{"ulimit -n 10", "sessions"},
		{"ulimit -n 10", "import " + file},
		{"ulimit -n 8", "query -s 1"},
	} {
		sh := fmt.Sprintf("%s && exec %s %s -d %s", c.limit, binPath, c.cmd, db)
		if strings.HasPrefix(c.cmd, "import") {
			sh = fmt.Sprintf("%s && exec %s import -d %s %s", c.limit, binPath, db, file)
		}
		var stdout, stderr bytes.Buffer
		cmd := exec.Command("sh", "-c", sh)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		msg := stderr.String()
		if strings.Contains(msg, "goroutine ") || strings.Contains(msg, "panic") {
			t.Errorf("%s: %s: stack trace:\n%s", c.limit, c.cmd, msg)
			continue
		}
		if err != nil {
			lines := strings.Split(strings.TrimSpace(msg), "\n")
			if len(lines) != 1 || !(strings.Contains(msg, "ulimit -n") || strings.Contains(msg, "ulimit -v")) {
				t.Errorf("%s: %s: %v, stderr %q: want one line naming the limit", c.limit, c.cmd, err, msg)
			}
		}
		t.Logf("%s: %s: %v %s", c.limit, c.cmd, err, strings.TrimSpace(msg))
	}
	checkIntegrity(t, db)
}

// TestReadOnlyAccess: read access is enough to list, query, export and
// display; a database on a read-only mount reads too.
func TestReadOnlyAccess(t *testing.T) {
	netlab.Require(t)
	dir, err := os.MkdirTemp("", "prd-ro-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	db := filepath.Join(dir, "p.db")
	mustRun(t, "import", "-d", db, pcapFile(t, dir, 500, 50))
	os.Remove(db + "-reserve")
	os.Chmod(db, 0o644) // readable by others, writable by root only
	bin := filepath.Join(dir, "packetrecorder")
	data, _ := os.ReadFile(binPath)
	os.WriteFile(bin, data, 0o755)
	out := filepath.Join(dir, "nobody")
	os.MkdirAll(out, 0o777)
	os.Chmod(out, 0o777)
	reads := func(t *testing.T, db string, cred *syscall.Credential) {
		for _, args := range [][]string{
			{"sessions", "-d", db},
			{"query", "-d", db, "-s", "1", "--count"},
			{"query", "-d", db, "-s", "1", "--filter", "udp", "-l", "3"},
			{"export", "-d", db, "-s", "1", "-o", filepath.Join(out, "x.pcap")},
			{"replay", "-d", db, "-s", "1", "--display-only"},
		} {
			cmd := exec.Command(bin, args...)
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
			b, err := cmd.CombinedOutput()
			if err != nil {
				t.Errorf("%v: %v: %s", args, err, b)
			}
		}
	}
	t.Run("read permission only", func(t *testing.T) {
		reads(t, db, &syscall.Credential{Uid: 65534, Gid: 65534})
	})
	t.Run("read-only mount", func(t *testing.T) {
		mnt := filepath.Join(dir, "ro")
		os.Mkdir(mnt, 0o755)
		netlab.Run(t, "mount", "--bind", dir, mnt)
		t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })
		netlab.Run(t, "mount", "-o", "remount,bind,ro", mnt)
		reads(t, filepath.Join(mnt, "p.db"), nil)
	})
	checkIntegrity(t, db)
}

// TestPrivateSideFiles: the journal, WAL and shared-memory files our
// processes leave beside a database are as private as the database, even
// under a permissive umask and after kill -9.
func TestPrivateSideFiles(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "p.db")
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	// A stream import holds the database; a second process of ours joins,
	// which moves both to WAL; then both die without cleaning up.
	cmd := exec.Command(binPath, "import", "-d", db, "-")
	pipe, _ := cmd.StdinPipe()
	imp := startCmd(t, cmd)
	pw, err := pcapio.NewPcapWriter(pipe, 1, 65535, true)
	if err != nil {
		t.Fatal(err)
	}
	writeFrames(t, pw, 1e18, 0, 50, 100)
	deadline := time.Now().Add(5 * time.Second)
	for len(sessionsMaybe(db)) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	mustRun(t, "sessions", "-d", db, "note", "1", "a note")
	writeFrames(t, pw, 1e18, 50, 50, 100)
	time.Sleep(300 * time.Millisecond)
	imp.cmd.Process.Kill()
	imp.wait(t, 5*time.Second)
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			continue
		}
		names = append(names, e.Name()+" "+strconv.FormatUint(uint64(fi.Mode().Perm()), 8))
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v", e.Name(), fi.Mode().Perm())
		}
	}
	t.Logf("files beside the database: %v", names)
	if len(names) < 2 {
		t.Errorf("expected side files to check, found %v", names)
	}
}

// TestPcapngFidelity: packet comments survive import and export as
// tshark reads them, and the section's comments say what is true, one
// item each.
func TestPcapngFidelity(t *testing.T) {
	for _, tool := range []string{"editcap", "tshark", "capinfos"} {
		testkit.RequireTool(t, tool)
	}
	dir := t.TempDir()
	src := pcapFile(t, dir, 20, 30)
	ng := filepath.Join(dir, "c.pcapng")
	tmp := filepath.Join(dir, "t.pcapng")
	for _, args := range [][]string{
		{"-F", "pcapng", "-a", "2:first comment", "-a", "7:a comment, with a comma", src, tmp},
		{"-a", "2:second on the same packet", tmp, ng},
	} {
		if out, err := exec.Command("editcap", args...).CombinedOutput(); err != nil {
			t.Fatalf("editcap: %v: %s", err, out)
		}
	}
	db := filepath.Join(dir, "p.db")
	mustRun(t, "import", "-d", db, ng)
	mustRun(t, "sessions", "-d", db, "note", "1", "the note")
	out := filepath.Join(dir, "out.pcapng")
	mustRun(t, "export", "-d", db, "-s", "1", "-o", out)
	comments := func(f string) string {
		b, err := exec.Command("tshark", "-r", f, "-T", "fields", "-e", "frame.number", "-e", "frame.comment").Output()
		if err != nil {
			t.Fatalf("tshark -r %s: %v", f, err)
		}
		return string(b)
	}
	want, got := comments(ng), comments(out)
	if got != want || !strings.Contains(want, "first comment,second on the same packet") {
		t.Errorf("packet comments: tshark reads\n%s\nfrom the export, and\n%s\nfrom the original", got, want)
	}
	info, err := exec.Command("capinfos", "-k", out).Output()
	if err != nil {
		t.Fatal(err)
	}
	var items []string
	for _, l := range strings.Split(string(info), "\n") {
		if v, ok := strings.CutPrefix(l, "Capture comment:"); ok {
			items = append(items, strings.TrimSpace(v))
		}
	}
	host, _ := os.Hostname()
	if len(items) != 3 || items[0] != "packetrecorder session 1: c.pcapng" || items[1] != "imported from "+ng+" on "+host || items[2] != "the note" {
		t.Errorf("section comments %q", items)
	}
	// -o with a .pcapng name writes pcapng; .pcap writes pcap.
	for ext, want := range map[string]string{".pcapng": "File type:           pcapng\n", ".pcap": "File type:           nsecpcap\n"} {
		f := filepath.Join(dir, "x"+ext)
		mustRun(t, "export", "-d", db, "-s", "1", "-o", f)
		if b, _ := exec.Command("capinfos", "-t", "-M", f).Output(); !strings.Contains(string(b), want) {
			t.Errorf("%s: capinfos says %q, want %q", f, b, want)
		}
	}
}
