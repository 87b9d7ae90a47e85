package archive

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

// TestCatalogRemovedUnderAnArchive: an Archive whose catalog file is
// removed, and another process's hold made in the new one, sees the hold
// at its next call (it reopens and rebuilds) and its segments again.
func TestCatalogRemovedUnderAnArchive(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	a, err := Open(dir, Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	r, _ := NewRecording(dir, RecordingConfig{Interface: "eth0", LinkType: 1, MaxBytes: 1})
	feed(t, r, 0, 300, 100)
	r.Close()
	if err := os.Remove(filepath.Join(dir, CatalogFile)); err != nil {
		t.Fatal(err)
	}
	other, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.AddHold(1, 2, "case"); err != nil {
		t.Fatal(err)
	}
	other.Close()
	holds, err := a.Holds()
	if err != nil || len(holds) != 1 || holds[0].Reason != "case" {
		t.Fatalf("holds after the catalog was replaced: %+v %v", holds, err)
	}
	segs, err := a.Segments()
	if err != nil || len(segs) != 3 {
		t.Fatalf("segments after the catalog was replaced: %+v %v", segs, err)
	}
}

// TestHoldsOutliveTheCatalog: holds come back from holds.json into a
// catalog rebuilt from the segments, with their ids; a damaged catalog is
// set aside.
func TestHoldsOutliveTheCatalog(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	a, _ := Open(dir, Options{Create: true})
	h1, _ := a.AddHold(10, 20, "one")
	h2, _ := a.AddHold(30, 40, "two")
	if err := a.ReleaseHold(h1.ID); err != nil {
		t.Fatal(err)
	}
	a.Close()
	if fi, err := os.Stat(filepath.Join(dir, HoldsFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("holds file: %v %v", fi, err)
	}
	cat := filepath.Join(dir, CatalogFile)
	if err := os.WriteFile(cat, []byte("not a database, not at all, garbage garbage garbage garbage garbage garbage garbage garbage garbage garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	ro, err := Open(dir, Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only open of a damaged catalog: %v", err)
	}
	if hs, err := ro.Holds(); err != nil || len(hs) != 1 || hs[0].ID != h2.ID || hs[0].Reason != "two" {
		t.Errorf("read-only holds: %+v %v", hs, err)
	}
	ro.Close()
	a, err = Open(dir, Options{})
	if err != nil {
		t.Fatalf("open of a damaged catalog: %v", err)
	}
	defer a.Close()
	if hs, err := a.Holds(); err != nil || len(hs) != 1 || hs[0].ID != h2.ID || hs[0].Since != 30 || hs[0].Until != 40 {
		t.Errorf("holds after the rebuild: %+v %v", hs, err)
	}
	if m, _ := filepath.Glob(cat + ".damaged-*"); len(m) != 1 {
		t.Errorf("damaged catalog set aside as %v", m)
	}
}

// TestReaperLeavesPinnedSegments: a segment a reader pinned is read whole
// from the trash after retention expired it; the reaper frees it only
// once the reader lets go.
func TestReaperLeavesPinnedSegments(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	a, _ := Open(dir, Options{Create: true})
	defer a.Close()
	r, _ := NewRecording(dir, RecordingConfig{Interface: "eth0", LinkType: 1, MaxBytes: 1})
	feed(t, r, 0, 100, 100)
	r.Close()
	segs, _ := a.Segments()
	if len(segs) != 1 {
		t.Fatalf("segments %+v", segs)
	}
	pin, err := a.Pin(segs[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Expire(segs[0]); err != nil {
		t.Fatal(err)
	}
	if err := a.Reap(nil); err != nil {
		t.Fatal(err)
	}
	path, err := pin.Path()
	if err != nil {
		t.Fatalf("pinned segment: %v", err)
	}
	db, err := store.Open(path, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	err = db.Packets(1, store.Range{}, func(store.Record) error { n++; return nil })
	db.Close()
	if err != nil || n != 100 {
		t.Fatalf("read %d packets of the expired pinned segment: %v", n, err)
	}
	pin.Close()
	if err := a.Reap(nil); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(filepath.Join(dir, TrashDir)); len(left) != 0 {
		t.Errorf("trash after the pin went: %v", left)
	}
	if _, err := a.Pin(segs[0]); err == nil {
		t.Errorf("pinned a reaped segment")
	}
}
