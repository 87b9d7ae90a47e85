// Package store keeps capture sessions and their packets in a SQLite database.
//
// Data flows in as Blocks (runs of consecutive packets, see block.go) that a
// Writer appends inside short transactions, and out through Packets, which
// walks a session's blocks in packet-number order. One row of the sessions
// table describes each capture or import; one row of the blocks table holds
// up to a few hundred KiB of packets. The schema is in docs/DESIGN.md.
//
// Durability rule: a packet is visible to readers, and survives a crash, once
// the transaction that wrote its block has committed. The capture path
// commits at least every 100 ms.
package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ncruces/go-sqlite3"
)

// SchemaVersion is the newest schema this code writes, kept in
// PRAGMA user_version. Older databases are migrated forward on open.
const SchemaVersion = 6

// applicationID marks a database as ours (PRAGMA application_id), "PRDB".
const applicationID = 0x50524442

// Errors callers can check with errors.Is.
var (
	ErrNotFound     = errors.New("no such database")
	ErrNotOurs      = errors.New("not a packetrecorder database")
	ErrTooNew       = errors.New("database schema is newer than this packetrecorder")
	ErrNoSession    = errors.New("no such session")
	ErrDiskFull     = errors.New("disk full")
	ErrCorrupt      = errors.New("database is damaged")
	ErrSessionEmpty = errors.New("session has no packets")
	ErrReadOnlyOld  = errors.New("database is read-only and of an older schema")
	// ErrHotJournal reports a rollback journal left by a writer that died
	// in a transaction, which this process may not roll back.
	ErrHotJournal = errors.New("a writer died in a transaction and left its journal")
)

// DB is an open packet database. It is not safe for concurrent use; open one
// DB per goroutine that needs one (SQLite in WAL mode lets them share the
// file).
type DB struct {
	conn      *sqlite3.Conn
	path      string
	readOnly  bool
	noReserve bool
	reserve   *os.File // see ReserveSpace
	// host and prefix are set for a database attached to a Host's
	// connection: prefix ("seg.") names its schema in PRAGMAs and DDL.
	host   *Host
	prefix string
	// version is the schema version the file had when opened (a
	// read-write open migrates it to SchemaVersion).
	version int64
	// live holds the recording locks of the sessions this DB records;
	// probe tests other processes' (see liveBase).
	live, probe *os.File
	// release frees what a read through a hot journal holds (see
	// openThroughJournal), once conn is closed.
	release func()
}

// Options control Open. The zero value opens an existing database for
// reading and writing.
type Options struct {
	// Create makes the database (mode 0600) when it does not exist.
	Create bool
	// NoReserve keeps no reserve file beside the database (see Delete):
	// for databases deleted whole, such as a store's segments.
	NoReserve bool
	// ReadOnly opens the database for reading only: read access to the
	// file is enough, and a file on a read-only mount (evidence media)
	// can be read. Nothing is written: no migration, no journal mode
	// switch, no marking of interrupted sessions (Session and Sessions
	// report them as interrupted all the same).
	ReadOnly bool
}

// maxMemory raises the SQLite connection's memory cap above its 256 MB
// default so large blocks and caches never fail with "out of memory". The
// cap is reserved as address space when a connection opens, so under an
// address-space limit (ulimit -v) it shrinks to fit (see memoryCap).
const maxMemory = 1 << 30

// Open opens the database at path, creating it if opts.Create is set,
// checks that it is ours, and migrates its schema forward.
func Open(path string, opts Options) (*DB, error) {
	if err := prepareFile(path, opts); err != nil {
		return nil, err
	}
	conn, release, err := openConn(path, opts.ReadOnly)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	db := &DB{conn: conn, path: path, readOnly: opts.ReadOnly, noReserve: opts.NoReserve, release: release}
	if err := db.init(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open database %s: %w", path, classify(err))
	}
	return db, nil
}

// ErrNoMemory reports that SQLite could not reserve its memory.
var ErrNoMemory = errors.New("not enough memory for the database engine")

// openConn opens a SQLite connection, read-only or read-write. A read-only
// open that SQLite refuses (a WAL database on a read-only mount, with no
// -shm file to share) is retried as immutable, which is right where
// nobody can be writing.
//
// release, when not nil, is to be called once the connection is closed
// (see openThroughJournal).
func openConn(path string, readOnly bool) (conn *sqlite3.Conn, release func(), err error) {
	// SQLite's memory is reserved as address space when a connection
	// opens, and the driver panics when the reservation fails: under an
	// address-space limit (ulimit -v), try smaller reservations.
	for limit := memoryCap(); ; limit /= 2 {
		conn, reserved, err := tryOpenConn(path, readOnly, limit, &release)
		if reserved {
			return conn, release, err
		}
		if limit/2 < minMemory {
			return nil, nil, fmt.Errorf("%w (%v): raise ulimit -v", ErrNoMemory, err)
		}
	}
}

// minMemory is the least memory a connection is opened with.
const minMemory = 32 << 20

func tryOpenConn(path string, readOnly bool, limit int64, release *func()) (conn *sqlite3.Conn, reserved bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			conn, reserved, err = nil, false, fmt.Errorf("%v", r)
		}
	}()
	ctx := sqlite3.WithMaxMemory(context.Background(), limit)
	if !readOnly {
		conn, err = sqlite3.OpenContext(ctx, path)
		return conn, true, classify(err)
	}
	uri := (&url.URL{Scheme: "file", OmitHost: true, Path: path, RawQuery: "mode=ro"}).String()
	conn, err = sqlite3.OpenContext(ctx, uri)
	if err == nil {
		// SQLite opens lazily: make it read the schema now, so that a
		// refusal surfaces here, waiting out a writer's commit.
		conn.BusyTimeout(10 * time.Second)
		err = conn.Exec("SELECT count(*) FROM sqlite_schema")
		if err != nil {
			conn.Close()
		}
	}
	if errors.Is(err, sqlite3.READONLY_ROLLBACK) || (errors.Is(err, sqlite3.CANTOPEN) || errors.Is(err, sqlite3.READONLY)) && hotJournal(path) {
		// A hot journal: a writer died in a transaction, and the file
		// must be rolled back before anyone reads it (reading it as it is,
		// immutable, would read the dead writer's half-written pages).
		// Roll it back where this process may write, as any writer's
		// open would; else read through it.
		if writable(path) && writable(filepath.Dir(path)) {
			if _, rerr := RollBackJournal(path); rerr != nil {
				return nil, true, fmt.Errorf("%w: roll it back: %w", ErrHotJournal, rerr)
			}
			return tryOpenConn(path, readOnly, limit, release)
		}
		conn, *release, err = openThroughJournal(ctx, path)
		if err != nil {
			return nil, true, fmt.Errorf("%w (%s-journal): read through it: %w; open it once with write access (for example packetrecorder sessions -d %s as its owner) to roll it back", ErrHotJournal, filepath.Base(path), err, path)
		}
		return conn, true, nil
	}
	if err != nil && !writable(path) && (errors.Is(err, sqlite3.CANTOPEN) || errors.Is(err, sqlite3.READONLY)) {
		uri = (&url.URL{Scheme: "file", OmitHost: true, Path: path, RawQuery: "mode=ro&immutable=1"}).String()
		conn, err = sqlite3.OpenContext(ctx, uri)
	}
	return conn, true, classify(err)
}

// hotJournal reports whether a journal beside the database may be hot:
// it exists and begins with the magic a live transaction's journal has.
// SQLite itself decides (it checks that no writer holds the database);
// this only keeps a reader from falling back to an immutable open over a
// journal it could not read.
func hotJournal(path string) bool {
	f, err := os.Open(path + "-journal")
	if errors.Is(err, os.ErrNotExist) {
		return false
	}
	if err != nil {
		return true // unreadable: assume the worst
	}
	defer f.Close()
	b := make([]byte, len(journalMagic))
	n, _ := f.Read(b)
	return n == len(b) && string(b) == string(journalMagic)
}

// RollBackJournal rolls back the hot journal a writer that died in a
// transaction left beside the database at path, if there is one (SQLite
// rolls back on the first read of a read-write connection; a journal of a
// live writer is not hot and stays). It reports whether a journal is still
// there after.
func RollBackJournal(path string) (left bool, err error) {
	journal := path + "-journal"
	if fi, err := os.Stat(journal); err != nil || fi.Size() == 0 {
		return false, nil
	}
	conn, err := sqlite3.Open(path)
	if err != nil {
		return true, classify(err)
	}
	conn.BusyTimeout(10 * time.Second)
	err = conn.Exec("SELECT count(*) FROM sqlite_schema")
	if cerr := conn.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return true, classify(err)
	}
	fi, serr := os.Stat(journal)
	return serr == nil && fi.Size() > 0, nil
}

// tooManyFiles explains an I/O error that is really the process running
// out of file descriptors (ulimit -n): SQLite reports those as a generic
// I/O error or "unable to open".
func tooManyFiles(err error) error {
	if nearFileLimit() {
		return fmt.Errorf("too many open files, raise ulimit -n (%w)", err)
	}
	return err
}

// Path is the file the database was opened from.
func (db *DB) Path() string { return db.path }

// Close closes the database.
func (db *DB) Close() error {
	db.ReleaseReserve()
	for _, f := range []*os.File{db.live, db.probe} {
		if f != nil {
			f.Close()
		}
	}
	db.live, db.probe = nil, nil
	if db.host != nil {
		return db.host.detach(db)
	}
	err := db.conn.Close()
	if db.release != nil {
		db.release()
		db.release = nil
	}
	return err
}

// pragma is the PRAGMA statement for name (and its argument) on this
// database's own schema.
func (db *DB) pragma(name string) string { return "PRAGMA " + db.prefix + name }

// classify maps SQLite errors onto this package's sentinels, keeping the
// original reachable for errors.Is.
func classify(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrDiskFull):
		return err
	case errors.Is(err, sqlite3.NOTADB):
		return fmt.Errorf("%w (%w)", ErrNotOurs, err)
	case errors.Is(err, sqlite3.CORRUPT):
		return fmt.Errorf("%w (%w)", ErrCorrupt, err)
	case errors.Is(err, sqlite3.FULL):
		return fmt.Errorf("%w (%w)", ErrDiskFull, err)
	case errors.Is(err, sqlite3.IOERR) || errors.Is(err, sqlite3.CANTOPEN):
		return tooManyFiles(err)
	}
	return err
}

// classifyWrite is classify for errors of writes to this database: an I/O
// error on a filesystem that has run out of space is reported as
// ErrDiskFull.
func (db *DB) classifyWrite(err error) error {
	err = classify(err)
	if err != nil && errors.Is(err, sqlite3.IOERR) && lowOnSpace(db.path) {
		return fmt.Errorf("%w (%w)", ErrDiskFull, err)
	}
	return err
}

func (db *DB) pragmaInt(name string) (int64, error) {
	stmt, _, err := db.conn.Prepare(db.pragma(name))
	if err != nil {
		return 0, err
	}
	defer stmt.Close()
	var v int64
	if stmt.Step() {
		v = stmt.ColumnInt64(0)
	}
	return v, stmt.Err()
}

func (db *DB) init() error {
	if err := db.conn.BusyTimeout(10 * time.Second); err != nil {
		return err
	}
	version, err := db.pragmaInt("user_version")
	if err != nil {
		return err
	}
	appID, err := db.pragmaInt("application_id")
	if err != nil {
		return err
	}
	if version == 0 && appID == 0 {
		var tables int64
		stmt, _, err := db.conn.Prepare("SELECT count(*) FROM " + db.prefix + "sqlite_schema")
		if err != nil {
			return err
		}
		if stmt.Step() {
			tables = stmt.ColumnInt64(0)
		}
		err = stmt.Err()
		stmt.Close()
		if err != nil {
			return err
		}
		if tables != 0 {
			return ErrNotOurs
		}
		if db.readOnly {
			return fmt.Errorf("%w (an empty file)", ErrNotOurs)
		}
		// A new database: large pages suit large blobs; set before the first table.
		if err := db.conn.Exec(db.pragma("page_size=65536")); err != nil {
			return err
		}
	} else if appID != applicationID {
		return ErrNotOurs
	}
	if version > SchemaVersion {
		return fmt.Errorf("%w (version %d, this build knows up to %d)", ErrTooNew, version, SchemaVersion)
	}
	db.version = version
	if db.readOnly {
		// Schema 4 only added sessions.netmask, which reads as 0 (unknown)
		// from a version 3 file, and 5 the block index, without which
		// every block is read, and 6 the block encoding, which is raw for
		// every block of an older file: evidence on read-only media stays
		// readable.
		if version < 3 {
			return fmt.Errorf("%w: schema version %d, this build reads %d: open it once with write access to upgrade it", ErrReadOnlyOld, version, SchemaVersion)
		}
		return db.conn.BusyTimeout(10 * time.Second)
	}
	// Switching to WAL needs a moment with no writer. A bulk writer (a
	// lone capture or an import in rollback-journal mode) holds its write
	// lock almost all the time, and SQLite refuses the switch at once
	// rather than wait (waiting could deadlock), so retry for up to a
	// second: writers pause briefly after each commit (see Writer.Commit).
	// If it never succeeds, read in the current mode; the busy handler
	// waits out the writer's commits.
	for deadline := time.Now().Add(time.Second); ; {
		err := db.conn.Exec(db.pragma("journal_mode=WAL"))
		if err == nil {
			break
		}
		if !errors.Is(err, sqlite3.BUSY) {
			return err
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err := db.conn.Exec(db.pragma("synchronous=NORMAL") + "; PRAGMA foreign_keys=ON"); err != nil {
		return err
	}
	if version < SchemaVersion {
		if err := db.migrate(version); err != nil {
			return fmt.Errorf("migrate schema from version %d: %w", version, err)
		}
		db.version = SchemaVersion
	}
	// Best effort: on a read-only file or a full disk the sessions stay
	// "recording" until a later open can write, and a cut-short delete
	// waits for the next open to finish it.
	db.recoverInterrupted()
	db.sweepOrphans()
	db.keepReserve()
	return nil
}

// migrations[i] moves the schema from version i to i+1.
var migrations = []string{
	`CREATE TABLE sessions (
		id              INTEGER PRIMARY KEY,
		uuid            TEXT    NOT NULL UNIQUE,
		name            TEXT    NOT NULL DEFAULT '',
		source          TEXT    NOT NULL DEFAULT 'capture',
		interface       TEXT    NOT NULL DEFAULT '',
		filter          TEXT    NOT NULL DEFAULT '',
		link_type       INTEGER NOT NULL,
		snaplen         INTEGER NOT NULL,
		promisc         INTEGER NOT NULL DEFAULT 0,
		buffer_size     INTEGER NOT NULL DEFAULT 0,
		started_ns      INTEGER NOT NULL,
		ended_ns        INTEGER,
		packets         INTEGER NOT NULL DEFAULT 0,
		bytes           INTEGER NOT NULL DEFAULT 0,
		wire_bytes      INTEGER NOT NULL DEFAULT 0,
		kernel_received INTEGER NOT NULL DEFAULT 0,
		kernel_dropped  INTEGER NOT NULL DEFAULT 0,
		app_dropped     INTEGER NOT NULL DEFAULT 0,
		hostname        TEXT    NOT NULL DEFAULT '',
		pid             INTEGER NOT NULL DEFAULT 0,
		status          TEXT    NOT NULL CHECK (status IN ('recording', 'complete', 'interrupted')),
		notes           TEXT    NOT NULL DEFAULT ''
	);
	CREATE TABLE blocks (
		id           INTEGER PRIMARY KEY,
		session_id   INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
		seq          INTEGER NOT NULL,
		first_packet INTEGER NOT NULL,
		packet_count INTEGER NOT NULL,
		first_ns     INTEGER NOT NULL,
		last_ns      INTEGER NOT NULL,
		bytes        INTEGER NOT NULL,
		link_type    INTEGER NOT NULL,
		interface_id INTEGER NOT NULL DEFAULT 0,
		data         BLOB    NOT NULL
	);
	CREATE UNIQUE INDEX blocks_by_packet ON blocks(session_id, first_packet);
	CREATE INDEX blocks_by_time ON blocks(session_id, first_ns, last_ns);`,
	// 1 -> 2: per-session capture interfaces, for imports of pcapng files
	// with several interfaces and link types.
	`CREATE TABLE interfaces (
		session_id   INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
		interface_id INTEGER NOT NULL,
		name         TEXT    NOT NULL DEFAULT '',
		description  TEXT    NOT NULL DEFAULT '',
		filter       TEXT    NOT NULL DEFAULT '',
		link_type    INTEGER NOT NULL,
		snaplen      INTEGER NOT NULL,
		PRIMARY KEY (session_id, interface_id)
	);`,
	// 2 -> 3: blocks carry the minimum and maximum timestamp of their
	// packets (times need not be in order: merged files, clock steps), and
	// one covering index answers every selection by packet number or time
	// without reading a blob; packet comments (pcapng opt_comment); where
	// an imported session came from; the number of a session's first
	// packet (a segment of a continuous recording goes on numbering where
	// the one before stopped). min_ns and max_ns of existing blocks
	// are filled in by fillMinMax.
	`ALTER TABLE blocks ADD COLUMN min_ns INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE blocks ADD COLUMN max_ns INTEGER NOT NULL DEFAULT 0;
	UPDATE blocks SET min_ns = first_ns, max_ns = last_ns;
	DROP INDEX blocks_by_time;
	CREATE INDEX blocks_span ON blocks(session_id, first_packet, packet_count, min_ns, max_ns, link_type, interface_id);
	ALTER TABLE sessions ADD COLUMN origin TEXT NOT NULL DEFAULT '';
	ALTER TABLE sessions ADD COLUMN first_packet INTEGER NOT NULL DEFAULT 1;
	CREATE TABLE comments (
		session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
		packet     INTEGER NOT NULL,
		seq        INTEGER NOT NULL,
		text       TEXT    NOT NULL,
		PRIMARY KEY (session_id, packet, seq)
	) WITHOUT ROWID;`,
	// 3 -> 4: the IPv4 netmask of a live capture's interface, so that
	// "ip broadcast" selects stored packets as it did live (0: unknown,
	// tcpdump's value for files).
	`ALTER TABLE sessions ADD COLUMN netmask INTEGER NOT NULL DEFAULT 0;`,
	// 4 -> 5: the block index (see blockindex.go), filled by fillSketches.
	migration5,
	// 5 -> 6: per-block encoding (compress.go).
	migration6,
}

func (db *DB) migrate(from int64) (err error) {
	tx, err := db.conn.BeginImmediate()
	if err != nil {
		return err
	}
	defer tx.End(&err)
	// Re-read under the write lock: another process may have migrated first.
	version, err := db.pragmaInt("user_version")
	if err != nil {
		return err
	}
	for v := version; v < SchemaVersion; v++ {
		if err := db.conn.Exec(qualify(migrations[v], db.prefix)); err != nil {
			return err
		}
		if v == 2 {
			if err := db.fillMinMax(); err != nil {
				return err
			}
		}
		if v == 4 {
			if err := db.fillSketchesIfSmall(); err != nil {
				return fmt.Errorf("build the block index: %w", err)
			}
		}
	}
	return db.conn.Exec(db.pragma(fmt.Sprintf("application_id=%d", applicationID)) + "; " + db.pragma(fmt.Sprintf("user_version=%d", SchemaVersion)))
}

// fillMinMax computes min_ns and max_ns of the blocks written before
// schema version 3, whose first and last timestamps need not be their
// extremes. Only blocks whose packets are out of order change.
func (db *DB) fillMinMax() error {
	stmt, _, err := db.conn.Prepare(`SELECT id, first_packet, data FROM blocks`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	update, _, err := db.conn.Prepare(`UPDATE blocks SET min_ns = ?, max_ns = ? WHERE id = ?`)
	if err != nil {
		return err
	}
	defer update.Close()
	type span struct{ id, lo, hi int64 }
	var changed []span
	for stmt.Step() {
		id, first := stmt.ColumnInt64(0), stmt.ColumnInt64(1)
		lo, hi, n := int64(0), int64(0), 0
		err := WalkBlock(stmt.ColumnRawBlob(2), first, 0, 0, func(r Record) error {
			if n == 0 || r.Timestamp < lo {
				lo = r.Timestamp
			}
			if n == 0 || r.Timestamp > hi {
				hi = r.Timestamp
			}
			n++
			return nil
		})
		if err != nil {
			return fmt.Errorf("block %d: %w", id, err)
		}
		if n > 0 {
			changed = append(changed, span{id, lo, hi})
		}
	}
	if err := stmt.Err(); err != nil {
		return err
	}
	for _, c := range changed {
		update.BindInt64(1, c.lo)
		update.BindInt64(2, c.hi)
		update.BindInt64(3, c.id)
		if err := update.Exec(); err != nil {
			return err
		}
	}
	return nil
}

// IntegrityCheck runs SQLite's integrity_check and returns its first
// complaint, or nil when the database is sound.
func (db *DB) IntegrityCheck() error {
	stmt, _, err := db.conn.Prepare(db.pragma("integrity_check"))
	if err != nil {
		return err
	}
	defer stmt.Close()
	var msgs []string
	for stmt.Step() {
		if m := stmt.ColumnText(0); m != "ok" {
			msgs = append(msgs, m)
		}
	}
	if err := stmt.Err(); err != nil {
		return classify(err)
	}
	if len(msgs) > 0 {
		return fmt.Errorf("%w: %s", ErrCorrupt, strings.Join(msgs, "; "))
	}
	return nil
}

// ReserveFile is the file beside a database that keeps disk space for
// deleting sessions on a full disk (see Delete).
func ReserveFile(dbPath string) string { return dbPath + "-reserve" }

// keepReserve makes sure the reserve file exists, best effort: on a full
// disk it stays missing until there is room again.
func (db *DB) keepReserve() {
	if db.noReserve {
		return
	}
	path := ReserveFile(db.path)
	if fi, err := os.Stat(path); err == nil && fi.Size() >= reserveSize {
		return
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return
	}
	_, err = f.Write(make([]byte, reserveSize))
	if cerr := f.Close(); err != nil || cerr != nil {
		os.Remove(path)
	}
}

// dropReserve removes the reserve file, giving its space to the
// transaction that needs it; it reports whether there was one.
func (db *DB) dropReserve() bool {
	return os.Remove(ReserveFile(db.path)) == nil
}

// reserveSize is enough for the few WAL frames that finalizing a session
// takes (64 KiB pages), with room to spare.
const reserveSize = 2 << 20

// ReserveSpace sets aside disk space beside the database, for
// ReleaseReserve to give back when the disk fills, so that a capture can
// still record how its session ended. The space is held by an open file
// that is already unlinked: nothing is left behind, even after a crash or
// a switch to a user that may not delete files in the directory.
func (db *DB) ReserveSpace() error {
	f, err := os.CreateTemp(filepath.Dir(db.path), ".packetrecorder-reserve-*")
	if err != nil {
		return fmt.Errorf("reserve space: %w", err)
	}
	os.Remove(f.Name())
	if _, err := f.Write(make([]byte, reserveSize)); err != nil {
		f.Close()
		return fmt.Errorf("reserve space: %w", classify(err))
	}
	db.ReleaseReserve()
	db.reserve = f
	return nil
}

// ReleaseReserve frees the space ReserveSpace set aside, if any.
func (db *DB) ReleaseReserve() {
	if db.reserve != nil {
		db.reserve.Close()
		db.reserve = nil
	}
}

// SetAutoCheckpoint sets how many WAL pages (64 KiB each) a commit may
// leave before it checkpoints; 0 turns automatic checkpoints off.
func (db *DB) SetAutoCheckpoint(pages int) error {
	return classify(db.conn.Exec(fmt.Sprintf("PRAGMA wal_autocheckpoint=%d", pages)))
}

// Checkpoint copies committed WAL frames into the database file without
// blocking writers (PASSIVE), or, with truncate, waits for them and empties
// the WAL (TRUNCATE).
func (db *DB) Checkpoint(truncate bool) error {
	mode := "PASSIVE"
	if truncate {
		mode = "TRUNCATE"
	}
	stmt, _, err := db.conn.Prepare(db.pragma("wal_checkpoint(" + mode + ")"))
	if err != nil {
		return classify(err)
	}
	defer stmt.Close()
	for stmt.Step() {
	}
	return db.classifyWrite(stmt.Err())
}

// BeginBulk switches the database to a rollback journal for a bulk load,
// if no other connection has it open: new pages are then written once, into
// the database file, instead of into the WAL and again at the checkpoint.
// Durability is the same (synchronous=NORMAL journals and syncs what a
// commit changes). If another process opens the database meanwhile, SQLite
// moves everyone back to WAL, which is correct, only slower. The returned
// function restores WAL mode; ok is false if the switch was not possible.
func (db *DB) BeginBulk() (end func(), ok bool) {
	db.conn.BusyTimeout(0)
	defer db.conn.BusyTimeout(10 * time.Second)
	if !db.journalMode("DELETE") {
		return func() {}, false
	}
	return func() {
		db.conn.BusyTimeout(10 * time.Second)
		db.journalMode("WAL")
	}, true
}

// inWAL reports whether this connection is in WAL mode now.
func (db *DB) inWAL() bool {
	stmt, _, err := db.conn.Prepare(db.pragma("journal_mode"))
	if err != nil {
		return true
	}
	defer stmt.Close()
	return !stmt.Step() || strings.EqualFold(stmt.ColumnText(0), "wal")
}

func (db *DB) journalMode(mode string) bool {
	stmt, _, err := db.conn.Prepare(db.pragma("journal_mode=" + mode))
	if err != nil {
		return false
	}
	defer stmt.Close()
	return stmt.Step() && strings.EqualFold(stmt.ColumnText(0), mode)
}
