package pcapio

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

const writeBufferSize = 256 << 10

// ErrInvalidPacket is wrapped by writers when a packet cannot be stored in
// the file (wrong link type, unknown interface, timestamp out of range).
var ErrInvalidPacket = errors.New("invalid packet")

// PcapWriter writes a classic pcap file (version 2.4, little-endian) with
// one link type. Output is buffered: call Flush when done. It is not safe
// for concurrent use.
type PcapWriter struct {
	w        *bufio.Writer
	linkType uint32
	snaplen  uint32
	nano     bool
	hdr      [16]byte
}

// NewPcapWriter writes a pcap file header to w and returns a writer for
// packets of linkType. snaplen is recorded in the header and applied to
// packets (longer Data is cut; OrigLen is kept); 0 means 262144, the
// libpcap default. nano selects nanosecond rather than microsecond
// timestamps.
func NewPcapWriter(w io.Writer, linkType, snaplen uint32, nano bool) (*PcapWriter, error) {
	if linkType&^linkTypeMask != 0 || linkType&linkTypeReserved != 0 {
		return nil, fmt.Errorf("pcapio: link type %d out of range: %w", linkType, ErrInvalidPacket)
	}
	if snaplen == 0 {
		snaplen = 262144
	}
	pw := &PcapWriter{w: bufio.NewWriterSize(w, writeBufferSize), linkType: linkType, snaplen: snaplen, nano: nano}
	var h [24]byte
	magic := uint32(magicMicro)
	if nano {
		magic = magicNano
	}
	binary.LittleEndian.PutUint32(h[0:], magic)
	binary.LittleEndian.PutUint16(h[4:], 2)
	binary.LittleEndian.PutUint16(h[6:], 4)
	binary.LittleEndian.PutUint32(h[16:], snaplen)
	binary.LittleEndian.PutUint32(h[20:], linkType)
	if _, err := pw.w.Write(h[:]); err != nil {
		return nil, fmt.Errorf("pcapio: write pcap header: %w", err)
	}
	return pw, nil
}

// WritePacket appends one record. p.LinkType must equal the file's link
// type; p.Interface is ignored. The timestamp must lie between 1970 and
// 2106 (the 32-bit seconds field). OrigLen is written as given.
func (pw *PcapWriter) WritePacket(p Packet) error {
	if p.LinkType != pw.linkType {
		return fmt.Errorf("pcapio: packet link type %d in a pcap file of link type %d: %w", p.LinkType, pw.linkType, ErrInvalidPacket)
	}
	if p.Timestamp < 0 || p.Timestamp/1e9 > math.MaxUint32 {
		return fmt.Errorf("pcapio: timestamp %d out of pcap range: %w", p.Timestamp, ErrInvalidPacket)
	}
	data := p.Data
	if uint64(len(data)) > uint64(pw.snaplen) {
		data = data[:pw.snaplen]
	}
	orig := p.OrigLen
	if orig < 0 || uint64(orig) > math.MaxUint32 {
		return fmt.Errorf("pcapio: original length %d out of range: %w", orig, ErrInvalidPacket)
	}
	sub := p.Timestamp % 1e9
	if !pw.nano {
		sub /= 1e3
	}
	h := pw.hdr[:]
	binary.LittleEndian.PutUint32(h[0:], uint32(p.Timestamp/1e9))
	binary.LittleEndian.PutUint32(h[4:], uint32(sub))
	binary.LittleEndian.PutUint32(h[8:], uint32(len(data)))
	binary.LittleEndian.PutUint32(h[12:], uint32(orig))
	if _, err := pw.w.Write(h); err != nil {
		return fmt.Errorf("pcapio: write record: %w", err)
	}
	if _, err := pw.w.Write(data); err != nil {
		return fmt.Errorf("pcapio: write record: %w", err)
	}
	return nil
}

// Flush writes buffered data to the underlying writer.
func (pw *PcapWriter) Flush() error {
	if err := pw.w.Flush(); err != nil {
		return fmt.Errorf("pcapio: flush: %w", err)
	}
	return nil
}
