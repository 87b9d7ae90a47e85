package archive

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/packetrecorderd/packetrecorderd/internal/index"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

// Segment summaries (catalog version 3): for each closed segment, one
// index.Sketch of the terms of all its packets (index.Summary: the union
// of its blocks' terms, sized for the segment's distinct terms), so that a
// store selection opens only the segments that may hold a match. A
// Recording builds it while it writes the segment (from the hashes its
// blocks' sketches are built of) and writes it in the catalog transaction
// that closes the segment; a segment closed without one (by an older
// binary, a recording that died, or a catalog rebuilt from the files) gets
// one from packetrecorder reindex (Summarize). The summary counts the
// segment's packets: one whose count differs from the segment's row is
// stale and not used. A selection opens every segment without a usable
// summary, so a missing or damaged one costs reading the segment's block
// index, never a packet of the answer.
const summarySchema = `
CREATE TABLE IF NOT EXISTS segment_summaries (
	id      INTEGER PRIMARY KEY,
	file    TEXT    NOT NULL UNIQUE,
	packets INTEGER NOT NULL,
	blocks  INTEGER NOT NULL,
	pairs   INTEGER NOT NULL,
	sketch  BLOB    NOT NULL
);
`

// ErrNoSummary reports a segment without a usable summary: none was
// written, or it is damaged, or it covers another number of packets than
// the segment holds.
var ErrNoSummary = errors.New("segment has no usable summary")

// SegmentSummary is a closed segment's summary.
type SegmentSummary struct {
	Sketch index.Sketch
	// Pairs: the sketch holds the address-port pairs of every packet
	// (index.Summary.Paired): match it with MatchPaired.
	Pairs bool
}

// Match reports whether the segment may hold a packet of the plan.
func (s SegmentSummary) Match(e index.Expr) bool {
	if s.Pairs {
		return s.Sketch.MatchPaired(e)
	}
	return s.Sketch.Match(e)
}

// Summary is the catalog's summary of a closed segment, checked: it
// covers the segment's packets and has a sketch's layout. A segment
// without a usable one is ErrNoSummary.
func (a *Archive) Summary(s Segment) (SegmentSummary, error) {
	if !s.Closed {
		return SegmentSummary{}, fmt.Errorf("%s: open: %w", s.File, ErrNoSummary)
	}
	if a.version < 3 {
		return SegmentSummary{}, fmt.Errorf("%s: catalog of version %d: %w", s.File, a.version, ErrNoSummary)
	}
	var sk index.Sketch
	var pairs bool
	err := a.do(func() error {
		stmt, _, err := a.conn.Prepare(`SELECT packets, sketch, pairs FROM segment_summaries WHERE file = ?`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		stmt.BindText(1, s.File)
		sk = nil
		if !stmt.Step() {
			if err := stmt.Err(); err != nil {
				return err
			}
			return fmt.Errorf("%s: %w", s.File, ErrNoSummary)
		}
		if stmt.ColumnInt64(0) != s.Packets {
			return fmt.Errorf("%s: a summary of %d packets, the segment holds %d: %w", s.File, stmt.ColumnInt64(0), s.Packets, ErrNoSummary)
		}
		sk, pairs = index.Sketch(stmt.ColumnBlob(1, nil)), stmt.ColumnInt64(2) == 1
		if sk.Check() != nil {
			return fmt.Errorf("%s: damaged: %w", s.File, ErrNoSummary)
		}
		return nil
	})
	if err != nil {
		return SegmentSummary{}, err
	}
	return SegmentSummary{Sketch: sk, Pairs: pairs}, nil
}

// Summaries are the summaries of the closed segments of segs, by
// segment id, read with one statement; a segment without a usable one
// (see Summary) is left out. An error of the catalog leaves out the rest.
func (a *Archive) Summaries(segs []Segment) map[int64]SegmentSummary {
	out := map[int64]SegmentSummary{}
	a.eachSummary(segs, func(s Segment, ss SegmentSummary) {
		ss.Sketch = bytes.Clone(ss.Sketch)
		out[s.ID] = ss
	})
	return out
}

// eachSummary calls fn with the usable summary (see Summaries) of each
// closed segment of segs that has one, read with one statement. The
// sketch fn gets is the catalog's memory: valid only during the call, so
// that a caller that only looks at it keeps none (a sketch is up to
// 1 MiB). An error of the catalog leaves out the rest.
func (a *Archive) eachSummary(segs []Segment, fn func(Segment, SegmentSummary)) {
	if a.version < 3 {
		return
	}
	a.do(func() error {
		stmt, _, err := a.conn.Prepare(`SELECT packets, sketch, pairs FROM segment_summaries WHERE file = ?`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, s := range segs {
			if !s.Closed {
				continue
			}
			stmt.BindText(1, s.File)
			if stmt.Step() && stmt.ColumnInt64(0) == s.Packets {
				sk := index.Sketch(stmt.ColumnRawBlob(1))
				if sk.Check() == nil {
					fn(s, SegmentSummary{Sketch: sk, Pairs: stmt.ColumnInt64(2) == 1})
				}
			}
			err := stmt.Err()
			stmt.Reset()
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// putSummary writes a closed segment's summary, if its row is there and
// not being expired.
func (a *Archive) putSummary(file string, packets, blocks int64, pairs bool, sketch []byte) error {
	stmt, _, err := a.conn.Prepare(`INSERT INTO segment_summaries (file, packets, blocks, pairs, sketch)
		SELECT ?1, ?2, ?3, ?5, ?4 WHERE EXISTS (SELECT 1 FROM segments WHERE file = ?1 AND NOT expiring)
		ON CONFLICT (file) DO UPDATE SET packets = excluded.packets, blocks = excluded.blocks, pairs = excluded.pairs, sketch = excluded.sketch`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	stmt.BindText(1, file)
	stmt.BindInt64(2, packets)
	stmt.BindInt64(3, blocks)
	stmt.BindBlob(4, sketch)
	stmt.BindBool(5, pairs)
	return stmt.Exec()
}

// SummarizeStats says what Summarize did.
type SummarizeStats struct {
	Built, Kept int64 // segments given a summary, segments whose summary was usable
	Bytes       int64 // bytes of the summaries built
}

// Summarize gives every closed segment without a usable summary, or with
// one written before summaries held Community IDs (all of them, with
// rebuild), one, reading the segment's blocks: the segments a
// store selection would otherwise open whatever its filter. A segment
// that cannot be read is left without one (selections open it and say
// why).
func (a *Archive) Summarize(rebuild bool) (SummarizeStats, error) {
	var st SummarizeStats
	if a.readOnly {
		return st, errors.New("summarize: the store is open read-only")
	}
	segs, err := a.Segments()
	if err != nil {
		return st, err
	}
	var sum index.Summary
	for _, s := range segs {
		if !s.Closed {
			continue
		}
		if ss, err := a.Summary(s); err == nil && !rebuild && ss.Sketch.HasCommunityIDs() {
			st.Kept++
			continue
		} else if err != nil && !errors.Is(err, ErrNoSummary) {
			return st, err
		}
		sum.Reset()
		sum.SetPairs(true)
		packets, err := summarizeFile(context.Background(), a.Path(s), &sum)
		if err != nil {
			a.log.Warn("segment not summarized", "file", s.File, "err", err)
			continue
		}
		if packets != s.Packets {
			continue // the catalog's count is off: its repair comes first
		}
		sk := sum.Sketch(nil)
		if err := a.do(func() error { return a.putSummary(s.File, packets, sum.Blocks(), sum.Paired(), sk) }); err != nil {
			return st, fmt.Errorf("summarize %s: %w", s.File, err)
		}
		st.Built++
		st.Bytes += int64(len(sk))
	}
	return st, nil
}

// summarizeFile adds the terms of a segment file's packets to sum and
// returns how many packets it holds; ctx stops it between blocks.
func summarizeFile(ctx context.Context, path string, sum *index.Summary) (int64, error) {
	db, err := store.Open(path, store.Options{ReadOnly: true})
	if err != nil {
		return 0, err
	}
	defer db.Close()
	ss, err := db.Sessions()
	if err != nil {
		return 0, err
	}
	if len(ss) != 1 {
		return 0, fmt.Errorf("holds %d sessions, a segment holds one", len(ss))
	}
	if err := db.SummarizeContext(ctx, ss[0].ID, sum); err != nil {
		return 0, err
	}
	return ss[0].Packets, nil
}

// inTx runs fn in one catalog write transaction.
func (a *Archive) inTx(fn func() error) (err error) {
	if err := a.conn.Exec("BEGIN IMMEDIATE"); err != nil {
		return err
	}
	if err := fn(); err != nil {
		a.conn.Exec("ROLLBACK")
		return err
	}
	if err := a.conn.Exec("COMMIT"); err != nil {
		a.conn.Exec("ROLLBACK")
		return err
	}
	return nil
}
