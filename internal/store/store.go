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
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ncruces/go-sqlite3"
)

// SchemaVersion is the newest schema this code writes, kept in
// PRAGMA user_version. Older databases are migrated forward on open.
const SchemaVersion = 2

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
)

// DB is an open packet database. It is not safe for concurrent use; open one
// DB per goroutine that needs one (SQLite in WAL mode lets them share the
// file).
type DB struct {
	conn    *sqlite3.Conn
	path    string
	reserve *os.File // see ReserveSpace
}

// Options control Open. The zero value opens an existing database.
type Options struct {
	// Create makes the database (mode 0600) when it does not exist.
	Create bool
}

// maxMemory raises the SQLite connection's memory cap above its 256 MB
// default so large blocks and caches never fail with "out of memory".
const maxMemory = 1 << 30

// Open opens the database at path, creating it if opts.Create is set,
// checks that it is ours, and migrates its schema forward.
func Open(path string, opts Options) (*DB, error) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if !opts.Create {
			return nil, fmt.Errorf("open database %s: %w", path, ErrNotFound)
		}
		// Packets carry passwords and cookies: only the owner may read them.
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("create database %s: %w", path, err)
		}
		if f != nil {
			f.Close()
		}
	case err != nil:
		return nil, fmt.Errorf("open database %s: %w", path, err)
	case fi.IsDir():
		return nil, fmt.Errorf("open database %s: is a directory", path)
	}
	ctx := sqlite3.WithMaxMemory(context.Background(), maxMemory)
	conn, err := sqlite3.OpenContext(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, classify(err))
	}
	db := &DB{conn: conn, path: path}
	if err := db.init(); err != nil {
		conn.Close()
		return nil, fmt.Errorf("open database %s: %w", path, classify(err))
	}
	return db, nil
}

// Path is the file the database was opened from.
func (db *DB) Path() string { return db.path }

// Close closes the database.
func (db *DB) Close() error {
	db.ReleaseReserve()
	return db.conn.Close()
}

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
	stmt, _, err := db.conn.Prepare("PRAGMA " + name)
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
		stmt, _, err := db.conn.Prepare("SELECT count(*) FROM sqlite_schema")
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
		// A new database: large pages suit large blobs; set before the first table.
		if err := db.conn.Exec("PRAGMA page_size=65536"); err != nil {
			return err
		}
	} else if appID != applicationID {
		return ErrNotOurs
	}
	if version > SchemaVersion {
		return fmt.Errorf("%w (version %d, this build knows up to %d)", ErrTooNew, version, SchemaVersion)
	}
	// Switching to WAL needs a moment with no writer. A bulk writer (a
	// lone capture or an import in rollback-journal mode) holds its write
	// lock almost all the time, and SQLite refuses the switch at once
	// rather than wait (waiting could deadlock), so retry for up to a
	// second: writers pause briefly after each commit (see Writer.Commit).
	// If it never succeeds, read in the current mode; the busy handler
	// waits out the writer's commits.
	for deadline := time.Now().Add(time.Second); ; {
		err := db.conn.Exec("PRAGMA journal_mode=WAL")
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
	if err := db.conn.Exec("PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON"); err != nil {
		return err
	}
	if version < SchemaVersion {
		if err := db.migrate(version); err != nil {
			return fmt.Errorf("migrate schema from version %d: %w", version, err)
		}
	}
	// Best effort: on a read-only file or a full disk the sessions stay
	// "recording" until a later open can write.
	db.recoverInterrupted()
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
		if err := db.conn.Exec(migrations[v]); err != nil {
			return err
		}
	}
	return db.conn.Exec(fmt.Sprintf("PRAGMA application_id=%d; PRAGMA user_version=%d", applicationID, SchemaVersion))
}

// IntegrityCheck runs SQLite's integrity_check and returns its first
// complaint, or nil when the database is sound.
func (db *DB) IntegrityCheck() error {
	stmt, _, err := db.conn.Prepare("PRAGMA integrity_check")
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
	stmt, _, err := db.conn.Prepare("PRAGMA wal_checkpoint(" + mode + ")")
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
	stmt, _, err := db.conn.Prepare("PRAGMA journal_mode")
	if err != nil {
		return true
	}
	defer stmt.Close()
	return !stmt.Step() || strings.EqualFold(stmt.ColumnText(0), "wal")
}

func (db *DB) journalMode(mode string) bool {
	stmt, _, err := db.conn.Prepare("PRAGMA journal_mode=" + mode)
	if err != nil {
		return false
	}
	defer stmt.Close()
	return stmt.Step() && strings.EqualFold(stmt.ColumnText(0), mode)
}
