package index

import "github.com/packetrecorderd/packetrecorderd/internal/flow"

// AddPacket adds the terms of one stored packet (its link type and
// captured bytes) to the block's sketch.
func (b *Builder) AddPacket(linkType uint32, data []byte) {
	b.pkt.add(b, linkType, data)
}

// packetTerms extracts a packet's terms for a Builder.
type packetTerms struct {
	p flow.Packet
}

// add is a stand-in over flow.Extract until PacketTerms lands: the inner
// and outer addresses, protocols and ports, and VLAN ids.
func (pt *packetTerms) add(b *Builder, linkType uint32, data []byte) {
	p := &pt.p
	if !flow.Extract(linkType, data, p) {
		for i := 0; i < p.NVLANs; i++ {
			b.Add(Term{Kind: KindVLAN, VLAN: p.VLANs[i]})
		}
		return
	}
	k := &p.Key
	b.AddHash(hashAddr(k.Src))
	b.AddHash(hashAddr(k.Dst))
	b.Add(Term{Kind: KindProto, Proto: k.Proto})
	if k.HasPorts && (k.Proto == 6 || k.Proto == 17 || k.Proto == 132) {
		b.AddHash(hashPort(k.Proto, k.SrcPort))
		b.AddHash(hashPort(k.Proto, k.DstPort))
	}
	for i := 0; i < p.NOuter; i++ {
		l := &p.Outer[i]
		b.AddHash(hashAddr(l.Src))
		b.AddHash(hashAddr(l.Dst))
		b.Add(Term{Kind: KindProto, Proto: l.Proto})
		if l.SrcPort != 0 || l.DstPort != 0 {
			b.AddHash(hashPort(17, l.SrcPort))
			b.AddHash(hashPort(17, l.DstPort))
		}
	}
	for i := 0; i < p.NVLANs; i++ {
		b.Add(Term{Kind: KindVLAN, VLAN: p.VLANs[i]})
	}
}
