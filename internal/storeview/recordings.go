package storeview

import (
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/archive"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

// Recording is a store's continuous recording as `sessions -d STORE
// --json` and GET /api/v1/sessions show it: one per ring of an interface
// recorded without a break, across segments, while retention has kept
// them. Its keys are a stable interface for scripts.
type Recording struct {
	ID          int     `json:"id"`
	Recording   string  `json:"recording"`
	Interface   string  `json:"interface"`
	Ring        int     `json:"ring"`
	FirstPacket int64   `json:"first_packet"`
	Packets     int64   `json:"packets"`
	FileBytes   int64   `json:"file_bytes"` // what its segment files take on disk
	Segments    int     `json:"segments"`
	OldestAt    *string `json:"oldest_packet"`
	NewestAt    *string `json:"newest_packet"`
	Status      string  `json:"status"`

	oldest, newest int64
	hasSpan        bool
}

// Recordings lists the store's recordings in the order they began,
// numbered from 1.
func Recordings(dir string) ([]Recording, error) {
	ar, err := archive.Open(dir, archive.Options{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer ar.Close()
	segs, err := ar.Segments()
	if err != nil {
		return nil, err
	}
	var order []string
	byRec := map[string]*Recording{}
	for _, s := range segs {
		r := byRec[s.Recording]
		if r == nil {
			r = &Recording{Recording: s.Recording, Interface: s.Interface, Ring: s.Ring, FirstPacket: s.FirstPacket, Status: store.StatusComplete}
			byRec[s.Recording] = r
			order = append(order, s.Recording)
		}
		r.FirstPacket = min(r.FirstPacket, s.FirstPacket)
		r.Packets += s.Packets
		r.FileBytes += s.Bytes // the catalog's bytes are file bytes
		r.Segments++
		switch {
		case !s.Closed:
			r.Status = store.StatusRecording
		case s.Interrupted && r.Status != store.StatusRecording:
			// Its process died (kill -9, a crash) before closing it.
			r.Status = store.StatusInterrupted
		}
		if s.Packets > 0 {
			if !r.hasSpan || s.MinNS < r.oldest {
				r.oldest = s.MinNS
			}
			if !r.hasSpan || s.MaxNS > r.newest {
				r.newest = s.MaxNS
			}
			r.hasSpan = true
		}
	}
	out := make([]Recording, 0, len(order))
	for i, id := range order {
		r := byRec[id]
		r.ID = i + 1
		if r.hasSpan {
			lo, hi := fmtTime(r.oldest), fmtTime(r.newest)
			r.OldestAt, r.NewestAt = &lo, &hi
		}
		out = append(out, *r)
	}
	return out, nil
}

func fmtTime(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }
