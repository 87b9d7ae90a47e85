package recorder

import (
	"errors"
	"fmt"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/cutoff"
	"github.com/packetrecorderd/packetrecorderd/internal/flow"
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
	// retryEvery is how often a store that failed a write is tried
	// again while its blocks wait in memory.
	retryEvery = 250 * time.Millisecond
	// writePatience is how long a stopping recording keeps trying a store
	// that fails its writes before it counts what memory holds as not
	// stored.
	writePatience = 3 * time.Second
)

// flowCutSink is a sink that records the flows a cutoff applied to
// (store.Writer), in the transaction of the blocks that follow.
type flowCutSink interface {
	AddFlowCuts([]store.FlowCut) error
}

// maxPendingCuts bounds the cut flows waiting for a commit; more are not
// recorded (their packets are: only the listing's "seen" counts of a
// keep: none flow would be short).
const maxPendingCuts = 1 << 16

// reopener is a sink that can give up the file it writes and start
// another at the next Append (archive.Recording: a segment made
// unwritable is closed, and a new segment takes the packets).
type reopener interface{ Reopen() error }

// txWriter is the writer goroutine's state: the blocks of the open
// transaction, the spill file while the database is locked, the blocks
// held in memory while the store fails its writes, and the counters of
// what is committed. Every packet handed to add ends up committed
// (res.Stored) or counted (res.AppDropped).
//
// Order is kept: blocks wait behind older ones. The spill takes blocks
// only while memory holds none, so what is spilled is always older than
// what memory holds, and both are taken back in that order.
type txWriter struct {
	c       Config
	w       Sink
	free    chan *store.Block
	held    []*store.Block // appended in the open transaction
	pending Result         // their counts
	txStart time.Time
	backlog *spill
	res     Result
	err     error // the error that stopped storing (the spill file failed)

	// werr is the write error being retried (disk full, EIO, a file made
	// immutable): blocks wait in mem, up to c.HoldBytes, until a retry
	// stores them; nil while writes succeed.
	werr       error
	werrSince  time.Time
	lastTry    time.Time
	reopen     bool // the sink's file failed a write: start another before the retry
	mem        []*store.Block
	memBytes   int64
	memPackets int64
	overflow   int64 // packets dropped because mem was full, this episode

	// cuts are the cut flows that ended since the last commit, written
	// into the next transaction that commits with the active cut flows
	// that changed (eng, when flows are tracked).
	cuts, spareCuts []store.FlowCut
	eng             *engine
}

func (t *txWriter) release(b *store.Block) { t.free <- b }

func (t *txWriter) spilledPackets() int64 {
	if t.backlog == nil {
		return 0
	}
	return t.backlog.packets
}

func (t *txWriter) add(b *store.Block) {
	switch {
	case t.err != nil:
		t.res.AppDropped += int64(b.Count)
		t.release(b)
		return
	case t.werr != nil || len(t.mem) > 0:
		t.hold(b) // behind what memory holds, until a retry stores it
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
		if t.c.HoldBytes <= 0 {
			t.res.AppDropped += int64(b.Count)
			t.release(b)
			t.fail(err)
			return
		}
		t.trouble(err)
		t.hold(b)
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
	t.writeCuts()
	if err := t.w.Commit(); err != nil {
		var after *CommittedError
		if errors.As(err, &after) {
			// Stored; what failed after the commit stops the recording.
			t.committed()
			t.fail(after.Err)
			return
		}
		if store.Busy(err) {
			t.divert()
			return
		}
		t.trouble(err)
		return
	}
	t.committed()
}

// committed counts the committed transaction's packets as stored and
// lets go of its blocks.
func (t *txWriter) committed() {
	t.res.Stored += t.pending.Stored
	t.res.Bytes += t.pending.Bytes
	t.pending = Result{}
	for _, b := range t.held {
		t.release(b)
	}
	t.held = t.held[:0]
}

// writeCuts adds the pending cut flows to the open transaction (opening
// one: the end of a recording has flows but no block left), unless
// writes are failing or waiting.
//
// Each commit records the cut flows as they are then (a row per flow,
// replaced as it grows), so that a segment closed before a flow ends
// still tells what was cut of it up to its last packet in it.
func (t *txWriter) writeCuts() {
	fs, ok := t.w.(flowCutSink)
	if !ok || t.err != nil || t.werr != nil || len(t.mem) > 0 || t.backlog != nil && !t.backlog.empty() {
		return
	}
	// The reader's cutoff adds ended flows to t.cuts under the engine's
	// lock: they are taken under it, and written without it.
	var cuts []store.FlowCut
	if t.eng != nil {
		t.eng.mu.Lock()
		if len(t.cuts) < maxPendingCuts {
			t.eng.e.CutChanged(func(f *flow.Flow, iface int) {
				if len(t.cuts) < maxPendingCuts {
					t.cuts = append(t.cuts, cutoff.Record(f, iface))
				}
			})
		}
		cuts, t.cuts, t.spareCuts = t.cuts, t.spareCuts[:0], nil
		t.eng.mu.Unlock()
	} else {
		cuts, t.cuts = t.cuts, t.cuts[:0]
	}
	if len(cuts) > 0 {
		if err := fs.AddFlowCuts(cuts); err != nil {
			// The packets matter, the summary less: they commit without it.
			t.c.Logger.Warn("record cut flows", "flows", len(cuts), "err", err)
		}
	}
	if t.eng != nil {
		t.spareCuts = cuts[:0]
	}
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
	t.res.AppDropped += t.memPackets
	t.mem, t.memBytes, t.memPackets = nil, 0, 0
}

// trouble handles a write the store refused for a reason other than a
// lock (disk full, EIO, a file made immutable): the open transaction is
// rolled back and its blocks wait in memory with the ones that follow,
// until a retry stores them. Nothing is lost unless memory overflows,
// and what overflows is counted.
func (t *txWriter) trouble(err error) {
	if t.c.HoldBytes <= 0 {
		t.fail(err) // the caller asked to stop at the first write error
		return
	}
	if t.werr == nil {
		t.werrSince = time.Now()
		t.overflow = 0
		t.c.Logger.Error("store write failed: holding packets in memory and retrying", "err", err, "every", retryEvery, "memory", t.c.HoldBytes)
	}
	t.werr = err
	t.lastTry = time.Now()
	t.reopen = true
	t.w.Rollback()
	t.pending = Result{}
	held := t.held
	t.held = nil
	for _, b := range held {
		t.hold(b)
	}
}

// hold keeps a copy of b in memory and releases b, or counts its packets
// as not stored when memory holds c.HoldBytes already.
func (t *txWriter) hold(b *store.Block) {
	defer t.release(b)
	if t.memBytes+int64(len(b.Data)) > t.c.HoldBytes {
		if t.overflow == 0 {
			t.c.Logger.Error("store still failing and memory full: dropping packets (counted)", "held_packets", t.memPackets, "held_bytes", t.memBytes)
		}
		t.overflow += int64(b.Count)
		t.res.AppDropped += int64(b.Count)
		return
	}
	// A copy of the block, not of its preparation: b goes back to the
	// free list and a preparer reuses it, while the copy waits here and
	// is compressed again by the Append that finally stores it.
	c := store.Block{LinkType: b.LinkType, Interface: b.Interface, Count: b.Count, FirstTS: b.FirstTS, LastTS: b.LastTS,
		MinTS: b.MinTS, MaxTS: b.MaxTS, WireBytes: b.WireBytes, Data: append([]byte(nil), b.Data...)}
	t.mem = append(t.mem, &c)
	t.memBytes += int64(len(c.Data))
	t.memPackets += int64(c.Count)
}

// retry tries a failing store again, at most every retryEvery: the spill
// first (older), then memory, one transaction of up to backlogTxBytes
// each time. When everything is stored, writes go on as before. It
// reports whether nothing waits any more.
func (t *txWriter) retry(force bool) bool {
	if t.err != nil || t.werr == nil && len(t.mem) == 0 {
		return true
	}
	if !force && time.Since(t.lastTry) < retryEvery {
		return false
	}
	t.lastTry = time.Now()
	if t.reopen {
		if ro, ok := t.w.(reopener); ok {
			if err := ro.Reopen(); err != nil {
				t.c.Logger.Warn("close the file that failed", "err", err)
			}
		}
		t.reopen = false
	}
	if t.backlog != nil && !t.backlog.empty() {
		if !t.drainBacklog() {
			return false
		}
	}
	if t.w.InTx() {
		return false // cannot happen: blocks go to memory while it holds any
	}
	n, size := 0, int64(0)
	var packets, bytes int64
	for n < len(t.mem) && size < backlogTxBytes {
		b := t.mem[n]
		if err := t.w.Append(b); err != nil {
			t.retryFailed(err)
			return false
		}
		n++
		size += int64(len(b.Data))
		packets += int64(b.Count)
		bytes += int64(len(b.Data) - b.Count*store.RecordHeaderLen)
	}
	if n > 0 {
		if err := t.w.Commit(); err != nil {
			t.retryFailed(err)
			return false
		}
	}
	clear(t.mem[:n])
	t.mem = t.mem[n:]
	t.memBytes -= size
	t.memPackets -= packets
	t.res.Stored += packets
	t.res.Bytes += bytes
	if len(t.mem) > 0 {
		return false
	}
	t.mem = nil
	t.c.Logger.Info("store writes again: held packets stored", "after", time.Since(t.werrSince).Round(time.Millisecond), "dropped", t.overflow)
	t.werr = nil
	return true
}

func (t *txWriter) retryFailed(err error) {
	t.w.Rollback()
	if !store.Busy(err) {
		t.werr = err
		t.reopen = true
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
				t.troubleSpill(err)
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
			t.troubleSpill(err)
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

// troubleSpill notes a write error met while taking back the spill: the
// spill stays, new blocks wait in memory behind it, and retry tries both.
func (t *txWriter) troubleSpill(err error) {
	if t.c.HoldBytes <= 0 {
		t.fail(err)
		return
	}
	if t.werr == nil {
		t.werrSince = time.Now()
		t.overflow = 0
		t.c.Logger.Error("store write failed: holding packets and retrying", "err", err, "every", retryEvery)
	}
	t.werr = err
	t.lastTry = time.Now()
	t.reopen = true
}

// finishBacklog stores what is still spilled or held in memory when the
// recording stops, waiting up to backlogPatience for a lock holder and
// writePatience for a store that fails its writes.
func (t *txWriter) finishBacklog() {
	for deadline := time.Now().Add(writePatience); t.err == nil && (t.werr != nil || len(t.mem) > 0); time.Sleep(50 * time.Millisecond) {
		if t.retry(true) {
			break
		}
		if time.Now().After(deadline) {
			t.fail(fmt.Errorf("store still failing after %s: %d packets not stored: %w", writePatience, t.memPackets+t.spilledPackets(), t.werr))
			break
		}
	}
	if t.backlog == nil {
		return
	}
	for deadline := time.Now().Add(backlogPatience); !t.drainBacklog(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) || t.werr != nil {
			t.fail(fmt.Errorf("database still locked by another connection after %s: %d packets not stored", backlogPatience, t.backlog.packets))
			break
		}
	}
	if t.backlog != nil {
		t.backlog.close()
		t.backlog = nil
	}
}
