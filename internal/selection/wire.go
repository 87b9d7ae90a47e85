package selection

import (
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/flow"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

// The wire types: what the API sends and the CLI (its --server client,
// and query --json, sessions --json) reads or prints. Their JSON keys are
// a stable interface for scripts.

// HeaderKeepalive asks a daemon's JSON packet stream for a keepalive
// line ({"keepalive":true}) whenever it would go longer than the given
// duration (1s to 1m) without a line: a hub asks its sensors, so that a
// walk that finds little for a long time is not taken for a sensor that
// stopped answering. A daemon that does not know it sends none; a
// client that did not ask gets none.
const HeaderKeepalive = "Packetrecorder-Keepalive"

// PacketJSON is a packet as `query --json` prints it and the API's
// format=json sends it.
type PacketJSON struct {
	N        int64  `json:"n"`
	TS       string `json:"ts"`
	CapLen   int    `json:"caplen"`
	Len      int    `json:"len"`
	LinkType uint32 `json:"link_type"`
	Summary  string `json:"summary"`
	Data     string `json:"data,omitempty"` // hex, when asked for
	// Interface names the packet's interface: a store's recording's, or
	// the session's (pcapng imports and captures with several -i have
	// several); "#ID" for an unnamed one among several, "" when the only
	// one is unnamed.
	Interface string `json:"interface"`
	// Session is the packet's session when several are merged (query
	// -s 5,6); N is its number within that session.
	Session int64 `json:"session,omitempty"`
	// Sensor names the sensor a hub's packet came from (its Interface
	// is then SENSOR/IFACE); absent in a daemon's answer.
	Sensor string `json:"sensor,omitempty"`
}

// NewPacketJSON describes rec (without its bytes).
func NewPacketJSON(rec store.Record, summary, iface string) PacketJSON {
	return PacketJSON{N: rec.Number, TS: fmtTime(rec.Timestamp), CapLen: len(rec.Data),
		Len: rec.OrigLen, LinkType: rec.LinkType, Summary: summary, Interface: iface}
}

// End is the last line of a JSON packet stream, as {"end": End}.
type End struct {
	Packets   int64  `json:"packets"`
	Truncated bool   `json:"truncated"`
	Error     string `json:"error,omitempty"`
	// Missing are the sensors of a hub's answer that did not answer
	// (the rest of the answer is whole); Expired the time their
	// retention deleted. A daemon's answer has neither.
	Missing []Missing `json:"missing,omitempty"`
	Expired []Expired `json:"expired,omitempty"`
}

// Missing is a sensor a hub asked that did not answer, and why: refused,
// timed out, its certificate refused, its stream broken.
type Missing struct {
	Sensor string `json:"sensor"`
	Error  string `json:"error"`
}

// Expired is what a sensor's retention deleted of the window asked for,
// while PostgreSQL still lists it: its segments' span (not an error, the
// packets are gone).
type Expired struct {
	Sensor    string `json:"sensor"`
	Interface string `json:"interface"`
	FirstNS   int64  `json:"first_ns"`
	LastNS    int64  `json:"last_ns"`
	Segments  int    `json:"segments"`
}

// Description describes a selection without its packets: what a client
// needs to choose a file format (GET /api/v1/packets?describe=true).
type Description struct {
	LinkTypes  []uint32               `json:"link_types"`
	Interfaces []DescriptionInterface `json:"interfaces"`
	// FirstNS and LastNS bound the selected packets' timestamps: exactly
	// when a filter applies; without one, the selected segments' span
	// within the window. Both 0 when nothing is selected.
	FirstNS int64  `json:"first_ns"`
	LastNS  int64  `json:"last_ns"`
	Snaplen uint32 `json:"snaplen"`
	// Packets is how many packets the same query would stream: the
	// window, the interface, the token's filter and the client's, and
	// the limit all apply.
	Packets int64 `json:"packets"`
	// Missing and Expired: a hub's sensors that did not answer, and
	// what their retention deleted (see End).
	Missing []Missing `json:"missing,omitempty"`
	Expired []Expired `json:"expired,omitempty"`
}

// DescriptionInterface is one recording of a selection, by the id of its
// packets' interface.
type DescriptionInterface struct {
	ID       int    `json:"id"`
	Name     string `json:"name"`
	LinkType uint32 `json:"link_type"`
	Snaplen  uint32 `json:"snaplen"`
	Filter   string `json:"filter"`
}

// Recording is a store's continuous recording as `sessions -d STORE
// --json` and GET /api/v1/sessions show it: one per ring of an interface
// recorded without a break, across segments, while retention has kept
// them.
type Recording struct {
	ID          int     `json:"id"`
	Recording   string  `json:"recording"`
	Interface   string  `json:"interface"`
	Ring        int     `json:"ring"`
	FirstPacket int64   `json:"first_packet"`
	Packets     int64   `json:"packets"`
	FileBytes   int64   `json:"file_bytes"` // what its segment files take on disk
	Segments    int     `json:"segments"`
	OldestAt    *string `json:"oldest_packet"`
	NewestAt    *string `json:"newest_packet"`
	Status      string  `json:"status"`
	// Sensor is the sensor of a hub's recording; absent in a daemon's.
	Sensor string `json:"sensor,omitempty"`

	oldest, newest int64
	hasSpan        bool
}

func fmtTime(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }

// Flow is one flow as `flows --json` prints it and GET /api/v1/flows
// sends it: src is the initiator (the side seen first). For ICMP, sport
// is the type and dport the code of the initiator's first message.
type Flow struct {
	CommunityID string `json:"community_id"`
	Proto       string `json:"proto"`
	IPProto     uint8  `json:"ip_proto"`
	Src         string `json:"src"`
	Sport       uint16 `json:"sport"`
	Dst         string `json:"dst"`
	Dport       uint16 `json:"dport"`
	FirstNS     int64  `json:"first_ns"`
	LastNS      int64  `json:"last_ns"`
	Packets     uint64 `json:"packets"`
	Bytes       uint64 `json:"bytes"`
	SrcPackets  uint64 `json:"src_packets"` // sent by src (the initiator)
	SrcBytes    uint64 `json:"src_bytes"`
	DstPackets  uint64 `json:"dst_packets"` // sent by dst
	DstBytes    uint64 `json:"dst_bytes"`
	TCPFlags    uint8  `json:"tcp_flags"` // the header's flag bits seen, ORed
	// StoredPackets and StoredBytes are what the store holds of the flow
	// (captured bytes); Packets and Bytes are what was seen on the wire.
	// Cut says a recorder's per-flow cutoff applied to the flow: its later
	// packets are stored cut to their headers, or not at all (then the
	// seen counts come from what the recorder recorded of the flow).
	StoredPackets uint64 `json:"stored_packets"`
	StoredBytes   uint64 `json:"stored_bytes"`
	Cut           bool   `json:"cut"`
	// Sensor and Interface say where a hub's flow was recorded; absent
	// in a daemon's listing.
	Sensor    string `json:"sensor,omitempty"`
	Interface string `json:"interface,omitempty"`
}

// NewFlow describes f.
func NewFlow(f *flow.Flow) Flow {
	return Flow{
		CommunityID: f.CommunityID.String(), Proto: flow.ProtoName(f.Key.Proto), IPProto: f.Key.Proto,
		Src: f.Key.Src.String(), Sport: f.Key.SrcPort, Dst: f.Key.Dst.String(), Dport: f.Key.DstPort,
		FirstNS: f.FirstNS, LastNS: f.LastNS, Packets: f.TotalPackets(), Bytes: f.TotalBytes(),
		SrcPackets: f.Packets[0], SrcBytes: f.Bytes[0], DstPackets: f.Packets[1], DstBytes: f.Bytes[1],
		TCPFlags:      f.TCPFlags,
		StoredPackets: f.StoredPackets[0] + f.StoredPackets[1], StoredBytes: f.StoredBytes[0] + f.StoredBytes[1], Cut: f.Cut,
	}
}

// FlowsEnd is the last line of a flow listing, as {"end": FlowsEnd}.
type FlowsEnd struct {
	Flows        int64  `json:"flows"`         // flows listed or not (the limit)
	Shown        int64  `json:"shown"`         // flows sent
	Packets      uint64 `json:"packets"`       // of the flows (all, not only those shown)
	Bytes        uint64 `json:"bytes"`         // of the flows, frame lengths
	PacketsRead  uint64 `json:"packets_read"`  // packets of the selection's time window
	OtherPackets uint64 `json:"other_packets"` // not IP: in no flow
	Evicted      uint64 `json:"evicted"`       // flows ended early by a full table
	// Missing, from a hub, are the sensors whose flow records of the
	// window may not all be in PostgreSQL yet (their outbox is behind).
	Missing []Missing `json:"missing,omitempty"`
}
