package fleet

import (
	"sync"
	"sync/atomic"
	"time"
)

// Drop gaps: when the outbox is full, the records it refuses are lost to
// PostgreSQL. So that no reader mistakes what arrived for the whole, the
// sensor remembers the span of packet times the dropped records covered
// and, once the outbox has room again, queues one gap record (kindGap)
// that the shipper inserts into prd_gaps. Until that record is queued,
// the shipped-through mark stays before the first drop: the hub goes on
// asking the sensor (its outbox is behind) rather than trusting rows
// that lack what was dropped.

// gapState is the Sensor's record of a drop gap not yet queued.
type gapState struct {
	gapMu  sync.Mutex
	gap    GapRow
	gapAt  atomic.Int64 // wall time (ns) of the gap's first drop, 0: none pending
	gapOwe atomic.Bool  // a gap waits to be queued
}

// noteGap counts a record of packet times [from, until] that the outbox
// refused.
func (s *Sensor) noteGap(from, until int64) {
	s.gapMu.Lock()
	defer s.gapMu.Unlock()
	if s.gap.Records == 0 {
		s.gap = GapRow{FromNS: from, UntilNS: until}
		s.gapAt.Store(time.Now().UnixNano())
	}
	s.gap.FromNS, s.gap.UntilNS = min(s.gap.FromNS, from), max(s.gap.UntilNS, until)
	s.gap.Records++
	s.gapOwe.Store(true)
}

// flushGap queues the pending gap's record when the outbox takes it.
func (s *Sensor) flushGap() {
	if !s.gapOwe.Load() {
		return
	}
	s.gapMu.Lock()
	defer s.gapMu.Unlock()
	if s.gap.Records == 0 {
		return
	}
	if !s.out.appendRecord(kindGap, encodeGap(nil, &s.gap)) {
		return // still full: the gap grows on
	}
	s.gap = GapRow{}
	s.gapAt.Store(0)
	s.gapOwe.Store(false)
}

// markNow is the time the shipped-through mark may say now: never past a
// drop whose gap record is not yet queued.
func (s *Sensor) markNow() int64 {
	now := time.Now().UnixNano()
	if at := s.gapAt.Load(); at != 0 {
		return min(now, at-1)
	}
	return now
}
