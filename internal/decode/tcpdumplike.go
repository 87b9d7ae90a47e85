package decode

import "encoding/binary"

// This file holds the decoders added to print what tcpdump 4.99 prints for
// the corpus's less common protocols (CDP, ...), and the hex layout
// tcpdump's print_unknown_data uses inside them.

// hexOnly appends data as tcpdump's hex_print does: indent, then lines of
// "0x%04x: " and up to eight groups of " %02x%02x" (an odd last byte as
// " %02x"), each line starting with indent.
func (s *Summarizer) hexOnly(indent string, data []byte) {
	for i := 0; i < len(data); i += 2 {
		if i%16 == 0 {
			s.str(indent)
			s.str("0x")
			s.buf = appendOffset(s.buf, i)
			s.str(": ")
		}
		s.str(" ")
		s.buf = append(s.buf, hexDigits[data[i]>>4], hexDigits[data[i]&15])
		if i+1 < len(data) {
			s.buf = append(s.buf, hexDigits[data[i+1]>>4], hexDigits[data[i+1]&15])
		}
	}
}

// chdlc decodes a Cisco HDLC frame: its protocol field says what follows,
// SLARP (0x8035) being Cisco's own.
func (s *Summarizer) chdlc(data []byte, wire int) {
	if len(data) < 4 {
		s.str(" [|chdlc]")
		return
	}
	proto := binary.BigEndian.Uint16(data[2:])
	if s.opts.Link {
		s.chdlcHeader(data, wire)
	}
	switch proto {
	case 0x8035:
		s.slarp(data[4:], wire-4)
	case 0x0800, 0x86dd, 0x8847, 0x8848:
		s.ethertype(proto, data[4:], wire-4)
	case 0xfefe:
		// A fudge byte may precede the NLPID, as tcpdump checks.
		p := data[4:]
		if len(p) >= 2 && (p[1] == 0x81 || p[1] == 0x82 || p[1] == 0x83) {
			s.isoclns(p[1:], wire-5)
		} else {
			s.isoclns(p, wire-4)
		}
	default:
		if !s.opts.Link { // -e has named it already
			s.str("unknown CHDLC protocol (")
			s.hex16(proto)
			s.str(")")
		}
	}
}

// slarp prints Cisco's Serial Line ARP as tcpdump does.
func (s *Summarizer) slarp(b []byte, length int) {
	s.str("SLARP (length: ")
	s.int(max(length, 0))
	s.str("), ")
	if len(b) < 4 {
		s.str(" [|slarp]")
		return
	}
	switch code := binary.BigEndian.Uint32(b); code {
	case 0:
		s.str("request")
	case 1:
		if len(b) < 12 {
			s.str(" [|slarp]")
			return
		}
		s.str("reply ")
		s.ip4(b[4:8])
		s.str("/")
		s.ip4(b[8:12])
	case 2:
		if len(b) < 14 {
			s.str(" [|slarp]")
			return
		}
		s.str("keepalive: mineseen=0x")
		s.hex32(binary.BigEndian.Uint32(b[4:]))
		s.str(", yourseen=0x")
		s.hex32(binary.BigEndian.Uint32(b[8:]))
		s.str(", reliability=0x")
		s.hex16raw(binary.BigEndian.Uint16(b[12:]))
		if length >= 18 && len(b) >= 18 {
			sec := binary.BigEndian.Uint32(b[14:]) / 1000
			mins := sec / 60
			sec -= mins * 60
			hrs := mins / 60
			mins -= hrs * 60
			days := hrs / 24
			hrs -= days * 24
			s.str(", link uptime=")
			s.uint(uint64(days))
			s.str("d")
			s.uint(uint64(hrs))
			s.str("h")
			s.uint(uint64(mins))
			s.str("m")
			s.uint(uint64(sec))
			s.str("s")
		}
	default:
		s.str("0x")
		s.hex32(code)
		s.str(" unknown")
	}
	if s.opts.Verbose && length > 18 {
		s.str(", (trailing junk: ")
		s.int(length - 18)
		s.str(" bytes)")
	}
}

// hex32 appends v as eight hex digits, without "0x".
func (s *Summarizer) hex32(v uint32) {
	s.hex16raw(uint16(v >> 16))
	s.hex16raw(uint16(v))
}

// arcnetLinux decodes a LINKTYPE_ARCNET_LINUX frame (source, destination,
// offset, protocol, and for the RFC 1201 protocols a split flag and a
// sequence number) as tcpdump does without -e: only what it carries.
func (s *Summarizer) arcnetLinux(data []byte, wire int) {
	if len(data) < 5 {
		s.str(" [|arcnet]")
		return
	}
	if s.opts.Link {
		s.arcnetHeader(data, wire)
	}
	proto := data[4]
	hdr := 8
	if proto == 240 || proto == 241 || proto == 0x80 { // RFC 1051's IP and ARP, diagnostics
		hdr = 5
	}
	if len(data) < hdr {
		s.str(" [|arcnet]")
		return
	}
	b, w := data[hdr:], wire-hdr
	switch proto {
	case 240, 212:
		s.ipv4(b, w)
	case 196:
		s.ipv6(b, w)
	case 241, 213, 214:
		s.arp(b, w)
	default:
		s.fallbackLink(LinkTypeARCNETLinux)
	}
}

// Link types of Ethernet frames with a Broadcom switch tag: after the
// source address (281) or before the destination (282).
const (
	LinkTypeDSATagBRCM        = 281
	LinkTypeDSATagBRCMPrepend = 282
)

var brcmTE = [...]string{"None", "Untag", "Header", "Reserved"}

// brcmTag prints the 4-byte Broadcom tag b as tcpdump does, followed by
// ", ".
func (s *Summarizer) brcmTag(b []byte) {
	s.str("BRCM tag OP: ")
	if b[0] != 0 {
		s.str("IG")
	} else {
		s.str("EG")
	}
	if b[0]&(1<<5) != 0 {
		s.str(", TC: ")
		s.uint(uint64(b[1] >> 2 & 7))
		s.str(", TE: ")
		s.str(brcmTE[b[1]&3])
		s.str(", TS: ")
		s.uint(uint64(b[1] >> 7))
		s.str(", DST map: 0x")
		s.hex16raw(binary.BigEndian.Uint16(b[2:]) & 0x1ff)
	} else {
		s.str(", CID: ")
		s.uint(uint64(b[1]))
		s.str(", RC: ")
		switch b[2] {
		case 1:
			s.str("mirror")
		case 2:
			s.str("MAC learning")
		case 4:
			s.str("switching")
		case 8:
			s.str("prot term")
		case 16:
			s.str("prot snoop")
		case 32:
			s.str("exception")
		default:
			s.str("reserved")
		}
		s.str(", TC: ")
		s.uint(uint64(b[3] >> 5 & 7))
		s.str(", port: ")
		s.uint(uint64(b[3] & 0x1f))
	}
	s.str(", ")
}

// brcmLink decodes the Broadcom-tagged link types. tcpdump prints the tag
// of 281 always, that of 282 only with -e.
func (s *Summarizer) brcmLink(linkType uint32, data []byte, wire int) {
	if len(data) < 18 {
		s.str(" [|brcm]")
		return
	}
	if linkType == LinkTypeDSATagBRCMPrepend {
		if s.opts.Link {
			s.brcmTag(data[:4])
			s.etherLinked(data[4:], wire-4)
			return
		}
		s.ethernet(data[4:], wire-4)
		return
	}
	if s.opts.Link {
		s.mac(data[6:12])
		s.str(" > ")
		s.mac(data[0:6])
		s.str(", ")
	}
	s.brcmTag(data[12:16])
	if s.opts.Link {
		s.etherPhrase(binary.BigEndian.Uint16(data[16:]))
		s.str(", length ")
		s.int(wire)
		s.str(": ")
	}
	s.ethHdr = append(append(make([]byte, 0, 14), data[:12]...), data[16:18]...)
	s.ethertype(binary.BigEndian.Uint16(data[16:]), data[18:], wire-18)
}

var greFlagNames = [...]struct {
	bit  uint16
	name string
}{{0x8000, "checksum present"}, {0x4000, "routing present"}, {0x2000, "key present"},
	{0x1000, "sequence# present"}, {0x0800, "source routing present"}, {0x0080, "ack present"}}

// greV1 prints what follows "GREv1" of an enhanced GRE (PPTP) packet b of
// plen bytes as tcpdump does: the call ID, sequence and acknowledgement
// numbers and the PPP frame it carries (on a line of its own with -v).
func (s *Summarizer) greV1(b []byte, plen int) {
	flags := binary.BigEndian.Uint16(b)
	proto := binary.BigEndian.Uint16(b[2:])
	if s.opts.Verbose {
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
	off := 4
	field := func() (uint32, bool) {
		if len(b) < off+4 {
			s.str(" [|gre]")
			return 0, false
		}
		v := binary.BigEndian.Uint32(b[off:])
		off += 4
		return v, true
	}
	if flags&0x2000 != 0 {
		k, ok := field()
		if !ok {
			return
		}
		s.str(", call ")
		s.uint(uint64(k & 0xffff))
	}
	if flags&0x1000 != 0 {
		v, ok := field()
		if !ok {
			return
		}
		s.str(", seq ")
		s.uint(uint64(v))
	}
	if flags&0x0080 != 0 {
		v, ok := field()
		if !ok {
			return
		}
		s.str(", ack ")
		s.uint(uint64(v))
	}
	if flags&0x1000 == 0 {
		s.str(", no-payload")
	}
	s.str(", length ")
	s.int(plen)
	if flags&0x1000 == 0 {
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
	if proto != 0x880b {
		s.str("gre-proto-0x")
		s.buf = appendHex(s.buf, uint32(proto))
		return
	}
	s.ppp(b[off:], plen-off)
}

// geneveOptions prints Geneve options as tcpdump -v does: "class Standard
// (0x0) type 0x80(C) len 8", separated by ", ".
func (s *Summarizer) geneveOptions(b []byte, total int) {
	sep := ""
	for off := 0; off < total; {
		if off+4 > len(b) {
			s.str(" [|geneve]")
			return
		}
		class := binary.BigEndian.Uint16(b[off:])
		typ := b[off+2]
		l := 4 + int(b[off+3]&0x1f)*4
		s.str(sep)
		s.str("class ")
		switch {
		case class <= 0xff:
			s.str("Standard")
		case class == 0x100:
			s.str("Linux")
		case class == 0x101:
			s.str("Open vSwitch")
		case class == 0x102:
			s.str("Open Virtual Networking (OVN)")
		case class == 0x103:
			s.str("In-band Network Telemetry (INT)")
		case class == 0x104:
			s.str("VMware")
		case class >= 0xfff0:
			s.str("Experimental")
		default:
			s.str("Unknown")
		}
		s.str(" (0x")
		s.buf = appendHex(s.buf, uint32(class))
		s.str(") type 0x")
		s.buf = appendHex(s.buf, uint32(typ))
		if typ&0x80 != 0 {
			s.str("(C)")
		}
		s.str(" len ")
		s.int(l)
		if l > total-off {
			s.str(" [bad length]")
			return
		}
		off += l
		sep = ", "
	}
}
