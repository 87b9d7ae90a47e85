package store

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// RecordHeaderLen is the size of the fixed header in front of every packet
// in a block blob: timestamp in nanoseconds since the Unix epoch (int64),
// captured length (uint32) and original length (uint32), all little-endian.
const RecordHeaderLen = 16

// MaxCapLen bounds the captured length of one stored packet. It matches the
// largest snaplen libpcap accepts, so a damaged length field can never make a
// reader slice past a block.
const MaxCapLen = 262144

// ErrCorruptBlock reports a block blob whose records do not fit its bytes.
var ErrCorruptBlock = errors.New("corrupt block")

// Record is one stored packet. Data aliases the block it was read from: it is
// valid only until the callback that received it returns.
type Record struct {
	Number    int64 // 1-based packet number within the session
	Timestamp int64 // nanoseconds since the Unix epoch
	OrigLen   int   // length on the wire
	LinkType  uint32
	Interface int // the session's interface id (0 for live captures)
	Data      []byte
}

// Block is a run of consecutive packets of one session and one link type,
// laid out back to back behind RecordHeaderLen-byte headers. A Block is built
// by the capture or import path and handed whole to a Writer.
type Block struct {
	LinkType  uint32
	Interface int
	Count     int
	FirstTS   int64 // timestamp of the first packet
	LastTS    int64 // timestamp of the last packet
	MinTS     int64 // earliest timestamp in the block (times need not be in order)
	MaxTS     int64 // latest timestamp in the block
	WireBytes int64
	Data      []byte

	prep *prepared // PrepareBlock's work, if any (prepare.go)
}

// Reset empties b for reuse, keeping its buffer.
func (b *Block) Reset(linkType uint32) {
	b.LinkType = linkType
	b.Interface = 0
	b.Count = 0
	b.FirstTS = 0
	b.LastTS = 0
	b.MinTS = 0
	b.MaxTS = 0
	b.WireBytes = 0
	b.Data = b.Data[:0]
	if b.prep != nil {
		b.prep.valid = false
	}
}

// note counts one more packet with timestamp ts. Timestamps need not come
// in order (merged files, clock steps): the block keeps its minimum and
// maximum for selection by time.
func (b *Block) note(ts int64, origLen int) {
	if b.Count == 0 {
		b.FirstTS, b.MinTS, b.MaxTS = ts, ts, ts
	}
	b.LastTS = ts
	b.MinTS = min(b.MinTS, ts)
	b.MaxTS = max(b.MaxTS, ts)
	b.Count++
	b.WireBytes += int64(origLen)
}

// Append adds one packet. data is copied.
func (b *Block) Append(ts int64, origLen int, data []byte) {
	b.note(ts, origLen)
	var h [RecordHeaderLen]byte
	binary.LittleEndian.PutUint64(h[0:], uint64(ts))
	binary.LittleEndian.PutUint32(h[8:], uint32(len(data)))
	binary.LittleEndian.PutUint32(h[12:], uint32(origLen))
	b.Data = append(b.Data, h[:]...)
	b.Data = append(b.Data, data...)
}

// AppendHeader reserves room for one packet of capLen bytes and returns the
// slice the caller must fill. It lets a reader copy straight from a ring
// into the block without an intermediate buffer.
func (b *Block) AppendHeader(ts int64, capLen, origLen int) []byte {
	b.note(ts, origLen)
	n := len(b.Data)
	need := n + RecordHeaderLen + capLen
	if cap(b.Data) < need {
		grown := make([]byte, n, max(need, 2*cap(b.Data)))
		copy(grown, b.Data)
		b.Data = grown
	}
	b.Data = b.Data[:need]
	binary.LittleEndian.PutUint64(b.Data[n:], uint64(ts))
	binary.LittleEndian.PutUint32(b.Data[n+8:], uint32(capLen))
	binary.LittleEndian.PutUint32(b.Data[n+12:], uint32(origLen))
	return b.Data[n+RecordHeaderLen : need]
}

// WalkBlock calls fn for each record of a block blob. first is the packet
// number of the first record; linkType and iface are copied into every
// Record. It stops at the first error fn returns and
// reports ErrCorruptBlock if a header claims more bytes than remain.
func WalkBlock(blob []byte, first int64, linkType uint32, iface int, fn func(Record) error) error {
	n := first
	for off := 0; off < len(blob); {
		if len(blob)-off < RecordHeaderLen {
			return fmt.Errorf("packet %d: truncated header: %w", n, ErrCorruptBlock)
		}
		ts := int64(binary.LittleEndian.Uint64(blob[off:]))
		capLen := int(binary.LittleEndian.Uint32(blob[off+8:]))
		origLen := int(binary.LittleEndian.Uint32(blob[off+12:]))
		off += RecordHeaderLen
		if capLen > MaxCapLen || capLen > len(blob)-off {
			return fmt.Errorf("packet %d: captured length %d exceeds block: %w", n, capLen, ErrCorruptBlock)
		}
		rec := Record{Number: n, Timestamp: ts, OrigLen: origLen, LinkType: linkType, Interface: iface, Data: blob[off : off+capLen : off+capLen]}
		if err := fn(rec); err != nil {
			return err
		}
		off += capLen
		n++
	}
	return nil
}
