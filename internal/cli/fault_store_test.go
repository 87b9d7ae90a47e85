package cli_test

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
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

// Fault tests of the store directory: its catalog, its locks, its
// segments' journals, and processes killed beside it.

// storeStatus is what these tests read of GET /api/v1/status.
type storeStatus struct {
	Interfaces []struct {
		Name     string
		Packets  int64
		Received int64
		Drops    struct{ Kernel, App int64 }
	} `json:"interfaces"`
	Store struct {
		Holds []struct {
			ID     int64  `json:"id"`
			Reason string `json:"reason"`
		} `json:"holds"`
	} `json:"store"`
	Retention struct {
		DeletedPackets  int64 `json:"deleted_packets"`
		DeletedSegments int64 `json:"deleted_segments"`
	} `json:"retention"`
}

func (d *daemonProc) storeStatus(t *testing.T) storeStatus {
	t.Helper()
	code, body := d.get(t, "/api/v1/status")
	var st storeStatus
	if code != 200 || json.Unmarshal([]byte(body), &st) != nil {
		t.Fatalf("status: %d %s", code, body)
	}
	return st
}

// holdList is `hold list --json`.
func holdList(t *testing.T, st string) []struct {
	ID     int64  `json:"id"`
	Reason string `json:"reason"`
} {
	t.Helper()
	var hs []struct {
		ID     int64  `json:"id"`
		Reason string `json:"reason"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, "hold", "list", "-d", st, "--json")), &hs); err != nil {
		t.Fatal(err)
	}
	return hs
}

func rfc(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// countsAddUp checks that every packet the daemon captured is stored or
// was deleted by retention, or was counted as dropped.
func countsAddUp(t *testing.T, s storeStatus, stored int64) {
	t.Helper()
	var captured, drops int64
	for _, it := range s.Interfaces {
		captured += it.Packets
		drops += it.Drops.Kernel + it.Drops.App
	}
	if captured != stored+s.Retention.DeletedPackets {
		t.Errorf("captured %d != stored %d + deleted by retention %d (drops %d)", captured, stored, s.Retention.DeletedPackets, drops)
	}
}

// TestFaultCatalogRemovedWhileRecording: catalog.db deleted under a
// running daemon. A hold made then (exit 0) is honoured: retention keeps
// its window whatever the pressure, status and `hold list` both show it,
// and every read works throughout. The daemon used to go on with the
// deleted file: the hold went into a new catalog nobody read, its packets
// were deleted, and reads failed until a restart.
func TestFaultCatalogRemovedWhileRecording(t *testing.T) {
	lab := netlab.New(t, "fcr")
	dir := t.TempDir()
	st := filepath.Join(dir, "store")
	cfg := filepath.Join(dir, "c.yaml")
	writeConfig(t, cfg, fmt.Sprintf("store: %s\ncompression: none\nsegment:\n  max_bytes: 1MiB\nretention:\n  max_bytes: 12MiB\nlisten: 127.0.0.1:0\ninterfaces:\n  - name: %s\n    filter: udp dst port 9999\n", st, lab.HostIf))
	d := startDaemon(t, cfg)

	// Phase A: the traffic to hold.
	since := time.Now()
	sentA := flood(t, lab, 9999, 8_000, time.Second)
	time.Sleep(500 * time.Millisecond) // committed
	until := time.Now()
	inA := storeCount(t, st, "--since", rfc(since), "--until", rfc(until))
	if inA != int64(sentA) {
		t.Logf("all %d; sessions %s; ls %s", storeCount(t, st), mustRun(t, "sessions", "-d", st, "--json"), netlab.Run(t, "ls", "-la", filepath.Join(st, "segments", lab.HostIf)))
		t.Logf("status %+v\n%s", d.storeStatus(t), d.stderr)
		t.Fatalf("stored %d of the %d packets sent", inA, sentA)
	}

	if err := os.Remove(filepath.Join(st, "catalog.db")); err != nil {
		t.Fatal(err)
	}
	if n := storeCount(t, st, "--since", rfc(since), "--until", rfc(until)); n != inA {
		t.Errorf("with the catalog gone: %d packets in the window, want %d", n, inA)
	}
	out := mustRun(t, "hold", "-d", st, "--since", rfc(since), "--until", rfc(until), "--reason", "case 18")
	if !strings.HasPrefix(out, "hold ") {
		t.Fatalf("hold: %q", out)
	}

	// Phase B: four times the retention budget; retention must take it
	// from phase B, never from the held window.
	sentB := flood(t, lab, 9999, 10_000, 5*time.Second)
	time.Sleep(1500 * time.Millisecond)
	s := d.storeStatus(t)
	if len(s.Store.Holds) != 1 || s.Store.Holds[0].Reason != "case 18" {
		t.Errorf("status holds: %+v", s.Store.Holds)
	}
	if hs := holdList(t, st); len(hs) != 1 || hs[0].Reason != "case 18" {
		t.Errorf("hold list: %+v", hs)
	}
	if s.Retention.DeletedSegments == 0 {
		t.Errorf("retention deleted nothing: the test did not press it (sent %d)", sentB)
	}
	if n := storeCount(t, st, "--since", rfc(since), "--until", rfc(until)); n != inA {
		t.Errorf("the held window holds %d packets, want %d", n, inA)
	}
	d.stop(t, 5*time.Second)
	countsAddUp(t, s, storeCount(t, st))
	if !strings.Contains(d.stderr.String(), "catalog removed or replaced") {
		t.Errorf("no log line for the rebuilt catalog:\n%s", d.stderr)
	}
}

// TestFaultSecondDaemon: a second daemon on a store another daemon
// records into is refused at once with one line naming the first's PID;
// the first records on, every packet once. Both used to record: every
// packet stored twice.
func TestFaultSecondDaemon(t *testing.T) {
	lab := netlab.New(t, "fsd")
	dir := t.TempDir()
	st := filepath.Join(dir, "store")
	cfg := filepath.Join(dir, "c.yaml")
	writeConfig(t, cfg, fmt.Sprintf("store: %s\nlisten: 127.0.0.1:0\ninterfaces:\n  - name: %s\n    filter: udp dst port 9999\n", st, lab.HostIf))
	d := startDaemon(t, cfg)
	second := start(t, "daemon", "--config", cfg)
	if code := second.wait(t, 10*time.Second); code == 0 {
		t.Fatalf("the second daemon exited 0: %s", second.stderr)
	}
	lines := strings.Split(strings.TrimSpace(second.stderr.String()), "\n")
	last := lines[len(lines)-1]
	if !strings.Contains(last, fmt.Sprintf("PID %d", d.cmd.Process.Pid)) || !strings.Contains(last, "in use") {
		t.Errorf("the second daemon's error: %q", second.stderr)
	}
	sent := flood(t, lab, 9999, 5_000, time.Second)
	time.Sleep(500 * time.Millisecond)
	d.stop(t, 5*time.Second)
	if n := storeCount(t, st); n != int64(sent) {
		t.Errorf("stored %d packets, sent %d", n, sent)
	}
}

// TestFaultCatalogDamagedAtStart: a catalog that is garbage, or cut in
// half, neither stops the daemon nor the CLI: readers read from the
// segments, the daemon sets the file aside (catalog.db.damaged-TIME) and
// rebuilds it, and the hold made before the damage is still in force. Both
// used to fail until someone removed the file by hand.
func TestFaultCatalogDamagedAtStart(t *testing.T) {
	lab := netlab.New(t, "fcd")
	dir := t.TempDir()
	st := filepath.Join(dir, "store")
	cfg := filepath.Join(dir, "c.yaml")
	writeConfig(t, cfg, fmt.Sprintf("store: %s\ncompression: none\nsegment:\n  max_bytes: 1MiB\nlisten: 127.0.0.1:0\ninterfaces:\n  - name: %s\n    filter: udp dst port 9999\n", st, lab.HostIf))
	d := startDaemon(t, cfg)
	sent := flood(t, lab, 9999, 8_000, time.Second)
	time.Sleep(300 * time.Millisecond)
	mustRun(t, "hold", "-d", st, "--since", "2000-01-01T00:00:00Z", "--until", "2200-01-01T00:00:00Z", "--reason", "evidence")
	d.stop(t, 5*time.Second)
	catalog := filepath.Join(st, "catalog.db")
	for _, damage := range []string{"garbage", "half"} {
		t.Run(damage, func(t *testing.T) {
			b, err := os.ReadFile(catalog)
			if err != nil {
				t.Fatal(err)
			}
			switch damage {
			case "garbage":
				for i := range b {
					b[i] = byte(i*131 + 7)
				}
			case "half":
				b = b[:len(b)/2]
			}
			if err := os.WriteFile(catalog, b, 0o600); err != nil {
				t.Fatal(err)
			}
			if n := storeCount(t, st); n != int64(sent) {
				t.Errorf("read through a damaged catalog: %d packets, sent %d", n, sent)
			}
			if hs := holdList(t, st); len(hs) != 1 || hs[0].Reason != "evidence" {
				t.Errorf("hold list with a damaged catalog: %+v", hs)
			}
			d := startDaemon(t, cfg)
			if s := d.storeStatus(t); len(s.Store.Holds) != 1 {
				t.Errorf("status holds after the rebuild: %+v", s.Store.Holds)
			}
			d.stop(t, 5*time.Second)
			if n := storeCount(t, st); n != int64(sent) {
				t.Errorf("after the rebuild: %d packets, sent %d", n, sent)
			}
			aside, _ := filepath.Glob(catalog + ".damaged-*")
			if len(aside) == 0 {
				t.Errorf("the damaged catalog was not set aside")
			}
			for _, f := range aside {
				os.Remove(f)
			}
			if !strings.Contains(d.stderr.String(), "catalog damaged") {
				t.Errorf("no log line for the damaged catalog:\n%s", d.stderr)
			}
		})
	}
}

// startUnreaped starts the binary under a shell that then execs sleep,
// so that once killed it stays a zombie (nobody waits for it): its PID
// answers kill(pid, 0), as a reused PID would. It returns the PID once its
// stderr has a line containing ready, and the file that stderr goes to.
func startUnreaped(t *testing.T, ready string, args ...string) (int, string) {
	t.Helper()
	logf := filepath.Join(t.TempDir(), "stderr")
	cmd := exec.Command("sh", append([]string{"-c", `"$0" "$@" 2>"$PRD_LOG" & echo $!; exec sleep 120`, binPath}, args...)...)
	cmd.Env = append(os.Environ(), "PRD_LOG="+logf)
	sh := startCmd(t, cmd)
	pidLine := sh.waitLine(t, "", 5*time.Second)
	pid, err := strconv.Atoi(strings.TrimSpace(pidLine))
	if err != nil {
		t.Fatalf("pid %q", pidLine)
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	for deadline := time.Now().Add(15 * time.Second); ; {
		b, _ := os.ReadFile(logf)
		if strings.Contains(string(b), ready) {
			return pid, logf
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q from %v: %s", ready, args, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// killToZombie kills pid and waits until it is a zombie.
func killToZombie(t *testing.T, pid int) {
	t.Helper()
	syscall.Kill(pid, syscall.SIGKILL)
	for range 500 {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if i := strings.LastIndexByte(string(b), ')'); i > 0 && strings.HasPrefix(string(b[i:]), ") Z") {
			if syscall.Kill(pid, 0) != nil {
				t.Fatalf("kill(%d, 0) fails on a zombie", pid)
			}
			// The leader is a zombie; its other threads take a moment
			// more to go, and its files (and locks) with the last.
			for range 500 {
				if tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid)); len(tasks) <= 1 {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			time.Sleep(50 * time.Millisecond)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("process %d never became a zombie", pid)
}

type recordingInfo struct {
	Packets int64  `json:"packets"`
	Status  string `json:"status"`
}

func storeRecordings(t *testing.T, st string) []recordingInfo {
	t.Helper()
	var recs []recordingInfo
	if err := json.Unmarshal([]byte(mustRun(t, "sessions", "-d", st, "--json")), &recs); err != nil {
		t.Fatal(err)
	}
	return recs
}

// TestFaultKillDaemonQuickRestart: a daemon killed with SIGKILL and
// restarted at once, while its PID still answers kill(pid, 0) (a zombie
// here; a PID reused by the new daemon in a container), leaves its
// recording interrupted, not recording forever nor complete; the new
// daemon records on into the same store.
func TestFaultKillDaemonQuickRestart(t *testing.T) {
	lab := netlab.New(t, "fkd")
	dir := t.TempDir()
	st := filepath.Join(dir, "store")
	cfg := filepath.Join(dir, "c.yaml")
	writeConfig(t, cfg, fmt.Sprintf("store: %s\ncompression: none\nsegment:\n  max_bytes: 1MiB\nlisten: 127.0.0.1:0\ninterfaces:\n  - name: %s\n    filter: udp dst port 9999\n", st, lab.HostIf))
	pid, _ := startUnreaped(t, "msg=ready", "daemon", "--config", cfg)
	sent1 := flood(t, lab, 9999, 8_000, time.Second)
	time.Sleep(300 * time.Millisecond)
	killToZombie(t, pid)
	d := startDaemon(t, cfg)
	sent2 := flood(t, lab, 9999, 5_000, 500*time.Millisecond)
	time.Sleep(300 * time.Millisecond)
	if recs := storeRecordings(t, st); len(recs) < 2 || recs[0].Status != "interrupted" {
		t.Errorf("recordings while the new daemon runs: %+v", recs)
	}
	d.stop(t, 5*time.Second)
	recs := storeRecordings(t, st)
	if len(recs) < 2 || recs[0].Status != "interrupted" {
		t.Fatalf("recordings after kill -9, restart and stop: %+v", recs)
	}
	// The killed daemon loses at most its last commit (~150 ms); the new
	// one stores everything and ends complete.
	var after int64
	for _, r := range recs[1:] {
		after += r.Packets
		if r.Status != "complete" {
			t.Errorf("the new daemon's recording: %+v", r)
		}
	}
	if recs[0].Packets > int64(sent1) || recs[0].Packets < int64(sent1)-2_000 || after != int64(sent2) {
		t.Errorf("recordings %+v, sent %d then %d", recs, sent1, sent2)
	}
}

// TestFaultKillCaptureZombie: the same for a plain database: a capture
// killed with SIGKILL, not yet reaped, is interrupted for the next
// reader, with the packets it committed.
func TestFaultKillCaptureZombie(t *testing.T) {
	lab := netlab.New(t, "fkc")
	db := filepath.Join(t.TempDir(), "c.db")
	pid, _ := startUnreaped(t, "capturing", "capture", "-i", lab.HostIf, "-d", db, "udp dst port 9999")
	sent := flood(t, lab, 9999, 5_000, time.Second)
	time.Sleep(300 * time.Millisecond)
	killToZombie(t, pid)
	ss := sessions(t, db)
	if len(ss) != 1 || ss[0].Status != "interrupted" || ss[0].Packets > int64(sent) || ss[0].Packets < int64(sent)-2_000 {
		t.Fatalf("after kill -9: %+v (sent %d)", ss, sent)
	}
}

// newestSegment is the segment file last created for an interface.
func newestSegment(t *testing.T, st, iface string) string {
	t.Helper()
	segs, _ := filepath.Glob(filepath.Join(st, "segments", iface, "*.db"))
	if len(segs) == 0 {
		t.Fatal("no segment")
	}
	return segs[len(segs)-1] // named by creation time
}

// TestFaultHotJournalSegment: the segment being written made unwritable
// for 3 s (chattr +i) leaves, at worst, a hot journal beside it. Reads
// of the store go on working, exactly, before and after a restart (whose
// repair rolls back the journals of every segment, closed or not), and
// every packet captured is stored or counted as dropped. Every read of
// the store used to fail with "attempt to write a readonly database", even
// after restarts.
func TestFaultHotJournalSegment(t *testing.T) {
	testkit.RequireTool(t, "chattr")
	lab := netlab.New(t, "fhj")
	dir := t.TempDir()
	st := filepath.Join(dir, "store")
	cfg := filepath.Join(dir, "c.yaml")
	writeConfig(t, cfg, fmt.Sprintf("store: %s\ncompression: none\nsegment:\n  max_bytes: 64MiB\nlisten: 127.0.0.1:0\ninterfaces:\n  - name: %s\n    filter: udp dst port 9999\n", st, lab.HostIf))
	d := startDaemon(t, cfg)
	done := make(chan int)
	go func() { done <- flood(t, lab, 9999, 5_000, 6*time.Second) }()
	time.Sleep(time.Second)
	seg := newestSegment(t, st, lab.HostIf)
	netlab.Run(t, "chattr", "+i", seg)
	t.Cleanup(func() { exec.Command("chattr", "-i", seg).Run() })
	time.Sleep(3 * time.Second)
	netlab.Run(t, "chattr", "-i", seg)
	sent := <-done
	time.Sleep(time.Second)
	s := d.storeStatus(t)
	stored := storeCount(t, st)
	var captured, received, drops int64
	for _, it := range s.Interfaces {
		captured += it.Packets
		received += it.Received
		drops += it.Drops.Kernel + it.Drops.App
	}
	if captured != stored || received != stored+drops {
		t.Errorf("captured %d, received %d, stored %d, dropped %d", captured, received, stored, drops)
	}
	// While the interface's rings restart after the write error, nothing
	// is received: a gap the log and status tell of, not a silent loss.
	t.Logf("sent %d, received %d: %d sent while the rings restarted", sent, received, int64(sent)-received)
	d.stop(t, 5*time.Second)
	if n := storeCount(t, st); n != stored {
		t.Errorf("after stop: %d packets, %d before", n, stored)
	}
	d = startDaemon(t, cfg)
	d.stop(t, 5*time.Second)
	if n := storeCount(t, st); n != stored {
		t.Errorf("after a restart: %d packets, %d before", n, stored)
	}
	journals, _ := filepath.Glob(filepath.Join(st, "segments", lab.HostIf, "*-journal"))
	if len(journals) != 0 {
		t.Errorf("journals left after a restart: %v", journals)
	}
}

// seqFlood sends UDP datagrams numbered from first (a big-endian uint64
// at the start of the payload) at about rate packets/s for d; it returns
// the next number.
func seqFlood(t *testing.T, lab *netlab.Lab, port, rate int, d time.Duration, first uint64) uint64 {
	t.Helper()
	udp := lab.PeerUDP()
	payload := make([]byte, 100)
	dst := &net.UDPAddr{IP: lab.HostIP, Port: port}
	start := time.Now()
	n := uint64(float64(rate) * d.Seconds())
	for i := uint64(0); i < n; i++ {
		if i%100 == 0 {
			if w := time.Until(start.Add(time.Duration(float64(i) / float64(rate) * float64(time.Second)))); w > 0 {
				time.Sleep(w)
			}
		}
		binary.BigEndian.PutUint64(payload, first+i)
		udp.WriteToUDP(payload, dst)
	}
	return first + n
}

// TestFaultSlowReaderDuringRetention: an export reading at 1 MB/s while
// retention deletes the segments it selected reads each of them whole:
// exit 0 and every datagram number from the first to the last, once. It
// used to fail with "database is damaged (malformed)": the reaper
// truncated the file the export still read.
func TestFaultSlowReaderDuringRetention(t *testing.T) {
	lab := netlab.New(t, "fsr")
	dir := t.TempDir()
	st := filepath.Join(dir, "store")
	cfg := filepath.Join(dir, "c.yaml")
	writeConfig(t, cfg, fmt.Sprintf("store: %s\ncompression: none\nsegment:\n  max_bytes: 1MiB\nretention:\n  max_bytes: 14MiB\nlisten: 127.0.0.1:0\ninterfaces:\n  - name: %s\n    filter: udp dst port 9999\n", st, lab.HostIf))
	d := startDaemon(t, cfg)
	next := seqFlood(t, lab, 9999, 10_000, 2*time.Second, 0)
	time.Sleep(500 * time.Millisecond)
	before := d.storeStatus(t).Retention.DeletedSegments

	out := filepath.Join(dir, "out.pcap")
	exp := exec.Command(binPath, "export", "-d", st, "-o", "-")
	var stderr strings.Builder
	exp.Stderr = &stderr
	pipe, err := exp.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := exp.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { exp.Process.Kill() })
	// Retention deletes the oldest segments while the export reads.
	go seqFlood(t, lab, 9999, 10_000, 4*time.Second, next)
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16<<10)
	t0 := time.Now()
	var total int
	for {
		n, err := pipe.Read(buf)
		f.Write(buf[:n])
		total += n
		// 1 MB/s.
		if w := time.Until(t0.Add(time.Duration(total) * time.Microsecond)); w > 0 {
			time.Sleep(w)
		}
		if err != nil {
			break
		}
	}
	f.Close()
	if err := exp.Wait(); err != nil {
		t.Fatalf("export: %v: %s", err, stderr.String())
	}
	if deleted := d.storeStatus(t).Retention.DeletedSegments - before; deleted == 0 {
		t.Fatalf("retention deleted nothing during the export (%v, %d bytes)", time.Since(t0), total)
	}
	_, frames, err := netlab.ReadPcap(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(frames) == 0 {
		t.Fatal("nothing exported")
	}
	const off = 14 + 20 + 8
	prev := binary.BigEndian.Uint64(frames[0].Data[off:])
	for i, fr := range frames[1:] {
		if n := binary.BigEndian.Uint64(fr.Data[off:]); n != prev+1 {
			t.Fatalf("frame %d holds datagram %d after %d", i+1, n, prev)
		}
		prev++
	}
	t.Logf("exported datagrams %d to %d in %v", binary.BigEndian.Uint64(frames[0].Data[off:]), prev, time.Since(t0))
	d.stop(t, 5*time.Second)
}

// writeTestPcap writes n Ethernet frames of size bytes as a classic pcap
// file (microsecond timestamps, one per millisecond).
func writeTestPcap(t *testing.T, path string, n, size int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	hdr := make([]byte, 24)
	binary.LittleEndian.PutUint32(hdr[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 65535)
	binary.LittleEndian.PutUint32(hdr[20:], 1)
	w.Write(hdr)
	rec := make([]byte, 16+size)
	for i := 0; i < n; i++ {
		ts := int64(1.7e9)*1e6 + int64(i)*1000
		binary.LittleEndian.PutUint32(rec[0:], uint32(ts/1e6))
		binary.LittleEndian.PutUint32(rec[4:], uint32(ts%1e6))
		binary.LittleEndian.PutUint32(rec[8:], uint32(size))
		binary.LittleEndian.PutUint32(rec[12:], uint32(size))
		binary.BigEndian.PutUint64(rec[16+14:], uint64(i))
		w.Write(rec)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// TestFaultKillImport: an import killed with SIGKILL halfway leaves
// nothing: readers, even one that may not write (who cannot roll back
// the journal it left), read the database as it was before the import,
// and the next read-write open removes the import's session and packets.
// Read-only users got "attempt to write a readonly database", and an
// empty or partial session stayed behind.
func TestFaultKillImport(t *testing.T) {
	testkit.RequireRoot(t, "reads as another user")
	testkit.RequireTool(t, "capinfos")
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	os.Chmod(filepath.Dir(dir), 0o755)
	db := filepath.Join(dir, "i.db")
	small, big := filepath.Join(dir, "small.pcap"), filepath.Join(dir, "big.pcap")
	writeTestPcap(t, small, 1000, 120)
	writeTestPcap(t, big, 600_000, 200)
	mustRun(t, "import", "-d", db, small)
	// How many packets the small file holds, by capinfos.
	fields := strings.Fields(netlab.Run(t, "capinfos", "-c", "-M", "-T", "-r", small))
	want, err := strconv.ParseInt(fields[len(fields)-1], 10, 64)
	if err != nil {
		t.Fatalf("capinfos: %v", fields)
	}
	imp := start(t, "import", "--compression", "none", "-d", db, big) // raw: the file grows as it reads
	for deadline := time.Now().Add(20 * time.Second); ; {
		if fi, err := os.Stat(db); err == nil && fi.Size() > 40<<20 {
			break
		}
		if time.Now().After(deadline) || imp.cmd.ProcessState != nil {
			t.Fatalf("the import never grew the database: %s", imp.stderr)
		}
		time.Sleep(5 * time.Millisecond)
	}
	imp.cmd.Process.Kill()
	imp.wait(t, 10*time.Second)
	journal, _ := os.Stat(db + "-journal")
	t.Logf("journal left: %v", journal != nil && journal.Size() > 0)

	// A reader that may not write: the files readable by all, the
	// reader nobody.
	for _, f := range []string{db, db + "-journal", db + "-wal", db + "-shm"} {
		os.Chmod(f, 0o644)
	}
	os.Chmod(filepath.Dir(binPath), 0o755)
	nobody := exec.Command(binPath, "sessions", "-d", db, "--json")
	nobody.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := nobody.CombinedOutput()
	if err != nil {
		t.Errorf("sessions as a user who may not write: %v: %s", err, out)
	} else if ss := decodeSessions(t, out); len(ss) != 1 || ss[0].Name != "small.pcap" || ss[0].Packets != want {
		t.Errorf("sessions as a user who may not write: %+v", ss)
	}
	// Root may write: it reads the same, and its first read-write open
	// removes what the killed import left.
	if ss := sessions(t, db); len(ss) != 1 || ss[0].Name != "small.pcap" {
		t.Errorf("sessions after the killed import: %+v", ss)
	}
	mustRun(t, "import", "-d", db, small)
	ss := sessions(t, db)
	if len(ss) != 2 || ss[0].Packets != want || ss[1].Packets != want {
		t.Fatalf("sessions after the next import: %+v", ss)
	}
	out2, err := exec.Command("sqlite3", db, "select count(*) from sessions; select sum(packet_count) from blocks;").CombinedOutput()
	if f := strings.Fields(string(out2)); err != nil || len(f) != 2 || f[0] != "2" || f[1] != strconv.FormatInt(2*want, 10) {
		t.Errorf("sqlite3 says %q (%v), want 2 sessions and %d packets", out2, err, 2*want)
	}
}

func decodeSessions(t *testing.T, b []byte) []sessionInfo {
	t.Helper()
	var out []sessionInfo
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return out
}
