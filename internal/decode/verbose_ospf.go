package decode

import "encoding/binary"

// OSPFv2 as tcpdump 4.99's ospf_print prints it: "OSPFv2, Hello, length
// 44" and, with -v, the router and area, the authentication, and the
// body of each packet type (hello parameters, database description and
// acknowledged LSA headers, requested LSAs, updated LSAs with their
// links and metrics, LLS blocks) on lines of their own.

var ospfOptionNames = []bitName{{0x01, "MultiTopology"}, {0x02, "External"}, {0x04, "Multicast"},
	{0x08, "NSSA"}, {0x10, "LLS"}, {0x20, "Demand Circuit"}, {0x40, "Opaque"}, {0x80, "Up/Down"}}

var ospfRouterFlagNames = []bitName{{0x01, "ABR"}, {0x02, "ASBR"}, {0x04, "Virtual"}, {0x08, "Wildcard"},
	{0x10, "Nt"}, {0x80, "Host"}}

var ospfDDFlagNames = []bitName{{0x04, "Init"}, {0x02, "More"}, {0x01, "Master"}, {0x08, "OOBResync"}}

var ospfLSANames = map[uint32]string{1: "Router", 2: "Network", 3: "Summary", 4: "ASBR Summary",
	5: "External", 6: "Multicast Group", 7: "NSSA", 9: "Link Local Opaque", 10: "Area Local Opaque",
	11: "Domain Wide Opaque"}

var ospfOpaqueNames = map[uint32]string{1: "Traffic Engineering", 3: "Graceful restart", 4: "Router Information"}

var ospfTopologyNames = map[uint32]string{0: "default", 1: "multicast", 2: "management"}

var ospfAuthNames = map[uint32]string{0: "none", 1: "simple", 2: "MD5"}

var ospfLLSEOOptions = []bitName{{1, "LSDB resync"}, {2, "Restart"}}

// errOSPFTrunc marks where the captured bytes ran out.
const ospfTrunc = " [|ospf2]"

// ospf prints an OSPF packet b of plen bytes carried by IP header h.
func (s *Summarizer) ospf(h ipHeader, b []byte, plen int) {
	if h.v6 {
		s.ospf6(b, plen)
		return
	}
	if len(b) < 16 {
		s.str(ospfTrunc) // tcpdump reads the authentication type first
		return
	}
	md5 := binary.BigEndian.Uint16(b[14:]) == 2
	if md5 {
		// As tcpdump: strip the MD5 trailer off the length and the
		// captured bytes before anything else.
		plen -= 16
		b = b[:max(len(b)-16, 0)]
	}
	if len(b) < 2 {
		s.str(ospfTrunc)
		return
	}
	s.str("OSPFv")
	s.uint(uint64(b[0]))
	s.str(", ")
	typ := b[1]
	if typ < 1 || typ > 5 {
		s.str("unknown LS-type ")
		s.uint(uint64(typ))
		s.str(", length ")
		s.int(plen)
		return
	}
	s.str(ospfTypes[typ])
	s.str(", length ")
	s.int(plen)
	if !s.opts.Verbose {
		return
	}
	// As tcpdump, each field once it is captured.
	if len(b) < 4 {
		s.str(ospfTrunc)
		return
	}
	olen := int(binary.BigEndian.Uint16(b[2:]))
	if plen != olen {
		s.str(" [len ")
		s.int(olen)
		s.str("]")
	}
	end := min(plen, olen)
	if len(b) < 8 {
		s.str(ospfTrunc)
		return
	}
	s.str("\n\tRouter-ID ")
	s.ip4(b[4:8])
	if len(b) < 12 {
		s.str(ospfTrunc)
		return
	}
	if allZero(b[8:12]) {
		s.str(", Backbone Area")
	} else {
		s.str(", Area ")
		s.ip4(b[8:12])
	}
	if len(b) < 24 {
		s.str(ospfTrunc)
		return
	}
	auth := uint32(binary.BigEndian.Uint16(b[14:]))
	s.str(", Authentication Type: ")
	s.tok(ospfAuthNames, "unknown", auth)
	s.str(" (")
	s.uint(uint64(auth))
	s.str(")")
	switch auth {
	case 0:
	case 1:
		s.str("\n\tSimple text password: ")
		s.printjnp(b[16:24])
	case 2:
		s.str("\n\tKey-ID: ")
		s.uint(uint64(b[18]))
		s.str(", Auth-Length: ")
		s.uint(uint64(b[19]))
		s.str(", Crypto Sequence Number: 0x")
		s.hex32raw(binary.BigEndian.Uint32(b[20:]))
	default:
		return
	}
	if b[0] != 2 {
		s.str(" ospf [version ")
		s.uint(uint64(b[0]))
		s.str("]")
		return
	}
	if !s.ospfV2Body(b, end) {
		s.str(ospfTrunc)
		return
	}
	if plen > olen {
		s.ospfLLS(b, plen)
	}
}

// printjnp prints up to n bytes as tcpdump's nd_printjnp: printable
// ASCII, others as "\ooo"-less dots would be wrong; it stops at a NUL.
func (s *Summarizer) printjnp(b []byte) {
	for _, c := range b {
		if c == 0 {
			return
		}
		s.asciiChar(c)
	}
}

// asciiChar prints c as tcpdump's ND_ASCII_PRINT family does: printable
// ASCII as is, other bytes as "M-" and/or "^" escapes.
func (s *Summarizer) asciiChar(c byte) {
	if c&0x80 != 0 {
		s.str("M-")
		c &= 0x7f
	}
	if c < 0x20 || c == 0x7f {
		s.str("^")
		s.buf = append(s.buf, c^0x40)
		return
	}
	s.buf = append(s.buf, c)
}

// ospfV2Body prints what follows the common header of an OSPFv2 packet;
// end is where its data ends. It reports false when the captured bytes
// ran out.
func (s *Summarizer) ospfV2Body(b []byte, end int) bool {
	in := func(off, n int) bool { return off+n <= len(b) }
	switch b[1] {
	case 1: // Hello
		if !in(24, 20) {
			return false
		}
		s.str("\n\tOptions [")
		s.bits(ospfOptionNames, "none", uint32(b[30]))
		s.str("]\n\t  Hello Timer ")
		s.uint(uint64(binary.BigEndian.Uint16(b[28:])))
		s.str("s, Dead Timer ")
		s.uint(uint64(binary.BigEndian.Uint32(b[32:])))
		s.str("s, Mask ")
		s.ip4(b[24:28])
		s.str(", Priority ")
		s.uint(uint64(b[31]))
		if !allZero(b[36:40]) {
			s.str("\n\t  Designated Router ")
			s.ip4(b[36:40])
		}
		if !in(40, 4) {
			return false
		}
		if !allZero(b[40:44]) {
			s.str(", Backup Designated Router ")
			s.ip4(b[40:44])
		}
		if 44 < end {
			s.str("\n\t  Neighbor List:")
		}
		for off := 44; off < end; off += 4 {
			if !in(off, 4) {
				return false
			}
			s.str("\n\t    ")
			s.ip4(b[off : off+4])
		}
	case 2: // Database Description
		if !in(24, 8) {
			return false
		}
		s.str("\n\tOptions [")
		s.bits(ospfOptionNames, "none", uint32(b[26]))
		s.str("], DD Flags [")
		s.bits(ospfDDFlagNames, "none", uint32(b[27]))
		s.str("]")
		if mtu := binary.BigEndian.Uint16(b[24:]); mtu != 0 {
			s.str(", MTU: ")
			s.uint(uint64(mtu))
		}
		s.str(", Sequence: 0x")
		s.hex32raw(binary.BigEndian.Uint32(b[28:]))
		for off := 32; off < end; off += 20 {
			n, ok := s.ospfLSAHeader(b, off)
			if !ok {
				return false
			}
			if n < 0 {
				break
			}
		}
	case 3: // LS-Request
		for off := 24; off < end; off += 12 {
			if !in(off, 12) {
				return false
			}
			t := binary.BigEndian.Uint32(b[off:])
			s.str("\n\t  Advertising Router: ")
			s.ip4(b[off+8 : off+12])
			s.str(", ")
			s.tok(ospfLSANames, "unknown", t)
			s.str(" LSA (")
			s.uint(uint64(t))
			s.str(")")
			if t >= 9 && t <= 11 {
				s.str(", Opaque-Type: ")
				s.tok(ospfOpaqueNames, "unknown", uint32(b[off+4]))
				s.str(" LSA (")
				s.uint(uint64(b[off+4]))
				s.str("), Opaque-ID: ")
				s.uint(uint64(uint32(b[off+5])<<16 | uint32(binary.BigEndian.Uint16(b[off+6:]))))
			} else {
				s.str(", LSA-ID: ")
				s.ip4(b[off+4 : off+8])
			}
		}
	case 4: // LS-Update
		if !in(24, 4) {
			return false
		}
		n := binary.BigEndian.Uint32(b[24:])
		s.str(", ")
		s.uint(uint64(n))
		s.str(" LSA")
		if n != 1 {
			s.str("s")
		}
		off := 28
		for i := uint32(1); i <= n; i++ {
			s.str("\n\t  LSA #")
			s.uint(uint64(i))
			next, ok := s.ospfLSA(b, off)
			if !ok {
				return false
			}
			off = next
		}
	case 5: // LS-Ack: headers until the captured bytes end
		for off := 24; ; off += 20 {
			n, ok := s.ospfLSAHeader(b, off)
			if !ok {
				return false
			}
			if n < 0 {
				break
			}
		}
	}
	return true
}

// ospfLSAHeader prints the LSA header at off and returns the LSA's
// length, -1 for a bogus one; ok is false when the bytes ran out.
func (s *Summarizer) ospfLSAHeader(b []byte, off int) (int, bool) {
	if off+20 > len(b) {
		return 0, false
	}
	h := b[off : off+20]
	l := int(binary.BigEndian.Uint16(h[18:]))
	if l < 20 {
		s.str("\n\t    Bogus length ")
		s.int(l)
		s.str(" < header (20)")
		return -1, true
	}
	s.str("\n\t  Advertising Router ")
	s.ip4(h[8:12])
	s.str(", seq 0x")
	s.hex32raw(binary.BigEndian.Uint32(h[12:]))
	s.str(", age ")
	s.uint(uint64(binary.BigEndian.Uint16(h[0:])))
	s.str("s, length ")
	s.int(l - 20)
	t := uint32(h[3])
	s.str("\n\t    ")
	s.tok(ospfLSANames, "unknown", t)
	s.str(" LSA (")
	s.uint(uint64(t))
	if t >= 9 && t <= 11 {
		s.str("), Opaque-Type ")
		s.tok(ospfOpaqueNames, "unknown", uint32(h[4]))
		s.str(" LSA (")
		s.uint(uint64(h[4]))
		s.str("), Opaque-ID ")
		s.uint(uint64(uint32(h[5])<<16 | uint32(binary.BigEndian.Uint16(h[6:]))))
	} else {
		s.str("), LSA-ID: ")
		s.ip4(h[4:8])
	}
	s.str("\n\t    Options: [")
	s.bits(ospfOptionNames, "none", uint32(h[2]))
	s.str("]")
	return l, true
}

// ospfLSA prints the LSA at off (ospf_print_lsa) and returns where the
// next one starts.
func (s *Summarizer) ospfLSA(b []byte, off int) (int, bool) {
	l, ok := s.ospfLSAHeader(b, off)
	if !ok || l < 0 {
		return 0, false
	}
	lsEnd := off + l
	body := off + 20
	u32 := func(at int) (uint32, bool) {
		if at+4 > len(b) {
			return 0, false
		}
		return binary.BigEndian.Uint32(b[at:]), true
	}
	switch b[off+3] {
	case 1: // Router
		if body+4 > len(b) {
			return 0, false
		}
		s.str("\n\t    Router LSA Options: [")
		s.bits(ospfRouterFlagNames, "none", uint32(b[body]))
		s.str("]")
		count := int(binary.BigEndian.Uint16(b[body+2:]))
		p := body + 4
		if p+12 > len(b) {
			return 0, false
		}
		for range count {
			if p+12 > len(b) {
				return 0, false
			}
			id, data := b[p:p+4], b[p+4:p+8]
			switch b[p+8] {
			case 4:
				s.str("\n\t      Virtual Link: Neighbor Router-ID: ")
				s.ip4(id)
				s.str(", Interface Address: ")
				s.ip4(data)
			case 1:
				s.str("\n\t      Neighbor Router-ID: ")
				s.ip4(id)
				s.str(", Interface Address: ")
				s.ip4(data)
			case 2:
				s.str("\n\t      Neighbor Network-ID: ")
				s.ip4(id)
				s.str(", Interface Address: ")
				s.ip4(data)
			case 3:
				s.str("\n\t      Stub Network: ")
				s.ip4(id)
				s.str(", Mask: ")
				s.ip4(data)
			default:
				s.str("\n\t      Unknown Router Link Type (")
				s.uint(uint64(b[p+8]))
				s.str(")")
				return lsEnd, true
			}
			tos := int(b[p+9])
			for i := 0; i <= tos; i++ {
				at := p + 8 + 4*i
				if at+4 > len(b) {
					return 0, false
				}
				t := uint32(0)
				if i > 0 {
					t = uint32(b[at])
				}
				s.str("\n\t\ttopology ")
				s.tok(ospfTopologyNames, "Unknown", t)
				s.str(" (")
				s.uint(uint64(t))
				s.str("), metric ")
				s.uint(uint64(binary.BigEndian.Uint16(b[at+2:])))
			}
			p += 12 + 4*tos
		}
	case 2: // Network
		if body+4 > len(b) {
			return 0, false
		}
		s.str("\n\t    Mask ")
		s.ip4(b[body : body+4])
		s.str("\n\t    Connected Routers:")
		for p := body + 4; p < lsEnd; p += 4 {
			if p+4 > len(b) {
				return 0, false
			}
			s.str("\n\t      ")
			s.ip4(b[p : p+4])
		}
	case 3, 4: // Summary, ASBR Summary
		if body+8 > len(b) {
			return 0, false
		}
		if b[off+3] == 3 {
			s.str("\n\t    Mask ")
			s.ip4(b[body : body+4])
		}
		for p := body + 4; p < lsEnd; p += 4 {
			v, ok := u32(p)
			if !ok {
				return 0, false
			}
			t := v & 0x7f000000 >> 24
			s.str("\n\t\ttopology ")
			s.tok(ospfTopologyNames, "Unknown", t)
			s.str(" (")
			s.uint(uint64(t))
			s.str(") metric ")
			s.uint(uint64(v & 0xffffff))
		}
	case 5, 7: // External, NSSA
		if body+8 > len(b) {
			return 0, false
		}
		s.str("\n\t    Mask ")
		s.ip4(b[body : body+4])
		for p := body + 4; p < lsEnd; p += 12 {
			v, ok := u32(p)
			if !ok {
				return 0, false
			}
			t := v & 0x7f000000 >> 24
			s.str("\n\t\ttopology ")
			s.tok(ospfTopologyNames, "Unknown", t)
			s.str(" (")
			s.uint(uint64(t))
			s.str("), type ")
			if v&0x80000000 != 0 {
				s.str("2")
			} else {
				s.str("1")
			}
			s.str(", metric")
			if v&0xffffff == 0xffffff {
				s.str(" infinite")
			} else {
				s.str(" ")
				s.uint(uint64(v & 0xffffff))
			}
			if p+12 > len(b) {
				return 0, false
			}
			if !allZero(b[p+4 : p+8]) {
				s.str(", forward ")
				s.ip4(b[p+4 : p+8])
			}
			if !allZero(b[p+8 : p+12]) {
				s.str(", tag ")
				s.ip4(b[p+8 : p+12])
			}
		}
	case 6: // Multicast group
		for p := body; p < lsEnd; p += 8 {
			if p+8 > len(b) {
				return 0, false
			}
			switch v := binary.BigEndian.Uint32(b[p:]); v {
			case 1:
				s.str("\n\t    Router Router-ID ")
				s.ip4(b[p+4 : p+8])
			case 2:
				s.str("\n\t    Network Designated Router ")
				s.ip4(b[p+4 : p+8])
			default:
				s.str("\n\t    unknown VertexType (")
				s.uint(uint64(v))
				s.str(")")
			}
		}
	case 9, 10, 11:
		// Opaque LSAs: traffic engineering, graceful restart and router
		// information TLVs are not decoded here; tcpdump's hex dump of
		// the unknown ones.
		s.unknownData("\n\t    ", b[min(body, len(b)):], l-20)
	}
	return lsEnd, true
}

// ospfLLS prints the link-local signalling block that follows the OSPF
// packet of a Hello or Database Description with the L option.
func (s *Summarizer) ospfLLS(b []byte, length int) {
	var opts byte
	switch b[1] {
	case 1:
		if len(b) < 31 {
			return
		}
		opts = b[30]
	case 2:
		if len(b) < 27 {
			return
		}
		opts = b[26]
	default:
		return
	}
	if opts&0x10 == 0 {
		return
	}
	l2 := int(binary.BigEndian.Uint16(b[2:]))
	p := l2
	if binary.BigEndian.Uint16(b[14:]) == 2 {
		p += int(b[19])
		l2 += int(b[19])
	}
	if l2 >= length {
		s.str("\n\t[LLS truncated]")
		return
	}
	if p+4 > len(b) {
		s.str(ospfTrunc)
		return
	}
	s.str("\n\t  LLS: checksum: 0x")
	s.hex16raw(binary.BigEndian.Uint16(b[p:]))
	s.str(", length: ")
	s.uint(uint64(binary.BigEndian.Uint16(b[p+2:])))
	p += 4
	for p < length {
		if p+4 > len(b) {
			s.str(ospfTrunc)
			return
		}
		t := binary.BigEndian.Uint16(b[p:])
		l := int(binary.BigEndian.Uint16(b[p+2:]))
		s.str("\n\t    ")
		switch t {
		case 1:
			s.str("Extended Options")
		case 2:
			s.str("MD5 Authentication")
		default:
			s.str("Unknown TLV")
		}
		s.str(" (")
		s.uint(uint64(t))
		s.str("), length: ")
		s.int(l)
		p += 4
		switch t {
		case 1:
			if l != 4 {
				s.str(" [should be 4]")
				l = 4
			}
			if p+4 > len(b) {
				s.str(ospfTrunc)
				return
			}
			v := binary.BigEndian.Uint32(b[p:])
			s.str("\n\t      Options: 0x")
			s.hex32raw(v)
			s.str(" [")
			s.bits(ospfLLSEOOptions, "?", v)
			s.str("]")
		case 2:
			if l != 20 {
				s.str(" [should be 20]")
				l = 20
			}
			if p+4 > len(b) {
				s.str(ospfTrunc)
				return
			}
			s.str("\n\t      Sequence number: 0x")
			s.hex32raw(binary.BigEndian.Uint32(b[p:]))
		}
		p += l
	}
}
