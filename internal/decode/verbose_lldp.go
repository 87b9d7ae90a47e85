package decode

import "encoding/binary"

// LLDP as tcpdump 4.99's lldp_print prints it: "LLDP, length N" with the
// system name, and with -v every TLV on a line of its own (chassis and
// port IDs, TTL, descriptions, capabilities, management addresses, the
// IEEE 802.1 and 802.3 organisation TLVs), others as hex dumps.

var lldpTLVNames = map[uint32]string{0: "End", 1: "Chassis ID", 2: "Port ID", 3: "Time to Live",
	4: "Port Description", 5: "System Name", 6: "System Description", 7: "System Capabilities",
	8: "Management Address", 127: "Organization specific"}

var lldpChassisSubtypes = map[uint32]string{1: "Chassis component", 2: "Interface alias",
	3: "Port component", 4: "MAC address", 5: "Network address", 6: "Interface name", 7: "Local"}

var lldpPortSubtypes = map[uint32]string{1: "Interface alias", 2: "Port component", 3: "MAC address",
	4: "Network Address", 5: "Interface Name", 6: "Agent circuit ID", 7: "Local"}

var lldpCapNames = []bitName{{0x1, "Other"}, {0x2, "Repeater"}, {0x4, "Bridge"}, {0x8, "WLAN AP"},
	{0x10, "Router"}, {0x20, "Telephone"}, {0x40, "Docsis"}, {0x80, "Station Only"}}

var lldp8021Subtypes = map[uint32]string{1: "Port VLAN Id", 2: "Port and Protocol VLAN ID", 3: "VLAN name",
	4: "Protocol Identity", 7: "Link aggregation", 8: "Congestion Notification", 9: "ETS Configuration",
	10: "ETS Recommendation", 11: "Priority Flow Control Configuration", 12: "Application Priority",
	13: "EVB", 14: "CDCP"}

var lldp8023Subtypes = map[uint32]string{1: "MAC/PHY configuration/status", 2: "Power via MDI",
	3: "Link aggregation", 4: "Max frame size"}

var lldpAutonegNames = []bitName{{0x1, "supported"}, {0x2, "enabled"}}

var lldpPMDNames = []bitName{{0x4000, "10BASE-T hdx"}, {0x2000, "10BASE-T fdx"}, {0x1000, "100BASE-T4"},
	{0x800, "100BASE-TX hdx"}, {0x400, "100BASE-TX fdx"}, {0x200, "100BASE-T2 hdx"}, {0x100, "100BASE-T2 fdx"},
	{0x80, "Pause for fdx links"}, {0x40, "Asym PAUSE for fdx"}, {0x20, "Sym PAUSE for fdx"},
	{0x10, "Asym and Sym PAUSE for fdx"}, {0x8, "1000BASE-{X LX SX CX} hdx"},
	{0x4, "1000BASE-{X LX SX CX} fdx"}, {0x2, "1000BASE-T hdx"}, {0x1, "1000BASE-T fdx"}}

var lldpMAUTypes = map[uint32]string{0x0: "Unknown", 0x1: "AUI", 0x2: "10BASE_5", 0x3: "FOIRL",
	0x4: "10BASE2", 0x5: "10BASET duplex mode unknown", 0x6: "10BASEFP", 0x7: "10BASEFB",
	0x8: "10BASEFL duplex mode unknown", 0x9: "10BROAD36", 0xa: "10BASET hdx", 0xb: "10BASET fdx",
	0xc: "10BASEFL hdx", 0xd: "10BASEFL fdx", 0xe: "100BASET4", 0xf: "100BASETX hdx", 0x10: "100BASETX fdx",
	0x11: "100BASEFX hdx", 0x12: "100BASEFX fdx", 0x13: "100BASET2 hdx", 0x14: "100BASET2 fdx",
	0x15: "1000BASEX hdx", 0x16: "1000BASEX fdx", 0x17: "1000BASELX hdx", 0x18: "1000BASELX fdx",
	0x19: "1000BASESX hdx", 0x1a: "1000BASESX fdx", 0x1b: "1000BASECX hdx", 0x1c: "1000BASECX fdx",
	0x1d: "1000BASET hdx", 0x1e: "1000BASET fdx", 0x1f: "10GBASEX", 0x20: "10GBASELX4", 0x21: "10GBASER",
	0x22: "10GBASEER", 0x23: "10GBASELR", 0x24: "10GBASESR", 0x25: "10GBASEW", 0x26: "10GBASEEW",
	0x27: "10GBASELW", 0x28: "10GBASESW"}

var afNames = map[uint32]string{1: "IPv4", 2: "IPv6", 6: "802"}

// lldp prints an LLDPDU of wire bytes.
func (s *Summarizer) lldp(data []byte, wire int) {
	wire = max(wire, 0)
	s.str("LLDP, length ")
	s.int(wire)
	v := s.opts.Verbose
	t, tlen := data, wire
	for tlen >= 2 {
		if len(t) < 2 {
			s.str(" [|lldp]")
			return
		}
		tl := binary.BigEndian.Uint16(t)
		typ, l := uint32(tl>>9), int(tl&0x1ff)
		t, tlen = t[2:], tlen-2
		if v {
			s.str("\n\t")
			s.tok(lldpTLVNames, "Unknown", typ)
			s.str(" TLV (")
			s.uint(uint64(typ))
			s.str("), length ")
			s.int(l)
		}
		if typ == 0 || l == 0 {
			return
		}
		if len(t) < l || tlen < l {
			s.str(" [|lldp]")
			return
		}
		val := t[:l]
		hexdump := false
		switch typ {
		case 1, 2:
			if !v {
				break
			}
			if l < 2 {
				s.str(" [|lldp]")
				return
			}
			st := uint32(val[0])
			names, mac, netw := lldpChassisSubtypes, uint32(4), uint32(5)
			text := map[uint32]bool{6: true, 7: true, 1: true, 2: true, 3: true}
			if typ == 2 {
				names, mac, netw = lldpPortSubtypes, 3, 4
				text = map[uint32]bool{5: true, 7: true, 6: true, 1: true, 2: true}
			}
			s.str("\n\t  Subtype ")
			s.tok(names, "Unknown", st)
			s.str(" (")
			s.uint(uint64(st))
			s.str("): ")
			switch {
			case st == mac:
				if l < 7 {
					s.str(" [|lldp]")
					return
				}
				s.mac(val[1:7])
			case text[st]:
				s.printjnp(val[1:])
			case st == netw:
				if !s.lldpNetworkAddr(val[1:]) {
					s.str(" [|lldp]")
					return
				}
			default:
				hexdump = true
			}
		case 3:
			if !v {
				break
			}
			if l < 2 {
				s.str(" [|lldp]")
				return
			}
			s.str(": TTL ")
			s.uint(uint64(binary.BigEndian.Uint16(val)))
			s.str("s")
		case 4:
			if v {
				s.str(": ")
				s.printjnp(val)
			}
		case 5:
			s.str(": ")
			s.printjnp(val)
		case 6:
			if v {
				s.str("\n\t  ")
				s.printjnp(val)
			}
		case 7:
			if !v {
				break
			}
			if l < 4 {
				s.str(" [|lldp]")
				return
			}
			c, e := binary.BigEndian.Uint16(val), binary.BigEndian.Uint16(val[2:])
			s.str("\n\t  System  Capabilities [")
			s.bits(lldpCapNames, "none", uint32(c))
			s.str("] (0x")
			s.hex16raw(c)
			s.str(")\n\t  Enabled Capabilities [")
			s.bits(lldpCapNames, "none", uint32(e))
			s.str("] (0x")
			s.hex16raw(e)
			s.str(")")
		case 8:
			if v && !s.lldpMgmtAddr(val) {
				s.str(" [|lldp]")
				return
			}
		case 127:
			if !v {
				break
			}
			if l < 3 {
				s.str(" [|lldp]")
				return
			}
			oui := uint32(val[0])<<16 | uint32(val[1])<<8 | uint32(val[2])
			s.str(": OUI ")
			if n, ok := ouiNames[oui]; ok {
				s.str(n)
			} else {
				s.str("Unknown")
			}
			s.str(" (0x")
			s.buf = append(s.buf, hexDigits[val[0]>>4], hexDigits[val[0]&15], hexDigits[val[1]>>4],
				hexDigits[val[1]&15], hexDigits[val[2]>>4], hexDigits[val[2]&15])
			s.str(")")
			switch oui {
			case 0x0080c2:
				hexdump = s.lldp8021(val)
			case 0x00120f:
				hexdump = s.lldp8023(val)
			default:
				hexdump = true
			}
		default:
			hexdump = true
		}
		if v && hexdump {
			s.hexOnly("\n\t  ", val)
		}
		t, tlen = t[l:], tlen-l
	}
}

// lldpNetworkAddr prints "AFI IPv4 (1): 10.0.0.1"; false when too short.
func (s *Summarizer) lldpNetworkAddr(b []byte) bool {
	if len(b) < 1 {
		return false
	}
	af := uint32(b[0])
	n := map[uint32]int{1: 4, 2: 16, 6: 6}[af]
	if len(b)-1 < n {
		return false
	}
	s.str("AFI ")
	s.tok(afNames, "Unknown", af)
	s.str(" (")
	s.uint(uint64(af))
	s.str(")")
	switch n {
	case 0:
		s.str(", no AF printer !")
	case 4:
		s.str(": ")
		s.ip4(b[1:5])
	case 16:
		s.str(": ")
		s.ip6(b[1:17])
	case 6:
		s.str(": ")
		s.mac(b[1:7])
	}
	return true
}

// lldpMgmtAddr prints a management address TLV; false when too short.
func (s *Summarizer) lldpMgmtAddr(b []byte) bool {
	if len(b) < 1 {
		return false
	}
	al := int(b[0])
	b = b[1:]
	if len(b) < al {
		return false
	}
	mark := len(s.buf)
	s.str("\n\t  Management Address length ")
	s.int(al)
	s.str(", ")
	if !s.lldpNetworkAddr(b[:al]) {
		s.buf = s.buf[:mark]
		return false
	}
	b = b[al:]
	if len(b) < 5 {
		return false
	}
	st := uint32(b[0])
	s.str("\n\t  ")
	s.tok(map[uint32]string{2: "Interface Index", 3: "System Port Number"}, "Unknown", st)
	s.str(" Interface Numbering (")
	s.uint(uint64(st))
	s.str("): ")
	s.uint(uint64(binary.BigEndian.Uint32(b[1:])))
	b = b[5:]
	if len(b) > 0 {
		ol := int(b[0])
		if len(b) < 1+ol {
			return false
		}
		if ol > 0 {
			s.str("\n\t  OID length ")
			s.int(ol)
			s.printjnp(b[1 : 1+ol])
		}
	}
	return true
}

// lldp8021 prints an IEEE 802.1 organisation TLV and reports whether
// tcpdump follows it with a hex dump.
func (s *Summarizer) lldp8021(v []byte) bool {
	if len(v) < 4 {
		return false
	}
	st := uint32(v[3])
	s.str("\n\t  ")
	s.tok(lldp8021Subtypes, "unknown", st)
	s.str(" Subtype (")
	s.uint(uint64(st))
	s.str(")")
	switch st {
	case 1:
		if len(v) < 6 {
			return false
		}
		s.str("\n\t    port vlan id (PVID): ")
		s.uint(uint64(binary.BigEndian.Uint16(v[4:])))
	case 3:
		if len(v) < 6 {
			return false
		}
		s.str("\n\t    vlan id (VID): ")
		s.uint(uint64(binary.BigEndian.Uint16(v[4:])))
		if len(v) < 7 || len(v) < 7+int(v[6]) {
			return false
		}
		s.str("\n\t    vlan name: ")
		s.printjnp(v[7 : 7+int(v[6])])
	case 4:
		if len(v) < 5 || len(v) < 5+int(v[4]) {
			return false
		}
		s.str("\n\t    protocol identity: ")
		s.printjnp(v[5 : 5+int(v[4])])
	default:
		return true
	}
	return false
}

// lldp8023 prints an IEEE 802.3 organisation TLV.
func (s *Summarizer) lldp8023(v []byte) bool {
	if len(v) < 4 {
		return false
	}
	st := uint32(v[3])
	s.str("\n\t  ")
	s.tok(lldp8023Subtypes, "unknown", st)
	s.str(" Subtype (")
	s.uint(uint64(st))
	s.str(")")
	switch st {
	case 1:
		if len(v) < 9 {
			return false
		}
		s.str("\n\t    autonegotiation [")
		s.bits(lldpAutonegNames, "none", uint32(v[4]))
		s.str("] (0x")
		s.hex8(v[4])
		pmd := binary.BigEndian.Uint16(v[5:])
		s.str(")\n\t    PMD autoneg capability [")
		s.bits(lldpPMDNames, "unknown", uint32(pmd))
		s.str("] (0x")
		s.hex16raw(pmd)
		mau := binary.BigEndian.Uint16(v[7:])
		s.str(")\n\t    MAU type ")
		s.tok(lldpMAUTypes, "unknown", uint32(mau))
		s.str(" (0x")
		s.hex16raw(mau)
		s.str(")")
	case 4:
		if len(v) < 6 {
			return false
		}
		s.str("\n\t    MTU size ")
		s.uint(uint64(binary.BigEndian.Uint16(v[4:])))
	default:
		return true
	}
	return false
}
