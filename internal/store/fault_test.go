package store

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"

	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// writePackets appends n packets of size bytes to the session in blocks
// of 64, committing at the end.
func writePackets(t testing.TB, w *Writer, from, n, size int) {
	t.Helper()
	var b Block
	b.Reset(1)
	for i := from; i < from+n; i++ {
		b.Append(int64(1e18)+int64(i)*1000, size, packet(i, size))
		if b.Count == 64 || i == from+n-1 {
			if err := w.Append(&b); err != nil {
				t.Fatal(err)
			}
			b.Reset(1)
		}
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	out.Close()
}

// crashedInTransaction returns a database as a writer that died in a bulk
// transaction leaves it: 100 packets committed, then 20 MB more written
// (the page cache spilled into the file) with its hot journal beside it.
func crashedInTransaction(t *testing.T) string {
	t.Helper()
	db, path := tempDB(t)
	s := &Session{LinkType: 1, Snaplen: 2000}
	if err := db.CreateSession(s); err != nil {
		t.Fatal(err)
	}
	w, _ := db.NewWriter(s.ID)
	writePackets(t, w, 0, 100, 1000)
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	committed, _ := os.Stat(path)
	end, ok := db.BeginBulk()
	if !ok {
		t.Fatal("no bulk mode")
	}
	// A small page cache spills early, as a long import's does.
	if err := db.conn.Exec("PRAGMA cache_size=8"); err != nil {
		t.Fatal(err)
	}
	writePackets(t, w, 100, 20000, 1000)
	// The "crash": the files as they are now, the transaction open.
	crashed := filepath.Join(t.TempDir(), "crashed.db")
	copyFile(t, path, crashed)
	copyFile(t, path+"-journal", crashed+"-journal")
	if fi, _ := os.Stat(crashed); fi.Size() <= committed.Size() {
		t.Fatalf("the transaction wrote nothing into the file (%d bytes, %d committed): no torn state to test", fi.Size(), committed.Size())
	}
	w.Rollback()
	w.Close()
	end()
	return crashed
}

// checkHundred checks that the database reads as its 100 committed
// packets, exactly.
func checkHundred(t *testing.T, db *DB) {
	t.Helper()
	ss, err := db.Sessions()
	if err != nil || len(ss) != 1 || ss[0].Packets != 100 {
		t.Fatalf("sessions %+v %v", ss, err)
	}
	n := 0
	err = db.Packets(ss[0].ID, Range{}, func(r Record) error {
		if r.Number != int64(n+1) || string(r.Data) != string(packet(n, 1000)) {
			return fmt.Errorf("packet %d differs", r.Number)
		}
		n++
		return nil
	})
	if err != nil || n != 100 {
		t.Fatalf("read %d packets: %v", n, err)
	}
}

// TestFaultHotJournalReadOnly: a reader (read-only open) of a database a
// writer left with a hot journal reads what was committed, exactly: it
// rolls the journal back where it may write. It failed with "attempt to
// write a readonly database".
func TestFaultHotJournalReadOnly(t *testing.T) {
	crashed := crashedInTransaction(t)
	if b, err := os.ReadFile(crashed + "-journal"); err != nil || len(b) < 8 || string(b[:8]) != "\xd9\xd5\x05\xf9\x20\xa1\x63\xd7" {
		t.Fatalf("no hot journal: %v", err)
	}
	db, err := Open(crashed, Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only open of a database with a hot journal: %v", err)
	}
	defer db.Close()
	checkHundred(t, db)
	if err := db.IntegrityCheck(); err != nil {
		t.Error(err)
	}
}

// TestFaultHotJournalImmutable: where the reader may not write (here
// chattr +i) the hot journal cannot be rolled back: the reader reads
// through it, the database as it was before the dead writer's
// transaction, exactly, and leaves both files as they were. It used to
// open such files immutable and read the dead writer's half-written pages.
func TestFaultHotJournalImmutable(t *testing.T) {
	testkit.RequireRoot(t, "chattr +i needs root")
	testkit.RequireTool(t, "chattr")
	crashed := crashedInTransaction(t)
	before, _ := os.ReadFile(crashed)
	if out, err := exec.Command("chattr", "+i", crashed).CombinedOutput(); err != nil {
		t.Fatalf("chattr: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("chattr", "-i", crashed).Run() })
	db, err := Open(crashed, Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	checkHundred(t, db)
	if err := db.IntegrityCheck(); err != nil {
		t.Error(err)
	}
	db.Close()
	after, _ := os.ReadFile(crashed)
	if string(before) != string(after) {
		t.Errorf("the database changed")
	}
	if !hotJournal(crashed) {
		t.Errorf("the journal is gone")
	}
	// With write access, the next open rolls it back for good.
	exec.Command("chattr", "-i", crashed).Run()
	db, err = Open(crashed, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	checkHundred(t, db)
	if hotJournal(crashed) {
		t.Errorf("the journal was not rolled back")
	}
}

// inChild runs this test binary as a child doing what mode says with the
// database at path; it returns once the child has done it, and leaves the
// child running (and, once killed, unreaped until the test ends).
func inChild(t *testing.T, mode, path string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "STORE_TEST_CHILD="+mode, "STORE_TEST_DB="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ready") {
		t.Fatalf("child: %q %v", line, err)
	}
	return cmd
}

// killToZombie kills the child with SIGKILL and waits until it is a
// zombie: dead, unreaped, its PID still answering kill(pid, 0).
func killToZombie(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	pid := cmd.Process.Pid
	cmd.Process.Signal(syscall.SIGKILL)
	for range 500 {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if i := strings.LastIndexByte(string(b), ')'); i > 0 && strings.HasPrefix(string(b[i:]), ") Z") {
			if !processAlive(pid) {
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

// storeChild is the child of inChild, run by TestMain in a process of
// its own: it records into a session of the given source, says so, and
// waits to be killed.
func storeChild(mode string) {
	t := testkit.ChildT{}
	db, err := Open(os.Getenv("STORE_TEST_DB"), Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	s := &Session{LinkType: 1, Snaplen: 2000, Source: mode}
	if err := db.CreateSession(s); err != nil {
		t.Fatal(err)
	}
	w, _ := db.NewWriter(s.ID)
	writePackets(t, w, 0, 100, 1000)
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	fmt.Println("ready")
	time.Sleep(time.Minute)
}

// TestMain runs the package's tests, or, in a child process one of them
// started, the child's part.
func TestMain(m *testing.M) {
	if mode := os.Getenv("STORE_TEST_CHILD"); mode != "" {
		storeChild(mode)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestFaultKillZombieCapture: a capture killed with SIGKILL and not yet
// reaped (a zombie, whose PID kill(pid, 0) answers, as a reused PID
// would) is interrupted, not recording: its recording lock went with it.
func TestFaultKillZombieCapture(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	child := inChild(t, SourceCapture, path)
	ro, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if ss, _ := ro.Sessions(); len(ss) != 1 || ss[0].Status != StatusRecording {
		t.Fatalf("while the capture runs: %+v", ss)
	}
	ro.Close()
	killToZombie(t, child)
	for _, opts := range []Options{{ReadOnly: true}, {}} {
		db, err := Open(path, opts)
		if err != nil {
			t.Fatal(err)
		}
		ss, _ := db.Sessions()
		db.Close()
		if len(ss) != 1 || ss[0].Status != StatusInterrupted || ss[0].Packets != 100 {
			t.Fatalf("%+v: after kill -9: %+v", opts, ss)
		}
	}
}

// TestFaultKillImport: an import of a file killed with SIGKILL leaves
// nothing: readers do not see its session, and the next read-write open
// deletes it with its packets.
func TestFaultKillImport(t *testing.T) {
	path := filepath.Join(t.TempDir(), "i.db")
	child := inChild(t, SourceImporting, path)
	killToZombie(t, child)
	ro, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	ss, err := ro.Sessions()
	ro.Close()
	if err != nil || len(ss) != 0 {
		t.Fatalf("a reader sees the killed import: %+v %v", ss, err)
	}
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	conn, err := sqlite3.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stmt, _, err := conn.Prepare(`SELECT (SELECT count(*) FROM sessions), (SELECT count(*) FROM blocks)`)
	if err != nil {
		t.Fatal(err)
	}
	defer stmt.Close()
	if !stmt.Step() || stmt.ColumnInt(0) != 0 || stmt.ColumnInt(1) != 0 {
		t.Fatalf("after a read-write open: %d sessions, %d blocks", stmt.ColumnInt(0), stmt.ColumnInt(1))
	}
}
