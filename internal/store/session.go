package store

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/ncruces/go-sqlite3"
)

// Session status values.
const (
	StatusRecording   = "recording"
	StatusComplete    = "complete"
	StatusInterrupted = "interrupted"
)

// Session sources. SourceImporting marks an import that is all or
// nothing while it runs: Publish makes it SourceImport when it is whole. A
// process that dies before (kill -9, a crash, power lost) leaves nothing:
// read-only opens do not show the session, and the next read-write open
// deletes it with its packets.
const (
	SourceCapture   = "capture"
	SourceImport    = "import"
	SourceImporting = "importing"
)

// Session describes one capture or import.
type Session struct {
	ID             int64
	UUID           string
	Name           string
	Source         string // "capture" or "import"
	Interface      string
	Filter         string
	LinkType       uint32
	Snaplen        uint32
	Promisc        bool
	BufferSize     int64
	Started        time.Time
	Ended          time.Time // zero while recording
	Packets        int64
	Bytes          int64 // captured bytes stored
	WireBytes      int64 // bytes on the wire
	KernelReceived int64 // packets the kernel's filter accepted
	KernelDropped  int64 // of those, dropped by the kernel (ring full)
	AppDropped     int64 // dropped by packetrecorder itself
	Hostname       string
	PID            int
	Status         string
	Notes          string
	Origin         string // where an imported session came from: "FILE on HOST"
	// FirstPacket is the number of the session's first packet: 1, or
	// where the segment before it stopped in a continuous recording.
	FirstPacket int64
	// Netmask is the IPv4 netmask of a live capture's interface (as
	// 0xffffff00), for "ip broadcast"; 0 when unknown.
	Netmask uint32
}

// Dropped is every packet the filter accepted but the session does not hold.
func (s *Session) Dropped() int64 { return s.KernelDropped + s.AppDropped }

func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// CreateSession inserts s with status recording and fills in its ID, UUID,
// hostname and PID.
func (db *DB) CreateSession(s *Session) error {
	s.UUID = newUUID()
	s.Status = StatusRecording
	if s.Hostname == "" {
		s.Hostname, _ = os.Hostname()
	}
	if s.Source == "" {
		s.Source = "capture"
	}
	s.PID = os.Getpid()
	if s.Started.IsZero() {
		s.Started = time.Now()
	}
	// The session becomes visible with its recording lock already held
	// (see liveBase): no other process can ever see it recording with
	// nobody behind it.
	own := db.conn.GetAutocommit()
	if own {
		if err := db.conn.Exec("BEGIN IMMEDIATE"); err != nil {
			return fmt.Errorf("create session: %w", db.classifyWrite(err))
		}
	}
	err := db.insertSession(s)
	if err == nil {
		s.ID = db.conn.LastInsertRowID()
		// A filesystem without locks (ENOLCK) leaves liveness to the PID.
		if lerr := db.holdLive(s.ID); lerr != nil && !errors.Is(lerr, syscall.ENOLCK) && !errors.Is(lerr, syscall.EOPNOTSUPP) && !errors.Is(lerr, syscall.EINVAL) {
			err = fmt.Errorf("lock the session: %w", lerr)
		}
	}
	if own {
		if err != nil {
			db.conn.Exec("ROLLBACK")
		} else if cerr := db.conn.Exec("COMMIT"); cerr != nil {
			err = db.classifyWrite(cerr)
			db.conn.Exec("ROLLBACK")
		}
	}
	if err != nil {
		db.releaseLive(s.ID)
		s.ID = 0
		return fmt.Errorf("create session: %w", err)
	}
	return nil
}

func (db *DB) insertSession(s *Session) error {
	stmt, _, err := db.conn.Prepare(`INSERT INTO sessions
		(uuid, name, source, interface, filter, link_type, snaplen, promisc, buffer_size, started_ns, hostname, pid, status, notes, origin, first_packet, netmask)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return classify(err)
	}
	defer stmt.Close()
	stmt.BindText(1, s.UUID)
	stmt.BindText(2, s.Name)
	stmt.BindText(3, s.Source)
	stmt.BindText(4, s.Interface)
	stmt.BindText(5, s.Filter)
	stmt.BindInt64(6, int64(s.LinkType))
	stmt.BindInt64(7, int64(s.Snaplen))
	stmt.BindBool(8, s.Promisc)
	stmt.BindInt64(9, s.BufferSize)
	stmt.BindInt64(10, s.Started.UnixNano())
	stmt.BindText(11, s.Hostname)
	stmt.BindInt64(12, int64(s.PID))
	stmt.BindText(13, s.Status)
	stmt.BindText(14, s.Notes)
	stmt.BindText(15, s.Origin)
	if s.FirstPacket < 1 {
		s.FirstPacket = 1
	}
	stmt.BindInt64(16, s.FirstPacket)
	stmt.BindInt64(17, int64(s.Netmask))
	return db.classifyWrite(stmt.Exec())
}

// sessionColumns are the columns scanSessionRow reads; a version 3 file
// (read-only: not migrated) has no netmask, which reads as 0.
func (db *DB) sessionColumns() string {
	if db.version > 0 && db.version < 4 && db.readOnly {
		return strings.Replace(sessionColumnList, ", netmask", ", 0", 1)
	}
	return sessionColumnList
}

const sessionColumnList = `id, uuid, name, source, interface, filter, link_type, snaplen, promisc, buffer_size,
	started_ns, ended_ns, packets, bytes, wire_bytes, kernel_received, kernel_dropped, app_dropped,
	hostname, pid, status, notes, origin, first_packet, netmask`

// scanSession reads a session row. A session still "recording" whose
// process is gone is reported interrupted: a read-write open marks it so
// in the database (recoverInterrupted); a read-only one cannot.
func (db *DB) scanSession(stmt *sqlite3.Stmt) Session {
	s := scanSessionRow(stmt)
	if db.readOnly && s.Status == StatusRecording && db.sessionGone(s.Hostname, s.PID, s.ID) {
		// As recoverInterrupted would mark it.
		s.Status = StatusInterrupted
		s.Ended = s.Started
		if _, last, err := db.TimeSpan(s.ID); err == nil && last != 0 {
			s.Ended = time.Unix(0, last)
		}
	}
	return s
}

// ownSession reports whether this process records the session (an
// import giving up on its own session deletes it).
func ownSession(s Session) bool {
	h, _ := os.Hostname()
	return s.Hostname == h && s.PID == os.Getpid()
}

// sessionGone reports whether the recording process of a session is
// known to be dead: it ran on this host and holds the session's recording
// lock no longer (see liveBase). Where locks cannot be tested, the PID
// decides, which a zombie or a reused PID can fool.
func (db *DB) sessionGone(host string, pid int, id int64) bool {
	if h, _ := os.Hostname(); host != h {
		return false
	}
	if held, known := db.liveHeld(id); known {
		return !held
	}
	return !processAlive(pid)
}

func scanSessionRow(stmt *sqlite3.Stmt) Session {
	s := Session{
		ID:             stmt.ColumnInt64(0),
		UUID:           stmt.ColumnText(1),
		Name:           stmt.ColumnText(2),
		Source:         stmt.ColumnText(3),
		Interface:      stmt.ColumnText(4),
		Filter:         stmt.ColumnText(5),
		LinkType:       uint32(stmt.ColumnInt64(6)),
		Snaplen:        uint32(stmt.ColumnInt64(7)),
		Promisc:        stmt.ColumnBool(8),
		BufferSize:     stmt.ColumnInt64(9),
		Started:        time.Unix(0, stmt.ColumnInt64(10)),
		Packets:        stmt.ColumnInt64(12),
		Bytes:          stmt.ColumnInt64(13),
		WireBytes:      stmt.ColumnInt64(14),
		KernelReceived: stmt.ColumnInt64(15),
		KernelDropped:  stmt.ColumnInt64(16),
		AppDropped:     stmt.ColumnInt64(17),
		Hostname:       stmt.ColumnText(18),
		PID:            stmt.ColumnInt(19),
		Status:         stmt.ColumnText(20),
		Notes:          stmt.ColumnText(21),
		Origin:         stmt.ColumnText(22),
		FirstPacket:    stmt.ColumnInt64(23),
		Netmask:        uint32(stmt.ColumnInt64(24)),
	}
	if stmt.ColumnType(11) != sqlite3.NULL {
		s.Ended = time.Unix(0, stmt.ColumnInt64(11))
	}
	return s
}

// Sessions lists every session, oldest first.
func (db *DB) Sessions() ([]Session, error) {
	stmt, _, err := db.conn.Prepare(`SELECT ` + db.sessionColumns() + ` FROM sessions ORDER BY id`)
	if err != nil {
		return nil, classify(err)
	}
	defer stmt.Close()
	var out []Session
	for stmt.Step() {
		if s := db.scanSession(stmt); !db.abandoned(s) {
			out = append(out, s)
		}
	}
	return out, classify(stmt.Err())
}

// abandoned reports a session a read-only open must not show: an
// all-or-nothing import whose process died (see SourceImporting).
func (db *DB) abandoned(s Session) bool {
	return db.readOnly && s.Source == SourceImporting && s.Status == StatusInterrupted
}

// Publish makes an all-or-nothing import's session (SourceImporting) an
// ordinary one (SourceImport), once everything is in.
func (db *DB) Publish(id int64) error {
	return db.execChanged(`UPDATE sessions SET source = 'import' WHERE id = ?`, id)
}

// Session returns one session, or an error wrapping ErrNoSession.
func (db *DB) Session(id int64) (Session, error) {
	stmt, _, err := db.conn.Prepare(`SELECT ` + db.sessionColumns() + ` FROM sessions WHERE id = ?`)
	if err != nil {
		return Session{}, classify(err)
	}
	defer stmt.Close()
	stmt.BindInt64(1, id)
	if stmt.Step() {
		if s := db.scanSession(stmt); !db.abandoned(s) {
			return s, nil
		}
		return Session{}, fmt.Errorf("session %d: %w", id, ErrNoSession)
	}
	if err := stmt.Err(); err != nil {
		return Session{}, classify(err)
	}
	return Session{}, fmt.Errorf("session %d: %w", id, ErrNoSession)
}

// Finish records the end of a session: its status, end time and the
// kernel's counters. The packet counters were kept current by the Writer.
func (db *DB) Finish(id int64, status string, ended time.Time, kernelReceived, kernelDropped, appDropped int64) error {
	err := db.execChanged(`UPDATE sessions SET status = ?, ended_ns = ?, kernel_received = ?, kernel_dropped = ?, app_dropped = ?
		WHERE id = ?`, status, ended.UnixNano(), kernelReceived, kernelDropped, appDropped, id)
	if err == nil && status != StatusRecording {
		db.releaseLive(id)
	}
	return err
}

// Rename sets a session's name.
func (db *DB) Rename(id int64, name string) error {
	return db.execChanged(`UPDATE sessions SET name = ? WHERE id = ?`, name, id)
}

// SetNotes sets a session's notes.
func (db *DB) SetNotes(id int64, notes string) error {
	return db.execChanged(`UPDATE sessions SET notes = ? WHERE id = ?`, notes, id)
}

// ErrRecording reports a session whose capture or import is still
// running.
var ErrRecording = errors.New("still recording")

// Delete removes sessions and all their packets: all of them, or none
// when one does not exist or is still being recorded (by a live process;
// one whose process died is interrupted, and may go).
//
// It works on a full disk. The sessions' rows go in one small transaction
// (the blocks are left behind for the moment, as orphans no reader can
// reach); then their blocks are deleted a few at a time, each small
// transaction needing little journal space. Should that be cut short (a
// crash, a full disk), the next read-write open finishes it. Where even
// the small transactions find no room, the reserve file beside the
// database (see keepReserve) is given up to make it.
func (db *DB) Delete(ids ...int64) error {
	err := db.deleteRows(ids)
	if errors.Is(err, ErrDiskFull) && db.dropReserve() {
		err = db.deleteRows(ids)
	}
	if err != nil {
		return err
	}
	if err := db.sweepOrphans(); err != nil {
		if errors.Is(err, ErrDiskFull) && db.dropReserve() {
			err = db.sweepOrphans()
		}
		if err != nil {
			return fmt.Errorf("sessions deleted, their packets only in part (the next open finishes it): %w", err)
		}
	}
	db.keepReserve()
	return nil
}

func (db *DB) deleteRows(ids []int64) (err error) {
	// With foreign keys on, deleting a session would delete its blocks
	// in the same transaction.
	if err := db.conn.Exec("PRAGMA foreign_keys=OFF"); err != nil {
		return classify(err)
	}
	defer db.conn.Exec("PRAGMA foreign_keys=ON")
	tx, err := db.conn.BeginImmediate()
	if err != nil {
		return db.classifyWrite(err)
	}
	defer func() {
		tx.End(&err)
		err = db.classifyWrite(err)
	}()
	for _, id := range ids {
		s, err := db.Session(id)
		if err != nil {
			return err
		}
		if s.Status == StatusRecording && !db.sessionGone(s.Hostname, s.PID, s.ID) && !ownSession(s) {
			what := "a capture"
			if s.Source == SourceImport || s.Source == SourceImporting {
				what = "an import"
			}
			return fmt.Errorf("session %d: %w (%s, process %d on %s): stop it first", id, ErrRecording, what, s.PID, s.Hostname)
		}
	}
	for _, id := range ids {
		for _, q := range []string{`DELETE FROM interfaces WHERE session_id = ?`, `DELETE FROM comments WHERE session_id = ?`, `DELETE FROM sessions WHERE id = ?`} {
			if err := db.exec(q, id); err != nil {
				return err
			}
		}
	}
	return nil
}

// sweepOrphans deletes blocks whose session is gone, a few per
// transaction.
func (db *DB) sweepOrphans() error {
	stmt, _, err := db.conn.Prepare(`SELECT DISTINCT session_id FROM blocks WHERE session_id NOT IN (SELECT id FROM sessions)`)
	if err != nil {
		return classify(err)
	}
	var orphans []int64
	for stmt.Step() {
		orphans = append(orphans, stmt.ColumnInt64(0))
	}
	err = stmt.Err()
	stmt.Close()
	if err != nil {
		return classify(err)
	}
	for _, id := range orphans {
		// The block index first: its rows name blocks, and a sweep cut
		// short must find the session again through its blocks.
		for {
			if err := db.exec(`DELETE FROM block_sketches WHERE session_id = ?1 AND block_id IN (SELECT block_id FROM block_sketches WHERE session_id = ?1 LIMIT 512)`, id); err != nil {
				return db.classifyWrite(err)
			}
			if db.conn.Changes() == 0 {
				break
			}
		}
		for {
			// Eight rows of 256 KiB blobs touch a handful of pages: the
			// freed overflow pages are not journaled.
			if err := db.exec(`DELETE FROM blocks WHERE id IN (SELECT id FROM blocks WHERE session_id = ? LIMIT 8)`, id); err != nil {
				return db.classifyWrite(err)
			}
			if db.conn.Changes() == 0 {
				break
			}
			if db.conn.GetAutocommit() {
				db.Checkpoint(false) // lets the WAL restart from its beginning
			}
		}
	}
	return nil
}

func (db *DB) exec(sql string, args ...any) error {
	stmt, _, err := db.conn.Prepare(sql)
	if err != nil {
		return classify(err)
	}
	defer stmt.Close()
	for i, a := range args {
		switch v := a.(type) {
		case int64:
			stmt.BindInt64(i+1, v)
		case string:
			stmt.BindText(i+1, v)
		default:
			panic(fmt.Sprintf("store: unsupported argument type %T", a))
		}
	}
	return db.classifyWrite(stmt.Exec())
}

// execChanged runs an UPDATE or DELETE whose last argument is a session id
// and reports ErrNoSession when no row changed.
func (db *DB) execChanged(sql string, args ...any) error {
	if err := db.exec(sql, args...); err != nil {
		return err
	}
	if db.conn.Changes() == 0 {
		return fmt.Errorf("session %d: %w", args[len(args)-1], ErrNoSession)
	}
	return nil
}

// recoverInterrupted marks as interrupted the sessions still "recording"
// whose process on this host is gone (killed, crashed, power lost). Their
// counters already match the stored blocks: the Writer updates both in one
// transaction. An all-or-nothing import that died is deleted instead
// (see SourceImporting).
func (db *DB) recoverInterrupted() error {
	stmt, _, err := db.conn.Prepare(`SELECT id, hostname, pid, source FROM sessions WHERE status = 'recording'`)
	if err != nil {
		return err
	}
	var dead, abandoned []int64
	for stmt.Step() {
		if db.sessionGone(stmt.ColumnText(1), stmt.ColumnInt(2), stmt.ColumnInt64(0)) {
			if stmt.ColumnText(3) == SourceImporting {
				abandoned = append(abandoned, stmt.ColumnInt64(0))
			} else {
				dead = append(dead, stmt.ColumnInt64(0))
			}
		}
	}
	err = stmt.Err()
	stmt.Close()
	if err != nil {
		return err
	}
	for _, id := range dead {
		err := db.exec(`UPDATE sessions SET status = 'interrupted',
			ended_ns = coalesce((SELECT max(max_ns) FROM blocks WHERE session_id = sessions.id), started_ns)
			WHERE id = ? AND status = 'recording'`, id)
		if err != nil {
			return err
		}
	}
	if len(abandoned) > 0 {
		// The blocks go with the next sweep (init's, right after this).
		return db.deleteRows(abandoned)
	}
	return nil
}
