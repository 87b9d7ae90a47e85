package decode

import (
	"encoding/binary"
	"strconv"
)

// The link-level headers tcpdump -e prints (Options.Link) for the link
// types whose summaries LinkLine returns unchanged, and for the LLC and
// SNAP headers inside 802.3 frames. With Options.Quiet too they take
// tcpdump -q -e's shorter forms where tcpdump has them.

// etherPhrase prints "ethertype IPv4 (0x0800)", or with -q "IPv4".
func (s *Summarizer) etherPhrase(et uint16) {
	s.str(etherTypePhrase(et, s.opts.Quiet))
}

// ipoibHeader prints "IPOIB, ethertype IPv4 (0x0800), length 128: ".
func (s *Summarizer) ipoibHeader(data []byte, wire int) {
	if len(data) < 42 {
		return
	}
	et := binary.BigEndian.Uint16(data[40:])
	s.str("IPOIB, ethertype ")
	s.str(etherTypeName(et))
	if !s.opts.Quiet {
		s.str(" (0x")
		s.hex16raw(et)
		s.str(")")
	}
	s.str(", length ")
	s.int(wire)
	s.str(": ")
}

// familyHeader prints IPNET's and NFLOG's address family: ", family
// IPv4 (2)" or with -q ", IPv4".
func (s *Summarizer) familyHeader(fam uint8, names map[uint32]string, unknownQuiet string) {
	n, ok := names[uint32(fam)]
	if !s.opts.Quiet {
		if !ok {
			n = "Unknown"
		}
		s.str(", family ")
		s.str(n)
		s.str(" (")
		s.uint(uint64(fam))
		s.str(")")
		return
	}
	s.str(", ")
	if ok {
		s.str(n)
		return
	}
	s.str(unknownQuiet)
	s.str("0x")
	s.hex8(fam)
	s.str(")")
}

// ipnetHeader prints "4294967295 > 0, family IPv4 (2), length 108: ".
func (s *Summarizer) ipnetHeader(data []byte, wire int) {
	s.uint(uint64(binary.BigEndian.Uint32(data[16:])))
	s.str(" > ")
	s.uint(uint64(binary.BigEndian.Uint32(data[20:])))
	s.familyHeader(data[1], map[uint32]string{2: "IPv4", 26: "IPv6"}, "Unknown Ethertype (")
	s.str(", length ")
	s.int(wire)
	s.str(": ")
}

// nflogHeader prints "version 0, resource ID 42, family IPv4 (2),
// length 108: ".
func (s *Summarizer) nflogHeader(data []byte, wire int) {
	s.str("version ")
	s.uint(uint64(data[1]))
	s.str(", resource ID ")
	s.uint(uint64(binary.BigEndian.Uint16(data[2:])))
	s.familyHeader(data[0], map[uint32]string{2: "IPv4", 10: "IPv6"}, "Unknown NFLOG (")
	s.str(", length ")
	s.int(wire)
	s.str(": ")
}

var arcTypeNames = map[uint8]string{0xf0: "oldip", 0xf1: "oldarp", 0xd4: "ip", 0xd5: "arp", 0xd6: "rarp",
	0xdd: "atalk", 0xf7: "banyan", 0xfa: "ipx", 0xc4: "ipv6", 0x80: "diag"}

// arcnetHeader prints tcpdump's arcnet_print line for a Linux ARCNET
// header (which tcpdump reads as the plain header: its type is the
// offset's first byte).
func (s *Summarizer) arcnetHeader(data []byte, wire int) {
	s.hex8(data[0])
	s.str(" ")
	s.hex8(data[1])
	s.str(" ")
	if !s.opts.Quiet {
		if n, ok := arcTypeNames[data[2]]; ok {
			s.str(n)
		} else {
			s.hex8(data[2])
		}
		s.str(" ")
	}
	s.int(wire)
	s.str(": ")
}

// chdlcHeader prints "bcast, ethertype Reverse ARP (0x8035), length 24: ".
func (s *Summarizer) chdlcHeader(data []byte, wire int) {
	switch data[0] {
	case 0x0f:
		s.str("unicast")
	case 0x8f:
		s.str("bcast")
	default:
		s.str("0x")
		s.hex8(data[0])
	}
	et := binary.BigEndian.Uint16(data[2:])
	s.str(", ethertype ")
	n := etherTypeName(et)
	if et == 0xfefe {
		n = "OSI"
	}
	s.str(n)
	s.str(" (0x")
	s.hex16raw(et)
	s.str("), length ")
	s.int(wire)
	s.str(": ")
}

var frFlagNames = []bitName{{0x02000000, "C!"}, {0x00020000, "DE"}, {0x00040000, "BECN"},
	{0x00080000, "FECN"}, {0x00000002, "sdlcore"}}

// q922Flags returns the flags fr_hdr_print names for a Q.922 address.
func q922Flags(p []byte, addrLen int) uint32 {
	f := uint32(p[0]&0x02)<<24 | uint32(p[1]&0x0e)<<16
	if addrLen > 2 {
		f |= uint32(p[addrLen-1] & 0x02)
	}
	return f
}

// frHeader prints fr_hdr_print's "Q.922, hdr-len 2, DLCI 302, Flags
// [none], cisco-ethertype IPv6 (0x86dd), length 80: " (an NLPID when
// proto is below 256).
func (s *Summarizer) frHeader(length, addrLen int, dlci, flags uint32, proto uint16) {
	if s.opts.Quiet {
		s.str("Q.922, DLCI ")
		s.uint(uint64(dlci))
		s.str(", length ")
		s.int(length)
		s.str(": ")
		return
	}
	s.str("Q.922, hdr-len ")
	s.int(addrLen)
	s.str(", DLCI ")
	s.uint(uint64(dlci))
	s.str(", Flags [")
	s.bits(frFlagNames, "none", flags)
	s.str("], ")
	if proto <= 0xff {
		s.str("NLPID ")
		s.tok(nlpidNames, "unknown", uint32(proto))
		s.str(" (0x")
		s.hex8(uint8(proto))
	} else {
		s.str("cisco-ethertype ")
		n := etherTypeName(proto)
		if n == "Unknown" {
			n = "unknown"
		}
		s.str(n)
		s.str(" (0x")
		s.hex16raw(proto)
	}
	s.str("), length ")
	s.int(length)
	s.str(": ")
}

var llcNames = map[uint32]string{0x0: "Null", 0xff: "Global", 0x2: "802.1B I", 0x3: "802.1B G", 0x6: "IP",
	0x4: "SNA", 0xe: "ProWay NM", 0x42: "STP", 0x4e: "RS511", 0x7e: "ISO8208", 0x8e: "ProWay", 0xaa: "SNAP",
	0xe0: "IPX", 0xf0: "NetBeui", 0xfe: "OSI"}

// llcHeader prints "LLC, dsap STP (0x42) Individual, ssap STP (0x42)
// Command, ctrl 0x03: " for an LLC header of U format.
func (s *Summarizer) llcHeader(b []byte) {
	dsap, ssap := b[0]&^1, b[1]&^1
	s.str("LLC, dsap ")
	s.tok(llcNames, "Unknown", uint32(dsap))
	s.str(" (0x")
	s.hex8(dsap)
	s.str(") ")
	if b[0]&1 != 0 {
		s.str("Group")
	} else {
		s.str("Individual")
	}
	s.str(", ssap ")
	s.tok(llcNames, "Unknown", uint32(ssap))
	s.str(" (0x")
	s.hex8(ssap)
	s.str(") ")
	if b[1]&1 != 0 {
		s.str("Response")
	} else {
		s.str("Command")
	}
	s.str(", ctrl 0x")
	s.hex8(b[2])
	s.str(": ")
}

// snapHeader prints "oui Cisco (0x00000c), pid CDP (0x2000), length
// 366: " for a SNAP header of length bytes (LLC included).
func (s *Summarizer) snapHeader(b []byte, length int) {
	oui := uint32(b[3])<<16 | uint32(b[4])<<8 | uint32(b[5])
	et := binary.BigEndian.Uint16(b[6:])
	s.str("oui ")
	if n, ok := ouiNames[oui]; ok {
		s.str(n)
	} else {
		s.str("Unknown")
	}
	s.str(" (0x")
	s.buf = append(s.buf, hexDigits[b[3]>>4], hexDigits[b[3]&15], hexDigits[b[4]>>4], hexDigits[b[4]&15],
		hexDigits[b[5]>>4], hexDigits[b[5]&15])
	s.str("), ")
	name := "Unknown"
	switch oui {
	case 0:
		s.str("ethertype ")
		name = etherTypeName(et)
	case 0x00000c:
		s.str("pid ")
		name = map[uint16]string{0x2000: "CDP", 0x2003: "VTP", 0x2004: "DTP", 0x010b: "PVST", 0x0111: "UDLD"}[et]
		if name == "" {
			name = "Unknown"
		}
	default:
		s.str("pid ")
	}
	s.str(name)
	s.str(" (0x")
	s.hex16raw(et)
	s.str("), length ")
	s.buf = strconv.AppendInt(s.buf, int64(length-8), 10)
	s.str(": ")
}
