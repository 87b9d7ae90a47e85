package selection

import (
	"context"
	"encoding/binary"
	"path/filepath"
	"testing"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/archive"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

func appendPackets(t *testing.T, r *archive.Recording, from, n int) {
	t.Helper()
	var b store.Block
	b.Reset(1)
	for i := from; i < from+n; i++ {
		data := make([]byte, 1000)
		binary.BigEndian.PutUint64(data, uint64(i))
		b.Append(int64(1e18)+int64(i)*1000, len(data), data)
	}
	if err := r.Append(&b); err != nil {
		t.Fatal(err)
	}
	if err := r.Commit(); err != nil {
		t.Fatalf("commit while a reader is slow: %v", err)
	}
}

// TestSlowReaderNeverBlocksTheRecorder: a consumer that stops for a long
// time in the middle of a segment being recorded holds no lock; the
// recorder's commits (which wait at most 100 ms here) go through, and the
// reader gets every packet in order, each once.
func TestSlowReaderNeverBlocksTheRecorder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	a, err := archive.Open(dir, archive.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	r, err := archive.NewRecording(dir, archive.RecordingConfig{Interface: "eth0", LinkType: 1, MaxBytes: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// 20,000 packets of 1000 bytes: five pieces.
	for i := 0; i < 20; i++ {
		appendPackets(t, r, i*1000, 1000)
	}
	r.SetBusyTimeout(100 * time.Millisecond)
	v, err := Open(context.Background(), Spec{Database: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	next := uint64(0)
	err = v.Walk(context.Background(), 0, func(rec store.Record) error {
		if rec.Number != int64(next)+1 {
			t.Fatalf("packet %d after %d", rec.Number, next)
		}
		if got := binary.BigEndian.Uint64(rec.Data); next < 20000 && got != next {
			t.Fatalf("packet %d holds %d", next, got)
		}
		if next == 5000 || next == 15000 {
			// The consumer stalls; meanwhile the recorder commits.
			appendPackets(t, r, 20000+int(next), 10)
		}
		next++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if next < 20000 {
		t.Errorf("read %d packets", next)
	}
}
