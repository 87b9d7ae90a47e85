package store

import (
	"context"
	"errors"

	"github.com/packetrecorderd/packetrecorderd/internal/index"
)

// Summarize adds the terms of every block of the session to s (and the
// packets' address-port pairs, if s takes them), reading
// each block (a store segment closed before segment summaries existed,
// or whose summary was lost with its catalog: packetrecorder reindex). A
// block that cannot be read makes s match every plan: the walk that
// opens the segment then reports it.
func (db *DB) Summarize(session int64, s *index.Summary) error {
	return db.SummarizeContext(context.Background(), session, s)
}

// SummarizeContext is Summarize, stopped between two blocks when ctx
// ends (its error; s is then partial).
func (db *DB) SummarizeContext(ctx context.Context, session int64, s *index.Summary) error {
	stmt, _, err := db.conn.Prepare(`SELECT link_type, data, encoding, bytes + 16 * packet_count FROM blocks WHERE session_id = ?`)
	if err != nil {
		return classify(err)
	}
	defer stmt.Close()
	stmt.BindInt64(1, session)
	var b index.Builder
	var buf []byte
	for stmt.Step() {
		if err := ctx.Err(); err != nil {
			return err
		}
		lt := uint32(stmt.ColumnInt64(0))
		raw, err := decodeBlock(stmt.ColumnInt64(2), stmt.ColumnRawBlob(1), stmt.ColumnInt64(3), buf)
		if err == nil {
			if stmt.ColumnInt64(2) != EncodingRaw {
				buf = raw[:0]
			}
			b.Reset()
			err = WalkBlock(raw, 1, lt, 0, func(r Record) error {
				b.AddPacket(lt, r.Data)
				s.AddPacketPairs(lt, r.Data)
				return nil
			})
		}
		switch {
		case err == nil:
			s.AddBlock(&b)
		case errors.Is(err, ErrCorruptBlock):
			s.AddAny()
		default:
			return err
		}
	}
	return classify(stmt.Err())
}
