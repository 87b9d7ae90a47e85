package store

import (
	"errors"
	"fmt"
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
