package fleet

import "github.com/packetrecorderd/packetrecorderd/internal/flow"

// FlowRowOf is the record of f, a flow of the interface iface; final
// says it ended. It is the flow's first record unless f.Reported.
//
// A flow keeps one key for its life: the records of a Reported flow
// carry f.KeyNS as their FirstNS, the first packet's time when its first
// record was made, though a packet that came later with an earlier
// timestamp moved f.FirstNS back (its packets and bytes are counted all
// the same). Keyed by the moved FirstNS (another first_ns, maybe another
// day), the later records would make a second row of the flow in
// PostgreSQL. `packetrecorder flows` and the API read stored packets
// and show the true earliest packet.
func FlowRowOf(iface string, f *flow.Flow, final bool) FlowRow {
	first := f.FirstNS
	if f.Reported {
		first = f.KeyNS
	}
	r := FlowRow{
		Interface:   iface,
		FirstNS:     first,
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
