package pcapio

import (
	"encoding/binary"
	"errors"
	"io"
)

// nextBlock reads pcapng blocks until one carries a packet. With first set
// it reads exactly one block, which must be a Section Header Block.
func (r *Reader) nextBlock(first bool) (Packet, error) {
	for {
		start := r.off
		h := r.hdr[:8]
		if n, err := r.readFull(h); err != nil {
			if n == 0 && errors.Is(err, io.EOF) && !first {
				return Packet{}, io.EOF
			}
			return Packet{}, r.errf(start, io.ErrUnexpectedEOF, "truncated block header: got %d of 8 bytes", n)
		}
		typ := binary.LittleEndian.Uint32(h) // SHB's type reads the same in both orders
		hdrLen := 8
		if typ == blockSHB {
			if n, err := r.readFull(r.hdr[8:12]); err != nil {
				return Packet{}, r.errf(start, io.ErrUnexpectedEOF, "truncated section header: got %d of 12 bytes", 8+n)
			}
			hdrLen = 12
			switch binary.LittleEndian.Uint32(r.hdr[8:]) {
			case byteOrderMagic:
				r.order = binary.LittleEndian
			case 0x4d3c2b1a:
				r.order = binary.BigEndian
			default:
				return Packet{}, r.errf(start, ErrMalformed, "section header byte-order magic 0x%08x: %v", binary.LittleEndian.Uint32(r.hdr[8:]), ErrMalformed)
			}
		} else if first {
			return Packet{}, r.errf(start, ErrUnknownFormat, "first block type 0x%08x is not a section header: %v", typ, ErrUnknownFormat)
		} else {
			typ = r.order.Uint32(h)
		}
		blen := r.order.Uint32(h[4:])
		switch {
		case blen < 12 || (typ == blockSHB && blen < 28):
			return Packet{}, r.errf(start, ErrMalformed, "block type 0x%08x length %d too short: %v", typ, blen, ErrMalformed)
		case blen%4 != 0:
			return Packet{}, r.errf(start, ErrMalformed, "block type 0x%08x length %d not a multiple of 4: %v", typ, blen, ErrMalformed)
		case uint64(blen) > uint64(r.maxLen):
			return Packet{}, r.errf(start, ErrTooLarge, "block length %d exceeds limit %d", blen, r.maxLen)
		}
		b, err := r.readBody(int(blen) - hdrLen)
		if err != nil {
			return Packet{}, r.errf(start, unexpected(err), "truncated block type 0x%08x: got %d of %d bytes", typ, hdrLen+len(b), blen)
		}
		if trailer := r.order.Uint32(b[len(b)-4:]); trailer != blen {
			return Packet{}, r.errf(start, ErrMalformed, "block total length in header (%d) and trailer (%d) differ: %v", blen, trailer, ErrMalformed)
		}
		body := b[:len(b)-4]
		if typ != blockSHB && len(r.sections) == 0 {
			return Packet{}, r.errf(start, ErrMalformed, "block before the first section header: %v", ErrMalformed)
		}
		switch typ {
		case blockSHB:
			if err := r.readSHB(start, body); err != nil {
				return Packet{}, err
			}
			if first {
				return Packet{}, nil
			}
		case blockIDB:
			if err := r.readIDB(start, body); err != nil {
				return Packet{}, err
			}
		case blockEPB:
			return r.readEPB(start, body, false)
		case blockPB:
			return r.readEPB(start, body, true)
		case blockSPB:
			return r.readSPB(start, body)
		case blockISB:
			if err := r.readISB(start, body); err != nil {
				return Packet{}, err
			}
		default:
			// NRB, DSB, custom, systemd journal and unknown blocks carry no
			// packet; the length checks above are all they need.
		}
	}
}

// section returns the current section.
func (r *Reader) section() *Section { return &r.sections[len(r.sections)-1] }

// options iterates over pcapng options.
type options struct {
	b     []byte
	order binary.ByteOrder
	bad   bool // an option ran past the end of the block
}

func (o *options) next() (code uint16, val []byte, ok bool) {
	if len(o.b) < 4 {
		return 0, nil, false
	}
	code, n := o.order.Uint16(o.b), int(o.order.Uint16(o.b[2:]))
	if code == optEndOfOpt {
		return 0, nil, false
	}
	padded := (n + 3) &^ 3
	if 4+padded > len(o.b) {
		if 4+n > len(o.b) {
			o.bad = true
			return 0, nil, false
		}
		padded = n // tolerate missing padding at the very end
	}
	val = o.b[4 : 4+n]
	o.b = o.b[4+padded:]
	return code, val, true
}

func (r *Reader) readSHB(start int64, body []byte) error {
	// body starts after the byte-order magic: version, section length, options.
	if len(body) < 12 {
		return r.errf(start, ErrMalformed, "section header too short: %v", ErrMalformed)
	}
	s := Section{
		BigEndian:      r.order == binary.BigEndian,
		Major:          r.order.Uint16(body),
		Minor:          r.order.Uint16(body[2:]),
		FirstInterface: len(r.ifaces),
	}
	// libpcap reads 1.0 and the 1.2 some writers produced; the conformance
	// suite and libpcap both reject anything else.
	if s.Major != 1 || (s.Minor != 0 && s.Minor != 2) {
		return r.errf(start, ErrUnsupportedVersion, "pcapng section version %d.%d: %v", s.Major, s.Minor, ErrUnsupportedVersion)
	}
	o := options{b: body[12:], order: r.order}
	for code, val, ok := o.next(); ok; code, val, ok = o.next() {
		switch code {
		case optComment:
			s.Comments = append(s.Comments, string(val))
		case 2:
			s.Hardware = string(val)
		case 3:
			s.OS = string(val)
		case 4:
			s.UserAppl = string(val)
		}
	}
	if o.bad {
		return r.errf(start, ErrMalformed, "section header option runs past the block: %v", ErrMalformed)
	}
	if len(r.sections) >= MaxSections {
		return r.errf(start, ErrMalformed, "more than %d sections: %v", MaxSections, ErrMalformed)
	}
	r.sections = append(r.sections, s)
	return nil
}

// MaxInterfaces and MaxSections bound what a pcapng file may describe:
// each description is kept for the whole read, and a hostile file of
// nothing else (20 bytes an interface, a few KB compressed for a
// million) would take the memory without limit. Real captures, merges
// of many, have a few hundred at most.
const (
	MaxInterfaces = 1 << 16
	MaxSections   = 1 << 16
)

func (r *Reader) readIDB(start int64, body []byte) error {
	if len(body) < 8 {
		return r.errf(start, ErrMalformed, "interface description block too short: %v", ErrMalformed)
	}
	in := Interface{
		LinkType: uint32(r.order.Uint16(body)),
		Snaplen:  r.order.Uint32(body[4:]),
		TsResol:  6,
		FCSLen:   -1,
		Section:  len(r.sections) - 1,
	}
	o := options{b: body[8:], order: r.order}
	for code, val, ok := o.next(); ok; code, val, ok = o.next() {
		switch code {
		case optComment:
			in.Comments = append(in.Comments, string(val))
		case 2:
			in.Name = string(val)
		case 3:
			in.Description = string(val)
		case 9:
			if len(val) == 1 {
				in.TsResol = val[0]
			}
		case 11:
			if len(val) > 1 { // first byte is the filter type
				in.Filter = string(val[1:])
			}
		case 12:
			in.OS = string(val)
		case 13:
			if len(val) == 1 {
				in.FCSLen = int(val[0])
			}
		case 14:
			if len(val) == 8 {
				in.TsOffset = int64(r.order.Uint64(val))
			}
		}
	}
	if o.bad {
		return r.errf(start, ErrMalformed, "interface description option runs past the block: %v", ErrMalformed)
	}
	c, ok := newTsConv(in.TsResol, in.TsOffset)
	if !ok {
		return r.errf(start, ErrMalformed, "unsupported if_tsresol 0x%02x: %v", in.TsResol, ErrMalformed)
	}
	if len(r.ifaces) >= MaxInterfaces {
		return r.errf(start, ErrMalformed, "more than %d interfaces: %v", MaxInterfaces, ErrMalformed)
	}
	r.ifaces = append(r.ifaces, in)
	r.ts = append(r.ts, c)
	return nil
}

// iface maps a section-local interface id to the global index.
func (r *Reader) iface(start int64, id uint32) (int, error) {
	s := r.section()
	if uint64(id) >= uint64(len(r.ifaces)-s.FirstInterface) {
		return 0, r.errf(start, ErrMalformed, "packet for undefined interface %d: %v", id, ErrMalformed)
	}
	return s.FirstInterface + int(id), nil
}

func (r *Reader) readEPB(start int64, body []byte, obsolete bool) (Packet, error) {
	if len(body) < 20 {
		return Packet{}, r.errf(start, ErrMalformed, "packet block too short: %v", ErrMalformed)
	}
	var id uint32
	if obsolete {
		id = uint32(r.order.Uint16(body))
	} else {
		id = r.order.Uint32(body)
	}
	idx, err := r.iface(start, id)
	if err != nil {
		return Packet{}, err
	}
	units := uint64(r.order.Uint32(body[4:]))<<32 | uint64(r.order.Uint32(body[8:]))
	caplen, orig := r.order.Uint32(body[12:]), r.order.Uint32(body[16:])
	if uint64(caplen) > uint64(len(body)-20) {
		return Packet{}, r.errf(start, ErrMalformed, "captured length %d exceeds block: %v", caplen, ErrMalformed)
	}
	ts, ok := r.ts[idx].toNanos(units)
	if !ok {
		return Packet{}, r.errf(start, ErrTimestampRange, "%s", r.ts[idx].rangeMsg("timestamp", units))
	}
	data := body[20 : 20+caplen]
	if sl := r.ifaces[idx].Snaplen; sl != 0 && caplen > sl && !r.keepOver {
		data = data[:sl] // as libpcap does
	}
	p := Packet{
		Timestamp: ts,
		OrigLen:   int(orig),
		LinkType:  r.ifaces[idx].LinkType,
		Interface: idx,
		Data:      data,
	}
	optStart := 20 + (int(caplen)+3)&^3
	if optStart < len(body) {
		o := options{b: body[optStart:], order: r.order}
		for code, val, ok := o.next(); ok; code, val, ok = o.next() {
			switch {
			case code == optComment:
				p.Comments = append(p.Comments, string(val))
			case code == 2 && len(val) == 4 && !obsolete:
				p.Flags = r.order.Uint32(val)
			}
		}
	}
	return p, nil
}

func (r *Reader) readSPB(start int64, body []byte) (Packet, error) {
	if len(body) < 4 {
		return Packet{}, r.errf(start, ErrMalformed, "simple packet block too short: %v", ErrMalformed)
	}
	idx, err := r.iface(start, 0)
	if err != nil {
		return Packet{}, err
	}
	orig := r.order.Uint32(body)
	n := uint64(orig)
	if sl := r.ifaces[idx].Snaplen; sl != 0 && uint64(sl) < n {
		n = uint64(sl)
	}
	if n > uint64(len(body)-4) {
		n = uint64(len(body) - 4)
	}
	return Packet{OrigLen: int(orig), LinkType: r.ifaces[idx].LinkType, Interface: idx, Data: body[4 : 4+n]}, nil
}

func (r *Reader) readISB(start int64, body []byte) error {
	if len(body) < 12 {
		return r.errf(start, ErrMalformed, "interface statistics block too short: %v", ErrMalformed)
	}
	idx, err := r.iface(start, r.order.Uint32(body))
	if err != nil {
		return err
	}
	c := r.ts[idx]
	var rangeErr error
	ts := func(what string, b []byte) int64 {
		units := uint64(r.order.Uint32(b))<<32 | uint64(r.order.Uint32(b[4:]))
		ns, ok := c.toNanos(units)
		if !ok && rangeErr == nil {
			rangeErr = r.errf(start, ErrTimestampRange, "interface statistics: %s", c.rangeMsg(what, units))
		}
		return ns
	}
	st := &InterfaceStats{Timestamp: ts("timestamp", body[4:])}
	o := options{b: body[12:], order: r.order}
	for code, val, ok := o.next(); ok && rangeErr == nil; code, val, ok = o.next() {
		if code == optComment {
			st.Comments = append(st.Comments, string(val))
			continue
		}
		if len(val) != 8 {
			continue
		}
		v := r.order.Uint64(val)
		switch code {
		case 2:
			st.StartTime, st.Has = ts("isb_starttime", val), st.Has|StatStartTime
		case 3:
			st.EndTime, st.Has = ts("isb_endtime", val), st.Has|StatEndTime
		case 4:
			st.Received, st.Has = v, st.Has|StatReceived
		case 5:
			st.Dropped, st.Has = v, st.Has|StatDropped
		case 6:
			st.FilterAccepted, st.Has = v, st.Has|StatFilterAccepted
		case 7:
			st.OSDropped, st.Has = v, st.Has|StatOSDropped
		case 8:
			st.Delivered, st.Has = v, st.Has|StatDelivered
		}
	}
	if rangeErr != nil {
		return rangeErr
	}
	r.ifaces[idx].Stats = st
	return nil
}
