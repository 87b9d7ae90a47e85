package decode

import "encoding/binary"

// LDP (RFC 5036) as tcpdump 4.99's ldp_print prints it: "LDP,
// Label-Space-ID: 192.168.0.2:0, pdu-length: 28" and, with -v, each
// message and its TLVs on lines of their own.

var ldpMsgNames = map[uint32]string{0x0001: "Notification", 0x0100: "Hello", 0x0200: "Initialization",
	0x0201: "Keepalive", 0x0300: "Address", 0x0301: "Address Withdraw", 0x0400: "Label Mapping",
	0x0401: "Label Request", 0x0402: "Label Withdraw", 0x0403: "Label Release", 0x0404: "Label Abort Request"}

var ldpTLVNames = map[uint32]string{0x0100: "FEC", 0x0101: "Address List", 0x0103: "Hop Count",
	0x0104: "Path Vector", 0x0200: "Generic Label", 0x0201: "ATM Label", 0x0202: "Frame-Relay Label",
	0x0300: "Status", 0x0301: "Extended Status", 0x0302: "Returned PDU", 0x0303: "Returned Message",
	0x0400: "Common Hello Parameters", 0x0401: "IPv4 Transport Address",
	0x0402: "Configuration Sequence Number", 0x0403: "IPv6 Transport Address",
	0x0500: "Common Session Parameters", 0x0501: "ATM Session Parameters",
	0x0502: "Frame-Relay Session Parameters", 0x0503: "Fault-Tolerant Session Parameters",
	0x0600: "Label Request Message ID", 0x0601: "MTU"}

var ldpFECNames = map[uint32]string{1: "Wildcard", 2: "Prefix", 3: "Host address", 0x80: "Martini VC"}

const ldpTrunc = " [|ldp]"

// ldp prints the LDP PDUs in p, of length bytes on the wire.
func (s *Summarizer) ldp(p []byte, length int) {
	for length > 10+8 {
		n, ok := s.ldpPDU(p)
		if !ok {
			s.str(ldpTrunc)
			return
		}
		if n == 0 {
			return
		}
		if length < n {
			s.str(" [remaining length ")
			s.int(length)
			s.str(" < ")
			s.int(n)
			s.str("] (invalid)")
			return
		}
		length -= n
		p = p[min(n, len(p)):]
	}
}

// ldpPDU prints one PDU and returns its length (0 to stop); ok is false
// when the captured bytes ran out.
func (s *Summarizer) ldpPDU(p []byte) (int, bool) {
	if len(p) < 10 {
		return 0, false
	}
	nl := ""
	if s.opts.Verbose {
		nl = "\n\t"
	}
	if v := binary.BigEndian.Uint16(p); v != 1 {
		s.str(nl)
		s.str("LDP version ")
		s.uint(uint64(v))
		s.str(" packet not supported")
		return 0, true
	}
	pdu := int(binary.BigEndian.Uint16(p[2:]))
	if pdu < 6 {
		s.str(nl)
		s.str("LDP, pdu-length: ")
		s.int(pdu)
		s.str(" (too short, < 6)")
		return 0, true
	}
	s.str(nl)
	s.str("LDP, Label-Space-ID: ")
	s.ip4(p[4:8])
	s.str(":")
	s.uint(uint64(binary.BigEndian.Uint16(p[8:])))
	s.str(", pdu-length: ")
	s.int(pdu)
	if !s.opts.Verbose {
		return 0, true
	}
	t := p[10:]
	tlen := pdu - 6
	for tlen > 0 {
		if len(t) < 8 {
			return 0, false
		}
		ml := int(binary.BigEndian.Uint16(t[2:]))
		mt := uint32(binary.BigEndian.Uint16(t) & 0x7fff)
		s.str("\n\t  ")
		s.tok(ldpMsgNames, "Unknown", mt)
		s.str(" Message (0x")
		s.hex16raw(uint16(mt))
		s.str("), length: ")
		s.int(ml)
		if ml < 4 {
			s.str(" (too short, < 4)")
			return 0, true
		}
		s.str(", Message ID: 0x")
		s.hex32raw(binary.BigEndian.Uint32(t[4:]))
		s.str(", Flags: [")
		if t[0]&0x80 != 0 {
			s.str("continue processing")
		} else {
			s.str("ignore")
		}
		s.str(" if unknown]")
		if len(t) < ml {
			return 0, false
		}
		m := t[8:]
		mtlen := ml - 4
		switch mt {
		case 0x0001, 0x0100, 0x0200, 0x0201, 0x0300, 0x0400, 0x0301, 0x0402:
			for mtlen >= 4 {
				n, ok := s.ldpTLV(m, mtlen)
				if !ok {
					return 0, false
				}
				if n == 0 {
					break
				}
				mtlen -= n
				m = m[min(n, len(m)):]
			}
		default:
			s.unknownData("\n\t  ", m, mtlen)
		}
		tlen -= ml + 4
		t = t[min(ml+4, len(t)):]
	}
	return pdu + 4, true
}

// ldpTLV prints one TLV and returns its length with the header.
func (s *Summarizer) ldpTLV(t []byte, msgLen int) (int, bool) {
	if len(t) < 4 {
		return 0, false
	}
	l := int(binary.BigEndian.Uint16(t[2:]))
	if l+4 > msgLen {
		s.str("\n\t\t TLV contents go past end of message")
		return 0, true
	}
	raw := binary.BigEndian.Uint16(t)
	typ := uint32(raw & 0x3fff)
	s.str("\n\t    ")
	s.tok(ldpTLVNames, "Unknown", typ)
	s.str(" TLV (0x")
	s.hex16raw(uint16(typ))
	s.str("), length: ")
	s.int(l)
	s.str(", Flags: [")
	if raw&0x8000 != 0 {
		s.str("continue processing")
	} else {
		s.str("ignore")
	}
	s.str(" and ")
	if raw&0x4000 != 0 {
		s.str("do")
	} else {
		s.str("don't")
	}
	s.str(" forward if unknown]")
	v := t[4:]
	tl := l
	check := func(n int) bool {
		if tl < n {
			s.str(" [tlv length ")
			s.int(tl)
			s.str(" < ")
			s.int(n)
			s.str("] (invalid)")
			return false
		}
		return true
	}
	need := func(n int) bool { return len(v) >= n }
	switch typ {
	case 0x0400:
		if !check(4) {
			break
		}
		if !need(4) {
			return 0, false
		}
		f := binary.BigEndian.Uint16(v[2:])
		s.str("\n\t      Hold Time: ")
		s.uint(uint64(binary.BigEndian.Uint16(v)))
		s.str("s, Flags: [")
		if f&0x8000 != 0 {
			s.str("Targeted")
		} else {
			s.str("Link")
		}
		s.str(" Hello")
		if f&0x4000 != 0 {
			s.str(", Request for targeted Hellos")
		}
		s.str("]")
	case 0x0401:
		if !check(4) {
			break
		}
		if !need(4) {
			return 0, false
		}
		s.str("\n\t      IPv4 Transport Address: ")
		s.ip4(v[:4])
	case 0x0403:
		if !check(16) {
			break
		}
		if !need(16) {
			return 0, false
		}
		s.str("\n\t      IPv6 Transport Address: ")
		s.ip6(v[:16])
	case 0x0402:
		if !check(4) {
			break
		}
		if !need(4) {
			return 0, false
		}
		s.str("\n\t      Sequence Number: ")
		s.uint(uint64(binary.BigEndian.Uint32(v)))
	case 0x0101:
		if !check(2) {
			break
		}
		if !need(2) {
			return 0, false
		}
		af := binary.BigEndian.Uint16(v)
		v, tl = v[2:], tl-2
		s.str("\n\t      Address Family: ")
		switch af {
		case 1:
			s.str("IPv4")
		case 2:
			s.str("IPv6")
		default:
			s.str("Unknown (")
			s.uint(uint64(af))
			s.str(")")
		}
		s.str(", addresses")
		n := map[uint16]int{1: 4, 2: 16}[af]
		for n > 0 && tl >= n {
			if !need(n) {
				return 0, false
			}
			s.str(" ")
			if n == 4 {
				s.ip4(v[:4])
			} else {
				s.ip6(v[:16])
			}
			v, tl = v[n:], tl-n
		}
	case 0x0500:
		if !check(8) {
			break
		}
		if !need(8) {
			return 0, false
		}
		f := binary.BigEndian.Uint16(v[6:])
		s.str("\n\t      Version: ")
		s.uint(uint64(binary.BigEndian.Uint16(v)))
		s.str(", Keepalive: ")
		s.uint(uint64(binary.BigEndian.Uint16(v[2:])))
		s.str("s, Flags: [Downstream ")
		if f&0x8000 != 0 {
			s.str("On Demand")
		} else {
			s.str("Unsolicited")
		}
		s.str(", Loop Detection ")
		if f&0x4000 != 0 {
			s.str("Enabled")
		} else {
			s.str("Disabled")
		}
		s.str("]")
	case 0x0100:
		if !check(1) {
			break
		}
		if !need(1) {
			return 0, false
		}
		ft := v[0]
		s.str("\n\t      ")
		s.tok(ldpFECNames, "Unknown", uint32(ft))
		s.str(" FEC (0x")
		s.hex8(ft)
		s.str(")")
		v, tl = v[1:], tl-1
		if ft != 2 {
			break
		}
		if !check(2) {
			break
		}
		if !need(2) {
			return 0, false
		}
		af := binary.BigEndian.Uint16(v)
		v, tl = v[2:], tl-2
		switch af {
		case 1, 2:
			s.ldpPrefix(v, tl, af == 2)
		default:
			s.str(": Address family ")
			s.uint(uint64(af))
			s.str(" prefix")
		}
	case 0x0200:
		if !check(4) {
			break
		}
		if !need(4) {
			return 0, false
		}
		s.str("\n\t      Label: ")
		s.uint(uint64(binary.BigEndian.Uint32(v) & 0xfffff))
	case 0x0300:
		if !check(8) {
			break
		}
		if !need(8) {
			return 0, false
		}
		u := binary.BigEndian.Uint32(v)
		s.str("\n\t      Status: 0x")
		x := u & 0x3fffffff
		if x < 0x10 {
			s.str("0")
		}
		s.buf = appendHex(s.buf, x)
		s.str(", Flags: [")
		if u&0x80000000 != 0 {
			s.str("Fatal error")
		} else {
			s.str("Advisory Notification")
		}
		s.str(" and ")
		if u&0x40000000 != 0 {
			s.str("do")
		} else {
			s.str("don't")
		}
		s.str(" forward]")
		if id := binary.BigEndian.Uint32(v[4:]); id != 0 {
			s.str(", causing Message ID: 0x")
			s.hex32raw(id)
		}
	case 0x0601:
		if !check(2) {
			break
		}
		if !need(2) {
			return 0, false
		}
		s.str("\n\t      MTU: ")
		s.uint(uint64(binary.BigEndian.Uint16(v)))
	default:
		s.unknownData("\n\t      ", v, tl)
	}
	return l + 4, true
}

// ldpPrefix prints ": IPv4 prefix 10.0.0.0/8" from a length byte and the
// significant bytes (tcpdump's decode_prefix4/6).
func (s *Summarizer) ldpPrefix(v []byte, tl int, v6 bool) {
	name, max := "IPv4", 32
	if v6 {
		name, max = "IPv6", 128
	}
	if tl < 1 || len(v) < 1 {
		s.str(ldpTrunc)
		return
	}
	pl := int(v[0])
	if pl > max {
		s.str(": ")
		s.str(name)
		s.str(" prefix (invalid length)")
		return
	}
	n := (pl + 7) / 8
	if tl-1 < n {
		s.str(": IPv4 prefix (goes past end of TLV)")
		return
	}
	if len(v) < 1+n {
		s.str(ldpTrunc)
		return
	}
	var a [16]byte
	copy(a[:], v[1:1+n])
	if pl%8 != 0 {
		a[n-1] &= 0xff << (8 - pl%8)
	}
	s.str(": ")
	s.str(name)
	s.str(" prefix ")
	if v6 {
		s.ip6(a[:])
	} else {
		s.ip4(a[:4])
	}
	s.str("/")
	s.int(pl)
}
