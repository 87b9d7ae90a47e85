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
// The catalog is rebuilt from the segments when it is missing or does not
// agree with the files: each segment's session row and block index say what
// it holds.
package archive

import (
	"errors"
	"fmt"
	"io/fs"
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
}

// Archive is an open store directory. It is not safe for concurrent use;
// open one per goroutine (SQLite's WAL lets them share the catalog).
type Archive struct {
	dir      string
	conn     *sqlite3.Conn
	readOnly bool
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
	expiring     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS segments_by_time ON segments(min_ns, max_ns);
CREATE TABLE IF NOT EXISTS holds (
	id         INTEGER PRIMARY KEY,
	since_ns   INTEGER NOT NULL,
	until_ns   INTEGER NOT NULL,
	reason     TEXT    NOT NULL DEFAULT '',
	created_ns INTEGER NOT NULL
);
PRAGMA user_version = 1;
`

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
	a := &Archive{dir: dir, readOnly: opts.ReadOnly}
	if err := a.openCatalog(); err != nil {
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
	name := path
	if a.readOnly {
		if _, err := os.Stat(path); err != nil {
			// No catalog yet: an empty in-memory one, filled from the files.
			conn, err := sqlite3.Open(":memory:")
			if err != nil {
				return err
			}
			a.conn = conn
			if err := conn.Exec(catalogSchema); err != nil {
				return err
			}
			return a.scanInto()
		}
		name = "file:" + path + "?mode=ro"
	}
	conn, err := sqlite3.Open(name)
	if err != nil {
		return err
	}
	a.conn = conn
	if err := conn.BusyTimeout(10 * time.Second); err != nil {
		return err
	}
	if a.readOnly {
		return nil
	}
	return conn.Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;" + catalogSchema)
}

// Dir is the store directory.
func (a *Archive) Dir() string { return a.dir }

// Close closes the catalog.
func (a *Archive) Close() error {
	if a.conn == nil {
		return nil
	}
	return a.conn.Close()
}

// Path is a segment's file.
func (a *Archive) Path(s Segment) string { return filepath.Join(a.dir, s.File) }

const segmentColumns = `id, file, interface, ring, recording, first_packet, packets, bytes, min_ns, max_ns, created_ns, closed`

func scanSegment(stmt *sqlite3.Stmt) Segment {
	return Segment{
		ID: stmt.ColumnInt64(0), File: stmt.ColumnText(1), Interface: stmt.ColumnText(2), Ring: stmt.ColumnInt(3),
		Recording: stmt.ColumnText(4), FirstPacket: stmt.ColumnInt64(5), Packets: stmt.ColumnInt64(6),
		Bytes: stmt.ColumnInt64(7), MinNS: stmt.ColumnInt64(8), MaxNS: stmt.ColumnInt64(9),
		Created: time.Unix(0, stmt.ColumnInt64(10)), Closed: stmt.ColumnBool(11),
	}
}

// Segments lists the segments not being expired, oldest data first.
func (a *Archive) Segments() ([]Segment, error) {
	stmt, _, err := a.conn.Prepare(`SELECT ` + segmentColumns + ` FROM segments WHERE NOT expiring
		ORDER BY CASE WHEN packets = 0 THEN created_ns ELSE min_ns END, id`)
	if err != nil {
		return nil, err
	}
	defer stmt.Close()
	var out []Segment
	for stmt.Step() {
		out = append(out, scanSegment(stmt))
	}
	return out, stmt.Err()
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
	if err := a.exec(`UPDATE segments SET expiring = 1 WHERE id = ?`, s.ID); err != nil {
		return err
	}
	return a.unlinkSegment(s.ID, a.Path(s))
}

func (a *Archive) unlinkSegment(id int64, path string) error {
	trash := filepath.Join(a.dir, TrashDir)
	if err := os.MkdirAll(trash, 0o700); err != nil {
		return err
	}
	for _, side := range []string{"-wal", "-journal", "-shm", "-reserve", ""} {
		dst := filepath.Join(trash, fmt.Sprintf("%d-%s%s", id, filepath.Base(path), side))
		if err := os.Rename(path+side, dst); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return a.exec(`DELETE FROM segments WHERE id = ?`, id)
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
		fi, err := e.Info()
		if err != nil {
			continue
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
	}
	return nil
}

// Repair makes the catalog agree with the files: it finishes expiries a
// crash interrupted, drops rows whose file is gone, and adds segments the
// catalog does not know (a lost or older catalog), reading each one's
// session and block index.
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
			if err := a.unlinkSegment(r.id, path); err != nil {
				return err
			}
			continue
		}
		if !r.closed {
			if err := a.closeIfDead(r.id, path); err != nil {
				a.setAside(r.file)
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
		if known[f] {
			continue
		}
		if err := a.addFromFile(f); err != nil {
			a.setAside(f)
		}
	}
	return nil
}

// setAside deals with a segment file the catalog cannot take: one left
// (nearly) empty by a recording killed as it created it holds nothing and
// goes; a damaged one is renamed FILE.damaged, out of every reader's way,
// for a person to look at. Neither stops the store from opening.
func (a *Archive) setAside(rel string) {
	path := filepath.Join(a.dir, rel)
	if fi, err := os.Stat(path); err == nil && fi.Size() < 64<<10 {
		for _, side := range []string{"-wal", "-journal", "-shm", ""} {
			os.Remove(path + side)
		}
		return
	}
	os.Rename(path, path+".damaged")
}

// closeIfDead closes the catalog row of a segment whose recording process
// is gone (killed, crashed): the segment's database marks its session
// interrupted when opened for writing, and the catalog takes its counts.
// A segment still being written is left alone.
func (a *Archive) closeIfDead(id int64, path string) error {
	// A read-only open reports a dead recording as interrupted. It fails
	// on a hot journal, which only a writer that died mid-transaction
	// leaves: dead too.
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
	return a.exec(`UPDATE segments SET packets = ?, bytes = ?, min_ns = ?, max_ns = ?, closed = 1 WHERE id = ?`,
		s.Packets, fileSize(path), lo, hi, id)
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
	return a.exec(`INSERT INTO segments (file, interface, ring, recording, first_packet, packets, bytes, min_ns, max_ns, created_ns, closed)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		rel, s.Interface, ring, recordingOf(s), s.FirstPacket, s.Packets, fileSize(path), lo, hi, s.Started.UnixNano(), closed)
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

// AddHold records a hold.
func (a *Archive) AddHold(since, until int64, reason string) (Hold, error) {
	if since > until {
		return Hold{}, errors.New("hold: --since is after --until")
	}
	h := Hold{Since: since, Until: until, Reason: reason, Created: time.Now()}
	if err := a.exec(`INSERT INTO holds (since_ns, until_ns, reason, created_ns) VALUES (?, ?, ?, ?)`, since, until, reason, h.Created.UnixNano()); err != nil {
		return Hold{}, err
	}
	h.ID = a.conn.LastInsertRowID()
	return h, nil
}

// Holds lists the holds, oldest first.
func (a *Archive) Holds() ([]Hold, error) {
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

// ErrNoHold reports an unknown hold id.
var ErrNoHold = errors.New("no such hold")

// ReleaseHold deletes a hold.
func (a *Archive) ReleaseHold(id int64) error {
	if err := a.exec(`DELETE FROM holds WHERE id = ?`, id); err != nil {
		return err
	}
	if a.conn.Changes() == 0 {
		return fmt.Errorf("hold %d: %w", id, ErrNoHold)
	}
	return nil
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
