package recorder

import (
	"context"
	"encoding/binary"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/capture"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

// fakeSource admits packets at a steady pace until Stop; accepted packets
// wait in a backlog (the "ring") until Read takes them, a few per call, so
// a stop always finds some still queued.
type fakeSource struct {
	mu       sync.Mutex
	next     uint64 // number of the next packet to admit
	backlog  []uint64
	stopped  bool
	seen     uint64
	perRead  int
	admitted uint64
}

func (f *fakeSource) admit() {
	if f.stopped {
		return
	}
	for i := 0; i < 50; i++ {
		f.backlog = append(f.backlog, f.next)
		f.next++
		f.admitted++
	}
}

func (f *fakeSource) Read(timeout time.Duration, fn func(capture.Packet)) (int, error) {
	f.mu.Lock()
	f.admit()
	n := min(f.perRead, len(f.backlog))
	take := f.backlog[:n]
	f.backlog = f.backlog[n:]
	f.seen += uint64(n)
	f.mu.Unlock()
	var buf [64]byte
	for _, id := range take {
		binary.BigEndian.PutUint64(buf[:], id)
		fn(capture.Packet{Timestamp: int64(id) * 1000, OrigLen: 64, Data: buf[:]})
	}
	if n == 0 {
		time.Sleep(time.Millisecond)
	}
	return n, nil
}

func (f *fakeSource) Stop() error { f.mu.Lock(); f.stopped = true; f.mu.Unlock(); return nil }
func (f *fakeSource) Stats() (capture.Stats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return capture.Stats{Received: f.admitted}, nil
}
func (f *fakeSource) Seen() uint64     { f.mu.Lock(); defer f.mu.Unlock(); return f.seen }
func (f *fakeSource) LinkType() uint32 { return 1 }
func (f *fakeSource) Close() error     { return nil }

func setup(t *testing.T) (*store.DB, *store.Session, *store.Writer) {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "r.db"), store.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s := &store.Session{LinkType: 1, Snaplen: 65535}
	if err := db.CreateSession(s); err != nil {
		t.Fatal(err)
	}
	w, err := db.NewWriter(s.ID)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return db, s, w
}

// checkSequence verifies the session holds packets 0..n-1 in order.
func checkSequence(t *testing.T, db *store.DB, id int64, n int64) {
	t.Helper()
	var i int64
	err := db.Packets(id, store.Range{}, func(r store.Record) error {
		if got := int64(binary.BigEndian.Uint64(r.Data)); got != i || r.Number != i+1 {
			t.Fatalf("packet %d holds id %d", r.Number, got)
		}
		i++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if i != n {
		t.Fatalf("stored %d packets, want %d", i, n)
	}
}

func TestStopDrainsEverythingAccepted(t *testing.T) {
	db, s, w := setup(t)
	src := &fakeSource{perRead: 7} // slower than admission: a backlog builds
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	res, err := Run(ctx, Config{Source: src, Writer: w, BlockBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Drained {
		t.Error("not drained")
	}
	if res.Stats.Received == 0 || uint64(res.Stored) != res.Stats.Received {
		t.Fatalf("stored %d, kernel accepted %d", res.Stored, res.Stats.Received)
	}
	checkSequence(t, db, s.ID, res.Stored)
	got, _ := db.Session(s.ID)
	if got.Packets != res.Stored || got.Bytes != res.Stored*64 {
		t.Errorf("session counters %d/%d, stored %d", got.Packets, got.Bytes, res.Stored)
	}
}

func TestCountStopsExactly(t *testing.T) {
	db, s, w := setup(t)
	src := &fakeSource{perRead: 33}
	res, err := Run(context.Background(), Config{Source: src, Writer: w, Count: 1000, BlockBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stored != 1000 || !res.CountHit {
		t.Fatalf("stored %d, count hit %v", res.Stored, res.CountHit)
	}
	checkSequence(t, db, s.ID, 1000)
}

func TestPacketsVisibleWhileRecording(t *testing.T) {
	db, s, w := setup(t)
	src := &fakeSource{perRead: 5}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Run(ctx, Config{Source: src, Writer: w})
	}()
	// A second connection, as 'query' would open, sees committed packets
	// within a few hundred milliseconds.
	reader, err := store.Open(db.Path(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		sess, err := reader.Session(s.ID)
		if err != nil {
			t.Fatal(err)
		}
		if sess.Packets > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no packet became visible to a reader while recording")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
}

// TestReceivedNeverBehindStored: at every progress report the kernel's
// received counter is at least what is stored, so that metrics scraped
// at any moment never show more packets stored than received.
func TestReceivedNeverBehindStored(t *testing.T) {
	_, _, w := setup(t)
	src := &fakeSource{perRead: 7}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var mu sync.Mutex
	var bad []Progress
	reports := 0
	_, err := Run(ctx, Config{Source: src, Writer: w, BlockBytes: 4096, FlushInterval: 5 * time.Millisecond, ProgressInterval: 5 * time.Millisecond,
		Progress: func(p Progress) {
			mu.Lock()
			defer mu.Unlock()
			reports++
			if uint64(p.Stored) > p.Received {
				bad = append(bad, p)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if reports < 10 {
		t.Fatalf("%d progress reports", reports)
	}
	if len(bad) > 0 {
		t.Errorf("%d of %d reports say more stored than received, first %+v", len(bad), reports, bad[0])
	}
}
