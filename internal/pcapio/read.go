package pcapio

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"math/bits"
	"time"
)

// DefaultMaxRecordLen is the default limit on a pcap record's captured
// length and on a pcapng block's length.
const DefaultMaxRecordLen = 256 << 20

// ReaderConfig configures a Reader. The zero value means defaults.
type ReaderConfig struct {
	// MaxRecordLen bounds the captured length of a pcap record and the
	// total length of a pcapng block. 0 means DefaultMaxRecordLen.
	MaxRecordLen int
	// BufferSize is the size of the read buffer; 0 means 256 KiB.
	BufferSize int
	// KeepOversized returns all bytes of records whose captured length
	// exceeds the snapshot length of their file (pcap) or interface
	// (pcapng). By default such records are cut to the snapshot length,
	// as libpcap does.
	KeepOversized bool
}

// Reader reads packets from a pcap or pcapng stream. It is not safe for
// concurrent use.
type Reader struct {
	br       *bufio.Reader
	maxLen   int
	keepOver bool
	format   Format
	order    binary.ByteOrder
	off      int64 // offset of the next unread byte
	npkt     int   // packets returned so far
	err      error // sticky
	buf      []byte
	hdr      [24]byte

	// pcap
	nano     bool
	recHdr   int // 16, or 24 for the modified (Kuznetzov) format
	linkType uint32
	snaplen  uint32

	// pcapng
	sections []Section
	ifaces   []Interface
	ts       []tsConv // parallel to ifaces
}

const (
	magicMicro         = 0xa1b2c3d4
	magicNano          = 0xa1b23c4d
	magicModified      = 0xa1b2cd34
	blockSHB           = 0x0a0d0d0a
	blockIDB           = 1
	blockPB            = 2 // obsolete Packet Block
	blockSPB           = 3
	blockNRB           = 4
	blockISB           = 5
	blockEPB           = 6
	byteOrderMagic     = 0x1a2b3c4d
	optEndOfOpt        = 0
	optComment         = 1
	linkTypeMask       = 0x03ffffff
	linkTypeReserved   = 0x03ff0000
	linkTypeFCSPresent = 0x04000000
	readChunk          = 1 << 20
)

// NewReader detects the format of r from its first bytes and reads the
// file header (pcap) or first Section Header Block (pcapng).
func NewReader(r io.Reader) (*Reader, error) {
	return NewReaderConfig(r, ReaderConfig{})
}

// NewReaderConfig is NewReader with a configuration.
func NewReaderConfig(r io.Reader, cfg ReaderConfig) (*Reader, error) {
	if cfg.MaxRecordLen <= 0 {
		cfg.MaxRecordLen = DefaultMaxRecordLen
	}
	if cfg.BufferSize <= 0 {
		cfg.BufferSize = 256 << 10
	}
	rd := &Reader{br: bufio.NewReaderSize(r, cfg.BufferSize), maxLen: cfg.MaxRecordLen, keepOver: cfg.KeepOversized}
	magic, err := rd.br.Peek(4)
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, rd.errf(0, err, "reading file header: %v", err)
	}
	switch {
	case binary.LittleEndian.Uint32(magic) == blockSHB:
		rd.format = FormatPcapng
		if _, err := rd.nextBlock(true); err != nil {
			return nil, err
		}
	default:
		if err := rd.readPcapHeader(); err != nil {
			return nil, err
		}
	}
	return rd, nil
}

// Format reports whether the file is pcap or pcapng.
func (r *Reader) Format() Format { return r.format }

// Interfaces returns the interfaces read so far: the one of a pcap file,
// or every pcapng Interface Description Block of every section read so far
// (a pcapng file may add interfaces later in the file). The slice is owned
// by the Reader and grows as Next reads on.
func (r *Reader) Interfaces() []Interface { return r.ifaces }

// Sections returns the pcapng sections read so far (nil for pcap).
func (r *Reader) Sections() []Section { return r.sections }

// LinkType returns the link type of the first interface, or 0 when the
// file has none yet.
func (r *Reader) LinkType() uint32 {
	if len(r.ifaces) == 0 {
		return 0
	}
	return r.ifaces[0].LinkType
}

// Next returns the next packet, or io.EOF after the last one. Packet.Data
// (and only Data) points into a buffer owned by the Reader that the next
// call overwrites: copy it (bytes.Clone) to keep it. After an error other
// than io.EOF, Next keeps returning that error.
func (r *Reader) Next() (Packet, error) {
	if r.err != nil {
		return Packet{}, r.err
	}
	var p Packet
	var err error
	if r.format == FormatPcap {
		p, err = r.nextPcap()
	} else {
		p, err = r.nextBlock(false)
	}
	if err != nil {
		r.err = err
		return Packet{}, err
	}
	r.npkt++
	return p, nil
}

func (r *Reader) errf(off int64, err error, format string, args ...any) error {
	pkt := 0
	if r.format != 0 && off > 0 {
		pkt = r.npkt + 1
	}
	return &ParseError{Packet: pkt, Offset: off, Msg: fmt.Sprintf(format, args...), Err: err}
}

// readFull reads n bytes into dst, counting the offset. io.EOF is returned
// only when no byte at all was available.
func (r *Reader) readFull(dst []byte) (int, error) {
	n, err := io.ReadFull(r.br, dst)
	r.off += int64(n)
	return n, err
}

// readBody reads n bytes into r.buf without trusting n: beyond readChunk
// the buffer grows only as the data actually arrives, so a length field
// claiming more than the file holds costs at most about twice the file.
func (r *Reader) readBody(n int) ([]byte, error) {
	if n <= cap(r.buf) || n <= readChunk {
		if n > cap(r.buf) {
			r.buf = make([]byte, n)
		}
		b := r.buf[:n]
		got, err := r.readFull(b)
		if err != nil {
			return b[:got], err
		}
		return b, nil
	}
	b := r.buf[:0]
	for len(b) < n {
		step := min(n-len(b), max(len(b), readChunk))
		old := len(b)
		if cap(b)-old < step {
			nb := make([]byte, old, old+step)
			copy(nb, b)
			b = nb
		}
		b = b[:old+step]
		got, err := r.readFull(b[old:])
		if err != nil {
			r.buf = b[:0]
			return b[:old+got], err
		}
	}
	r.buf = b[:0]
	return b, nil
}

func (r *Reader) readPcapHeader() error {
	h := r.hdr[:24]
	if n, err := r.readFull(h); err != nil {
		return r.errf(0, io.ErrUnexpectedEOF, "truncated pcap file header: got %d of 24 bytes", n)
	}
	switch {
	case binary.LittleEndian.Uint32(h) == magicMicro || binary.LittleEndian.Uint32(h) == magicNano || binary.LittleEndian.Uint32(h) == magicModified:
		r.order = binary.LittleEndian
	case binary.BigEndian.Uint32(h) == magicMicro || binary.BigEndian.Uint32(h) == magicNano || binary.BigEndian.Uint32(h) == magicModified:
		r.order = binary.BigEndian
	default:
		return r.errf(0, ErrUnknownFormat, "unknown magic number 0x%08x: %v", binary.BigEndian.Uint32(h), ErrUnknownFormat)
	}
	r.format = FormatPcap
	magic := r.order.Uint32(h)
	r.nano = magic == magicNano
	r.recHdr = 16
	if magic == magicModified {
		r.recHdr = 24
	}
	major, minor := r.order.Uint16(h[4:]), r.order.Uint16(h[6:])
	if major != 2 {
		return r.errf(0, ErrUnsupportedVersion, "pcap version %d.%d: %v", major, minor, ErrUnsupportedVersion)
	}
	snaplen := r.order.Uint32(h[16:])
	r.snaplen = snaplen
	lt := r.order.Uint32(h[20:])
	if lt&linkTypeReserved != 0 {
		return r.errf(0, ErrMalformed, "link-type field 0x%08x has reserved bits 16-25 set: %v", lt, ErrMalformed)
	}
	fcs := -1
	if lt&linkTypeFCSPresent != 0 {
		fcs = int(lt>>28) * 2
	}
	r.linkType = lt & linkTypeMask & 0xffff
	res := uint8(6)
	if r.nano {
		res = 9
	}
	r.ifaces = []Interface{{LinkType: r.linkType, Snaplen: snaplen, TsResol: res, FCSLen: fcs}}
	return nil
}

func (r *Reader) nextPcap() (Packet, error) {
	start := r.off
	h := r.hdr[:r.recHdr]
	if n, err := r.readFull(h); err != nil {
		if n == 0 && errors.Is(err, io.EOF) {
			return Packet{}, io.EOF
		}
		return Packet{}, r.errf(start, io.ErrUnexpectedEOF, "truncated record header: got %d of %d bytes", n, len(h))
	}
	sec, sub := r.order.Uint32(h), r.order.Uint32(h[4:])
	caplen, orig := r.order.Uint32(h[8:]), r.order.Uint32(h[12:])
	if uint64(caplen) > uint64(r.maxLen) {
		return Packet{}, r.errf(start, ErrTooLarge, "record length %d exceeds limit %d", caplen, r.maxLen)
	}
	keep := caplen
	if r.snaplen != 0 && caplen > r.snaplen && !r.keepOver {
		keep = r.snaplen
	}
	data, err := r.readBody(int(keep))
	got := len(data)
	if err == nil && keep < caplen {
		var n int
		n, err = r.br.Discard(int(caplen - keep))
		r.off += int64(n)
		got += n
	}
	if err != nil {
		return Packet{}, r.errf(start, unexpected(err), "truncated record: got %d of %d bytes", got, caplen)
	}
	ns := int64(sec) * 1e9
	if r.nano {
		ns += int64(sub)
	} else {
		ns += int64(sub) * 1e3
	}
	return Packet{Timestamp: ns, OrigLen: int(orig), LinkType: r.linkType, Data: data}, nil
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// tsConv converts pcapng timestamps of one interface to nanoseconds.
type tsConv struct {
	perSec uint64 // units per second
	offset int64  // if_tsoffset, seconds
}

func newTsConv(resol uint8, offset int64) (tsConv, bool) {
	n := uint(resol & 0x7f)
	if resol&0x80 != 0 {
		if n > 63 {
			return tsConv{}, false
		}
		return tsConv{perSec: 1 << n, offset: offset}, true
	}
	if n > 19 {
		return tsConv{}, false
	}
	p := uint64(1)
	for range n {
		p *= 10
	}
	return tsConv{perSec: p, offset: offset}, true
}

// Timestamps are int64 nanoseconds since the Unix epoch, which reach from
// 1677-09-21 00:12:43.145224192 to 2262-04-11 23:47:16.854775807 UTC.
const (
	maxSec  = math.MaxInt64 / 1_000_000_000 // 9223372036
	maxFrac = math.MaxInt64 % 1_000_000_000 // 854775807
)

// toNanos converts a timestamp in units to ns since the epoch, exactly; ok
// is false when the time lies outside the int64 range.
func (c tsConv) toNanos(units uint64) (ns int64, ok bool) {
	sec, frac := c.split(units)
	s, ok := c.addOffset(sec)
	if !ok {
		return 0, false
	}
	f := int64(frac)
	switch {
	case s > maxSec, s == maxSec && f > maxFrac:
		return 0, false
	case s < -maxSec-1, s == -maxSec-1 && f < 1e9-maxFrac-1:
		return 0, false
	}
	return s*1e9 + f, true
}

// split returns the whole seconds and the nanoseconds of units.
func (c tsConv) split(units uint64) (sec, frac uint64) {
	switch c.perSec {
	case 1e9:
		return units / 1e9, units % 1e9
	case 1e6:
		return units / 1e6, (units % 1e6) * 1e3
	}
	hi, lo := bits.Mul64(units%c.perSec, 1e9)
	frac, _ = bits.Div64(hi, lo, c.perSec)
	return units / c.perSec, frac
}

// addOffset returns sec + the if_tsoffset seconds, ok false when the sum
// is beyond what toNanos can store (it lets one second past either end
// through, for toNanos to decide with the fraction).
func (c tsConv) addOffset(sec uint64) (int64, bool) {
	const limit = maxSec + 1
	if c.offset >= 0 {
		if sec > limit || int64(sec) > limit-c.offset {
			return 0, false
		}
		return int64(sec) + c.offset, true
	}
	neg := uint64(-(c.offset + 1)) + 1 // -offset, also for math.MinInt64
	if sec >= neg {
		if sec-neg > limit {
			return 0, false
		}
		return int64(sec - neg), true
	}
	if neg-sec > limit {
		return 0, false
	}
	return -int64(neg - sec), true
}

// rangeMsg describes a timestamp of units that toNanos refused, for an
// error message: the time it means and the limit it passes.
func (c tsConv) rangeMsg(what string, units uint64) string {
	sec, frac := c.split(units)
	t := new(big.Int).SetUint64(sec)
	t.Add(t, big.NewInt(c.offset))
	when := t.String() + " s after 1970" // beyond what time.Time prints well
	if t.IsInt64() && t.Int64() > -1<<50 && t.Int64() < 1<<50 {
		when = time.Unix(t.Int64(), int64(frac)).UTC().Format("2006-01-02 15:04:05.000000000 UTC")
	}
	if t.Sign() < 0 {
		return fmt.Sprintf("%s %s is before what can be stored (int64 nanoseconds since 1970 start at 1677-09-21 00:12:43.145224192 UTC)", what, when)
	}
	return fmt.Sprintf("%s %s is beyond what can be stored (int64 nanoseconds since 1970 end at 2262-04-11 23:47:16.854775807 UTC)", what, when)
}

// fromNanos converts ns since the epoch to units; ok is false when ns is
// negative or does not fit in 64 bits of units.
func (c tsConv) fromNanos(ns int64) (uint64, bool) {
	ns -= c.offset * 1e9
	if ns < 0 {
		return 0, false
	}
	switch c.perSec {
	case 1e9:
		return uint64(ns), true
	case 1e6:
		return uint64(ns) / 1e3, true
	}
	sec, frac := uint64(ns)/1e9, uint64(ns)%1e9
	hi, lo := bits.Mul64(sec, c.perSec)
	if hi != 0 {
		return 0, false
	}
	fh, fl := bits.Mul64(frac, c.perSec)
	f, _ := bits.Div64(fh, fl, 1e9)
	u, carry := bits.Add64(lo, f, 0)
	return u, carry == 0
}
