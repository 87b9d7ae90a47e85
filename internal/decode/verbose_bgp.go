package decode

import (
	"bytes"
	"encoding/binary"
)

// BGP as tcpdump 4.99's bgp_print prints it with -v: each message found
// in the segment (by its marker) with its type and length; OPEN's
// parameters and capabilities; UPDATE's withdrawn routes, path
// attributes and announced routes (IPv4). Messages and attributes not
// decoded here are named and dumped in hex.

var bgpMsgNames = map[uint32]string{1: "Open", 2: "Update", 3: "Notification", 4: "Keepalive", 5: "Route Refresh"}

var bgpCapNames = map[uint32]string{0x1: "Multiprotocol Extensions", 0x2: "Route Refresh",
	0x3: "Cooperative Route Filtering", 0x4: "Multiple Routes to a Destination",
	0x5: "Extended Next Hop Encoding", 0x8: "Multiple Labels", 0x40: "Graceful Restart",
	0x41: "32-Bit AS Number", 0x43: "Dynamic Capability", 0x44: "Multisession BGP", 0x45: "Multiple Paths",
	0x46: "Enhanced Route Refresh", 0x47: "Long-lived Graceful Restart", 0x80: "Route Refresh (Cisco)"}

var bgpAttrNames = map[uint32]string{0x1: "Origin", 0x2: "AS Path", 0x11: "AS4 Path", 0x3: "Next Hop",
	0x4: "Multi Exit Discriminator", 0x5: "Local Preference", 0x6: "Atomic Aggregate", 0x7: "Aggregator",
	0x12: "Aggregator4", 0x8: "Community", 0x9: "Originator ID", 0xa: "Cluster List", 0xb: "DPA",
	0xc: "Advertisers", 0xd: "RCID Path / Cluster ID", 0xe: "Multi-Protocol Reach NLRI",
	0xf: "Multi-Protocol Unreach NLRI", 0x10: "Extended Community", 0x16: "PMSI Tunnel",
	0x17: "Tunnel Encapsulation", 0x18: "Traffic Engineering", 0x19: "IPv6 Extended Community",
	0x1a: "Accumulated IGP Metric", 0x1b: "PE Distinguisher Label", 0x1c: "Entropy Label",
	0x20: "Large Community", 0x80: "Attribute Set", 0xff: "Reserved for development"}

var bgpSAFINames = map[uint32]string{0x0: "Reserved", 0x1: "Unicast", 0x2: "Multicast",
	0x3: "Unicast+Multicast", 0x4: "labeled Unicast", 0x40: "Tunnel", 0x41: "VPLS", 0x42: "MDT",
	0x46: "EVPN", 0x80: "labeled VPN Unicast", 0x81: "labeled VPN Multicast",
	0x82: "labeled VPN Unicast+Multicast", 0x84: "Route Target Routing Information", 0x5: "Multicast VPN"}

var bgpMarker = bytes.Repeat([]byte{0xff}, 16)

const bgpTrunc = " [|bgp]"

// bgpVerbose prints the BGP messages in a TCP payload p.
func (s *Summarizer) bgpVerbose(p []byte) {
	start := 0
	for i := 0; i < len(p); {
		if p[i] != 0xff {
			i++
			continue
		}
		if i+16 > len(p) {
			return
		}
		if !bytes.Equal(p[i:i+16], bgpMarker) {
			i++
			continue
		}
		if i+19 > len(p) {
			s.str(bgpTrunc)
			return
		}
		if start != i {
			s.str(bgpTrunc)
		}
		hl := int(binary.BigEndian.Uint16(p[i+16:]))
		if hl < 19 {
			s.str("\nmessage length ")
			s.int(hl)
			s.str(" < 19 (invalid)")
			return
		}
		if i+hl > len(p) {
			s.str("\n[|BGP ")
			s.tok(bgpMsgNames, "Unknown Message Type", uint32(p[i+18]))
			s.str("]")
			return
		}
		if !s.bgpPDU(p[i : i+hl]) {
			return
		}
		i += hl
		start = i
	}
}

func (s *Summarizer) bgpAFISAFI(afi uint16, safi uint8) {
	s.str("AFI ")
	s.tok(afNames, "Unknown", uint32(afi))
	s.str(" (")
	s.uint(uint64(afi))
	s.str("), SAFI ")
	s.tok(bgpSAFINames, "Unknown", uint32(safi))
	s.str(" (")
	s.uint(uint64(safi))
	s.str(")")
}

// bgpPDU prints one message m; false stops the walk.
func (s *Summarizer) bgpPDU(m []byte) bool {
	typ := m[18]
	s.str("\n\t")
	s.tok(bgpMsgNames, "Unknown", uint32(typ))
	s.str(" Message (")
	s.uint(uint64(typ))
	s.str("), length: ")
	s.int(len(m))
	switch typ {
	case 1:
		s.bgpOpen(m)
	case 2:
		s.bgpUpdate(m)
	case 4:
	case 3:
		s.bgpNotification(m)
	case 5:
		if len(m) >= 23 {
			s.str("\n\t  ")
			s.bgpAFISAFI(binary.BigEndian.Uint16(m[19:]), m[22])
		}
	default:
		s.str("\n\t  no Message ")
		s.uint(uint64(typ))
		s.str(" decoder")
		s.hexOnly("\n\t  ", m)
	}
	return true
}

func (s *Summarizer) bgpOpen(m []byte) {
	if len(m) < 29 {
		s.str(bgpTrunc)
		return
	}
	s.str("\n\t  Version ")
	s.uint(uint64(m[19]))
	s.str(", my AS ")
	s.uint(uint64(binary.BigEndian.Uint16(m[20:])))
	s.str(", Holdtime ")
	s.uint(uint64(binary.BigEndian.Uint16(m[22:])))
	s.str("s, ID ")
	s.ip4(m[24:28])
	optLen := int(m[28])
	s.str("\n\t  Optional parameters, length: ")
	s.int(optLen)
	opt := m[29:]
	for i := 0; i < optLen; {
		if i+2 > len(opt) {
			s.str(bgpTrunc)
			return
		}
		t, l := opt[i], int(opt[i+1])
		if 2+i+l > optLen {
			s.str("\n\t     Option ")
			s.uint(uint64(t))
			s.str(", length: ")
			s.int(l)
			s.str(", goes past the end of the options")
			return
		}
		s.str("\n\t    Option ")
		s.tok(map[uint32]string{1: "Authentication Information", 2: "Capabilities Advertisement"}, "Unknown", uint32(t))
		s.str(" (")
		s.uint(uint64(t))
		s.str("), length: ")
		s.int(l)
		if t == 2 {
			if i+2+l > len(opt) {
				s.str(bgpTrunc)
				return
			}
			s.bgpCaps(opt[i+2 : i+2+l])
		} else {
			s.str("\n\t      no decoder for option ")
			s.uint(uint64(t))
		}
		i += 2 + l
	}
}

func (s *Summarizer) bgpCaps(c []byte) {
	for i := 0; i < len(c); {
		if i+2 > len(c) {
			s.str(bgpTrunc)
			return
		}
		t, l := c[i], int(c[i+1])
		s.str("\n\t      ")
		s.tok(bgpCapNames, "Unknown", uint32(t))
		s.str(" (")
		s.uint(uint64(t))
		s.str("), length: ")
		s.int(l)
		if i+2+l > len(c) {
			s.str(bgpTrunc)
			return
		}
		v := c[i+2 : i+2+l]
		switch t {
		case 1:
			if l < 4 {
				s.str(" (too short, < 4)")
				return
			}
			s.str("\n\t\t")
			s.bgpAFISAFI(binary.BigEndian.Uint16(v), v[3])
		case 0x40:
			if l < 2 {
				s.str(" (too short, < 2)")
				return
			}
			s.str("\n\t\tRestart Flags: [")
			if v[0]&0x80 != 0 {
				s.str("R")
			} else {
				s.str("none")
			}
			s.str("], Restart Time ")
			s.uint(uint64(binary.BigEndian.Uint16(v) & 0xfff))
			s.str("s")
			for r := v[2:]; len(r) >= 4; r = r[4:] {
				s.str("\n\t\t  ")
				s.bgpAFISAFI(binary.BigEndian.Uint16(r), r[2])
				s.str(", Forwarding state preserved: ")
				if r[3]&0x80 != 0 {
					s.str("yes")
				} else {
					s.str("no")
				}
			}
		case 2, 0x47, 0x80:
		case 0x41:
			if l < 4 {
				s.str(" (too short, < 4)")
				return
			}
			s.str("\n\t\t 4 Byte AS ")
			s.uint(uint64(binary.BigEndian.Uint32(v)))
		case 0x45:
			if l == 0 {
				s.str(" (bogus)")
				break
			}
			for r := v; len(r) != 0; r = r[4:] {
				if len(r) < 4 {
					s.str(" (invalid)")
					break
				}
				s.str("\n\t\t")
				s.bgpAFISAFI(binary.BigEndian.Uint16(r), r[2])
				s.str(", Send/Receive: ")
				switch r[3] {
				case 1:
					s.str("Receive")
				case 2:
					s.str("Send")
				case 3:
					s.str("Both")
				default:
					s.str("Bogus (0x")
					s.hex8(r[3])
					s.str(")")
				}
			}
		default:
			s.str("\n\t\tno decoder for Capability ")
			s.uint(uint64(t))
			s.hexOnly("\n\t\t", v)
		}
		i += 2 + l
	}
}

// bgpPrefix4 decodes an IPv4 NLRI prefix: its text and length, -1 for an
// illegal prefix length, -2 when the bytes run out.
func (s *Summarizer) bgpPrefix4(p []byte) int {
	if len(p) < 1 {
		return -2
	}
	pl := int(p[0])
	if pl > 32 {
		return -1
	}
	n := (pl + 7) / 8
	if len(p) < 1+n {
		return -2
	}
	var a [4]byte
	copy(a[:], p[1:1+n])
	if pl%8 != 0 {
		a[n-1] &= 0xff << (8 - pl%8)
	}
	s.str("\n\t    ")
	s.ip4(a[:])
	s.str("/")
	s.int(pl)
	return 1 + n
}

// bgpAddPath is tcpdump's check_add_path for IPv4 NLRI.
func bgpAddPath(p []byte) bool {
	if len(p) < 5 {
		return false
	}
	off := 0
	for off < len(p) {
		off += 4
		if off >= len(p) {
			break
		}
		pl := int(p[off])
		if pl > 32 {
			return false
		}
		off += 1 + (pl+7)/8
	}
	if off > len(p) {
		return false
	}
	for off = 0; off < len(p); {
		pl := int(p[off])
		if pl < 1 || pl > 32 {
			return true
		}
		off += 1 + (pl+7)/8
	}
	return off > len(p)
}

// bgpRoutes prints IPv4 NLRI (withdrawn or announced).
func (s *Summarizer) bgpRoutes(p []byte) {
	add := bgpAddPath(p)
	for len(p) > 0 {
		var id uint32
		if add {
			if len(p) < 4 {
				return
			}
			id = binary.BigEndian.Uint32(p)
			p = p[4:]
		}
		n := s.bgpPrefix4(p)
		switch n {
		case -1:
			s.str("\n\t    (illegal prefix length)")
			return
		case -2:
			s.str(bgpTrunc)
			return
		}
		if add {
			s.str("   Path Id: ")
			s.uint(uint64(id))
		}
		p = p[n:]
	}
}

func (s *Summarizer) bgpUpdate(m []byte) {
	p := m[19:]
	if len(p) < 2 {
		s.str(bgpTrunc)
		return
	}
	wl := int(binary.BigEndian.Uint16(p))
	p = p[2:]
	if len(p) < wl {
		s.str(bgpTrunc)
		return
	}
	if wl > 1 {
		s.str("\n\t  Withdrawn routes:")
		s.bgpRoutes(p[:wl])
	}
	p = p[wl:]
	if len(p) < 2 {
		s.str(bgpTrunc)
		return
	}
	al := int(binary.BigEndian.Uint16(p))
	p = p[2:]
	if wl > 1 {
		wl = 0 // tcpdump has counted the withdrawn routes down
	}
	if wl == 0 && al == 0 && len(p) == 0 {
		s.str("\n\t  End-of-Rib Marker (empty NLRI)")
		return
	}
	if len(p) < al {
		s.str(bgpTrunc)
		return
	}
	attrs := p[:al]
	p = p[al:]
	for len(attrs) > 0 {
		if len(attrs) < 2 {
			s.str("\n\t  [path attrs too short]")
			break
		}
		flags, typ := attrs[0], attrs[1]
		attrs = attrs[2:]
		ll := 1
		if flags&0x10 != 0 {
			ll = 2
		}
		if len(attrs) < ll {
			s.str("\n\t  [path attrs too short]")
			break
		}
		var l int
		if ll == 2 {
			l = int(binary.BigEndian.Uint16(attrs))
		} else {
			l = int(attrs[0])
		}
		attrs = attrs[ll:]
		s.str("\n\t  ")
		s.tok(bgpAttrNames, "Unknown Attribute", uint32(typ))
		s.str(" (")
		s.uint(uint64(typ))
		s.str("), length: ")
		s.int(l)
		if flags != 0 {
			s.str(", Flags [")
			for i, c := range "OTPE" {
				if flags&(0x80>>i) != 0 {
					s.buf = append(s.buf, byte(c))
				}
			}
			if flags&0xf != 0 {
				s.str("+")
				s.buf = append(s.buf, hexDigits[flags&0xf])
			}
			s.str("]: ")
		}
		if len(attrs) < l {
			s.str(" [path attrs too short]")
			break
		}
		s.bgpAttr(typ, attrs[:l])
		attrs = attrs[l:]
	}
	if len(p) > 0 {
		s.str("\n\t  Updated routes:")
		s.bgpRoutes(p)
	}
}

func (s *Summarizer) bgpAttr(typ byte, v []byte) {
	invalid := func() { s.str("invalid len") }
	switch typ {
	case 1:
		if len(v) != 1 {
			invalid()
			return
		}
		s.tok(map[uint32]string{0: "IGP", 1: "EGP", 2: "Incomplete"}, "Unknown Origin Typecode", uint32(v[0]))
	case 2, 0x11:
		if len(v)%2 != 0 {
			invalid()
			return
		}
		if len(v) == 0 {
			s.str("empty")
			return
		}
		size := 4
		if typ == 2 {
			size = 2
			for t := v; ; {
				if len(t) == 0 {
					break
				}
				if len(t) < 2 || t[0] < 1 || t[0] > 4 || 2+int(t[1])*2 > len(t) {
					size = 4
					break
				}
				t = t[2+int(t[1])*2:]
			}
		}
		for t := v; len(t) > 0; {
			if len(t) < 2 {
				s.str(bgpTrunc)
				return
			}
			open := map[byte]string{2: "", 1: "{ ", 3: "( ", 4: "({ "}
			cls := map[byte]string{2: "", 1: "}", 3: ")", 4: "})"}
			o, ok := open[t[0]]
			if !ok {
				o = "?"
			}
			s.str(o)
			n := int(t[1])
			for i := 0; i < n*size; i += size {
				if 2+i+size > len(t) {
					s.str(bgpTrunc)
					return
				}
				if size == 2 {
					s.uint(uint64(binary.BigEndian.Uint16(t[2+i:])))
				} else {
					s.uint(uint64(binary.BigEndian.Uint32(t[2+i:])))
				}
				s.str(" ")
			}
			c, ok := cls[t[0]]
			if !ok {
				c = "?"
			}
			s.str(c)
			t = t[min(2+n*size, len(t)):]
		}
	case 3, 9:
		if len(v) != 4 {
			invalid()
			return
		}
		s.ip4(v)
	case 4, 5:
		if len(v) != 4 {
			invalid()
			return
		}
		s.uint(uint64(binary.BigEndian.Uint32(v)))
	case 6:
		if len(v) != 0 {
			invalid()
		}
	case 7, 0x12:
		switch {
		case len(v) == 6 && typ == 7:
			s.str(" AS #")
			s.uint(uint64(binary.BigEndian.Uint16(v)))
			s.str(", origin ")
			s.ip4(v[2:6])
		case len(v) == 8:
			s.str(" AS #")
			s.uint(uint64(binary.BigEndian.Uint32(v)))
			s.str(", origin ")
			s.ip4(v[4:8])
		default:
			invalid()
		}
	case 8:
		if len(v)%4 != 0 {
			invalid()
			return
		}
		for t := v; len(t) > 0; t = t[4:] {
			switch c := binary.BigEndian.Uint32(t); c {
			case 0xffffff01:
				s.str(" NO_EXPORT")
			case 0xffffff02:
				s.str(" NO_ADVERTISE")
			case 0xffffff03:
				s.str(" NO_EXPORT_SUBCONFED")
			default:
				s.uint(uint64(c >> 16))
				s.str(":")
				s.uint(uint64(c & 0xffff))
				if len(t) > 4 {
					s.str(", ")
				}
			}
		}
	case 0xa:
		if len(v)%4 != 0 {
			invalid()
			return
		}
		for t := v; len(t) > 0; t = t[4:] {
			s.ip4(t[:4])
			if len(t) > 4 {
				s.str(", ")
			}
		}
	default:
		s.str("\n\t    no Attribute ")
		s.uint(uint64(typ))
		s.str(" decoder")
		s.hexOnly("\n\t    ", v)
	}
}

var bgpNotifyNames = map[uint32]string{1: "Message Header Error", 2: "OPEN Message Error",
	3: "UPDATE Message Error", 4: "Hold Timer Expired", 5: "Finite State Machine Error", 6: "Cease",
	7: "Capability Message Error"}

var bgpNotifyMinorNames = map[byte]map[uint32]string{
	1: {1: "Connection Not Synchronized", 2: "Bad Message Length", 3: "Bad Message Type"},
	2: {1: "Unsupported Version Number", 2: "Bad Peer AS", 3: "Bad BGP Identifier",
		4: "Unsupported Optional Parameter", 5: "Authentication Failure", 6: "Unacceptable Hold Time",
		7: "Capability Message Error"},
	3: {1: "Malformed Attribute List", 2: "Unrecognized Well-known Attribute", 3: "Missing Well-known Attribute",
		4: "Attribute Flags Error", 5: "Attribute Length Error", 6: "Invalid ORIGIN Attribute",
		7: "AS Routing Loop", 8: "Invalid NEXT_HOP Attribute", 9: "Optional Attribute Error",
		10: "Invalid Network Field", 11: "Malformed AS_PATH"},
	6: {1: "Maximum Number of Prefixes Reached", 2: "Administrative Shutdown", 3: "Peer Unconfigured",
		4: "Administrative Reset", 5: "Connection Rejected", 6: "Other Configuration Change",
		7: "Connection Collision Resolution"},
}

// bgpNotification prints a NOTIFICATION's error and subcode (the
// subcodes of the errors tcpdump names them for here).
func (s *Summarizer) bgpNotification(m []byte) {
	if len(m) < 21 {
		return
	}
	major, minor := m[19], m[20]
	s.str(", ")
	s.tok(bgpNotifyNames, "Unknown Error", uint32(major))
	s.str(" (")
	s.uint(uint64(major))
	s.str(")")
	if names, ok := bgpNotifyMinorNames[major]; ok {
		s.str(", subcode ")
		s.tok(names, "Unknown", uint32(minor))
		s.str(" (")
		s.uint(uint64(minor))
		s.str(")")
	}
}
