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
	k := p.Key
	b.Add(Term{Kind: KindAddr, Addr: k.Src})
	b.Add(Term{Kind: KindAddr, Addr: k.Dst})
	b.Add(Term{Kind: KindProto, Proto: k.Proto})
	if k.HasPorts && (k.Proto == 6 || k.Proto == 17 || k.Proto == 132) {
		b.Add(Term{Kind: KindPort, Proto: k.Proto, Port: k.SrcPort})
		b.Add(Term{Kind: KindPort, Proto: k.Proto, Port: k.DstPort})
	}
	for i := 0; i < p.NOuter; i++ {
		l := &p.Outer[i]
		b.Add(Term{Kind: KindAddr, Addr: l.Src})
		b.Add(Term{Kind: KindAddr, Addr: l.Dst})
		b.Add(Term{Kind: KindProto, Proto: l.Proto})
		if l.SrcPort != 0 || l.DstPort != 0 {
			b.Add(Term{Kind: KindPort, Proto: 17, Port: l.SrcPort})
			b.Add(Term{Kind: KindPort, Proto: 17, Port: l.DstPort})
		}
	}
	for i := 0; i < p.NVLANs; i++ {
		b.Add(Term{Kind: KindVLAN, VLAN: p.VLANs[i]})
	}
}
