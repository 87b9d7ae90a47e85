package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/ncruces/go-sqlite3"

	"github.com/packetrecorderd/packetrecorderd/internal/index"
)

// Writer appends blocks to one session. Blocks are written inside a
// transaction that Commit ends; the session's packet and byte counters are
// updated in the same transaction, so after a crash they match the blocks
// that survived. A Writer is used by one goroutine.
type Writer struct {
	db      *DB
	session int64
	seq     int64
	next    int64 // packet number of the next packet
	inTx    bool
	// seq and next as they were when the transaction began, for Rollback.
	txSeq, txNext int64
	insert        *sqlite3.Stmt
	counts        *sqlite3.Stmt
	comment       *sqlite3.Stmt
	sketch        *sketcher      // the block index (blockindex.go)
	summary       *index.Summary // SetSummary's; nil: none
	compression   Compression
	zenc          blockEncoder // compression's buffers and state (compress.go)

	// Counters of the current transaction, applied to the session on Commit.
	txPackets, txBytes, txWire int64
	// txBlob is the transaction's blob bytes; blobs those committed
	// (StoredBytes).
	txBlob, blobs int64
}

// NewWriter returns a Writer that appends after the session's last block.
func (db *DB) NewWriter(session int64) (*Writer, error) {
	w := &Writer{db: db, session: session, next: 1}
	stmt, _, err := db.conn.Prepare(`SELECT coalesce(max(seq), -1) + 1,
		coalesce(max(first_packet + packet_count), (SELECT first_packet FROM sessions WHERE id = ?1), 1)
		FROM blocks WHERE session_id = ?1`)
	if err != nil {
		return nil, classify(err)
	}
	stmt.BindInt64(1, session)
	if stmt.Step() {
		w.seq, w.next = stmt.ColumnInt64(0), stmt.ColumnInt64(1)
	}
	err = stmt.Err()
	stmt.Close()
	if err != nil {
		return nil, classify(err)
	}
	w.insert, _, err = db.conn.Prepare(`INSERT INTO blocks
		(session_id, seq, first_packet, packet_count, first_ns, last_ns, bytes, link_type, interface_id, data, min_ns, max_ns, encoding, data_len)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return nil, classify(err)
	}
	w.counts, _, err = db.conn.Prepare(`UPDATE sessions SET packets = packets + ?, bytes = bytes + ?, wire_bytes = wire_bytes + ?
		WHERE id = ?`)
	if err != nil {
		w.insert.Close()
		return nil, classify(err)
	}
	w.comment, _, err = db.conn.Prepare(`INSERT INTO comments (session_id, packet, seq, text) VALUES (?, ?, ?, ?)`)
	if err != nil {
		w.insert.Close()
		w.counts.Close()
		return nil, classify(err)
	}
	if w.sketch, err = db.newSketcher(); err != nil {
		w.insert.Close()
		w.counts.Close()
		w.comment.Close()
		return nil, err
	}
	return w, nil
}

// SetCompression sets how the blocks appended from now on are stored
// (the zero Compression: zstd where it pays).
func (w *Writer) SetCompression(c Compression) error {
	if err := c.Validate(); err != nil {
		return err
	}
	w.compression = c
	return nil
}

// Compression is how the Writer stores blocks (SetCompression's), for
// a recorder that prepares blocks ahead (PrepareBlock).
func (w *Writer) Compression() Compression { return w.compression }

// SetSummary has every block appended from now on added to s as well
// (its terms, hashed once for the block's sketch, and its address-port
// pairs when s takes them): a store's segment summary (see
// index.Summary). Blocks rolled back stay in s, which only
// makes it answer "may hold" more often.
func (w *Writer) SetSummary(s *index.Summary) { w.summary = s }

// Next is the number the next appended packet will get.
func (w *Writer) Next() int64 { return w.next }

// AddComments records comments of a packet (pcapng opt_comment), in the
// transaction its block goes in with.
func (w *Writer) AddComments(packet int64, texts []string) error {
	if err := w.begin(); err != nil {
		return err
	}
	for i, t := range texts {
		c := w.comment
		c.BindInt64(1, w.session)
		c.BindInt64(2, packet)
		c.BindInt64(3, int64(i))
		c.BindText(4, t)
		if err := c.Exec(); err != nil {
			return fmt.Errorf("add comment: %w", w.db.classifyWrite(err))
		}
	}
	return nil
}

func (w *Writer) begin() error {
	if w.inTx {
		return nil
	}
	if err := w.db.conn.Exec("BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("begin: %w", w.db.classifyWrite(err))
	}
	w.inTx = true
	w.txSeq, w.txNext = w.seq, w.next
	return nil
}

// Append writes one block, starting a transaction if none is open.
func (w *Writer) Append(b *Block) error {
	if b.Count == 0 {
		return nil
	}
	if err := w.begin(); err != nil {
		return err
	}
	// A block PrepareBlock made ready (on another goroutine) is inserted
	// as it was made; any other is sketched and compressed here.
	var (
		blob     []byte
		encoding int64
		sketch   []byte
		sketchOK bool
		terms    *index.Builder
	)
	if p := b.prep; p.usable(b, w.compression, w.summary != nil && w.summary.PairsOn()) {
		blob, encoding = p.blob(b), p.encoding
		sketch, sketchOK, terms = p.sketch, p.sketchOK, &p.terms
	} else {
		var err error
		if blob, encoding, err = w.zenc.encode(w.compression, b.Data); err != nil {
			return fmt.Errorf("append block: %w", err)
		}
		w.sketch.b.SetPairs(w.summary != nil && w.summary.PairsOn())
		sketchOK = w.sketch.sketch(b.Data, b.LinkType) == nil
		sketch, terms = w.sketch.buf, &w.sketch.b
	}
	s := w.insert
	s.BindInt64(1, w.session)
	s.BindInt64(2, w.seq)
	s.BindInt64(3, w.next)
	s.BindInt64(4, int64(b.Count))
	s.BindInt64(5, b.FirstTS)
	s.BindInt64(6, b.LastTS)
	s.BindInt64(7, int64(len(b.Data)-b.Count*RecordHeaderLen))
	s.BindInt64(8, int64(b.LinkType))
	s.BindInt64(9, int64(b.Interface))
	s.BindBlob(10, blob)
	s.BindInt64(11, b.MinTS)
	s.BindInt64(12, b.MaxTS)
	s.BindInt64(13, encoding)
	s.BindInt64(14, int64(len(blob)))
	if err := s.Exec(); err != nil {
		return fmt.Errorf("append block: %w", w.db.classifyWrite(err))
	}
	// The block's index entry goes in the same transaction: the block is
	// findable through the index as soon as it is visible. A blob that
	// does not parse was built by this process and is stored as it is;
	// it gets no sketch, so every planned walk reads it.
	if sketchOK {
		if err := w.sketch.writeSketch(w.session, w.db.conn.LastInsertRowID(), int64(len(b.Data)-b.Count*RecordHeaderLen), sketch); err != nil {
			return fmt.Errorf("append block index: %w", w.db.classifyWrite(err))
		}
		if w.summary != nil {
			w.summary.AddBlock(terms)
			w.summary.AddBlockPairs(terms) // collected with the terms when the summary takes them
		}
	} else if w.summary != nil {
		w.summary.AddAny()
	}
	w.seq++
	w.next += int64(b.Count)
	w.txPackets += int64(b.Count)
	w.txBytes += int64(len(b.Data) - b.Count*RecordHeaderLen)
	w.txWire += b.WireBytes
	w.txBlob += int64(len(blob))
	return nil
}

// InTx reports whether blocks are waiting for Commit.
func (w *Writer) InTx() bool { return w.inTx }

// Commit makes the appended blocks durable and visible.
func (w *Writer) Commit() error {
	if !w.inTx {
		return nil
	}
	c := w.counts
	c.BindInt64(1, w.txPackets)
	c.BindInt64(2, w.txBytes)
	c.BindInt64(3, w.txWire)
	c.BindInt64(4, w.session)
	if err := c.Exec(); err != nil {
		return fmt.Errorf("update session counters: %w", w.db.classifyWrite(err))
	}
	if err := w.db.conn.Exec("COMMIT"); err != nil {
		return fmt.Errorf("commit: %w", w.db.classifyWrite(err))
	}
	if !w.db.inWAL() {
		// Rollback-journal mode: leave a moment without any lock, so that
		// another connection can switch the database to WAL (see init).
		time.Sleep(2 * time.Millisecond)
	}
	w.inTx = false
	w.txPackets, w.txBytes, w.txWire = 0, 0, 0
	w.blobs += w.txBlob
	w.txBlob = 0
	return nil
}

// StoredBytes is the bytes of the block blobs the Writer has committed:
// what its blocks take compressed (or raw, where compression did not
// pay), before the database file's own overhead.
func (w *Writer) StoredBytes() int64 { return w.blobs }

// Rollback abandons the blocks appended since the last Commit.
func (w *Writer) Rollback() error {
	if !w.inTx {
		return nil
	}
	w.inTx = false
	w.seq, w.next = w.txSeq, w.txNext
	w.txPackets, w.txBytes, w.txWire = 0, 0, 0
	w.txBlob = 0
	if w.db.conn.GetAutocommit() {
		return nil // SQLite already rolled back (as it does on a full disk)
	}
	return classify(w.db.conn.Exec("ROLLBACK"))
}

// Close rolls back anything uncommitted and releases the statements.
func (w *Writer) Close() error {
	err := w.Rollback()
	w.insert.Close()
	w.counts.Close()
	w.comment.Close()
	w.sketch.close()
	return err
}

// Dir is the directory of the database the Writer writes to.
func (w *Writer) Dir() string { return filepath.Dir(w.db.path) }

// SetBusyTimeout sets how long a write waits for a lock another
// connection holds before it fails with an error Busy recognizes.
func (w *Writer) SetBusyTimeout(d time.Duration) error {
	return classify(w.db.conn.BusyTimeout(d))
}

// Busy reports whether err is a write that found the database locked by
// another connection; the same write can succeed later.
func Busy(err error) bool {
	return errors.Is(err, sqlite3.BUSY) || errors.Is(err, sqlite3.LOCKED)
}
