package daemon

import (
	"sync/atomic"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/archive"
)

// The writers' side of retention. Retention keeps the free space above
// its floor by running every retentionTick, but on a busy machine its
// goroutine may run late, or a pass take long, while the writers go on
// committing at their full rate: the margin alone (a second of writing)
// then depends on retention being scheduled on time. So before each
// commit a recording asks room: a statfs, nothing more while the
// filesystem has at least half the floor free after the commit. Below
// that, retention is behind: the writer wakes it and waits for a pass
// that begins after the request (at most roomPasses, bounded by
// roomWait), then commits whatever the free space. The blocks wait in
// the recorder's queue and the ring meanwhile (seconds of traffic), so a
// wait costs no packet. A writer does not wait when the last pass could
// not bring the free space up to the floor (holds leave no room, or the
// open segments are all there is): no pass would make more room, and
// waiting would only slow recording into what space is left.

const (
	// roomWait bounds how long a commit waits for retention.
	roomWait = time.Second
	// roomPasses bounds the passes a commit waits for.
	roomPasses = 3
)

// room is RecordingConfig.Room: it returns at once while the filesystem
// has room for need bytes above half retention's floor, and otherwise
// asks retention for that room and waits for it (see above). It stops
// waiting once a pass deleted nothing: retention can do no more.
func (r *retention) room(need int64) {
	floor := r.floorBytes.Load()
	if floor <= 0 || r.short.Load() {
		return
	}
	if free, _ := archive.DiskSpace(r.a.Dir()); free < 0 || free-need >= floor/2 {
		return
	}
	start := time.Now()
	timer := time.NewTimer(roomWait)
	defer timer.Stop()
	timedOut := false
wait:
	for range roomPasses {
		// The next pass keeps room for this commit above half the floor
		// (a retry of held blocks may need more than the floor).
		storeMax(&r.roomNeed, need+floor/2)
		r.passMu.Lock()
		pass := r.nextPass
		r.passMu.Unlock()
		deleted := r.deletedSegments.Load()
		select {
		case r.wake <- struct{}{}:
		default: // a pass is asked for already
		}
		select {
		case <-pass:
		case <-r.loopDone: // retention has stopped
			break wait
		case <-timer.C:
			timedOut = true
			break wait
		}
		if r.short.Load() || r.deletedSegments.Load() == deleted {
			break
		}
		floor = r.floorBytes.Load()
		if free, _ := archive.DiskSpace(r.a.Dir()); free < 0 || free-need >= floor/2 {
			break
		}
	}
	waited := time.Since(start)
	r.roomWaits.Add(1)
	r.roomWaitNS.Add(int64(waited))
	storeMax(&r.roomMaxNS, int64(waited))
	if timedOut {
		r.roomTimeouts.Add(1)
	}
}

// passBegins hands the pass about to run the writers waiting for the next
// one; the caller closes what it returns once the pass is done.
func (r *retention) passBegins() chan struct{} {
	r.passMu.Lock()
	defer r.passMu.Unlock()
	done := r.nextPass
	r.nextPass = make(chan struct{})
	return done
}

// look notes a look at the filesystem (a check or a pass) at now, under
// mu: the longest time between two is how late retention ran.
func (r *retention) look(now time.Time) {
	if !r.lastLook.IsZero() {
		storeMax(&r.gapMaxNS, int64(now.Sub(r.lastLook)))
	}
	r.lastLook = now
}

// storeMax raises m to v if v is more.
func storeMax(m *atomic.Int64, v int64) {
	for {
		old := m.Load()
		if v <= old || m.CompareAndSwap(old, v) {
			return
		}
	}
}
