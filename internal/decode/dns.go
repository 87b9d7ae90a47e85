package decode

import "encoding/binary"

// DNS (and mDNS) messages as tcpdump -n prints them without -v:
//
//	1000+ A? host0.example.com. (35)
//	1000 1/0/0 A 10.0.0.1 (51)

var dnsTypes = map[uint16]string{
	1: "A", 2: "NS", 3: "MD", 4: "MF", 5: "CNAME", 6: "SOA", 7: "MB", 8: "MG", 9: "MR", 10: "NULL",
	11: "WKS", 12: "PTR", 13: "HINFO", 14: "MINFO", 15: "MX", 16: "TXT", 17: "RP", 18: "AFSDB",
	19: "X25", 20: "ISDN", 21: "RT", 22: "NSAP", 23: "NSAP_PTR", 24: "SIG", 25: "KEY", 26: "PX",
	27: "GPOS", 28: "AAAA", 29: "LOC", 30: "NXT", 31: "EID", 32: "NIMLOC", 33: "SRV", 34: "ATMA",
	35: "NAPTR", 36: "KX", 37: "CERT", 38: "A6", 39: "DNAME", 40: "SINK", 41: "OPT", 42: "APL",
	43: "DS", 44: "SSHFP", 45: "IPSECKEY", 46: "RRSIG", 47: "NSEC", 48: "DNSKEY", 49: "DHCID",
	50: "NSEC3", 51: "NSEC3PARAM", 52: "TLSA", 53: "SMIMEA", 55: "HIP", 56: "NINFO", 57: "RKEY",
	58: "TALINK", 59: "CDS", 60: "CDNSKEY", 61: "OPENPGPKEY", 62: "CSYNC", 63: "ZONEMD",
	64: "SVCB", 65: "HTTPS",
	99: "SPF", 100: "UINFO", 101: "UID", 102: "GID", 103: "UNSPEC", 104: "NID", 105: "L32",
	106: "L64", 107: "LP", 108: "EUI48", 109: "EUI64", 249: "TKEY", 250: "TSIG", 251: "IXFR",
	252: "AXFR", 253: "MAILB", 254: "MAILA", 255: "ANY", 256: "URI", 257: "CAA", 32768: "TA", 32769: "DLV",
}

var dnsRcodes = [16]string{"", " FormErr", " ServFail", " NXDomain", " NotImp", " Refused", " YXDomain",
	" YXRRSet", " NXRRSet", " NotAuth", " NotZone", " Resp11", " Resp12", " Resp13", " Resp14", " NoChange"}

func (s *Summarizer) dnsType(t uint16) {
	if n, ok := dnsTypes[t]; ok {
		s.str(n)
		return
	}
	s.str("Type")
	s.uint(uint64(t))
}

// dns prints the DNS message m (the captured bytes) of length bytes on
// the wire; mdns selects mDNS's reading of the class field's top bit (QU /
// cache flush). Where the capture ends it stops as tcpdump's domain_print
// does: " [|domain]" where a question or a record's data is cut, nothing
// for an answer whose fixed fields are cut when it is the last.
func (s *Summarizer) dns(m []byte, length int, mdns bool) {
	if length < 12 {
		s.str("domain [length ")
		s.int(length)
		s.str(" < 12] (invalid)")
		return
	}
	if len(m) < 12 {
		s.str(" [|domain]")
		return
	}
	id := binary.BigEndian.Uint16(m)
	f := binary.BigEndian.Uint16(m[2:])
	qd := int(binary.BigEndian.Uint16(m[4:]))
	an := int(binary.BigEndian.Uint16(m[6:]))
	ns := int(binary.BigEndian.Uint16(m[8:]))
	ar := int(binary.BigEndian.Uint16(m[10:]))
	opcode := f >> 11 & 0xf
	s.uint(uint64(id))
	if opcode != 0 {
		s.str(" op")
		s.uint(uint64(opcode))
	}
	off := 12
	if f&0x8000 != 0 { // response
		s.str(dnsRcodes[f&0xf])
		if f&0x0400 != 0 {
			s.str("*")
		}
		if f&0x0080 == 0 {
			s.str("-")
		}
		if f&0x0200 != 0 {
			s.str("|")
		}
		if f&0x0020 != 0 {
			s.str("$")
		}
		if qd != 1 {
			s.str(" [")
			s.int(qd)
			s.str("q]")
		}
		for range qd {
			off = dnsSkipName(m, off)
			if off < 0 {
				s.str(" [|domain]")
				return
			}
			off += 4
		}
		s.str(" ")
		s.int(an)
		s.str("/")
		s.int(ns)
		s.str("/")
		s.int(ar)
		if off > len(m) && an > 0 {
			// tcpdump skips the question's type and class
			// unchecked; reading the answer then stops (with -v
			// after the space before its name).
			if s.opts.Verbose {
				s.str(" ")
			}
			s.str(" [|domain]")
			return
		}
		for i := 0; i < an; i++ {
			if i > 0 {
				if off >= len(m) {
					s.str(" [|domain]")
					return
				}
				s.str(",")
			}
			off = s.dnsRR(m, off, mdns)
			if off < 0 {
				s.str(" [|domain]")
				return
			}
		}
	} else {
		if f&0x0100 != 0 {
			s.str("+")
		}
		if f&0x0200 != 0 {
			s.str("|")
		}
		if f&0x0010 != 0 {
			s.str("%")
		}
		if qd != 1 {
			s.str(" [")
			s.int(qd)
			s.str("q]")
		}
		if an != 0 {
			s.str(" [")
			s.int(an)
			s.str("a]")
		}
		if ns != 0 {
			s.str(" [")
			s.int(ns)
			s.str("n]")
		}
		if ar != 0 {
			s.str(" [")
			s.int(ar)
			s.str("au]")
		}
		for i := 0; i < qd; i++ {
			if i > 0 && off >= len(m) {
				s.str(" [|domain]")
				return
			}
			off = s.dnsQuestion(m, off, mdns)
			if off < 0 {
				s.str(" [|domain]")
				return
			}
		}
	}
	s.str(" (")
	s.int(length)
	s.str(")")
}

func (s *Summarizer) dnsQuestion(m []byte, off int, mdns bool) int {
	end := dnsSkipName(m, off)
	if end < 0 || end+4 > len(m) {
		return -1
	}
	typ := binary.BigEndian.Uint16(m[end:])
	class := binary.BigEndian.Uint16(m[end+2:])
	s.str(" ")
	s.dnsType(typ)
	if mdns {
		if class&0x8000 != 0 {
			s.str(" (QU)")
		} else {
			s.str(" (QM)")
		}
		class &= 0x7fff
	}
	if class != 1 {
		s.str(" ")
		s.dnsClass(class)
	}
	s.str("? ")
	if s.dnsName(m, off) < 0 {
		return -1
	}
	return end + 4
}

func (s *Summarizer) dnsClass(c uint16) {
	switch c {
	case 1:
		s.str("IN")
	case 3:
		s.str("CHAOS")
	case 4:
		s.str("HS")
	case 255:
		s.str("ANY")
	default:
		s.str("CLASS")
		s.uint(uint64(c))
	}
}

// dnsRR prints one resource record ("A 10.0.0.1") and returns the offset
// after it, or -1 when it is truncated.
func (s *Summarizer) dnsRR(m []byte, off int, mdns bool) int {
	if s.opts.Verbose { // tcpdump -v names the record's owner
		s.str(" ")
		if s.dnsName(m, off) < 0 {
			return -1
		}
	}
	end := dnsSkipName(m, off)
	if end < 0 || end+10 > len(m) {
		// tcpdump's ns_rprint: the rest of the capture is skipped.
		return len(m)
	}
	typ := binary.BigEndian.Uint16(m[end:])
	class := binary.BigEndian.Uint16(m[end+2:])
	rdlen := int(binary.BigEndian.Uint16(m[end+8:]))
	rd := end + 10
	s.str(" ")
	if mdns && class&0x8000 != 0 {
		s.str("(Cache flush) ")
		class &= 0x7fff
	}
	if class != 1 && typ != 41 {
		s.dnsClass(class)
		s.str(" ")
	}
	s.dnsType(typ)
	if rd+rdlen > len(m) {
		return -1
	}
	r := m[rd : rd+rdlen]
	switch typ {
	case 1:
		if len(r) == 4 {
			s.str(" ")
			s.ip4(r)
		}
	case 28:
		if len(r) == 16 {
			s.str(" ")
			s.ip6(r)
		}
	case 2, 5, 12, 39:
		s.str(" ")
		if s.dnsName(m, rd) < 0 {
			return -1
		}
	case 15:
		if len(r) < 3 {
			return -1
		}
		s.str(" ")
		if s.dnsName(m, rd+2) < 0 {
			return -1
		}
		s.str(" ")
		s.uint(uint64(binary.BigEndian.Uint16(r)))
	case 33:
		if len(r) < 7 {
			return -1
		}
		s.str(" ")
		if s.dnsName(m, rd+6) < 0 {
			return -1
		}
		s.str(":")
		s.uint(uint64(binary.BigEndian.Uint16(r[4:])))
		s.str(" ")
		s.uint(uint64(binary.BigEndian.Uint16(r)))
		s.str(" ")
		s.uint(uint64(binary.BigEndian.Uint16(r[2:])))
	case 16:
		for len(r) > 0 {
			n := int(r[0])
			if 1+n > len(r) {
				return -1
			}
			s.str(" \"")
			s.printable(r[1 : 1+n])
			s.str("\"")
			r = r[1+n:]
		}
	}
	return rd + rdlen
}

// dnsSkipName returns the offset after the (possibly compressed) name at
// off, or -1.
func dnsSkipName(m []byte, off int) int {
	for off < len(m) {
		l := int(m[off])
		switch {
		case l == 0:
			return off + 1
		case l&0xc0 == 0xc0:
			if off+2 > len(m) {
				return -1
			}
			return off + 2
		case l&0xc0 != 0:
			return -1
		}
		off += 1 + l
	}
	return -1
}

// dnsName prints the name at off, following compression pointers, in
// tcpdump's form ("www.example.com.", "." for the root). It returns -1 when
// the name is truncated or loops.
func (s *Summarizer) dnsName(m []byte, off int) int {
	if off >= len(m) {
		return -1
	}
	if m[off] == 0 {
		s.str(".")
		return 0
	}
	for hops := 0; off < len(m) && hops < 64; {
		l := int(m[off])
		switch {
		case l == 0:
			return 0
		case l&0xc0 == 0xc0:
			if off+2 > len(m) {
				return -1
			}
			off = int(binary.BigEndian.Uint16(m[off:]) & 0x3fff)
			hops++
			continue
		case l&0xc0 != 0:
			return -1
		}
		if off+1+l > len(m) {
			return -1
		}
		s.dnsLabel(m[off+1 : off+1+l])
		s.str(".")
		off += 1 + l
	}
	return -1
}

func (s *Summarizer) dnsLabel(b []byte) {
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			s.str("\\")
			s.buf = append(s.buf, '0'+c/100, '0'+c/10%10, '0'+c%10)
			continue
		}
		if c == '.' || c == '\\' {
			s.buf = append(s.buf, '\\')
		}
		s.buf = append(s.buf, c)
	}
}
