package filter

import (
	"context"
	"errors"
	"math/bits"
	"net"
	"net/netip"
	"sync"

	"github.com/packetrecorderd/packetrecorderd/internal/index"
)

// Plan turns a filter expression into an index.Expr: which blocks can
// hold a packet the expression's program accepts, given the terms each
// block's packets carry (index.Terms). It over-approximates and never
// under-approximates: for every packet the compiled program accepts,
// the plan is true on the packet's own terms. It is a pure function of
// the syntax tree:
//
//   - "host A", "src/dst host A", "ip/arp/rarp/ip6 host A" need the
//     address term A; "net N/len", "net N mask M" and abbreviated hosts
//     ("host 10.1") the prefix; "port P" and "portrange" the port terms
//     of TCP, UDP and SCTP (or of the one named); "tcp", "udp", "icmp",
//     "ip proto N", "proto N", ... the protocol term; "vlan N" the VLAN
//     id; a byte test of a transport ("tcp[13] & 2 != 0") the protocol
//     it loads from;
//   - "and" intersects, "or" unions; "not" narrows nothing, except that
//     it is pushed down through "and" and "or" ("not not X" is X);
//   - everything else (len, less, greater, ether, broadcast, multicast,
//     protochain, ip, ip6, arp, llc, iso, decnet, inbound, names of
//     networks, ...) narrows nothing.
//
// As libpcap does, "vlan", "mpls", "pppoes" and "geneve" move the
// offsets everything after them reads. A term read after them is
// narrowed only where index.Terms follows the same layer: after at most
// index.MaxVLANLevels "vlan" keywords per Ethernet layer, and after
// "mpls", "pppoes" and "geneve" only when the expression cannot be true
// without that keyword's test being true (it is and-ed before the term:
// "vlan and mpls and host A", not "mpls or host A").
//
// Host names ("host NAME") narrow nothing here, since the addresses a
// later Compile resolves might differ; CompilePlan resolves them once
// for both. Plan reports syntax errors; an expression that parses but
// does not compile gets a plan of no use, so callers compile first.
func Plan(expr string, opts Options) (index.Expr, error) {
	return plan(expr, nil)
}

// CompilePlan compiles expr (as CompileContext) and plans it (as Plan),
// with host names resolved once for both, so that "host NAME" narrows to
// the addresses the program tests.
func CompilePlan(ctx context.Context, expr string, opts Options) (*Program, index.Expr, error) {
	rec := &recordingResolver{r: opts.Resolver, got: map[string][]net.IP{}}
	if rec.r == nil {
		rec.r = net.DefaultResolver
	}
	opts.Resolver = rec
	prog, err := CompileContext(ctx, expr, opts)
	if err != nil {
		return nil, index.All, err
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	e, err := plan(expr, rec.got)
	if err != nil {
		return nil, index.All, err
	}
	return prog, e, nil
}

// recordingResolver remembers the answers a compilation got.
type recordingResolver struct {
	r   Resolver
	mu  sync.Mutex
	got map[string][]net.IP
}

func (rr *recordingResolver) LookupIP(ctx context.Context, network, host string) ([]net.IP, error) {
	ips, err := rr.r.LookupIP(ctx, network, host)
	if err == nil {
		rr.mu.Lock()
		rr.got[host] = append([]net.IP(nil), ips...)
		rr.mu.Unlock()
	}
	return ips, err
}

func plan(expr string, hosts map[string][]net.IP) (e index.Expr, err error) {
	tree, err := parse(expr)
	if err != nil {
		return index.All, err
	}
	if tree == nil {
		return index.All, nil
	}
	defer func() {
		// The code generator's helpers fail by panicking with a
		// compileError; an expression that does not compile narrows
		// nothing.
		if r := recover(); r != nil {
			var ce *compileError
			if e2, ok := r.(error); ok && errors.As(e2, &ce) {
				e, err = index.All, nil
				return
			}
			panic(r)
		}
	}()
	p := &planner{hosts: hosts}
	e, _ = p.plan(tree, true, 0)
	return e, nil
}

// Segment kinds: what the layer the planner is in allows.
const (
	segEther = iota // Ethernet-like: "vlan" shifts it
	segPPP          // after "pppoes": no VLAN shifts
)

// planner follows the code generator's state (which keywords moved the
// offsets) through the tree in the order Compile visits it.
type planner struct {
	hosts map[string][]net.IP

	seg    int    // segment kind
	vlans  int    // "vlan" shifts in the current segment
	labels int    // "mpls" labels in the current stack
	layers int    // nested layers entered (label stack, PPPoE, Geneve)
	needs  uint64 // steps whose tests the terms at this state rely on
	steps  int    // steps numbered so far
	weird  bool   // a state index.Terms does not follow
}

// covered reports whether a term read at the current state, with the
// steps in known proven true, is one index.Terms emits.
func (p *planner) covered(known uint64) bool {
	return !p.weird && p.needs&^known == 0 && p.vlans <= index.MaxVLANLevels &&
		p.labels <= index.MaxLabels && p.layers <= index.MaxLayers
}

// step numbers a new layer-entering step and makes the state rely on it.
func (p *planner) step() uint64 {
	if p.steps >= 64 {
		p.weird = true
		return 0
	}
	b := uint64(1) << p.steps
	p.steps++
	p.needs |= b
	return b
}

// term is e if a term read now is covered, else OpAll.
func (p *planner) term(e index.Expr, pos bool, known uint64) index.Expr {
	if !pos || !p.covered(known) {
		return index.All
	}
	return e
}

// plan plans n (negated unless pos) with the steps in known proven true
// whenever n is evaluated. It returns the plan and the steps proven true
// whenever n (with its polarity) is true.
func (p *planner) plan(n node, pos bool, known uint64) (index.Expr, uint64) {
	switch n := n.(type) {
	case andNode:
		if pos {
			return p.conj(n.l, n.r, pos, known)
		}
		return p.disj(n.l, n.r, pos, known)
	case orNode:
		if pos {
			return p.disj(n.l, n.r, pos, known)
		}
		return p.conj(n.l, n.r, pos, known)
	case notNode:
		return p.plan(n.x, !pos, known)
	case abbrevNode:
		return p.term(protoAbbrevPlan(n.proto), pos, known), known
	case idNode:
		return p.term(p.id(n), pos, known), known
	case relNode:
		e := index.And(arthPlan(n.l), arthPlan(n.r))
		return p.term(e, pos, known), known
	case otherNode:
		return p.other(n, pos, known)
	}
	return index.All, known
}

// conj: both must hold; the right one is evaluated only once the left
// one held, so it knows what the left one proves.
func (p *planner) conj(l, r node, pos bool, known uint64) (index.Expr, uint64) {
	le, lf := p.plan(l, pos, known)
	re, rf := p.plan(r, pos, lf)
	return index.And(le, re), lf | rf
}

// disj: either holds; each proves only what both prove.
func (p *planner) disj(l, r node, pos bool, known uint64) (index.Expr, uint64) {
	le, lf := p.plan(l, pos, known)
	re, rf := p.plan(r, pos, known)
	return index.Or(le, re), lf & rf
}

func (p *planner) other(n otherNode, pos bool, known uint64) (index.Expr, uint64) {
	switch n.kind {
	case oVlan:
		if p.labels > 0 || p.seg != segEther {
			p.weird = true // Compile fails
		}
		e := index.All
		if n.hasNum && n.num <= 0x0fff {
			e = p.term(index.TermExpr(index.VLANTerm(uint16(n.num))), pos, known)
		}
		p.vlans++
		return e, known
	case oMpls:
		if p.labels == 0 {
			p.enter()
		}
		b := p.step()
		p.labels++
		if pos {
			known |= b
		}
		return index.All, known
	case oPppoes:
		if p.labels > 0 {
			p.weird = true // Compile fails
		}
		p.enter()
		b := p.step()
		p.seg, p.vlans = segPPP, 0
		if pos {
			known |= b
		}
		return index.All, known
	case oGeneve:
		if p.labels > 0 {
			// libpcap keeps testing the MPLS bottom-of-stack bit at
			// the Geneve payload's offsets.
			p.weird = true
		}
		p.enter()
		b := p.step()
		p.seg, p.vlans = segEther, 0
		if pos {
			known |= b
		}
		return index.All, known
	}
	return index.All, known
}

// enter notes a new layer; one entered from a state Terms does not
// follow leads nowhere it follows.
func (p *planner) enter() {
	if !p.covered(p.needs) {
		p.weird = true
	}
	p.layers++
}

// id plans a qualified id (its state never changes).
func (p *planner) id(n idNode) index.Expr {
	q := n.q
	switch n.kind {
	case idNum:
		return p.ncode("", n.num, q)
	case idHID:
		return p.ncode(n.s, 0, q)
	case idHIDLen, idHIDMask:
		if q.addr != aNet {
			return index.All
		}
		v, vlen := atoin(n.s)
		if vlen < 0 {
			return index.All
		}
		v <<= 32 - vlen
		var m uint32
		if n.kind == idHIDMask {
			mv, mlen := atoin(n.s2)
			if mlen < 0 {
				return index.All
			}
			m = mv << (32 - mlen)
		} else {
			if n.num > 32 {
				return index.All
			}
			if n.num != 0 {
				m = 0xffffffff << (32 - n.num)
			}
		}
		return hostPlan(v, m, q.proto)
	case idHID6, idHID6Len:
		a, err := netip.ParseAddr(n.s)
		if err != nil || !a.Is6() || n.num > 128 || a.Zone() != "" {
			return index.All
		}
		switch q.proto {
		case qDefault, qIPv6:
		default:
			return index.All
		}
		switch q.addr {
		case aDefault, aHost, aNet:
		default:
			return index.All
		}
		if n.num == 128 {
			return index.TermExpr(index.AddrTerm(a))
		}
		return index.PrefixExpr(netip.PrefixFrom(a, int(n.num)))
	case idName:
		return p.scode(n.s, q)
	}
	return index.All
}

// ncode plans an id given as a number or dotted IPv4 address, as the
// code generator's ncode reads it.
func (p *planner) ncode(s string, v uint32, q qual) index.Expr {
	if q.proto == qDecnet {
		return index.All
	}
	vlen := 32
	if s != "" {
		v, vlen = atoin(s)
		if vlen < 0 {
			return index.All
		}
	}
	switch q.addr {
	case aDefault, aHost, aNet:
		mask := uint32(0xffffffff)
		if s == "" && q.addr == aNet {
			for v != 0 && v&0xff000000 == 0 {
				v <<= 8
				mask <<= 8
			}
		} else {
			v <<= 32 - vlen
			mask <<= 32 - vlen
		}
		return hostPlan(v, mask, q.proto)
	case aPort, aPortrange:
		if v > 65535 {
			return index.All
		}
		protos, ok := portProtosPlan(q.proto, protoUndef)
		if !ok {
			return index.All
		}
		return portsPlan(protos, uint16(v), uint16(v))
	case aProto:
		return protoPlan(v, q.proto)
	}
	return index.All
}

// scode plans an id given as a name.
func (p *planner) scode(name string, q qual) index.Expr {
	switch q.addr {
	case aDefault, aHost:
		switch q.proto {
		case qDefault, qIP, qARP, qRARP, qIPv6:
		default:
			return index.All
		}
		ips, ok := p.hosts[name]
		if !ok {
			return index.All
		}
		var args []index.Expr
		for _, ip := range ips {
			if v4 := ip.To4(); v4 != nil {
				args = append(args, index.TermExpr(index.AddrTerm(netip.AddrFrom4([4]byte(v4)))))
			} else if len(ip) == net.IPv6len {
				args = append(args, index.TermExpr(index.AddrTerm(netip.AddrFrom16([16]byte(ip)))))
			}
		}
		if len(args) == 0 {
			return index.All
		}
		return index.Or(args...)
	case aPort, aPortrange:
		var lo, hi, realProto int
		var ok bool
		if q.addr == aPort {
			lo, realProto, ok = nameToPort(name)
			hi = lo
		} else {
			lo, hi, realProto, ok = nameToPortrange(name)
		}
		if !ok || lo < 0 || hi < 0 || lo > 65535 || hi > 65535 {
			return index.All
		}
		protos, ok := portProtosPlan(q.proto, realProto)
		if !ok {
			return index.All
		}
		return portsPlan(protos, uint16(lo), uint16(hi))
	case aProto:
		switch q.proto {
		case qDefault, qIP, qIPv6:
			if v, ok := ipProtocols[name]; ok && v >= 0 {
				return protoPlan(uint32(v), q.proto)
			}
		}
	}
	return index.All
}

// portProtosPlan: the transports a port id names, as the code generator
// decides them from the qualifier and the service's protocol.
func portProtosPlan(proto, realProto int) ([]uint8, bool) {
	switch proto {
	case qTCP:
		return []uint8{ipprotoTCP}, true
	case qUDP:
		return []uint8{ipprotoUDP}, true
	case qSCTP:
		return []uint8{ipprotoSCTP}, true
	case qDefault:
		switch realProto {
		case protoUndef:
			return []uint8{ipprotoTCP, ipprotoUDP, ipprotoSCTP}, true
		case ipprotoTCP, ipprotoUDP, ipprotoSCTP:
			return []uint8{uint8(realProto)}, true
		}
	}
	return nil, false
}

func portsPlan(protos []uint8, lo, hi uint16) index.Expr {
	args := make([]index.Expr, 0, len(protos))
	for _, pr := range protos {
		args = append(args, index.PortRangeExpr(pr, lo, hi))
	}
	return index.Or(args...)
}

// protoPlan: "ip proto N", "ip6 proto N", "proto N".
func protoPlan(v uint32, proto int) index.Expr {
	switch proto {
	case qDefault, qIP, qIPv6:
		if v <= 255 {
			return index.TermExpr(index.ProtoTerm(uint8(v)))
		}
	}
	return index.All
}

// hostPlan: an IPv4 address v under mask (host, net) for the protocol
// qualifiers that read IPv4 or ARP addresses. A mask with holes is
// widened to its leading ones.
func hostPlan(v, mask uint32, proto int) index.Expr {
	switch proto {
	case qDefault, qIP, qARP, qRARP:
	default:
		return index.All
	}
	ones := bits.LeadingZeros32(^mask)
	var lead uint32
	if ones > 0 {
		lead = 0xffffffff << (32 - ones)
	}
	v &= lead
	a := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	if ones == 32 {
		return index.TermExpr(index.AddrTerm(a))
	}
	return index.PrefixExpr(netip.PrefixFrom(a, ones))
}

// protoAbbrevPlan: a bare protocol name.
func protoAbbrevPlan(proto int) index.Expr {
	var v uint8
	switch proto {
	case qTCP:
		v = ipprotoTCP
	case qUDP:
		v = ipprotoUDP
	case qSCTP:
		v = ipprotoSCTP
	case qICMP:
		v = ipprotoICMP
	case qIGMP:
		v = ipprotoIGMP
	case qIGRP:
		v = ipprotoIGRP
	case qPIM:
		v = ipprotoPIM
	case qVRRP, qCARP:
		v = ipprotoVRRP
	case qICMPv6:
		v = ipprotoICMPv6
	case qAH:
		v = ipprotoAH
	case qESP:
		v = ipprotoESP
	default:
		return index.All
	}
	return index.TermExpr(index.ProtoTerm(v))
}

// arthPlan: what the protocol checks of an arithmetic expression's loads
// require ("tcp[13]" needs IPv4 TCP). As in the code generator, the
// right operand's checks of a binary operation are dropped.
func arthPlan(a arth) index.Expr {
	switch a := a.(type) {
	case negArth:
		return arthPlan(a.x)
	case binArth:
		return arthPlan(a.l)
	case loadArth:
		own := index.All
		switch a.proto {
		case qTCP, qUDP, qSCTP, qICMP, qIGMP, qIGRP, qPIM, qVRRP, qCARP, qICMPv6:
			own = protoAbbrevPlan(a.proto)
		}
		return index.And(arthPlan(a.idx), own)
	}
	return index.All
}

// And is the expression of the packets both forced and expr select:
// "(forced) and (expr)", or the one given when the other is empty. A
// forced filter (a token's) is meant to bound whatever a request asks,
// so expr must parse on its own first: pasted in as it is, "ip) or (ip"
// would close forced's parenthesis and undo the "and". Its error is
// expr's syntax error.
func And(forced, expr string) (string, error) {
	switch {
	case forced == "":
		return expr, nil
	case expr == "":
		return "(" + forced + ")", nil
	}
	if _, err := parse(expr); err != nil {
		return "", err
	}
	return "(" + forced + ") and (" + expr + ")", nil
}
