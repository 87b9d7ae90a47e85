package store

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestHostWritesDatabasesInTurn writes three databases one after the other
// on one Host, then reads each with a connection of its own: each is a
// whole database of the current schema holding its own packets only, and
// the Host's in-memory main schema never received a table.
func TestHostWritesDatabasesInTurn(t *testing.T) {
	dir := t.TempDir()
	h, err := NewHost()
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	for f := 0; f < 3; f++ {
		path := filepath.Join(dir, fmt.Sprintf("seg%d.db", f))
		db, err := h.Open(path, Options{Create: true, NoReserve: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.Open(filepath.Join(dir, "other.db"), Options{Create: true}); err == nil {
			t.Fatal("a second database opened while one is attached")
		}
		end, ok := db.BeginBulk()
		if !ok {
			t.Errorf("segment %d: no bulk mode", f)
		}
		s := &Session{Name: fmt.Sprint("seg ", f), Interface: "eth0", LinkType: 1, Snaplen: 65535, FirstPacket: int64(1 + f*100)}
		if err := db.CreateSession(s); err != nil {
			t.Fatal(err)
		}
		w, err := db.NewWriter(s.ID)
		if err != nil {
			t.Fatal(err)
		}
		var b Block
		b.Reset(1)
		for i := 0; i < 100; i++ {
			b.Append(int64(f*1000+i), 60, packet(f*100+i, 60))
		}
		if err := w.Append(&b); err != nil {
			t.Fatal(err)
		}
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
		if err := db.Finish(s.ID, StatusComplete, time.Now(), 100, 0, 0); err != nil {
			t.Fatal(err)
		}
		w.Close()
		end()
		if err := db.Checkpoint(true); err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
	var tables int64
	stmt, _, err := h.conn.Prepare("SELECT count(*) FROM main.sqlite_schema")
	if err != nil {
		t.Fatal(err)
	}
	if stmt.Step() {
		tables = stmt.ColumnInt64(0)
	}
	stmt.Close()
	if tables != 0 {
		t.Errorf("the host's main schema has %d objects", tables)
	}
	for f := 0; f < 3; f++ {
		path := filepath.Join(dir, fmt.Sprintf("seg%d.db", f))
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", path, fi, err)
		}
		db, err := Open(path, Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.IntegrityCheck(); err != nil {
			t.Errorf("%s: %v", path, err)
		}
		if v, err := db.pragmaInt("user_version"); err != nil || v != SchemaVersion {
			t.Errorf("%s: schema version %d %v", path, v, err)
		}
		if v, _ := db.pragmaInt("page_size"); v != 65536 {
			t.Errorf("%s: page size %d", path, v)
		}
		sessions, err := db.Sessions()
		if err != nil || len(sessions) != 1 {
			t.Fatalf("%s: sessions %v %v", path, sessions, err)
		}
		n := 0
		err = db.Packets(sessions[0].ID, Range{}, func(r Record) error {
			want := int64(1 + f*100 + n)
			if r.Number != want || !bytes.Equal(r.Data, packet(f*100+n, 60)) {
				return fmt.Errorf("packet %d: number %d, want %d, or bytes differ", n, r.Number, want)
			}
			n++
			return nil
		})
		if err != nil || n != 100 {
			t.Errorf("%s: %d packets, %v", path, n, err)
		}
		db.Close()
	}
}
