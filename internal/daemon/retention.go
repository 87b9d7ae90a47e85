package daemon

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/archive"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

// retention keeps the store within the configured limits by deleting
// whole oldest segments, exactly enough and no more. It runs in a loop of
// its own and writes only the catalog (in WAL mode), never a segment that
// is being written, so it never stalls a recording.
//
// The limits are in file bytes (what the store's files take on disk, side
// files included, open segments at their current size) and free bytes
// (statfs). Free space is kept above the larger of min_free and a margin
// sized by the write rate (marginAhead of writing at the recent peak
// rate: five checks), checked every retentionTick: retention acts before
// the writers run out of space, not after. Holds exempt their segments
// from max_age
// always; from max_bytes and min_free too, unless when_held is delete and
// deleting every segment no hold covers still leaves no room.
type retention struct {
	d *Daemon
	a *archive.Archive

	mu   sync.Mutex // guards a, last and the measurements below
	last Action

	// The write rate: samples of the bytes the interfaces wrote, and a
	// peak that decays, so that a burst is remembered for a while.
	samples []rateSample
	peak    float64 // bytes/s
	peakAt  time.Time
	// What the last full pass measured, for the quick checks between.
	lastPass        time.Time
	lastFileBytes   int64
	lastPassWritten int64
	lastFree        int64 // statfs, plus the trash the reaper frees next

	deletedBytes, deletedPackets, deletedSegments atomic.Int64
	// Held data deleted because holds left no room (when_held: delete).
	heldBytes, heldPackets, heldSegments atomic.Int64
	blocked                              atomic.Bool
	fileBytes, freeBytes, floorBytes     atomic.Int64
	rate, marginBytes                    atomic.Int64
	oldestNS, newestNS                   atomic.Int64
	segments, holds                      atomic.Int64
	reserve                              atomic.Bool // the store's reserve file is in place

	// Interfaces that failed for a full disk wake the loop, and are
	// kicked as soon as a pass leaves room.
	wake       chan struct{}
	wmu        sync.Mutex
	waiting    map[*ifaceRunner]bool
	kicked     map[*ifaceRunner]time.Time
	pressureAt atomic.Int64 // unix ns of the last delete for min_free

	// The writers waiting for room (retention_room.go): nextPass is
	// closed when the next pass to begin ends; short says the last pass
	// left less free than the floor (nothing more it may delete);
	// loopDone is closed when the loop ends.
	passMu                                         sync.Mutex
	nextPass                                       chan struct{}
	short                                          atomic.Bool
	loopDone                                       chan struct{}
	roomWaits, roomWaitNS, roomMaxNS, roomTimeouts atomic.Int64
	roomNeed                                       atomic.Int64 // the free space a waiting writer asks the next pass for
	// How late retention runs: the longest pass, and the longest time
	// between two looks (ticks, passes), for the log at the stop.
	passMaxNS, gapMaxNS atomic.Int64
	lastLook            time.Time // guarded by mu
}

type rateSample struct {
	at      time.Time
	written int64
}

// Action is what retention last did.
type Action struct {
	At       time.Time `json:"at"`
	Reason   string    `json:"reason"` // max_bytes, max_age, min_free
	Segments int       `json:"segments"`
	Bytes    int64     `json:"bytes"` // file bytes
	Packets  int64     `json:"packets"`
	// HeldSegments of Segments were covered by a hold and deleted because
	// holds left no room (when_held: delete).
	HeldSegments int `json:"held_segments,omitempty"`
}

const (
	// retentionTick is how often free space and the store's growth are
	// checked; a full pass (catalog, every file) runs at least every
	// fullPassEvery, and at once when a check finds a limit near.
	retentionTick = 200 * time.Millisecond
	fullPassEvery = time.Second
	// marginAhead is how long the writers may write at their peak rate
	// into the free space retention keeps: the time a pass, its deletes
	// and the reaping of their files take, with room to spare.
	marginAhead = time.Second
	// budgetAhead is how much writing at the peak rate the store keeps
	// room for under max_bytes: until the next check, and the check's
	// own lag (commits, file blocks allocated ahead).
	budgetAhead = 2 * retentionTick
	// minMargin is the least free space retention keeps whatever the
	// rate (a few commits at lab rates, and SQLite's side files).
	minMargin = 4 << 20
	// rateMemory is how fast a peak rate is forgotten (time constant).
	rateMemory = 3 * time.Second
	// fileOverhead is what a segment's file adds to the packet bytes
	// written (64 KiB pages, block index, session row), as a factor.
	fileOverhead = 1.1
)

func newRetention(d *Daemon, a *archive.Archive) *retention {
	return &retention{d: d, a: a, wake: make(chan struct{}, 1), waiting: map[*ifaceRunner]bool{},
		kicked: map[*ifaceRunner]time.Time{}, nextPass: make(chan struct{}), loopDone: make(chan struct{})}
}

// failed hears of an interface that failed. If for want of space (a
// full disk, or any error while the filesystem has less free than
// retention keeps: SQLite reports some writes to a full disk as plain
// I/O errors), retention makes a pass at once and kicks the interface
// as soon as there is room, rather than let it wait for its next retry.
//
// Whether a failure was for want of space is not always clear by the time
// it is reported (retention may have made room already): an error while
// retention has deleted for min_free within the last few seconds counts
// too. An interface is kicked early at most once per retryEvery, so one
// that fails for other reasons meanwhile retries no faster than before.
func (r *retention) failed(ir *ifaceRunner, err error) {
	if !errors.Is(err, store.ErrDiskFull) {
		free, _ := archive.DiskSpace(r.a.Dir())
		recent := time.Since(time.Unix(0, r.pressureAt.Load())) < 3*time.Second
		if !recent && (free < 0 || free >= r.floorBytes.Load()) {
			return
		}
	}
	r.wmu.Lock()
	if time.Since(r.kicked[ir]) < retryEvery {
		r.wmu.Unlock()
		return
	}
	r.waiting[ir] = true
	r.wmu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// loop runs retention every retentionTick until ctx ends, and frees the
// trash of what it deleted.
func (r *retention) loop(ctx context.Context) {
	defer close(r.loopDone)
	t := time.NewTicker(retentionTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
			r.run()
			r.reap(func() bool { return ctx.Err() != nil })
			r.kickWaiting()
		case <-t.C:
			if r.check() {
				r.run()
			}
			r.reap(func() bool { return ctx.Err() != nil })
			r.kickWaiting()
		}
	}
}

// kickWaiting makes the interfaces that failed for a full disk try again
// now, rather than at their next retry, once the filesystem has room for
// a few commits.
func (r *retention) kickWaiting() {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	if len(r.waiting) == 0 {
		return
	}
	if free, _ := archive.DiskSpace(r.a.Dir()); free < minMargin {
		return
	}
	for ir := range r.waiting {
		if ir.State() == StateFailed {
			ir.kick()
			r.kicked[ir] = time.Now()
		}
	}
	clear(r.waiting)
	for ir, at := range r.kicked {
		if time.Since(at) > time.Minute {
			delete(r.kicked, ir) // a runner a reload replaced, long gone
		}
	}
}

// written is what the interfaces have written since the daemon started,
// in bytes of packet records (headers included).
func (r *retention) written() int64 {
	var n int64
	for _, ir := range r.d.runnerListLocked() {
		s := ir.snapshot()
		n += s.Bytes + s.Stored*store.RecordHeaderLen
	}
	return n
}

// measure takes a sample of the bytes written and updates the write rate:
// the average over the last two seconds (half a second at least), whose
// peak is forgotten over rateMemory. (The counters move at each progress
// report, every 200 ms: a shorter window would see bursts that are not.)
func (r *retention) measure(now time.Time) float64 {
	w := r.written()
	r.samples = append(r.samples, rateSample{now, w})
	keep := 0
	for i, s := range r.samples {
		if now.Sub(s.at) <= 2*time.Second {
			keep = i
			break
		}
	}
	r.samples = r.samples[keep:]
	var inst float64
	if first := r.samples[0]; now.Sub(first.at) >= 500*time.Millisecond && w >= first.written {
		inst = float64(w-first.written) / now.Sub(first.at).Seconds() * fileOverhead
	}
	if !r.peakAt.IsZero() {
		r.peak *= math.Exp(-now.Sub(r.peakAt).Seconds() / rateMemory.Seconds())
	}
	r.peakAt = now
	r.peak = max(r.peak, inst)
	r.rate.Store(int64(r.peak))
	return r.peak
}

// margin is the free space the writers need for the next marginAhead at
// their peak rate.
func (r *retention) margin(rate float64) int64 {
	m := max(int64(minMargin), int64(rate*marginAhead.Seconds()))
	r.marginBytes.Store(m)
	return m
}

// check is the quick look between full passes: statfs and the bytes
// written since the last pass. It reports whether a full pass is due.
func (r *retention) check() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	r.look(now)
	if now.Sub(r.lastPass) >= fullPassEvery-retentionTick/2 {
		return true
	}
	cfg := r.d.config()
	rate := r.measure(now)
	m := r.margin(rate)
	free, fsTotal := archive.DiskSpace(r.a.Dir())
	if free >= 0 && free < max(cfg.Retention.MinFree.Need(fsTotal), m) {
		return true
	}
	// The store's growth since the last pass: what the interfaces wrote,
	// or what the filesystem lost, whichever is more (the counters lag
	// the files by a progress interval; the filesystem may lose space to
	// others too, and then a pass finds out exactly).
	grown := int64(float64(r.written()-r.lastPassWritten) * fileOverhead)
	if free >= 0 && r.lastFree >= 0 {
		grown = max(grown, r.lastFree-free)
	}
	maxBytes := int64(cfg.Retention.MaxBytes)
	return maxBytes > 0 && r.lastFileBytes+grown+int64(rate*budgetAhead.Seconds()) > maxBytes
}

// run makes one full pass: it deletes what the limits require, then
// records the store's state for status and metrics.
func (r *retention) run() {
	r.mu.Lock()
	defer r.mu.Unlock()
	defer close(r.passBegins())
	now := time.Now()
	r.look(now)
	defer func() { storeMax(&r.passMaxNS, int64(time.Since(now))) }()
	cfg := r.d.config()
	rate := r.measure(now)
	margin := r.margin(rate)
	r.lastPass, r.lastPassWritten = now, r.written()
	segs, err := r.a.Segments()
	if err != nil {
		r.d.log.Error("retention: read the catalog", "err", err)
		return
	}
	holds, err := r.a.Holds()
	if err != nil {
		r.d.log.Error("retention: read the holds", "err", err)
		return
	}
	dir := r.a.Dir()
	r.a.TrimCatalog() // busy: next time
	usage := archive.DiskUsage(dir)
	total := usage.Total
	free, fsTotal := archive.DiskSpace(dir)
	if free >= 0 {
		free += usage.Trash // being freed by the reaper
	}
	hasReserve := archive.HasReserve(dir)
	// The free space kept: min_free, or what the writers need for the
	// next seconds if that is more; and room to make the reserve again.
	need := cfg.Retention.MinFree.Need(fsTotal)
	floor := max(need, margin)
	// The store keeps under max_bytes what the writers add before the
	// next check, and the reserve it must make again.
	headroom := int64(rate * budgetAhead.Seconds())
	if !hasReserve {
		floor += archive.ReserveSize
		headroom += archive.ReserveSize
	}
	// A writer waiting for room (retention_room.go) asks for what its
	// commit takes above half the floor: more than the floor for a
	// retry of the blocks held while the disk was full. The floor the
	// writers see stays the base one.
	base := floor
	floor = max(floor, r.roomNeed.Swap(0))
	maxBytes := int64(cfg.Retention.MaxBytes)
	over := func() bool { return maxBytes > 0 && total+headroom > maxBytes }
	low := func() bool { return free >= 0 && free < floor }
	reasonNow := func() string {
		switch {
		case over():
			return "max_bytes"
		case low():
			return "min_free"
		}
		return ""
	}
	cutoff := int64(0)
	if cfg.Retention.MaxAge > 0 {
		cutoff = now.Add(-time.Duration(cfg.Retention.MaxAge)).UnixNano()
	}

	acts := map[string]*Action{}
	released := false
	expire := func(s archive.Segment, reason string, held bool) bool {
		n := r.a.SegmentFileBytes(s)
		// A segment no hold covered when the pass read them goes only if
		// none covers it now: a hold added meanwhile wins.
		del := func() (bool, error) {
			if held {
				return true, r.a.Expire(s)
			}
			return r.a.ExpireUnheld(s)
		}
		gone, err := del()
		if err != nil && !released {
			// A full disk: the catalog's write needs room. The trash
			// holds some, and the reserve is there for this.
			released = true
			r.a.Reap(nil)
			if archive.ReleaseReserve(dir) {
				r.d.log.Warn("retention: the disk is full; deleting with the store's reserve", "err", err)
			}
			gone, err = del()
		}
		if err != nil {
			r.d.log.Error("retention: delete segment", "file", s.File, "err", err)
			return false
		}
		if !gone {
			return false // held since the pass began
		}
		total -= n
		if free >= 0 {
			free += n
		}
		if reason == "min_free" {
			r.pressureAt.Store(now.UnixNano())
		}
		act := acts[reason]
		if act == nil {
			act = &Action{At: now, Reason: reason}
			acts[reason] = act
		}
		act.Segments++
		act.Bytes += n
		act.Packets += s.Packets
		r.deletedBytes.Add(n)
		r.deletedPackets.Add(s.Packets)
		r.deletedSegments.Add(1)
		r.d.fleetDeleted(s)
		if held {
			act.HeldSegments++
			r.heldBytes.Add(n)
			r.heldPackets.Add(s.Packets)
			r.heldSegments.Add(1)
		}
		return true
	}

	// First what no hold covers, oldest first: what max_age has passed,
	// then while a limit is exceeded.
	kept := segs[:0:0]
	var heldClosed []archive.Segment
	for _, s := range segs {
		if !s.Closed {
			kept = append(kept, s)
			continue
		}
		if archive.Held(s, holds) {
			// A hold exempts its window from max_age always, and from
			// the other limits unless holds leave no room (below).
			heldClosed = append(heldClosed, s)
			continue
		}
		reason := reasonNow()
		if cutoff != 0 && s.Packets > 0 && s.MaxNS < cutoff {
			reason = "max_age"
		}
		if reason == "" || !expire(s, reason, false) {
			kept = append(kept, s)
		}
	}
	// Holds leave no room when a limit is still exceeded and only held
	// segments could bring it back.
	blocked := reasonNow() != "" && len(heldClosed) > 0
	deleteHeld := cfg.Retention.WhenHeld == "delete"
	for _, s := range heldClosed {
		reason := reasonNow()
		if !deleteHeld || reason == "" || !expire(s, reason, true) {
			kept = append(kept, s)
		}
	}
	for _, act := range acts {
		r.d.log.Info("retention deleted segments", "reason", act.Reason, "segments", act.Segments, "bytes", act.Bytes, "packets", act.Packets)
		if act.HeldSegments > 0 {
			r.d.log.Error("retention: holds leave no room: deleted held segments (when_held: delete)", "reason", act.Reason,
				"held_segments", act.HeldSegments, "file_bytes", total, "free_bytes", free, "holds", len(holds))
		}
		r.last = *act
	}
	if blocked && !r.blocked.Load() && !deleteHeld {
		r.d.log.Error("retention: holds leave no room", "file_bytes", total, "free_bytes", free, "when_held", cfg.Retention.WhenHeld)
	}
	r.blocked.Store(blocked)
	// Paused only while when_held says stop and holds leave no room: a
	// reload to another when_held resumes recording at this pass.
	r.d.setPaused(cfg.Retention.WhenHeld == "stop" && blocked)
	if len(acts) > 0 {
		// Free the space now: the writers need it, not the count.
		if err := r.a.Reap(nil); err != nil {
			r.d.log.Error("retention: free deleted segments", "err", err)
		}
	}
	if !hasReserve || released {
		// Made again once the trash is freed and there is room for it.
		if real, _ := archive.DiskSpace(dir); real >= 2*archive.ReserveSize {
			if err := archive.KeepReserve(dir); err != nil {
				r.d.log.Warn("retention: make the store's reserve", "err", err)
			} else {
				total += archive.ReserveSize
				free -= archive.ReserveSize
			}
		}
	}
	r.reserve.Store(archive.HasReserve(dir))
	r.lastFileBytes, r.lastFree = total, free
	r.fileBytes.Store(total)
	r.freeBytes.Store(free)
	r.floorBytes.Store(base)
	r.short.Store(free >= 0 && free < base)
	r.segments.Store(int64(len(kept)))
	r.holds.Store(int64(len(holds)))
	oldest, newest := int64(0), int64(0)
	for _, s := range kept {
		if s.Packets == 0 {
			continue
		}
		if oldest == 0 || s.MinNS < oldest {
			oldest = s.MinNS
		}
		newest = max(newest, s.MaxNS)
	}
	r.oldestNS.Store(oldest)
	r.newestNS.Store(newest)
}

func (r *retention) lastAction() Action {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

// holdList reads the holds, under the retention lock (one catalog
// connection).
func (r *retention) holdList() ([]archive.Hold, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.a.Holds()
}

// reap frees the trash of expired segments, step by step, until done or
// stop says so.
func (r *retention) reap(stop func() bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.a.Reap(stop); err != nil {
		r.d.log.Error("retention: free deleted segments", "err", err)
	}
}
