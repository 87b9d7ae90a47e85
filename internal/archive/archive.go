// Package archive keeps a store directory: the segments of continuous
// recordings, each a packetrecorder database of the current schema, and a
// catalog that indexes them.
//
//	STORE/                       0700
//	  catalog.db                 segments and holds; an index, never the truth
//	  segments/IFACE/            one directory per interface
//	    20261204T205500.123456789Z-r0.db    one segment: UTC creation time, ring
//
// Data flows in through a Recording (a recorder.Sink) that writes one ring's
// packets into a segment and rolls over to a new segment between two commits
// once the segment reaches its size or age; the packet numbers of a
// recording go on across segments. Retention (Expire) deletes whole
// segments: it marks the catalog row, then unlinks the file and its side
// files; Open repairs a crash in between. Readers select segments by
// interface and time from the catalog and read each as a database.
//
// The catalog is rebuilt from the segments when it is missing, replaced,
// damaged or does not agree with the files: each segment's session row and
// block index say what it holds. An Archive notices a catalog removed or
// replaced under it (by inode) at its next call and rebuilds; a damaged
// one is set aside (catalog.db.damaged-TIME) first. Holds live in the
// catalog and in holds.json beside it, which outlives any catalog.
//
// A daemon holds daemon.lock (flock) for its life: a second daemon on one
// store is refused. Readers pin the segments they select (Pin), so that
// retention's reaper never frees a file a reader still reads.
package archive

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/ncruces/go-sqlite3"

	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

// CatalogFile is the catalog's name inside a store directory.
const CatalogFile = "catalog.db"

// SegmentsDir holds the segments, one directory per interface.
const SegmentsDir = "segments"

// ErrNotStore reports a directory that is not a store.
var ErrNotStore = errors.New("not a packetrecorder store")

// Options control Open.
type Options struct {
	// Create makes the directory (0700) and the catalog when missing.
	Create bool
	// ReadOnly opens the catalog for reading; nothing is repaired.
	ReadOnly bool
	// Lock takes the store's lock (daemon.lock) for as long as the
	// Archive is open: the daemon's, so that a second daemon is refused
	// (ErrStoreInUse).
	Lock bool
	// Logger hears of catalogs rebuilt and segments set aside; nil
	// discards.
	Logger *slog.Logger
	// BusyTimeout bounds how long a catalog write waits for another
	// process's (10 s when zero). A recording's catalog updates use a
	// short one: they must never stall its commits.
	BusyTimeout time.Duration
}

// Archive is an open store directory. It is not safe for concurrent use;
// open one per goroutine (SQLite's WAL lets them share the catalog).
type Archive struct {
	dir      string
	conn     *sqlite3.Conn
	readOnly bool
	ident    os.FileInfo // the catalog file the connection opened
	lock     *os.File    // daemon.lock, with Options.Lock
	log      *slog.Logger
	busy     time.Duration
	version  int64 // the catalog's user_version
}

// Segment is one catalog row.
type Segment struct {
	ID          int64
	File        string // relative to the store directory
	Interface   string
	Ring        int
	Recording   string // UUID of the continuous recording the segment belongs to
	FirstPacket int64  // number of its first packet in the recording
	Packets     int64
	Bytes       int64 // size on disk, side files included
	MinNS       int64 // earliest packet timestamp (0 when empty)
	MaxNS       int64 // latest packet timestamp
	Created     time.Time
	Closed      bool
	Interrupted bool // its recording process died before it closed it
}

// Hold exempts the segments holding a time window from retention.
type Hold struct {
	ID           int64
	Since, Until int64 // ns, inclusive
	Reason       string
	Created      time.Time
}

// IsStore reports whether path is a store directory.
func IsStore(path string) bool {
	fi, err := os.Stat(path)
	if err != nil || !fi.IsDir() {
		return false
	}
	_, err = os.Stat(filepath.Join(path, CatalogFile))
	if err == nil {
		return true
	}
	_, err = os.Stat(filepath.Join(path, SegmentsDir))
	return err == nil
}

const catalogSchema = `
CREATE TABLE IF NOT EXISTS segments (
	id           INTEGER PRIMARY KEY,
	file         TEXT    NOT NULL UNIQUE,
	interface    TEXT    NOT NULL,
	ring         INTEGER NOT NULL DEFAULT 0,
	recording    TEXT    NOT NULL,
	first_packet INTEGER NOT NULL,
	packets      INTEGER NOT NULL DEFAULT 0,
	bytes        INTEGER NOT NULL DEFAULT 0,
	min_ns       INTEGER NOT NULL DEFAULT 0,
	max_ns       INTEGER NOT NULL DEFAULT 0,
	created_ns   INTEGER NOT NULL,
	closed       INTEGER NOT NULL DEFAULT 0,
	expiring     INTEGER NOT NULL DEFAULT 0,
	interrupted  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS segments_by_time ON segments(min_ns, max_ns);
CREATE TABLE IF NOT EXISTS holds (
	id         INTEGER PRIMARY KEY,
	since_ns   INTEGER NOT NULL,
	until_ns   INTEGER NOT NULL,
	reason     TEXT    NOT NULL DEFAULT '',
	created_ns INTEGER NOT NULL
);
` + summarySchema

// catalogVersion is the catalog's schema version: 2 added
// segments.interrupted, 3 the segment summaries (summary.go).
const catalogVersion = 3

// Open opens a store directory and its catalog, creating them if
// opts.Create, and repairs the catalog against the segment files.
func Open(dir string, opts Options) (*Archive, error) {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist) && opts.Create:
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create store %s: %w", dir, err)
		}
	case err != nil:
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	case !fi.IsDir():
		return nil, fmt.Errorf("open store %s: not a directory", dir)
	}
	if !opts.Create && !IsStore(dir) {
		return nil, fmt.Errorf("open store %s: %w", dir, ErrNotStore)
	}
	if !opts.ReadOnly {
		if err := os.MkdirAll(filepath.Join(dir, SegmentsDir), 0o700); err != nil {
			return nil, fmt.Errorf("open store %s: %w", dir, err)
		}
	}
	a := &Archive{dir: dir, readOnly: opts.ReadOnly, log: opts.Logger, busy: opts.BusyTimeout}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.busy <= 0 {
		a.busy = 10 * time.Second
	}
	if opts.Lock {
		f, err := lockStore(dir)
		if err != nil {
			return nil, fmt.Errorf("open store %s: %w", dir, err)
		}
		a.lock = f
	}
	if err := a.openCatalog(); err != nil {
		a.Close()
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	if !opts.ReadOnly {
		if err := a.Repair(); err != nil {
			a.Close()
			return nil, fmt.Errorf("open store %s: repair catalog: %w", dir, err)
		}
	}
	return a, nil
}

func (a *Archive) openCatalog() error {
	path := filepath.Join(a.dir, CatalogFile)
	if a.readOnly {
		if _, err := os.Stat(path); err == nil {
			conn, err := a.tryCatalog("file:" + path + "?mode=ro")
			if err == nil {
				a.conn = conn
				return nil
			}
			if !damaged(err) {
				return err
			}
			// A damaged catalog: read from the files, as without one.
		}
		// No catalog (yet): an empty in-memory one, filled from the files.
		conn, err := sqlite3.Open(":memory:")
		if err != nil {
			return err
		}
		a.conn = conn
		if err := conn.Exec(catalogSchema + fmt.Sprintf("PRAGMA user_version = %d;", catalogVersion)); err != nil {
			return err
		}
		a.version = catalogVersion
		return a.scanInto()
	}
	// One process at a time creates, sets aside or rebuilds the catalog.
	unlock := lockDir(a.dir)
	defer unlock()
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		// A catalog removed: its WAL and shared memory, if left, belong
		// to the old file and must not be read into the new one.
		os.Remove(path + "-wal")
		os.Remove(path + "-shm")
	}
	conn, err := a.tryCatalog(path)
	if damaged(err) {
		a.log.Error("catalog damaged: set aside and rebuilt from the segments", "err", err, "damaged", a.setAsideCatalog())
		conn, err = a.tryCatalog(path)
	}
	if err != nil {
		return err
	}
	fi, err := os.Stat(path)
	if err != nil {
		conn.Close()
		return err
	}
	a.conn, a.ident = conn, fi
	return nil
}

// tryCatalog opens the catalog (name is a path or a URI), sets it up and
// checks it; an error for which damaged is true means the file is not a
// sound catalog.
func (a *Archive) tryCatalog(name string) (*sqlite3.Conn, error) {
	conn, err := sqlite3.Open(name)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*sqlite3.Conn, error) {
		persistWAL(conn)
		conn.Close()
		return nil, err
	}
	if err := conn.BusyTimeout(a.busy); err != nil {
		return fail(err)
	}
	if !a.readOnly {
		if err := conn.Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;" + catalogSchema); err != nil {
			return fail(err)
		}
	}
	if err := quickCheck(conn); err != nil {
		return fail(err)
	}
	v, err := pragmaInt(conn, "user_version")
	if err != nil {
		return fail(err)
	}
	if !a.readOnly && v < catalogVersion {
		// Version 3's table is made by catalogSchema (IF NOT EXISTS).
		if v == 1 {
			if err := conn.Exec(`ALTER TABLE segments ADD COLUMN interrupted INTEGER NOT NULL DEFAULT 0`); err != nil {
				return fail(err)
			}
		}
		if err := conn.Exec(fmt.Sprintf("PRAGMA user_version = %d", catalogVersion)); err != nil {
			return fail(err)
		}
		v = catalogVersion
	}
	a.version = v
	return conn, nil
}

// errCatalogDamaged reports a catalog whose integrity check failed.
var errCatalogDamaged = errors.New("catalog is damaged")

// damaged reports whether err says the catalog file is not a sound
// SQLite database.
func damaged(err error) bool {
	return err != nil && (errors.Is(err, sqlite3.NOTADB) || errors.Is(err, sqlite3.CORRUPT) || errors.Is(err, errCatalogDamaged))
}

// quickCheck checks the catalog's segments and holds, with their
// indexes. The segment summaries are left out: checking them would read
// every summary (0.03% of the store's bytes) at every open, and a damaged
// one only means its segment is opened (Summary).
func quickCheck(conn *sqlite3.Conn) error {
	for _, table := range []string{"segments", "holds"} {
		stmt, _, err := conn.Prepare("PRAGMA quick_check(" + table + ")")
		if err != nil {
			return err
		}
		msg := ""
		if stmt.Step() {
			msg = stmt.ColumnText(0)
		}
		err = stmt.Err()
		stmt.Close()
		if err != nil {
			return err
		}
		if msg != "ok" {
			return fmt.Errorf("%w: %s", errCatalogDamaged, msg)
		}
	}
	return nil
}

func pragmaInt(conn *sqlite3.Conn, name string) (int64, error) {
	stmt, _, err := conn.Prepare("PRAGMA " + name)
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

// setAsideCatalog renames a damaged catalog (and its WAL and shared
// memory) out of the way, for a person to look at; it returns the new
// name.
func (a *Archive) setAsideCatalog() string {
	path := filepath.Join(a.dir, CatalogFile)
	aside := path + ".damaged-" + time.Now().UTC().Format("20060102T150405.000000000Z")
	for _, side := range []string{"", "-wal", "-shm"} {
		os.Rename(path+side, aside+side)
	}
	return aside
}

// persistWAL keeps a connection's close from deleting the WAL file by its
// name: once the catalog was removed or replaced, that name may be the new
// catalog's WAL.
func persistWAL(conn *sqlite3.Conn) {
	conn.FileControl("main", sqlite3.FCNTL_PERSIST_WAL, true)
}

// ensure reopens the catalog when the file was removed or replaced since
// it was opened (the old connection reads and writes a file nobody else
// sees), rebuilding it from the segments and the holds file.
func (a *Archive) ensure() error {
	if a.readOnly || a.conn == nil {
		return nil
	}
	fi, err := os.Stat(filepath.Join(a.dir, CatalogFile))
	if err == nil && os.SameFile(fi, a.ident) {
		return nil
	}
	return a.reopen("catalog removed or replaced: rebuilt from the segments")
}

// ensureLight is ensure for a recording's catalog connection, between
// two of its commits: a catalog replaced is reopened, but a missing or
// damaged one is left for the daemon's retention (or the next open) to
// rebuild, which reads every segment and must not stall a recording. It
// reports whether the catalog may be written.
func (a *Archive) ensureLight() bool {
	path := filepath.Join(a.dir, CatalogFile)
	fi, err := os.Stat(path)
	if err != nil {
		return false
	}
	if os.SameFile(fi, a.ident) {
		return true
	}
	unlock, ok := tryLockDir(a.dir)
	if !ok {
		return false
	}
	defer unlock()
	conn, err := a.tryCatalog(path)
	if err != nil {
		return false
	}
	if fi, err = os.Stat(path); err != nil {
		conn.Close()
		return false
	}
	persistWAL(a.conn)
	a.conn.Close()
	a.conn, a.ident = conn, fi
	return true
}

func (a *Archive) reopen(why string) error {
	persistWAL(a.conn)
	a.conn.Close()
	a.conn = nil
	if err := a.openCatalog(); err != nil {
		return fmt.Errorf("reopen catalog: %w", err)
	}
	a.log.Warn(why, "store", a.dir)
	return a.Repair()
}

// do runs a catalog operation on a sound catalog: reopened first if it was
// removed or replaced, set aside and rebuilt (then tried once more) if it
// turns out damaged.
func (a *Archive) do(fn func() error) error {
	if err := a.ensure(); err != nil {
		return err
	}
	err := fn()
	if damaged(err) && !a.readOnly {
		unlock := lockDir(a.dir)
		a.log.Error("catalog damaged: set aside and rebuilt from the segments", "err", err, "damaged", a.setAsideCatalog())
		unlock()
		if rerr := a.reopen("catalog rebuilt"); rerr != nil {
			return errors.Join(err, rerr)
		}
		err = fn()
	}
	return err
}

// Dir is the store directory.
func (a *Archive) Dir() string { return a.dir }

// Close closes the catalog and lets go of the store's lock.
func (a *Archive) Close() error {
	var err error
	if a.conn != nil {
		err = a.conn.Close()
		a.conn = nil
	}
	if a.lock != nil {
		a.lock.Close()
		a.lock = nil
	}
	return err
}

// Path is a segment's file.
func (a *Archive) Path(s Segment) string { return filepath.Join(a.dir, s.File) }

func (a *Archive) segmentColumns() string {
	cols := `id, file, interface, ring, recording, first_packet, packets, bytes, min_ns, max_ns, created_ns, closed, `
	if a.version < 2 {
		return cols + "0" // a catalog of version 1, read-only
	}
	return cols + "interrupted"
}

func scanSegment(stmt *sqlite3.Stmt) Segment {
	return Segment{
		ID: stmt.ColumnInt64(0), File: stmt.ColumnText(1), Interface: stmt.ColumnText(2), Ring: stmt.ColumnInt(3),
		Recording: stmt.ColumnText(4), FirstPacket: stmt.ColumnInt64(5), Packets: stmt.ColumnInt64(6),
		Bytes: stmt.ColumnInt64(7), MinNS: stmt.ColumnInt64(8), MaxNS: stmt.ColumnInt64(9),
		Created: time.Unix(0, stmt.ColumnInt64(10)), Closed: stmt.ColumnBool(11), Interrupted: stmt.ColumnBool(12),
	}
}

// Segments lists the segments not being expired, oldest data first.
func (a *Archive) Segments() ([]Segment, error) {
	return a.segmentsWhere(`NOT expiring ORDER BY CASE WHEN packets = 0 THEN created_ns ELSE min_ns END, id`)
}

// segmentsWhere lists the segments rows of the clause (WHERE's, and what
// may follow it).
func (a *Archive) segmentsWhere(clause string) (out []Segment, err error) {
	err = a.do(func() error {
		out = nil
		stmt, _, err := a.conn.Prepare(`SELECT ` + a.segmentColumns() + ` FROM segments WHERE ` + clause)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for stmt.Step() {
			out = append(out, scanSegment(stmt))
		}
		return stmt.Err()
	})
	return out, err
}

// Select returns the segments of an interface ("" for all) that may hold
// packets in [lo, hi], oldest data first.
func (a *Archive) Select(iface string, lo, hi int64) ([]Segment, error) {
	all, err := a.Segments()
	if err != nil {
		return nil, err
	}
	var out []Segment
	for _, s := range all {
		if (iface == "" || s.Interface == iface) && s.Packets > 0 && s.MaxNS >= lo && s.MinNS <= hi {
			out = append(out, s)
		} else if (iface == "" || s.Interface == iface) && !s.Closed {
			out = append(out, s) // an open segment: its counters lag the file
		}
	}
	return out, nil
}

func (a *Archive) exec(sql string, args ...any) error {
	stmt, _, err := a.conn.Prepare(sql)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for i, v := range args {
		switch v := v.(type) {
		case int64:
			stmt.BindInt64(i+1, v)
		case int:
			stmt.BindInt64(i+1, int64(v))
		case bool:
			stmt.BindBool(i+1, v)
		case string:
			stmt.BindText(i+1, v)
		default:
			return fmt.Errorf("archive: argument of type %T", v)
		}
	}
	return stmt.Exec()
}

// fileSize is a segment's size on disk, with the files SQLite keeps
// beside it.
func fileSize(path string) int64 {
	var n int64
	for _, side := range []string{"", "-wal", "-journal", "-shm", "-reserve"} {
		if fi, err := os.Stat(path + side); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// TrashDir holds expired segments until the reaper has freed their
// space.
const TrashDir = "trash"

// Expire deletes a segment: the catalog row is marked first, then the
// file and its side files move to the trash (a rename: instant, however
// large the file), then the row goes. Readers no longer see it; Reap frees
// its space. A crash in between is finished by the next Repair.
//
// Unlinking a 1 GiB file at once takes half a second on a filesystem
// mounted with discard (it trims every freed block), during which other
// writes to the filesystem may wait: the reaper frees it in steps instead.
func (a *Archive) Expire(s Segment) error {
	if err := a.ensure(); err != nil {
		return err
	}
	// The row is found by file: after a rebuild its id is another.
	if err := a.exec(`UPDATE segments SET expiring = 1 WHERE file = ?`, s.File); err != nil {
		return err
	}
	return a.unlinkSegment(a.Path(s))
}

// ExpireUnheld is Expire for a segment no hold covered when the caller
// looked (retention reads the holds once a pass): the row is marked only
// if still no hold in the catalog covers it, in the same statement, so a
// hold a person adds meanwhile for the window retention was about to
// delete wins. It reports whether the segment went.
func (a *Archive) ExpireUnheld(s Segment) (bool, error) {
	if err := a.ensure(); err != nil {
		return false, err
	}
	if err := a.exec(`UPDATE segments SET expiring = 1 WHERE file = ?1 AND NOT (packets > 0 AND EXISTS
		(SELECT 1 FROM holds h WHERE segments.max_ns >= h.since_ns AND segments.min_ns <= h.until_ns))`, s.File); err != nil {
		return false, err
	}
	if a.conn.Changes() == 0 {
		stmt, _, err := a.conn.Prepare(`SELECT 1 FROM segments WHERE file = ?`)
		if err != nil {
			return false, err
		}
		stmt.BindText(1, s.File)
		held := stmt.Step()
		err = stmt.Err()
		stmt.Close()
		if err != nil || held {
			return false, err
		}
		// No row: an expiry cut short, finished here as Expire does.
	}
	return true, a.unlinkSegment(a.Path(s))
}

// trashPath is where an expired segment's file (or side file, by its
// suffix) waits for the reaper: INTERFACE-NAME, by the file's name alone,
// so that every process finds it whatever its catalog's ids.
func (a *Archive) trashPath(path string) string {
	return filepath.Join(a.dir, TrashDir, filepath.Base(filepath.Dir(path))+"-"+filepath.Base(path))
}

func (a *Archive) unlinkSegment(path string) error {
	trash := filepath.Join(a.dir, TrashDir)
	if err := os.MkdirAll(trash, 0o700); err != nil {
		return err
	}
	for _, side := range []string{"-wal", "-journal", "-shm", "-reserve", ""} {
		if err := os.Rename(path+side, a.trashPath(path)+side); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	rel, err := filepath.Rel(a.dir, path)
	if err != nil {
		return err
	}
	if err := a.exec(`DELETE FROM segments WHERE file = ?`, rel); err != nil {
		return err
	}
	return a.exec(`DELETE FROM segment_summaries WHERE file = ?`, rel)
}

// reapStep is how much of a trashed file one step frees.
const reapStep = 32 << 20

// TrashBytes is the space the trash still holds, freed by Reap.
func (a *Archive) TrashBytes() int64 {
	var n int64
	entries, _ := os.ReadDir(filepath.Join(a.dir, TrashDir))
	for _, e := range entries {
		if fi, err := e.Info(); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// Reap frees the trash: each file is truncated reapStep at a time, then
// unlinked, so that no single call into the filesystem holds it for long.
// It stops early, with what is left for a later call, when stop says so.
func (a *Archive) Reap(stop func() bool) error {
	dir := filepath.Join(a.dir, TrashDir)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		// A segment a reader has pinned (see Pin) stays whole, with its
		// side files, until the reader lets go.
		main := strings.TrimSuffix(path, reapSuffix)
		for _, side := range []string{"-wal", "-journal", "-shm", "-reserve"} {
			main = strings.TrimSuffix(main, side)
		}
		unlock, ok := lockForReap(main)
		if !ok {
			continue
		}
		err := reapFile(path, e, stop)
		unlock()
		if err != nil {
			return err
		}
		if stop != nil && stop() {
			return nil
		}
	}
	return nil
}

// reapSuffix marks a trashed file the reaper has begun to free: no reader
// may pin it any more (a part of it is gone).
const reapSuffix = ".reap"

func reapFile(path string, e fs.DirEntry, stop func() bool) error {
	fi, err := e.Info()
	if err != nil {
		return nil
	}
	if !strings.HasSuffix(path, reapSuffix) {
		if err := os.Rename(path, path+reapSuffix); err != nil {
			return err
		}
		path += reapSuffix
	}
	for size := fi.Size(); size > 0; {
		if stop != nil && stop() {
			return nil
		}
		size = max(0, size-reapStep)
		if err := os.Truncate(path, size); err != nil {
			return err
		}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// Repair makes the catalog agree with the files: it finishes expiries a
// crash interrupted, drops rows whose file is gone, rolls back the hot
// journals of dead writers (of every segment, closed or not), closes the
// rows of recordings that died, adds segments the catalog does not know (a
// lost or older catalog), reading each one's session and block index, and
// merges the holds file into the catalog.
func (a *Archive) Repair() error {
	stmt, _, err := a.conn.Prepare(`SELECT id, file, expiring, closed FROM segments`)
	if err != nil {
		return err
	}
	type row struct {
		id               int64
		file             string
		expiring, closed bool
	}
	var rows []row
	known := map[string]bool{}
	for stmt.Step() {
		r := row{stmt.ColumnInt64(0), stmt.ColumnText(1), stmt.ColumnBool(2), stmt.ColumnBool(3)}
		rows = append(rows, r)
		known[r.file] = true
	}
	err = stmt.Err()
	stmt.Close()
	if err != nil {
		return err
	}
	for _, r := range rows {
		path := filepath.Join(a.dir, r.file)
		if _, err := os.Stat(path); r.expiring || errors.Is(err, fs.ErrNotExist) {
			if err := a.unlinkSegment(path); err != nil {
				return err
			}
			continue
		}
		if err := a.rollBack(r.file); err != nil {
			continue // cannot be rolled back yet (an immutable file): readers say so
		}
		if !r.closed {
			if err := a.closeIfDead(r.id, path); err != nil {
				if errors.Is(err, errCatalog) {
					return err
				}
				a.setAside(r.file, err)
				if err := a.exec(`DELETE FROM segments WHERE id = ?`, r.id); err != nil {
					return err
				}
			}
		}
	}
	files, err := a.segmentFiles()
	if err != nil {
		return err
	}
	for _, f := range files {
		if known[f] || store.BeingCreated(filepath.Join(a.dir, f)) {
			continue
		}
		if err := a.rollBack(f); err != nil {
			continue
		}
		if err := a.addFromFile(f); err != nil {
			if errors.Is(err, errCatalog) {
				return err
			}
			a.setAside(f, err)
		}
	}
	if err := a.mergeHoldsFile(); err != nil {
		// Not overwritten: the holds it keeps are for a person to
		// restore; the catalog's holds stay in force.
		a.log.Error(holdsFileTrouble(err), "file", filepath.Join(a.dir, HoldsFile), "err", err)
	}
	return nil
}

// errCatalog marks an error of the catalog, as opposed to a segment's.
var errCatalog = errors.New("catalog")

// rollBack rolls back the hot journal a dead writer left beside a segment
// (the catalog may call it closed: a write that failed as it closed, a
// file made immutable for a while). A live writer's journal is not hot and
// stays.
func (a *Archive) rollBack(rel string) error {
	left, err := store.RollBackJournal(filepath.Join(a.dir, rel))
	if err != nil {
		a.log.Error("segment has a hot journal that cannot be rolled back yet", "file", rel, "err", err)
		return err
	}
	if left {
		a.log.Debug("segment is being written", "file", rel)
	}
	return nil
}

// setAside deals with a segment file the catalog cannot take: one left
// (nearly) empty by a recording killed as it created it holds nothing and
// goes; a damaged one is renamed FILE.damaged, out of every reader's way,
// for a person to look at. Neither stops the store from opening.
func (a *Archive) setAside(rel string, why error) {
	path := filepath.Join(a.dir, rel)
	if fi, err := os.Stat(path); err == nil && fi.Size() < 64<<10 {
		for _, side := range []string{"-wal", "-journal", "-shm", ""} {
			os.Remove(path + side)
		}
		a.log.Warn("empty segment removed", "file", rel, "err", why)
		return
	}
	os.Rename(path, path+".damaged")
	a.log.Error("damaged segment set aside", "file", rel+".damaged", "err", why)
}

// closeIfDead closes the catalog row of a segment whose recording process
// is gone (killed, crashed): the segment's database marks its session
// interrupted when opened for writing, and the catalog takes its counts.
// A segment still being written is left alone.
func (a *Archive) closeIfDead(id int64, path string) error {
	// A read-only open reports a dead recording as interrupted (its
	// recording lock is free).
	if db, err := store.Open(path, store.Options{ReadOnly: true}); err == nil {
		ss, err := db.Sessions()
		db.Close()
		if err != nil {
			return err
		}
		if len(ss) != 1 || ss[0].Status == store.StatusRecording {
			return nil // alive
		}
	}
	db, err := store.Open(path, store.Options{NoReserve: true}) // rolls back, marks it interrupted for good
	if err != nil {
		return err
	}
	ss, err := db.Sessions()
	if err == nil && len(ss) != 1 {
		err = fmt.Errorf("holds %d sessions, a segment holds one", len(ss))
	}
	if err != nil {
		db.Close()
		return err
	}
	s := ss[0]
	var lo, hi int64
	lo, hi, err = db.TimeSpan(s.ID)
	db.Close()
	if err != nil {
		return err
	}
	if err := a.exec(`UPDATE segments SET packets = ?, bytes = ?, min_ns = ?, max_ns = ?, closed = 1, interrupted = ? WHERE id = ?`,
		s.Packets, fileSize(path), lo, hi, s.Status == store.StatusInterrupted, id); err != nil {
		return fmt.Errorf("%w: %w", errCatalog, err)
	}
	return nil
}

// scanInto fills an empty (in-memory) catalog from the files.
func (a *Archive) scanInto() error {
	files, err := a.segmentFiles()
	if err != nil {
		return err
	}
	for _, f := range files {
		a.addFromFile(f) // a segment that cannot be read has nothing to read
	}
	return nil
}

// segmentFiles lists segments/*/*.db, relative to the store.
func (a *Archive) segmentFiles() ([]string, error) {
	matches, err := filepath.Glob(filepath.Join(a.dir, SegmentsDir, "*", "*.db"))
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(matches))
	for _, m := range matches {
		rel, err := filepath.Rel(a.dir, m)
		if err != nil {
			return nil, err
		}
		out = append(out, rel)
	}
	sort.Strings(out)
	return out, nil
}

// addFromFile catalogs a segment from what its database says.
func (a *Archive) addFromFile(rel string) error {
	path := filepath.Join(a.dir, rel)
	db, err := store.Open(path, store.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer db.Close()
	ss, err := db.Sessions()
	if err != nil {
		return err
	}
	if len(ss) != 1 {
		return fmt.Errorf("holds %d sessions, a segment holds one", len(ss))
	}
	s := ss[0]
	lo, hi, err := db.TimeSpan(s.ID)
	if err != nil {
		return err
	}
	ring := 0
	if i := strings.LastIndex(rel, "-r"); i >= 0 {
		fmt.Sscanf(rel[i:], "-r%d.db", &ring)
	}
	closed := s.Status != store.StatusRecording
	// OR IGNORE: another process rebuilding the catalog may have added it.
	err = a.exec(`INSERT OR IGNORE INTO segments (file, interface, ring, recording, first_packet, packets, bytes, min_ns, max_ns, created_ns, closed, interrupted)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		rel, s.Interface, ring, recordingOf(s), s.FirstPacket, s.Packets, fileSize(path), lo, hi, s.Started.UnixNano(), closed, s.Status == store.StatusInterrupted)
	if err != nil {
		return fmt.Errorf("%w: %w", errCatalog, err)
	}
	return nil
}

// recordingOf is the recording a segment's session belongs to: its notes
// carry "recording UUID" (see Recording).
func recordingOf(s store.Session) string {
	for _, line := range strings.Split(s.Notes, "\n") {
		if r, ok := strings.CutPrefix(line, "recording "); ok {
			return r
		}
	}
	return s.UUID
}

// AddHold records a hold, in the catalog and in the holds file (see
// HoldsFile), in one catalog transaction: acknowledged, it outlives any
// catalog.
func (a *Archive) AddHold(since, until int64, reason string) (Hold, error) {
	if since > until {
		return Hold{}, errors.New("hold: --since is after --until")
	}
	h := Hold{Since: since, Until: until, Reason: reason, Created: time.Now()}
	err := a.do(func() error {
		return a.changeHolds(func() error {
			if err := a.exec(`INSERT INTO holds (since_ns, until_ns, reason, created_ns) VALUES (?, ?, ?, ?)`, since, until, reason, h.Created.UnixNano()); err != nil {
				return err
			}
			h.ID = a.conn.LastInsertRowID()
			return nil
		})
	})
	if err != nil {
		return Hold{}, err
	}
	return h, nil
}

// changeHolds runs change in a write transaction and rewrites the holds
// file from the catalog's holds before it commits.
func (a *Archive) changeHolds(change func() error) (err error) {
	if a.readOnly {
		return errors.New("holds: the store is open read-only")
	}
	if err := a.conn.Exec("BEGIN IMMEDIATE"); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			a.conn.Exec("ROLLBACK")
		}
	}()
	if err := a.mergeHoldsFileTx(); err != nil {
		return err
	}
	if err := change(); err != nil {
		return err
	}
	holds, err := a.catalogHolds()
	if err != nil {
		return err
	}
	if err := writeHoldsFile(a.dir, holds); err != nil {
		return err
	}
	return a.conn.Exec("COMMIT")
}

// mergeHoldsFile adds the holds of the holds file that the catalog lacks
// (a catalog lost, damaged or rebuilt), keeping their ids where free, and
// writes the file again if the catalog held holds it lacked.
func (a *Archive) mergeHoldsFile() error {
	if a.readOnly {
		return nil
	}
	return a.changeHolds(func() error { return nil })
}

func (a *Archive) mergeHoldsFileTx() error {
	file, err := readHoldsFile(a.dir)
	if err != nil {
		// A damaged holds file is not overwritten: keep it for a person.
		return err
	}
	cat, err := a.catalogHolds()
	if err != nil {
		return err
	}
	ids := map[int64]bool{}
	for _, h := range cat {
		ids[h.ID] = true
	}
next:
	for _, h := range file {
		for _, c := range cat {
			if sameHold(h, c) {
				continue next
			}
		}
		if ids[h.ID] {
			err = a.exec(`INSERT INTO holds (since_ns, until_ns, reason, created_ns) VALUES (?, ?, ?, ?)`, h.Since, h.Until, h.Reason, h.Created.UnixNano())
		} else {
			err = a.exec(`INSERT INTO holds (id, since_ns, until_ns, reason, created_ns) VALUES (?, ?, ?, ?, ?)`, h.ID, h.Since, h.Until, h.Reason, h.Created.UnixNano())
		}
		if err != nil {
			return err
		}
		ids[a.conn.LastInsertRowID()] = true
	}
	return nil
}

func (a *Archive) catalogHolds() ([]Hold, error) {
	stmt, _, err := a.conn.Prepare(`SELECT id, since_ns, until_ns, reason, created_ns FROM holds ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer stmt.Close()
	var out []Hold
	for stmt.Step() {
		out = append(out, Hold{ID: stmt.ColumnInt64(0), Since: stmt.ColumnInt64(1), Until: stmt.ColumnInt64(2),
			Reason: stmt.ColumnText(3), Created: time.Unix(0, stmt.ColumnInt64(4))})
	}
	return out, stmt.Err()
}

// Holds lists the holds, oldest first: the catalog's, and any of the holds
// file the catalog lacks (a catalog replaced under a reader).
func (a *Archive) Holds() (out []Hold, err error) {
	err = a.do(func() error {
		out, err = a.catalogHolds()
		return err
	})
	if err != nil {
		return nil, err
	}
	file, err := readHoldsFile(a.dir)
	if err != nil {
		if a.readOnly {
			return nil, err
		}
		// Retention goes on with the catalog's holds; the log says why.
		a.log.Error(holdsFileTrouble(err), "err", err)
		return out, nil
	}
next:
	for _, h := range file {
		for _, c := range out {
			if sameHold(h, c) {
				continue next
			}
		}
		out = append(out, h)
	}
	return out, nil
}

// ErrNoHold reports an unknown hold id.
var ErrNoHold = errors.New("no such hold")

// ReleaseHold deletes a hold, from the catalog and the holds file.
func (a *Archive) ReleaseHold(id int64) error {
	return a.do(func() error {
		return a.changeHolds(func() error {
			if err := a.exec(`DELETE FROM holds WHERE id = ?`, id); err != nil {
				return err
			}
			if a.conn.Changes() == 0 {
				return fmt.Errorf("hold %d: %w", id, ErrNoHold)
			}
			return nil
		})
	})
}

// Held reports whether a hold covers any of the segment's packets.
func Held(s Segment, holds []Hold) bool {
	for _, h := range holds {
		if s.Packets > 0 && s.MaxNS >= h.Since && s.MinNS <= h.Until {
			return true
		}
	}
	return false
}
