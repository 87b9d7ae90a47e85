package fleet

import "github.com/packetrecorderd/packetrecorderd/internal/flow"

// FlowRowOf is the record of f, a flow of the interface iface; final
// says it ended. It is the flow's first record unless f.Reported.
func FlowRowOf(iface string, f *flow.Flow, final bool) FlowRow {
	r := FlowRow{
		Interface:   iface,
		FirstNS:     f.FirstNS,
		LastNS:      f.LastNS,
		CommunityID: f.CommunityID.String(),
		Proto:       f.Key.Proto,
		Src:         f.Key.Src,
		Dst:         f.Key.Dst,
		Packets:     f.Packets,
		Bytes:       f.Bytes,
		TCPFlags:    f.TCPFlags,
		Ended:       final,
		// Stored counts are both directions' together in the schema.
		StoredPackets: f.StoredPackets[0] + f.StoredPackets[1],
		StoredBytes:   f.StoredBytes[0] + f.StoredBytes[1],
		Cut:           f.Cut,
		First:         !f.Reported,
	}
	if f.Key.HasPorts {
		r.SPort, r.DPort = f.Key.SrcPort, f.Key.DstPort
	}
	return r
}
