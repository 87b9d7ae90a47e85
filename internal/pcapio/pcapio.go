// Package pcapio reads and writes capture files in the pcap and pcapng
// formats over plain io.Reader and io.Writer values.
//
// Reading: NewReader looks at the first bytes and picks the format (pcap
// with micro- or nanosecond timestamps in either byte order, or pcapng with
// any number of sections, interfaces and link types). Next then returns one
// Packet at a time, skipping the blocks that carry no packet (name
// resolution, statistics, decryption secrets, custom and unknown blocks)
// after recording what the caller may want from them (interface names,
// comments, statistics). Every length read from the file is checked against
// a limit and against the bytes actually present before memory is committed
// to it, so a damaged or hostile file yields an error naming the packet and
// byte offset, never a panic or a huge allocation.
//
// Writing: PcapWriter writes classic pcap with one link type; PcapngWriter
// writes pcapng with a section header, any number of interfaces, enhanced
// packet blocks with comments and flags, and interface statistics.
//
// Neither readers nor writers allocate per packet in the steady state: a
// Reader returns Data in a buffer it reuses (see Reader.Next), and writers
// encode headers into a scratch array in front of a bufio.Writer. The one
// exception is a packet with comments, whose strings a Reader allocates
// for the caller to keep.
package pcapio

import (
	"errors"
	"fmt"
)

// Packet is one captured packet.
type Packet struct {
	// Timestamp is the capture time in nanoseconds since the Unix epoch.
	// Packets from pcapng Simple Packet Blocks carry no time and have 0.
	// A pcapng time this cannot hold (after 2262-04-11) is a read error
	// wrapping ErrTimestampRange, not a clamped value.
	Timestamp int64
	// OrigLen is the length of the packet on the wire; len(Data) is the
	// captured length. Files may hold records with len(Data) > OrigLen;
	// they are returned as they are.
	OrigLen int
	// LinkType is the pcap LINKTYPE_ value of the packet's interface.
	LinkType uint32
	// Interface indexes Reader.Interfaces (0 for pcap files). For pcapng,
	// indexes run over all sections of the file in order.
	Interface int
	// Flags holds the pcapng epb_flags option (direction, reception type,
	// FCS length), 0 when absent.
	Flags uint32
	// Comments holds the opt_comment options of a pcapng Enhanced Packet
	// Block (or obsolete Packet Block) in file order, nil when there are
	// none and for pcap files. Unlike Data, the slice and its strings are
	// allocated for each packet and never reused by the Reader: callers
	// may keep them. PcapngWriter writes each as an opt_comment option of
	// the packet's block; PcapWriter ignores them (pcap has no place).
	Comments []string
	// Data holds the captured bytes.
	Data []byte
}

// Interface describes a capture interface: the single link type of a pcap
// file, or one pcapng Interface Description Block.
type Interface struct {
	LinkType uint32
	// Snaplen is the maximum captured length; 0 means no limit.
	Snaplen uint32
	// Name, Description, OS and Filter are the if_name, if_description,
	// if_os and if_filter options.
	Name, Description, OS, Filter string
	// Comments holds the block's opt_comment options.
	Comments []string
	// TsResol is the raw if_tsresol value: bit 7 clear means 10^-n
	// seconds, set means 2^-n seconds. 6 (microseconds) when absent in a
	// pcapng file; 6 or 9 for pcap. Writers treat 0 as 9 (nanoseconds).
	TsResol uint8
	// TsOffset is the if_tsoffset option in seconds, added to timestamps.
	TsOffset int64
	// FCSLen is the number of FCS bytes at the end of each packet, -1 when
	// unknown (pcap link-type field bits 26-31, pcapng if_fcslen).
	FCSLen int
	// Section is the index of the pcapng section the interface belongs
	// to (0 for pcap).
	Section int
	// Stats holds the last Interface Statistics Block read for this
	// interface, nil if none.
	Stats *InterfaceStats
}

// StatField records which counters of an InterfaceStats are present.
type StatField uint8

const (
	StatReceived StatField = 1 << iota
	StatDropped
	StatFilterAccepted
	StatOSDropped
	StatDelivered
	StatStartTime
	StatEndTime
)

// InterfaceStats are the counters of a pcapng Interface Statistics Block.
// Only the counters named in Has are meaningful.
type InterfaceStats struct {
	Timestamp          int64 // ns since the epoch
	StartTime, EndTime int64 // ns since the epoch (isb_starttime, isb_endtime)
	Received           uint64
	Dropped            uint64 // isb_ifdrop: dropped by the interface
	FilterAccepted     uint64
	OSDropped          uint64
	Delivered          uint64
	Comments           []string
	Has                StatField
}

// Section describes a pcapng Section Header Block.
type Section struct {
	BigEndian    bool
	Major, Minor uint16
	// Hardware, OS and UserAppl are the shb_hardware, shb_os and
	// shb_userappl options.
	Hardware, OS, UserAppl string
	Comments               []string
	// FirstInterface is the index into Reader.Interfaces of the section's
	// interface 0.
	FirstInterface int
}

// Format is a capture file format.
type Format int

const (
	FormatPcap Format = iota + 1
	FormatPcapng
)

func (f Format) String() string {
	switch f {
	case FormatPcap:
		return "pcap"
	case FormatPcapng:
		return "pcapng"
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// Errors that reading may wrap in a *ParseError; test with errors.Is.
var (
	// ErrUnknownFormat: the file starts with neither a pcap magic number
	// nor a pcapng Section Header Block.
	ErrUnknownFormat = errors.New("not a pcap or pcapng file")
	// ErrUnsupportedVersion: the header names a version this package
	// (like libpcap) does not read.
	ErrUnsupportedVersion = errors.New("unsupported version")
	// ErrTooLarge: a record or block claims more bytes than the limit.
	ErrTooLarge = errors.New("exceeds limit")
	// ErrMalformed: a header field is inconsistent.
	ErrMalformed = errors.New("malformed")
	// ErrTimestampRange: a pcapng timestamp (64 bits of if_tsresol units,
	// plus if_tsoffset) lies outside what Packet.Timestamp can hold: int64
	// nanoseconds since 1970 end on 2262-04-11 23:47:16.854775807 UTC and
	// start on 1677-09-21. Classic pcap timestamps always fit.
	ErrTimestampRange = errors.New("timestamp out of range")
)

// ParseError reports where in the file reading failed.
type ParseError struct {
	// Packet is the 1-based number of the packet being read, 0 while
	// reading the file header.
	Packet int
	// Offset is the byte offset of the record or block that failed.
	Offset int64
	Msg    string
	// Err is one of the Err* sentinels, io.ErrUnexpectedEOF, or an error
	// from the underlying reader.
	Err error
}

func (e *ParseError) Error() string {
	if e.Packet > 0 {
		return fmt.Sprintf("pcapio: packet %d at offset %d: %s", e.Packet, e.Offset, e.Msg)
	}
	return fmt.Sprintf("pcapio: at offset %d: %s", e.Offset, e.Msg)
}

func (e *ParseError) Unwrap() error { return e.Err }

// PacketReader is the reading side of a capture: *Reader implements it, and
// so can live capture sources and test slices.
type PacketReader interface {
	// Next returns the next packet or io.EOF at the end.
	Next() (Packet, error)
}

// PacketWriter is the writing side of a capture file.
type PacketWriter interface {
	WritePacket(Packet) error
	Flush() error
}

var (
	_ PacketReader = (*Reader)(nil)
	_ PacketWriter = (*PcapWriter)(nil)
	_ PacketWriter = (*PcapngWriter)(nil)
)
