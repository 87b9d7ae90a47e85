package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/archive"
	"github.com/packetrecorderd/packetrecorderd/internal/capture"
	"github.com/packetrecorderd/packetrecorderd/internal/cutoff"
	"github.com/packetrecorderd/packetrecorderd/internal/filter"
	"github.com/packetrecorderd/packetrecorderd/internal/recorder"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

// Interface states, as status and metrics show them.
const (
	StateStarting  = "starting"
	StateRecording = "recording"
	StateDown      = "down"     // the interface exists but is down
	StateMissing   = "missing"  // no such interface (yet)
	StatePaused    = "paused"   // retention found no room: holds forbid deleting
	StateFailed    = "failed"   // an error other than the interface; retried
	StateDegraded  = "degraded" // the store refuses writes: packets wait in memory, retried
	StateStopped   = "stopped"
)

// holdBytes is the memory each ring's recorder may fill with packets
// while the store refuses writes (a full disk, EIO, a segment made
// immutable): a few seconds at the lab's rates; beyond it packets are
// counted as app drops.
const holdBytes = 64 << 20

// retryEvery is how often a down or missing interface is tried again.
const retryEvery = time.Second

// counters of one interface, over every restart of its rings.
type counters struct {
	stored, bytes, kernelDropped, appDropped, received atomic.Int64
	cut                                                cutCounters // cutoff.go
	// compressionSkipped counts the blocks stored raw because the
	// pipeline was behind (recorder.Result.CompressionSkipped).
	compressionSkipped atomic.Int64
	// unseen counts packets the interface carried while a reload replaced
	// its rings (by the interface's own counters, before any filter: an
	// upper bound of what the recording missed).
	unseen atomic.Int64
}

// ifaceRunner records one configured interface: its fanout rings, each
// into a Recording, restarted whenever the interface goes away and comes
// back. It is owned by the Daemon's run group.
type ifaceRunner struct {
	cfg   Interface
	store string
	seg   segmentLimits
	log   *slog.Logger
	d     *Daemon

	state   atomic.Value // string
	lastErr atomic.Value // string
	beat    atomic.Int64 // unix ns of the last sign of life, for the watchdog
	opened  chan struct{}
	once    sync.Once
	total   counters // finished runs (and the runners this one replaced)
	live    []liveRing
	liveMu  sync.Mutex
	setup   *capture.Live        // the capture the open rings are of, under liveMu
	rings   []*capture.Ring      // the open rings, under liveMu
	recs    []*archive.Recording // and their recordings
	// filter is the filter in force: cfg.Filter until a reload swaps it
	// on the open rings (setFilter).
	filter atomic.Pointer[string]
	// stopMark is the interface's packet count (capture.InterfacePackets)
	// when its first ring stopped, -1 before; gapFrom is the stopMark of
	// the runner this one replaced (-1: none), read when its rings open.
	stopMark atomic.Int64
	gapFrom  int64
	cancel   context.CancelFunc
	done     chan struct{}
	restart  chan struct{}
}

type segmentLimits struct {
	maxBytes    int64
	maxAge      time.Duration
	compression store.Compression // how new segments store blocks
	cutoff      string            // the cutoff block (cutoff.go: cutoffKey), "" without one
}

// liveRing is a running ring's progress, read by status and metrics.
type liveRing struct {
	stored, bytes, received, dropped *atomic.Int64
	// writeErr is the store write error the ring's recorder retries, nil
	// while its writes succeed.
	writeErr *atomic.Pointer[error]
	cut      *atomic.Pointer[cutoff.Stats] // the cutoff's counters, nil before the first
	skipped  *atomic.Int64                 // blocks stored raw because the pipeline was behind
}

// note takes a recorder's progress into the ring's counters.
func (l liveRing) note(p recorder.Progress) {
	l.stored.Store(p.Stored)
	l.bytes.Store(p.Bytes)
	l.received.Store(int64(p.Received))
	l.dropped.Store(int64(p.Dropped))
	l.skipped.Store(p.CompressionSkipped)
}

func newRunner(d *Daemon, cfg Interface, seg segmentLimits) *ifaceRunner {
	r := &ifaceRunner{cfg: cfg, store: d.storeDir, seg: seg, d: d, log: d.log.With("interface", cfg.Name),
		opened: make(chan struct{}), done: make(chan struct{}), restart: make(chan struct{}, 1)}
	r.state.Store(StateStarting)
	r.lastErr.Store("")
	f := cfg.Filter
	r.filter.Store(&f)
	r.stopMark.Store(-1)
	r.gapFrom = -1
	r.beat.Store(time.Now().UnixNano())
	return r
}

func (r *ifaceRunner) State() string { return r.state.Load().(string) }

// Filter is the filter in force.
func (r *ifaceRunner) Filter() string { return *r.filter.Load() }

// carryOver makes r's counters go on from those of old, which it
// replaces (old is stopped): Prometheus counters never go back.
func (r *ifaceRunner) carryOver(old *ifaceRunner) {
	s := old.snapshot()
	r.total.stored.Add(s.Stored)
	r.total.bytes.Add(s.Bytes)
	r.total.received.Add(s.Received)
	r.total.kernelDropped.Add(s.KernelDropped)
	r.total.appDropped.Add(s.AppDropped)
	r.total.unseen.Add(s.Unseen)
	r.total.compressionSkipped.Add(s.CompressionSkipped)
	if c := old.cutoffStatus(); c != nil {
		t := &r.total.cut
		t.trunc.Add(c.TruncatedPackets)
		t.drop.Add(c.NotStored)
		t.bytes.Add(c.CutBytes)
		t.flows.Add(c.Flows)
		t.flowsCut.Add(c.FlowsCut)
		t.evicted.Add(c.Evicted)
	}
	r.gapFrom = old.stopMark.Load()
}

// markedRing notes the interface's packet count when the ring stops
// admitting packets: a reload's gap begins there.
type markedRing struct {
	*capture.Ring
	r *ifaceRunner
}

func (m markedRing) Stop() error {
	// Read before the filter closes: a packet in between is counted as
	// unseen though stored, never missed by both.
	if n, err := capture.InterfacePackets(m.r.cfg.Name); err == nil {
		m.r.stopMark.CompareAndSwap(-1, int64(n))
	}
	return m.Ring.Stop()
}

// setFilter puts expr in force on the open rings, in place: the kernel
// swaps each ring's program atomically, so no packet goes unfiltered or
// unseen, and the rings, their recordings and their counters stay. The
// rings opened next use it too. With several rings the swap is not one
// instant across them: for a moment some run the old program, some the
// new.
// checkFilter compiles expr for the interface's link type, when its
// rings are open (nil otherwise: the next run compiles it).
func (r *ifaceRunner) checkFilter(expr string) error {
	r.liveMu.Lock()
	setup := r.setup
	r.liveMu.Unlock()
	if setup == nil {
		return nil
	}
	if _, err := setup.Compile(expr); err != nil {
		return fmt.Errorf("%q on %s (link type %s): %w", expr, r.cfg.Name, filter.LinkTypeName(setup.LinkType), err)
	}
	return nil
}

func (r *ifaceRunner) setFilter(expr string) error {
	r.liveMu.Lock()
	defer r.liveMu.Unlock()
	if len(r.rings) > 0 {
		prog, err := r.setup.Compile(expr)
		if err != nil {
			return err
		}
		for _, ring := range r.rings {
			if err := ring.SetFilter(prog.KernelInstructions()); err != nil && !errors.Is(err, capture.ErrStopped) {
				return err
			}
		}
		// The segments being written name the old filter: each closes at
		// its next commit, and the next one names this filter.
		for _, rec := range r.recs {
			rec.SetFilter(expr)
		}
	}
	r.filter.Store(&expr)
	return nil
}

func (r *ifaceRunner) setState(s string, err error) {
	old := r.State()
	r.state.Store(s)
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	r.lastErr.Store(msg)
	if old != s {
		switch s {
		case StateRecording:
			r.log.Info("interface up: recording")
		case StateDown, StateMissing, StateFailed:
			r.log.Warn("interface "+s+": retrying every second", "err", msg)
		case StateDegraded:
			r.log.Warn("interface degraded: the store refuses writes", "err", msg)
		case StatePaused:
			r.log.Error("recording paused: no room left and holds forbid deleting")
		}
	}
}

// writeState shows the store write error a ring's recorder retries (the
// rings stay open): the interface is degraded while any ring's writes
// fail, and retention learns of a full disk.
func (r *ifaceRunner) writeState(live []liveRing) {
	var err error
	failing := 0
	for _, l := range live {
		if e := l.writeErr.Load(); e != nil {
			err = *e
			failing++
		}
	}
	switch st := r.State(); {
	case err != nil && (st == StateRecording || st == StateDegraded):
		r.setState(StateDegraded, fmt.Errorf("store writes fail on %d of %d rings, retrying (packets held in memory): %w", failing, len(live), err))
		r.d.ret.failed(r, err)
	case err == nil && st == StateDegraded:
		r.setState(StateRecording, nil)
	}
}

// markOpened says the interface's first attempt is over (its rings are
// open, or it failed): the daemon is ready when every interface says so.
func (r *ifaceRunner) markOpened() { r.once.Do(func() { close(r.opened) }) }

// start runs the interface until stop: the runner owns its recording's
// lifetime, whichever configuration (the first, or a reload) started it.
func (r *ifaceRunner) start() {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() {
		defer close(r.done)
		defer r.markOpened()
		for {
			if r.d.paused.Load() {
				r.setState(StatePaused, nil)
				r.markOpened()
			} else {
				err := r.runOnce(ctx)
				if ctx.Err() != nil {
					r.setState(StateStopped, nil)
					return
				}
				switch {
				case errors.Is(err, capture.ErrNoInterface):
					r.setState(StateMissing, err)
				case errors.Is(err, capture.ErrInterfaceDown) || isNetDown(err):
					r.setState(StateDown, err)
				case errors.Is(err, errRestart):
				default:
					r.setState(StateFailed, err)
					r.d.ret.failed(r, err) // a full disk: back as soon as retention has made room
				}
				r.markOpened()
			}
			r.beat.Store(time.Now().UnixNano())
			select {
			case <-ctx.Done():
				r.setState(StateStopped, nil)
				return
			case <-time.After(retryEvery):
			case <-r.restart:
			}
		}
	}()
}

// stop ends the recording: the rings are drained and the segments closed.
func (r *ifaceRunner) stop() {
	r.cancel()
	<-r.done
}

// kick makes a running interface start over (retention paused or resumed).
func (r *ifaceRunner) kick() {
	select {
	case r.restart <- struct{}{}:
	default:
	}
}

var errRestart = errors.New("restart")

// newRecording makes a ring's recording (a test makes it fail).
var newRecording = archive.NewRecording

// countUnrecorded counts what rings took before their recordings could
// be made (opening one repairs the catalog, which may fail: a full disk,
// another process's long transaction): the rings open first so that they
// hold what comes meanwhile, and when a recording fails, every packet
// they accepted is counted as not stored, none silently gone.
func (r *ifaceRunner) countUnrecorded(rings []*capture.Ring) {
	for _, ring := range rings {
		st, err := ring.Stats()
		if err != nil {
			r.log.Error("the capture's counters could not be read", "err", err)
		}
		r.total.received.Add(int64(st.Received))
		r.total.kernelDropped.Add(int64(st.Dropped))
		r.total.appDropped.Add(int64(st.Received - st.Dropped))
	}
}

func isNetDown(err error) bool {
	return errors.Is(err, syscall.ENETDOWN) || errors.Is(err, syscall.ENODEV) || errors.Is(err, syscall.ENXIO)
}

// runOnce opens the rings and records until one of them fails or ctx ends.
func (r *ifaceRunner) runOnce(ctx context.Context) error {
	setup, err := capture.NewLive(capture.LiveConfig{
		Interface: r.cfg.Name, Snaplen: r.cfg.Snaplen, Promisc: *r.cfg.Promisc, BufferSize: int(r.cfg.BufferSize), Fanout: r.cfg.Fanout,
	})
	if err != nil {
		return err
	}
	lt := setup.LinkType
	expr := r.Filter()
	prog, err := setup.Compile(expr)
	if err != nil {
		return err
	}
	rings, err := setup.Open(prog)
	if err != nil {
		return err
	}
	defer func() {
		r.liveMu.Lock()
		r.setup, r.rings, r.recs = nil, nil, nil
		r.liveMu.Unlock()
		for _, ring := range rings {
			ring.Close()
		}
	}()
	if r.gapFrom >= 0 {
		// The rings this runner replaced are gone and these are open:
		// what the interface carried in between went unseen. Read as
		// soon as they are open, so nothing unseen goes uncounted and
		// little that they hold is counted too.
		if n, err := capture.InterfacePackets(r.cfg.Name); err == nil && int64(n) >= r.gapFrom {
			r.total.unseen.Add(int64(n) - r.gapFrom)
			r.log.Info("rings replaced: packets the interface carried meanwhile, unseen (at most)", "packets", int64(n)-r.gapFrom)
		}
		r.gapFrom = -1
	}
	r.stopMark.Store(-1) // this run's rings mark their own stop
	recs := make([]*archive.Recording, len(rings))
	for i := range rings {
		rec, err := newRecording(r.store, archive.RecordingConfig{
			Interface: r.cfg.Name, Ring: i, Filter: expr, LinkType: lt, Snaplen: uint32(r.cfg.Snaplen),
			Promisc: *r.cfg.Promisc, BufferSize: int64(r.cfg.BufferSize), Netmask: filter.NetmaskBits(setup.Netmask()),
			MaxBytes: r.seg.maxBytes, MaxAge: r.seg.maxAge, Compression: r.seg.compression, Logger: r.log,
			Catalogued: r.d.fleetSegment(), Room: r.d.ret.room,
		})
		if err != nil {
			for _, rec := range recs[:i] {
				rec.Close()
			}
			r.countUnrecorded(rings)
			return err
		}
		recs[i] = rec
	}
	r.setState(StateRecording, nil)
	r.markOpened()

	ringCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	live := make([]liveRing, len(rings))
	for i := range live {
		live[i] = liveRing{new(atomic.Int64), new(atomic.Int64), new(atomic.Int64), new(atomic.Int64), new(atomic.Pointer[error]), new(atomic.Pointer[cutoff.Stats]), new(atomic.Int64)}
	}
	r.liveMu.Lock()
	r.live = live
	r.setup, r.rings, r.recs = setup, rings, recs
	var swapErr error
	if now := r.Filter(); now != expr {
		// A reload changed the filter while the rings opened.
		if p, err := setup.Compile(now); err != nil {
			swapErr = err
		} else {
			for _, ring := range rings {
				if err := ring.SetFilter(p.KernelInstructions()); err != nil {
					swapErr = err
				}
			}
			for _, rec := range recs {
				rec.SetFilter(now)
			}
		}
	}
	r.liveMu.Unlock()
	if swapErr != nil {
		r.log.Error("the reloaded filter could not be put in force", "err", swapErr)
	}
	errs := make([]error, len(rings))
	results := make([]recorder.Result, len(rings))
	var wg sync.WaitGroup
	for i := range rings {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := live[i]
			hs := r.d.horizon.sink(r.cfg.Name, recs[i]) // counts for the horizon (horizon.go)
			results[i], errs[i] = recorder.Run(ringCtx, recorder.Config{
				Source: markedRing{rings[i], r}, Writer: hs, Snaplen: r.cfg.Snaplen, Logger: r.log, ProgressInterval: 200 * time.Millisecond,
				HoldBytes: holdBytes, Flows: r.d.fleetFlows(r.cfg.Name), Cutoff: r.seg.cutoffConfig(),
				Progress: func(p recorder.Progress) {
					l.cut.Store(&p.Cutoff)
					hs.noteDropped(int64(p.Cutoff.DropPackets), int64(p.Cutoff.DropBytes))
					l.note(p)
					r.beat.Store(time.Now().UnixNano())
					if p.WriteErr != nil {
						l.writeErr.Store(&p.WriteErr)
					} else {
						l.writeErr.Store(nil)
					}
					r.writeState(live)
				},
			})
			hs.noteDropped(int64(results[i].Cutoff.DropPackets), int64(results[i].Cutoff.DropBytes))
			if errs[i] != nil {
				cancel() // one ring failed (the interface went down): restart all
			}
		}()
	}
	select {
	case <-ringCtx.Done():
	case <-r.restart:
		cancel()
	}
	wg.Wait()
	var first error
	r.liveMu.Lock()
	defer r.liveMu.Unlock()
	r.live = nil
	for i, rec := range recs {
		if err := rec.Close(); err != nil && errs[i] == nil {
			errs[i] = err
		}
		res := results[i]
		st := res.Stats
		r.total.stored.Add(res.Stored)
		r.total.bytes.Add(res.Bytes)
		r.total.received.Add(int64(st.Received))
		r.total.kernelDropped.Add(int64(st.Dropped))
		r.total.appDropped.Add(res.AppDropped)
		r.total.cut.add(res.Cutoff)
		r.total.compressionSkipped.Add(res.CompressionSkipped)
		if errs[i] != nil && first == nil {
			first = errs[i]
		}
	}
	if first != nil {
		return first
	}
	if ctx.Err() == nil {
		return errRestart
	}
	return nil
}

// snapshot is an interface's counters now: finished runs plus running rings.
type snapshot struct {
	Stored, Bytes, Received, KernelDropped, AppDropped int64
	Unseen                                             int64 // while a reload replaced the rings
	CompressionSkipped                                 int64 // blocks stored raw because the pipeline was behind
}

func (r *ifaceRunner) snapshot() snapshot {
	// The totals are read under liveMu too: a run that ends moves its
	// rings' counts into them and clears live under it, and a read in
	// between would miss both (a counter going back).
	r.liveMu.Lock()
	s := snapshot{Stored: r.total.stored.Load(), Bytes: r.total.bytes.Load(), Received: r.total.received.Load(),
		KernelDropped: r.total.kernelDropped.Load(), AppDropped: r.total.appDropped.Load(), Unseen: r.total.unseen.Load(),
		CompressionSkipped: r.total.compressionSkipped.Load()}
	for _, l := range r.live {
		s.Stored += l.stored.Load()
		s.Bytes += l.bytes.Load()
		s.Received += l.received.Load()
		s.KernelDropped += l.dropped.Load()
		s.CompressionSkipped += l.skipped.Load()
	}
	r.liveMu.Unlock()
	return s
}
