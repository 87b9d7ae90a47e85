package cli_test

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/netlab"
	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// accounted checks the promise of every stop path: each packet the
// kernel accepted is stored or counted as dropped.
func accounted(t *testing.T, s sessionInfo) {
	t.Helper()
	if s.KernelReceived != s.Packets+s.Dropped || s.KernelReceived == 0 {
		t.Errorf("kernel accepted %d, stored %d, counted as dropped %d: %d packets unaccounted for",
			s.KernelReceived, s.Packets, s.Dropped, s.KernelReceived-s.Packets-s.Dropped)
	}
}

// TestCaptureStopsOnSIGHUP: a hang-up ends a capture as Ctrl-C does, as
// tcpdump treats it.
func TestCaptureStopsOnSIGHUP(t *testing.T) {
	lab := netlab.New(t, "hup")
	db := filepath.Join(t.TempDir(), "h.db")
	rec := start(t, "capture", "-i", lab.HostIf, "-d", db, "-f", "udp dst port 9999")
	rec.waitLine(t, "session ", 10*time.Second)
	done := make(chan int)
	go func() { done <- flood(t, lab, 9999, 20_000, time.Second) }()
	time.Sleep(500 * time.Millisecond)
	rec.cmd.Process.Signal(syscall.SIGHUP)
	if code := rec.wait(t, 5*time.Second); code != 0 {
		t.Fatalf("SIGHUP: exit %d: %s", code, rec.stderr)
	}
	<-done
	ss := sessions(t, db)
	if len(ss) != 1 || ss[0].Status != "complete" || ss[0].Packets == 0 || ss[0].Dropped != 0 {
		t.Fatalf("sessions after SIGHUP: %+v", ss)
	}
	accounted(t, ss[0])
}

// TestInterfaceDownDuringCapture: the packets the ring had accepted when
// the interface went down are stored, or counted; the capture ends with
// one line and an interrupted session.
func TestInterfaceDownDuringCapture(t *testing.T) {
	lab := netlab.New(t, "ifdn")
	db := filepath.Join(t.TempDir(), "d.db")
	rec := start(t, "capture", "-i", lab.HostIf, "-d", db, "-f", "udp dst port 9999", "-b", "32MB")
	rec.waitLine(t, "session ", 10*time.Second)
	go flood(t, lab, 9999, 80_000, 2*time.Second)
	time.Sleep(700 * time.Millisecond)
	netlab.Run(t, "ip", "link", "set", lab.HostIf, "down")
	// stderr: the start line, the statistics, then the error in one line.
	s := checkDownExit(t, rec, db)
	t.Logf("stored %d of %d accepted, %d dropped", s.Packets, s.KernelReceived, s.Dropped)
}

// TestSqliteShellCostsNoPacket: the README invites users to read the
// database with the sqlite3 shell; one holding a read transaction while a
// lone capture writes costs no packet.
func TestSqliteShellCostsNoPacket(t *testing.T) {
	lab := netlab.New(t, "shell")
	testkit.RequireTool(t, "sqlite3")
	db := filepath.Join(t.TempDir(), "s.db")
	rec := start(t, "capture", "-i", lab.HostIf, "-d", db, "-f", "udp dst port 9999", "-b", "4MB")
	rec.waitLine(t, "session ", 10*time.Second)
	done := make(chan int)
	go func() { done <- flood(t, lab, 9999, 50_000, 5*time.Second) }()
	time.Sleep(500 * time.Millisecond)
	shell := exec.Command("sqlite3", db)
	in, err := shell.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	shell.Stdout, shell.Stderr = io.Discard, io.Discard
	if err := shell.Start(); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(in, "BEGIN; SELECT count(*) FROM blocks; SELECT sum(packets) FROM sessions;")
	time.Sleep(3500 * time.Millisecond) // longer than a commit may wait, and than the ring lasts
	fmt.Fprintln(in, "COMMIT;")
	in.Close()
	shell.Wait()
	sent := <-done
	time.Sleep(300 * time.Millisecond)
	rec.cmd.Process.Signal(syscall.SIGINT)
	if code := rec.wait(t, 40*time.Second); code != 0 {
		t.Fatalf("capture beside a sqlite3 reader: exit %d: %s", code, rec.stderr)
	}
	ss := sessions(t, db)
	if len(ss) != 1 || ss[0].Status != "complete" || ss[0].Dropped != 0 {
		t.Fatalf("sessions: %+v", ss)
	}
	accounted(t, ss[0])
	if ss[0].Packets < int64(sent)*99/100 {
		t.Errorf("stored %d of %d sent", ss[0].Packets, sent)
	}
	checkIntegrity(t, db)
}

// TestDiskFullImportAndDelete: an import that fills the disk says "disk
// full" and leaves nothing; at 100% our own delete still frees a session.
func TestDiskFullImportAndDelete(t *testing.T) {
	netlab.Require(t)
	dir := t.TempDir()
	big := pcapFile(t, dir, 120_000, 200) // about 30 MB
	small := pcapFile(t, dir, 2000, 100)
	mnt := filepath.Join(dir, "mnt")
	os.Mkdir(mnt, 0o700)
	netlab.Run(t, "mount", "-t", "tmpfs", "-o", "size=12m", "prd-dfull", mnt)
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })
	db := filepath.Join(mnt, "p.db")
	// Raw blocks: pcapFile's payloads compress to next to nothing.
	mustRun(t, "import", "--compression", "none", "-d", db, small)
	r := run(t, "import", "--compression", "none", "-d", db, big)
	oneLineError(t, r, "disk full")
	if !strings.Contains(r.stderr, "nothing stored") {
		t.Errorf("stderr %q: want nothing stored", r.stderr)
	}
	if ss := sessions(t, db); len(ss) != 1 || ss[0].Packets != 2000 {
		t.Fatalf("sessions after a disk-full import: %+v", ss)
	}
	// Fill the disk to the last byte.
	fill, err := os.Create(filepath.Join(mnt, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	for {
		if _, err := fill.Write(buf); err != nil {
			break
		}
	}
	for n := len(buf) / 2; n > 0; n /= 2 {
		for {
			if _, err := fill.Write(buf[:n]); err != nil {
				break
			}
		}
	}
	fill.Close()
	var st syscall.Statfs_t
	syscall.Statfs(mnt, &st)
	t.Logf("free on the full disk: %d bytes", st.Bavail*uint64(st.Bsize))
	if out, err := exec.Command(binPath, "sessions", "-d", db, "delete", "1").CombinedOutput(); err != nil {
		t.Fatalf("delete on a full disk: %v: %s", err, out)
	}
	if ss := sessions(t, db); len(ss) != 0 {
		t.Fatalf("sessions after delete: %+v", ss)
	}
	os.Remove(filepath.Join(mnt, "filler"))
	checkIntegrity(t, db)
}
