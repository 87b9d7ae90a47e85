package store

import (
	"errors"
	"fmt"

	"github.com/ncruces/go-sqlite3"
	"github.com/packetrecorderd/packetrecorderd/internal/index"
)

// The block index (schema version 5): one sketch per block, written by
// the Writer in the transaction that writes the block, so a block is
// findable through the index as soon as it is visible (see
// index.Sketch). A Range's Plan is evaluated against the sketches, and
// only the blocks that may hold a matching packet are read. A block
// without a sketch (an older binary wrote it, or the index was damaged)
// is read whole: the index can make a walk shorter, never its answer.
const migration5 = `CREATE TABLE block_sketches (
		session_id INTEGER NOT NULL,
		block_id   INTEGER NOT NULL,
		bytes      INTEGER NOT NULL,
		sketch     BLOB    NOT NULL,
		PRIMARY KEY (session_id, block_id)
	) WITHOUT ROWID;`

// PlanStats says what a planned walk read, for --explain and for the
// warning a caller prints when part of the index is missing.
type PlanStats struct {
	Blocks, Read int64 // blocks in the range, blocks read
	// Bytes and ReadBytes are the captured bytes of the indexed blocks
	// in the range and of those read (blocks without a sketch are counted
	// in neither: their size is not known without reading their row).
	Bytes, ReadBytes int64
	// Unindexed counts blocks in the range that have no usable sketch
	// (missing or damaged) and were read whole.
	Unindexed int64
	// NoIndex is set when the database has no block index at all (schema
	// older than 5, opened read-only): every block was read.
	NoIndex bool
	// Segments counts a store's closed segments a planned walk met in
	// its window; SegmentsSkipped those the catalog's segment summaries
	// left out (never opened); Unsummarized those without a usable
	// summary (missing, damaged or stale), opened and planned by their
	// blocks' sketches.
	Segments, SegmentsSkipped, Unsummarized int64
}

// Warning is the line to print when part of the index was missing, or
// "" when the index answered for every block.
func (s *PlanStats) Warning() string {
	switch {
	case s == nil:
		return ""
	case s.NoIndex:
		return "no block index (schema older than 5): every block is read; run packetrecorder reindex with write access"
	case s.Unindexed > 0:
		return fmt.Sprintf("%d of %d blocks have no usable index entry and are read whole; packetrecorder reindex rebuilds it", s.Unindexed, s.Blocks)
	case s.Unsummarized > 0:
		return fmt.Sprintf("%d of %d segments have no usable summary in the catalog and are opened; packetrecorder reindex -d STORE builds them", s.Unsummarized, s.Segments)
	}
	return ""
}

func (s *PlanStats) add(o PlanStats) {
	s.Blocks += o.Blocks
	s.Read += o.Read
	s.Bytes += o.Bytes
	s.ReadBytes += o.ReadBytes
	s.Unindexed += o.Unindexed
	s.NoIndex = s.NoIndex || o.NoIndex
	s.Segments += o.Segments
	s.SegmentsSkipped += o.SegmentsSkipped
	s.Unsummarized += o.Unsummarized
}

// blockPlan is a planned walk's knowledge of one session's blocks.
type blockPlan struct {
	skip  map[int64]bool  // block id -> the sketch says no matching packet
	size  map[int64]int64 // block id -> captured bytes, for indexed blocks
	stats PlanStats
	on    bool
}

// planBlocks evaluates r.Plan against the session's sketches. A plan
// that narrows nothing returns a plan that reads every block.
func (db *DB) planBlocks(session int64, r Range) (*blockPlan, error) {
	p := &blockPlan{}
	if !index.Narrows(r.Plan) {
		return p, nil
	}
	p.on = true
	if db.readOnly && db.version < 5 {
		p.stats.NoIndex = true
		p.on = false
		return p, nil
	}
	stmt, _, err := db.conn.Prepare(`SELECT block_id, bytes, sketch FROM block_sketches WHERE session_id = ?`)
	if err != nil {
		return nil, classify(err)
	}
	defer stmt.Close()
	stmt.BindInt64(1, session)
	p.skip = make(map[int64]bool)
	p.size = make(map[int64]int64)
	for stmt.Step() {
		id := stmt.ColumnInt64(0)
		s := index.Sketch(stmt.ColumnRawBlob(2))
		if s.Check() != nil {
			continue // damaged: the block is read, and counted unindexed
		}
		p.size[id] = stmt.ColumnInt64(1)
		if !s.Match(r.Plan) {
			p.skip[id] = true
		}
	}
	if err := stmt.Err(); err != nil {
		return nil, classify(err)
	}
	return p, nil
}

// read reports whether the walk must read block b, counting it.
func (p *blockPlan) read(b blockRef) bool {
	p.stats.Blocks++
	if !p.on {
		p.stats.Read++
		return true
	}
	size, indexed := p.size[b.id]
	if !indexed {
		p.stats.Unindexed++
		p.stats.Read++
		return true
	}
	p.stats.Bytes += size
	if p.skip[b.id] {
		return false
	}
	p.stats.Read++
	p.stats.ReadBytes += size
	return true
}

func (p *blockPlan) report(r Range) {
	if r.Stats != nil {
		r.Stats.add(p.stats)
	}
}

// sketcher builds and inserts blocks' sketches for a Writer.
type sketcher struct {
	b      index.Builder
	buf    []byte
	raw    []byte // a decoded block (Reindex)
	insert *sqlite3.Stmt
}

func (db *DB) newSketcher() (*sketcher, error) {
	s := &sketcher{}
	var err error
	s.insert, _, err = db.conn.Prepare(`INSERT OR REPLACE INTO block_sketches (session_id, block_id, bytes, sketch) VALUES (?, ?, ?, ?)`)
	if err != nil {
		return nil, classify(err)
	}
	return s, nil
}

func (s *sketcher) close() {
	if s != nil && s.insert != nil {
		s.insert.Close()
	}
}

// sketch builds the sketch of a block blob into s.buf.
func (s *sketcher) sketch(blob []byte, linkType uint32) error {
	s.b.Reset()
	err := WalkBlock(blob, 1, linkType, 0, func(r Record) error {
		s.b.AddPacket(linkType, r.Data)
		return nil
	})
	s.buf = s.b.Sketch(s.buf[:0])
	return err
}

// write inserts the sketch of block id (built by sketch).
func (s *sketcher) write(session, id, bytes int64) error {
	st := s.insert
	st.BindInt64(1, session)
	st.BindInt64(2, id)
	st.BindInt64(3, bytes)
	st.BindBlob(4, s.buf)
	return st.Exec()
}

// usable reports whether Reindex keeps a sketch: it is whole and holds
// its block's Community IDs.
func usable(s index.Sketch) bool { return s.Check() == nil && s.HasCommunityIDs() }

// ReindexStats says what Reindex did.
type ReindexStats struct {
	Blocks  int64 // blocks given a new sketch
	Kept    int64 // blocks whose sketch was sound and kept
	Sketch  int64 // bytes of all sketches after
	Packets int64 // captured bytes of the blocks (for the ratio)
}

// Reindex builds the block index where it is missing or damaged, or was
// built before sketches held Community IDs (all of it, with rebuild), a
// few blocks per transaction so that a capture writing into the same
// database is held up only briefly.
func (db *DB) Reindex(rebuild bool) (ReindexStats, error) {
	var st ReindexStats
	if db.readOnly {
		return st, errors.New("reindex: the database is open read-only")
	}
	if rebuild {
		if err := db.exec(`DELETE FROM block_sketches`); err != nil {
			return st, fmt.Errorf("reindex: %w", db.classifyWrite(err))
		}
	}
	// The blocks whose sketch is missing, damaged, or older than
	// Community IDs in sketches (it then matches every ID).
	var todo []int64
	{
		stmt, _, err := db.conn.Prepare(`SELECT b.id, s.sketch FROM blocks b INDEXED BY blocks_span
			LEFT JOIN block_sketches s ON s.session_id = b.session_id AND s.block_id = b.id`)
		if err != nil {
			return st, classify(err)
		}
		for stmt.Step() {
			if stmt.ColumnType(1) == sqlite3.NULL || !usable(index.Sketch(stmt.ColumnRawBlob(1))) {
				todo = append(todo, stmt.ColumnInt64(0))
			} else {
				st.Kept++
			}
		}
		err = stmt.Err()
		stmt.Close()
		if err != nil {
			return st, classify(err)
		}
	}
	sk, err := db.newSketcher()
	if err != nil {
		return st, err
	}
	defer sk.close()
	read, _, err := db.conn.Prepare(`SELECT session_id, link_type, bytes, data, encoding, bytes + 16 * packet_count FROM blocks WHERE id = ?`)
	if err != nil {
		return st, classify(err)
	}
	defer read.Close()
	const perTx = 64
	for len(todo) > 0 {
		n := min(perTx, len(todo))
		if err := db.reindexSome(sk, read, todo[:n]); err != nil {
			return st, fmt.Errorf("reindex: %w", err)
		}
		st.Blocks += int64(n)
		todo = todo[n:]
	}
	stmt, _, err := db.conn.Prepare(`SELECT coalesce(sum(length(sketch)), 0), coalesce(sum(bytes), 0) FROM block_sketches`)
	if err != nil {
		return st, classify(err)
	}
	defer stmt.Close()
	if stmt.Step() {
		st.Sketch, st.Packets = stmt.ColumnInt64(0), stmt.ColumnInt64(1)
	}
	return st, classify(stmt.Err())
}

func (db *DB) reindexSome(sk *sketcher, read *sqlite3.Stmt, ids []int64) (err error) {
	tx, err := db.conn.BeginImmediate()
	if err != nil {
		return db.classifyWrite(err)
	}
	defer func() {
		tx.End(&err)
		err = db.classifyWrite(err)
	}()
	for _, id := range ids {
		read.BindInt64(1, id)
		if !read.Step() {
			err := read.Err()
			read.Reset()
			if err != nil {
				return err
			}
			continue // deleted meanwhile
		}
		session, linkType, bytes := read.ColumnInt64(0), uint32(read.ColumnInt64(1)), read.ColumnInt64(2)
		raw, serr := decodeBlock(read.ColumnInt64(4), read.ColumnRawBlob(3), read.ColumnInt64(5), sk.raw)
		if serr == nil {
			if read.ColumnInt64(4) != EncodingRaw {
				sk.raw = raw[:0]
			}
			serr = sk.sketch(raw, linkType)
		}
		read.Reset()
		if serr != nil {
			// A damaged block gets no sketch: a walk reads it and reports it.
			if errors.Is(serr, ErrCorruptBlock) {
				continue
			}
			return serr
		}
		if err := sk.write(session, id, bytes); err != nil {
			return err
		}
	}
	return nil
}

// migrateIndexMax bounds the database a migration to schema 5 indexes
// in its transaction (reading every block: about 2.5 s a GiB here). A
// larger one is migrated without its index, which would hold up the
// capture or import that opened it for minutes: its blocks are read
// whole (queries say so) until packetrecorder reindex builds it.
var migrateIndexMax int64 = 1 << 30

// fillSketchesIfSmall indexes every block of a database migrated to
// schema 5 if it is at most migrateIndexMax bytes.
func (db *DB) fillSketchesIfSmall() error {
	pages, err := db.pragmaInt("page_count")
	if err != nil {
		return err
	}
	size, err := db.pragmaInt("page_size")
	if err != nil {
		return err
	}
	if pages*size > migrateIndexMax {
		return nil
	}
	return db.fillSketches()
}

// fillSketches indexes every block of a database migrated to schema 5
// (inside the migration's transaction).
func (db *DB) fillSketches() error {
	sk, err := db.newSketcher()
	if err != nil {
		return err
	}
	defer sk.close()
	stmt, _, err := db.conn.Prepare(`SELECT id, session_id, link_type, bytes, data FROM blocks`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	type row struct {
		id, session, bytes int64
		sketch             []byte
	}
	var rows []row
	for stmt.Step() {
		if err := sk.sketch(stmt.ColumnRawBlob(4), uint32(stmt.ColumnInt64(2))); err != nil {
			if errors.Is(err, ErrCorruptBlock) {
				continue // read whole, and reported, by every walk
			}
			return err
		}
		rows = append(rows, row{stmt.ColumnInt64(0), stmt.ColumnInt64(1), stmt.ColumnInt64(3), append([]byte(nil), sk.buf...)})
	}
	if err := stmt.Err(); err != nil {
		return err
	}
	for _, r := range rows {
		sk.buf = r.sketch
		if err := sk.write(r.session, r.id, r.bytes); err != nil {
			return err
		}
	}
	return nil
}
