package store

import (
	"errors"
	"fmt"
	"math"
)

// Range selects packets of a session. The zero value selects all of them.
type Range struct {
	From  int64 // first packet number (1-based); 0 means 1
	Since int64 // earliest timestamp in ns; 0 means no bound
	Until int64 // latest timestamp in ns (inclusive); 0 means no bound
}

// Packets calls fn for each packet of the session in packet-number order.
// The Record's Data is valid only during the call. Returning ErrStop from fn
// ends the walk without error. Blocks outside the range are skipped using
// the block index, without reading their packets.
func (db *DB) Packets(session int64, r Range, fn func(Record) error) error {
	q := `SELECT first_packet, link_type, interface_id, data FROM blocks WHERE session_id = ?1`
	if r.From > 1 {
		q += ` AND first_packet + packet_count > ?2`
	}
	if r.Since != 0 {
		q += ` AND last_ns >= ?3`
	}
	if r.Until != 0 {
		q += ` AND first_ns <= ?4`
	}
	q += ` ORDER BY first_packet`
	stmt, _, err := db.conn.Prepare(q)
	if err != nil {
		return classify(err)
	}
	defer stmt.Close()
	stmt.BindInt64(1, session)
	if r.From > 1 {
		stmt.BindInt64(2, r.From)
	}
	if r.Since != 0 {
		stmt.BindInt64(3, r.Since)
	}
	if r.Until != 0 {
		stmt.BindInt64(4, r.Until)
	}
	for stmt.Step() {
		first := stmt.ColumnInt64(0)
		lt := uint32(stmt.ColumnInt64(1))
		iface := stmt.ColumnInt(2)
		blob := stmt.ColumnRawBlob(3)
		err := WalkBlock(blob, first, lt, iface, func(rec Record) error {
			if rec.Number < r.From || (r.Since != 0 && rec.Timestamp < r.Since) || (r.Until != 0 && rec.Timestamp > r.Until) {
				return nil
			}
			return fn(rec)
		})
		if errors.Is(err, ErrStop) {
			return nil
		}
		if errors.Is(err, ErrCorruptBlock) {
			return fmt.Errorf("session %d: %w: %w", session, ErrCorrupt, err)
		}
		if err != nil {
			return err
		}
	}
	return classify(stmt.Err())
}

// ErrStop, returned by a Packets callback, ends the walk early.
var ErrStop = errors.New("stop")

// Count returns how many packets of the session fall in the range. Blocks
// entirely inside the range are counted from the block index; only blocks
// that straddle a bound are opened.
func (db *DB) Count(session int64, r Range) (int64, error) {
	if r.From > 1 {
		var n int64
		err := db.Packets(session, r, func(Record) error { n++; return nil })
		return n, err
	}
	since, until := r.Since, r.Until
	if since == 0 {
		since = math.MinInt64
	}
	if until == 0 {
		until = math.MaxInt64
	}
	stmt, _, err := db.conn.Prepare(`SELECT first_packet, packet_count, first_ns, last_ns FROM blocks
		WHERE session_id = ? AND first_ns <= ? AND last_ns >= ?`)
	if err != nil {
		return 0, classify(err)
	}
	defer stmt.Close()
	stmt.BindInt64(1, session)
	stmt.BindInt64(2, until)
	stmt.BindInt64(3, since)
	var n int64
	var partial []int64
	for stmt.Step() {
		first, count, lo, hi := stmt.ColumnInt64(0), stmt.ColumnInt64(1), stmt.ColumnInt64(2), stmt.ColumnInt64(3)
		if lo >= since && hi <= until {
			n += count
		} else {
			partial = append(partial, first)
		}
	}
	if err := stmt.Err(); err != nil {
		return 0, classify(err)
	}
	for _, first := range partial {
		err := db.walkBlockAt(session, first, func(rec Record) error {
			if rec.Timestamp >= since && rec.Timestamp <= until {
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

// walkBlockAt walks the one block that starts at packet number first.
func (db *DB) walkBlockAt(session, first int64, fn func(Record) error) error {
	stmt, _, err := db.conn.Prepare(`SELECT link_type, interface_id, data FROM blocks WHERE session_id = ? AND first_packet = ?`)
	if err != nil {
		return classify(err)
	}
	defer stmt.Close()
	stmt.BindInt64(1, session)
	stmt.BindInt64(2, first)
	if stmt.Step() {
		err := WalkBlock(stmt.ColumnRawBlob(2), first, uint32(stmt.ColumnInt64(0)), stmt.ColumnInt(1), fn)
		if errors.Is(err, ErrCorruptBlock) {
			return fmt.Errorf("session %d: %w: %w", session, ErrCorrupt, err)
		}
		return err
	}
	return classify(stmt.Err())
}
