package replay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/capture"
	"github.com/packetrecorderd/packetrecorderd/internal/rewrite"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

// Source is where a replay's packets come from. Walk calls fn for its
// packets in order, at most limit of them (0: all), until fn or ctx stops
// it; each call of Walk is one pass over them. A record's Data is valid
// only during the call of fn.
type Source interface {
	Walk(ctx context.Context, limit int64, fn func(store.Record) error) error
}

// SourceFunc is a walk function used as a Source.
type SourceFunc func(ctx context.Context, limit int64, fn func(store.Record) error) error

// Walk calls f.
func (f SourceFunc) Walk(ctx context.Context, limit int64, fn func(store.Record) error) error {
	return f(ctx, limit, fn)
}

// LoopForever, as Config.Loop, plays the packets until the context ends.
const LoopForever = -1

// Config says how a replay plays its packets. The zero value plays them
// once, as they are, as fast as possible.
type Config struct {
	// Pace is how fast: the zero Pace sends as fast as possible (through
	// each Output's Batch sender), any other at its deadlines (through
	// each Output's Timed sender).
	Pace Pace
	// Clock times the schedule; nil is SystemClock, for which Run also
	// prepares its thread for precise wake-ups (LockThread).
	Clock Clock
	// Rewrite changes every frame before it is scheduled (addresses,
	// ports, checksums); the zero value changes nothing.
	Rewrite rewrite.Config
	// Segment splits IP packets larger than an Output's MTU as TSO would
	// (TCP into segments, others into fragments), the segments after the
	// first spread over the gap to the next frame; Truncate cuts them to
	// the MTU instead. At most one of them.
	Segment, Truncate bool
	// Qdisc makes OpenInterface's senders send through the interface's
	// qdisc layer (tc, netem, tcpdump -Q out apply) instead of around it.
	Qdisc bool
	// Loop is how many times the packets are played: 0 is once,
	// LoopForever until the context ends.
	Loop int64
	// Count stops the replay after this many packets, all passes
	// together; 0 is no limit.
	Count int64
	// Progress, when set, is told the frames and bytes sent so far after
	// every 256th frame.
	Progress func(packets, bytes int64)
}

func (c Config) passes() int64 {
	switch {
	case c.Loop < 0:
		return 0 // the read-ahead's "until ctx ends"
	case c.Loop == 0:
		return 1
	}
	return c.Loop
}

func (c Config) validate() error {
	switch {
	case c.Segment && c.Truncate:
		return errors.New("replay: segment or truncate, not both")
	case c.Count < 0:
		return fmt.Errorf("replay: count %d: must be 0 (all) or more", c.Count)
	}
	return nil
}

// Stats are what a replay did. Every frame counts once, each segment of a
// split frame as one.
type Stats struct {
	Packets, Bytes int64 // frames sent and their bytes
	// ServerPackets are the frames sent on the second Output (the
	// servers'); they are counted in Packets too.
	ServerPackets int64
	Skipped       int64 // frames the interface refused as too big, or over the MTU and not splittable
	// Unfit are the frames not sent because the interface cannot carry
	// them: of another link type than its own, or shorter than its link
	// header (which the kernel refuses).
	Unfit     int64
	Split     int64 // frames over the MTU sent as segments or fragments (Config.Segment)
	Truncated int64 // frames cut to the MTU (Config.Truncate)
	// Rewritten counts the frames sent that Config.Rewrite changed;
	// Patched those of them whose transport checksum was updated for the
	// change only (the frame lacks the rest of its segment).
	Rewritten, Patched int64
	Backward           int64  // packets whose timestamp went back: played without a gap
	Retries            uint64 // sends retried because an interface's queue was full
	// Start is when the schedule was anchored at the first frame (zero
	// when none was sent); Elapsed runs from there to the end.
	Start   time.Time
	Elapsed time.Duration
	// Errors and Drift are the schedule's (Scheduler.Errors, Drift); zero
	// at top speed.
	Errors ScheduleError
	Drift  time.Duration
	// Interrupted reports that the context was cancelled before the end.
	Interrupted bool
}

// TimedSender sends one frame at a time, as soon as it is given, and can
// tell when the driver took it: what a paced replay sends through.
// capture.TimedSender is one.
type TimedSender interface {
	// Send sends frame; measure asks for its driver timestamp, read by
	// Stamp. A frame the interface refuses as too big is an error
	// matching capture.ErrFrameTooBig.
	Send(frame []byte, measure bool) error
	Stamp() (time.Time, bool)
	// Prime warms the send path for a frame of size bytes, sending nothing.
	Prime(size int)
	// MaxFrame is the largest frame the interface takes.
	MaxFrame() int
	Stats() capture.SendStats
}

// BatchSender queues frames and hands them on in batches: what a replay
// at top speed sends through. capture.Sender is one.
type BatchSender interface {
	// Queue queues frame (copying it); a frame the interface refuses as
	// too big is an error matching capture.ErrFrameTooBig.
	Queue(frame []byte) error
	// Flush sends what is queued.
	Flush() error
	Stats() capture.SendStats
}

var (
	_ TimedSender = (*capture.TimedSender)(nil)
	_ BatchSender = (*capture.Sender)(nil)
)

// Output is an interface a replay sends on (OpenInterface opens one), or
// anything else with its senders (a test's slice).
type Output struct {
	Name string
	// LinkType is the interface's (OpenInterface): a packet of another
	// is not sent, but skipped and counted (0: every packet is sent).
	LinkType uint32
	// MTU is the largest IP packet it sends, for Config.Segment and
	// Config.Truncate.
	MTU int
	// Timed sends a paced replay's frames, Batch those of a replay at top
	// speed: the one the Config's Pace needs must be set.
	Timed TimedSender
	Batch BatchSender
	close func() error
}

// Close closes the Output's senders.
func (o *Output) Close() error {
	if o.close == nil {
		return nil
	}
	return o.close()
}

func (o *Output) retries() uint64 {
	if o.Timed != nil {
		return o.Timed.Stats().Retries
	}
	return o.Batch.Stats().Retries
}

// flushEvery is how many frames a batched output queues before it hands
// them to the kernel; progressEvery how many frames go between calls of
// Config.Progress.
const (
	flushEvery    = 256
	progressEvery = 256
)

// output is an Output as a running replay keeps it.
type output struct {
	*Output
	seg    *rewrite.Segmenter
	queued int
}

// engine is one Run: the frames' way from the read-ahead to the outputs.
type engine struct {
	ctx   context.Context
	cfg   Config
	sched *Scheduler
	rw    *rewrite.Rewriter
	outs  []*output
	sides *Sides // with two outputs, which side sent a frame
	cur   int    // the output of the frame being scheduled
	st    Stats

	// The segments of a split frame after the first wait for the next
	// frame's timestamp: they are spread over the frame's time slot, the
	// gap to the next frame.
	pending    [][]byte
	pendingOut int
	pendingTS  int64
	before     []byte // a frame as stored, to tell what rewriting changed
}

// Run plays src's packets onto outs as cfg says and returns what it did.
// With two outputs, the clients' packets go to the first and the
// servers' to the second (see Sides). A frame an output refuses as too
// big is skipped and counted, not an error. A cancelled ctx ends the
// replay with Stats.Interrupted and no error; any other error stops it,
// and the Stats say what was sent before. Run closes no Output.
func Run(ctx context.Context, cfg Config, src Source, outs []*Output) (Stats, error) {
	if err := cfg.validate(); err != nil {
		return Stats{}, err
	}
	if len(outs) == 0 || len(outs) > 2 {
		return Stats{}, fmt.Errorf("replay: %d outputs: give one, or two (clients, servers)", len(outs))
	}
	paced := cfg.Pace.Paced()
	e := &engine{ctx: ctx, cfg: cfg, sched: NewScheduler(cfg.Clock, cfg.Pace)}
	for _, o := range outs {
		if paced && o.Timed == nil || !paced && o.Batch == nil {
			return Stats{}, fmt.Errorf("replay onto %s: no sender for this pace", o.Name)
		}
		out := &output{Output: o}
		if cfg.Segment {
			out.seg = rewrite.NewSegmenter(o.MTU)
		}
		e.outs = append(e.outs, out)
	}
	if cfg.Rewrite.Active() {
		e.rw = rewrite.New(cfg.Rewrite)
	}
	if len(outs) > 1 {
		e.sides = NewSides()
	}
	if paced {
		if cfg.Clock == nil {
			defer LockThread()()
		}
		e.sched.Prime = func(size int) { e.outs[e.cur].Timed.Prime(size) }
	}

	err := e.play(src)
	if errors.Is(err, context.Canceled) {
		e.st.Interrupted, err = true, nil
	}
	st := &e.st
	st.Start = e.sched.Start()
	if !st.Start.IsZero() {
		clock := cfg.Clock
		if clock == nil {
			clock = SystemClock{}
		}
		st.Elapsed = clock.Now().Sub(st.Start)
	}
	for _, o := range e.outs {
		st.Retries += o.retries()
	}
	st.Errors = e.sched.Errors()
	st.Drift = e.sched.Drift()
	st.Backward = e.sched.BackwardJumps()
	return *st, err
}

// play sends the packets as the read-ahead yields them, pass after pass.
func (e *engine) play(src Source) error {
	ra := startReadAhead(e.ctx, src, e.cfg.passes(), e.cfg.Count)
	pass := int64(0)
	var err error
play:
	for b := range ra.batches {
		if b.pass != pass {
			// The last frame's segments belong to the pass before.
			if err = e.finish(); err != nil {
				break
			}
			e.sched.NextLoop()
			pass = b.pass
		}
		for _, rec := range b.recs {
			if err = e.send(rec); err != nil {
				break play
			}
		}
		ra.done(b)
	}
	if rerr := ra.stop(); err == nil {
		err = rerr
	}
	if ferr := e.finish(); err == nil {
		err = ferr
	}
	return err
}

// send schedules one stored packet: onto its side's output, rewritten,
// split or cut to the MTU.
func (e *engine) send(rec store.Record) error {
	if err := e.flush(rec.Timestamp); err != nil {
		return err
	}
	e.cur = 0
	if e.sides != nil && e.sides.Of(rec.LinkType, rec.Data) == Server {
		e.cur = 1
	}
	changed, patched := false, false
	if e.rw != nil {
		e.before = append(e.before[:0], rec.Data...)
		p0 := e.rw.Stats().Patched
		e.rw.Apply(rec.LinkType, rec.Data)
		changed = !bytes.Equal(e.before, rec.Data)
		patched = changed && e.rw.Stats().Patched > p0
	}
	if changed {
		// Counted once the packet is sent, not when skipped.
		sentBefore := e.st.Packets
		defer func() {
			if e.st.Packets > sentBefore {
				e.st.Rewritten++
				if patched {
					e.st.Patched++
				}
			}
		}()
	}
	out := e.outs[e.cur]
	frame := rec.Data
	if out.LinkType != 0 && rec.LinkType != out.LinkType || len(frame) < minFrame(rec.LinkType) {
		// A raw IP packet among Ethernet frames (a pcapng that describes
		// its interfaces late) would go out read as MAC addresses; a
		// frame shorter than its link header ends a paced replay with
		// EINVAL, and an empty one is never sent.
		e.st.Unfit++
		return nil
	}
	switch {
	case out.seg != nil && !out.seg.Fits(rec.LinkType, frame):
		segs, err := out.seg.Split(rec.LinkType, frame)
		if err != nil {
			e.st.Skipped++
			return nil
		}
		e.st.Split++
		e.pending, e.pendingOut, e.pendingTS = segs[1:], e.cur, rec.Timestamp
		frame = segs[0]
	case e.cfg.Truncate:
		if f := rewrite.Truncate(rec.LinkType, frame, out.MTU); len(f) < len(frame) {
			e.st.Truncated++
			frame = f
		}
	}
	return e.emit(rec.Timestamp, frame)
}

// flush sends the pending segments of the frame before, spread over the
// gap up to next.
func (e *engine) flush(next int64) error {
	if len(e.pending) == 0 {
		return nil
	}
	gap, n := max(next-e.pendingTS, 0), int64(len(e.pending)+1)
	segs := e.pending
	e.pending, e.cur = nil, e.pendingOut
	for k, seg := range segs {
		i := int64(k + 1)
		if err := e.emit(e.pendingTS+gap/n*i+gap%n*i/n, seg); err != nil {
			return err
		}
	}
	return nil
}

// finish sends what is still pending or queued: at the end of a pass.
func (e *engine) finish() error {
	err := e.flush(e.pendingTS)
	if e.cfg.Pace.Paced() {
		return err
	}
	errs := []error{err}
	for _, o := range e.outs {
		errs = append(errs, o.Batch.Flush())
	}
	return errors.Join(errs...)
}

// emit sends one frame on the current output, due at ts; a frame the
// interface refuses as too big is skipped and counted.
func (e *engine) emit(ts int64, frame []byte) error {
	if e.cfg.Pace.Paced() {
		return e.emitTimed(ts, frame)
	}
	return e.emitBatched(ts, frame)
}

// emitTimed waits for the frame's deadline and sends it alone: paced
// frames leave one by one, each timed by the driver where it can.
func (e *engine) emitTimed(ts int64, frame []byte) error {
	o := e.outs[e.cur]
	if len(frame) > o.Timed.MaxFrame() {
		e.st.Skipped++
		return nil
	}
	slot, err := e.sched.Wait(e.ctx, ts, len(frame))
	if err != nil {
		return err
	}
	if err := o.Timed.Send(frame, slot.Measure); errors.Is(err, capture.ErrFrameTooBig) {
		e.st.Skipped++
		return nil
	} else if err != nil {
		return err
	}
	at, ok := time.Time{}, false
	if slot.Measure {
		at, ok = o.Timed.Stamp()
	}
	e.sched.Sent(slot, at, ok)
	e.sent(frame)
	return nil
}

// emitBatched queues the frame: at top speed frames are queued in the
// transmit ring and handed to the kernel in batches.
func (e *engine) emitBatched(ts int64, frame []byte) error {
	if err := e.ctx.Err(); err != nil {
		return err
	}
	o := e.outs[e.cur]
	e.sched.Offset(ts, len(frame)) // anchors the start
	err := o.Batch.Queue(frame)
	if err == nil {
		e.sent(frame)
		if o.queued++; o.queued == flushEvery {
			o.queued, err = 0, o.Batch.Flush()
		}
	}
	if errors.Is(err, capture.ErrFrameTooBig) {
		e.st.Skipped++
		return nil
	}
	return err
}

// sent counts a frame sent on the current output.
func (e *engine) sent(frame []byte) {
	e.st.Packets++
	e.st.Bytes += int64(len(frame))
	if e.cfg.Progress != nil && e.st.Packets%progressEvery == 0 {
		e.cfg.Progress(e.st.Packets, e.st.Bytes)
	}
	if e.cur != 0 {
		e.st.ServerPackets++
	}
}

// Preview plays one pass of src's packets, at most cfg.Count, on the
// schedule without sending them: fn gets each packet, rewritten as cfg
// says, with the time it is due after the first. A cancelled ctx ends it
// without an error.
func Preview(ctx context.Context, cfg Config, src Source, fn func(rec store.Record, due time.Duration) error) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	sched := NewScheduler(cfg.Clock, cfg.Pace)
	var rw *rewrite.Rewriter
	if cfg.Rewrite.Active() {
		rw = rewrite.New(cfg.Rewrite)
	}
	ra := startReadAhead(ctx, src, 1, cfg.Count)
	var err error
show:
	for b := range ra.batches {
		for _, rec := range b.recs {
			if rw != nil {
				rw.Apply(rec.LinkType, rec.Data)
			}
			if err = fn(rec, sched.Offset(rec.Timestamp, len(rec.Data))); err != nil {
				break show
			}
		}
		ra.done(b)
	}
	if rerr := ra.stop(); err == nil {
		err = rerr
	}
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// minFrame is the shortest frame of a link type the kernel sends: an
// Ethernet header, or one byte.
func minFrame(linkType uint32) int {
	if linkType == rewrite.LinkEthernet {
		return 14
	}
	return 1
}
