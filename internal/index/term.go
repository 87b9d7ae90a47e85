// Package index narrows a selection to the blocks that can hold matching
// packets. A filter's syntax tree is planned into an Expr over Terms (what
// a matching packet must carry: an address, a port, a protocol, ...); the
// index of a database or store maps each Term to the blocks whose packets
// carry it, and Expr.Eval turns that into a block set. The planner only
// over-approximates: a block it leaves out provably holds no packet the
// filter accepts, and the compiled BPF program still decides every packet
// of the blocks that are read.
package index

import (
	"fmt"
	"net/netip"
)

// Kind says what a Term names.
type Kind uint8

const (
	// KindAddr is an IPv4 or IPv6 address found in a packet (IP source or
	// destination, ARP/RARP sender or target protocol address), at any
	// encapsulation depth.
	KindAddr Kind = iota + 1
	// KindPort is a TCP, UDP or SCTP port (source or destination); Proto
	// says which transport (6, 17, 132).
	KindPort
	// KindProto is an IP protocol number (IPv4 protocol, IPv6 next header
	// after extension headers).
	KindProto
	// KindVLAN is an 802.1Q VLAN id.
	KindVLAN
	// KindCommunityID is a flow's Community ID (version 1, the store's
	// seed); Value holds its 20 raw SHA-1 bytes.
	KindCommunityID
)

// Term is one thing a packet can carry. Terms are comparable, so they can
// key maps.
type Term struct {
	Kind  Kind
	Addr  netip.Addr // KindAddr
	Proto uint8      // KindPort: 6, 17 or 132; KindProto: the protocol
	Port  uint16     // KindPort
	VLAN  uint16     // KindVLAN
	CID   [20]byte   // KindCommunityID
}

func (t Term) String() string {
	switch t.Kind {
	case KindAddr:
		return "addr " + t.Addr.String()
	case KindPort:
		return fmt.Sprintf("port %d/%d", t.Port, t.Proto)
	case KindProto:
		return fmt.Sprintf("proto %d", t.Proto)
	case KindVLAN:
		return fmt.Sprintf("vlan %d", t.VLAN)
	case KindCommunityID:
		return fmt.Sprintf("community-id %x", t.CID[:4])
	}
	return "term?"
}

// Op is an Expr node's operator.
type Op uint8

const (
	// OpAll: every block (the planner cannot narrow this part).
	OpAll Op = iota
	// OpNone: no block (a filter that rejects everything).
	OpNone
	// OpTerm: the blocks that carry Term.
	OpTerm
	// OpPrefix: the blocks that carry any address in Prefix (net terms).
	OpPrefix
	// OpAnd: the intersection of Args.
	OpAnd
	// OpOr: the union of Args.
	OpOr
)

// Expr is a planned filter: which blocks can hold a matching packet.
type Expr struct {
	Op     Op
	Term   Term         // OpTerm
	Prefix netip.Prefix // OpPrefix
	Args   []Expr       // OpAnd, OpOr
}

// All is the expression that narrows nothing.
var All = Expr{Op: OpAll}
