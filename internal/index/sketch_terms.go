package index

import (
	"encoding/binary"
	"net/netip"
)

// AddPacket adds the terms of one stored packet (its link type and
// captured bytes) to the block's sketch: Terms.Packet's, which a BPF
// program's reads bound, so a block left out by a plan holds no packet
// the filter accepts; and its flow's Community ID (sketch_cid.go).
//
// This runs on the capture path (the store writer), so the common frame,
// Ethernet carrying IPv4 or IPv6 with nothing that Terms.Packet would
// read further (see fastPacket), is hashed straight from its bytes; every
// other frame goes through Terms.Packet. TestAddPacketFastPath checks
// that both add the same terms.
//
// On that fast path a frame whose 5-tuple fastFlowKey also reads adds
// terms that are functions of the 5-tuple alone (its two addresses, two
// ports and protocol, in either direction): once one packet of the flow
// has added them to the block, the flow's next packets add nothing new
// and stop at the flow cache's probe. TestAddPacketFlowMemo checks that
// a block gets the same terms with and without it.
func (b *Builder) AddPacket(linkType uint32, data []byte) {
	e := b.addFlowID(linkType, data) // its Community ID (sketch_cid.go)
	if linkType == linkEthernet {
		if et := fastEther(data); et != 0 {
			gen := uint32(0)
			if e != nil {
				gen = b.flows.cache.gen
				if e.terms == gen {
					return // the flow's terms are in the block already
				}
			}
			if b.fastPacketOf(et, data) {
				if e != nil {
					e.terms = gen
				}
				return
			}
		}
	}
	t := &b.terms
	t.Packet(linkType, data)
	for i := range t.List {
		b.Add(t.List[i])
	}
	if b.pairsOn && pairsOf(t.List, b.addPair) {
		b.pairsLost = true
	}
}

// fastPacket adds the terms of an Ethernet frame that fastEther lets
// through. It reports false, adding nothing, otherwise.
func (b *Builder) fastPacket(d []byte) bool { return b.fastPacketOf(fastEther(d), d) }

// fastPacketOf is fastPacket of a frame whose fastEther is et.
func (b *Builder) fastPacketOf(et uint16, d []byte) bool {
	switch et {
	case etIPv4:
		return b.fastIPv4(d, 14)
	case etIPv6:
		return b.fastIPv6(d, 14)
	}
	return false
}

// fastEther is the type of an Ethernet frame whose terms the fast paths
// (Builder.fastPacket, Summary.fastPairs) may read from its bytes: etIPv4
// or etIPv6 when the type field at 12 is IPv4 or IPv6 and none of the
// MaxVLANLevels shifted type fields that Terms.ether also reads (16, 20,
// ...) holds a type it follows; 0 for every other frame. (Each fast path
// also leaves UDP to the Geneve port, which Terms follows inside, to
// Terms.)
func fastEther(d []byte) uint16 {
	if len(d) < 14 {
		return 0
	}
	for k := 1; k <= MaxVLANLevels; k++ {
		o := 12 + 4*k
		if o+2 > len(d) {
			break
		}
		switch binary.BigEndian.Uint16(d[o:]) {
		case etVLAN, etQinQ, etQinQ2, etIPv4, etIPv6, etARP, etRARP, etMPLS, etPPPoES:
			return 0
		}
	}
	switch t := binary.BigEndian.Uint16(d[12:]); t {
	case etIPv4, etIPv6:
		return t
	}
	return 0
}

// fastIPv6Proto is the next header of the IPv6 packet at d[o:] when its
// terms are the fast paths' to read: a whole fixed header and ports
// (TCP, UDP but to Geneve, SCTP); ok is false for every other packet
// (extension headers, fragments, cut short), which Terms reads.
func fastIPv6Proto(d []byte, o int) (nh byte, ok bool) {
	if o+44 > len(d) {
		return 0, false
	}
	nh = d[o+6]
	switch nh {
	case 6, 132:
	case 17:
		if binary.BigEndian.Uint16(d[o+42:]) == geneve {
			return 0, false
		}
	default:
		return 0, false
	}
	return nh, true
}

func (b *Builder) fastIPv4(d []byte, o int) bool {
	if o+20 > len(d) {
		return false // partial headers: Terms reads what is there
	}
	proto := d[o+9]
	x := o + int(d[o]&0x0f)*4
	sa, da := addr4Key(binary.BigEndian.Uint32(d[o+12:])), addr4Key(binary.BigEndian.Uint32(d[o+16:]))
	isPorts := proto == 6 || proto == 17 || proto == 132
	if isPorts && binary.BigEndian.Uint16(d[o+6:])&0x1fff == 0 {
		if x+4 > len(d) || x < o+2 {
			return false
		}
		if proto == 17 && binary.BigEndian.Uint16(d[x+2:]) == geneve {
			return false
		}
		sp, dp := portKey(proto, binary.BigEndian.Uint16(d[x:])), portKey(proto, binary.BigEndian.Uint16(d[x+2:]))
		b.addKey(sp)
		b.addKey(dp)
		if b.pairsOn {
			b.addPairs4(hash2(sa, 0), hash2(da, 0), hash2(sp, 0), hash2(dp, 0))
		}
	}
	b.addKey(sa)
	b.addKey(da)
	b.addKey(protoKey(proto))
	return true
}

func (b *Builder) fastIPv6(d []byte, o int) bool {
	nh, ok := fastIPv6Proto(d, o)
	if !ok {
		return false
	}
	sa, da := hashAddr(netip.AddrFrom16([16]byte(d[o+8:o+24]))), hashAddr(netip.AddrFrom16([16]byte(d[o+24:o+40])))
	b.AddHash(sa)
	b.AddHash(da)
	sp, dp := portKey(nh, binary.BigEndian.Uint16(d[o+40:])), portKey(nh, binary.BigEndian.Uint16(d[o+42:]))
	b.addKey(protoKey(nh))
	b.addKey(sp)
	b.addKey(dp)
	if b.pairsOn {
		b.addPairs4(sa, da, hash2(sp, 0), hash2(dp, 0))
	}
	return true
}
