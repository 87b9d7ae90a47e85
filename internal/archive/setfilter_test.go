package archive

import (
	"path/filepath"
	"testing"

	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

// A filter swapped while recording closes the open segment at its next
// commit; the next segment's session names the new filter; no packet is
// lost or repeated across the change.
func TestSetFilterStartsASegment(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	a, err := Open(dir, Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	r, err := NewRecording(dir, RecordingConfig{Interface: "eth0", LinkType: 1, Snaplen: 65535, Filter: "udp", MaxBytes: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	feed(t, r, 0, 100, 10)
	r.SetFilter("udp port 53")
	feed(t, r, 100, 100, 10) // the first commit closes the old segment
	r.SetFilter("udp port 53")
	feed(t, r, 200, 100, 10) // the same filter again: no new segment
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	segs := readAll(t, a, 300)
	var filters []string
	for _, s := range segs {
		db, err := store.Open(a.Path(s), store.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		sess, err := db.Session(1)
		db.Close()
		if err != nil {
			t.Fatal(err)
		}
		filters = append(filters, sess.Filter)
	}
	if len(filters) != 2 || filters[0] != "udp" || filters[1] != "udp port 53" || segs[0].Packets != 110 {
		t.Errorf("segments' filters %q, first holds %d packets; want [udp, udp port 53], 110 (the commit after the swap closes it)", filters, segs[0].Packets)
	}
}
