package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"sync/atomic"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/vfs/readervfs"
)

// A reader that may not write a database whose writer died in a
// transaction (a hot journal beside it: kill -9 during an import or a
// capture) cannot have SQLite roll the journal back. It reads through it
// instead: the database file as it was before that transaction is the file
// with the original pages the journal keeps put back, cut to its original
// size. journalView is that file, read-only, handed to SQLite through the
// "reader" VFS (an immutable database over an io.ReaderAt). Nothing is
// written; the next open with write access rolls the journal back for
// good.
//
// The journal's format (https://sqlite.org/fileformat.html#the_rollback_journal):
// segments, each a header in a sector of its own (magic d9d505f920a163d7,
// record count, checksum nonce, the database's size in pages before the
// transaction, sector size, page size; big-endian) followed by records
// (page number, the page's original bytes, checksum). Playback stops at a
// header without the magic or a record whose checksum is wrong, as
// SQLite's does.
type journalView struct {
	db, journal *os.File
	pageSize    int64
	size        int64           // the database's size before the transaction
	pages       map[int64]int64 // page number -> offset of its original in the journal
}

var journalMagic = []byte{0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7}

// errNotHot reports a journal with nothing to roll back.
var errNotHot = errors.New("journal holds nothing to roll back")

func openJournalView(path string) (*journalView, error) {
	db, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	// As SQLite's readers do: no writer changes the file, nor rolls the
	// journal back, while the view reads it.
	if err := lockShared(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	j, err := os.Open(path + "-journal")
	if err != nil {
		db.Close()
		return nil, err
	}
	v := &journalView{db: db, journal: j, pages: map[int64]int64{}}
	if err := v.parse(); err != nil {
		v.Close()
		return nil, err
	}
	return v, nil
}

func (v *journalView) parse() error {
	fi, err := v.journal.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	hdr := make([]byte, 28)
	var off, sector int64
	first := true
	for off+28 <= size {
		if _, err := v.journal.ReadAt(hdr, off); err != nil {
			return err
		}
		if string(hdr[:8]) != string(journalMagic) {
			break
		}
		nRec := int64(binary.BigEndian.Uint32(hdr[8:]))
		nonce := binary.BigEndian.Uint32(hdr[12:])
		if first {
			dbPages := int64(binary.BigEndian.Uint32(hdr[16:]))
			sector = int64(binary.BigEndian.Uint32(hdr[20:]))
			v.pageSize = int64(binary.BigEndian.Uint32(hdr[24:]))
			if v.pageSize < 512 || v.pageSize > 65536 || v.pageSize&(v.pageSize-1) != 0 || sector < 32 || sector > 65536 {
				return fmt.Errorf("journal header: page size %d, sector size %d", v.pageSize, sector)
			}
			v.size = dbPages * v.pageSize
			first = false
		}
		off += sector
		rec := 8 + v.pageSize
		if nRec == 0xffffffff {
			nRec = (size - off) / rec
		}
		page := make([]byte, v.pageSize)
		var b4 [4]byte
		for i := int64(0); i < nRec && off+rec <= size; i++ {
			if _, err := v.journal.ReadAt(b4[:], off); err != nil {
				return err
			}
			pgno := int64(binary.BigEndian.Uint32(b4[:]))
			if _, err := v.journal.ReadAt(page, off+4); err != nil {
				return err
			}
			if _, err := v.journal.ReadAt(b4[:], off+4+v.pageSize); err != nil {
				return err
			}
			sum := nonce
			for k := v.pageSize - 200; k > 0; k -= 200 {
				sum += uint32(page[k])
			}
			if sum != binary.BigEndian.Uint32(b4[:]) || pgno == 0 {
				off = size // a torn record ends the playback
				break
			}
			if _, ok := v.pages[pgno]; !ok {
				v.pages[pgno] = off + 4
			}
			off += rec
		}
		// The next segment's header starts on a sector boundary.
		off = (off + sector - 1) / sector * sector
	}
	if first {
		return errNotHot
	}
	return nil
}

// Size is the database's size before the dead writer's transaction.
func (v *journalView) Size() (int64, error) { return v.size, nil }

// ReadAt reads the database as it was before the transaction.
func (v *journalView) ReadAt(p []byte, off int64) (int, error) {
	if off >= v.size {
		return 0, io.EOF
	}
	want := len(p)
	if off+int64(len(p)) > v.size {
		p = p[:v.size-off]
	}
	n, err := v.db.ReadAt(p, off)
	if err == io.EOF {
		clear(p[n:]) // pages the transaction had not written yet
		err = nil
	}
	if err != nil {
		return n, err
	}
	for pg := off / v.pageSize; pg*v.pageSize < off+int64(len(p)); pg++ {
		at, ok := v.pages[pg+1]
		if !ok {
			continue
		}
		lo, hi := max(off, pg*v.pageSize), min(off+int64(len(p)), (pg+1)*v.pageSize)
		if _, err := v.journal.ReadAt(p[lo-off:hi-off], at+lo-pg*v.pageSize); err != nil {
			return 0, err
		}
	}
	if len(p) < want {
		return len(p), io.EOF
	}
	return len(p), nil
}

func (v *journalView) Close() error {
	v.db.Close()
	return v.journal.Close()
}

var journalViews atomic.Int64

// openThroughJournal opens a read-only connection on the database at path
// as it was before the transaction its hot journal belongs to; close
// releases what it holds once the connection is closed.
func openThroughJournal(ctx context.Context, path string) (conn *sqlite3.Conn, close func(), err error) {
	v, err := openJournalView(path)
	if err != nil {
		return nil, nil, err
	}
	// The name is only the VFS's key for this view.
	name := fmt.Sprintf("prd-journal-view-%d-%d", os.Getpid(), journalViews.Add(1))
	readervfs.Create(name, v)
	close = func() {
		readervfs.Delete(name)
		v.Close()
	}
	uri := (&url.URL{Scheme: "file", OmitHost: true, Path: name, RawQuery: "vfs=reader&mode=ro&immutable=1"}).String()
	conn, err = sqlite3.OpenContext(ctx, uri)
	if err == nil {
		err = conn.Exec("SELECT count(*) FROM sqlite_schema")
		if err != nil {
			conn.Close()
		}
	}
	if err != nil {
		close()
		return nil, nil, err
	}
	return conn, close, nil
}
