package recorder

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

// spill holds blocks the database could not take yet, in order, in an
// unlinked file beside the database: a reader holding a lock on a
// database in rollback-journal mode (the sqlite3 shell in a transaction)
// blocks every commit for as long as it likes, and the packets must go
// somewhere other than memory meanwhile. Disk, because at the lab's rates
// a few seconds of packets are gigabytes.
//
// Each block is a 48-byte header (link type, interface, packet count,
// data length as uint32; first, last, minimum and maximum timestamp and
// wire bytes as int64; little-endian) followed by the block's data.
type spill struct {
	f       *os.File
	w       *bufio.Writer
	wOff    int64 // bytes written
	rOff    int64 // bytes taken back into the database
	blocks  int   // blocks in the file not yet taken back
	packets int64 // their packets
	hdr     [spillHeaderLen]byte
	readBuf store.Block
}

const spillHeaderLen = 48

// newSpill creates the spill file in dir. It is unlinked at once: it
// never outlives the process, and nobody else can open it.
func newSpill(dir string) (*spill, error) {
	f, err := os.CreateTemp(dir, ".packetrecorder-spill-*")
	if err != nil {
		return nil, fmt.Errorf("spill file: %w", err)
	}
	os.Remove(f.Name())
	return &spill{f: f, w: bufio.NewWriterSize(f, 1<<20)}, nil
}

// put appends a block.
func (s *spill) put(b *store.Block) error {
	h := s.hdr[:]
	binary.LittleEndian.PutUint32(h[0:], b.LinkType)
	binary.LittleEndian.PutUint32(h[4:], uint32(b.Interface))
	binary.LittleEndian.PutUint32(h[8:], uint32(b.Count))
	binary.LittleEndian.PutUint32(h[12:], uint32(len(b.Data)))
	binary.LittleEndian.PutUint64(h[16:], uint64(b.FirstTS))
	binary.LittleEndian.PutUint64(h[24:], uint64(b.LastTS))
	binary.LittleEndian.PutUint64(h[32:], uint64(b.MinTS))
	binary.LittleEndian.PutUint64(h[40:], uint64(b.MaxTS))
	if _, err := s.w.Write(h); err != nil {
		return err
	}
	if _, err := s.w.Write(b.Data); err != nil {
		return err
	}
	s.wOff += int64(len(h) + len(b.Data))
	s.blocks++
	s.packets += int64(b.Count)
	return nil
}

// empty reports whether every spilled block has been taken back.
func (s *spill) empty() bool { return s.blocks == 0 }

// next reads the block at offset off; the returned block is valid until
// the next call. It returns the offset after it.
func (s *spill) next(off int64) (*store.Block, int64, error) {
	if err := s.w.Flush(); err != nil {
		return nil, off, err
	}
	h := s.hdr[:]
	if _, err := s.f.ReadAt(h, off); err != nil {
		return nil, off, fmt.Errorf("spill file: %w", err)
	}
	b := &s.readBuf
	b.Reset(binary.LittleEndian.Uint32(h[0:]))
	b.Interface = int(binary.LittleEndian.Uint32(h[4:]))
	b.Count = int(binary.LittleEndian.Uint32(h[8:]))
	n := int(binary.LittleEndian.Uint32(h[12:]))
	b.FirstTS = int64(binary.LittleEndian.Uint64(h[16:]))
	b.LastTS = int64(binary.LittleEndian.Uint64(h[24:]))
	b.MinTS = int64(binary.LittleEndian.Uint64(h[32:]))
	b.MaxTS = int64(binary.LittleEndian.Uint64(h[40:]))
	if cap(b.Data) < n {
		b.Data = make([]byte, n)
	}
	b.Data = b.Data[:n]
	if _, err := s.f.ReadAt(b.Data, off+spillHeaderLen); err != nil && !(errors.Is(err, io.EOF) && n == 0) {
		return nil, off, fmt.Errorf("spill file: %w", err)
	}
	// Wire bytes are not kept: recompute them from the record headers.
	store.WalkBlock(b.Data, 0, 0, 0, func(r store.Record) error { b.WireBytes += int64(r.OrigLen); return nil })
	return b, off + spillHeaderLen + int64(n), nil
}

// taken marks the blocks up to offset off as in the database; when all
// are, the file starts over.
func (s *spill) taken(off int64, blocks int, packets int64) {
	s.rOff = off
	s.blocks -= blocks
	s.packets -= packets
	if s.blocks == 0 {
		s.f.Truncate(0)
		s.wOff, s.rOff = 0, 0
		s.w.Reset(s.f)
		s.f.Seek(0, io.SeekStart)
	}
}

func (s *spill) close() { s.f.Close() }
