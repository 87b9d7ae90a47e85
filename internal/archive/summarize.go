package archive

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/packetrecorderd/packetrecorderd/internal/index"
)

// Segment summaries built one at a time, for a daemon that gives the
// segments of an older store (or of a lost catalog) their summaries in
// the background while it records: Unsummarized lists the segments
// Summarize would build a summary for, BuildSummary reads one segment's
// file (no catalog access: it may run while another goroutine holds the
// Archive), and PutSummary writes the result in its own short
// transaction, unless retention deleted the segment meanwhile. The
// summary is built exactly as Summarize builds it.

// Unsummarized lists the closed segments, not being expired, without a
// usable summary, or with one written before summaries held Community
// IDs: those Summarize(false) gives one. They come newest first (by their
// latest packet): the likeliest to be asked for, and the last retention
// deletes. With full false, only the segments without a summary row
// covering their packet count are listed: a check that reads no sketch,
// which misses a damaged sketch or one without Community IDs.
func (a *Archive) Unsummarized(full bool) ([]Segment, error) {
	if a.version < 3 {
		return nil, fmt.Errorf("list unsummarized segments: catalog of version %d", a.version)
	}
	var out []Segment
	if full {
		segs, err := a.Segments()
		if err != nil {
			return nil, err
		}
		var closed []Segment
		for _, s := range segs {
			if s.Closed {
				closed = append(closed, s)
			}
		}
		// Each sketch is looked at, none kept: a store's could fill the
		// memory.
		have := map[int64]bool{}
		a.eachSummary(closed, func(s Segment, ss SegmentSummary) {
			have[s.ID] = ss.Sketch.HasCommunityIDs()
		})
		for _, s := range closed {
			if !have[s.ID] {
				out = append(out, s)
			}
		}
	} else {
		var err error
		out, err = a.segmentsWhere(`closed AND NOT expiring
			AND NOT EXISTS (SELECT 1 FROM segment_summaries m WHERE m.file = segments.file AND m.packets = segments.packets)`)
		if err != nil {
			return nil, fmt.Errorf("list unsummarized segments: %w", err)
		}
	}
	slices.SortFunc(out, func(x, y Segment) int {
		return cmp.Or(cmp.Compare(y.MaxNS, x.MaxNS), cmp.Compare(y.ID, x.ID))
	})
	return out, nil
}

// BuiltSummary is a segment's summary built from its file, for
// PutSummary.
type BuiltSummary struct {
	File    string // the segment's, relative to the store
	Packets int64  // packets summarized: the segment's
	Blocks  int64
	Pairs   bool
	Sketch  []byte
}

// ErrCountMismatch reports a segment file holding another number of
// packets than its catalog row says: its summary would not be used.
var ErrCountMismatch = errors.New("the segment's file and its catalog row count other packets")

// BuildSummary builds the summary of the closed segment s from its file
// at path, as Summarize does; sum is scratch space (its memory is kept
// for the next call). ctx stops it between two blocks. It touches no
// catalog.
func BuildSummary(ctx context.Context, path string, s Segment, sum *index.Summary) (BuiltSummary, error) {
	sum.Reset()
	sum.SetPairs(true)
	packets, err := summarizeFile(ctx, path, sum)
	if err != nil {
		return BuiltSummary{}, fmt.Errorf("summarize %s: %w", s.File, err)
	}
	if packets != s.Packets {
		return BuiltSummary{}, fmt.Errorf("summarize %s: the file holds %d packets, the catalog %d: %w", s.File, packets, s.Packets, ErrCountMismatch)
	}
	return BuiltSummary{File: s.File, Packets: packets, Blocks: sum.Blocks(), Pairs: sum.Paired(), Sketch: sum.Sketch(nil)}, nil
}

// PutSummary writes a built summary in its own transaction. It reports
// false, with no error, when the segment's row is gone or being expired
// (retention deleted it meanwhile): nothing is written then.
func (a *Archive) PutSummary(b BuiltSummary) (bool, error) {
	if a.readOnly {
		return false, errors.New("put summary: the store is open read-only")
	}
	var n int64
	err := a.do(func() error {
		if err := a.putSummary(b.File, b.Packets, b.Blocks, b.Pairs, b.Sketch); err != nil {
			return err
		}
		n = a.conn.Changes()
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("put summary %s: %w", b.File, err)
	}
	return n > 0, nil
}

// Live reports whether the segment's row is still in the catalog and not
// being expired.
func (a *Archive) Live(s Segment) (bool, error) {
	var live bool
	err := a.do(func() error {
		stmt, _, err := a.conn.Prepare(`SELECT 1 FROM segments WHERE file = ? AND NOT expiring`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		stmt.BindText(1, s.File)
		live = stmt.Step()
		return stmt.Err()
	})
	return live, err
}
