package recorder

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/capture"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

// failingSink refuses every Append and Commit while broken is set, as a
// store on a full disk or a segment made immutable does.
type failingSink struct {
	*store.Writer
	broken  atomic.Bool
	refused atomic.Int64
	reopens atomic.Int64
}

var errEIO = fmt.Errorf("commit: %w", syscall.EIO)

func (f *failingSink) Append(b *store.Block) error {
	if f.broken.Load() {
		f.refused.Add(1)
		return errEIO
	}
	return f.Writer.Append(b)
}

func (f *failingSink) Commit() error {
	if f.broken.Load() {
		f.refused.Add(1)
		return errEIO
	}
	return f.Writer.Commit()
}

func (f *failingSink) Reopen() error { f.reopens.Add(1); return nil }

// paced admits at most 50 packets a millisecond (fakeSource admits 50
// per Read, as fast as it is called).
type paced struct{ *fakeSource }

func (p paced) Read(timeout time.Duration, fn func(capture.Packet)) (int, error) {
	time.Sleep(time.Millisecond)
	return p.fakeSource.Read(timeout, fn)
}

// TestWriteErrorKeepsRecording: a store that refuses writes for 300 ms
// costs no packet: the recorder keeps reading, holds the blocks in
// memory, retries, and stores every packet in order once the store takes
// writes again; the Progress reports carry the error meanwhile. It used
// to stop at the first refused write, the packets of the open transaction
// counted as dropped and the rest never read.
func TestWriteErrorKeepsRecording(t *testing.T) {
	db, s, w := setup(t)
	sink := &failingSink{Writer: w}
	src := paced{&fakeSource{perRead: 60}}
	ctx, cancel := context.WithCancel(context.Background())
	var sawErr atomic.Bool
	go func() {
		time.Sleep(150 * time.Millisecond)
		sink.broken.Store(true)
		time.Sleep(300 * time.Millisecond)
		sink.broken.Store(false)
		time.Sleep(300 * time.Millisecond)
		cancel()
	}()
	res, err := Run(ctx, Config{Source: src, Writer: sink, BlockBytes: 4096, FlushInterval: 5 * time.Millisecond, ProgressInterval: 10 * time.Millisecond, HoldBytes: 64 << 20,
		Progress: func(p Progress) {
			if p.WriteErr != nil && errors.Is(p.WriteErr, syscall.EIO) {
				sawErr.Store(true)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	if sink.refused.Load() == 0 || !sawErr.Load() || sink.reopens.Load() == 0 {
		t.Fatalf("refused %d writes, progress saw the error %v, reopens %d", sink.refused.Load(), sawErr.Load(), sink.reopens.Load())
	}
	if res.AppDropped != 0 || res.Stats.Received == 0 || uint64(res.Stored) != res.Stats.Received {
		t.Fatalf("stored %d, app dropped %d, kernel accepted %d", res.Stored, res.AppDropped, res.Stats.Received)
	}
	checkSequence(t, db, s.ID, res.Stored)
}

// TestWriteErrorStopsWithoutHold: without HoldBytes (a capture into a
// database) the first refused write stops the recording with the error,
// and what was not stored is counted.
func TestWriteErrorStopsWithoutHold(t *testing.T) {
	_, _, w := setup(t)
	sink := &failingSink{Writer: w}
	src := paced{&fakeSource{perRead: 20}}
	go func() {
		time.Sleep(100 * time.Millisecond)
		sink.broken.Store(true)
	}()
	res, err := Run(context.Background(), Config{Source: src, Writer: sink, BlockBytes: 4096, FlushInterval: 5 * time.Millisecond})
	if !errors.Is(err, syscall.EIO) {
		t.Fatalf("err %v, want EIO", err)
	}
	if res.AppDropped == 0 || uint64(res.Stored+res.AppDropped) != res.Stats.Received {
		t.Fatalf("stored %d + app dropped %d, kernel accepted %d", res.Stored, res.AppDropped, res.Stats.Received)
	}
}

// TestWriteErrorMemoryBound: past HoldBytes, what the store could not
// take is counted, never silently gone: stored + app dropped = accepted,
// and what is stored is in order.
func TestWriteErrorMemoryBound(t *testing.T) {
	db, s, w := setup(t)
	sink := &failingSink{Writer: w}
	src := paced{&fakeSource{perRead: 60}}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		time.Sleep(100 * time.Millisecond)
		sink.broken.Store(true)
		time.Sleep(400 * time.Millisecond)
		sink.broken.Store(false)
		time.Sleep(200 * time.Millisecond)
		cancel()
	}()
	res, err := Run(ctx, Config{Source: src, Writer: sink, BlockBytes: 4096, FlushInterval: 5 * time.Millisecond, HoldBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	if res.AppDropped == 0 || uint64(res.Stored+res.AppDropped) != res.Stats.Received {
		t.Fatalf("stored %d + app dropped %d, kernel accepted %d", res.Stored, res.AppDropped, res.Stats.Received)
	}
	var last int64 = -1
	var n int64
	err = db.Packets(s.ID, store.Range{}, func(r store.Record) error {
		id := int64(binary.BigEndian.Uint64(r.Data))
		if id <= last {
			t.Fatalf("packet %d holds id %d after %d", r.Number, id, last)
		}
		last = id
		n++
		return nil
	})
	if err != nil || n != res.Stored {
		t.Fatalf("read %d packets (%v), stored %d", n, err, res.Stored)
	}
}

// teeFailingSink commits into the database and then fails a copy written
// elsewhere, as capture's -w file does when its disk fills or its -W
// files run out: CommittedError.
type teeFailingSink struct {
	*store.Writer
	after  atomic.Bool
	failed atomic.Int64
}

func (f *teeFailingSink) Commit() error {
	if err := f.Writer.Commit(); err != nil {
		return err
	}
	if f.after.Load() {
		f.failed.Add(1)
		return &CommittedError{Err: errEIO}
	}
	return nil
}

// TestCommittedErrorCountsStored: an error after the commit stops the
// recording with it, and the committed packets count as stored, not as
// dropped: stored is what the database holds, stored + dropped what the
// kernel accepted.
func TestCommittedErrorCountsStored(t *testing.T) {
	db, s, w := setup(t)
	sink := &teeFailingSink{Writer: w}
	src := paced{&fakeSource{perRead: 20}}
	go func() {
		time.Sleep(100 * time.Millisecond)
		sink.after.Store(true)
	}()
	res, err := Run(context.Background(), Config{Source: src, Writer: sink, BlockBytes: 4096, FlushInterval: 5 * time.Millisecond})
	if !errors.Is(err, syscall.EIO) || sink.failed.Load() == 0 {
		t.Fatalf("err %v (failed commits %d), want EIO", err, sink.failed.Load())
	}
	if uint64(res.Stored+res.AppDropped) != res.Stats.Received {
		t.Fatalf("stored %d + app dropped %d, kernel accepted %d", res.Stored, res.AppDropped, res.Stats.Received)
	}
	checkSequence(t, db, s.ID, res.Stored)
}
