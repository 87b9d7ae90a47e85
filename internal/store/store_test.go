package store

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func tempDB(t *testing.T) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "test.db")
	db, err := Open(path, Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, path
}

// packet returns deterministic test bytes of length n.
func packet(i, n int) []byte {
	b := make([]byte, n)
	for j := range b {
		b[j] = byte(i*7 + j)
	}
	return b
}

func TestWriteAndReadBack(t *testing.T) {
	db, path := tempDB(t)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("database mode %v, want 0600", fi.Mode().Perm())
	}
	s := &Session{Name: "t", Interface: "lo", LinkType: 1, Snaplen: 65535}
	if err := db.CreateSession(s); err != nil {
		t.Fatal(err)
	}
	w, err := db.NewWriter(s.ID)
	if err != nil {
		t.Fatal(err)
	}
	const total = 1000
	var b Block
	b.Reset(1)
	var wantBytes, wantWire int64
	for i := 0; i < total; i++ {
		n := 1 + i%300
		b.Append(int64(1e18)+int64(i)*1000, n+5, packet(i, n))
		wantBytes += int64(n)
		wantWire += int64(n + 5)
		if b.Count == 64 || i == total-1 {
			if err := w.Append(&b); err != nil {
				t.Fatal(err)
			}
			b.Reset(1)
		}
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	got, err := db.Session(s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Packets != total || got.Bytes != wantBytes || got.WireBytes != wantWire || got.Status != StatusRecording {
		t.Errorf("session counters %+v, want %d packets %d bytes %d wire", got, total, wantBytes, wantWire)
	}
	i := 0
	err = db.Packets(s.ID, Range{}, func(r Record) error {
		n := 1 + i%300
		if r.Number != int64(i+1) || r.Timestamp != int64(1e18)+int64(i)*1000 || r.OrigLen != n+5 || !bytes.Equal(r.Data, packet(i, n)) {
			t.Fatalf("packet %d: got n=%d ts=%d len=%d", i+1, r.Number, r.Timestamp, r.OrigLen)
		}
		i++
		return nil
	})
	if err != nil || i != total {
		t.Fatalf("read %d packets, err %v", i, err)
	}
	// From and time ranges use the index and still return exact packets.
	var nums []int64
	db.Packets(s.ID, Range{From: 990}, func(r Record) error { nums = append(nums, r.Number); return nil })
	if len(nums) != 11 || nums[0] != 990 {
		t.Errorf("From=990 gave %v", nums)
	}
	nums = nil
	db.Packets(s.ID, Range{Since: int64(1e18) + 100*1000, HasSince: true, Until: int64(1e18) + 199*1000, HasUntil: true}, func(r Record) error { nums = append(nums, r.Number); return nil })
	if len(nums) != 100 || nums[0] != 101 || nums[99] != 200 {
		t.Errorf("time range gave %d packets starting %v", len(nums), nums[:1])
	}
	// Count agrees with walking, whole blocks or cut at both ends.
	for _, r := range []Range{{}, {Since: int64(1e18) + 100*1000, HasSince: true, Until: int64(1e18) + 199*1000, HasUntil: true}, {Since: int64(1e18) + 5*1000, HasSince: true}, {Until: int64(1e18) + 70*1000, HasUntil: true}, {From: 990}} {
		var walked int64
		db.Packets(s.ID, r, func(Record) error { walked++; return nil })
		n, err := db.Count(s.ID, r)
		if err != nil || n != walked || n == 0 {
			t.Errorf("Count(%+v) = %d, %v; walking gives %d", r, n, err, walked)
		}
	}
	// A writer reopened on the same session continues the numbering.
	w2, err := db.NewWriter(s.ID)
	if err != nil {
		t.Fatal(err)
	}
	b.Reset(1)
	b.Append(5, 3, []byte{1, 2, 3})
	w2.Append(&b)
	w2.Commit()
	w2.Close()
	var last int64
	db.Packets(s.ID, Range{}, func(r Record) error { last = r.Number; return nil })
	if last != total+1 {
		t.Errorf("last packet number %d, want %d", last, total+1)
	}
	if err := db.IntegrityCheck(); err != nil {
		t.Error(err)
	}
}

func TestRollbackKeepsNumbering(t *testing.T) {
	db, _ := tempDB(t)
	s := &Session{LinkType: 1, Snaplen: 100}
	db.CreateSession(s)
	w, _ := db.NewWriter(s.ID)
	defer w.Close()
	var b Block
	b.Reset(1)
	b.Append(1, 1, []byte{1})
	w.Append(&b)
	w.Rollback()
	w.Append(&b)
	w.Commit()
	var nums []int64
	db.Packets(s.ID, Range{}, func(r Record) error { nums = append(nums, r.Number); return nil })
	if len(nums) != 1 || nums[0] != 1 {
		t.Errorf("after rollback got packets %v, want [1]", nums)
	}
}

func TestSessionManagement(t *testing.T) {
	db, _ := tempDB(t)
	a := &Session{Name: "a", LinkType: 1, Snaplen: 100}
	b := &Session{Name: "b", LinkType: 1, Snaplen: 100}
	db.CreateSession(a)
	db.CreateSession(b)
	if a.ID == b.ID || a.UUID == b.UUID || len(a.UUID) != 36 {
		t.Fatalf("ids %d %d uuids %q %q", a.ID, b.ID, a.UUID, b.UUID)
	}
	if err := db.Rename(a.ID, "renamed"); err != nil {
		t.Fatal(err)
	}
	if err := db.SetNotes(a.ID, "note"); err != nil {
		t.Fatal(err)
	}
	end := time.Unix(0, 1234567890123456789)
	if err := db.Finish(a.ID, StatusComplete, end, 10, 2, 1); err != nil {
		t.Fatal(err)
	}
	got, _ := db.Session(a.ID)
	if got.Name != "renamed" || got.Notes != "note" || got.Status != StatusComplete || !got.Ended.Equal(end) ||
		got.KernelReceived != 10 || got.Dropped() != 3 {
		t.Errorf("got %+v", got)
	}
	w, _ := db.NewWriter(b.ID)
	var blk Block
	blk.Reset(1)
	blk.Append(1, 1, []byte{1})
	w.Append(&blk)
	w.Commit()
	w.Close()
	// A session still recording (by another live process: PID 1) is
	// refused, and so is the whole list it is part of.
	if err := db.conn.Exec(fmt.Sprintf("UPDATE sessions SET pid = 1 WHERE id = %d", b.ID)); err != nil {
		t.Fatal(err)
	}
	if err := db.Delete(a.ID, b.ID); !errors.Is(err, ErrRecording) {
		t.Fatalf("deleting a recording session: %v, want ErrRecording", err)
	}
	if _, err := db.Session(a.ID); err != nil {
		t.Fatalf("a refused delete removed session %d: %v", a.ID, err)
	}
	if err := db.Finish(b.ID, StatusComplete, end, 1, 0, 0); err != nil {
		t.Fatal(err)
	}
	// One unknown id among known ones: nothing is deleted.
	if err := db.Delete(b.ID, 99); !errors.Is(err, ErrNoSession) {
		t.Fatalf("delete with an unknown id: %v", err)
	}
	if _, err := db.Session(b.ID); err != nil {
		t.Fatalf("a failed delete removed session %d: %v", b.ID, err)
	}
	if err := db.Delete(b.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Session(b.ID); !errors.Is(err, ErrNoSession) {
		t.Errorf("deleted session: err %v", err)
	}
	var n int64
	stmt, _, _ := db.conn.Prepare(`SELECT count(*) FROM blocks WHERE session_id = ?`)
	stmt.BindInt64(1, b.ID)
	if stmt.Step() {
		n = stmt.ColumnInt64(0)
	}
	stmt.Close()
	if n != 0 {
		t.Errorf("deleted session still has %d blocks", n)
	}
	for _, err := range []error{db.Rename(99, "x"), db.SetNotes(99, "x"), db.Delete(99)} {
		if !errors.Is(err, ErrNoSession) {
			t.Errorf("unknown session: err %v, want ErrNoSession", err)
		}
	}
	list, _ := db.Sessions()
	if len(list) != 1 || list[0].ID != a.ID {
		t.Errorf("sessions %+v", list)
	}
}

func TestInterruptedSessionIsMarked(t *testing.T) {
	db, path := tempDB(t)
	s := &Session{LinkType: 1, Snaplen: 100}
	db.CreateSession(s)
	w, _ := db.NewWriter(s.ID)
	var b Block
	b.Reset(1)
	b.Append(42e9, 1, []byte{1})
	w.Append(&b)
	w.Commit()
	w.Close()
	// A process that no longer exists: the largest PID Linux can hand out plus one.
	if err := db.exec(`UPDATE sessions SET pid = 4194305 WHERE id = ?`, s.ID); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db2, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	got, _ := db2.Session(s.ID)
	if got.Status != StatusInterrupted || got.Ended.UnixNano() != 42e9 || got.Packets != 1 {
		t.Errorf("got status %s ended %d packets %d", got.Status, got.Ended.UnixNano(), got.Packets)
	}
	// A session whose process is alive (this one) stays recording.
	live := &Session{LinkType: 1, Snaplen: 100}
	db2.CreateSession(live)
	db3, _ := Open(path, Options{})
	defer db3.Close()
	if got, _ := db3.Session(live.ID); got.Status != StatusRecording {
		t.Errorf("live session marked %s", got.Status)
	}
}

func TestOpenRefusesBadFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := filepath.Join(dir, "good.db")
	db, err := Open(good, Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	goodBytes, _ := os.ReadFile(good)

	tooNew := filepath.Join(dir, "new.db")
	db, _ = Open(tooNew, Options{Create: true})
	db.conn.Exec("PRAGMA user_version=99")
	db.Close()

	foreign := filepath.Join(dir, "foreign.db")
	db, _ = Open(foreign, Options{Create: true})
	db.conn.Exec("PRAGMA application_id=7")
	db.Close()

	cases := []struct {
		name string
		path string
		opts Options
		want error
	}{
		{"missing", filepath.Join(dir, "absent.db"), Options{}, ErrNotFound},
		{"text file", write("text.db", bytes.Repeat([]byte("hello world\n"), 500)), Options{}, ErrNotOurs},
		{"truncated", write("trunc.db", goodBytes[:100]), Options{}, nil},
		{"newer schema", tooNew, Options{}, ErrTooNew},
		{"other application", foreign, Options{}, ErrNotOurs},
		{"directory", dir, Options{Create: true}, nil},
	}
	for _, c := range cases {
		db, err := Open(c.path, c.opts)
		if err == nil {
			db.Close()
			t.Errorf("%s: opened without error", c.name)
			continue
		}
		if c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("%s: err %v, want %v", c.name, err, c.want)
		}
	}
	// The missing database was not created by a read.
	if _, err := os.Stat(filepath.Join(dir, "absent.db")); err == nil {
		t.Error("opening a missing database without Create created it")
	}
}

func TestWalkBlockRejectsDamage(t *testing.T) {
	var b Block
	b.Reset(1)
	b.Append(1, 10, packet(1, 10))
	b.Append(2, 10, packet(2, 10))
	for cut := 1; cut < len(b.Data); cut++ {
		err := WalkBlock(b.Data[:cut], 1, 1, 0, func(Record) error { return nil })
		if cut != RecordHeaderLen+10 && !errors.Is(err, ErrCorruptBlock) {
			t.Errorf("cut at %d: err %v", cut, err)
		}
	}
	bad := append([]byte(nil), b.Data...)
	bad[8], bad[9], bad[10], bad[11] = 0xff, 0xff, 0xff, 0xff
	if err := WalkBlock(bad, 1, 1, 0, func(Record) error { return nil }); !errors.Is(err, ErrCorruptBlock) {
		t.Errorf("huge caplen: err %v", err)
	}
}

// FuzzWalkBlock: no input makes the block decoder panic, loop forever or
// hand out a record that does not lie within the blob.
func FuzzWalkBlock(f *testing.F) {
	var b Block
	b.Reset(1)
	b.Append(1, 60, packet(1, 60))
	b.Append(2, 1500, packet(2, 100))
	f.Add(b.Data)
	f.Add(b.Data[:RecordHeaderLen+3])
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0xff}, 40))
	f.Fuzz(func(t *testing.T, blob []byte) {
		n := 0
		WalkBlock(blob, 1, 1, 0, func(r Record) error {
			n++
			if len(r.Data) > len(blob) || len(r.Data) > MaxCapLen {
				t.Fatalf("record of %d bytes from a %d-byte blob", len(r.Data), len(blob))
			}
			return nil
		})
		if n > len(blob)/RecordHeaderLen {
			t.Fatalf("%d records from %d bytes", n, len(blob))
		}
	})
}

func TestBulkModeOnlyWhenAlone(t *testing.T) {
	db, path := tempDB(t)
	other, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	other.Sessions() // holds the WAL open
	if end, ok := db.BeginBulk(); ok {
		end()
		t.Fatal("bulk mode while another connection uses the WAL")
	}
	other.Close()
	end, ok := db.BeginBulk()
	if !ok {
		t.Fatal("bulk mode refused with no other connection")
	}
	s := &Session{LinkType: 1, Snaplen: 100}
	db.CreateSession(s)
	// A reader arriving mid-load moves the database back to WAL and sees
	// what was committed.
	reader, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	if _, err := reader.Session(s.ID); err != nil {
		t.Fatal(err)
	}
	end()
	if !db.journalMode("WAL") {
		t.Error("not back in WAL mode")
	}
	if err := db.IntegrityCheck(); err != nil {
		t.Error(err)
	}
}

// TestOpenDuringBulkWrite: a connection opened while a bulk load holds its
// write lock cannot switch the file to WAL, and must still open and read.
func TestOpenDuringBulkWrite(t *testing.T) {
	db, path := tempDB(t)
	end, ok := db.BeginBulk()
	if !ok {
		t.Fatal("bulk mode refused")
	}
	defer end()
	s := &Session{LinkType: 1, Snaplen: 100}
	db.CreateSession(s)
	w, _ := db.NewWriter(s.ID)
	defer w.Close()
	var b Block
	b.Reset(1)
	b.Append(1, 1, []byte{1})
	if err := w.Append(&b); err != nil { // the write transaction stays open
		t.Fatal(err)
	}
	reader, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("open during a bulk write: %v", err)
	}
	list, err := reader.Sessions()
	if err != nil || len(list) != 1 {
		t.Fatalf("read during a bulk write: %v, %d sessions", err, len(list))
	}
	reader.Close()
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
}
