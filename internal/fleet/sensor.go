package fleet

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// Sensor is one sensor's side of the fleet: it takes flow records and
// segment summaries (Flow, Segment: never blocking, safe from any
// goroutine), keeps them in the outbox on the store's disk, and ships
// them to PostgreSQL (Run).
type Sensor struct {
	cfg Config
	out *Outbox
	log *slog.Logger

	// BatchRecords is the most records one transaction ships (0: 50000).
	BatchRecords int
	// Parallel is how many connections ship batches at once (0:
	// DefaultParallel).
	Parallel int
	// DrainTimeout is how long Run, once its context ends, goes on
	// shipping while PostgreSQL takes the records (0: 5 s); what is left
	// waits in the outbox for the next run.
	DrainTimeout time.Duration
	// SegmentInterval is how often an open segment's latest summary is
	// queued (0: 1 s); closing and deletion are queued at once.
	SegmentInterval time.Duration

	ifMu       sync.Mutex
	interfaces []string

	segMu sync.Mutex
	segs  map[string]SegmentRow // open segments' latest summaries, not yet queued

	shipped   atomic.Uint64
	rejected  atomic.Uint64 // records PostgreSQL could never hold, dropped
	stMu      sync.Mutex
	lastErr   string
	lastErrAt time.Time
	lastOK    time.Time
	lastLog   time.Time // of the last error logged
	connected bool

	encBuf sync.Pool

	gapState // records the full outbox dropped (gaps.go)
}

// Stats are what status and metrics show of the fleet.
type Stats struct {
	Sensor         string
	OutboxBytes    int64
	OutboxRecords  int64
	OutboxMax      int64
	Shipped        uint64 // records PostgreSQL committed
	Dropped        uint64 // records refused because the outbox was full, or whose data PostgreSQL refused
	Connected      bool
	LastError      string
	LastErrorAt    time.Time
	LastSuccessAt  time.Time
	OutboxWriteErr string
}

// NewSensor opens the outbox in the store directory (OutboxDir) and
// returns the sensor; Run ships. interfaces are the recorded interfaces'
// names, in the configuration's order.
func NewSensor(cfg Config, storeDir string, interfaces []string, log *slog.Logger) (*Sensor, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	out, err := OpenOutbox(filepath.Join(storeDir, OutboxDir), cfg.OutboxMax, log)
	if err != nil {
		return nil, err
	}
	s := &Sensor{cfg: cfg, out: out, log: log, interfaces: append([]string(nil), interfaces...), segs: map[string]SegmentRow{}}
	s.encBuf.New = func() any { b := make([]byte, 0, 256); return &b }
	return s, nil
}

// Flow queues a flow record. It never blocks: when the outbox is full
// the record is dropped and counted, and Flow reports false.
func (s *Sensor) Flow(f *FlowRow) bool {
	if !f.Src.IsValid() || !f.Dst.IsValid() {
		s.rejected.Add(1) // no address: not a flow PostgreSQL can hold
		return false
	}
	bp := s.encBuf.Get().(*[]byte)
	b := encodeFlow((*bp)[:0], f)
	ok := s.out.appendRecord(kindFlow, b)
	if !ok {
		s.noteGap(f.FirstNS, f.LastNS)
	}
	*bp = b
	s.encBuf.Put(bp)
	return ok
}

// Segment queues a segment's summary: at once when it is closed or
// deleted, else its latest summary at most once per SegmentInterval.
func (s *Sensor) Segment(r SegmentRow) {
	s.segMu.Lock()
	if !r.Closed && r.DeletedNS == 0 {
		s.segs[r.Segment] = r
		s.segMu.Unlock()
		return
	}
	delete(s.segs, r.Segment)
	s.segMu.Unlock()
	if !s.out.appendRecord(kindSegment, encodeSegment(nil, &r)) {
		s.noteGap(r.FirstNS, r.LastNS)
	}
}

// flushSegments queues the open segments' latest summaries.
func (s *Sensor) flushSegments() {
	s.segMu.Lock()
	rows := make([]SegmentRow, 0, len(s.segs))
	for _, r := range s.segs {
		rows = append(rows, r)
	}
	clear(s.segs)
	s.segMu.Unlock()
	for i := range rows {
		if !s.out.appendRecord(kindSegment, encodeSegment(nil, &rows[i])) {
			s.noteGap(rows[i].FirstNS, rows[i].LastNS)
		}
	}
	s.flushGap()
}

// SetInterfaces changes the interface names registered (a reload).
func (s *Sensor) SetInterfaces(names []string) {
	s.ifMu.Lock()
	s.interfaces = append([]string(nil), names...)
	s.ifMu.Unlock()
}

func (s *Sensor) interfaceNames() []string {
	s.ifMu.Lock()
	defer s.ifMu.Unlock()
	return append([]string{}, s.interfaces...)
}

// Stats are the counters now.
func (s *Sensor) Stats() Stats {
	o := s.out.Stats()
	s.stMu.Lock()
	defer s.stMu.Unlock()
	st := Stats{Sensor: s.cfg.Sensor, OutboxBytes: o.Bytes, OutboxRecords: o.Records, OutboxMax: s.out.max, Shipped: s.shipped.Load(),
		Dropped: o.Dropped + s.rejected.Load(), Connected: s.connected, LastError: s.lastErr, LastErrorAt: s.lastErrAt, LastSuccessAt: s.lastOK}
	if o.Err != nil {
		st.OutboxWriteErr = o.Err.Error()
	}
	return st
}

// Run writes the outbox and ships it until ctx ends, then goes on
// shipping for up to DrainTimeout while PostgreSQL takes the records;
// what is not shipped by then stays in the outbox for the next run.
func (s *Sensor) Run(ctx context.Context) {
	var wg sync.WaitGroup
	outCtx, stopOut := context.WithCancel(context.Background())
	wg.Add(2)
	go func() {
		defer wg.Done()
		s.out.Run(outCtx)
	}()
	shipCtx, stopShip := context.WithCancel(context.Background()) // it drains after ctx ends
	go func() {
		defer wg.Done()
		s.ship(shipCtx)
	}()
	iv := s.SegmentInterval
	if iv <= 0 {
		iv = time.Second
	}
	t := time.NewTicker(iv)
	defer t.Stop()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-t.C:
			s.flushSegments()
		}
	}
	s.flushSegments()
	s.drain()
	stopShip()
	// The outbox writes what was queued, last: the shipper is stopped.
	stopOut()
	wg.Wait()
}

// drain waits until the outbox is shipped, PostgreSQL is unreachable,
// or DrainTimeout has passed.
func (s *Sensor) drain() {
	limit := s.DrainTimeout
	if limit <= 0 {
		limit = 5 * time.Second
	}
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		st := s.Stats()
		if st.OutboxRecords == 0 || !st.Connected {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *Sensor) failed(err error) {
	s.stMu.Lock()
	defer s.stMu.Unlock()
	msg := oneLine(redact(err.Error(), s.cfg.Postgres))
	if msg != s.lastErr || time.Since(s.lastLog) >= time.Minute {
		s.log.Warn("fleet: PostgreSQL unreachable, records wait in the outbox", "err", msg)
		s.lastLog = time.Now()
	}
	s.lastErr, s.lastErrAt, s.connected = msg, time.Now(), false
}

func (s *Sensor) succeeded(n int) {
	s.shipped.Add(uint64(n))
	s.reachable()
	s.stMu.Lock()
	s.lastOK = time.Now()
	s.stMu.Unlock()
}

// reachable says a connection to PostgreSQL works.
func (s *Sensor) reachable() {
	s.stMu.Lock()
	defer s.stMu.Unlock()
	if !s.connected && s.lastErr != "" {
		s.log.Info("fleet: PostgreSQL reachable again: shipping the outbox")
	}
	s.connected = true
}
