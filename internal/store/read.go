package store

import (
	"errors"
	"fmt"
	"math"

	"github.com/ncruces/go-sqlite3"
	"github.com/packetrecorderd/packetrecorderd/internal/index"
)

// Range selects packets of a session. The zero value selects all of them.
type Range struct {
	From int64 // first packet number (1-based); 0 means 1
	// Since and Until bound the timestamps (ns since the epoch, both
	// inclusive) when HasSince and HasUntil are set. Any int64 is a valid
	// bound, the epoch (0) and times before it included.
	Since, Until       int64
	HasSince, HasUntil bool
	// Plan, when it narrows (see index.Narrows), leaves out the blocks
	// whose index entry proves they hold no packet it selects; the
	// caller's filter still decides each packet of the blocks read. A
	// block without an index entry is read. The zero value reads every
	// block.
	Plan index.Expr
	// Stats, when not nil, is added what a planned walk read (and how
	// much of the index was missing: see PlanStats.Warning).
	Stats *PlanStats
}

// Bounds returns the range's time bounds, math.MinInt64 and
// math.MaxInt64 standing for the open ends.
func (r Range) Bounds() (lo, hi int64) {
	lo, hi = math.MinInt64, math.MaxInt64
	if r.HasSince {
		lo = r.Since
	}
	if r.HasUntil {
		hi = r.Until
	}
	return lo, hi
}

// blockRef is one row of the block index.
type blockRef struct {
	id, first, count int64
	lo, hi           int64 // minimum and maximum timestamp
	linkType         uint32
	iface            int
}

// Packets calls fn for each packet of the session in the range, in
// packet-number order. The Record's Data is valid only during the call.
// Returning ErrStop from fn ends the walk without error. Blocks outside
// the range are skipped using the block index (which keeps each block's
// minimum and maximum timestamp, so packets out of time order are found
// too), without reading their packets.
//
// The walk checks that the session's packet numbers are contiguous and
// that no stored packet is missing: a gap (a damaged or edited database)
// is an error wrapping ErrCorrupt, never a silently shorter answer.
func (db *DB) Packets(session int64, r Range, fn func(Record) error) (err error) {
	data, err := db.blockData(session)
	if err != nil {
		return err
	}
	defer data.close()
	plan, err := db.planBlocks(session, r)
	if err != nil {
		return err
	}
	defer plan.report(r)
	err = db.walkIndex(session, func(b blockRef) error {
		if r.misses(b) || !plan.read(b) {
			return nil
		}
		return data.walk(b, func(rec Record) error {
			if !r.holds(rec) {
				return nil
			}
			return fn(rec)
		})
	})
	if errors.Is(err, ErrStop) {
		return nil
	}
	return err
}

// misses reports whether no packet of the block can be in the range.
func (r Range) misses(b blockRef) bool {
	lo, hi := r.Bounds()
	return b.first+b.count <= max(r.From, 1) || b.hi < lo || b.lo > hi
}

// covers reports whether every packet of the block is in the range.
func (r Range) covers(b blockRef) bool {
	lo, hi := r.Bounds()
	return b.first >= max(r.From, 1) && b.lo >= lo && b.hi <= hi
}

// holds reports whether the record is in the range.
func (r Range) holds(rec Record) bool {
	lo, hi := r.Bounds()
	return rec.Number >= max(r.From, 1) && rec.Timestamp >= lo && rec.Timestamp <= hi
}

// blockData reads the blobs of a session's blocks by their row id,
// decoding compressed ones.
type blockData struct {
	db      *DB
	session int64
	stmt    *sqlite3.Stmt
	buf     []byte // the last decoded block
}

func (db *DB) blockData(session int64) (*blockData, error) {
	stmt, _, err := db.conn.Prepare(db.blockDataQuery())
	if err != nil {
		return nil, classify(err)
	}
	return &blockData{db: db, session: session, stmt: stmt}, nil
}

// blockDataQuery selects a block's encoding, raw length and stored blob
// by its row id. A file older than schema 6 (opened read-only, so not
// migrated) has only raw blocks.
func (db *DB) blockDataQuery() string {
	if db.version > 0 && db.version < 6 {
		return `SELECT 0, bytes + 16 * packet_count, data FROM blocks WHERE id = ?`
	}
	return `SELECT encoding, bytes + 16 * packet_count, data FROM blocks WHERE id = ?`
}

func (d *blockData) close() { d.stmt.Close() }

// walk reads one block and walks its records.
func (d *blockData) walk(b blockRef, fn func(Record) error) error {
	d.stmt.BindInt64(1, b.id)
	defer d.stmt.Reset()
	if !d.stmt.Step() {
		if err := d.stmt.Err(); err != nil {
			return classify(err)
		}
		return fmt.Errorf("session %d: block of packet %d vanished: %w", d.session, b.first, ErrCorrupt)
	}
	blob, err := decodeBlock(d.stmt.ColumnInt64(0), d.stmt.ColumnRawBlob(2), d.stmt.ColumnInt64(1), d.buf)
	if err != nil {
		return fmt.Errorf("session %d: %w: packets %d to %d: %w", d.session, ErrCorrupt, b.first, b.first+b.count-1, err)
	}
	if d.stmt.ColumnInt64(0) != EncodingRaw {
		d.buf = blob[:0] // kept for the next block
	}
	return d.db.walkBlock(d.session, blob, b, fn)
}

// walkBlock walks one block's records, checking that the blob holds as
// many as the index says.
func (db *DB) walkBlock(session int64, blob []byte, b blockRef, fn func(Record) error) error {
	n := int64(0)
	err := WalkBlock(blob, b.first, b.linkType, b.iface, func(rec Record) error {
		n++
		return fn(rec)
	})
	if err == nil && n != b.count {
		err = fmt.Errorf("block at packet %d holds %d packets, the index says %d: %w", b.first, n, b.count, ErrCorruptBlock)
	}
	if errors.Is(err, ErrCorruptBlock) {
		return fmt.Errorf("session %d: %w: %w", session, ErrCorrupt, err)
	}
	return err
}

// ErrStop, returned by a Packets callback, ends the walk early.
var ErrStop = errors.New("stop")

// walkIndex calls fn for each block of the session in packet-number
// order, from the covering index alone, inside one read transaction (so
// that the session's counters and its blocks are one snapshot). It
// reports a gap in the packet numbers, or fewer stored packets than the
// session's counter, as ErrCorrupt.
func (db *DB) walkIndex(session int64, fn func(blockRef) error) (err error) {
	if db.conn.GetAutocommit() {
		if err := db.conn.Exec("BEGIN"); err != nil {
			return classify(err)
		}
		defer func() {
			if cerr := db.conn.Exec("COMMIT"); cerr != nil && err == nil {
				err = classify(cerr)
			}
		}()
	}
	var want, next int64
	{
		stmt, _, err := db.conn.Prepare(`SELECT packets, first_packet FROM sessions WHERE id = ?`)
		if err != nil {
			return classify(err)
		}
		stmt.BindInt64(1, session)
		ok := stmt.Step()
		if ok {
			want, next = stmt.ColumnInt64(0), stmt.ColumnInt64(1)
		}
		err = stmt.Err()
		stmt.Close()
		if err != nil {
			return classify(err)
		}
		if !ok {
			return fmt.Errorf("session %d: %w", session, ErrNoSession)
		}
	}
	stmt, _, err := db.conn.Prepare(`SELECT id, first_packet, packet_count, min_ns, max_ns, link_type, interface_id
		FROM blocks INDEXED BY blocks_span WHERE session_id = ? ORDER BY first_packet`)
	if err != nil {
		return classify(err)
	}
	defer stmt.Close()
	stmt.BindInt64(1, session)
	first := next
	for stmt.Step() {
		b := blockRef{
			id: stmt.ColumnInt64(0), first: stmt.ColumnInt64(1), count: stmt.ColumnInt64(2),
			lo: stmt.ColumnInt64(3), hi: stmt.ColumnInt64(4),
			linkType: uint32(stmt.ColumnInt64(5)), iface: stmt.ColumnInt(6),
		}
		switch {
		case b.first > next:
			return fmt.Errorf("session %d: packets %d to %d are missing: %w", session, next, b.first-1, ErrCorrupt)
		case b.first < next || b.count < 1:
			return fmt.Errorf("session %d: block at packet %d overlaps the one before: %w", session, b.first, ErrCorrupt)
		}
		next = b.first + b.count
		if err := fn(b); err != nil {
			return err
		}
	}
	if err := stmt.Err(); err != nil {
		return classify(err)
	}
	if last := first + want - 1; next-1 < last {
		return fmt.Errorf("session %d: packets %d to %d are missing: %w", session, next, last, ErrCorrupt)
	}
	return nil
}

// Count returns how many packets of the session fall in the range,
// ignoring its Plan (a plan narrows the blocks a filter is run over; with
// no filter to run, every packet counts). Blocks
// entirely inside the range are counted from the block index, each checked
// by its blob's length (which SQLite keeps without reading the blob): a
// truncated or extended blob is an error, as reading it is. Only blocks
// that straddle a bound are opened.
func (db *DB) Count(session int64, r Range) (int64, error) {
	var n int64
	var partial []blockRef
	sizeQuery := `SELECT length(data), CASE encoding WHEN 0 THEN bytes + ? * packet_count ELSE data_len END FROM blocks WHERE id = ?`
	if db.version > 0 && db.version < 6 {
		sizeQuery = `SELECT length(data), bytes + ? * packet_count FROM blocks WHERE id = ?`
	}
	size, _, err := db.conn.Prepare(sizeQuery)
	if err != nil {
		return 0, classify(err)
	}
	defer size.Close()
	err = db.walkIndex(session, func(b blockRef) error {
		switch {
		case r.misses(b):
		case r.covers(b):
			if err := checkBlockSize(size, session, b); err != nil {
				return err
			}
			n += b.count
		default:
			partial = append(partial, b)
		}
		return nil
	})
	if err != nil || len(partial) == 0 {
		return n, err
	}
	// Blocks that straddle a bound: count their packets one by one.
	data, err := db.blockData(session)
	if err != nil {
		return 0, err
	}
	defer data.close()
	for _, b := range partial {
		err := data.walk(b, func(rec Record) error {
			if r.holds(rec) {
				n++
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
	}
	return n, nil
}

// checkBlockSize checks a block's blob length against its row: each
// record is a RecordHeaderLen-byte header and its captured bytes, and the
// row's bytes are the sum of the captured lengths, so a raw block's length
// is exact; a compressed block's is its row's data_len, written with it.
// (A blob damaged in place, its length intact, is found only by reading it.)
func checkBlockSize(stmt *sqlite3.Stmt, session int64, b blockRef) error {
	defer stmt.Reset()
	stmt.BindInt64(1, RecordHeaderLen)
	stmt.BindInt64(2, b.id)
	if !stmt.Step() {
		if err := stmt.Err(); err != nil {
			return classify(err)
		}
		return fmt.Errorf("session %d: block of packet %d vanished: %w", session, b.first, ErrCorrupt)
	}
	if got, want := stmt.ColumnInt64(0), stmt.ColumnInt64(1); got != want {
		return fmt.Errorf("session %d: %w: packets %d to %d: block holds %d bytes, its row says %d: %w",
			session, ErrCorrupt, b.first, b.first+b.count-1, got, want, ErrCorruptBlock)
	}
	return nil
}
