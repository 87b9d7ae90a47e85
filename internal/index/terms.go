package index

import (
	"net/netip"

	"github.com/packetrecorderd/packetrecorderd/internal/flow"
)

// Link types (pcap LINKTYPE_ values) whose terms Terms.Packet reads;
// every other link type gets KindAny.
const (
	linkNull     = 0
	linkEthernet = 1
	linkRaw      = 101
	linkLoop     = 108
	linkSLL      = 113
	linkIPv4     = 228
	linkIPv6     = 229
	linkSLL2     = 276
	linkPPP      = 9   // address and control bytes, then the PPP protocol
	linkCHDLC    = 104 // address, control, then an Ethernet type
	linkPPPSer   = 50  // PPP in HDLC-like framing
	linkPPPD     = 166 // PPP with a direction byte
	linkPPPEther = 51  // PPPoE session header, then PPP
	linkSLIP     = 8   // 16-byte SLIP header
	linkSLIPBSD  = 102 // 24-byte SLIP header
	linkFDDI     = 10  // 13-byte FDDI header, then LLC/SNAP
	linkTR       = 6   // 14-byte Token Ring header, then LLC/SNAP
	linkIPNet    = 226 // Solaris ipnet: address family at 1, IP at 24
)

// Bounds of what Terms.Packet follows. The planner (filter.Plan) never
// narrows a term read deeper than these: MaxVLANLevels "vlan" keywords
// in one Ethernet layer, MaxLabels "mpls" keywords in one label stack,
// MaxLayers nested layers (a label stack, a PPPoE session, a Geneve
// payload). A packet that goes deeper than followed gets KindAny.
const (
	MaxVLANLevels = 4
	MaxLabels     = 16
	MaxLayers     = 4
)

// Ethernet types and PPP protocols the programs test.
const (
	etIPv4   = 0x0800
	etARP    = 0x0806
	etRARP   = 0x8035
	etVLAN   = 0x8100
	etQinQ   = 0x88a8
	etQinQ2  = 0x9100
	etIPv6   = 0x86dd
	etMPLS   = 0x8847
	etPPPoES = 0x8864
	etTEB    = 0x6558
	pppIPv4  = 0x0021
	pppIPv6  = 0x0057
	pppMPLS  = 0x0281
	geneve   = 6081
)

// Terms gathers the terms of one packet. Reuse one Terms for many
// packets: after the first few, Packet allocates nothing. It is not safe
// for concurrent use.
type Terms struct {
	// List holds the terms of the last packet given to Packet, in the
	// order found, possibly with repeats. It is overwritten by the next
	// call.
	List []Term
	b    []byte
}

// Packet replaces t.List with the terms of the frame data of the given
// link type (pcap LINKTYPE_). The terms are read the way libpcap 1.10.3's
// programs read fields for a savefile, at every offset a filter keyword
// can move them to:
//
//   - the network layer behind the link-layer type field (Ethernet,
//     LINUX_SLL, LINUX_SLL2, C_HDLC, NULL, LOOP, IPNET), the SNAP type
//     (FDDI, Token Ring), the PPP protocol (PPP, PPP_SERIAL, PPP_PPPD,
//     PPP_ETHER) or the version nibble (RAW; SLIP, where libpcap reads
//     it from the first byte of the SLIP header), and always IPv4 (IPV4)
//     or IPv6 (IPV6);
//   - on Ethernet, behind each of the first MaxVLANLevels 4-byte shifts
//     that "vlan" makes, whether or not the bytes before are a tag (the
//     program does not check them when "vlan" sits in an "or"), with
//     the VLAN id of every level whose type field is a VLAN TPID;
//   - behind an MPLS label stack (at its bottom label), a PPPoE session
//     (PPP protocol field) and a Geneve header (UDP port 6081), followed
//     as the programs follow them.
//
// IPv4: the addresses at 12 and 16, the protocol at 9 and, for TCP, UDP
// and SCTP not a later fragment, the ports at the header length the
// first nibble gives. IPv6: the addresses at 8 and 24, the next header
// at 6 (and at 40 after a fragment header), the ports at 40 for TCP, UDP
// and SCTP. ARP and RARP: the protocol addresses at 14 and 24. A field
// is read only if it lies within data (a program's load outside it
// rejects the packet). Link types not listed get KindAny.
func (t *Terms) Packet(linkType uint32, data []byte) {
	t.List = t.List[:0]
	t.b = data
	// The upper bits of a pcap link type field say how long an FCS the
	// frames end with; offsets do not move.
	switch linkType & 0x03ffffff {
	case linkEthernet:
		t.ether(12, 14, 0)
	case linkSLL:
		t.level(14, 16, 0)
	case linkSLL2:
		t.level(0, 20, 0)
	case linkCHDLC:
		t.level(2, 4, 0)
	case linkPPP, linkPPPSer, linkPPPD:
		if p, ok := t.u16(2); ok {
			t.dispatch(p, 4, 0, true)
		}
	case linkPPPEther:
		if p, ok := t.u16(6); ok {
			t.dispatch(p, 8, 0, true)
		}
	case linkFDDI:
		// LLC/SNAP: libpcap compares the SNAP type (LLC + 6) only.
		t.level(13+6, 13+8, 0)
	case linkTR:
		t.level(14+6, 14+8, 0)
	case linkSLIP, linkSLIPBSD:
		// libpcap tests the version nibble of the frame's first byte
		// (in the SLIP header) and reads the IP header after it.
		pl := 16
		if linkType&0x03ffffff == linkSLIPBSD {
			pl = 24
		}
		if len(data) > 0 {
			switch data[0] & 0xf0 {
			case 0x40:
				t.ipv4(pl, 0)
			case 0x60:
				t.ipv6(pl, 0)
			}
		}
	case linkIPNet:
		if af, ok := t.u8(1); ok {
			switch af {
			case 2:
				t.ipv4(24, 0)
			case 26:
				t.ipv6(24, 0)
			}
		}
	case linkRaw:
		if len(data) > 0 {
			switch data[0] & 0xf0 {
			case 0x40:
				t.ipv4(0, 0)
			case 0x60:
				t.ipv6(0, 0)
			}
		}
	case linkIPv4:
		t.ipv4(0, 0)
	case linkIPv6:
		t.ipv6(0, 0)
	case linkNull, linkLoop:
		if len(data) >= 4 {
			af := uint32(data[0])<<24 | uint32(data[1])<<16 | uint32(data[2])<<8 | uint32(data[3])
			if linkType == linkNull {
				// Host byte order of the writer; libpcap compares
				// little-endian values for a savefile.
				af = af>>24 | af>>8&0xff00 | af<<8&0xff0000 | af<<24
			}
			switch af {
			case 2:
				t.ipv4(4, 0)
			case 10, 24, 28, 30:
				t.ipv6(4, 0)
			}
		}
	default:
		t.List = append(t.List, Any)
	}
	t.b = nil
}

func (t *Terms) u8(o int) (byte, bool) {
	if o < 0 || o >= len(t.b) {
		return 0, false
	}
	return t.b[o], true
}

func (t *Terms) u16(o int) (uint16, bool) {
	if o < 0 || o+2 > len(t.b) {
		return 0, false
	}
	return uint16(t.b[o])<<8 | uint16(t.b[o+1]), true
}

func (t *Terms) addr4(o int) {
	if o >= 0 && o+4 <= len(t.b) {
		t.List = append(t.List, Term{Kind: KindAddr, Addr: netip.AddrFrom4([4]byte(t.b[o : o+4]))})
	}
}

func (t *Terms) addr16(o int) {
	if o >= 0 && o+16 <= len(t.b) {
		t.List = append(t.List, Term{Kind: KindAddr, Addr: netip.AddrFrom16([16]byte(t.b[o : o+16]))})
	}
}

func (t *Terms) port(proto uint8, o int) {
	if p, ok := t.u16(o); ok {
		t.List = append(t.List, Term{Kind: KindPort, Proto: proto, Port: p})
	}
}

// ether reads an Ethernet-like layer whose type field is at lt and whose
// payload starts at pl, and the MaxVLANLevels shifts of both by 4 that
// "vlan" makes.
func (t *Terms) ether(lt, pl, depth int) {
	for k := 0; k <= MaxVLANLevels; k++ {
		et, ok := t.u16(lt + 4*k)
		if !ok {
			return
		}
		switch et {
		case etVLAN, etQinQ, etQinQ2:
			if tci, ok := t.u16(pl + 4*k); ok {
				t.List = append(t.List, Term{Kind: KindVLAN, VLAN: tci & 0x0fff})
			}
			if k == MaxVLANLevels {
				t.List = append(t.List, Any)
			}
		case etIPv4:
			t.ipv4(pl+4*k, depth)
		case etIPv6:
			t.ipv6(pl+4*k, depth)
		case etARP, etRARP, etMPLS, etPPPoES:
			t.dispatch(et, pl+4*k, depth, false)
		}
	}
}

// level reads a layer with no VLAN shifts (the cooked link types).
func (t *Terms) level(lt, pl, depth int) {
	if et, ok := t.u16(lt); ok {
		t.dispatch(et, pl, depth, false)
	}
}

// dispatch reads the payload at pl of a layer whose type field (an
// Ethernet type, or a PPP protocol if ppp) is et.
func (t *Terms) dispatch(et uint16, pl, depth int, ppp bool) {
	if ppp {
		switch et {
		case pppIPv4:
			et = etIPv4
		case pppIPv6:
			et = etIPv6
		case pppMPLS:
			et = etMPLS
		case etIPv4, etIPv6, etMPLS:
			return
		}
	}
	switch et {
	case etIPv4:
		t.ipv4(pl, depth)
	case etIPv6:
		t.ipv6(pl, depth)
	case etARP, etRARP:
		t.addr4(pl + 14)
		t.addr4(pl + 24)
	case etMPLS:
		t.mpls(pl, depth)
	case etPPPoES:
		if depth >= MaxLayers {
			t.List = append(t.List, Any)
			return
		}
		if p, ok := t.u16(pl + 6); ok {
			t.dispatch(p, pl+8, depth+1, true)
		}
	}
}

// mpls reads the IP packet after the bottom label (bit 0 of the label's
// third byte) of a stack starting at pl, as "mpls and ..." reads it: the
// version nibble says IPv4 or IPv6.
func (t *Terms) mpls(pl, depth int) {
	if depth >= MaxLayers {
		t.List = append(t.List, Any)
		return
	}
	for j := 1; j <= MaxLabels; j++ {
		s, ok := t.u8(pl + 4*j - 2)
		if !ok {
			return
		}
		if s&1 == 0 {
			continue
		}
		if v, ok := t.u8(pl + 4*j); ok {
			switch v & 0xf0 {
			case 0x40:
				t.ipv4(pl+4*j, depth+1)
			case 0x60:
				t.ipv6(pl+4*j, depth+1)
			}
		}
		return
	}
	t.List = append(t.List, Any)
}

func (t *Terms) ipv4(o, depth int) {
	var proto byte
	if b := t.b; o >= 0 && o+20 <= len(b) {
		proto = b[o+9]
		t.List = append(t.List, Term{Kind: KindAddr, Addr: netip.AddrFrom4([4]byte(b[o+12 : o+16]))},
			Term{Kind: KindAddr, Addr: netip.AddrFrom4([4]byte(b[o+16 : o+20]))},
			Term{Kind: KindProto, Proto: proto})
	} else {
		t.addr4(o + 12)
		var ok bool
		if proto, ok = t.u8(o + 9); !ok {
			return
		}
		t.List = append(t.List, Term{Kind: KindProto, Proto: proto})
	}
	if proto != 6 && proto != 17 && proto != 132 {
		return
	}
	if frag, ok := t.u16(o + 6); !ok || frag&0x1fff != 0 {
		return
	}
	x := o + int(t.b[o]&0x0f)*4
	if x+4 <= len(t.b) {
		t.List = append(t.List, Term{Kind: KindPort, Proto: proto, Port: uint16(t.b[x])<<8 | uint16(t.b[x+1])},
			Term{Kind: KindPort, Proto: proto, Port: uint16(t.b[x+2])<<8 | uint16(t.b[x+3])})
	} else {
		t.port(proto, x)
	}
	if proto == 17 {
		if dp, ok := t.u16(x + 2); ok && dp == geneve {
			if v, ok := t.u8(x + 8); ok && v&0xc0 == 0 {
				t.geneve(x+8, depth)
			}
		}
	}
}

func (t *Terms) ipv6(o, depth int) {
	var nh byte
	if b := t.b; o >= 0 && o+40 <= len(b) {
		nh = b[o+6]
		t.List = append(t.List, Term{Kind: KindAddr, Addr: netip.AddrFrom16([16]byte(b[o+8 : o+24]))},
			Term{Kind: KindAddr, Addr: netip.AddrFrom16([16]byte(b[o+24 : o+40]))},
			Term{Kind: KindProto, Proto: nh})
	} else {
		t.addr16(o + 8)
		var ok bool
		if nh, ok = t.u8(o + 6); !ok {
			return
		}
		t.List = append(t.List, Term{Kind: KindProto, Proto: nh})
	}
	if nh == 44 {
		if p, ok := t.u8(o + 40); ok {
			t.List = append(t.List, Term{Kind: KindProto, Proto: p})
		}
	}
	if nh != 6 && nh != 17 && nh != 132 {
		return
	}
	if x := o + 40; x+4 <= len(t.b) {
		t.List = append(t.List, Term{Kind: KindPort, Proto: nh, Port: uint16(t.b[x])<<8 | uint16(t.b[x+1])},
			Term{Kind: KindPort, Proto: nh, Port: uint16(t.b[x+2])<<8 | uint16(t.b[x+3])})
	} else {
		t.port(nh, x)
	}
	if nh == 17 {
		if dp, ok := t.u16(o + 42); ok && dp == geneve {
			if v, ok := t.u8(o + 48); ok && v&0xc0 == 0 {
				t.geneve(o+48, depth)
			}
		}
	}
}

// geneve reads what follows a Geneve header at g as "geneve and ..."
// reads it: an Ethernet frame (protocol type 0x6558), or else a payload
// right after the options whose type is the protocol type field.
func (t *Terms) geneve(g, depth int) {
	if depth >= MaxLayers {
		t.List = append(t.List, Any)
		return
	}
	optlen, ok1 := t.u8(g)
	ptype, ok2 := t.u16(g + 2)
	if !ok1 || !ok2 {
		return
	}
	inner := g + 8 + int(optlen&0x3f)*4
	if ptype == etTEB {
		t.ether(inner+12, inner+14, depth+1)
	} else {
		t.ether(g+2, inner, depth+1)
	}
}

// AddFlow appends the terms of what flow.Extract found in the same
// packet: the innermost 5-tuple (addresses, protocol, TCP/UDP/SCTP
// ports) and the tunnels' outer addresses, protocols and UDP ports, so
// that a tunnelled connection can be found by its inner addresses (no
// BPF filter reads those, so they only widen a block's terms). The
// Community ID term is the flow table's to add, once per flow.
func (t *Terms) AddFlow(p *flow.Packet) {
	k := p.Key
	if k.Src.IsValid() {
		t.List = append(t.List, Term{Kind: KindAddr, Addr: k.Src}, Term{Kind: KindAddr, Addr: k.Dst},
			Term{Kind: KindProto, Proto: k.Proto})
		if k.HasPorts && (k.Proto == 6 || k.Proto == 17 || k.Proto == 132) {
			t.List = append(t.List, Term{Kind: KindPort, Proto: k.Proto, Port: k.SrcPort},
				Term{Kind: KindPort, Proto: k.Proto, Port: k.DstPort})
		}
	}
	for i := 0; i < p.NOuter && i < len(p.Outer); i++ {
		l := &p.Outer[i]
		if l.Src.IsValid() {
			t.List = append(t.List, Term{Kind: KindAddr, Addr: l.Src}, Term{Kind: KindAddr, Addr: l.Dst})
		}
		t.List = append(t.List, Term{Kind: KindProto, Proto: l.Proto})
		if l.Proto == 17 {
			t.List = append(t.List, Term{Kind: KindPort, Proto: 17, Port: l.SrcPort},
				Term{Kind: KindPort, Proto: 17, Port: l.DstPort})
		}
	}
	for i := 0; i < p.NVLANs && i < len(p.VLANs); i++ {
		t.List = append(t.List, Term{Kind: KindVLAN, VLAN: p.VLANs[i] & 0x0fff})
	}
}
