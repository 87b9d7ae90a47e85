// Package index narrows a selection to the blocks that can hold matching
// packets. A filter's syntax tree is planned into an Expr over Terms (what
// a matching packet must carry: an address, a port, a protocol, ...); the
// index of a database or store maps each Term to the blocks whose packets
// carry it, and Expr.Eval turns that into a block set. The planner only
// over-approximates: a block it leaves out provably holds no packet the
// filter accepts, and the compiled BPF program still decides every packet
// of the blocks that are read.
//
// The two halves meet in this file's contract:
//
//	packet bytes + link type --Terms.Packet--> []Term (terms.go)
//	filter expression --filter.Plan--> Expr --Eval(block's TermSet)--> read it or not
//
// Soundness: for every packet the compiled program of any expression
// accepts, the expression's plan evaluated on that packet's own terms is
// true. Terms.Packet therefore emits terms the way libpcap's programs
// read fields (positionally: an address is the 4 bytes at the offset the
// program loads, whatever the header around it says), and KindAny where
// it cannot describe a packet.
package index

import (
	"encoding/base64"
	"fmt"
	"net/netip"
	"strings"
)

// Kind says what a Term names.
type Kind uint8

const (
	// KindAddr is an IPv4 or IPv6 address found in a packet (IP source or
	// destination, ARP/RARP sender or target protocol address), at any
	// encapsulation depth. An address read from an IPv6 header is always
	// a 16-byte address (an IPv4-mapped one stays ::ffff:a.b.c.d), one
	// read from an IPv4 or ARP header a 4-byte one, as libpcap compares
	// them.
	KindAddr Kind = iota + 1
	// KindPort is a TCP, UDP or SCTP port (source or destination); Proto
	// says which transport (6, 17, 132).
	KindPort
	// KindProto is an IP protocol number: the IPv4 protocol field, the
	// IPv6 next header field and, after a fragment header, that header's
	// next header (the fields libpcap's "proto" reads).
	KindProto
	// KindVLAN is an 802.1Q VLAN id.
	KindVLAN
	// KindCommunityID is a flow's Community ID (version 1, seed 0); CID
	// holds its 20 raw SHA-1 bytes (CommunityIDTerm). Terms.Packet does
	// not emit it: Builder.AddPacket adds it, once per flow and block
	// (sketch_cid.go).
	KindCommunityID
	// KindAny marks a packet the terms cannot describe (a link type or a
	// layer not modelled, an encapsulation deeper than followed): a block
	// holding one is read whatever the plan.
	KindAny
)

// Any is the term of a packet the terms cannot describe.
var Any = Term{Kind: KindAny}

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

// AddrTerm, PortTerm, ProtoTerm and VLANTerm build terms.
func AddrTerm(a netip.Addr) Term             { return Term{Kind: KindAddr, Addr: a} }
func PortTerm(proto uint8, port uint16) Term { return Term{Kind: KindPort, Proto: proto, Port: port} }
func ProtoTerm(proto uint8) Term             { return Term{Kind: KindProto, Proto: proto} }
func VLANTerm(id uint16) Term                { return Term{Kind: KindVLAN, VLAN: id} }

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
		return "community-id 1:" + base64.StdEncoding.EncodeToString(t.CID[:])
	case KindAny:
		return "any"
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
	// OpPortRange: the blocks that carry a KindPort term of protocol
	// Term.Proto with a port from Term.Port to PortHi (portrange).
	OpPortRange
)

// Expr is a planned filter: which blocks can hold a matching packet.
type Expr struct {
	Op     Op
	Term   Term         // OpTerm; OpPortRange: Proto and the low Port
	Prefix netip.Prefix // OpPrefix
	PortHi uint16       // OpPortRange: the high port (inclusive)
	Args   []Expr       // OpAnd, OpOr
}

// All is the expression that narrows nothing.
var All = Expr{Op: OpAll}

// None is the expression no block satisfies.
var None = Expr{Op: OpNone}

// TermExpr is the blocks that carry t.
func TermExpr(t Term) Expr { return Expr{Op: OpTerm, Term: t} }

// PrefixExpr is the blocks that carry an address in p (masked).
func PrefixExpr(p netip.Prefix) Expr { return Expr{Op: OpPrefix, Prefix: p.Masked()} }

// PortRangeExpr is the blocks that carry a port of proto in [lo, hi].
func PortRangeExpr(proto uint8, lo, hi uint16) Expr {
	if lo > hi {
		lo, hi = hi, lo
	}
	if lo == hi {
		return TermExpr(PortTerm(proto, lo))
	}
	return Expr{Op: OpPortRange, Term: Term{Kind: KindPort, Proto: proto, Port: lo}, PortHi: hi}
}

// And is the intersection of args, simplified: OpAll drops out, OpNone
// makes it OpNone, nested ands are flattened, one argument is itself.
func And(args ...Expr) Expr { return join(OpAnd, args) }

// Or is the union of args, simplified: OpNone drops out, OpAll makes it
// OpAll, nested ors are flattened, one argument is itself.
func Or(args ...Expr) Expr { return join(OpOr, args) }

func join(op Op, args []Expr) Expr {
	neutral, absorbing := OpAll, OpNone
	if op == OpOr {
		neutral, absorbing = OpNone, OpAll
	}
	var out []Expr
	for _, a := range args {
		switch {
		case a.Op == neutral:
		case a.Op == absorbing:
			return a
		case a.Op == op:
			out = append(out, a.Args...)
		default:
			out = append(out, a)
		}
	}
	switch len(out) {
	case 0:
		return Expr{Op: neutral}
	case 1:
		return out[0]
	}
	return Expr{Op: op, Args: out}
}

// TermSet is what a block (or any set of packets) carries, as an index
// answers it.
type TermSet interface {
	// Has reports whether the set holds t.
	Has(t Term) bool
	// HasPrefix reports whether the set holds a KindAddr term in p.
	HasPrefix(p netip.Prefix) bool
	// HasPortRange reports whether the set holds a KindPort term of
	// proto with a port in [lo, hi].
	HasPortRange(proto uint8, lo, hi uint16) bool
}

// Eval reports whether a block whose terms are s can hold a packet the
// planned filter accepts. A set holding Any can hold one for every plan
// but OpNone.
func (e Expr) Eval(s TermSet) bool {
	if e.Op == OpNone {
		return false
	}
	if s.Has(Any) {
		return true
	}
	return e.eval(s)
}

func (e Expr) eval(s TermSet) bool {
	switch e.Op {
	case OpAll:
		return true
	case OpNone:
		return false
	case OpTerm:
		return s.Has(e.Term)
	case OpPrefix:
		return s.HasPrefix(e.Prefix)
	case OpPortRange:
		return s.HasPortRange(e.Term.Proto, e.Term.Port, e.PortHi)
	case OpAnd:
		for _, a := range e.Args {
			if !a.eval(s) {
				return false
			}
		}
		return true
	case OpOr:
		for _, a := range e.Args {
			if a.eval(s) {
				return true
			}
		}
		return false
	}
	return true
}

// String is the plan as "query --explain" prints it: "all", "none",
// terms ("addr 10.0.0.1", "port 80/6", "proto 17", "vlan 10",
// "community-id 1:..."),
// "net 10.0.0.0/8", "ports 1-1023/6", and "(a and b)", "(a or b)".
func (e Expr) String() string {
	var b strings.Builder
	e.write(&b)
	return b.String()
}

func (e Expr) write(b *strings.Builder) {
	switch e.Op {
	case OpAll:
		b.WriteString("all")
	case OpNone:
		b.WriteString("none")
	case OpTerm:
		b.WriteString(e.Term.String())
	case OpPrefix:
		b.WriteString("net " + e.Prefix.String())
	case OpPortRange:
		fmt.Fprintf(b, "ports %d-%d/%d", e.Term.Port, e.PortHi, e.Term.Proto)
	case OpAnd, OpOr:
		sep := " and "
		if e.Op == OpOr {
			sep = " or "
		}
		b.WriteByte('(')
		for i, a := range e.Args {
			if i > 0 {
				b.WriteString(sep)
			}
			a.write(b)
		}
		b.WriteByte(')')
	default:
		b.WriteString("op?")
	}
}

// Set is a TermSet in memory, for tests and for gathering a block's
// terms before they are written.
type Set map[Term]struct{}

// Add puts terms into s.
func (s Set) Add(ts ...Term) {
	for _, t := range ts {
		s[t] = struct{}{}
	}
}

// Has implements TermSet.
func (s Set) Has(t Term) bool { _, ok := s[t]; return ok }

// HasPrefix implements TermSet.
func (s Set) HasPrefix(p netip.Prefix) bool {
	for t := range s {
		if t.Kind == KindAddr && p.Contains(t.Addr) {
			return true
		}
	}
	return false
}

// HasPortRange implements TermSet.
func (s Set) HasPortRange(proto uint8, lo, hi uint16) bool {
	for t := range s {
		if t.Kind == KindPort && t.Proto == proto && t.Port >= lo && t.Port <= hi {
			return true
		}
	}
	return false
}
