// Package replay plays stored packets onto network interfaces.
//
// Run is the send pipeline: a read-ahead goroutine walks the Source
// (a selection of stored packets, pass after pass for Config.Loop) and
// copies the packets into recycled batches, so that neither the disk nor
// the filter ever runs on the sender's clock; the sender rewrites each
// frame (Config.Rewrite), picks its Output by direction when there are two
// (Sides), splits or cuts it to the Output's MTU (Config.Segment,
// Truncate), and hands it to the Output's TimedSender at its deadline
// (paced) or queues it in its BatchSender (top speed), counting what it
// sent, skipped, split, cut and rewrote in Stats. OpenInterface opens an
// Output on an interface; tests use slices and a fake Clock. Preview walks
// the same schedule and sends nothing (replay --display-only).
//
// A Scheduler turns packets into send deadlines on an absolute schedule
// anchored at the first packet: with the recorded timing, packet i is due at
// start + (ts_i - ts_0) / speed; at a fixed rate, at start + i / pps (or
// after the bits before it at the given Mbit/s). A late packet never delays
// the ones after it, so errors do not accumulate. The scheduler sleeps until
// shortly before a deadline, then spins on the clock for the rest, which
// keeps the error within microseconds where a plain sleep would be off by
// tens of them.
//
// A deadline is when the frame should reach the driver, not when the
// sender should start sending it. The send path takes time, and how much
// depends on how long the sender was idle before (its code and data go
// cold in the caches): the Scheduler learns that latency from the
// driver-side timestamps it is given through Sent, per class of idle time,
// and releases each frame that much early. Before a release that follows a
// pause it calls Prime, which warms the send path without sending. The
// clock is injected so the schedule is tested on a fake clock.
//
// Sides splits a replay over two interfaces by direction: it tells, per
// flow, whether a frame came from the client or the server end.
package replay

import (
	"context"
	"math"
	"time"
)

// Clock is the time source of a Scheduler.
type Clock interface {
	Now() time.Time
	Sleep(time.Duration)
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns the current time.
func (SystemClock) Now() time.Time { return time.Now() }

// Sleep pauses the calling thread; see LockThread for precise wake-ups.
func (SystemClock) Sleep(d time.Duration) { sleep(d) }

// DefaultSpin is how long before a deadline the Scheduler stops sleeping
// and starts spinning. It covers the wake-up latency of a thread prepared
// by LockThread (measured here: p99 about 50 us when the machine is busy,
// 180 us and up to 900 us when it is idle, as an idle virtual CPU is slow
// to wake) and keeps the CPU busy through short gaps, which measurably
// steadies the send path (tcpreplay spins through every gap).
const DefaultSpin = 5 * time.Millisecond

// primeLead is how long before a release Prime is called, and primeIdle
// the pause after which it is: a path used within the last primeIdle is
// still warm. Priming a path that has gone cold takes up to about 15 us.
const (
	primeLead = 40 * time.Microsecond
	primeIdle = 100 * time.Microsecond
)

// maxNap bounds one sleep so that a cancelled context is noticed promptly
// even inside a long gap between packets.
const maxNap = 50 * time.Millisecond

// Pace says how fast to send. With all fields zero, packets go out as fast
// as possible. PPS or Mbps, when set, replace the recorded timing.
type Pace struct {
	Speed float64 // multiplier of the recorded timing: 2 = twice as fast
	PPS   float64 // fixed packets per second
	Mbps  float64 // fixed megabits per second (frame bytes)
}

// Paced reports whether the pace ever waits.
func (p Pace) Paced() bool { return p.Speed > 0 || p.PPS > 0 || p.Mbps > 0 }

// Scheduler decides when each packet is sent. It is used by one goroutine.
type Scheduler struct {
	clock Clock
	pace  Pace
	spin  time.Duration

	started  bool
	start    time.Time
	tsSet    bool
	prevTS   int64         // timestamp of the packet before
	elapsed  uint64        // recorded time since this loop's first packet, backward jumps counting as no gap (ns, saturating)
	loopBase time.Duration // offset at which this loop started
	backward int64         // packets whose timestamp went back

	lastOff time.Duration // offset of the last packet scheduled
	packets int64
	bits    float64
	errs    histogram

	// Prime, when set, warms the send path for a frame of size bytes
	// without sending it. It is called once before a release that
	// follows a pause.
	Prime func(size int)

	latency     latencyModel
	lastRelease time.Time

	// The first and last frames Sent: their deadlines and when they left.
	sent                int64
	firstDue, firstLeft time.Time
	lastDue, lastLeft   time.Time
}

// Slot is one packet's place in the schedule, from Wait to Sent.
type Slot struct {
	Due     time.Time     // when the frame should reach the driver
	Release time.Time     // when Wait let it go
	Early   time.Duration // how long before Due it was meant to go: the expected send latency
	Measure bool          // the scheduler would learn from this frame's driver time
	class   int
}

// NewScheduler returns a Scheduler. A nil clock means SystemClock.
func NewScheduler(clock Clock, pace Pace) *Scheduler {
	if clock == nil {
		clock = SystemClock{}
	}
	return &Scheduler{clock: clock, pace: pace, spin: DefaultSpin}
}

// Offset is when, relative to the start, a packet with capture timestamp ts
// (ns) and size bytes is due. The first call anchors the schedule at the
// current time. Each call advances the schedule by one packet.
func (s *Scheduler) Offset(ts int64, size int) time.Duration {
	if !s.started {
		s.started = true
		s.start = s.clock.Now()
		if s.pace.Paced() {
			// Room to prime the path for the first frame too.
			s.start = s.start.Add(2 * primeLead)
		}
	}
	var off time.Duration
	switch {
	case s.pace.PPS > 0:
		off = duration(float64(s.packets) / s.pace.PPS * 1e9)
	case s.pace.Mbps > 0:
		off = duration(s.bits / (s.pace.Mbps * 1e6) * 1e9)
	case s.pace.Speed > 0:
		if !s.tsSet {
			s.tsSet, s.prevTS, s.elapsed = true, ts, 0
		}
		// A timestamp that goes back (a merged file, a clock step) is no
		// gap, as tcpreplay plays it: the rest of the schedule keeps its
		// spacing instead of restarting, which would send every packet
		// up to the old time at once.
		if ts < s.prevTS {
			s.backward++
		} else if gap := uint64(ts) - uint64(s.prevTS); s.elapsed+gap >= s.elapsed {
			s.elapsed += gap
		} else {
			s.elapsed = math.MaxUint64
		}
		s.prevTS = ts
		off = s.loopBase + duration(float64(s.elapsed)/s.pace.Speed)
	}
	s.packets++
	s.bits += float64(size) * 8
	s.lastOff = max(s.lastOff, off)
	return off
}

// duration converts ns to a Duration, saturating where a very slow speed
// would overflow it (a schedule past the year 2262 never comes anyway).
func duration(ns float64) time.Duration {
	if ns >= math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(ns)
}

// BackwardJumps counts the packets whose timestamp was earlier than the
// one before them; each was played without a gap.
func (s *Scheduler) BackwardJumps() int64 { return s.backward }

// NextLoop starts another pass over the packets: with recorded timing, its
// first packet is due right after the last one of the pass before.
func (s *Scheduler) NextLoop() {
	s.tsSet = false
	s.loopBase = s.lastOff
}

// Wait blocks until the packet is to be released: its deadline less the
// send latency learned for a frame after this much idleness. It returns the
// packet's Slot, or ctx's error if ctx ends first.
func (s *Scheduler) Wait(ctx context.Context, ts int64, size int) (Slot, error) {
	if err := ctx.Err(); err != nil {
		return Slot{}, err // seen even when packets are too close to sleep between
	}
	off := s.Offset(ts, size)
	if !s.pace.Paced() {
		now := s.clock.Now()
		return Slot{Due: now, Release: now}, ctx.Err()
	}
	slot := Slot{Due: s.start.Add(off)}
	idle := time.Duration(1<<63 - 1)
	if !s.lastRelease.IsZero() {
		idle = slot.Due.Sub(s.lastRelease)
	}
	slot.class = idleClass(idle)
	slot.Early = s.latency.predict(slot.class)
	// Frames packed closer than the first class apart are not measured:
	// reading a timestamp costs about as much as the gap.
	slot.Measure = slot.class > 0
	at := slot.Due.Add(-slot.Early)
	prime := s.Prime != nil && idle >= primeIdle
	now := s.clock.Now()
	for d := at.Sub(now) - s.spin; d > 0; d = at.Sub(now) - s.spin {
		if err := ctx.Err(); err != nil {
			return slot, err
		}
		s.clock.Sleep(min(d, maxNap))
		now = s.clock.Now()
	}
	for now.Before(at) {
		if prime && at.Sub(now) <= primeLead {
			prime = false
			s.Prime(size)
		}
		now = s.clock.Now()
	}
	slot.Release = now
	s.lastRelease = now
	return slot, nil
}

// Sent reports when the frame released in slot reached the driver, with
// ok false when that is not known. Known times teach the scheduler the
// send latency; the schedule error recorded is |driver time - due|, or
// where that is not known, how late the release was on its own target.
func (s *Scheduler) Sent(slot Slot, at time.Time, ok bool) {
	if !s.pace.Paced() {
		return
	}
	if ok {
		s.latency.observe(slot.class, at.Sub(slot.Release))
		s.errs.add(abs(at.Sub(slot.Due)))
	} else {
		s.errs.add(slot.Release.Sub(slot.Due.Add(-slot.Early)))
		at = slot.Release.Add(slot.Early) // the best guess of when it left
	}
	if s.sent == 0 {
		s.firstDue, s.firstLeft = slot.Due, at
	}
	s.sent++
	s.lastDue, s.lastLeft = slot.Due, at
}

// Drift is how much longer (or, negative, shorter) the replay took from
// its first frame to its last than the schedule says: the error of the
// whole replay's duration. An absolute schedule keeps it at the error of
// the last frame alone.
func (s *Scheduler) Drift() time.Duration {
	if s.sent < 2 {
		return 0
	}
	return s.lastLeft.Sub(s.firstLeft) - s.lastDue.Sub(s.firstDue)
}

func abs(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// Start is when the schedule was anchored (zero before the first packet).
func (s *Scheduler) Start() time.Time { return s.start }

// ScheduleError summarises how far from their deadlines packets reached
// the driver (or, where the driver's time is unknown, were released).
type ScheduleError struct {
	P50, P99, Max time.Duration
}

// Errors returns the schedule-error percentiles of the packets so far.
func (s *Scheduler) Errors() ScheduleError {
	return ScheduleError{P50: s.errs.quantile(0.50), P99: s.errs.quantile(0.99), Max: s.errs.max}
}

// histogram counts durations in fixed memory: 100 ns steps up to 100 us,
// 10 us steps up to 100 ms, then one overflow bucket.
type histogram struct {
	fine   [1000]int64
	coarse [10000]int64
	over   int64
	n      int64
	max    time.Duration
}

func (h *histogram) add(d time.Duration) {
	d = max(d, 0)
	h.n++
	h.max = max(h.max, d)
	switch {
	case d < 100*time.Microsecond:
		h.fine[d/100]++
	case d < 100*time.Millisecond:
		h.coarse[d/(10*time.Microsecond)]++
	default:
		h.over++
	}
}

// quantile returns the upper edge of the bucket holding quantile q (capped
// at the maximum seen), so it never understates the error.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := int64(q*float64(h.n-1)) + 1
	var seen int64
	for i, c := range h.fine {
		if seen += c; seen >= rank {
			return min(time.Duration(i+1)*100, h.max)
		}
	}
	for i, c := range h.coarse {
		if seen += c; seen >= rank {
			return min(time.Duration(i+1)*10*time.Microsecond, h.max)
		}
	}
	return h.max
}
