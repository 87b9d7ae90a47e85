// Package replay paces stored packets onto a sink.
//
// A Scheduler turns capture timestamps into send deadlines on an absolute
// schedule: packet i is due at start + (ts_i - ts_0) / speed, so a late
// packet never delays the ones after it. It sleeps until shortly before a
// deadline, then spins on the clock for the rest, which keeps the error
// within microseconds where a plain sleep would be off by tens of them.
// The clock is injected so the schedule is tested on a fake clock.
package replay

import (
	"context"
	"slices"
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

// Sleep pauses the goroutine.
func (SystemClock) Sleep(d time.Duration) { time.Sleep(d) }

// DefaultSpin is how long before a deadline the Scheduler stops sleeping
// and starts spinning.
const DefaultSpin = 200 * time.Microsecond

// Scheduler decides when each packet is sent.
type Scheduler struct {
	clock Clock
	speed float64 // 0 = as fast as possible
	spin  time.Duration

	started bool
	start   time.Time
	ts0     int64
	lateNs  []int64 // how late each packet was released, for percentiles
}

// NewScheduler returns a Scheduler at the given speed multiplier (0 means
// no pacing). A nil clock means SystemClock.
func NewScheduler(clock Clock, speed float64) *Scheduler {
	if clock == nil {
		clock = SystemClock{}
	}
	return &Scheduler{clock: clock, speed: speed, spin: DefaultSpin}
}

// Deadline is when a packet with capture timestamp ts (ns) is due. The first
// call anchors the schedule at the current time.
func (s *Scheduler) Deadline(ts int64) time.Time {
	if !s.started {
		s.started = true
		s.start = s.clock.Now()
		s.ts0 = ts
	}
	if s.speed <= 0 {
		return s.start
	}
	off := float64(ts-s.ts0) / s.speed
	if off < 0 {
		off = 0 // timestamps that go backwards are sent at once
	}
	return s.start.Add(time.Duration(off))
}

// maxNap bounds one sleep so that a cancelled context is noticed promptly
// even inside a long gap between packets.
const maxNap = 50 * time.Millisecond

// Wait blocks until the packet with timestamp ts is due and returns the
// time it was released, or ctx's error if ctx ends first.
func (s *Scheduler) Wait(ctx context.Context, ts int64) (time.Time, error) {
	due := s.Deadline(ts)
	if s.speed <= 0 {
		return s.clock.Now(), ctx.Err()
	}
	now := s.clock.Now()
	for d := due.Sub(now) - s.spin; d > 0; d = due.Sub(now) - s.spin {
		if err := ctx.Err(); err != nil {
			return now, err
		}
		s.clock.Sleep(min(d, maxNap))
		now = s.clock.Now()
	}
	for now.Before(due) {
		now = s.clock.Now()
	}
	s.lateNs = append(s.lateNs, int64(now.Sub(due)))
	return now, nil
}

// Start is when the schedule was anchored (zero before the first packet).
func (s *Scheduler) Start() time.Time { return s.start }

// ScheduleError summarises how late packets were released, measured at the
// sender.
type ScheduleError struct {
	P50, P99, Max time.Duration
}

// Errors returns the release-lateness percentiles of the packets so far.
func (s *Scheduler) Errors() ScheduleError {
	if len(s.lateNs) == 0 {
		return ScheduleError{}
	}
	v := slices.Clone(s.lateNs)
	slices.Sort(v)
	pick := func(q float64) time.Duration { return time.Duration(v[int(q*float64(len(v)-1))]) }
	return ScheduleError{P50: pick(0.50), P99: pick(0.99), Max: time.Duration(v[len(v)-1])}
}
