package recorder

import (
	"context"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"

	"github.com/packetrecorderd/packetrecorderd/internal/capture"
)

// A reader that holds a read transaction on a database in
// rollback-journal mode (as the sqlite3 shell does inside BEGIN) blocks
// every commit. The recording goes on into its spill file and stores
// every packet once the lock is gone: a reader never costs a packet.
func TestReaderHoldingALockCostsNoPacket(t *testing.T) {
	db, s, w := setup(t)
	end, ok := db.BeginBulk() // a lone capture writes with a rollback journal
	if !ok {
		t.Fatal("no rollback-journal mode")
	}
	defer end()
	src := &ringSource{rate: 50000, ringCap: 20000, start: time.Now()}
	ctx, cancel := context.WithCancel(context.Background())
	type result struct {
		res Result
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := Run(ctx, Config{Source: src, Writer: w, BlockBytes: 8192})
		done <- result{res, err}
	}()
	time.Sleep(200 * time.Millisecond)

	// A plain SQLite connection, not ours: it does not switch the file
	// to WAL. It holds a shared lock for two seconds.
	conn, err := sqlite3.Open("file:" + db.Path() + "?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.Exec("BEGIN; SELECT count(*) FROM blocks"); err != nil {
		t.Fatal(err)
	}
	stmt, _, err := conn.Prepare("SELECT count(*) FROM sessions")
	if err != nil {
		t.Fatal(err)
	}
	stmt.Step()
	stmt.Close()
	time.Sleep(2 * time.Second)
	if err := conn.Exec("COMMIT"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	cancel()
	r := <-done
	if r.err != nil {
		t.Fatalf("recording failed: %v", r.err)
	}
	if r.res.AppDropped != 0 || !r.res.Drained || r.res.Stats.Dropped != 0 {
		t.Fatalf("not stored: %d, dropped by the ring %d, drained %v", r.res.AppDropped, r.res.Stats.Dropped, r.res.Drained)
	}
	if uint64(r.res.Stored) != r.res.Stats.Received || r.res.Stored < 100000 {
		t.Fatalf("stored %d, accepted %d", r.res.Stored, r.res.Stats.Received)
	}
	checkSequence(t, db, s.ID, r.res.Stored)
}

// brokenSource fails like an interface that went down, with packets
// still in its ring.
type brokenSource struct {
	fakeSource
	failAt uint64
	failed bool
}

func (b *brokenSource) Read(timeout time.Duration, fn func(capture.Packet)) (int, error) {
	b.mu.Lock()
	fail := !b.failed && b.admitted >= b.failAt
	if fail {
		b.failed = true
		b.stopped = true // nothing new arrives on a down interface
	}
	b.mu.Unlock()
	if fail {
		return 0, errors.New("capture: network is down")
	}
	return b.fakeSource.Read(timeout, fn)
}

// An interface that goes down mid-capture: the packets its ring had
// accepted are still stored, and the counters add up.
func TestBrokenSourceIsDrained(t *testing.T) {
	db, s, w := setup(t)
	src := &brokenSource{fakeSource: fakeSource{perRead: 3}, failAt: 5000}
	res, err := Run(context.Background(), Config{Source: src, Writer: w, BlockBytes: 4096})
	if err == nil {
		t.Fatal("no error from a broken source")
	}
	if res.AppDropped != 0 || !res.Drained {
		t.Errorf("not stored %d, drained %v", res.AppDropped, res.Drained)
	}
	if uint64(res.Stored) != res.Stats.Received-res.Stats.Dropped || res.Stored < 5000 {
		t.Errorf("stored %d, accepted %d", res.Stored, res.Stats.Received)
	}
	checkSequence(t, db, s.ID, res.Stored)
}

// ringSource admits packets at a steady rate whether or not they are
// read, into a ring of ringCap packets; what does not fit is dropped, as
// the kernel drops when a capture falls behind.
type ringSource struct {
	fakeSource
	rate    float64 // packets per second
	ringCap int
	start   time.Time
	dropped uint64
}

func (r *ringSource) admitDue() {
	due := uint64(time.Since(r.start).Seconds() * r.rate)
	for ; !r.stopped && r.admitted+r.dropped < due; r.next++ {
		if len(r.backlog) < r.ringCap {
			r.backlog = append(r.backlog, r.next)
			r.admitted++
		} else {
			r.dropped++
		}
	}
}

func (r *ringSource) Read(timeout time.Duration, fn func(capture.Packet)) (int, error) {
	r.mu.Lock()
	r.admitDue()
	take := r.backlog
	r.backlog = nil
	r.seen += uint64(len(take))
	r.mu.Unlock()
	var buf [64]byte
	for _, id := range take {
		binary.BigEndian.PutUint64(buf[:], id)
		fn(capture.Packet{Timestamp: int64(id) * 1000, OrigLen: 64, Data: buf[:]})
	}
	if len(take) == 0 {
		time.Sleep(time.Millisecond)
	}
	return len(take), nil
}

func (r *ringSource) Stats() (capture.Stats, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.admitDue()
	return capture.Stats{Received: r.admitted + r.dropped, Dropped: r.dropped}, nil
}
