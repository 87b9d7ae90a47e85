package decode

import (
	"encoding/binary"
	"math"
	"strconv"
)

// IS-IS as tcpdump 4.99's isoclns_print and isis_print print it: "IS-IS,
// p2p IIH, src-id 0000.0000.0001, length 1497" and, with -v, the PDU
// header and every TLV on lines of their own. CLNP and ES-IS are named
// only.

var isisPDUNames = map[uint32]string{0xf: "L1 Lan IIH", 0x10: "L2 Lan IIH", 0x11: "p2p IIH", 0x12: "L1 LSP",
	0x14: "L2 LSP", 0x18: "L1 CSNP", 0x19: "L2 CSNP", 0x1a: "L1 PSNP", 0x1b: "L2 PSNP"}

var isisCircuitTypes = map[uint32]string{1: "Level 1 only", 2: "Level 2 only", 3: "Level 1, Level 2"}

var isisISTypes = map[uint32]string{0: "Unused 0x0 (invalid)", 1: "L1 IS", 2: "Unused 0x2 (invalid)", 3: "L2 IS"}

var isisTLVNames = map[uint32]string{0x1: "Area address(es)", 0x2: "IS Reachability", 0x3: "ES Neighbor(s)",
	0x4: "Partition DIS", 0x5: "Prefix Neighbors", 0x6: "IS Neighbor(s)", 0x7: "Instance Identifier",
	0x8: "Padding", 0x9: "LSP entries", 0xa: "Authentication", 0xc: "Checksum",
	0xd: "Purge Originator Identifier", 0xe: "LSP Buffersize", 0x16: "Extended IS Reachability",
	0x18: "IS Alias ID", 0x2a: "DECnet Phase IV", 0x42: "Lucent Proprietary",
	0x80: "IPv4 Internal Reachability", 0x81: "Protocols supported", 0x82: "IPv4 External Reachability",
	0x83: "Inter-Domain Information Type", 0x84: "IPv4 Interface address(es)",
	0x85: "IPv4 authentication (deprecated)", 0x86: "Traffic Engineering Router ID",
	0x87: "Extended IPv4 Reachability", 0x8a: "Shared Risk Link Group",
	0x8f: "Multi-Topology-Aware Port Capability", 0x90: "Multi-Topology Capability",
	0xb0: "Nortel Proprietary", 0xb1: "Nortel Proprietary", 0x89: "Hostname", 0xd3: "Restart Signaling",
	0xde: "Multi Topology IS Reachability", 0xe5: "Multi Topology", 0xe8: "IPv6 Interface address(es)",
	0xeb: "Multi-Topology IPv4 Reachability", 0xec: "IPv6 reachability",
	0xed: "Multi-Topology IP6 Reachability", 0xf0: "Point-to-point Adjacency State",
	0xf1: "Hello PDU Sequence Number", 0xf2: "IS-IS Router Capability", 0xfa: "Vendor Private"}

var isisExtISSubNames = map[uint32]string{0x3: "Administrative groups", 0x4: "Link Local/Remote Identifier",
	0x5: "Link Remote Identifier", 0x6: "IPv4 interface address", 0x8: "IPv4 neighbor address",
	0x9: "Maximum link bandwidth", 0xa: "Reservable link bandwidth", 0xb: "Unreserved bandwidth",
	0x12: "Traffic Engineering Metric", 0x13: "Link Attribute", 0x14: "Link Protection Type",
	0x15: "Interface Switching Capability", 0xc: "Bandwidth Constraints (old)", 0x16: "Bandwidth Constraints",
	0x20: "LAN Adjacency Segment Identifier", 0x1d: "SPB Metric",
	0xfa: "Reserved for cisco specific extensions", 0xfb: "Reserved for cisco specific extensions",
	0xfc: "Reserved for cisco specific extensions", 0xfd: "Reserved for cisco specific extensions",
	0xfe: "Reserved for cisco specific extensions", 0xff: "Reserved for future expansion"}

var isisExtIPSubNames = map[uint32]string{1: "32-Bit Administrative tag", 2: "64-Bit Administrative tag",
	3: "Prefix SID", 0x75: "Management Prefix Color"}

var isisMTNames = map[uint32]string{0: "IPv4 unicast", 1: "In-Band Management", 2: "IPv6 unicast",
	3: "Multicast", 0xfff: "Development, Experimental or Proprietary"}

var isisMTFlags = []bitName{{0x4000, "ATT bit set"}, {0x8000, "Overload bit set"}}

var isisRestartFlags = []bitName{{1, "Restart Request"}, {2, "Restart Acknowledgement"},
	{4, "Suppress adjacency advertisement"}}

var isisRouterCapFlags = []bitName{{1, "S bit"}, {2, "D bit"}}

var isisSRFlags = []bitName{{0x80, "ipv4"}, {0x40, "ipv6"}}

var isisPrefixSIDFlags = []bitName{{0x80, "Readvertisement"}, {0x40, "Node"}, {0x20, "No-PHP"},
	{0x10, "Explicit NULL"}, {0x8, "Value"}, {0x4, "Local"}}

var isisAuthNames = map[uint32]string{1: "simple text password", 3: "Generic Crypto key-id",
	0x36: "HMAC-MD5 password", 0xff: "Routing Domain private password"}

var nlpidNames = map[uint32]string{0x0: "NULL", 0x8: "Q.933", 0x9: "LMI", 0x80: "SNAP", 0x81: "CLNP",
	0x82: "ES-IS", 0x83: "IS-IS", 0x84: "CONS", 0x85: "IDRP", 0xc1: "ISIS_SPB", 0xb1: "FRF.15", 0xcc: "IPv4",
	0xcf: "PPP", 0x8a: "X25 ES-IS", 0x8e: "IPv6"}

const isisTrunc = " [|isis]"

// isoclns prints an OSI network layer packet by its NLPID.
func (s *Summarizer) isoclns(p []byte, length int) {
	if len(p) < 1 {
		s.str(" [|isoclns]")
		return
	}
	if s.opts.Link {
		s.str("OSI NLPID ")
		s.tok(nlpidNames, "Unknown", uint32(p[0]))
		s.str(" (0x")
		s.hex8(p[0])
		s.str("): ")
	}
	switch p[0] {
	case 0x83:
		if !s.isis(p, length) {
			s.hexOnly("\n\t", p[:min(len(p), max(length, 0))])
		}
	case 0x00:
		s.str(", length: ")
		s.int(length)
	default:
		s.str("unknown NLPID 0x")
		s.hex8(p[0])
		s.str(", length: ")
		s.int(length)
		if length > 1 {
			s.hexOnly("\n\t", p[:min(len(p), length)])
		}
	}
}

// isisID prints a system ID (6 bytes), node ID (7) or LSP ID (8).
func (s *Summarizer) isisID(b []byte) {
	for i := range min(len(b), 6) {
		s.hex8(b[i])
		if i == 1 || i == 3 {
			s.str(".")
		}
	}
	if len(b) >= 7 {
		s.str(".")
		s.hex8(b[6])
	}
	if len(b) == 8 {
		s.str("-")
		s.hex8(b[7])
	}
}

// isoNSAP prints an area address as tcpdump's isonsap_string.
func (s *Summarizer) isoNSAP(b []byte) {
	if len(b) < 1 || len(b) > 20 {
		s.str("isonsap_string: illegal length")
		return
	}
	for i, c := range b {
		s.hex8(c)
		if i&1 == 0 && i+1 < len(b) {
			s.str(".")
		}
	}
}

// osiChecksum is tcpdump's create_osi_cksum: the Fletcher checksum an
// OSI PDU should carry at off.
func osiChecksum(p []byte, off, length int) uint16 {
	var c0, c1 uint32
	for i := range length {
		if i == off || i == off+1 {
			c1 += c0
			continue
		}
		c0 += uint32(p[i])
		c1 += c0
	}
	c0 %= 255
	c1 %= 255
	mul := uint32(length-off) * c0
	x := int(int32(mul - c0 - c1))
	y := int(int32(c1 - mul - 1))
	if y >= 0 {
		y++
	}
	if x < 0 {
		x--
	}
	x %= 255
	y %= 255
	if x == 0 {
		x = 255
	}
	if y == 0 {
		y = 255
	}
	return uint16(x<<8 | y&0xff)
}

func (s *Summarizer) osiPrintChecksum(p []byte, sum uint16, off, length int) {
	if sum == 0 || off < 0 || off+2 > len(p) || off > length || length > len(p) {
		s.str(" (unverified)")
		return
	}
	if c := osiChecksum(p, off, length); c == sum {
		s.str(" (correct)")
	} else {
		s.str(" (incorrect should be 0x")
		s.hex16raw(c)
		s.str(")")
	}
}

// isis prints an IS-IS PDU; false asks the caller for a hex dump.
func (s *Summarizer) isis(p []byte, length int) bool {
	v := s.opts.Verbose
	if len(p) < 8 {
		s.str(isisTrunc)
		return true
	}
	if length < 8 {
		s.str(isisTrunc)
		return true
	}
	sep := ", "
	if s.opts.Link {
		sep = ""
	} else {
		s.str("IS-IS")
	}
	if p[2] != 1 {
		s.str("version ")
		s.uint(uint64(p[2]))
		s.str(" packet not supported")
		return false
	}
	if p[3] != 6 && p[3] != 0 {
		s.str("system ID length of ")
		s.uint(uint64(p[3]))
		s.str(" is not supported")
		return false
	}
	if p[5] != 1 {
		s.str("version ")
		s.uint(uint64(p[5]))
		s.str(" packet not supported")
		return false
	}
	fixed := int(p[1])
	if length < fixed {
		s.str("fixed header length ")
		s.int(fixed)
		s.str(" > packet length ")
		s.int(length)
		return false
	}
	if fixed < 8 {
		s.str("fixed header length ")
		s.int(fixed)
		s.str(" < minimum header size 8")
		return false
	}
	maxArea := int(p[7])
	switch maxArea {
	case 0:
		maxArea = 3
	case 255:
		s.str("bad packet -- 255 areas")
		return false
	}
	pduType := uint32(p[4])
	if !v {
		s.str(sep)
		if n, ok := isisPDUNames[pduType]; ok {
			s.str(n)
		} else {
			s.str("unknown PDU-Type ")
			s.uint(uint64(pduType))
		}
	} else {
		s.str(sep)
		s.str("length ")
		s.int(length)
		s.str("\n\t")
		if n, ok := isisPDUNames[pduType]; ok {
			s.str(n)
		} else {
			s.str("unknown, type ")
			s.uint(uint64(pduType))
		}
		s.str(", hlen: ")
		s.int(fixed)
		s.str(", v: 1, pdu-v: 1, sys-id-len: 6 (")
		s.uint(uint64(p[3]))
		s.str("), max-area: ")
		s.int(maxArea)
		s.str(" (")
		s.uint(uint64(p[7]))
		s.str(")")
	}
	h := p[8:]
	packetLen := length
	bogus := func(want int) bool {
		if fixed != 8+want {
			s.str(", bogus fixed header length ")
			s.int(fixed)
			s.str(" should be ")
			s.int(8 + want)
			return true
		}
		return false
	}
	hdr := func(n int) bool {
		if len(h) < n || length < 8+n {
			s.str(isisTrunc)
			return false
		}
		return true
	}
	trimPDU := func(pduLen int) {
		if packetLen > pduLen {
			packetLen, length = pduLen, pduLen
		}
	}
	switch pduType {
	case 0xf, 0x10:
		if bogus(19) {
			return false
		}
		if !hdr(19) {
			return true
		}
		if !v {
			s.str(", src-id ")
			s.isisID(h[1:7])
			s.str(", lan-id ")
			s.isisID(h[12:19])
			s.str(", prio ")
			s.uint(uint64(h[11]))
			s.str(", length ")
			s.int(length)
			return true
		}
		pduLen := int(binary.BigEndian.Uint16(h[9:]))
		trimPDU(pduLen)
		s.str("\n\t  source-id: ")
		s.isisID(h[1:7])
		s.str(",  holding time: ")
		s.uint(uint64(binary.BigEndian.Uint16(h[7:])))
		s.str("s, Flags: [")
		s.isisCircuitType(h[0])
		s.str("]\n\t  lan-id:    ")
		s.isisID(h[12:19])
		s.str(", Priority: ")
		s.uint(uint64(h[11] & 0x7f))
		s.str(", PDU length: ")
		s.int(pduLen)
		h = h[19:]
		packetLen -= 27
	case 0x11:
		if bogus(12) {
			return false
		}
		if !hdr(12) {
			return true
		}
		if !v {
			s.str(", src-id ")
			s.isisID(h[1:7])
			s.str(", length ")
			s.int(length)
			return true
		}
		pduLen := int(binary.BigEndian.Uint16(h[9:]))
		trimPDU(pduLen)
		s.str("\n\t  source-id: ")
		s.isisID(h[1:7])
		s.str(", holding time: ")
		s.uint(uint64(binary.BigEndian.Uint16(h[7:])))
		s.str("s, Flags: [")
		s.isisCircuitType(h[0])
		s.str("]\n\t  circuit-id: 0x")
		s.hex8(h[11])
		s.str(", PDU length: ")
		s.int(pduLen)
		h = h[12:]
		packetLen -= 20
	case 0x12, 0x14:
		if fixed != 8+19 {
			s.str(", bogus fixed header length ")
			s.int(fixed)
			s.str(" should be 19")
			return false
		}
		if !hdr(19) {
			return true
		}
		if !v {
			s.str(", lsp-id ")
			s.isisID(h[4:12])
			s.str(", seq 0x")
			s.hex32raw(binary.BigEndian.Uint32(h[12:]))
			s.str(", lifetime ")
			s.padUint(uint64(binary.BigEndian.Uint16(h[2:])), 5)
			s.str("s, length ")
			s.int(length)
			return true
		}
		pduLen := int(binary.BigEndian.Uint16(h))
		trimPDU(pduLen)
		sum := binary.BigEndian.Uint16(h[16:])
		s.str("\n\t  lsp-id: ")
		s.isisID(h[4:12])
		s.str(", seq: 0x")
		s.hex32raw(binary.BigEndian.Uint32(h[12:]))
		s.str(", lifetime: ")
		s.padUint(uint64(binary.BigEndian.Uint16(h[2:])), 5)
		s.str("s\n\t  chksum: 0x")
		s.hex16raw(sum)
		s.osiPrintChecksum(p[12:], sum, 12, length-12)
		s.str(", PDU length: ")
		s.int(pduLen)
		s.str(", Flags: [ ")
		tb := h[18]
		if tb&0x04 != 0 {
			s.str("Overload bit set, ")
		}
		if tb&0x78 != 0 {
			for _, a := range [...]struct {
				bit  byte
				name string
			}{{0x08, "default "}, {0x10, "delay "}, {0x20, "expense "}, {0x40, "error "}} {
				if tb&a.bit != 0 {
					s.str(a.name)
				}
			}
			s.str("ATT bit set, ")
		}
		if tb&0x80 != 0 {
			s.str("P bit set, ")
		}
		s.tok(isisISTypes, "", uint32(tb&3))
		s.str(" ]")
		h = h[19:]
		packetLen -= 27
	case 0x18, 0x19:
		if bogus(25) {
			return false
		}
		if !hdr(25) {
			return true
		}
		if !v {
			s.str(", src-id ")
			s.isisID(h[2:9])
			s.str(", length ")
			s.int(length)
			return true
		}
		pduLen := int(binary.BigEndian.Uint16(h))
		trimPDU(pduLen)
		s.str("\n\t  source-id:    ")
		s.isisID(h[2:9])
		s.str(", PDU length: ")
		s.int(pduLen)
		s.str("\n\t  start lsp-id: ")
		s.isisID(h[9:17])
		s.str("\n\t  end lsp-id:   ")
		s.isisID(h[17:25])
		h = h[25:]
		packetLen -= 33
	case 0x1a, 0x1b:
		if fixed != 8+9 {
			s.str("- bogus fixed header length ")
			s.int(fixed)
			s.str(" should be 17")
			return false
		}
		if !hdr(9) {
			return true
		}
		if !v {
			s.str(", src-id ")
			s.isisID(h[2:9])
			s.str(", length ")
			s.int(length)
			return true
		}
		pduLen := int(binary.BigEndian.Uint16(h))
		trimPDU(pduLen)
		s.str("\n\t  source-id:    ")
		s.isisID(h[2:9])
		s.str(", PDU length: ")
		s.int(pduLen)
		h = h[9:]
		packetLen -= 17
	default:
		if !v {
			s.str(", length ")
			s.int(length)
			return true
		}
		s.hexOnly("\n\t  ", h[:min(len(h), max(length-8, 0))])
		return false
	}
	if packetLen < 0 {
		s.str(" (invalid)")
		return true
	}
	s.isisTLVs(p, h, packetLen, length)
	return true
}

func (s *Summarizer) isisCircuitType(c byte) {
	if n, ok := isisCircuitTypes[uint32(c)]; ok {
		s.str(n)
		return
	}
	s.str("unknown circuit type 0x")
	s.hex8(c)
}

// padUint prints v right-aligned in width columns (printf's %5u).
func (s *Summarizer) padUint(v uint64, width int) {
	d := strconv.FormatUint(v, 10)
	for i := len(d); i < width; i++ {
		s.str(" ")
	}
	s.str(d)
}

// isisTLVs prints the TLVs in t (packetLen bytes); pdu is the whole PDU
// for checksums.
func (s *Summarizer) isisTLVs(pdu, t []byte, packetLen, length int) {
	for packetLen > 0 {
		if len(t) < 2 || packetLen < 2 {
			s.str(isisTrunc)
			return
		}
		typ, l := t[0], int(t[1])
		t = t[2:]
		packetLen -= 2
		s.str("\n\t    ")
		s.tok(isisTLVNames, "unknown", uint32(typ))
		s.str(" TLV #")
		s.uint(uint64(typ))
		s.str(", length: ")
		s.int(l)
		if packetLen < l {
			s.str(isisTrunc)
			return
		}
		v := t[:min(l, len(t))]
		if !s.isisTLV(pdu, typ, v, l, length) {
			s.str(isisTrunc)
			return
		}
		if len(t) < l {
			s.str(isisTrunc)
			return
		}
		t = t[l:]
		packetLen -= l
	}
}

// isisTLV prints the value of one TLV; v holds what was captured of its
// l bytes. It returns false when tcpdump stops on truncation.
func (s *Summarizer) isisTLV(pdu []byte, typ byte, v []byte, l, length int) bool {
	short := func(n int) bool { return len(v) < n }
	switch typ {
	case 1:
		for tl := l; tl != 0; {
			if short(1) {
				return false
			}
			al := int(v[0])
			v, tl = v[1:], tl-1
			if tl < al {
				return true
			}
			if short(al) {
				return false
			}
			s.str("\n\t      Area address (length: ")
			s.int(al)
			s.str("): ")
			s.isoNSAP(v[:al])
			v, tl = v[al:], tl-al
		}
	case 6:
		for tl := l; tl != 0; tl -= 6 {
			if tl < 6 {
				return true
			}
			if short(6) {
				return false
			}
			s.str("\n\t      SNPA: ")
			s.isisID(v[:6])
			v = v[6:]
		}
	case 8:
	case 0x16, 0x18:
		for tl := l; tl != 0; {
			n := s.isisExtISReach(v, "\n\t      ", typ, tl)
			if n == 0 {
				return false
			}
			if tl < n {
				s.str(" [remaining tlv length ")
				s.int(tl)
				s.str(" < ")
				s.int(n)
				s.str("] (invalid)")
				break
			}
			tl -= n
			v = v[min(n, len(v)):]
		}
	case 0xde:
		if !s.isisMTID(v, l) {
			return false
		}
		v = v[2:]
		for tl := l - 2; tl != 0; {
			n := s.isisExtISReach(v, "\n\t      ", typ, tl)
			if n == 0 {
				return false
			}
			if tl < n {
				s.str(" [remaining tlv length ")
				s.int(tl)
				s.str(" < ")
				s.int(n)
				s.str("] (invalid)")
				break
			}
			tl -= n
			v = v[min(n, len(v)):]
		}
	case 2:
		if l < 1 {
			return true
		}
		if short(1) {
			return false
		}
		s.str("\n\t      ")
		switch v[0] {
		case 0:
			s.str("IsNotVirtual")
		case 1:
			s.str("IsVirtual")
		default:
			s.str("bogus virtual flag 0x")
			s.hex8(v[0])
		}
		v = v[1:]
		for tl := l - 1; tl != 0; tl -= 11 {
			if tl < 11 {
				return true
			}
			if short(11) {
				return false
			}
			s.str("\n\t      IS Neighbor: ")
			s.isisID(v[4:11])
			s.isisMetricBlock(v[:4])
			v = v[11:]
		}
	case 3:
		for tl := l; tl != 0; tl -= 10 {
			if tl < 10 {
				return true
			}
			if short(10) {
				return false
			}
			s.str("\n\t      ES Neighbor: ")
			s.isisID(v[4:10])
			s.isisMetricBlock(v[:4])
			v = v[10:]
		}
	case 0x80, 0x82:
		for tl := l; tl > 0; tl -= 12 {
			if tl < 12 {
				s.str("short IPv4 Reachability (")
				s.int(tl)
				s.str(" vs 12)")
				return true
			}
			if short(12) {
				return true // tcpdump returns quietly here
			}
			s.isisIPReach(v[:12])
			v = v[12:]
		}
	case 0x87, 0xec:
		for tl := l; tl != 0; {
			n, ok := s.isisExtdIPReach(v, typ == 0xec)
			if !ok || n == 0 {
				return false
			}
			if tl < n {
				s.str(" [remaining tlv length ")
				s.int(tl)
				s.str(" < ")
				s.int(n)
				s.str("] (invalid)")
				break
			}
			tl -= n
			v = v[min(n, len(v)):]
		}
	case 0xeb, 0xed:
		if !s.isisMTID(v, l) {
			return false
		}
		v = v[2:]
		for tl := l - 2; tl != 0; {
			n, ok := s.isisExtdIPReach(v, typ == 0xed)
			if !ok || n == 0 {
				return false
			}
			if tl < n {
				s.str(" [remaining tlv length ")
				s.int(tl)
				s.str(" < ")
				s.int(n)
				s.str("] (invalid)")
				break
			}
			tl -= n
			v = v[min(n, len(v)):]
		}
	case 0xe8:
		for tl := l; tl != 0; tl -= 16 {
			if tl < 16 {
				return true
			}
			if short(16) {
				return false
			}
			s.str("\n\t      IPv6 interface address: ")
			s.ip6(v[:16])
			v = v[16:]
		}
	case 0x84:
		for tl := l; tl != 0; tl -= 4 {
			if tl < 4 {
				return true
			}
			if short(4) {
				return false
			}
			s.str("\n\t      IPv4 interface address: ")
			s.ip4(v[:4])
			v = v[4:]
		}
	case 0x86:
		if l < 4 {
			return true
		}
		if short(4) {
			return false
		}
		s.str("\n\t      Traffic Engineering Router ID: ")
		s.ip4(v[:4])
	case 0x89:
		s.str("\n\t      Hostname: ")
		s.printjnp(v)
		if len(v) < l {
			return false
		}
	case 0x81:
		s.str("\n\t      NLPID(s): ")
		for i := range l {
			if i >= len(v) {
				return false
			}
			s.tok(nlpidNames, "unknown", uint32(v[i]))
			s.str(" (0x")
			s.hex8(v[i])
			s.str(")")
			if l-i > 1 {
				s.str(", ")
			}
		}
	case 0xf0:
		tl := l
		if tl >= 1 {
			if short(1) {
				return false
			}
			s.str("\n\t      Adjacency State: ")
			s.tok(map[uint32]string{0: "Up", 1: "Initializing", 2: "Down"}, "unknown", uint32(v[0]))
			s.str(" (")
			s.uint(uint64(v[0]))
			s.str(")")
			tl--
		}
		if tl > 4 {
			if short(5) {
				return false
			}
			s.str("\n\t      Extended Local circuit-ID: 0x")
			s.hex32raw(binary.BigEndian.Uint32(v[1:]))
			tl -= 4
		}
		if tl >= 6 {
			if short(11) {
				return false
			}
			s.str("\n\t      Neighbor System-ID: ")
			s.isisID(v[5:11])
			tl -= 6
		}
		if tl >= 4 {
			if short(15) {
				return false
			}
			s.str("\n\t      Neighbor Extended Local circuit-ID: 0x")
			s.hex32raw(binary.BigEndian.Uint32(v[11:]))
		}
	case 0x90:
		if l < 2 {
			return true
		}
		if short(2) {
			return false
		}
		w := binary.BigEndian.Uint16(v)
		s.str("\n\t      O: ")
		s.uint(uint64(w >> 15 & 1))
		s.str(", RES: ")
		s.uint(uint64(w >> 12 & 7))
		s.str(", MTID(s): ")
		s.uint(uint64(w & 0xfff))
		if l > 2 {
			return s.isisMTCapSub(v[2:], l-2)
		}
	case 0x04:
		for tl := l; tl != 0; tl -= 6 {
			if tl < 6 {
				return true
			}
			if short(6) {
				return false
			}
			s.str("\n\t      ")
			s.isisID(v[:6])
			v = v[6:]
		}
	case 0x09:
		for tl := l; tl != 0; tl -= 16 {
			if tl < 16 {
				return true
			}
			if short(16) {
				return false
			}
			s.str("\n\t      lsp-id: ")
			s.isisID(v[2:10])
			s.str(", seq: 0x")
			s.hex32raw(binary.BigEndian.Uint32(v[10:]))
			s.str(", lifetime: ")
			s.padUint(uint64(binary.BigEndian.Uint16(v)), 5)
			s.str("s, chksum: 0x")
			s.hex16raw(binary.BigEndian.Uint16(v[14:]))
			v = v[16:]
		}
	case 0x0c:
		if l < 2 {
			return true
		}
		if short(2) {
			return false
		}
		sum := binary.BigEndian.Uint16(v)
		s.str("\n\t      checksum: 0x")
		s.hex16raw(sum)
		s.str(" ")
		off := len(pdu) - len(v)
		s.osiPrintChecksum(pdu, sum, off, length)
	case 0x0d:
		if l < 1 {
			return true
		}
		if short(1) {
			return false
		}
		n := v[0]
		if n == 0 {
			s.str(" No system IDs supplied")
			break
		}
		if l-1 < 6 {
			return true
		}
		if short(7) {
			return false
		}
		s.str("\n\t      Purge Originator System-ID: ")
		s.isisID(v[1:7])
		if n > 1 {
			if l-7 < 6 {
				return true
			}
			if short(14) {
				return false
			}
			s.str("\n\t      Received from System-ID: ")
			s.isisID(v[7:13])
		}
	case 0xe5:
		for tl := l; tl != 0; {
			if tl == 1 {
				s.str("\n\t      invalid MT-ID")
				break
			}
			if !s.isisMTID(v, tl) {
				return false
			}
			v, tl = v[2:], tl-2
		}
	case 0xd3:
		if l < 1 {
			break
		}
		if short(1) {
			return false
		}
		s.str("\n\t      Flags [")
		s.bits(isisRestartFlags, "none", uint32(v[0]))
		s.str("]")
		if l == 1 || l < 3 {
			break
		}
		if short(3) {
			return false
		}
		s.str(", Remaining holding time ")
		s.uint(uint64(binary.BigEndian.Uint16(v[1:])))
		s.str("s")
		if l-3 == 6 {
			if short(9) {
				return false
			}
			s.str(", for ")
			s.isisID(v[3:9])
		}
	case 0x83:
		if l < 1 {
			break
		}
		if short(1) {
			return false
		}
		s.str("\n\t      Inter-Domain Information Type: ")
		switch v[0] {
		case 0:
			s.str("Reserved")
		case 1:
			s.str("Routing-Domain Specific")
		case 2:
			s.str("AS Number Tag")
		default:
			s.str("Unknown (0x")
			s.hex8(v[0])
			s.str(")")
		}
		if v[0] == 2 {
			if l-1 < 2 {
				return true
			}
			if short(3) {
				return false
			}
			s.str("AS Number: ")
			s.uint(uint64(binary.BigEndian.Uint16(v[1:])))
		} else {
			s.unknownData("\n\t      ", v[1:], l-1)
		}
	case 0x0e:
		if l < 2 {
			break
		}
		if short(2) {
			return false
		}
		s.str("\n\t      LSP Buffersize: ")
		s.uint(uint64(binary.BigEndian.Uint16(v)))
	case 0xf1:
		if l < 4 {
			break
		}
		if short(4) {
			return false
		}
		s.str("\n\t      Sequence number: ")
		s.uint(uint64(binary.BigEndian.Uint32(v)))
	case 0xf2:
		if l < 5 {
			s.str(" [object length ")
			s.int(l)
			s.str(" < 5] (invalid)")
			break
		}
		if short(5) {
			return false
		}
		s.str("\n\t      Router-ID ")
		s.ip4(v[:4])
		s.str(", Flags [")
		s.bits(isisRouterCapFlags, "none", uint32(v[4]))
		s.str("]")
		if l > 5 {
			s.isisRouterCapSub(v[5:], l-5)
		}
	case 0x0a:
		if l < 1 {
			return true
		}
		if short(1) {
			return false
		}
		at := v[0]
		s.str("\n\t      ")
		if n, ok := isisAuthNames[uint32(at)]; ok {
			s.str(n)
		} else {
			s.str("unknown Authentication type 0x")
			s.hex8(at)
		}
		s.str(": ")
		switch at {
		case 1:
			s.printjnp(v[1:])
		case 3:
			if l-1 < 2 {
				return true
			}
			if short(3) {
				return false
			}
			s.uint(uint64(binary.BigEndian.Uint16(v[1:])))
			s.str(", password: ")
			for _, c := range v[3:] {
				s.hex8(c)
			}
		default:
			s.unknownData("\n\t\t  ", v[1:], l-1)
		}
	case 0xfa:
		if l < 3 {
			break
		}
		if short(3) {
			return false
		}
		s.str("\n\t      Vendor: ")
		s.ouiName(v[:3])
		if l > 3 {
			s.unknownData("\n\t\t", v[3:], l-3)
		}
	default:
		s.unknownData("\n\t\t", v, l)
	}
	return true
}

// isisMetricBlock prints an old-style 4-byte metric block.
func (s *Summarizer) isisMetricBlock(m []byte) {
	s.str(", Default Metric: ")
	s.uint(uint64(m[0] & 0x3f))
	s.isisIE(m[0])
	for i, n := range [...]string{"Delay", "Expense", "Error"} {
		if m[i+1]&0x80 == 0 {
			s.str("\n\t\t  ")
			s.str(n)
			s.str(" Metric: ")
			s.uint(uint64(m[i+1] & 0x3f))
			s.isisIE(m[i+1])
		}
	}
}

func (s *Summarizer) isisIE(m byte) {
	if m&0x40 != 0 {
		s.str(", External")
	} else {
		s.str(", Internal")
	}
}

// isisIPReach prints one old-style IPv4 reachability entry.
func (s *Summarizer) isisIPReach(e []byte) {
	m := e[:4]
	mask := binary.BigEndian.Uint32(e[8:])
	plen := -1
	for i := 0; i <= 32; i++ {
		if mask == ^uint32(0)<<(32-i)&0xffffffff || (i == 0 && mask == 0) {
			plen = i
			break
		}
	}
	s.str("\n\t      IPv4 prefix: ")
	if plen < 0 {
		s.ip4(e[4:8])
		s.str(" mask ")
		s.ip4(e[8:12])
	} else {
		mark := len(s.buf)
		s.ip4(e[4:8])
		s.padLeft(mark, 15)
		s.str("/")
		s.int(plen)
	}
	s.str(", Distribution: ")
	if m[0]&0x80 != 0 {
		s.str("down")
	} else {
		s.str("up")
	}
	s.str(", Metric: ")
	s.uint(uint64(m[0] & 0x3f))
	s.isisIE(m[0])
	for i, n := range [...]string{"Delay", "Expense", "Error"} {
		if m[i+1]&0x80 == 0 {
			s.str("\n\t      ")
			s.str("  ")
			s.str(n)
			s.str(" Metric: ")
			s.uint(uint64(m[i+1] & 0x3f))
			s.isisIE(m[i+1])
		}
	}
}

// padLeft right-aligns what was written since mark in width columns.
func (s *Summarizer) padLeft(mark, width int) {
	n := len(s.buf) - mark
	if n >= width {
		return
	}
	pad := width - n
	s.buf = append(s.buf, make([]byte, pad)...)
	copy(s.buf[mark+pad:], s.buf[mark:mark+n])
	for i := mark; i < mark+pad; i++ {
		s.buf[i] = ' '
	}
}

// isisMTID prints a multi-topology ID; false when too short.
func (s *Summarizer) isisMTID(v []byte, l int) bool {
	if l < 2 || len(v) < 2 {
		return false
	}
	w := binary.BigEndian.Uint16(v)
	s.str("\n\t      ")
	s.tok(isisMTNames, "Reserved for IETF Consensus", uint32(w&0xfff))
	s.str(" Topology (0x")
	s.buf = append(s.buf, hexDigits[w>>8&0xf], hexDigits[w>>4&0xf], hexDigits[w&0xf])
	s.str("), Flags: [")
	s.bits(isisMTFlags, "none", uint32(w&0xf000))
	s.str("]")
	return true
}

// isisBW formats an IEEE float bandwidth in bytes/s as tcpdump's
// "%.3f Mbps".
func (s *Summarizer) isisBW(b []byte) {
	f := math.Float32frombits(binary.BigEndian.Uint32(b))
	f = f * 8 / 1000000
	s.buf = strconv.AppendFloat(s.buf, float64(f), 'f', 3, 64)
	s.str(" Mbps")
}

// isisExtISReach prints one extended IS reachability entry and returns
// the bytes it used (0 on truncation).
func (s *Summarizer) isisExtISReach(v []byte, ident string, typ byte, remaining int) int {
	if len(v) < 7 || remaining < 7 {
		return 0
	}
	s.str(ident)
	s.str("IS Neighbor: ")
	s.isisID(v[:7])
	p, remaining, used := v[7:], remaining-7, 7
	if typ != 0x18 {
		if len(p) < 3 || remaining < 3 {
			return 0
		}
		s.str(", Metric: ")
		s.uint(uint64(uint32(p[0])<<16 | uint32(p[1])<<8 | uint32(p[2])))
		p, remaining, used = p[3:], remaining-3, used+3
	}
	if len(p) < 1 || remaining < 1 {
		return 0
	}
	sum := int(p[0])
	p, remaining, used = p[1:], remaining-1, used+1
	if sum == 0 {
		s.str(", no sub-TLVs present")
		return used
	}
	s.str(", sub-TLVs present (")
	s.int(sum)
	s.str(")")
	ident += "  "
	for sum != 0 {
		if len(p) < 2 && remaining >= 2 {
			return 0
		}
		if remaining < 2 {
			s.str(ident)
			s.str("Remaining data in TLV shorter than a subTLV header")
			return used + remaining
		}
		if sum < 2 {
			s.str(ident)
			s.str("Remaining data in subTLVs shorter than a subTLV header")
			return used + sum
		}
		st, sl := uint32(p[0]), int(p[1])
		p, remaining, sum, used = p[2:], remaining-2, sum-2, used+2
		s.str(ident)
		s.tok(isisExtISSubNames, "unknown", st)
		s.str(" subTLV #")
		s.uint(uint64(st))
		s.str(", length: ")
		s.int(sl)
		if sum < sl {
			s.str(" (remaining data in subTLVs shorter than the current subTLV)")
			return used + sum
		}
		if remaining < sl {
			s.str(" (> remaining tlv length)")
			return used + remaining
		}
		if len(p) < sl {
			return 0
		}
		sv := p[:sl]
		switch st {
		case 3, 4, 5:
			if sl >= 4 {
				s.str(", 0x")
				s.hex32raw(binary.BigEndian.Uint32(sv))
				if sl == 8 {
					s.str(", 0x")
					s.hex32raw(binary.BigEndian.Uint32(sv[4:]))
				}
			}
		case 6, 8:
			if sl >= 4 {
				s.str(", ")
				s.ip4(sv[:4])
			}
		case 9, 10:
			if sl >= 4 {
				s.str(", ")
				s.isisBW(sv)
			}
		case 11:
			if sl >= 32 {
				for c := range 8 {
					s.str(ident)
					s.str("  TE-Class ")
					s.int(c)
					s.str(": ")
					s.isisBW(sv[4*c:])
				}
			}
		case 0x16, 0xc:
			if sl == 0 {
				break
			}
			s.str(ident)
			s.str("Bandwidth Constraints Model ID: ")
			s.tok(map[uint32]string{0: "Russian dolls", 1: "Maximum allocation",
				254: "Maximum allocation with E-LSP support"}, "unknown", uint32(sv[0]))
			s.str(" (")
			s.uint(uint64(sv[0]))
			s.str(")")
			for c, b := 0, sv[1:]; len(b) >= 4; c, b = c+1, b[4:] {
				s.str(ident)
				s.str("  Bandwidth constraint CT")
				s.int(c)
				s.str(": ")
				s.isisBW(b)
			}
		case 0x12:
			if sl >= 3 {
				s.str(", ")
				s.uint(uint64(uint32(sv[0])<<16 | uint32(sv[1])<<8 | uint32(sv[2])))
			}
		default:
			s.unknownData("\n\t\t    ", sv, sl)
		}
		p, remaining, sum, used = p[sl:], remaining-sl, sum-sl, used+sl
	}
	return used
}

// isisExtdIPReach prints one extended IPv4 or IPv6 reachability entry.
func (s *Summarizer) isisExtdIPReach(v []byte, v6 bool) (int, bool) {
	if len(v) < 5 {
		return 0, false
	}
	metric := binary.BigEndian.Uint32(v)
	status := v[4]
	var bits, used int
	p := v[5:]
	if v6 {
		if len(v) < 6 {
			return 0, false
		}
		bits = int(v[5])
		if bits > 128 {
			s.str("\n\t      IPv6 prefix: bad bit length ")
			s.int(bits)
			return 0, true
		}
		p, used = v[6:], 6
	} else {
		bits = int(status & 0x3f)
		if bits > 32 {
			s.str("\n\t      IPv4 prefix: bad bit length ")
			s.int(bits)
			return 0, true
		}
		used = 5
	}
	n := (bits + 7) / 8
	if len(p) < n {
		return 0, false
	}
	var a [16]byte
	copy(a[:], p[:n])
	p, used = p[n:], used+n
	if v6 {
		s.str("\n\t      IPv6 prefix: ")
		s.ip6(a[:])
	} else {
		s.str("\n\t      IPv4 prefix: ")
		mark := len(s.buf)
		s.ip4(a[:4])
		s.padLeft(mark, 15)
	}
	s.str("/")
	s.int(bits)
	s.str(", Distribution: ")
	if status&0x80 != 0 {
		s.str("down")
	} else {
		s.str("up")
	}
	s.str(", Metric: ")
	s.uint(uint64(metric))
	sub := false
	if v6 {
		if status&0x40 != 0 {
			s.str(", External")
		} else {
			s.str(", Internal")
		}
		if status&0x20 != 0 {
			s.str(", sub-TLVs present")
			sub = true
		}
	} else if status&0x40 != 0 {
		s.str(", sub-TLVs present")
		sub = true
	}
	if !sub {
		return used, true
	}
	if len(p) < 1 {
		return 0, false
	}
	sl := int(p[0])
	p = p[1:]
	used += sl + 1
	s.str(" (")
	s.int(sl)
	s.str(")")
	for sl > 0 {
		if len(p) < 2 {
			return 0, false
		}
		st, l := uint32(p[0]), int(p[1])
		p = p[2:]
		s.str("\n\t        ")
		s.tok(isisExtIPSubNames, "unknown", st)
		s.str(" subTLV #")
		s.uint(uint64(st))
		s.str(", length: ")
		s.int(l)
		if len(p) < l {
			return 0, false
		}
		sv := p[:l]
		switch st {
		case 1, 0x75:
			for ; len(sv) >= 4; sv = sv[4:] {
				x := binary.BigEndian.Uint32(sv)
				s.str(", 0x")
				s.hex32raw(x)
				s.str(" (=")
				s.uint(uint64(x))
				s.str(")")
			}
		case 2:
			for ; len(sv) >= 8; sv = sv[8:] {
				s.str(", 0x")
				s.hex32raw(binary.BigEndian.Uint32(sv))
				s.hex32raw(binary.BigEndian.Uint32(sv[4:]))
			}
		case 3:
			if len(sv) < 2 {
				return 0, false
			}
			flags, algo := sv[0], sv[1]
			var sid uint32
			if flags&0x08 != 0 {
				if l < 5 {
					s.str(isisTrunc)
					return 0, false
				}
				sid = uint32(sv[2])<<16 | uint32(sv[3])<<8 | uint32(sv[4])
			} else {
				if l < 6 {
					s.str(isisTrunc)
					return 0, false
				}
				sid = binary.BigEndian.Uint32(sv[2:])
			}
			s.str(", Flags [")
			s.bits(isisPrefixSIDFlags, "None", uint32(flags))
			s.str("], Algo ")
			s.tok(map[uint32]string{0: "SPF", 1: "strict-SPF"}, "Unknown", uint32(algo))
			s.str(" (")
			s.uint(uint64(algo))
			s.str("), ")
			if flags&0x08 != 0 {
				s.str("label ")
			} else {
				s.str("index ")
			}
			s.uint(uint64(sid))
		default:
			s.unknownData("\n\t\t    ", sv, l)
		}
		p = p[l:]
		sl -= l + 2
	}
	return used, true
}

// isisRouterCapSub prints the sub-TLVs of a router capability TLV.
func (s *Summarizer) isisRouterCapSub(v []byte, tl int) {
	for tl >= 2 {
		if len(v) < 2 {
			return
		}
		st, sl := v[0], int(v[1])
		v, tl = v[2:], tl-2
		s.str("\n\t\t")
		if st == 2 {
			s.str("SR-Capabilities")
		} else {
			s.str("unknown")
		}
		s.str(" subTLV #")
		s.uint(uint64(st))
		s.str(", length: ")
		s.int(sl)
		if sl > tl || len(v) < sl {
			return
		}
		sv := v[:sl]
		if st == 2 && sl >= 4 {
			s.str(", Flags [")
			s.bits(isisSRFlags, "None", uint32(sv[0]))
			s.str("], Range ")
			s.uint(uint64(uint32(sv[1])<<16 | uint32(sv[2])<<8 | uint32(sv[3])))
			p := sv[4:]
			for len(p) >= 5 {
				t, l := p[0], int(p[1])
				p = p[2:]
				if l > len(p) {
					break
				}
				if t == 1 {
					switch l {
					case 3:
						s.str(", SID value ")
						s.uint(uint64(uint32(p[0])<<16 | uint32(p[1])<<8 | uint32(p[2])))
					case 4:
						s.str(", SID value ")
						s.uint(uint64(binary.BigEndian.Uint32(p)))
					default:
						s.str(", Unknown SID length")
						s.int(l)
					}
				} else {
					s.hexOnly("\n\t\t  ", p[:l])
				}
				p = p[l:]
			}
		} else if st != 2 {
			s.hexOnly("\n\t\t", sv)
		}
		v, tl = v[sl:], tl-sl
	}
}

// isisMTCapSub prints the sub-TLVs of a multi-topology capability TLV
// that tcpdump names; it returns false on truncation.
func (s *Summarizer) isisMTCapSub(v []byte, l int) bool {
	for l > 2 {
		if len(v) < 2 {
			return false
		}
		st, sl := uint32(v[0]), int(v[1])
		v, l = v[2:], l-2
		s.str("\n\t      ")
		s.tok(map[uint32]string{1: "SPB Instance", 3: "SPBM Service Identifier and Unicast Address"}, "unknown", st)
		s.str(" subTLV #")
		s.uint(uint64(st))
		s.str(", length: ")
		s.int(sl)
		if l < sl {
			s.str(" (> containing TLV length)")
			return true
		}
		if len(v) < sl {
			return false
		}
		v, l = v[sl:], l-sl
	}
	return true
}
