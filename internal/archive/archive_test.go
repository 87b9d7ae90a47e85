package archive

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/store"
	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// feed writes n packets, numbered by their first 8 bytes, into the
// recording in blocks of per, committing after each block.
func feed(t testing.TB, r *Recording, from, n, per int) {
	t.Helper()
	var b store.Block
	for i := from; i < from+n; {
		b.Reset(1)
		for j := 0; j < per && i < from+n; j++ {
			data := make([]byte, 200)
			binary.BigEndian.PutUint64(data, uint64(i))
			b.Append(int64(1e18)+int64(i)*1000, len(data), data)
			i++
		}
		if err := r.Append(&b); err != nil {
			t.Fatal(err)
		}
		if err := r.Commit(); err != nil {
			t.Fatal(err)
		}
	}
}

// readAll reads every packet of the store's segments of one recording
// in order and checks numbering and content.
func readAll(t *testing.T, a *Archive, want int) []Segment {
	t.Helper()
	segs, err := a.Segments()
	if err != nil {
		t.Fatal(err)
	}
	next := int64(1)
	for _, s := range segs {
		if s.FirstPacket != next {
			t.Fatalf("segment %s starts at packet %d, want %d", s.File, s.FirstPacket, next)
		}
		db, err := store.Open(a.Path(s), store.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		err = db.Packets(1, store.Range{}, func(rec store.Record) error {
			if rec.Number != next || int64(binary.BigEndian.Uint64(rec.Data)) != next-1 {
				t.Fatalf("packet %d holds %d", rec.Number, binary.BigEndian.Uint64(rec.Data))
			}
			next++
			return nil
		})
		db.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	if next-1 != int64(want) {
		t.Fatalf("read %d packets, want %d", next-1, want)
	}
	return segs
}

// Segments roll over between commits without losing or repeating a
// packet; numbers go on across segments; the catalog says what each holds.
func TestRollOverKeepsEveryPacket(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	a, err := Open(dir, Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("store directory: %v %v", fi.Mode(), err)
	}
	r, err := NewRecording(dir, RecordingConfig{Interface: "eth0", LinkType: 1, Snaplen: 65535, MaxBytes: 512 << 10})
	if err != nil {
		t.Fatal(err)
	}
	feed(t, r, 0, 20000, 997)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	segs := readAll(t, a, 20000)
	if len(segs) < 4 {
		t.Fatalf("%d segments for ~5 MB at 512 KiB each", len(segs))
	}
	for i, s := range segs {
		if !s.Closed || s.Packets == 0 || s.Recording != r.ID() || s.Bytes == 0 {
			t.Errorf("segment %d: %+v", i, s)
		}
		if i > 0 && s.FirstPacket != segs[i-1].FirstPacket+segs[i-1].Packets {
			t.Errorf("segment %d starts at %d after %d+%d", i, s.FirstPacket, segs[i-1].FirstPacket, segs[i-1].Packets)
		}
	}
}

// The catalog is an index: lost, it is rebuilt from the segments, with
// the same rows.
func TestCatalogRebuiltFromSegments(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	a, err := Open(dir, Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := NewRecording(dir, RecordingConfig{Interface: "eth1", Ring: 2, LinkType: 1, MaxBytes: 256 << 10})
	feed(t, r, 0, 5000, 450)
	r.Close()
	before, _ := a.Segments()
	a.Close()
	for _, f := range []string{CatalogFile, CatalogFile + "-wal", CatalogFile + "-shm"} {
		os.Remove(filepath.Join(dir, f))
	}
	// A reader finds the segments without writing a catalog.
	ro, err := Open(dir, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := ro.Segments(); len(got) != len(before) {
		t.Errorf("read-only open of a store without catalog: %d segments, want %d", len(got), len(before))
	}
	ro.Close()
	if _, err := os.Stat(filepath.Join(dir, CatalogFile)); err == nil {
		t.Error("a read-only open wrote a catalog")
	}
	a, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	after := readAll(t, a, 5000)
	if len(after) != len(before) {
		t.Fatalf("rebuilt %d segments, had %d", len(after), len(before))
	}
	for i := range after {
		b, g := before[i], after[i]
		if g.File != b.File || g.Interface != "eth1" || g.Ring != 2 || g.Recording != b.Recording || g.FirstPacket != b.FirstPacket ||
			g.Packets != b.Packets || g.MinNS != b.MinNS || g.MaxNS != b.MaxNS || !g.Closed {
			t.Errorf("segment %d rebuilt as %+v, was %+v", i, g, b)
		}
	}
}

// Expiring a segment unlinks it and its side files; a crash between
// marking and unlinking is finished at the next open.
func TestExpireAndRepair(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	a, err := Open(dir, Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := NewRecording(dir, RecordingConfig{Interface: "eth0", LinkType: 1, MaxBytes: 256 << 10})
	feed(t, r, 0, 5000, 450)
	r.Close()
	segs, _ := a.Segments()
	if err := a.Expire(segs[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(a.Path(segs[0])); !os.IsNotExist(err) {
		t.Errorf("expired segment still there: %v", err)
	}
	if a.TrashBytes() < segs[0].Bytes/2 {
		t.Errorf("trash holds %d bytes after expiring a segment of %d", a.TrashBytes(), segs[0].Bytes)
	}
	if err := a.Reap(nil); err != nil || a.TrashBytes() != 0 {
		t.Errorf("reaped: %v, %d bytes left", err, a.TrashBytes())
	}
	// A crash after the mark: the row says expiring, the file is there.
	if err := a.exec(`UPDATE segments SET expiring = 1 WHERE id = ?`, segs[1].ID); err != nil {
		t.Fatal(err)
	}
	a.Close()
	a, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := os.Stat(a.Path(segs[1])); !os.IsNotExist(err) {
		t.Errorf("interrupted expiry not finished: %v", err)
	}
	left, _ := a.Segments()
	if len(left) != len(segs)-2 || left[0].ID != segs[2].ID {
		t.Errorf("%d segments left, want %d", len(left), len(segs)-2)
	}
}

// An idle link closes its segment at its age, so retention can take it.
func TestTickClosesOldSegment(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	a, _ := Open(dir, Options{Create: true})
	defer a.Close()
	r, _ := NewRecording(dir, RecordingConfig{Interface: "eth0", LinkType: 1, MaxAge: 500 * time.Millisecond})
	defer r.Close()
	feed(t, r, 0, 10, 10)
	if segs, _ := a.Segments(); len(segs) != 1 || segs[0].Closed {
		t.Fatalf("segments %+v", segs)
	}
	time.Sleep(550 * time.Millisecond)
	if err := r.Tick(); err != nil {
		t.Fatal(err)
	}
	// Closed, and the next segment open, empty: the recording's mark of
	// life (a kill now leaves it interrupted, not complete).
	if segs, _ := a.Segments(); len(segs) != 2 || !segs[0].Closed || segs[1].Closed || segs[1].Packets != 0 {
		t.Fatalf("after its age: %+v", segs)
	}
	// An empty segment is not closed by age again, and is removed at the
	// end of the recording.
	time.Sleep(550 * time.Millisecond)
	if err := r.Tick(); err != nil {
		t.Fatal(err)
	}
	if segs, _ := a.Segments(); len(segs) != 2 {
		t.Fatalf("after the empty segment's age: %+v", segs)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if segs, _ := a.Segments(); len(segs) != 1 || !segs[0].Closed || segs[0].Packets != 10 {
		t.Fatalf("after Close: %+v", segs)
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "segments", "eth0", "*")); len(files) != 1 {
		t.Fatalf("files after Close: %v", files)
	}
}

// A segment left open by a recording that died (kill -9) is closed at
// the next open, with the counts its database holds, and marked
// interrupted; retention may then take it. The recording runs in a child
// process, killed while it records and never reaped: a zombie, whose PID
// kill(pid, 0) still answers.
func TestDeadRecordingsSegmentIsClosed(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	a, _ := Open(dir, Options{Create: true})
	a.Close()
	child := recordInChild(t, dir, 300)
	a, err := Open(dir, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	segs, _ := a.Segments()
	a.Close()
	if len(segs) != 1 || segs[0].Closed {
		t.Fatalf("segments while the recording lives %+v", segs)
	}
	child.Process.Signal(syscall.SIGKILL)
	waitZombie(t, child.Process.Pid)
	a, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	after, _ := a.Segments()
	if len(after) != 1 || !after[0].Closed || after[0].Packets != 300 || !after[0].Interrupted {
		t.Fatalf("after reopening: %+v", after)
	}
	child.Wait()
}

// recordInChild starts this test binary as a child that records n packets
// into the store dir and then waits to be killed; it returns once they are
// committed. The child is not reaped until the caller waits for it.
func recordInChild(t *testing.T, dir string, n int) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "ARCHIVE_TEST_CHILD="+dir, fmt.Sprintf("ARCHIVE_TEST_PACKETS=%d", n))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "recording") {
		t.Fatalf("child: %q %v", line, err)
	}
	return cmd
}

// waitZombie waits until pid is a zombie (killed, not reaped).
func waitZombie(t *testing.T, pid int) {
	t.Helper()
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

// recordingChild is the child of recordInChild, run by TestMain in a
// process of its own: it records n packets into dir, says so, and waits
// to be killed.
func recordingChild(dir string) {
	t := testkit.ChildT{}
	var n int
	fmt.Sscan(os.Getenv("ARCHIVE_TEST_PACKETS"), &n)
	r, err := NewRecording(dir, RecordingConfig{Interface: "eth0", LinkType: 1})
	if err != nil {
		t.Fatal(err)
	}
	feed(t, r, 0, n, 100)
	fmt.Println("recording")
	time.Sleep(time.Minute)
}

// TestMain runs the package's tests, or, in a child process one of them
// started, the child's part.
func TestMain(m *testing.M) {
	if dir := os.Getenv("ARCHIVE_TEST_CHILD"); dir != "" {
		recordingChild(dir)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// A segment file a killed recording left empty (created, no schema yet)
// or damaged never stops the store from opening.
func TestUnreadableSegmentsSetAside(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	a, _ := Open(dir, Options{Create: true})
	a.Close()
	os.MkdirAll(filepath.Join(dir, SegmentsDir, "eth0"), 0o700)
	empty := filepath.Join(dir, SegmentsDir, "eth0", "20260101T000000.000000000Z-r0.db")
	damaged := filepath.Join(dir, SegmentsDir, "eth0", "20260101T000001.000000000Z-r0.db")
	os.WriteFile(empty, nil, 0o600)
	os.WriteFile(damaged, make([]byte, 1<<20), 0o600)
	a, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("a store with an empty and a damaged segment: %v", err)
	}
	defer a.Close()
	if _, err := os.Stat(empty); !os.IsNotExist(err) {
		t.Errorf("the empty segment is still there")
	}
	if _, err := os.Stat(damaged + ".damaged"); err != nil {
		t.Errorf("the damaged segment was not set aside: %v", err)
	}
	if segs, _ := a.Segments(); len(segs) != 0 {
		t.Errorf("segments %+v", segs)
	}
}

// A segment file a recording is creating holds no session for a moment
// (store.Create, then the schema, then the session, then the catalog's
// row): a repair meanwhile (another ring starting, a hold from the
// command line) must leave it alone, and remove it only once the
// creation lock is gone with nothing in it.
func TestRepairSparesSegmentBeingCreated(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	a, err := Open(dir, Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	os.MkdirAll(filepath.Join(dir, SegmentsDir, "eth0"), 0o700)
	path := filepath.Join(dir, SegmentsDir, "eth0", "20260101T000000.000000000Z-r0.db")
	creating, err := store.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer creating.Release()
	if _, err := store.Create(path); !errors.Is(err, fs.ErrExist) {
		t.Errorf("a second Create of the same file: %v, want ErrExist", err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the file being created: %v, %v", fi, err)
	}
	a, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the repair removed a segment being created: %v", err)
	}
	a.Close()
	creating.Release()
	a, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("an empty segment nobody is creating is still there: %v", err)
	}
}

// Retention reads the holds once a pass and deletes what none covered:
// a hold added after it read them, for a segment it is about to delete,
// keeps that segment (ExpireUnheld), while one no hold covers goes, and
// a segment whose expiry was cut short is finished.
func TestExpireUnheldYieldsToNewHold(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	a, err := Open(dir, Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	r, _ := NewRecording(dir, RecordingConfig{Interface: "eth0", LinkType: 1, MaxBytes: 256 << 10})
	feed(t, r, 0, 5000, 450)
	r.Close()
	segs, _ := a.Segments()
	if len(segs) < 3 {
		t.Fatalf("%d segments", len(segs))
	}
	// The pass has read the holds (none) and listed segs; then a person
	// holds the second segment's last packet.
	if _, err := a.AddHold(segs[1].MaxNS, segs[1].MaxNS, "incident"); err != nil {
		t.Fatal(err)
	}
	if gone, err := a.ExpireUnheld(segs[1]); err != nil || gone {
		t.Fatalf("a segment held since the pass began: gone %v, %v", gone, err)
	}
	if _, err := os.Stat(a.Path(segs[1])); err != nil {
		t.Fatalf("the held segment's file: %v", err)
	}
	if gone, err := a.ExpireUnheld(segs[0]); err != nil || !gone {
		t.Fatalf("a segment no hold covers: gone %v, %v", gone, err)
	}
	if _, err := os.Stat(a.Path(segs[0])); !os.IsNotExist(err) {
		t.Errorf("the expired segment is still there: %v", err)
	}
	left, _ := a.Segments()
	if len(left) != len(segs)-1 || left[0].File != segs[1].File {
		t.Errorf("segments left: %d, first %s; want %d, first %s", len(left), left[0].File, len(segs)-1, segs[1].File)
	}
	// An expiry cut short after its row went: the file is moved all the same.
	if err := a.exec(`DELETE FROM segments WHERE file = ?`, segs[2].File); err != nil {
		t.Fatal(err)
	}
	if gone, err := a.ExpireUnheld(segs[2]); err != nil || !gone {
		t.Fatalf("a segment without its row: gone %v, %v", gone, err)
	}
	if _, err := os.Stat(a.Path(segs[2])); !os.IsNotExist(err) {
		t.Errorf("the segment without its row is still there: %v", err)
	}
}
