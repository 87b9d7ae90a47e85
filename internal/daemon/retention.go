package daemon

import (
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/archive"
)

// retention keeps the store within the configured limits by deleting
// whole oldest segments, exactly enough and no more. It runs in a loop of
// its own and writes only the catalog (in WAL mode), never a segment that
// is being written, so it never stalls a recording.
type retention struct {
	d *Daemon
	a *archive.Archive

	mu   sync.Mutex // guards a and last
	last Action

	deletedBytes, deletedPackets, deletedSegments atomic.Int64
	blocked                                       atomic.Bool
	storeBytes, freeBytes, oldestNS, newestNS     atomic.Int64
	segments, holds                               atomic.Int64
}

// Action is what retention last did.
type Action struct {
	At       time.Time `json:"at"`
	Reason   string    `json:"reason"` // max_bytes, max_age, min_free
	Segments int       `json:"segments"`
	Bytes    int64     `json:"bytes"`
	Packets  int64     `json:"packets"`
}

func newRetention(d *Daemon, a *archive.Archive) *retention {
	return &retention{d: d, a: a}
}

// diskSpace returns the free and total bytes of the filesystem holding dir.
func diskSpace(dir string) (free, total int64) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return -1, -1
	}
	return int64(st.Bavail) * int64(st.Bsize), int64(st.Blocks) * int64(st.Bsize)
}

// run makes one pass: it deletes what the limits require, then records
// the store's state for status and metrics.
func (r *retention) run() {
	r.mu.Lock()
	defer r.mu.Unlock()
	cfg := r.d.config()
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
	var total int64
	for _, s := range segs {
		total += s.Bytes
	}
	free, fsTotal := diskSpace(r.d.storeDir)
	if free >= 0 {
		free += r.a.TrashBytes() // being freed by the reaper
	}
	need := cfg.Retention.MinFree.Need(fsTotal)
	maxBytes := int64(cfg.Retention.MaxBytes)
	cutoff := int64(0)
	if cfg.Retention.MaxAge > 0 {
		cutoff = time.Now().Add(-time.Duration(cfg.Retention.MaxAge)).UnixNano()
	}
	deleteHeld := cfg.Retention.WhenHeld == "delete"
	acts := map[string]*Action{}
	short := false // a limit is exceeded and nothing more may go
	kept := segs[:0:0]
	for _, s := range segs {
		reason := ""
		switch {
		case !s.Closed:
		case cutoff != 0 && s.Packets > 0 && s.MaxNS < cutoff:
			reason = "max_age"
		case maxBytes > 0 && total > maxBytes:
			reason = "max_bytes"
		case free >= 0 && free < need:
			reason = "min_free"
		}
		if reason == "" {
			kept = append(kept, s)
			continue
		}
		if archive.Held(s, holds) && !deleteHeld {
			kept = append(kept, s)
			short = short || reason != "max_age"
			continue
		}
		if err := r.a.Expire(s); err != nil {
			r.d.log.Error("retention: delete segment", "file", s.File, "err", err)
			kept = append(kept, s)
			continue
		}
		total -= s.Bytes
		if free >= 0 {
			free += s.Bytes
		}
		act := acts[reason]
		if act == nil {
			act = &Action{At: time.Now(), Reason: reason}
			acts[reason] = act
		}
		act.Segments++
		act.Bytes += s.Bytes
		act.Packets += s.Packets
		r.deletedBytes.Add(s.Bytes)
		r.deletedPackets.Add(s.Packets)
		r.deletedSegments.Add(1)
	}
	for _, act := range acts {
		r.d.log.Info("retention deleted segments", "reason", act.Reason, "segments", act.Segments, "bytes", act.Bytes, "packets", act.Packets)
		r.last = *act
	}
	// Over a limit with nothing left to delete but held segments.
	overBytes := maxBytes > 0 && total > maxBytes+r.openBytes(kept)
	lowFree := free >= 0 && free < need
	blocked := short && (overBytes || lowFree)
	if blocked && !r.blocked.Load() {
		r.d.log.Error("retention: holds leave no room", "store_bytes", total, "free_bytes", free, "when_held", cfg.Retention.WhenHeld)
	}
	r.blocked.Store(blocked)
	if cfg.Retention.WhenHeld == "stop" {
		r.d.setPaused(blocked && lowFree || blocked && overBytes)
	}
	r.storeBytes.Store(total)
	r.freeBytes.Store(free)
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

// openBytes is what the open segments hold: retention cannot delete them,
// so a store may exceed max_bytes by them without being blocked.
func (r *retention) openBytes(segs []archive.Segment) int64 {
	var n int64
	for _, s := range segs {
		if !s.Closed {
			n += s.Bytes
		}
	}
	return n
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
