package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"

	"github.com/ncruces/go-sqlite3"
)

// A Host is one SQLite instance that databases are attached to one after
// the other: a continuous recording writes a new segment every few seconds
// to minutes, and a SQLite instance of this driver is a fresh address space
// whose heap is paid for again in page faults as it warms up (in a bench
// writing 400 MB as 50 MB segments, a new connection per segment cost
// three times the CPU of one long-lived database). Attached, every segment
// after the first finds the instance warm. A Host and its database are
// used by one goroutine.
type Host struct {
	conn *sqlite3.Conn
	db   *DB // attached now, or nil
}

// hostSchema is the name an attached database has on the Host's
// connection. The main schema is an empty in-memory database, so the
// unqualified table names the rest of this package uses resolve to the
// attached one.
const hostSchema = "seg"

// NewHost opens a SQLite instance for databases to be attached to.
func NewHost() (*Host, error) {
	conn, _, err := openConn(":memory:", false)
	if err != nil {
		return nil, fmt.Errorf("open database engine: %w", err)
	}
	return &Host{conn: conn}, nil
}

// Open opens (with opts.Create, creates) the database at path on the
// Host's instance, as Open does on an instance of its own. One database is
// attached at a time: Close it before opening the next.
func (h *Host) Open(path string, opts Options) (*DB, error) {
	if h.db != nil {
		return nil, fmt.Errorf("open database %s: %s is still open", path, h.db.path)
	}
	if opts.ReadOnly {
		return nil, fmt.Errorf("open database %s: a host opens databases for writing", path)
	}
	if err := prepareFile(path, opts); err != nil {
		return nil, err
	}
	stmt, _, err := h.conn.Prepare("ATTACH DATABASE ? AS " + hostSchema)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, classify(err))
	}
	stmt.BindText(1, path)
	err = stmt.Exec()
	stmt.Close()
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, classify(err))
	}
	db := &DB{conn: h.conn, path: path, noReserve: opts.NoReserve, host: h, prefix: hostSchema + "."}
	h.db = db
	if err := db.init(); err != nil {
		h.detach(db)
		return nil, fmt.Errorf("open database %s: %w", path, classify(err))
	}
	return db, nil
}

func (h *Host) detach(db *DB) error {
	if h.db != db {
		return nil
	}
	h.db = nil
	if !h.conn.GetAutocommit() {
		h.conn.Exec("ROLLBACK")
	}
	return classify(h.conn.Exec("DETACH DATABASE " + hostSchema))
}

// Close closes the database still attached, if any, and the instance.
func (h *Host) Close() error {
	var err error
	if h.db != nil {
		err = h.db.Close()
	}
	if cerr := h.conn.Close(); err == nil {
		err = cerr
	}
	return err
}

// prepareFile makes sure path is a file Open can open: created empty with
// mode 0600 when opts.Create allows it.
func prepareFile(path string, opts Options) error {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if !opts.Create {
			return fmt.Errorf("open database %s: %w", path, ErrNotFound)
		}
		// Packets carry passwords and cookies: only the owner may read them.
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("create database %s: %w", path, err)
		}
		if f != nil {
			f.Close()
		}
	case err != nil:
		return fmt.Errorf("open database %s: %w", path, err)
	case fi.IsDir():
		return fmt.Errorf("open database %s: is a directory", path)
	}
	return nil
}

// ddl matches the statements of the migrations that name a table or an
// index to create, alter or drop.
var ddl = regexp.MustCompile(`(?m)^(\s*(?:CREATE (?:UNIQUE )?INDEX|CREATE TABLE|ALTER TABLE|DROP INDEX) )`)

// qualify puts the schema prefix before the names the migration sql
// creates, alters or drops.
func qualify(sql, prefix string) string {
	if prefix == "" {
		return sql
	}
	return ddl.ReplaceAllString(sql, "${1}"+prefix)
}
