package decode

import (
	"encoding/binary"
	"strconv"
)

// CDP as tcpdump 4.99's cdp_print prints it: the version, the TTL, the
// Device-ID and a hex dump of every other TLV, then the length; with -v
// the checksum and every TLV decoded on a line of its own.

type cdpTLV struct {
	name     string
	print    func(s *Summarizer, v []byte)
	min, max int
}

var cdpCapNames = []bitName{{0x01, "Router"}, {0x02, "Transparent Bridge"}, {0x04, "Source Route Bridge"},
	{0x08, "L2 Switch"}, {0x10, "L3 capable"}, {0x20, "IGMP snooping"}, {0x40, "L1 capable"}}

var cdpTLVs = map[uint16]cdpTLV{
	0x01: {"Device-ID", (*Summarizer).cdpString, -1, -1},
	0x02: {"Address", (*Summarizer).cdpAddr, -1, -1},
	0x03: {"Port-ID", (*Summarizer).cdpString, -1, -1},
	0x04: {"Capability", func(s *Summarizer, v []byte) {
		c := binary.BigEndian.Uint32(v)
		s.str("(0x")
		s.hex32raw(c)
		s.str("): ")
		s.bits(cdpCapNames, "none", c)
	}, 4, 4},
	0x05: {"Version String", func(s *Summarizer, v []byte) {
		s.str("\n\t  ")
		for _, c := range v {
			if c == '\n' {
				s.str("\n\t  ")
			} else {
				s.asciiChar(c)
			}
		}
	}, -1, -1},
	0x06: {"Platform", (*Summarizer).cdpString, -1, -1},
	0x07: {"Prefixes", func(s *Summarizer, v []byte) {
		if len(v)%5 != 0 {
			s.str(" [length ")
			s.int(len(v))
			s.str(" is not a multiple of 5]")
			return
		}
		s.str(" IPv4 Prefixes (")
		s.int(len(v) / 5)
		s.str("):")
		for ; len(v) > 0; v = v[5:] {
			s.str(" ")
			s.ip4(v[:4])
			s.str("/")
			s.uint(uint64(v[4]))
		}
	}, -1, -1},
	0x08: {"Protocol-Hello option", nil, -1, -1},
	0x09: {"VTP Management Domain", (*Summarizer).cdpString, -1, -1},
	0x0a: {"Native VLAN ID", func(s *Summarizer, v []byte) { s.uint(uint64(binary.BigEndian.Uint16(v))) }, 2, 2},
	0x0b: {"Duplex", func(s *Summarizer, v []byte) {
		if v[0] != 0 {
			s.str("full")
		} else {
			s.str("half")
		}
	}, 1, 1},
	0x0e: {"ATA-186 VoIP VLAN assignment", (*Summarizer).cdpATA, 3, 3},
	0x0f: {"ATA-186 VoIP VLAN request", (*Summarizer).cdpATA, 2, 3},
	0x10: {"power consumption", func(s *Summarizer, v []byte) {
		var w uint32
		for _, c := range v {
			w = w<<8 | uint32(c)
		}
		s.buf = strconv.AppendFloat(s.buf, float64(w)/1000, 'f', 2, 64)
		s.str("W")
	}, 1, 3},
	0x11: {"MTU", func(s *Summarizer, v []byte) {
		s.uint(uint64(binary.BigEndian.Uint32(v)))
		s.str(" bytes")
	}, 4, 4},
	0x12: {"AVVID trust bitmap", (*Summarizer).cdpUint8x, 1, 1},
	0x13: {"AVVID untrusted ports CoS", (*Summarizer).cdpUint8x, 1, 1},
	0x14: {"System Name", (*Summarizer).cdpString, -1, -1},
	0x15: {"System Object ID (not decoded)", nil, -1, -1},
	0x16: {"Management Addresses", (*Summarizer).cdpAddr, 4, -1},
	0x17: {"Physical Location", func(s *Summarizer, v []byte) {
		s.str("0x")
		s.hex8(v[0])
		if len(v) > 1 {
			s.str("/")
			for _, c := range v[1:] {
				s.asciiChar(c)
			}
		}
	}, 1, -1},
}

func (s *Summarizer) cdpString(v []byte) {
	s.str("'")
	for _, c := range v {
		s.asciiChar(c)
	}
	s.str("'")
}

func (s *Summarizer) cdpUint8x(v []byte) {
	s.str("0x")
	s.hex8(v[0])
}

func (s *Summarizer) cdpATA(v []byte) {
	if len(v) == 2 {
		s.str("unknown 0x")
		s.hex16raw(binary.BigEndian.Uint16(v))
		return
	}
	s.str("app ")
	s.uint(uint64(v[0]))
	s.str(", vlan ")
	s.uint(uint64(binary.BigEndian.Uint16(v[1:])))
}

// cdpAddr prints an address TLV (cdp_print_addr).
func (s *Summarizer) cdpAddr(p []byte) {
	if len(p) < 4 {
		s.str(" (not enough space for num)")
		return
	}
	num := binary.BigEndian.Uint32(p)
	p = p[4:]
	for num > 0 {
		if len(p) < 2 {
			s.str(" (not enough space for PT+PL)")
			return
		}
		pt, pl := p[0], int(p[1])
		p = p[2:]
		if len(p) < pl+2 {
			s.str(" (not enough space for P+AL)")
			return
		}
		al := int(binary.BigEndian.Uint16(p[pl:]))
		switch {
		case pt == 1 && pl == 1 && p[0] == 0xcc && al == 4:
			p = p[pl+2:]
			if len(p) < al {
				s.str(" (not enough space for A)")
				return
			}
			s.str("IPv4 (")
			s.uint(uint64(num))
			s.str(") ")
			s.ip4(p[:4])
			p = p[al:]
		case pt == 2 && pl == 8 && string(p[:8]) == "\xaa\xaa\x03\x00\x00\x00\x86\xdd" && al == 16:
			p = p[pl+2:]
			if len(p) < al {
				s.str(" (not enough space for A)")
				return
			}
			s.str("IPv6 (")
			s.uint(uint64(num))
			s.str(") ")
			s.ip6(p[:16])
			p = p[al:]
		default:
			s.str("pt=0x")
			s.hex8(pt)
			s.str(", pl=")
			s.int(pl)
			s.str(", pb=")
			for _, c := range p[:pl] {
				s.str(" ")
				s.hex8(c)
			}
			s.str(", al=")
			s.int(al)
			s.str(", a=")
			p = p[pl+2:]
			if len(p) < al {
				s.str(" (not enough space for A)")
				return
			}
			for _, c := range p[:al] {
				s.str(" ")
				s.hex8(c)
			}
			p = p[al:]
		}
		num--
		if num > 0 {
			s.str(" ")
		}
	}
	if len(p) > 0 {
		s.str(" (")
		s.int(len(p))
		s.str(" bytes of stray data)")
	}
}

// cdp prints a CDP PDU of wire bytes whose captured part is data.
func (s *Summarizer) cdp(data []byte, wire int) {
	length := max(wire, 0)
	v := s.opts.Verbose
	if length < 4 {
		s.str(" (packet length ")
		s.int(length)
		s.str(" < 4) (invalid)")
		return
	}
	if len(data) < 4 {
		s.str(" [|cdp]")
		return
	}
	s.str("CDPv")
	s.uint(uint64(data[0]))
	s.str(", ttl: ")
	s.uint(uint64(data[1]))
	s.str("s")
	if v {
		s.str(", checksum: 0x")
		s.hex16raw(binary.BigEndian.Uint16(data[2:]))
		s.str(" (unverified), length ")
		s.int(wire)
	}
	p := data[4:]
	length -= 4
	for length > 0 {
		if length < 4 {
			s.str(" (remaining packet length ")
			s.int(length)
			s.str(" < 4) (invalid)")
			return
		}
		if len(p) < 4 {
			s.str(" [|cdp]")
			return
		}
		typ := binary.BigEndian.Uint16(p)
		l := int(binary.BigEndian.Uint16(p[2:]))
		info, known := cdpTLVs[typ]
		name := info.name
		if !known {
			name = "unknown field type"
		}
		if l < 4 {
			if v {
				s.str("\n\t")
				s.str(name)
				s.str(" (0x")
				s.hex8(uint8(typ))
				s.str("), TLV length: ")
				s.int(l)
				s.str(" byte")
				if l != 1 {
					s.str("s")
				}
				s.str(" (too short)")
			} else {
				s.str(", ")
				s.str(name)
				s.str(" TLV length ")
				s.int(l)
				s.str(" too short")
			}
			s.str(" (invalid)")
			return
		}
		if l > length {
			s.str(" (TLV length ")
			s.int(l)
			s.str(" > ")
			s.int(length)
			s.str(") (invalid)")
			return
		}
		p, length, l = p[4:], length-4, l-4
		if !v && typ == 1 {
			s.str(", Device-ID ")
		} else if v {
			s.str("\n\t")
			s.str(name)
			s.str(" (0x")
			s.hex8(uint8(typ))
			s.str("), value length: ")
			s.int(l)
			s.str(" byte")
			if l != 1 {
				s.str("s")
			}
			s.str(": ")
		}
		if len(p) < l {
			s.str(" [|cdp]")
			return
		}
		val := p[:l]
		covered := false
		if known {
			if (info.min > 0 && l < info.min) || (info.max > 0 && l > info.max) {
				s.str(" (malformed TLV)")
			} else if v || typ == 1 {
				if info.print != nil {
					info.print(s, val)
				}
				covered = true
			}
		}
		if !covered {
			s.hexOnly("\n\t  ", val)
		}
		p, length = p[l:], length-l
	}
	if !v {
		s.str(", length ")
		s.int(wire)
	}
}
