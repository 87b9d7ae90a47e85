package decode

import "encoding/binary"

// OSPFv3 as tcpdump 4.99's ospf6_print prints it: "OSPFv3, Hello, length
// 36" and, with -v, the router, area and instance, the hello and
// database description parameters, and the LLS and authentication
// trailers. (tcpdump lists LSAs only with -vv.)

var ospf6OptionNames = []bitName{{0x01, "V6"}, {0x02, "External"}, {0x04, "Deprecated"}, {0x08, "NSSA"},
	{0x10, "Router"}, {0x20, "Demand Circuit"}, {0x100, "AFs Support"}, {0x200, "LLS"},
	{0x400, "Authentication Trailer"}}

var ospf6DDFlagNames = []bitName{{0x04, "Init"}, {0x02, "More"}, {0x01, "Master"}, {0x10, "IPv6 MTU"}}

var ospfTypes = [6]string{"", "Hello", "Database Description", "LS-Request", "LS-Update", "LS-Ack"}

const ospf6Trunc = " [|ospf3]"

// ospf6 prints an OSPFv3 packet b of plen bytes.
func (s *Summarizer) ospf6(b []byte, plen int) {
	if len(b) < 2 {
		s.str(ospf6Trunc)
		return
	}
	s.str("OSPFv")
	s.uint(uint64(b[0]))
	s.str(", ")
	if b[1] < 1 || b[1] > 5 {
		s.str("unknown packet type (")
		s.uint(uint64(b[1]))
		s.str("), length ")
		s.int(plen)
		return
	}
	s.str(ospfTypes[b[1]])
	s.str(", length ")
	s.int(plen)
	if !s.opts.Verbose {
		return
	}
	// As tcpdump, each field once it is captured.
	cut := func(n int) bool {
		if len(b) < n {
			s.str(ospf6Trunc)
			return true
		}
		return false
	}
	if cut(4) {
		return
	}
	dlen := int(binary.BigEndian.Uint16(b[2:]))
	if dlen > plen {
		s.str(" [len ")
		s.int(dlen)
		s.str("]")
		return
	}
	if cut(8) {
		return
	}
	s.str("\n\tRouter-ID ")
	s.ip4(b[4:8])
	if cut(12) {
		return
	}
	if allZero(b[8:12]) {
		s.str(", Backbone Area")
	} else {
		s.str(", Area ")
		s.ip4(b[8:12])
	}
	if cut(15) {
		return
	}
	if b[14] != 0 {
		s.str(", Instance ")
		s.uint(uint64(b[14]))
	}
	if b[0] != 3 {
		return
	}
	var opts uint32
	switch b[1] {
	case 1:
		if cut(24) {
			return
		}
		opts = binary.BigEndian.Uint32(b[20:])
		s.str("\n\tOptions [")
		s.bits(ospf6OptionNames, "none", opts)
		s.str("]")
		if cut(28) {
			return
		}
		s.str("\n\t  Hello Timer ")
		s.uint(uint64(binary.BigEndian.Uint16(b[24:])))
		s.str("s, Dead Timer ")
		s.uint(uint64(binary.BigEndian.Uint16(b[26:])))
		s.str("s, Interface-ID ")
		s.ip4(b[16:20])
		s.str(", Priority ")
		s.uint(uint64(b[20]))
		if cut(32) {
			return
		}
		if !allZero(b[28:32]) {
			s.str("\n\t  Designated Router ")
			s.ip4(b[28:32])
		}
		if cut(36) {
			return
		}
		if !allZero(b[32:36]) {
			s.str(", Backup Designated Router ")
			s.ip4(b[32:36])
		}
	case 2:
		if cut(20) {
			return
		}
		opts = binary.BigEndian.Uint32(b[16:])
		s.str("\n\tOptions [")
		s.bits(ospf6OptionNames, "none", opts)
		s.str("]")
		if cut(24) {
			return
		}
		s.str(", DD Flags [")
		s.bits(ospf6DDFlagNames, "none", uint32(b[23]))
		s.str("]")
		if cut(28) {
			return
		}
		s.str(", MTU ")
		s.uint(uint64(binary.BigEndian.Uint16(b[20:])))
		s.str(", DD-Sequence 0x")
		s.hex32raw(binary.BigEndian.Uint32(b[24:]))
	}
	// The trailer: LLS (hello and DD with the L option), then an
	// authentication trailer.
	rest := plen - dlen
	p := dlen
	if (b[1] == 1 || b[1] == 2) && opts&0x200 != 0 && rest > 0 {
		if rest < 4 || p+4 > len(b) {
			s.str(ospf6Trunc)
			return
		}
		s.str("\n\tLLS Checksum 0x")
		s.hex16raw(binary.BigEndian.Uint16(b[p:]))
		l := int(binary.BigEndian.Uint16(b[p+2:]))
		s.str(", Data Length ")
		s.int(l)
		if l < 4 || l > rest || p+l > len(b) {
			s.str(ospf6Trunc)
			return
		}
		p += l
		rest -= l
	}
	if rest == 0 {
		return
	}
	if rest < 16 || p+16 > len(b) {
		s.str(ospf6Trunc)
		return
	}
	t := binary.BigEndian.Uint16(b[p:])
	s.str("\n\tAuthentication Type ")
	if t == 1 {
		s.str("HMAC")
	} else {
		s.str("unknown (0x")
		s.hex16raw(t)
		s.str(")")
	}
	l := int(binary.BigEndian.Uint16(b[p+2:]))
	s.str(", Length ")
	s.int(l)
	if l < 16 || l > rest {
		s.str(ospf6Trunc)
		return
	}
	s.str(", SAID ")
	s.uint(uint64(binary.BigEndian.Uint16(b[p+6:])))
	s.str(", CSN 0x")
	s.hex32raw(binary.BigEndian.Uint32(b[p+8:]))
	s.str(":")
	s.hex32raw(binary.BigEndian.Uint32(b[p+12:]))
	if p+l > len(b) {
		s.str(ospf6Trunc)
	}
}
