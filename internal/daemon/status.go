package daemon

import (
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/api"
)

// Status is the JSON of GET /api/v1/status; its keys are a stable
// interface for scripts.
type Status struct {
	Version    string            `json:"version"`
	StartedAt  time.Time         `json:"started_at"`
	Interfaces []InterfaceStatus `json:"interfaces"`
	Store      StoreStatus       `json:"store"`
	Retention  RetentionStatus   `json:"retention"`
	Fleet      *FleetStatus      `json:"fleet,omitempty"` // with a fleet block
	Horizon    HorizonStatus     `json:"horizon"`
	Index      IndexStatus       `json:"index"` // segment summaries (summarize.go)
}

// InterfaceStatus is one interface's state and counters.
type InterfaceStatus struct {
	Name     string `json:"name"`
	State    string `json:"state"`
	Error    string `json:"error,omitempty"`
	Rings    int    `json:"rings"`
	Filter   string `json:"filter"`
	Packets  int64  `json:"packets"`
	Bytes    int64  `json:"bytes"`
	Received int64  `json:"received"`
	Drops    struct {
		Kernel int64 `json:"kernel"`
		App    int64 `json:"app"`
		Reload int64 `json:"reload"` // carried by the interface while a reload replaced its rings (at most)
	} `json:"drops"`
	Cutoff *CutoffStatus `json:"cutoff,omitempty"` // with a cutoff block (cutoff.go)
	// CompressionSkipped counts the blocks stored raw, though the store
	// compresses, because the writer fell behind (compression is skipped
	// rather than a packet lost; see package recorder).
	CompressionSkipped int64 `json:"compression_skipped_blocks"`
}

// StoreStatus describes the store directory. Sizes are file bytes: what
// the store's files take on disk (side files and the reserve included,
// open segments at their current size), the measure of max_bytes.
type StoreStatus struct {
	Path      string `json:"path"`
	FileBytes int64  `json:"file_bytes"`
	Bytes     int64  `json:"bytes"` // file_bytes, under its old name
	FreeBytes int64  `json:"free_bytes"`
	// KeepFreeBytes is the free space retention keeps: min_free, or the
	// margin the write rate needs if that is more (plus the reserve,
	// while it is missing).
	KeepFreeBytes int64 `json:"keep_free_bytes"`
	MarginBytes   int64 `json:"margin_bytes"`
	// WriteRate is the recent peak of the interfaces' writing, in bytes
	// per second.
	WriteRate int64 `json:"write_bytes_per_second"`
	// Reserve says the store's reserve file (see archive.ReserveFile) is
	// in place.
	Reserve      bool           `json:"reserve"`
	Segments     int64          `json:"segments"`
	OldestPacket *time.Time     `json:"oldest_packet"`
	NewestPacket *time.Time     `json:"newest_packet"`
	Holds        []api.HoldJSON `json:"holds"`
}

// RetentionStatus says what retention did last and whether holds block it.
type RetentionStatus struct {
	Blocked         bool    `json:"blocked"`
	Paused          bool    `json:"recording_paused"`
	WhenHeld        string  `json:"when_held"`
	LastAction      *Action `json:"last_action"`
	DeletedBytes    int64   `json:"deleted_bytes"`
	DeletedPackets  int64   `json:"deleted_packets"`
	DeletedSegments int64   `json:"deleted_segments"`
	// Held data deleted because holds left no room (when_held: delete).
	DeletedHeldBytes    int64 `json:"deleted_held_bytes"`
	DeletedHeldPackets  int64 `json:"deleted_held_packets"`
	DeletedHeldSegments int64 `json:"deleted_held_segments"`
}

func (d *Daemon) status() Status {
	cfg := d.config()
	st := Status{Version: d.version, StartedAt: d.started.UTC(), Interfaces: []InterfaceStatus{}}
	for _, r := range d.runnerListLocked() {
		s := r.snapshot()
		is := InterfaceStatus{Name: r.cfg.Name, State: r.State(), Error: r.lastErr.Load().(string), Rings: r.cfg.Fanout,
			Filter: r.Filter(), Packets: s.Stored, Bytes: s.Bytes, Received: s.Received}
		is.Drops.Kernel, is.Drops.App, is.Drops.Reload = s.KernelDropped, s.AppDropped, s.Unseen
		is.Cutoff = r.cutoffStatus()
		is.CompressionSkipped = s.CompressionSkipped
		st.Interfaces = append(st.Interfaces, is)
	}
	ret := d.ret
	st.Store = StoreStatus{Path: d.storeDir, FileBytes: ret.fileBytes.Load(), Bytes: ret.fileBytes.Load(), FreeBytes: ret.freeBytes.Load(),
		KeepFreeBytes: ret.floorBytes.Load(), MarginBytes: ret.marginBytes.Load(), WriteRate: ret.rate.Load(), Reserve: ret.reserve.Load(),
		Segments: ret.segments.Load(), Holds: []api.HoldJSON{}}
	if o := ret.oldestNS.Load(); o != 0 {
		a, b := time.Unix(0, o).UTC(), time.Unix(0, ret.newestNS.Load()).UTC()
		st.Store.OldestPacket, st.Store.NewestPacket = &a, &b
	}
	if holds, err := ret.holdList(); err == nil {
		for _, h := range holds {
			st.Store.Holds = append(st.Store.Holds, api.NewHoldJSON(h))
		}
	}
	st.Retention = RetentionStatus{Blocked: ret.blocked.Load(), Paused: d.paused.Load(), WhenHeld: cfg.Retention.WhenHeld,
		DeletedBytes: ret.deletedBytes.Load(), DeletedPackets: ret.deletedPackets.Load(), DeletedSegments: ret.deletedSegments.Load(),
		DeletedHeldBytes: ret.heldBytes.Load(), DeletedHeldPackets: ret.heldPackets.Load(), DeletedHeldSegments: ret.heldSegments.Load()}
	st.Fleet = d.fleetStatus()
	if a := ret.lastAction(); !a.At.IsZero() {
		st.Retention.LastAction = &a
	}
	st.Horizon = d.horizonStatus()
	st.Index = d.indexStatus()
	return st
}
