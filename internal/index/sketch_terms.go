package index

// AddPacket adds the terms of one stored packet (its link type and
// captured bytes) to the block's sketch: Terms.Packet's, which a BPF
// program's reads bound, so a block left out by a plan holds no packet
// the filter accepts.
func (b *Builder) AddPacket(linkType uint32, data []byte) {
	t := &b.terms
	t.Packet(linkType, data)
	for i := range t.List {
		b.Add(t.List[i])
	}
}
