package decode

import "encoding/binary"

// gre prints a GRE packet as tcpdump 4.99's gre_print does: the version,
// with -v the flags ("Flags [key present]"), the checksum and offset, key
// and sequence number when present, the length, then (after ": ", or on
// a line of its own with -v) what the packet carries.
func (s *Summarizer) gre(b []byte, plen int) {
	if len(b) < 4 {
		s.str("GRE [|gre]")
		return
	}
	flags := binary.BigEndian.Uint16(b)
	ver := flags & 7
	s.str("GREv")
	s.uint(uint64(ver))
	if ver == 1 {
		s.greV1(b, plen)
		return
	}
	if ver != 0 {
		s.str(" ERROR: unknown-version")
		return
	}
	if s.opts.Verbose {
		s.greFlags(flags)
	}
	off := 4
	field := func(n int) (uint32, bool) {
		if len(b) < off+n {
			s.str(" [|gre]")
			return 0, false
		}
		var v uint32
		if n == 2 {
			v = uint32(binary.BigEndian.Uint16(b[off:]))
		} else {
			v = binary.BigEndian.Uint32(b[off:])
		}
		off += n
		return v, true
	}
	if flags&0xc000 != 0 {
		sum, ok := field(2)
		if !ok {
			return
		}
		s.str(", sum 0x")
		s.buf = appendHex(s.buf, sum)
		o, ok := field(2)
		if !ok {
			return
		}
		s.str(", off 0x")
		s.buf = appendHex(s.buf, o)
	}
	if flags&0x2000 != 0 {
		k, ok := field(4)
		if !ok {
			return
		}
		s.str(", key=0x")
		s.buf = appendHex(s.buf, k)
	}
	if flags&0x1000 != 0 {
		q, ok := field(4)
		if !ok {
			return
		}
		s.str(", seq ")
		s.uint(uint64(q))
	}
	proto := binary.BigEndian.Uint16(b[2:])
	if s.opts.Link {
		s.str(", proto ")
		s.str(greProtoName(proto))
		s.str(" (0x")
		s.hex16raw(proto)
		s.str(")")
	}
	s.str(", length ")
	s.int(plen)
	if flags&0x4000 != 0 { // source routing: not decoded here
		return
	}
	if s.opts.Verbose {
		s.str("\n\t")
	} else {
		s.str(": ")
	}
	s.depth++
	if s.depth > maxEncapsulationDepth {
		s.str("[|encapsulation too deep]")
		return
	}
	switch proto {
	case 0x6558: // transparent Ethernet bridging
		s.ethernet(b[off:], plen-off)
	default:
		s.ethertype(proto, b[off:], plen-off)
	}
}

// greFlags prints tcpdump -v's ", Flags [key present]" for a GRE header.
func (s *Summarizer) greFlags(flags uint16) {
	s.str(", Flags [")
	sep := ""
	for _, f := range greFlagNames {
		if flags&f.bit != 0 {
			s.str(sep)
			s.str(f.name)
			sep = ", "
		}
	}
	if sep == "" {
		s.str("none")
	}
	s.str("]")
}

// greProtoName is tcpdump's ethertype_values name of a GRE protocol.
func greProtoName(p uint16) string {
	if p == 0x6558 {
		return "TEB"
	}
	if n := etherTypeName(p); n != "Unknown" {
		return n
	}
	return "unknown"
}
