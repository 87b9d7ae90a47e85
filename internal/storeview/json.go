package storeview

import (
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

// PacketJSON is a packet as `query --json` prints it and the API's
// format=json sends it; its keys are a stable interface for scripts.
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
}

// NewPacketJSON describes rec (without its bytes).
func NewPacketJSON(rec store.Record, summary, iface string) PacketJSON {
	return PacketJSON{N: rec.Number, TS: time.Unix(0, rec.Timestamp).UTC().Format(time.RFC3339Nano), CapLen: len(rec.Data),
		Len: rec.OrigLen, LinkType: rec.LinkType, Summary: summary, Interface: iface}
}
