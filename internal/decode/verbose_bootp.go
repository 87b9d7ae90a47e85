package decode

import (
	"encoding/binary"
	"strconv"
)

// BOOTP/DHCP as tcpdump 4.99's bootp_print prints it with -v: the
// transaction ID, seconds and flags on the first line, then the
// addresses and the RFC 1048 options, each on a line of its own.

// bootpTags is tcpdump's tag2str: each name starts with a format
// letter (i addresses, l/L 32-bit numbers, s 16-bit numbers, b bytes,
// B booleans, a text, p address pairs, $ special, ' ' none).
var bootpTags = map[uint8]string{
	0: " PAD", 1: "iSubnet-Mask", 2: "LTime-Zone", 3: "iDefault-Gateway", 4: "iTime-Server",
	5: "iIEN-Name-Server", 6: "iDomain-Name-Server", 7: "iLOG", 8: "iCS", 9: "iLPR-Server", 10: "iIM",
	11: "iRL", 12: "aHostname", 13: "sBS", 255: " END", 14: "aDP", 15: "aDomain-Name", 16: "iSS",
	17: "aRP", 18: "aEP", 19: "BIPF", 20: "BSRT", 21: "pPF", 22: "sRSZ", 23: "bTTL", 24: "lMTU-Timeout",
	25: "sMTU-Table", 26: "sMTU", 27: "BLSN", 28: "iBR", 29: "BMD", 30: "BMS", 31: "BRouter-Discovery",
	32: "iRSA", 33: "pStatic-Route", 34: "BUT", 35: "lAT", 36: "BIE", 37: "bTT", 38: "lKI", 39: "BKG",
	40: "aYD", 41: "iYS", 42: "iNTP", 43: "bVendor-Option", 44: "iNetbios-Name-Server", 45: "iWDD",
	46: "$Netbios-Node", 47: "aNetbios-Scope", 48: "iXFS", 49: "iXDM", 64: "sN+D", 65: "iN+S", 68: "iMH",
	69: "iSMTP", 70: "iPOP3", 71: "iNNTP", 72: "iWWW", 73: "iFG", 74: "iIRC", 75: "iSTS", 76: "iSTDA",
	50: "iRequested-IP", 51: "lLease-Time", 52: "$OO", 66: "aTFTP", 67: "aBF", 53: " DHCP-Message",
	54: "iServer-ID", 55: "bParameter-Request", 56: "aMSG", 57: "sMSZ", 58: "lRN", 59: "lRB",
	60: "aVendor-Class", 61: "$Client-ID", 98: "aUAP", 116: "BNOAUTO", 78: "bSLP-DA", 79: "bSLP-SCOPE",
	117: "sNSSEARCH", 77: "$User-Class", 118: "iSUBNET", 121: "$Classless-Static-Route",
	249: "$Classless-Static-Route-Microsoft", 150: "iTFTP-Server-Address", 80: "aSLP-NA", 81: "$FQDN",
	82: "$Agent-Information", 83: "bARMT", 88: "aTZSTR", 89: "bFQDNS", 90: "bAUTH",
	91: "LLast-Transaction-Time", 92: "iAssociated-IP", 93: "sARCH", 94: "bNDI", 97: "bGUID",
	95: "aLDAP", 100: "aPOSIX-TZ", 101: "aTZ-Name", 112: "iNI", 113: "aNITAG", 114: "aURL",
	161: "aMUD-URL",
}

var dhcpMsgNames = map[uint32]string{1: "Discover", 2: "Offer", 3: "Request", 4: "Decline", 5: "ACK",
	6: "NACK", 7: "Release", 8: "Inform", 10: "LeaseQuery", 11: "LeaseUnassigned", 12: "LeaseUnknown",
	13: "LeaseActive"}

var bootpHWNames = map[uint32]string{1: "ether", 6: "ieee802", 7: "arcnet", 15: "frelay", 23: "strip", 24: "ieee1394"}

var dhcpAgentSubopts = map[uint32]string{1: "Circuit-ID", 2: "Remote-ID", 6: "Subscriber-ID"}

const bootpTrunc = " [|bootp]"

func bootpTag(tag uint8) string {
	if n, ok := bootpTags[tag]; ok {
		return n
	}
	return "?Unknown"
}

// bootpVerbose prints what tcpdump -v adds after "BOOTP/DHCP, Request
// from ..., length N".
func (s *Summarizer) bootpVerbose(p []byte) {
	if len(p) < 10 {
		s.str(bootpTrunc)
		return
	}
	htype, hlen := p[1], p[2]
	if htype != 1 {
		s.str(", htype ")
		s.uint(uint64(htype))
	}
	if htype != 1 || hlen != 6 {
		s.str(", hlen ")
		s.uint(uint64(hlen))
	}
	if p[3] != 0 {
		s.str(", hops ")
		s.uint(uint64(p[3]))
	}
	if xid := binary.BigEndian.Uint32(p[4:]); xid != 0 {
		s.str(", xid 0x")
		s.buf = appendHex(s.buf, xid)
	}
	if secs := binary.BigEndian.Uint16(p[8:]); secs != 0 {
		s.str(", secs ")
		s.uint(uint64(secs))
	}
	if len(p) < 12 {
		s.str(bootpTrunc)
		return
	}
	s.str(", Flags [")
	if binary.BigEndian.Uint16(p[10:])&0x8000 != 0 {
		s.str("Broadcast")
	} else {
		s.str("none")
	}
	s.str("]")
	for _, a := range [...]struct {
		off  int
		name string
	}{{12, "Client-IP"}, {16, "Your-IP"}, {20, "Server-IP"}, {24, "Gateway-IP"}} {
		if len(p) < a.off+4 {
			s.str(bootpTrunc)
			return
		}
		if !allZero(p[a.off : a.off+4]) {
			s.str("\n\t  ")
			s.str(a.name)
			s.str(" ")
			s.ip4(p[a.off : a.off+4])
		}
	}
	if htype == 1 && hlen == 6 {
		if len(p) < 34 {
			s.str(bootpTrunc)
			return
		}
		s.str("\n\t  Client-Ethernet-Address ")
		s.mac(p[28:34])
	}
	for _, f := range [...]struct {
		off, n int
		name   string
	}{{44, 64, "sname"}, {108, 128, "file"}} {
		if len(p) < f.off+1 {
			s.str(bootpTrunc)
			return
		}
		if p[f.off] == 0 {
			continue
		}
		s.str("\n\t  ")
		s.str(f.name)
		s.str(" \"")
		v := p[f.off:min(len(p), f.off+f.n)]
		i := 0
		for i < len(v) && v[i] != 0 {
			s.asciiChar(v[i])
			i++
		}
		s.str("\"")
		if i == len(v) && len(v) < f.n {
			s.str(bootpTrunc)
			return
		}
	}
	if len(p) < 240 {
		s.str(bootpTrunc)
		return
	}
	vend := p[236:240]
	switch {
	case vend[0] == 99 && vend[1] == 130 && vend[2] == 83 && vend[3] == 99:
		s.rfc1048(p[236:])
	case binary.BigEndian.Uint32(vend) != 0 && string(vend) != "CMU\x00":
		s.str("\n\t  Vendor-#0x")
		s.buf = appendHex(s.buf, binary.BigEndian.Uint32(vend))
	}
}

// rfc1048 prints the options after the magic cookie (rfc1048_print).
func (s *Summarizer) rfc1048(b []byte) {
	s.str("\n\t  Vendor-rfc1048 Extensions\n\t    Magic Cookie 0x")
	s.hex32raw(binary.BigEndian.Uint32(b))
	b = b[4:]
	for len(b) > 0 {
		tag := b[0]
		b = b[1:]
		if tag == 0 {
			continue
		}
		if tag == 255 {
			return
		}
		name := bootpTag(tag)
		c := name[0]
		name = name[1:]
		if len(b) < 1 {
			s.str(bootpTrunc)
			return
		}
		l := int(b[0])
		b = b[1:]
		s.str("\n\t    ")
		s.str(name)
		s.str(" (")
		s.uint(uint64(tag))
		s.str("), length ")
		s.int(l)
		if l > 0 {
			s.str(": ")
		}
		if len(b) < l {
			s.str(bootpTrunc)
			return
		}
		v := b[:l]
		b = b[l:]
		if tag == 53 && l == 1 {
			if n, ok := dhcpMsgNames[uint32(v[0])]; ok {
				s.str(n)
			} else {
				s.str("Unknown (")
				s.uint(uint64(v[0]))
				s.str(")")
			}
			continue
		}
		if tag == 55 {
			for i, t := range v {
				if i%4 == 0 {
					s.str("\n\t      ")
				} else {
					s.str(", ")
				}
				s.str(bootpTag(t)[1:])
				s.str(" (")
				s.uint(uint64(t))
				s.str(")")
			}
			continue
		}
		if c == '?' {
			switch {
			case l&1 != 0:
				c = 'b'
			case l&2 != 0:
				c = 's'
			default:
				c = 'l'
			}
		}
		left := s.bootpValue(c, tag, v)
		if left > 0 {
			s.str("\n\t  trailing data length ")
			s.int(left)
		}
	}
}

// bootpValue prints an option's value v in format c and returns how
// many bytes were left over.
func (s *Summarizer) bootpValue(c byte, tag uint8, v []byte) int {
	quoted := func(t []byte) {
		s.str("\"")
		for _, ch := range t {
			s.asciiChar(ch)
		}
		s.str("\"")
	}
	switch c {
	case 'a':
		quoted(v)
		return 0
	case 'i', 'l', 'L':
		first := true
		for len(v) >= 4 {
			if !first {
				s.str(",")
			}
			switch c {
			case 'i':
				s.ip4(v[:4])
			case 'L':
				s.int(int(int32(binary.BigEndian.Uint32(v))))
			default:
				s.uint(uint64(binary.BigEndian.Uint32(v)))
			}
			v = v[4:]
			first = false
		}
	case 'p':
		first := true
		for len(v) >= 8 {
			if !first {
				s.str(",")
			}
			s.str("(")
			s.ip4(v[:4])
			s.str(":")
			s.ip4(v[4:8])
			s.str(")")
			v = v[8:]
			first = false
		}
	case 's':
		first := true
		for len(v) >= 2 {
			if !first {
				s.str(",")
			}
			s.uint(uint64(binary.BigEndian.Uint16(v)))
			v = v[2:]
			first = false
		}
	case 'B':
		for i, x := range v {
			if i > 0 {
				s.str(",")
			}
			switch x {
			case 0:
				s.str("N")
			case 1:
				s.str("Y")
			default:
				s.uint(uint64(x))
				s.str("?")
			}
		}
		return 0
	case '$':
		return s.bootpSpecial(tag, v)
	default: // 'b', 'x'
		for i, x := range v {
			if i > 0 {
				s.str(".")
			}
			s.uint(uint64(x))
		}
		return 0
	}
	return len(v)
}

// bootpSpecial prints the options tcpdump decodes one by one.
func (s *Summarizer) bootpSpecial(tag uint8, v []byte) int {
	quoted := func(t []byte) {
		s.str("\"")
		for _, ch := range t {
			s.asciiChar(ch)
		}
		s.str("\"")
	}
	switch tag {
	case 46: // NetBIOS node type
		if len(v) < 1 {
			s.str("[ERROR: length < 1 bytes]")
			return 0
		}
		s.tok(map[uint32]string{1: "b-node", 2: "p-node", 4: "m-node", 8: "h-node"}, "", uint32(v[0]))
		return len(v) - 1
	case 52: // option overload
		if len(v) < 1 {
			s.str("[ERROR: length < 1 bytes]")
			return 0
		}
		s.tok(map[uint32]string{1: "file", 2: "sname", 3: "file+sname"}, "", uint32(v[0]))
		return len(v) - 1
	case 81: // client FQDN
		if len(v) < 3 {
			s.str("[ERROR: length < 3 bytes]")
			return 0
		}
		if v[0]&0xf0 != 0 {
			s.str("[ERROR: MBZ nibble 0x")
			s.buf = appendHex(s.buf, uint32(v[0]>>4))
			s.str(" != 0] ")
		}
		if v[0]&0x0f != 0 {
			s.str("[")
			for i, f := range "SOEN" {
				if v[0]&(1<<i) != 0 {
					s.buf = append(s.buf, byte(f))
				}
			}
			s.str("] ")
		}
		if v[1] != 0 || v[2] != 0 {
			s.uint(uint64(v[1]))
			s.str("/")
			s.uint(uint64(v[2]))
			s.str(" ")
		}
		quoted(v[3:])
		return 0
	case 61: // client ID
		if len(v) < 1 {
			s.str("[ERROR: length < 1 bytes]")
			return 0
		}
		if v[0] == 0 {
			quoted(v[1:])
			return 0
		}
		if n, ok := bootpHWNames[uint32(v[0])]; ok {
			s.str(n)
		} else {
			s.str("hardware-type ")
			s.uint(uint64(v[0]))
			s.str(",")
		}
		s.str(" ")
		for i, x := range v[1:] {
			if i > 0 {
				s.str(":")
			}
			s.buf = append(s.buf, hexDigits[x>>4], hexDigits[x&15])
		}
		return 0
	case 82: // relay agent information
		for len(v) >= 2 {
			so, sl := v[0], int(v[1])
			v = v[2:]
			s.str("\n\t      ")
			s.tok(dhcpAgentSubopts, "Unknown", uint32(so))
			s.str(" SubOption ")
			s.uint(uint64(so))
			s.str(", length ")
			s.int(sl)
			if sl > len(v) {
				s.str(": length goes past end of option")
				return 0
			}
			s.str(": ")
			switch so {
			case 1, 2, 6:
				for _, ch := range v[:sl] {
					s.asciiChar(ch)
				}
			default:
				s.hexOnly("\n\t\t", v[:sl])
			}
			v = v[sl:]
		}
		return len(v)
	case 121, 249: // classless static routes
		if len(v) < 5 {
			s.str("[ERROR: length < 5 bytes]")
			return 0
		}
		first := true
		for len(v) > 0 {
			if !first {
				s.str(",")
			}
			w := int(v[0])
			v = v[1:]
			if w > 32 {
				s.str("[ERROR: Mask width (")
				s.int(w)
				s.str(") > 32]")
				return 0
			}
			n := (w + 7) / 8
			if len(v) < n+4 {
				s.str("[ERROR: Remaining length (")
				s.int(len(v))
				s.str(") < ")
				s.int(n + 4)
				s.str(" bytes]")
				return 0
			}
			s.str("(")
			if w == 0 {
				s.str("default")
			} else {
				for i := range n {
					if i > 0 {
						s.str(".")
					}
					s.uint(uint64(v[i]))
				}
				for i := n; i < 4; i++ {
					s.str(".0")
				}
				s.str("/")
				s.int(w)
			}
			s.str(":")
			s.ip4(v[n : n+4])
			s.str(")")
			v = v[n+4:]
			first = false
		}
		return 0
	case 77: // user class
		if len(v) < 2 {
			s.str("[ERROR: length < 2 bytes]")
			return 0
		}
		for i := 1; len(v) > 0; i++ {
			sl := int(v[0])
			v = v[1:]
			s.str("\n\t      instance#")
			s.buf = strconv.AppendInt(s.buf, int64(i), 10)
			s.str(": ")
			if sl == 0 {
				s.str("[ERROR: suboption length must be non-zero]")
				return 0
			}
			if len(v) < sl {
				s.str("[ERROR: invalid option]")
				return 0
			}
			quoted(v[:sl])
			s.str(", length ")
			s.int(sl)
			v = v[sl:]
		}
		return 0
	}
	s.str("[unknown special tag ")
	s.uint(uint64(tag))
	s.str(", size ")
	s.int(len(v))
	s.str("]")
	return 0
}
