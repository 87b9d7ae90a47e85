// Package recorder moves packets from a capture source into the store.
//
// Three stages, all owned by Run: the reader walks the source's ring and
// copies packets into store blocks (at most BlockBytes, at most
// FlushInterval old), and runs the cutoff over each full block (it is
// stateful: it sees the blocks in order); Preparers goroutines build
// each block's sketch for the block index and compress it
// (store.PrepareBlock), in parallel, blocks dealt to them in turn; the
// writer takes the blocks back in that same order, appends them to the
// database and commits CommitInterval after a transaction began.
// Bounded channels connect them, and another returns emptied blocks for
// reuse, so memory stays flat however long the capture runs. When the
// writer falls behind, the reader waits and the kernel's ring absorbs
// the burst.
//
// Compression never costs a packet: when more than half of QueueBlocks
// blocks wait between the reader and the writer, a preparer stores the
// block raw instead of compressing it (it stays readable, only larger;
// Progress and Result count these blocks as CompressionSkipped). The
// blocks that are compressed are what the CPU can afford; a kernel drop
// is never the price of compression.
//
// With HoldBytes set, a write the store refuses (disk full, EIO, a
// segment made immutable) does not stop the recording: the reader goes on
// reading the ring, the writer holds the blocks in memory (up to
// HoldBytes; what exceeds it is counted as dropped) and tries the store
// again every 250 ms, starting a new segment where the sink can
// (archive.Recording). Progress carries the error while it lasts.
//
// On stop (context cancelled, count reached, or a fatal error) the reader
// asks the source to admit nothing more, then drains it until it has seen
// every packet the kernel accepted, so nothing already accepted is lost.
package recorder

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/capture"
	"github.com/packetrecorderd/packetrecorderd/internal/cutoff"
	"github.com/packetrecorderd/packetrecorderd/internal/flow"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

// Sink is where a recording's blocks go: a store.Writer into one session,
// or a writer that rolls a continuous recording over from segment to
// segment between two commits.
type Sink interface {
	// Append adds a block to the open transaction, opening one if needed.
	Append(*store.Block) error
	// Commit makes the appended blocks durable and visible.
	Commit() error
	// Rollback abandons the blocks appended since the last Commit.
	Rollback() error
	// InTx reports whether blocks wait for Commit.
	InTx() bool
	// Dir is where a spill file may go (the database's filesystem).
	Dir() string
	// SetBusyTimeout bounds how long a write waits for another
	// connection's lock (see store.Busy).
	SetBusyTimeout(time.Duration) error
}

var _ Sink = (*store.Writer)(nil)

// CommittedError is a Sink's Commit error that came after the
// transaction was committed (a copy of the packets written elsewhere,
// such as capture's -w file, failed): the packets are stored and counted
// so, and the recording stops with Err.
type CommittedError struct{ Err error }

func (e *CommittedError) Error() string { return e.Err.Error() }
func (e *CommittedError) Unwrap() error { return e.Err }

// Config describes one recording. Zero values mean defaults.
type Config struct {
	Source  capture.Source
	Writer  Sink
	Count   int64 // stop after storing this many packets; 0 = no limit
	Logger  *slog.Logger
	Snaplen int // bytes kept per packet; larger packets are cut (0 = keep what the source gives)

	BlockBytes     int           // close a block at this size; 0 = 256 KiB
	FlushInterval  time.Duration // close a block this long after its first packet; 0 = 50 ms
	CommitInterval time.Duration // commit this long after a transaction's first block; 0 = 100 ms
	DrainTimeout   time.Duration // give up draining after this long; 0 = 5 s
	QueueBlocks    int           // blocks in flight between reader and writer; 0 = 96
	Preparers      int           // goroutines sketching and compressing blocks; 0 = GOMAXPROCS-1, at least 1
	// HoldBytes, when positive, keeps the recording going through store
	// write errors: blocks wait in up to this much memory while the store
	// is retried (the daemon's recordings). 0 stops at the first write
	// error, as a capture into a database does (tcpdump -w stops on a
	// full disk).
	HoldBytes int64

	// Progress, if set, is called every ProgressInterval (0 = 1 s) from
	// Run's goroutine.
	Progress         func(Progress)
	ProgressInterval time.Duration

	// Cutoff, when set, is the per-flow cutoff: flows are tracked in the
	// writer goroutine and their packets past a rule's limit are stored
	// cut to their headers, or not at all (see package cutoff). Its
	// Flows field is ignored: Flows below receives the records.
	Cutoff *cutoff.Config

	// Flows, when set, is called with flow records, from the reader or
	// the writer goroutine but never from both at once: every flow when it ends (Final true), and every active flow
	// that changed since its last record at most once per FlowInterval
	// (0 = 1 s), so a consumer is never more than about a second behind.
	// The record is valid only during the call.
	Flows        func(FlowRecord)
	FlowInterval time.Duration
}

// FlowRecord is a flow as the recorder's writer tracks it. Flow and its
// counters are valid only during the Config.Flows call. A flow's
// identity is (Interface, Flow.CommunityID, Flow.FirstNS); Flow.Reported
// says an earlier record of this flow was given to Config.Flows.
type FlowRecord struct {
	Flow      *flow.Flow
	Interface int // the block's interface index, as in store.Block.Interface
	Final     bool
}

// Progress is a snapshot of a running recording.
type Progress struct {
	Stored   int64
	Bytes    int64
	Received uint64
	Dropped  uint64
	// WriteErr is the write error being retried, nil while writes
	// succeed; Held counts the packets waiting in memory meanwhile.
	WriteErr error
	Held     int64
	// Cutoff counts what the cutoff did (zero without Config.Cutoff).
	Cutoff cutoff.Stats
	// CompressionSkipped counts the blocks stored raw, though compression
	// was on, because the pipeline was behind (see the package doc).
	CompressionSkipped int64
}

// Result sums up a finished recording.
type Result struct {
	Stored     int64 // packets committed to the store
	Bytes      int64 // captured bytes committed
	Stats      capture.Stats
	AppDropped int64 // packets the kernel accepted but the store does not hold (write failure, never read)
	Drained    bool  // the source was drained completely after the stop
	CountHit   bool  // stopped because Count was reached
	// Cutoff counts what the cutoff did: packets cut to their headers
	// (counted in Stored) and packets not stored (Cutoff.DropPackets,
	// not in Stored), flows cut, flows evicted from a full table.
	Cutoff cutoff.Stats
	// CompressionSkipped counts the blocks stored raw, though compression
	// was on, because the pipeline was behind (see the package doc).
	CompressionSkipped int64
}

func (c *Config) withDefaults() Config {
	out := *c
	if out.BlockBytes == 0 {
		out.BlockBytes = 256 << 10
	}
	if out.FlushInterval == 0 {
		out.FlushInterval = 50 * time.Millisecond
	}
	if out.CommitInterval == 0 {
		out.CommitInterval = 100 * time.Millisecond
	}
	if out.DrainTimeout == 0 {
		out.DrainTimeout = 5 * time.Second
	}
	if out.QueueBlocks == 0 {
		// 96 blocks of 256 KiB absorb a checkpoint's stall of well over
		// 100 ms at the lab's top rates; they are allocated only when used.
		out.QueueBlocks = 96
	}
	if out.Logger == nil {
		out.Logger = slog.New(slog.DiscardHandler)
	}
	return out
}

// Run records until ctx is done, Count packets are stored, or an error
// occurs. It returns after the source is drained and every block is
// committed. The caller closes the source and finalizes the session.
func Run(ctx context.Context, cfg Config) (Result, error) {
	c := cfg.withDefaults()
	// The blocks are dealt to the preparers in turn, each with a channel
	// in and a channel out, and taken back from them in the same turn:
	// the writer gets them in the reader's order.
	// The reader and the writer need a core between them: the preparers
	// get the others (one on two cores), at least one.
	workers := cmp.Or(c.Preparers, max(1, runtime.GOMAXPROCS(0)-1))
	per := max(1, c.QueueBlocks/(2*workers))
	ins := make([]chan *store.Block, workers)
	outs := make([]chan *store.Block, workers)
	for i := range workers {
		ins[i] = make(chan *store.Block, per)
		outs[i] = make(chan *store.Block, per)
	}
	// free holds emptied blocks for reuse; nil entries are blocks not yet
	// allocated, so memory grows only as far as the writer falls behind.
	slots := 2*workers*(per+1) + 2 + maxHeldBlocks
	free := make(chan *store.Block, slots)
	for range slots {
		free <- nil
	}
	var (
		queued  atomic.Int64 // blocks handed on by the reader, not yet taken by the writer
		skipped atomic.Int64
	)
	skipAt := int64(max(1, c.QueueBlocks/2))
	var comp store.Compression
	cs, prepare := c.Writer.(compressionSink)
	if prepare {
		comp = cs.Compression()
	}
	ps, pairs := c.Writer.(pairsSink)
	pairs = pairs && ps.SummaryPairs()

	var (
		stopWriter atomic.Bool // the writer failed: stop reading
		stored     atomic.Int64
		bytes      atomic.Int64
		received   atomic.Uint64
		dropped    atomic.Uint64
	)
	tw := &txWriter{c: c, w: c.Writer, free: free}
	eng := newEngine(c, tw)
	if eng != nil && c.Cutoff != nil {
		tw.eng = eng // active cut flows are recorded with each commit
	}
	rd := reader{cfg: c, ins: ins, free: free, queued: &queued, eng: eng, stopWriter: &stopWriter, received: &received, dropped: &dropped, linkType: c.Source.LinkType()}
	var wg sync.WaitGroup
	var readErr error
	wg.Add(1 + workers)
	go func() {
		defer wg.Done()
		defer func() {
			for _, in := range ins {
				close(in)
			}
		}()
		readErr = rd.run(ctx)
	}()
	for i := range workers {
		go func() {
			defer wg.Done()
			defer close(outs[i])
			pr := store.Preparer{Pairs: pairs}
			for b := range ins[i] {
				if prepare {
					// Behind: store it raw rather than let the ring fill.
					raw := queued.Load() > skipAt
					pr.PrepareBlock(b, comp, raw)
					if raw && !comp.None {
						skipped.Add(1)
					}
				}
				outs[i] <- b
			}
		}()
	}
	next := 0 // the preparer the writer takes its next block from
	var flowDue <-chan time.Time
	if eng != nil {
		flowTick := time.NewTicker(cmp.Or(c.FlowInterval, time.Second))
		defer flowTick.Stop()
		flowDue = flowTick.C
	}
	c.Writer.SetBusyTimeout(busyTimeout)
	defer c.Writer.SetBusyTimeout(10 * time.Second)
	ticker := time.NewTicker(cmp.Or(c.ProgressInterval, time.Second))
	defer ticker.Stop()
	backlogTick := time.NewTicker(100 * time.Millisecond)
	defer backlogTick.Stop()
	commitTimer := time.NewTimer(time.Hour)
	commitTimer.Stop()
	defer commitTimer.Stop()
	var commitDue <-chan time.Time // set while a commit is scheduled
	progress := func() {
		stored.Store(tw.res.Stored)
		bytes.Store(tw.res.Bytes)
		if tw.err != nil {
			stopWriter.Store(true)
		}
	}
	for done := false; !done; {
		select {
		case b, ok := <-outs[next]:
			if !ok {
				// The reader dealt no block after the last one taken:
				// every other preparer is done as well.
				if eng != nil {
					eng.mu.Lock()
					eng.e.Flush() // every flow ends: the cut ones go in the last commit
					eng.mu.Unlock()
					tw.writeCuts()
				}
				tw.commit()
				done = true
				break
			}
			next = (next + 1) % workers
			queued.Add(-1)
			tw.add(b)
			// Commit on a clock, not per block: every commit rewrites a few
			// 64 KiB index and session pages, and in rollback-journal mode
			// syncs the file.
			if c.Writer.InTx() {
				if wait := c.CommitInterval - time.Since(tw.txStart); wait <= 0 {
					tw.commit()
				} else if commitDue == nil {
					commitTimer.Reset(wait)
					commitDue = commitTimer.C
				}
			}
			progress()
		case <-commitDue:
			commitDue = nil
			tw.commit()
			progress()
		case <-backlogTick.C:
			if tw.retry(false) && tw.drainBacklog() && !c.Writer.InTx() {
				if tk, ok := c.Writer.(interface{ Tick() error }); ok {
					// A segment that reached its age on an idle link
					// closes. Its packets are committed: an error closing
					// it loses none, and the next segment is a new file.
					if err := tk.Tick(); err != nil {
						c.Logger.Warn("close segment", "err", err)
					}
				}
			}
			progress()
		case <-flowDue:
			eng.mu.Lock()
			eng.e.Report(time.Now().UnixNano())
			eng.mu.Unlock()
		case <-ticker.C:
			if c.Progress != nil {
				p := Progress{Stored: stored.Load(), Bytes: bytes.Load(), Received: received.Load(), Dropped: dropped.Load(),
					WriteErr: tw.werr, Held: tw.memPackets, CompressionSkipped: skipped.Load()}
				if eng != nil {
					p.Cutoff = eng.stats()
				}
				c.Progress(p)
			}
		}
	}
	tw.finishBacklog()
	writeErr := tw.err
	wg.Wait()
	res := tw.res
	if eng != nil {
		res.Cutoff = eng.stats()
	}
	res.CompressionSkipped = skipped.Load()
	res.Stats = rd.stats
	res.Drained = rd.drained
	res.CountHit = rd.countHit
	if !rd.drained && !rd.countHit {
		// Packets the kernel accepted that were never read (the drain
		// timed out, or the source broke): counted, never silently gone.
		if unread := int64(rd.stats.Received) - int64(rd.stats.Dropped) - int64(c.Source.Seen()); unread > 0 {
			res.AppDropped += unread
		}
	}
	if writeErr != nil {
		return res, fmt.Errorf("store packets: %w", writeErr)
	}
	if readErr != nil {
		return res, readErr
	}
	return res, nil
}

// reader owns the source for the life of Run.
type reader struct {
	cfg        Config
	ins        []chan *store.Block // the preparers', dealt in turn
	next       int
	free       chan *store.Block
	queued     *atomic.Int64
	eng        *engine // nil: no cutoff nor flow records
	stopWriter *atomic.Bool
	received   *atomic.Uint64
	dropped    *atomic.Uint64

	block    *store.Block
	opened   time.Time // when the current block got its first packet
	linkType uint32    // the source's, for packets that carry none
	taken    int64     // packets put into blocks
	stats    capture.Stats
	drained  bool
	countHit bool
}

func (r *reader) flush() {
	if r.block == nil || r.block.Count == 0 {
		return
	}
	b := r.block
	r.block = nil
	if r.eng != nil {
		r.eng.mu.Lock()
		r.eng.e.Apply(b)
		r.eng.mu.Unlock()
		if b.Count == 0 {
			r.free <- b // every packet cut and not kept
			return
		}
	}
	r.queued.Add(1)
	r.ins[r.next] <- b
	r.next = (r.next + 1) % len(r.ins)
}

func (r *reader) add(p capture.Packet) {
	if r.cfg.Count > 0 && r.taken >= r.cfg.Count {
		r.countHit = true
		return
	}
	lt := p.LinkType
	if lt == 0 {
		lt = r.linkType
	}
	// A block holds one interface's packets of one link type (several
	// interfaces come from a capture.Multi).
	if r.block != nil && (r.block.Interface != p.Interface || r.block.LinkType != lt) {
		r.flush()
	}
	if r.block == nil {
		r.block = <-r.free
		if r.block == nil {
			r.block = &store.Block{Data: make([]byte, 0, r.cfg.BlockBytes+64<<10)}
		}
		r.block.Reset(lt)
		r.block.Interface = p.Interface
		r.opened = time.Now()
	}
	data := p.Data
	if r.cfg.Snaplen > 0 && len(data) > r.cfg.Snaplen {
		data = data[:r.cfg.Snaplen]
	}
	copy(r.block.AppendHeader(p.Timestamp, len(data), p.OrigLen), data)
	r.taken++
	if r.cfg.Count > 0 && r.taken >= r.cfg.Count {
		r.countHit = true
	}
	if len(r.block.Data) >= r.cfg.BlockBytes {
		r.flush()
	}
}

func (r *reader) updateStats() error {
	st, err := r.cfg.Source.Stats()
	if err != nil {
		return err
	}
	r.stats = st
	r.received.Store(st.Received)
	r.dropped.Store(st.Dropped)
	return nil
}

func (r *reader) run(ctx context.Context) error {
	src := r.cfg.Source
	log := r.cfg.Logger
	var (
		stopping  bool
		stopAt    time.Time
		lastStats time.Time
		readErr   error
	)
	for {
		if !stopping && (ctx.Err() != nil || r.countHit || r.stopWriter.Load() || readErr != nil) {
			stopping = true
			stopAt = time.Now()
			if err := src.Stop(); err != nil {
				log.Warn("stop source", "err", err)
			}
		}
		if stopping {
			// A broken source (the interface went down) still holds the
			// packets its ring had accepted: drain them as after any stop.
			// Only a closed source or a failed writer ends at once.
			if errors.Is(readErr, capture.ErrClosed) || r.stopWriter.Load() {
				break
			}
			if err := r.updateStats(); err != nil {
				readErr = err
				break
			}
			if src.Seen() >= r.stats.Received-r.stats.Dropped {
				// Read the counters once more: a packet that passed the
				// old filter just before Stop may be counted late.
				time.Sleep(time.Millisecond)
				if err := r.updateStats(); err == nil && src.Seen() >= r.stats.Received-r.stats.Dropped {
					r.drained = true
					break
				}
			}
			if time.Since(stopAt) > r.cfg.DrainTimeout {
				log.Warn("drain timed out", "seen", src.Seen(), "received", r.stats.Received, "dropped", r.stats.Dropped)
				break
			}
		}
		timeout := 100 * time.Millisecond
		if stopping {
			timeout = 5 * time.Millisecond
		} else if r.block != nil {
			timeout = min(timeout, max(time.Millisecond, r.cfg.FlushInterval-time.Since(r.opened)))
		}
		if _, err := src.Read(timeout, r.add); err != nil && readErr == nil {
			if errors.Is(err, capture.ErrClosed) {
				readErr = err
			} else {
				readErr = fmt.Errorf("read packets: %w", err)
			}
		} else if err != nil && stopping {
			// Errors while draining a broken source: the first one is
			// the reason; keep walking what the ring holds.
			time.Sleep(time.Millisecond)
		}
		if r.block != nil && time.Since(r.opened) >= r.cfg.FlushInterval {
			r.flush()
		}
		// The kernel's counters are read again as soon as they say less
		// than was read: the received counter is never behind what is
		// stored (a scrape must not see more stored than received).
		if time.Since(lastStats) >= time.Second || src.Seen() > r.stats.Received-min(r.stats.Dropped, r.stats.Received) {
			lastStats = time.Now()
			if err := r.updateStats(); err != nil && readErr == nil {
				readErr = err
			}
		}
	}
	r.flush()
	if err := r.updateStats(); err != nil && readErr == nil {
		readErr = err
	}
	return readErr
}

// engine is the recording's flow tracker: the reader applies it to each
// block, the writer reports its flows and records its cut ones; mu
// guards it, and tw.cuts, which its callback fills.
type engine struct {
	mu sync.Mutex
	e  *cutoff.Engine
}

func (e *engine) stats() cutoff.Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.e.Stats()
}

// compressionSink is a sink that says how it stores blocks, so that
// they can be prepared ahead (store.PrepareBlock) off the writer
// goroutine; Run asks once, at its start. A sink that does not say gets
// blocks unprepared (its Append sketches and compresses them).
type compressionSink interface {
	Compression() store.Compression
}

// pairsSink is a sink whose segment summaries take the address-port
// pairs of its blocks' packets (archive.Recording): the preparers
// collect them while they sketch each block. Run asks once.
type pairsSink interface {
	SummaryPairs() bool
}

// newEngine makes the writer's flow tracker when the recording has a
// cutoff or a flow consumer; nil otherwise (nothing is tracked). The
// flows a cutoff applied to go to tw, to be written with the next commit.
func newEngine(c Config, tw *txWriter) *engine {
	if c.Cutoff == nil && c.Flows == nil {
		return nil
	}
	var cc cutoff.Config
	if c.Cutoff != nil {
		cc = *c.Cutoff
	}
	_, cuts := c.Writer.(flowCutSink)
	fn := c.Flows
	cc.Flows = func(f *flow.Flow, iface int, final bool) {
		if final && f.Cut && cuts && len(tw.cuts) < maxPendingCuts {
			tw.cuts = append(tw.cuts, cutoff.Record(f, iface))
		}
		if fn != nil {
			fn(FlowRecord{Flow: f, Interface: iface, Final: final})
			// Its later records are not its first (f.Reported: the
			// fleet ships a flow's only record by a plain COPY).
			f.Reported = true
		}
	}
	if cc.Warn == nil {
		cc.Warn = func(msg string) { c.Logger.Warn(msg) }
	}
	return &engine{e: cutoff.New(cc)}
}
