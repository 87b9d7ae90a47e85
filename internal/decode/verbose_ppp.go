package decode

import "encoding/binary"

// PPP control protocols as tcpdump 4.99's handle_ctrl_proto prints them:
// "LCP, Conf-Request (0x01), id 1, length 18" and, with -v, the encoded
// length and each option on a line of its own.

// pppCtrlNames are tcpdump's names of the PPP control protocols that
// handle_ctrl_proto prints.
var pppCtrlNames = map[uint16]string{0xc021: "LCP", 0x8021: "IPCP", 0x8023: "OSICP", 0x8281: "MPLSCP",
	0x8057: "IP6CP", 0x80fd: "CCP", 0xc02b: "BACP"}

// pppTypeNames is tcpdump's ppptype2str.
var pppTypeNames = map[uint16]string{
	0x0021: "IP", 0x0023: "OSI", 0x0025: "NS", 0x0027: "DECNET", 0x0029: "APPLE", 0x002b: "IPX",
	0x002d: "VJC IP", 0x002f: "VJNC IP", 0x0031: "BRPDU", 0x0033: "STII", 0x0035: "VINES",
	0x0281: "MPLS", 0x0283: "MPLS", 0x00fd: "Compressed", 0x003d: "MLPPP", 0x0057: "IP6",
	0x0201: "HELLO", 0x0231: "LUXCOM", 0x0233: "SNS", 0x8021: "IPCP", 0x8023: "OSICP", 0x8025: "NSCP",
	0x8027: "DECNETCP", 0x8029: "APPLECP", 0x802b: "IPXCP", 0x8033: "STIICP", 0x8035: "VINESCP",
	0x8057: "IP6CP", 0x8281: "MPLSCP", 0xc021: "LCP", 0xc023: "PAP", 0xc025: "LQM", 0xc223: "CHAP",
	0xc227: "EAP", 0xc027: "SPAP", 0xc123: "Old-SPAP", 0xc02b: "BACP", 0xc02d: "BAP", 0xc03d: "MLPPP-CP",
	0x80fd: "CCP",
}

var pppCtrlCodes = [...]string{0: "Vendor-Extension", 1: "Conf-Request", 2: "Conf-Ack", 3: "Conf-Nack",
	4: "Conf-Reject", 5: "Term-Request", 6: "Term-Ack", 7: "Code-Reject", 8: "Prot-Reject",
	9: "Echo-Request", 10: "Echo-Reply", 11: "Disc-Req", 12: "Ident", 13: "Time-Rem",
	14: "Reset-Req", 15: "Reset-Ack"}

var lcpOptNames = [...]string{"Vend-Ext", "MRU", "ACCM", "Auth-Prot", "Qual-Prot", "Magic-Num",
	"deprecated(6)", "PFC", "ACFC", "FCS-Alt", "SDP", "Num-Mode", "deprecated(12)", "Call-Back",
	"deprecated(14)", "deprecated(15)", "deprecated(16)", "MRRU", "12-Bit seq #", "End-Disc",
	"Proprietary", "DCE-Id", "MP+", "Link-Disc", "LCP-Auth-Opt", "COBS", "Prefix-elision",
	"Multilink-header-Form", "I18N", "SDL-over-SONET/SDH", "PPP-Muxing"}

var ipcpOptNames = map[uint8]string{1: "IP-Addrs", 2: "IP-Comp", 3: "IP-Addr", 4: "Home-Addr",
	129: "Pri-DNS", 130: "Pri-NBNS", 131: "Sec-DNS", 132: "Sec-NBNS"}

var ccpOptNames = map[uint8]string{0: "OUI", 1: "Pred-1", 2: "Pred-2", 3: "Puddle", 16: "HP-PPC",
	17: "Stac-LZS", 18: "MPPC", 19: "Gand-FZA", 20: "V.42bis", 21: "BSD-Comp", 23: "LZS-DCP",
	24: "MVRCA", 25: "DEC", 26: "Deflate", 255: "Reserved"}

var pppCallbackNames = map[uint8]string{0: "UserAuth", 1: "DialString", 2: "LocalID", 3: "E.164",
	4: "X.500", 6: "CBCP"}

// pppCtrl prints a PPP control protocol packet: "LCP, Echo-Request
// (0x09), id 106, length 14", where length is that of the PPP frame
// (protocol field included); with -v, what handle_ctrl_proto adds.
func (s *Summarizer) pppCtrl(name string, proto uint16, b []byte, length int) {
	s.str(name)
	s.str(", ")
	if length-2 < 4 || len(b) < 2 {
		s.str("[|")
		s.str(name)
		s.str("]")
		return
	}
	code := b[0]
	if int(code) < len(pppCtrlCodes) {
		s.str(pppCtrlCodes[code])
	} else {
		s.str("Unknown Opcode")
	}
	s.str(" (0x")
	s.hex8(code)
	s.str("), id ")
	s.uint(uint64(b[1]))
	s.str(", length ")
	s.int(length)
	if !s.opts.Verbose {
		return
	}
	length -= 2
	if len(b) < 4 {
		s.str(" [|ppp]")
		return
	}
	enc := int(binary.BigEndian.Uint16(b[2:]))
	if enc < 4 {
		s.str("\n\tencoded length ")
		s.int(enc)
		s.str(" (< 4))")
		return
	}
	if enc > length {
		s.str("\n\tencoded length ")
		s.int(enc)
		s.str(" (> packet length ")
		s.int(length)
		s.str("))")
		return
	}
	s.str("\n\tencoded length ")
	s.int(enc)
	s.str(" (=Option(s) length ")
	s.int(enc - 4)
	s.str(")")
	if enc == 4 {
		return
	}
	t := b[4:]
	magic := func() bool {
		if len(t) < 4 {
			s.str(" [|ppp]")
			return false
		}
		s.str("\n\t  Magic-Num 0x")
		s.hex32raw(binary.BigEndian.Uint32(t))
		return true
	}
	switch code {
	case 0:
		if enc < 11 || !magic() {
			return
		}
		if len(t) < 7 {
			s.str(" [|ppp]")
			return
		}
		s.str(" Vendor: ")
		s.ouiName(t[4:7])
	case 1, 2, 3, 4:
		tlen := enc - 4
		for {
			var adv int
			switch proto {
			case 0xc021:
				adv = s.lcpOption(t, enc)
			case 0x8021:
				adv = s.ipcpOption(t, enc)
			case 0x8057:
				adv = s.pppSimpleOption(t, enc, ip6cpOptName, ip6cpOptValue)
			case 0x80fd:
				adv = s.pppSimpleOption(t, enc, ccpOptName, ccpOptValue)
			default:
				return
			}
			if adv == 0 {
				return
			}
			if tlen < adv {
				s.str(" [remaining options length ")
				s.int(tlen)
				s.str(" < ")
				s.int(adv)
				s.str("] (invalid)")
				return
			}
			tlen -= adv
			t = t[min(adv, len(t)):]
			if tlen == 0 {
				return
			}
		}
	case 8:
		if length < 6 {
			return
		}
		if len(t) < 2 {
			s.str(" [|ppp]")
			return
		}
		p := binary.BigEndian.Uint16(t)
		s.str("\n\t  Rejected ")
		if n, ok := pppTypeNames[p]; ok {
			s.str(n)
		} else {
			s.str("unknown")
		}
		s.str(" Protocol (0x")
		s.hex16raw(p)
		s.str(")")
		if enc > 6 {
			s.str("\n\t  Rejected Packet")
			s.unknownData("\n\t    ", t[2:], enc-2)
		}
	case 9, 10, 11:
		if length < 8 || !magic() {
			return
		}
		if enc > 8 {
			s.str("\n\t  -----trailing data-----")
			if len(t) < enc-4 {
				s.str(" [|ppp]")
				return
			}
			s.unknownData("\n\t  ", t[4:], enc-8)
		}
	case 12:
		if length < 8 || !magic() {
			return
		}
		if enc > 8 {
			s.str("\n\t  Message\n\t    ")
			m := t[4:]
			if len(m) < enc-4 {
				s.printable(m)
				s.str(" [|ppp]")
				return
			}
			s.printable(m[:enc-4])
		}
	case 13:
		if length < 12 || !magic() {
			return
		}
		if len(t) < 8 {
			s.str(" [|ppp]")
			return
		}
		s.str(", Seconds-Remaining ")
		s.uint(uint64(binary.BigEndian.Uint32(t[4:])))
		s.str("s")
	case 5, 6, 7:
	default:
		s.unknownData("\n\t  ", b[:min(len(b), length)], length)
	}
}

// unknownData is tcpdump's print_unknown_data: a hex dump of up to n
// bytes of b (as many as were captured).
func (s *Summarizer) unknownData(indent string, b []byte, n int) {
	if n < 0 {
		n = 0
	}
	s.hexOnly(indent, b[:min(n, len(b))])
}

// ouiName prints "Name (decimal)" for a 3-byte OUI as tcpdump's oui_values.
func (s *Summarizer) ouiName(b []byte) {
	v := uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2])
	if n, ok := ouiNames[v]; ok {
		s.str(n)
	} else {
		s.str("Unknown")
	}
	s.str(" (")
	s.uint(uint64(v))
	s.str(")")
}

// ouiNames is a part of tcpdump's oui_values.
var ouiNames = map[uint32]string{
	0x000000: "Ethernet", 0x0000f8: "Cisco", 0x00000c: "Cisco", 0x0080c2: "Ethernet bridged",
	0x00d0f8: "Cisco", 0x00e02b: "Extreme", 0x00120f: "IEEE 802.3 Private", 0x000d02: "Juniper",
	0x00904c: "Broadcom", 0x0019a7: "ITU-T", 0x00a042: "Hewlett-Packard", 0x00609f: "Hewlett-Packard",
	0x00000e: "Juniper", 0x001394: "Nortel", 0x0012bb: "TIA", 0x000f00: "Cisco",
}

// pppOptionHead prints "\n\t  NAME Option (0xNN), length N" and returns
// the option's type and length, or ok false (after printing what tcpdump
// prints) when the option cannot be walked.
func (s *Summarizer) pppOptionHead(t []byte, enc int, name func(uint8) (string, bool)) (opt uint8, l int, ok bool) {
	if enc < 2 {
		return 0, 0, false
	}
	if len(t) < 2 {
		s.str(" [|ppp]")
		return 0, 0, false
	}
	opt, l = t[0], int(t[1])
	if enc < l {
		return 0, 0, false
	}
	n, _ := name(opt)
	s.str("\n\t  ")
	s.str(n)
	s.str(" Option (0x")
	s.hex8(opt)
	s.str("), length ")
	s.int(l)
	if l < 2 {
		s.str(" (length bogus, should be >= 2)")
		return 0, 0, false
	}
	return opt, l, true
}

// lcpOption prints one LCP option (print_lcp_config_options) and returns
// its length, 0 to stop.
func (s *Summarizer) lcpOption(t []byte, enc int) int {
	if enc < 2 {
		return 0
	}
	if len(t) < 2 {
		s.str(" [|ppp]")
		return 0
	}
	opt, l := t[0], int(t[1])
	if enc < l {
		return 0
	}
	if int(opt) >= len(lcpOptNames) {
		s.str("\n\tunknown LCP option 0x")
		s.hex8(opt)
		if l < 2 {
			return 0
		}
		return l
	}
	s.str("\n\t  ")
	s.str(lcpOptNames[opt])
	s.str(" Option (0x")
	s.hex8(opt)
	s.str("), length ")
	s.int(l)
	if l < 2 {
		s.str(" (length bogus, should be >= 2)")
		return 0
	}
	bogus := func(ret int, want string) int {
		s.str(" (length bogus, should be ")
		s.str(want)
		s.str(")")
		return ret
	}
	need := func(n int) bool {
		if len(t) < n {
			s.str(" [|ppp]")
			return false
		}
		return true
	}
	switch opt {
	case 0:
		if l < 6 {
			return bogus(l, ">= 6")
		}
		if !need(5) {
			return 0
		}
		s.str(": Vendor: ")
		s.ouiName(t[2:5])
	case 1, 17:
		if l != 4 {
			if opt == 1 {
				return bogus(l, "= 4")
			}
			return bogus(0, "= 4")
		}
		if !need(4) {
			return 0
		}
		s.str(": ")
		s.uint(uint64(binary.BigEndian.Uint16(t[2:])))
	case 2, 5:
		if l != 6 {
			if opt == 2 {
				return bogus(l, "= 6")
			}
			return bogus(0, "= 6")
		}
		if !need(6) {
			return 0
		}
		s.str(": 0x")
		s.hex32raw(binary.BigEndian.Uint32(t[2:]))
	case 3:
		if l < 4 {
			return bogus(l, ">= 4")
		}
		if !need(4) {
			return 0
		}
		p := binary.BigEndian.Uint16(t[2:])
		s.str(": ")
		if n, ok := pppTypeNames[p]; ok {
			s.str(n)
		} else {
			s.str("Unknown Auth Proto (0x04x)")
		}
		switch p {
		case 0xc223:
			if !need(5) {
				return 0
			}
			s.str(", ")
			switch t[4] {
			case 5:
				s.str("MD5")
			case 128:
				s.str("MS-CHAPv1")
			case 129:
				s.str("MS-CHAPv2")
			default:
				s.str("Unknown Auth Alg ")
				s.uint(uint64(t[4]))
			}
		case 0xc023, 0xc227, 0xc027, 0xc123:
		default:
			s.unknownData("\n\t", t, l)
		}
	case 4:
		if l < 4 {
			return bogus(0, ">= 4")
		}
		if !need(4) {
			return 0
		}
		if binary.BigEndian.Uint16(t[2:]) == 0xc025 {
			s.str(": LQR")
		} else {
			s.str(": unknown")
		}
	case 7, 8:
	case 23:
		if l != 4 {
			return bogus(0, "= 4")
		}
		if !need(4) {
			return 0
		}
		s.str(": 0x")
		s.hex16raw(binary.BigEndian.Uint16(t[2:]))
	case 13:
		if l < 3 {
			return bogus(0, ">= 3")
		}
		if !need(3) {
			return 0
		}
		s.str(": : Callback Operation ")
		if n, ok := pppCallbackNames[t[2]]; ok {
			s.str(n)
		} else {
			s.str("Unknown")
		}
		s.str(" (")
		s.uint(uint64(t[2]))
		s.str(")")
	case 19:
		if l < 3 {
			return bogus(0, ">= 3")
		}
		if !need(3) {
			return 0
		}
		switch t[2] {
		case 0:
			s.str(": Null")
		case 1:
			s.str(": Local")
		case 2:
			if l != 7 {
				return bogus(0, "= 7")
			}
			if !need(7) {
				return 0
			}
			s.str(": IPv4 ")
			s.ip4(t[3:7])
		case 3:
			if l != 9 {
				return bogus(0, "= 9")
			}
			if !need(9) {
				return 0
			}
			s.str(": MAC ")
			s.mac(t[3:9])
		case 4:
			s.str(": Magic-Num-Block")
		case 5:
			s.str(": PSNDN")
		default:
			s.str(": Unknown class ")
			s.uint(uint64(t[2]))
		}
	default:
		s.unknownData("\n\t    ", t[2:], l-2)
	}
	return l
}

// ipcpOption prints one IPCP option (print_ipcp_config_options).
func (s *Summarizer) ipcpOption(t []byte, enc int) int {
	opt, l, ok := s.pppOptionHead(t, enc, func(o uint8) (string, bool) {
		n, ok := ipcpOptNames[o]
		if !ok {
			n = "unknown"
		}
		return n, ok
	})
	if !ok {
		return 0
	}
	need := func(n int) bool {
		if len(t) < n {
			s.str(" [|ppp]")
			return false
		}
		return true
	}
	switch opt {
	case 1:
		if l != 10 {
			s.str(" (length bogus, should be = 10)")
			return l
		}
		if !need(10) {
			return 0
		}
		s.str(": src ")
		s.ip4(t[2:6])
		s.str(", dst ")
		s.ip4(t[6:10])
	case 2:
		if l < 4 {
			s.str(" (length bogus, should be >= 4)")
			return 0
		}
		if !need(4) {
			return 0
		}
		cp := binary.BigEndian.Uint16(t[2:])
		s.str(": ")
		switch cp {
		case 0x2d:
			s.str("VJ-Comp")
		case 0x61:
			s.str("IP Header Compression")
		default:
			s.str("Unknown")
		}
		s.str(" (0x")
		s.hex8raw(cp)
		s.str("):")
		if cp != 0x61 {
			break
		}
		const minLen = 14
		if l < minLen {
			s.str(" (length bogus, should be >= 14)")
			return 0
		}
		if !need(2 + minLen) {
			return 0
		}
		s.str("\n\t    TCP Space ")
		s.uint(uint64(binary.BigEndian.Uint16(t[4:])))
		s.str(", non-TCP Space ")
		s.uint(uint64(binary.BigEndian.Uint16(t[6:])))
		s.str(", maxPeriod ")
		s.uint(uint64(binary.BigEndian.Uint16(t[8:])))
		s.str(", maxTime ")
		s.uint(uint64(binary.BigEndian.Uint16(t[10:])))
		s.str(", maxHdr ")
		s.uint(uint64(binary.BigEndian.Uint16(t[12:])))
		if l > minLen {
			total := l - minLen
			p := t[minLen:]
			s.str("\n\t      Suboptions, length ")
			s.int(total)
			for total >= 2 {
				if len(p) < 2 {
					s.str(" [|ppp]")
					return 0
				}
				so, sl := p[0], int(p[1])
				if so == 0 || sl == 0 {
					break
				}
				s.str("\n\t\t")
				switch so {
				case 1:
					s.str("RTP-Compression")
				case 2:
					s.str("Enhanced RTP-Compression")
				default:
					s.str("Unknown")
				}
				s.str(" Suboption #")
				s.uint(uint64(so))
				s.str(", length ")
				s.int(sl)
				if total < sl {
					s.str(" [remaining suboptions length ")
					s.int(total)
					s.str(" < ")
					s.int(sl)
					s.str("] (invalid)")
					break
				}
				total -= sl
				p = p[min(sl, len(p)):]
			}
		}
	case 3, 4, 129, 130, 131, 132:
		if l != 6 {
			s.str(" (length bogus, should be = 6)")
			return 0
		}
		if !need(6) {
			return 0
		}
		s.str(": ")
		s.ip4(t[2:6])
	default:
		s.unknownData("\n\t    ", t[2:], l-2)
	}
	return l
}

func ip6cpOptName(o uint8) (string, bool) {
	if o == 1 {
		return "Interface-ID", true
	}
	return "unknown", false
}

// ip6cpOptValue prints an IP6CP option's value; it returns false to
// stop the walk.
func ip6cpOptValue(s *Summarizer, opt uint8, t []byte, l int) (int, bool) {
	if opt != 1 {
		s.unknownData("\n\t    ", t[2:], l-2)
		return l, true
	}
	if l != 10 {
		s.str(" (length bogus, should be = 10)")
		return l, true
	}
	if len(t) < 10 {
		s.str(" [|ppp]")
		return 0, false
	}
	s.str(": ")
	for i := 2; i < 10; i += 2 {
		if i > 2 {
			s.str(":")
		}
		s.hex16raw(binary.BigEndian.Uint16(t[i:]))
	}
	return l, true
}

func ccpOptName(o uint8) (string, bool) {
	n, ok := ccpOptNames[o]
	if !ok {
		n = "Unknown"
	}
	return n, ok
}

func ccpOptValue(s *Summarizer, opt uint8, t []byte, l int) (int, bool) {
	switch opt {
	case 21:
		if l < 3 {
			s.str(" (length bogus, should be >= 3)")
			return l, true
		}
		if len(t) < 3 {
			s.str(" [|ppp]")
			return 0, false
		}
		s.str(": Version: ")
		s.uint(uint64(t[2] >> 5))
		s.str(", Dictionary Bits: ")
		s.uint(uint64(t[2] & 0x1f))
	case 24:
		if l < 4 {
			s.str(" (length bogus, should be >= 4)")
			return l, true
		}
		if len(t) < 4 {
			s.str(" [|ppp]")
			return 0, false
		}
		s.str(": Features: ")
		s.uint(uint64(t[2] & 0xc0 >> 6))
		s.str(", PxP: ")
		if t[2]&0x20 != 0 {
			s.str("Enabled")
		} else {
			s.str("Disabled")
		}
		s.str(", History: ")
		s.uint(uint64(t[2] & 0x1f))
		s.str(", #CTX-ID: ")
		s.uint(uint64(t[3]))
	case 26:
		if l < 4 {
			s.str(" (length bogus, should be >= 4)")
			return l, true
		}
		if len(t) < 4 {
			s.str(" [|ppp]")
			return 0, false
		}
		s.str(": Window: ")
		s.uint(uint64(t[2] >> 4))
		s.str("K, Method: ")
		if t[2]&0x0f == 8 {
			s.str("zlib")
		} else {
			s.str("unknown")
		}
		s.str(" (0x")
		s.buf = appendHex(s.buf, uint32(t[2]&0x0f))
		s.str("), MBZ: ")
		s.uint(uint64(t[3] >> 2))
		s.str(", CHK: ")
		s.uint(uint64(t[3] & 3))
	default:
		s.unknownData("\n\t    ", t[2:], l-2)
	}
	return l, true
}

// pppSimpleOption prints an option of IP6CP or CCP: its head, then its
// value by value.
func (s *Summarizer) pppSimpleOption(t []byte, enc int, name func(uint8) (string, bool), value func(*Summarizer, uint8, []byte, int) (int, bool)) int {
	opt, l, ok := s.pppOptionHead(t, enc, name)
	if !ok {
		return 0
	}
	n, _ := value(s, opt, t, l)
	return n
}

// hex8raw prints v as %02x (at least two digits).
func (s *Summarizer) hex8raw(v uint16) {
	if v < 0x10 {
		s.str("0")
	}
	s.buf = appendHex(s.buf, uint32(v))
}

// pap prints a PAP packet of length bytes (handle_pap).
func (s *Summarizer) pap(p []byte, length int) {
	if length < 1 || len(p) < 1 {
		s.str("[|pap]")
		return
	}
	if length < 4 || len(p) < 4 {
		s.str("[|pap 0x")
		s.hex8(p[0])
		s.str("]")
		return
	}
	code := p[0]
	s.str("PAP, ")
	s.tok(map[uint32]string{1: "Auth-Req", 2: "Auth-ACK", 3: "Auth-NACK"}, "unknown", uint32(code))
	s.str(" (0x")
	s.hex8(code)
	s.str("), id ")
	s.uint(uint64(p[1]))
	l := int(binary.BigEndian.Uint16(p[2:]))
	if l > length {
		s.str(", length ")
		s.int(l)
		s.str(" > packet size")
		return
	}
	if l < 4 {
		s.str(", length ")
		s.int(l)
		s.str(" < PAP header length")
		return
	}
	field := func(at int, name string) (int, bool) {
		if l-at < 1 || len(p) < at+1 {
			return at, false
		}
		n := int(p[at])
		at++
		if l-at < n || len(p) < at+n {
			return at, false
		}
		s.str(name)
		for _, c := range p[at : at+n] {
			s.asciiChar(c)
		}
		return at + n, true
	}
	switch code {
	case 1:
		if l < 6 {
			s.str("[|pap]")
			return
		}
		at, ok := field(4, ", Peer ")
		if ok {
			field(at, ", Name ")
		}
	case 2, 3:
		if l < 5 {
			s.str("[|pap]")
			return
		}
		field(4, ", Msg ")
	}
}
