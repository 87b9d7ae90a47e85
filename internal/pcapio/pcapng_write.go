package pcapio

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"unicode/utf8"
)

// PcapngConfig describes the section a PcapngWriter starts. The zero value
// writes a Section Header Block without options.
type PcapngConfig struct {
	// Comment is written as the section's first opt_comment, then each of
	// Comments as an opt_comment of its own (readers list them one by one:
	// capinfos prints a "Capture comment" line for each). Hardware, OS and
	// UserAppl are written as shb_hardware, shb_os and shb_userappl. Empty
	// strings are left out; strings longer than 65535 bytes are cut.
	Comment                string
	Comments               []string
	Hardware, OS, UserAppl string
}

// PcapngWriter writes a little-endian pcapng file with one section.
// Output is buffered: call Flush when done. It is not safe for concurrent
// use.
type PcapngWriter struct {
	w        *bufio.Writer
	ifaces   []Interface
	ts       []tsConv
	scratch  [32]byte
	blockHdr [8]byte
	opts     []byte // reused option encoding buffer
}

// NewPcapngWriter writes a Section Header Block to w.
func NewPcapngWriter(w io.Writer, cfg PcapngConfig) (*PcapngWriter, error) {
	pw := &PcapngWriter{w: bufio.NewWriterSize(w, writeBufferSize)}
	o := pw.opts[:0]
	o = appendStrOpt(o, optComment, cfg.Comment)
	for _, c := range cfg.Comments {
		o = appendStrOpt(o, optComment, c)
	}
	o = appendStrOpt(o, 2, cfg.Hardware)
	o = appendStrOpt(o, 3, cfg.OS)
	o = appendStrOpt(o, 4, cfg.UserAppl)
	o = endOpts(o)
	var body [16]byte
	binary.LittleEndian.PutUint32(body[0:], byteOrderMagic)
	binary.LittleEndian.PutUint16(body[4:], 1)
	binary.LittleEndian.PutUint16(body[6:], 0)
	binary.LittleEndian.PutUint64(body[8:], math.MaxUint64) // section length unknown
	if err := pw.block(blockSHB, body[:], nil, o); err != nil {
		return nil, fmt.Errorf("pcapio: write section header: %w", err)
	}
	pw.opts = o[:0]
	return pw, nil
}

// AddInterface writes an Interface Description Block and returns the index
// that packets for it must carry in Packet.Interface. Of intf, LinkType,
// Snaplen (0: no limit), Name, Description, OS, Filter, Comments, TsResol
// (0: nanoseconds), TsOffset and FCSLen (-1 or 0: not written) are used.
func (pw *PcapngWriter) AddInterface(intf Interface) (int, error) {
	if intf.LinkType > 0xffff {
		return 0, fmt.Errorf("pcapio: link type %d does not fit pcapng: %w", intf.LinkType, ErrInvalidPacket)
	}
	if intf.TsResol == 0 {
		intf.TsResol = 9
	}
	c, ok := newTsConv(intf.TsResol, intf.TsOffset)
	if !ok {
		return 0, fmt.Errorf("pcapio: unsupported if_tsresol 0x%02x: %w", intf.TsResol, ErrInvalidPacket)
	}
	o := pw.opts[:0]
	for _, cm := range intf.Comments {
		o = appendStrOpt(o, optComment, cm)
	}
	o = appendStrOpt(o, 2, intf.Name)
	o = appendStrOpt(o, 3, intf.Description)
	if intf.TsResol != 6 {
		o = appendOpt(o, 9, []byte{intf.TsResol})
	}
	if intf.Filter != "" {
		o = appendOpt(o, 11, append([]byte{0}, intf.Filter...))
	}
	o = appendStrOpt(o, 12, intf.OS)
	if intf.FCSLen > 0 && intf.FCSLen < 256 {
		o = appendOpt(o, 13, []byte{byte(intf.FCSLen)})
	}
	if intf.TsOffset != 0 {
		o = appendOpt(o, 14, binary.LittleEndian.AppendUint64(nil, uint64(intf.TsOffset)))
	}
	o = endOpts(o)
	var body [8]byte
	binary.LittleEndian.PutUint16(body[0:], uint16(intf.LinkType))
	binary.LittleEndian.PutUint32(body[4:], intf.Snaplen)
	err := pw.block(blockIDB, body[:], nil, o)
	pw.opts = o[:0]
	if err != nil {
		return 0, fmt.Errorf("pcapio: write interface description: %w", err)
	}
	intf.Stats = nil
	pw.ifaces = append(pw.ifaces, intf)
	pw.ts = append(pw.ts, c)
	return len(pw.ifaces) - 1, nil
}

// Interfaces returns the interfaces added so far.
func (pw *PcapngWriter) Interfaces() []Interface { return pw.ifaces }

// WritePacket writes an Enhanced Packet Block for p.Interface. p.LinkType
// must be that interface's link type. Data longer than the interface's
// snaplen is cut; OrigLen is written as given. Each non-empty string of
// p.Comments becomes an opt_comment option of the EPB, in order, and a
// non-zero p.Flags its epb_flags; without either the EPB has no options
// and writing it allocates nothing.
func (pw *PcapngWriter) WritePacket(p Packet) error {
	if p.Interface < 0 || p.Interface >= len(pw.ifaces) {
		return fmt.Errorf("pcapio: packet for undefined interface %d: %w", p.Interface, ErrInvalidPacket)
	}
	in := &pw.ifaces[p.Interface]
	if p.LinkType != in.LinkType {
		return fmt.Errorf("pcapio: packet link type %d on interface %d of link type %d: %w", p.LinkType, p.Interface, in.LinkType, ErrInvalidPacket)
	}
	units, ok := pw.ts[p.Interface].fromNanos(p.Timestamp)
	if !ok {
		return fmt.Errorf("pcapio: timestamp %d out of range: %w", p.Timestamp, ErrInvalidPacket)
	}
	data := p.Data
	if in.Snaplen != 0 && uint64(len(data)) > uint64(in.Snaplen) {
		data = data[:in.Snaplen]
	}
	orig := p.OrigLen
	if orig < 0 || uint64(orig) > math.MaxUint32 || uint64(len(data)) > math.MaxUint32-64 {
		return fmt.Errorf("pcapio: packet length %d/%d out of range: %w", len(data), orig, ErrInvalidPacket)
	}
	var o []byte
	if len(p.Comments) > 0 || p.Flags != 0 {
		o = pw.opts[:0]
		for _, c := range p.Comments {
			o = appendStrOpt(o, optComment, c)
		}
		if p.Flags != 0 {
			o = appendOpt(o, 2, binary.LittleEndian.AppendUint32(pw.scratch[28:28], p.Flags))
		}
		o = endOpts(o)
	}
	h := pw.scratch[:20]
	binary.LittleEndian.PutUint32(h[0:], uint32(p.Interface))
	binary.LittleEndian.PutUint32(h[4:], uint32(units>>32))
	binary.LittleEndian.PutUint32(h[8:], uint32(units))
	binary.LittleEndian.PutUint32(h[12:], uint32(len(data)))
	binary.LittleEndian.PutUint32(h[16:], uint32(orig))
	err := pw.block(blockEPB, h, data, o)
	if o != nil {
		pw.opts = o[:0]
	}
	if err != nil {
		return fmt.Errorf("pcapio: write packet: %w", err)
	}
	return nil
}

// WriteStats writes an Interface Statistics Block for interface iface with
// the counters named in st.Has, st.Timestamp and st.Comments.
func (pw *PcapngWriter) WriteStats(iface int, st InterfaceStats) error {
	if iface < 0 || iface >= len(pw.ifaces) {
		return fmt.Errorf("pcapio: statistics for undefined interface %d: %w", iface, ErrInvalidPacket)
	}
	c := pw.ts[iface]
	units := func(ns int64) ([]byte, error) {
		u, ok := c.fromNanos(ns)
		if !ok {
			return nil, fmt.Errorf("pcapio: statistics timestamp %d out of range: %w", ns, ErrInvalidPacket)
		}
		b := binary.LittleEndian.AppendUint32(nil, uint32(u>>32))
		return binary.LittleEndian.AppendUint32(b, uint32(u)), nil
	}
	o := pw.opts[:0]
	for _, cm := range st.Comments {
		o = appendStrOpt(o, optComment, cm)
	}
	for _, t := range []struct {
		f    StatField
		code uint16
		ns   int64
	}{{StatStartTime, 2, st.StartTime}, {StatEndTime, 3, st.EndTime}} {
		if st.Has&t.f != 0 {
			b, err := units(t.ns)
			if err != nil {
				return err
			}
			o = appendOpt(o, t.code, b)
		}
	}
	for _, v := range []struct {
		f    StatField
		code uint16
		v    uint64
	}{{StatReceived, 4, st.Received}, {StatDropped, 5, st.Dropped}, {StatFilterAccepted, 6, st.FilterAccepted},
		{StatOSDropped, 7, st.OSDropped}, {StatDelivered, 8, st.Delivered}} {
		if st.Has&v.f != 0 {
			o = appendOpt(o, v.code, binary.LittleEndian.AppendUint64(nil, v.v))
		}
	}
	o = endOpts(o)
	ts, err := units(st.Timestamp)
	if err != nil {
		return err
	}
	body := binary.LittleEndian.AppendUint32(nil, uint32(iface))
	body = append(body, ts...)
	err = pw.block(blockISB, body, nil, o)
	pw.opts = o[:0]
	if err != nil {
		return fmt.Errorf("pcapio: write interface statistics: %w", err)
	}
	return nil
}

// Flush writes buffered data to the underlying writer.
func (pw *PcapngWriter) Flush() error {
	if err := pw.w.Flush(); err != nil {
		return fmt.Errorf("pcapio: flush: %w", err)
	}
	return nil
}

var zeroPad [4]byte

// block writes one block: type, length, fixed fields, data padded to 4
// bytes, options (already padded) and the trailing length.
func (pw *PcapngWriter) block(typ uint32, fixed, data, opts []byte) error {
	pad := (4 - len(data)%4) % 4
	total := 12 + len(fixed) + len(data) + pad + len(opts)
	h := pw.blockHdr[:]
	binary.LittleEndian.PutUint32(h[0:], typ)
	binary.LittleEndian.PutUint32(h[4:], uint32(total))
	w := pw.w
	if _, err := w.Write(h); err != nil {
		return err
	}
	if _, err := w.Write(fixed); err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		return err
	}
	if _, err := w.Write(zeroPad[:pad]); err != nil {
		return err
	}
	if _, err := w.Write(opts); err != nil {
		return err
	}
	_, err := w.Write(h[4:8])
	return err
}

func appendOpt(o []byte, code uint16, val []byte) []byte {
	o = binary.LittleEndian.AppendUint16(o, code)
	o = binary.LittleEndian.AppendUint16(o, uint16(len(val)))
	o = append(o, val...)
	return append(o, zeroPad[:(4-len(val)%4)%4]...)
}

func appendStrOpt(o []byte, code uint16, s string) []byte {
	if s == "" {
		return o
	}
	if len(s) > math.MaxUint16 {
		// Cut at a character boundary, so the text stays valid UTF-8.
		n := math.MaxUint16
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s = s[:n]
	}
	o = binary.LittleEndian.AppendUint16(o, code)
	o = binary.LittleEndian.AppendUint16(o, uint16(len(s)))
	o = append(o, s...)
	return append(o, zeroPad[:(4-len(s)%4)%4]...)
}

// endOpts terminates a non-empty option list with opt_endofopt.
func endOpts(o []byte) []byte {
	if len(o) == 0 {
		return o
	}
	return append(o, 0, 0, 0, 0)
}
