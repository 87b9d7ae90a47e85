package recorder

import (
	"fmt"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

const (
	// busyTimeout is how long a write waits for a lock before the
	// recorder diverts packets to its spill file. Readers of a database
	// in WAL mode never block writers; in rollback-journal mode a reader
	// blocks commits for as long as its read lasts.
	busyTimeout = 250 * time.Millisecond
	// maxHeldBlocks bounds the blocks an open transaction keeps (they are
	// needed again if the commit finds the database locked); a
	// transaction that reaches it commits early.
	maxHeldBlocks = 64
	// backlogTxBytes is how much of the spill one transaction takes back.
	backlogTxBytes = 32 << 20
	// backlogPatience is how long a stopping recording waits for a lock
	// holder before it counts what is still spilled as not stored.
	backlogPatience = 30 * time.Second
)

// txWriter is the writer goroutine's state: the blocks of the open
// transaction, the spill file while the database is locked, and the
// counters of what is committed. Every packet handed to add ends up
// committed (res.Stored) or counted (res.AppDropped).
type txWriter struct {
	c       Config
	w       Sink
	free    chan *store.Block
	held    []*store.Block // appended in the open transaction
	pending Result         // their counts
	txStart time.Time
	backlog *spill
	res     Result
	err     error // the write error that stopped storing
}

func (t *txWriter) release(b *store.Block) { t.free <- b }

func (t *txWriter) add(b *store.Block) {
	switch {
	case t.err != nil:
		t.res.AppDropped += int64(b.Count)
		t.release(b)
		return
	case t.backlog != nil && !t.backlog.empty():
		t.spill(b) // keep the order: behind what is already spilled
		return
	}
	if !t.w.InTx() {
		t.txStart = time.Now()
	}
	if err := t.w.Append(b); err != nil {
		if store.Busy(err) {
			t.divert()
			t.spill(b)
			return
		}
		t.res.AppDropped += int64(b.Count)
		t.release(b)
		t.fail(err)
		return
	}
	t.held = append(t.held, b)
	t.pending.Stored += int64(b.Count)
	t.pending.Bytes += int64(len(b.Data) - b.Count*store.RecordHeaderLen)
	if len(t.held) >= maxHeldBlocks {
		t.commit()
	}
}

// commit commits the open transaction; a locked database moves its
// blocks to the spill file instead.
func (t *txWriter) commit() {
	if t.err != nil || !t.w.InTx() {
		return
	}
	if err := t.w.Commit(); err != nil {
		if store.Busy(err) {
			t.divert()
			return
		}
		t.fail(err)
		return
	}
	t.res.Stored += t.pending.Stored
	t.res.Bytes += t.pending.Bytes
	t.pending = Result{}
	for _, b := range t.held {
		t.release(b)
	}
	t.held = t.held[:0]
}

// fail stops storing: what the open transaction held is counted as not
// stored.
func (t *txWriter) fail(err error) {
	t.err = err
	t.res.AppDropped += t.pending.Stored
	t.pending = Result{}
	t.w.Rollback()
	for _, b := range t.held {
		t.release(b)
	}
	t.held = t.held[:0]
	if t.backlog != nil {
		t.res.AppDropped += t.backlog.packets
		t.backlog.close()
		t.backlog = nil
	}
}

// divert rolls back the open transaction, which found the database
// locked, and spills its blocks.
func (t *txWriter) divert() {
	t.w.Rollback()
	t.pending = Result{}
	held := t.held
	t.held = nil
	for _, b := range held {
		t.spill(b)
	}
}

// spill writes a block to the spill file, creating it on first use.
func (t *txWriter) spill(b *store.Block) {
	defer t.release(b)
	if t.err != nil {
		t.res.AppDropped += int64(b.Count)
		return
	}
	if t.backlog == nil {
		sp, err := newSpill(t.w.Dir())
		if err != nil {
			t.res.AppDropped += int64(b.Count)
			t.fail(err)
			return
		}
		t.backlog = sp
		t.c.Logger.Warn("database locked by another connection: holding packets in a spill file until it is free")
	}
	if err := t.backlog.put(b); err != nil {
		t.res.AppDropped += int64(b.Count)
		t.fail(fmt.Errorf("spill file: %w", err))
	}
}

// drainBacklog moves spilled blocks into the database, one transaction
// of up to backlogTxBytes; if the database is still locked it leaves them
// for the next try. It reports whether the backlog is empty.
func (t *txWriter) drainBacklog() bool {
	sp := t.backlog
	if t.err != nil || sp == nil || sp.empty() {
		return true
	}
	if t.w.InTx() {
		return false // cannot happen: blocks go to the spill while it has any
	}
	// A try must not stall the writer: new blocks keep arriving.
	t.w.SetBusyTimeout(0)
	defer t.w.SetBusyTimeout(busyTimeout)
	off, size := sp.rOff, int64(0)
	blocks, packets, bytes := 0, int64(0), int64(0)
	for blocks < sp.blocks && size < backlogTxBytes {
		b, next, err := sp.next(off)
		if err != nil {
			t.fail(err)
			return true
		}
		if err := t.w.Append(b); err != nil {
			t.w.Rollback()
			if !store.Busy(err) {
				t.fail(err)
			}
			return false
		}
		size += next - off
		off = next
		blocks++
		packets += int64(b.Count)
		bytes += int64(len(b.Data) - b.Count*store.RecordHeaderLen)
	}
	if err := t.w.Commit(); err != nil {
		t.w.Rollback()
		if !store.Busy(err) {
			t.fail(err)
		}
		return false
	}
	sp.taken(off, blocks, packets)
	t.res.Stored += packets
	t.res.Bytes += bytes
	if sp.empty() {
		t.c.Logger.Info("spilled packets stored; writing to the database again")
	}
	return sp.empty()
}

// finishBacklog stores what is still spilled when the recording stops,
// waiting up to backlogPatience for a lock holder.
func (t *txWriter) finishBacklog() {
	if t.backlog == nil {
		return
	}
	for deadline := time.Now().Add(backlogPatience); !t.drainBacklog(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.fail(fmt.Errorf("database still locked by another connection after %s: %d packets not stored", backlogPatience, t.backlog.packets))
			break
		}
	}
	if t.backlog != nil {
		t.backlog.close()
		t.backlog = nil
	}
}
