package flow

import (
	"net/netip"
)

// Link types (pcap LINKTYPE_ values) Extract reads.
const (
	LinkNull     = 0   // BSD loopback: 4-byte address family, host order
	LinkEthernet = 1   // EN10MB
	LinkRaw      = 101 // raw IPv4 or IPv6
	LinkLoop     = 108 // OpenBSD loopback: 4-byte address family, network order
	LinkSLL      = 113 // Linux cooked, 16-byte header
	LinkIPv4     = 228
	LinkIPv6     = 229
	LinkSLL2     = 276 // Linux cooked v2, 20-byte header
	LinkPPP      = 9   // PPP, optional address and control bytes
	LinkPPPHDLC  = 50  // PPP in HDLC-like framing
	LinkCHDLC    = 104 // Cisco HDLC: address, control, Ethernet type
)

// Encap says how a tunnel carries the layer inside it.
type Encap uint8

// The encapsulations Extract follows to the inner packet.
const (
	EncapNone    Encap = iota
	EncapIPIP          // IPv4 or IPv6 in IPv4 or IPv6 (IP protocol 4 or 41)
	EncapGRE           // GRE carrying IP or Ethernet (transparent bridging)
	EncapERSPAN1       // GRE 0x88be without a sequence number: Ethernet follows
	EncapERSPAN2       // GRE 0x88be with one: an 8-byte ERSPAN header
	EncapERSPAN3       // GRE 0x22eb: a 12-byte header (20 with the platform part)
	EncapVXLAN         // UDP port 4789
	EncapGENEVE        // UDP port 6081
	EncapPPTP          // enhanced GRE (version 1) carrying PPP
	EncapTeredo        // IPv6 in UDP port 3544 (RFC 4380)
)

var encapNames = [...]string{"", "ipip", "gre", "erspan1", "erspan2", "erspan3", "vxlan", "geneve", "pptp", "teredo"}

func (e Encap) String() string {
	if int(e) < len(encapNames) {
		return encapNames[e]
	}
	return "encap"
}

// Limits of what a Packet records. Deeper nesting is still followed to
// the inner packet (up to maxDepth encapsulations) but not recorded.
const (
	MaxOuter = 4
	MaxVLANs = 4
	maxDepth = 8
)

// Layer is one tunnel around the inner packet: the outer header's
// addresses and protocol, its UDP ports (VXLAN, GENEVE), and the tunnel's
// identifier (VXLAN or GENEVE VNI, GRE key, ERSPAN session id) when it
// has one.
type Layer struct {
	Encap            Encap
	Src, Dst         netip.Addr
	Proto            uint8
	SrcPort, DstPort uint16
	ID               uint32
	HasID            bool
}

// Packet is what Extract finds in a frame. It holds no reference to the
// frame.
type Packet struct {
	Key      Key   // the innermost IP packet's
	TCPFlags uint8 // of the inner TCP header; 0 for other protocols
	// Fragment is set for an IP fragment after the first: its key has
	// the protocol but no ports.
	Fragment bool
	// Fragmented is set for a fragment of an IP packet, first or not;
	// Frag says which (for the outermost fragmented header). A Table
	// counts the later fragments, which carry no ports, in the flow of
	// the first.
	Fragmented bool
	Frag       Frag
	// Truncated is set when the TCP header is cut short of its 20 bytes:
	// the ports key the packet (as tshark keys it), the flags are not
	// known.
	Truncated bool
	// Outer are the tunnels around the inner packet, outermost first;
	// NOuter how many of them are recorded (at most MaxOuter).
	Outer  [MaxOuter]Layer
	NOuter int
	// VLANs are the 802.1Q ids met on the way in (outer tag first, inner
	// Ethernet frames' tags after); NVLANs how many (at most MaxVLANs).
	VLANs  [MaxVLANs]uint16
	NVLANs int
	depth  int
}

// Frag identifies a fragment: the fragmented header's addresses, IP
// identification and protocol, and whether it is the first fragment
// (offset 0), the one with the ports.
type Frag struct {
	Src, Dst netip.Addr
	ID       uint32
	Proto    uint8
	First    bool
}

// TCP flag bits as they are in the header's 14th byte.
const (
	FIN = 0x01
	SYN = 0x02
	RST = 0x04
	PSH = 0x08
	ACK = 0x10
	URG = 0x20
	ECE = 0x40
	CWR = 0x80
)

// Extract reads the flow key of a frame of the given link type into p
// and reports whether the frame holds an IP packet. Every read is bounds
// checked; damaged or truncated headers end the walk at the last layer
// read whole. It allocates nothing.
func Extract(linkType uint32, data []byte, p *Packet) bool {
	*p = Packet{}
	switch linkType & 0x03FFFFFF {
	case LinkEthernet:
		return p.ether(data)
	case LinkSLL:
		if len(data) < 16 {
			return false
		}
		return p.ethertype(be16(data[14:]), data[16:])
	case LinkSLL2:
		if len(data) < 20 {
			return false
		}
		return p.ethertype(be16(data), data[20:])
	case LinkPPP, LinkPPPHDLC:
		b := data
		if len(b) >= 2 && b[0] == 0xff && b[1] == 0x03 {
			b = b[2:]
		}
		if len(b) < 2 {
			return false
		}
		return p.ppp(be16(b), b[2:])
	case LinkCHDLC:
		if len(data) < 4 {
			return false
		}
		return p.ethertype(be16(data[2:]), data[4:])
	case LinkRaw, 12, 14:
		return p.ip(data)
	case LinkIPv4, LinkIPv6:
		// By the version, as tshark reads them: a file may mislabel.
		return p.ip(data)
	case LinkNull, LinkLoop:
		if len(data) < 4 {
			return false
		}
		af := uint32(data[0]) | uint32(data[1])<<8 | uint32(data[2])<<16 | uint32(data[3])<<24
		if linkType == LinkLoop || af&0xffff == 0 {
			af = be32(data)
		}
		switch af {
		case 2:
			return p.ipv4(data[4:])
		case 10, 24, 28, 30:
			return p.ipv6(data[4:])
		}
	}
	return false
}

func be16(b []byte) uint16 { return uint16(b[0])<<8 | uint16(b[1]) }
func be32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// ip reads an IPv4 or IPv6 packet by its version.
func (p *Packet) ip(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	switch b[0] >> 4 {
	case 4:
		return p.ipv4(b)
	case 6:
		return p.ipv6(b)
	}
	return false
}

// ether reads an Ethernet frame.
func (p *Packet) ether(b []byte) bool {
	if len(b) < 14 {
		return false
	}
	return p.ethertype(be16(b[12:]), b[14:])
}

// ethertype reads what follows an Ethernet type field: VLAN tags, MPLS,
// PPPoE, 802.3 with SNAP, IP.
func (p *Packet) ethertype(et uint16, b []byte) bool {
	for range 16 {
		switch et {
		case 0x8100, 0x88a8, 0x9100, 0x9200:
			if len(b) < 4 {
				return false
			}
			if p.NVLANs < MaxVLANs {
				p.VLANs[p.NVLANs] = be16(b) & 0x0fff
				p.NVLANs++
			}
			et, b = be16(b[2:]), b[4:]
		case 0x0800:
			return p.ipv4(b)
		case 0x86dd:
			return p.ipv6(b)
		case 0x8847, 0x8848: // MPLS: labels to the bottom of the stack, then IP
			for {
				if len(b) < 4 {
					return false
				}
				bottom := b[2]&1 != 0
				b = b[4:]
				if bottom {
					break
				}
			}
			return p.ip(b)
		case 0x8903: // Cisco FabricPath: a tag, then the original frame
			if len(b) < 2 {
				return false
			}
			return p.ether(b[2:])
		case 0x8926: // VN-Tag
			if len(b) < 6 {
				return false
			}
			et, b = be16(b[4:]), b[6:]
		case 0x8864: // PPPoE session
			if len(b) < 8 {
				return false
			}
			return p.ppp(be16(b[6:]), b[8:])
		default:
			if et > 1500 || len(b) < 8 || b[0] != 0xaa || b[1] != 0xaa || b[2] != 0x03 {
				return false
			}
			et, b = be16(b[6:]), b[8:] // 802.2 LLC + SNAP
		}
	}
	return false
}

// ppp reads what follows a PPP protocol field.
func (p *Packet) ppp(proto uint16, b []byte) bool {
	switch proto {
	case 0x0021:
		return p.ipv4(b)
	case 0x0057:
		return p.ipv6(b)
	}
	return false
}

func (p *Packet) ipv4(b []byte) bool {
	if len(b) < 20 || b[0]>>4 != 4 {
		return false
	}
	hl := int(b[0]&0x0f) * 4
	if hl < 20 || hl > len(b) {
		return false
	}
	if tl := int(be16(b[2:])); tl >= hl && tl < len(b) {
		b = b[:tl] // Ethernet padding is not payload
	} else if tl < hl && tl != 0 {
		return false
	}
	src := netip.AddrFrom4([4]byte(b[12:16]))
	dst := netip.AddrFrom4([4]byte(b[16:20]))
	off, more := be16(b[6:])&0x1fff, b[6]&0x20 != 0
	if (off != 0 || more) && !p.Fragmented {
		p.Fragmented = true
		p.Frag = Frag{Src: src, Dst: dst, ID: uint32(be16(b[4:])), Proto: b[9], First: off == 0}
	}
	return p.transport(b[9], src, dst, b[hl:], off != 0)
}

func (p *Packet) ipv6(b []byte) bool {
	if len(b) < 40 || b[0]>>4 != 6 {
		return false
	}
	if pl := int(be16(b[4:])); pl > 0 && 40+pl < len(b) {
		b = b[:40+pl]
	}
	src := netip.AddrFrom16([16]byte(b[8:24]))
	dst := netip.AddrFrom16([16]byte(b[24:40]))
	nh, rest := b[6], b[40:]
	frag := false
	for range 16 {
		switch nh {
		case 0, 43, 60: // hop-by-hop, routing, destination options
			if len(rest) < 2 || len(rest) < (int(rest[1])+1)*8 {
				return p.setKey(nh, src, dst)
			}
			nh, rest = rest[0], rest[(int(rest[1])+1)*8:]
			continue
		case 44: // fragment
			if len(rest) < 8 {
				return p.setKey(nh, src, dst)
			}
			off := be16(rest[2:]) >> 3
			if (off != 0 || rest[3]&1 != 0) && !p.Fragmented {
				p.Fragmented = true
				p.Frag = Frag{Src: src, Dst: dst, ID: be32(rest[4:]), Proto: rest[0], First: off == 0}
			}
			frag = frag || off != 0
			nh, rest = rest[0], rest[8:]
			continue
		case 51: // authentication header
			if len(rest) < 2 || len(rest) < (int(rest[1])+2)*4 {
				return p.setKey(nh, src, dst)
			}
			nh, rest = rest[0], rest[(int(rest[1])+2)*4:]
			continue
		}
		break
	}
	return p.transport(nh, src, dst, rest, frag)
}

// setKey records an IP packet with no ports (or where they cannot be
// read) and reports true.
func (p *Packet) setKey(proto uint8, src, dst netip.Addr) bool {
	p.Key = Key{Src: src, Dst: dst, Proto: proto}
	return true
}

// transport reads the IP payload b of protocol proto.
func (p *Packet) transport(proto uint8, src, dst netip.Addr, b []byte, frag bool) bool {
	p.Key = Key{Src: src, Dst: dst, Proto: proto}
	if frag {
		p.Fragment = true
		return true
	}
	switch proto {
	case ProtoTCP:
		// The ports key the packet even when the rest of the header is
		// cut off, as tshark keys it.
		if len(b) < 4 {
			return true
		}
		p.Key.SrcPort, p.Key.DstPort, p.Key.HasPorts = be16(b), be16(b[2:]), true
		if len(b) >= 20 {
			p.TCPFlags = b[13]
		} else {
			p.Truncated = true
		}
	case ProtoUDP:
		if len(b) < 8 {
			return true
		}
		sport, dport := be16(b), be16(b[2:])
		p.Key.SrcPort, p.Key.DstPort, p.Key.HasPorts = sport, dport, true
		switch {
		case sport == 4789 || dport == 4789:
			p.tunnelUDP(EncapVXLAN, b[8:])
		case sport == 6081 || dport == 6081:
			p.tunnelUDP(EncapGENEVE, b[8:])
		case sport == 3544 || dport == 3544:
			p.tunnelUDP(EncapTeredo, b[8:])
		}
	case ProtoSCTP:
		if len(b) < 12 {
			return true
		}
		p.Key.SrcPort, p.Key.DstPort, p.Key.HasPorts = be16(b), be16(b[2:]), true
	case ProtoICMP, ProtoICMPv6:
		// tshark and Zeek read an ICMP message only with its whole
		// 8-byte header, an ICMPv6 one with its 4 bytes of type, code
		// and checksum; shorter ones are keyed as other protocols.
		if len(b) < 8 && proto == ProtoICMP || len(b) < 4 {
			return true
		}
		p.Key.SrcPort, p.Key.DstPort, p.Key.HasPorts = uint16(b[0]), uint16(b[1]), true
	case 51: // IPv4 authentication header: what it authenticates follows
		if p.depth >= maxDepth || len(b) < 2 || len(b) < (int(b[1])+2)*4 {
			return true
		}
		p.depth++
		return p.transport(b[0], src, dst, b[(int(b[1])+2)*4:], false)
	case ProtoIPIP:
		p.tunnel(Layer{Encap: EncapIPIP}, func() bool { return p.ipv4(b) })
	case ProtoIPv6:
		p.tunnel(Layer{Encap: EncapIPIP}, func() bool { return p.ipv6(b) })
	case ProtoGRE:
		p.gre(b)
	}
	return true
}

// tunnel enters an encapsulation: the current key becomes an outer layer
// and inner reads the packet inside. When the inner packet cannot be
// read, the outer key stays the packet's key, as tshark and Zeek keep it.
func (p *Packet) tunnel(l Layer, inner func() bool) {
	if p.depth >= maxDepth {
		return
	}
	outer, flags, vlans, fragmented := p.Key, p.TCPFlags, p.NVLANs, p.Fragmented
	l.Src, l.Dst, l.Proto, l.SrcPort, l.DstPort = outer.Src, outer.Dst, outer.Proto, outer.SrcPort, outer.DstPort
	n := p.NOuter
	if n < MaxOuter {
		p.Outer[n] = l
		p.NOuter++
	}
	p.depth++
	if inner() {
		return
	}
	p.Key, p.TCPFlags, p.NVLANs, p.NOuter, p.Fragment, p.Fragmented = outer, flags, vlans, n, false, fragmented
	if !fragmented {
		p.Frag = Frag{}
	}
	p.depth--
}

// tunnelUDP reads a VXLAN or GENEVE payload.
func (p *Packet) tunnelUDP(e Encap, b []byte) {
	switch e {
	case EncapVXLAN:
		if len(b) < 8 || b[0]&0x08 == 0 {
			return
		}
		l := Layer{Encap: e, ID: be32(b[4:]) >> 8, HasID: true}
		p.tunnel(l, func() bool { return p.ether(b[8:]) })
	case EncapTeredo:
		// Authentication and origin indications may come before the
		// IPv6 packet; anything else is not Teredo.
		if len(b) >= 4 && b[0] == 0 && b[1] == 1 {
			n := 4 + int(b[2]) + int(b[3]) + 9
			if len(b) < n {
				return
			}
			b = b[n:]
		}
		if len(b) >= 8 && b[0] == 0 && b[1] == 0 {
			b = b[8:]
		}
		if len(b) < 40 || b[0]>>4 != 6 {
			return
		}
		p.tunnel(Layer{Encap: e}, func() bool { return p.ipv6(b) })
	case EncapGENEVE:
		if len(b) < 8 || b[0]>>6 != 0 {
			return
		}
		hl := 8 + int(b[0]&0x3f)*4
		if len(b) < hl {
			return
		}
		l := Layer{Encap: e, ID: be32(b[4:]) >> 8, HasID: true}
		proto, inner := be16(b[2:]), b[hl:]
		p.tunnel(l, func() bool {
			if proto == 0x6558 {
				return p.ether(inner)
			}
			return p.ethertype(proto, inner)
		})
	}
}

// gre reads a GRE packet (RFC 2784/2890, PPTP's enhanced GRE) and what it
// carries.
func (p *Packet) gre(b []byte) {
	if len(b) < 4 {
		return
	}
	flags, proto := be16(b), be16(b[2:])
	off := 4
	l := Layer{Encap: EncapGRE}
	switch flags & 7 {
	case 0:
		if flags&0xc000 != 0 { // checksum or routing present
			off += 4
		}
		if flags&0x2000 != 0 {
			if len(b) < off+4 {
				return
			}
			l.ID, l.HasID = be32(b[off:]), true
			off += 4
		}
		if flags&0x1000 != 0 {
			off += 4
		}
		if flags&0x4000 != 0 {
			return // source routing (RFC 1701): not followed
		}
	case 1: // PPTP: key (payload length, call id), sequence, acknowledgement
		if flags&0x2000 == 0 || proto != 0x880b {
			return
		}
		off += 4
		if flags&0x1000 != 0 {
			off += 4
		}
		if flags&0x0080 != 0 {
			off += 4
		}
		if len(b) < off+2 {
			return
		}
		in := b[off:]
		if in[0] == 0xff && in[1] == 0x03 {
			in = in[2:]
		}
		if len(in) < 1 {
			return
		}
		// The protocol field is one byte when its low bit is set (RFC 1661).
		pp, n := uint16(in[0]), 1
		if in[0]&1 == 0 {
			if len(in) < 2 {
				return
			}
			pp, n = be16(in), 2
		}
		l.Encap = EncapPPTP
		p.tunnel(l, func() bool { return p.ppp(pp, in[n:]) })
		return
	default:
		return
	}
	if len(b) < off {
		return
	}
	in := b[off:]
	switch proto {
	case 0x0800, 0x86dd:
		p.tunnel(l, func() bool { return p.ethertype(proto, in) })
	case 0x6558:
		p.tunnel(l, func() bool { return p.ether(in) })
	case 0x88be:
		if flags&0x1000 == 0 { // type I: no ERSPAN header
			l.Encap = EncapERSPAN1
			p.tunnel(l, func() bool { return p.ether(in) })
			return
		}
		if len(in) < 8 {
			return
		}
		l.Encap, l.ID, l.HasID = EncapERSPAN2, uint32(be16(in[2:])&0x03ff), true
		p.tunnel(l, func() bool { return p.ether(in[8:]) })
	case 0x22eb:
		if len(in) < 12 {
			return
		}
		hl := 12
		if in[11]&1 != 0 {
			hl += 8
		}
		if len(in) < hl {
			return
		}
		l.Encap, l.ID, l.HasID = EncapERSPAN3, uint32(be16(in[2:])&0x03ff), true
		p.tunnel(l, func() bool { return p.ether(in[hl:]) })
	}
}
