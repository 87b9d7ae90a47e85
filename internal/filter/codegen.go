package filter

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// This file turns the AST into blocks: the equivalents of grammar.y's
// semantic actions (gen_scode, gen_ncode, gen_mcode, gen_mcode6,
// gen_ecode, gen_load, gen_arth, gen_relation, ...). Nodes are visited in
// the order the yacc parser reduces them, so that state changes (vlan,
// mpls, pppoes, geneve shift later offsets) and scratch register
// allocation happen in libpcap's order.

func (g *gen) node(n node) *block {
	switch n := n.(type) {
	case andNode:
		b0 := g.node(n.l)
		b1 := g.node(n.r)
		genAnd(b0, b1)
		return b1
	case orNode:
		b0 := g.node(n.l)
		b1 := g.node(n.r)
		genOr(b0, b1)
		return b1
	case notNode:
		b := g.node(n.x)
		genNot(b)
		return b
	case abbrevNode:
		return g.protoAbbrev(n.proto)
	case idNode:
		return g.id(n)
	case relNode:
		return g.relation(n)
	case otherNode:
		return g.other(n)
	case unsupportedNode:
		fail("%s is not supported", n.what)
	case failNode:
		panic(&compileError{msg: n.msg})
	case fieldNode:
		return g.field(n)
	case pfNode:
		return g.pf(n)
	}
	panic("unknown node")
}

func (g *gen) other(n otherNode) *block {
	switch n.kind {
	case oBroadcast:
		return g.broadcast(n.proto)
	case oMulticast:
		return g.multicast(n.proto)
	case oLess:
		b := g.lenTest(jmpJGT, n.num)
		genNot(b)
		return b
	case oGreater:
		return g.lenTest(jmpJGE, n.num)
	case oByte:
		return g.byteop(n.op, n.num, n.num2)
	case oInbound:
		return g.inbound(false)
	case oOutbound:
		return g.inbound(true)
	case oIfindex:
		return g.ifindex(n.num)
	case oVlan:
		return g.vlan(n.num, n.hasNum)
	case oMpls:
		return g.mpls(n.num, n.hasNum)
	case oPppoed:
		return g.pppoed()
	case oPppoes:
		return g.pppoes(n.num, n.hasNum)
	case oGeneve:
		return g.geneve(n.num, n.hasNum)
	case oLLC:
		return g.llc(n.llc)
	case o80211Type:
		return g.p80211Type(n.num, n.num2)
	case o80211Dir:
		return g.p80211Dir(n.num)
	}
	panic("unknown primitive")
}

// id dispatches a qualified id on how its value was written.
func (g *gen) id(n idNode) *block {
	q := n.q
	switch n.kind {
	case idName:
		return g.scode(n.s, q)
	case idNum:
		return g.ncode("", n.num, q)
	case idHID:
		switch q.addr {
		case aPort:
			fail("'port' modifier applied to ip host")
		case aPortrange:
			fail("'portrange' modifier applied to ip host")
		case aProto:
			fail("'proto' modifier applied to ip host")
		case aProtochain:
			fail("'protochain' modifier applied to ip host")
		}
		return g.ncode(n.s, 0, q)
	case idHIDLen:
		return g.mcode(n.s, "", n.num, q)
	case idHIDMask:
		return g.mcode(n.s, n.s2, 0, q)
	case idHID6, idHID6Len:
		return g.mcode6(n.s, n.num, q)
	case idEID:
		return g.ecode(n.s, q)
	case idAID:
		return g.acode(n.s, q)
	}
	panic("unknown id kind")
}

// atoin parses a dotted IPv4 address or prefix as libpcap's
// __pcap_atoin, returning the value and its length in bits (-1: invalid).
func atoin(s string) (uint32, int) {
	var addr uint32
	length := 0
	i := 0
	for {
		var n uint32
		for i < len(s) && s[i] != '.' {
			if n > 25 {
				return 0, -1
			}
			n = n*10 + uint32(s[i]) - '0'
			i++
		}
		if n > 255 {
			return 0, -1
		}
		addr = addr<<8 | n&0xff
		length += 8
		if i == len(s) {
			return addr, length
		}
		i++
	}
}

// atodn parses a DECnet address "area.node" (sscanf "%d.%d").
func atodn(s string) (uint32, bool) {
	area, rest, ok := scanInt(s)
	if !ok || !strings.HasPrefix(rest, ".") {
		return 0, false
	}
	node, _, ok := scanInt(rest[1:])
	if !ok {
		return 0, false
	}
	return (uint32(area)<<10)&0176000 | uint32(node)&01777, true
}

// scanInt reads a decimal integer like sscanf's %d (optional sign).
func scanInt(s string) (int64, string, bool) {
	i := 0
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		i++
	}
	j := i
	for j < len(s) && s[j] >= '0' && s[j] <= '9' {
		j++
	}
	if j == i {
		return 0, s, false
	}
	v, err := strconv.ParseInt(s[:j], 10, 64)
	if err != nil {
		v = int64(int32(-1))
	}
	return int64(int32(v)), s[j:], true
}

// ncode: an id given as a number or a dotted IPv4 address (s != "").
func (g *gen) ncode(s string, v uint32, q qual) *block {
	proto, dir := q.proto, q.dir
	vlen := 32
	if s != "" {
		if proto == qDecnet {
			var ok bool
			if v, ok = atodn(s); !ok {
				fail("malformed decnet address '%s'", s)
			}
		} else {
			v, vlen = atoin(s)
			if vlen < 0 {
				fail("invalid IPv4 address '%s'", s)
			}
		}
	}
	switch q.addr {
	case aDefault, aHost, aNet:
		if proto == qDecnet {
			return g.host(v, 0, proto, dir, q.addr)
		}
		if proto == qLink {
			fail("illegal link layer address")
		}
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
		return g.host(v, mask, proto, dir, q.addr)
	case aPort, aPortrange:
		ipProto := protoUndef
		switch proto {
		case qUDP:
			ipProto = ipprotoUDP
		case qTCP:
			ipProto = ipprotoTCP
		case qSCTP:
			ipProto = ipprotoSCTP
		case qDefault:
		default:
			if q.addr == aPort {
				fail("illegal qualifier of 'port'")
			}
			fail("illegal qualifier of 'portrange'")
		}
		if v > 65535 {
			fail("illegal port number %d > 65535", v)
		}
		if q.addr == aPort {
			b := g.port(v, ipProto, dir)
			genOr(g.port6(v, ipProto, dir), b)
			return b
		}
		b := g.portrange(v, v, ipProto, dir)
		genOr(g.portrange6(v, v, ipProto, dir), b)
		return b
	case aGateway:
		fail("'gateway' requires a name")
	case aProto:
		return g.proto(v, proto, dir)
	case aProtochain:
		return g.protochain(v, proto)
	}
	fail("syntax error in filter expression")
	return nil
}

// mcode: "net a.b.c.d/len" or "net a.b.c.d mask m.m.m.m".
func (g *gen) mcode(s1, s2 string, masklen uint32, q qual) *block {
	n, nlen := atoin(s1)
	if nlen < 0 {
		fail("invalid IPv4 address '%s'", s1)
	}
	n <<= 32 - nlen
	var m uint32
	if s2 != "" {
		var mlen int
		m, mlen = atoin(s2)
		if mlen < 0 {
			fail("invalid IPv4 address '%s'", s2)
		}
		m <<= 32 - mlen
		if n&^m != 0 {
			fail("non-network bits set in \"%s mask %s\"", s1, s2)
		}
	} else {
		if masklen > 32 {
			fail("mask length must be <= 32")
		}
		if masklen != 0 {
			m = 0xffffffff << (32 - masklen)
		}
		if n&^m != 0 {
			fail("non-network bits set in \"%s/%d\"", s1, masklen)
		}
	}
	if q.addr != aNet {
		fail("Mask syntax for networks only")
	}
	return g.host(n, m, q.proto, q.dir, q.addr)
}

// mcode6: an IPv6 address, optionally with a prefix length.
func (g *gen) mcode6(s string, masklen uint32, q qual) *block {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is6() {
		fail("invalid ip6 address %s", s)
	}
	addr := a.As16()
	if masklen > 128 {
		fail("mask length must be <= 128")
	}
	var mask [16]byte
	for i := uint32(0); i < masklen/8; i++ {
		mask[i] = 0xff
	}
	if masklen%8 != 0 {
		mask[masklen/8] = byte(0xff << (8 - masklen%8))
	}
	for i := range addr {
		if addr[i]&^mask[i] != 0 {
			fail("non-network bits set in \"%s/%d\"", s, masklen)
		}
	}
	switch q.addr {
	case aDefault, aHost:
		if masklen != 128 {
			fail("Mask syntax for networks only")
		}
		return g.host6(addr, mask, q.proto, q.dir, q.addr)
	case aNet:
		return g.host6(addr, mask, q.proto, q.dir, q.addr)
	}
	fail("invalid qualifier against IPv6 address")
	return nil
}

// etherAton converts a MAC address in any of the forms the scanner
// accepts (as libpcap's pcap_ether_aton: pairs of hex digits, ':', '.'
// and '-' skipped).
func etherAton(s string) []byte {
	var e []byte
	xd := func(c byte) byte {
		switch {
		case c >= '0' && c <= '9':
			return c - '0'
		case c >= 'a' && c <= 'f':
			return c - 'a' + 10
		}
		return c - 'A' + 10
	}
	isx := func(c byte) bool {
		return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
	}
	for i := 0; i < len(s); {
		if s[i] == ':' || s[i] == '.' || s[i] == '-' {
			i++
		}
		d := xd(s[i])
		i++
		if i < len(s) && isx(s[i]) {
			d = d<<4 | xd(s[i])
			i++
		}
		e = append(e, d)
	}
	return e
}

// ecode: a MAC address.
func (g *gen) ecode(s string, q qual) *block {
	if (q.addr == aHost || q.addr == aDefault) && q.proto == qLink {
		b, ok := g.linkHostop(etherAton(s), q.dir)
		if !ok {
			fail("ethernet addresses supported only on ethernet/FDDI/token ring/802.11/ATM LANE/Fibre Channel")
		}
		return b
	}
	fail("ethernet address used in non-ether expression")
	return nil
}

// nameToPort resolves a service name (or a decimal number) as libpcap's
// pcap_nametoport does through getaddrinfo: the port and whether it is
// TCP-only, UDP-only or both (protoUndef).
func nameToPort(name string) (port int, proto int, ok bool) {
	if name != "" && strings.Trim(name, "0123456789") == "" {
		v, err := strconv.ParseUint(name, 10, 64)
		if err != nil {
			v = ^uint64(0)
		}
		return int(v & 0xffff), protoUndef, true
	}
	sp, found := services[name]
	if !found {
		return 0, 0, false
	}
	switch {
	case sp.tcp >= 0 && sp.udp >= 0:
		if sp.tcp == sp.udp {
			return int(sp.tcp), protoUndef, true
		}
		return int(sp.tcp), ipprotoTCP, true
	case sp.tcp >= 0:
		return int(sp.tcp), ipprotoTCP, true
	default:
		return int(sp.udp), ipprotoUDP, true
	}
}

// nameToPortrange parses "p1-p2" with numbers or service names, as
// pcap_nametoportrange.
func nameToPortrange(name string) (p1, p2 int, proto int, ok bool) {
	if a, rest, ok1 := scanInt(name); ok1 && strings.HasPrefix(rest, "-") {
		if b, _, ok2 := scanInt(rest[1:]); ok2 {
			return int(a), int(b), protoUndef, true
		}
	}
	i := strings.IndexByte(name, '-')
	if i < 0 {
		return 0, 0, 0, false
	}
	p1, proto1, ok1 := nameToPort(name[:i])
	if !ok1 {
		return 0, 0, 0, false
	}
	p2, proto2, ok2 := nameToPort(name[i+1:])
	if !ok2 {
		return 0, 0, 0, false
	}
	if proto1 != proto2 {
		proto2 = protoUndef
	}
	return p1, p2, proto2, true
}

// lookupProto resolves a protocol name for "proto"/"protochain".
func lookupProto(name string, proto int) int {
	switch proto {
	case qDefault, qIP, qIPv6:
		v, ok := ipProtocols[name]
		if !ok {
			fail("unknown ip proto '%s'", name)
		}
		return v
	case qLink:
		if v, ok := etherProtos[name]; ok {
			return v
		}
		if v, ok := llcProtos[name]; ok {
			return v
		}
		fail("unknown ether proto '%s'", name)
	case qISO:
		switch name {
		case "esis":
			return isoESIS
		case "isis":
			return isoISIS
		case "clnp":
			return isoCLNP
		}
		fail("unknown osi proto '%s'", name)
	}
	return protoUndef
}

var etherProtos = map[string]int{
	"aarp": ethertypeAARP, "arp": ethertypeARP, "atalk": ethertypeATALK,
	"decnet": ethertypeDN, "ip": ethertypeIP, "ip6": ethertypeIPv6,
	"lat": ethertypeLAT, "loopback": ethertypeLoopback, "mopdl": ethertypeMOPDL,
	"moprc": ethertypeMOPRC, "rarp": ethertypeREVARP, "sca": ethertypeSCA,
}

var llcProtos = map[string]int{
	"iso": llcsapISONS, "stp": llcsap8021D, "ipx": llcsapIPX, "netbeui": llcsapNetbeui,
}

// scode: an id given as a name.
func (g *gen) scode(name string, q qual) *block {
	proto, dir := q.proto, q.dir
	switch q.addr {
	case aNet:
		// pcap_nametonetaddr: the network number from /etc/networks,
		// left-justified with its mask.
		addr := network(name)
		if addr == 0 {
			fail("unknown network '%s'", name)
		}
		mask := uint32(0xffffffff)
		for addr != 0 && addr&0xff000000 == 0 {
			addr <<= 8
			mask <<= 8
		}
		return g.host(addr, mask, proto, dir, q.addr)
	case aDefault, aHost:
		switch proto {
		case qLink:
			if !isEthernet(g.linktype) && g.linktype != dltFDDI && g.linktype != dltIEEE802 &&
				!is80211(g.linktype) && g.linktype != dltIPOverFC {
				fail("only ethernet/FDDI/token ring/802.11/ATM LANE/Fibre Channel supports link-level host name")
			}
			e := etherHost(name)
			if e == nil {
				fail("unknown ether host '%s'", name)
			}
			b, _ := g.linkHostop(e, dir)
			return b
		case qDecnet:
			fail("decnet name support not included, '%s' cannot be translated", name)
		}
		return g.hostName(name, proto, dir, q.addr)
	case aPort, aPortrange:
		what := "port"
		if q.addr == aPortrange {
			what = "portrange"
		}
		if proto != qDefault && proto != qUDP && proto != qTCP && proto != qSCTP {
			fail("illegal qualifier of '%s'", what)
		}
		var port, port2, realProto int
		var ok bool
		if q.addr == aPort {
			port, realProto, ok = nameToPort(name)
			if !ok {
				fail("unknown port name %q", name)
			}
			port2 = port
		} else {
			port, port2, realProto, ok = nameToPortrange(name)
			if !ok {
				fail("unknown port in range %q", name)
			}
		}
		check := func(want, other1, other2 int, n1, n2 string) {
			if realProto == other1 {
				fail("port '%s' is %s", name, n1)
			} else if realProto == other2 {
				fail("port '%s' is %s", name, n2)
			}
			realProto = want
		}
		switch proto {
		case qUDP:
			check(ipprotoUDP, ipprotoTCP, ipprotoSCTP, "tcp", "sctp")
		case qTCP:
			check(ipprotoTCP, ipprotoUDP, ipprotoSCTP, "udp", "sctp")
		case qSCTP:
			check(ipprotoSCTP, ipprotoUDP, ipprotoTCP, "udp", "tcp")
		}
		for _, p := range []int{port, port2} {
			if p < 0 {
				fail("illegal port number %d < 0", p)
			}
			if p > 65535 {
				fail("illegal port number %d > 65535", p)
			}
		}
		if q.addr == aPort {
			b := g.port(uint32(port), realProto, dir)
			genOr(g.port6(uint32(port), realProto, dir), b)
			return b
		}
		b := g.portrange(uint32(port), uint32(port2), realProto, dir)
		genOr(g.portrange6(uint32(port), uint32(port2), realProto, dir), b)
		return b
	case aGateway:
		// libpcap built with IPv6 support (as Debian's) refuses
		// "gateway" whatever the name.
		fail("'gateway' not supported in this configuration")
	case aProto:
		v := lookupProto(name, proto)
		if v < 0 {
			fail("unknown protocol: %s", name)
		}
		return g.proto(uint32(v), proto, dir)
	case aProtochain:
		v := lookupProto(name, proto)
		if v < 0 {
			fail("unknown protocol: %s", name)
		}
		return g.protochain(uint32(v), proto)
	}
	fail("syntax error in filter expression")
	return nil
}

// arthVal is an arithmetic value being computed (libpcap's struct arth):
// statements leaving the value in scratch register reg, and the protocol
// checks b that must hold for the value to be meaningful.
//
// cst and val say whether libpcap's optimizer sees the value as a
// constant (and which); its code is then reduced to loading the
// constant, as the optimizer drops the dead loads. first is the first
// statement of the unoptimized code (gen_arth looks at it), andK is set
// when the last operation was "& constant".
type arthVal struct {
	s     []*stmt
	reg   int
	b     *block
	cst   bool
	val   uint32
	first *stmt
	andK  *uint32
}

// setConst makes v the constant c, as libpcap's optimizer sees it.
func (g *gen) setConst(v *arthVal, c uint32) {
	v.cst, v.val, v.andK = true, c, nil
	if g.emulateOpt {
		v.s = []*stmt{newStmt(clsLD|modeIMM, c), newStmt(clsST, uint32(v.reg))}
	}
}

func (g *gen) arth(a arth) *arthVal {
	switch a := a.(type) {
	case numArth:
		return g.loadi(a.v)
	case lenArth:
		reg := g.allocReg()
		s := []*stmt{newStmt(clsLD|modeLEN|szW, 0), newStmt(clsST, uint32(reg))}
		return &arthVal{s: s, reg: reg, first: s[0]}
	case negArth:
		v := g.arth(a.x)
		v.s = append(v.s, newStmt(clsLD|modeMEM, uint32(v.reg)), newStmt(clsALU|aluNEG, 0), newStmt(clsST, uint32(v.reg)))
		v.andK = nil
		if v.cst && g.emulateOpt {
			g.setConst(v, -v.val)
		} else {
			v.cst = false
		}
		return v
	case binArth:
		a0 := g.arth(a.l)
		a1 := g.arth(a.r)
		return g.arith(a.op, a0, a1)
	case loadArth:
		idx := g.arth(a.idx)
		return g.load(a.proto, idx, a.size)
	}
	panic("unknown arth")
}

func (g *gen) loadi(v uint32) *arthVal {
	reg := g.allocReg()
	s := []*stmt{newStmt(clsLD|modeIMM, v), newStmt(clsST, uint32(reg))}
	return &arthVal{s: s, reg: reg, cst: true, val: v, first: s[0]}
}

// foldALU computes a constant operation as libpcap's optimizer does.
func foldALU(op uint16, a, b uint32) uint32 {
	switch op {
	case aluADD:
		return a + b
	case aluSUB:
		return a - b
	case aluMUL:
		return a * b
	case aluDIV:
		return a / b
	case aluMOD:
		return a % b
	case aluAND:
		return a & b
	case aluOR:
		return a | b
	case aluXOR:
		return a ^ b
	case aluLSH:
		if b >= 32 {
			return 0
		}
		return a << b
	case aluRSH:
		if b >= 32 {
			return 0
		}
		return a >> b
	}
	panic("bad alu op")
}

func (g *gen) arith(op uint16, a0, a1 *arthVal) *arthVal {
	isImm := func(a *arthVal) bool { return a.first != nil && a.first.code == clsLD|modeIMM }
	switch op {
	case aluDIV:
		if isImm(a1) && a1.first.k == 0 {
			fail("division by zero")
		}
	case aluMOD:
		if isImm(a1) && a1.first.k == 0 {
			fail("modulus by zero")
		}
	case aluLSH, aluRSH:
		if isImm(a1) && a1.first.k > 31 {
			fail("shift by more than 31 bits")
		}
	}
	a0.s = append(a0.s, a1.s...)
	a0.s = append(a0.s, newStmt(clsLDX|modeMEM, uint32(a1.reg)), newStmt(clsLD|modeMEM, uint32(a0.reg)), newStmt(clsALU|op|srcX, 0))
	g.freeReg(a0.reg)
	g.freeReg(a1.reg)
	a0.reg = g.allocReg()
	a0.s = append(a0.s, newStmt(clsST, uint32(a0.reg)))
	// As in libpcap, the protocol checks of a1 are dropped.

	// What libpcap's optimizer makes of it.
	a0.andK = nil
	if !g.emulateOpt {
		a0.cst = false
		return a0
	}
	switch {
	case a0.cst && a1.cst:
		if a1.val == 0 && (op == aluDIV || op == aluMOD) {
			fail("division by zero")
		}
		g.setConst(a0, foldALU(op, a0.val, a1.val))
	case a1.cst:
		// The operation becomes "op #k".
		if (op == aluLSH || op == aluRSH) && a1.val > 31 {
			fail("shift by more than 31 bits")
		}
		a0.cst = false
		if a1.val == 0 {
			switch op {
			case aluMUL, aluAND:
				g.setConst(a0, 0)
			case aluDIV:
				fail("division by zero")
			case aluMOD:
				fail("modulus by zero")
			}
		}
		if op == aluAND && !a0.cst {
			k := a1.val
			a0.andK = &k
		}
	case a0.cst && a0.val == 0:
		switch op {
		case aluMUL, aluDIV, aluMOD, aluAND, aluLSH, aluRSH:
			g.setConst(a0, 0)
		default:
			a0.cst = false
		}
	default:
		a0.cst = false
	}
	return a0
}

// load implements proto[idx:size].
func (g *gen) load(proto int, inst *arthVal, size uint32) *arthVal {
	regno := g.allocReg()
	g.freeReg(inst.reg)
	var sz uint16
	switch size {
	case 1:
		sz = szB
	case 2:
		sz = szH
	case 4:
		sz = szW
	default:
		fail("data size must be 1, 2, or 4")
	}
	xferToX := func() *stmt { return newStmt(clsLDX|modeMEM, uint32(inst.reg)) }
	xferToA := func() *stmt { return newStmt(clsLD|modeMEM, uint32(inst.reg)) }
	withVarpart := func(off *absOffset) []*stmt {
		if s := g.absOffsetVarpart(off); s != nil {
			return append(s, xferToA(), newStmt(clsALU|aluADD|srcX, 0), newStmt(clsMISC|miscTAX, 0))
		}
		return []*stmt{xferToX()}
	}
	switch proto {
	case qRadio:
		switch g.linktype {
		case dltAVS, dltRadiotap, dltPrism:
		default:
			fail("radio information not present in capture")
		}
		inst.s = append(inst.s, xferToX(), newStmt(clsLD|modeIND|sz, 0))
	case qLink:
		s := withVarpart(&g.offLinkhdr)
		s = append(s, newStmt(clsLD|modeIND|sz, g.offLinkhdr.constPart))
		inst.s = append(inst.s, s...)
	case qIP, qARP, qRARP, qAtalk, qDecnet, qSCA, qLAT, qMOPRC, qMOPDL, qIPv6:
		s := withVarpart(&g.offLinkpl)
		s = append(s, newStmt(clsLD|modeIND|sz, g.offLinkpl.constPart+g.offNl))
		inst.s = append(inst.s, s...)
		b := g.protoAbbrev(proto)
		if inst.b != nil {
			genAnd(inst.b, b)
		}
		inst.b = b
	case qSCTP, qTCP, qUDP, qICMP, qIGMP, qIGRP, qPIM, qVRRP, qCARP:
		s := g.loadxIPHdrLen()
		s = append(s, xferToA(), newStmt(clsALU|aluADD|srcX, 0), newStmt(clsMISC|miscTAX, 0),
			newStmt(clsLD|modeIND|sz, g.offLinkpl.constPart+g.offNl))
		inst.s = append(inst.s, s...)
		b0 := g.protoAbbrev(proto)
		b := g.ipfrag()
		genAnd(b0, b)
		if inst.b != nil {
			genAnd(inst.b, b)
		}
		genAnd(g.protoAbbrev(qIP), b)
		inst.b = b
	case qICMPv6:
		b := g.protoAbbrev(qIPv6)
		if inst.b != nil {
			genAnd(inst.b, b)
		}
		inst.b = b
		b = g.cmp(orLinkpl, 6, szB, 58)
		genAnd(inst.b, b)
		inst.b = b
		s := withVarpart(&g.offLinkpl)
		s = append(s, newStmt(clsLD|modeIND|sz, g.offLinkpl.constPart+g.offNl+40))
		inst.s = append(inst.s, s...)
	default:
		fail("unsupported index operation")
	}
	inst.reg = regno
	inst.s = append(inst.s, newStmt(clsST, uint32(regno)))
	inst.cst, inst.andK = false, nil
	return inst
}

func (g *gen) relation(n relNode) *block {
	a0 := g.arth(n.l)
	a1 := g.arth(n.r)
	return g.relationVals(n, a0, a1)
}

// relationVals compares the computed values a0 and a1 with n's operator.
func (g *gen) relationVals(n relNode, a0, a1 *arthVal) *block {
	s := append(a0.s, a1.s...)
	s = append(s, newStmt(clsLDX|modeMEM, uint32(a1.reg)), newStmt(clsLD|modeMEM, uint32(a0.reg)))
	var b *block
	if n.op == jmpJEQ {
		s = append(s, newStmt(clsALU|aluSUB|srcX, 0))
		b = newBlock(jmp(jmpJEQ), 0)
	} else {
		b = newBlock(clsJMP|n.op|srcX, 0)
	}
	b.stmts = s
	if g.emulateOpt {
		switch {
		case a0.cst && a1.cst:
			// libpcap's optimizer decides the comparison at compile
			// time and drops the code computing it.
			var r bool
			switch n.op {
			case jmpJEQ:
				r = a0.val == a1.val
			case jmpJGT:
				r = a0.val > a1.val
			default:
				r = a0.val >= a1.val
			}
			b = g.uncond(r)
		case n.op == jmpJEQ && a1.cst && a1.val == 0 && a0.andK != nil && *a0.andK == 0xffffffff:
			// libpcap 1.10.3's optimizer turns "x & 0xffffffff == 0"
			// into "jset #0xffffffff" and then wrongly treats that as
			// always true; its result depends on the optimizer's
			// iteration, so refuse it.
			unsupportedHere("comparing \"& 0xffffffff\" with 0 (libpcap mis-optimizes it)")
		}
	}
	if n.reversed {
		genNot(b)
	}
	g.freeReg(a0.reg)
	g.freeReg(a1.reg)
	var tmp *block
	switch {
	case a0.b != nil && a1.b != nil:
		genAnd(a0.b, a1.b)
		tmp = a1.b
	case a0.b != nil:
		tmp = a0.b
	default:
		tmp = a1.b
	}
	if tmp != nil {
		genAnd(tmp, b)
	}
	return b
}

// finish adds the return blocks: accept (snaplen) and reject (0).
func (g *gen) finish(p *block) *block {
	if !g.insertOtherVloffsets(p.head) {
		g.insertComputeVloffsets(p.head)
	}
	if b := g.ppiDLTCheck(); b != nil {
		genAnd(b, p)
	}
	backpatch(p, newBlock(clsRET|srcK, g.snaplen))
	p.sense = !p.sense
	backpatch(p, newBlock(clsRET|srcK, 0))
	return p.head
}

// hostName: "host NAME" with each address the resolver gives, in its
// order, or-ed together (gen_scode's loop over pcap_nametoaddrinfo).
func (g *gen) hostName(name string, proto, dir, typ int) *block {
	if g.names == nil {
		g.names = newNames(context.Background(), nil)
	}
	ips := g.names.host(name)
	tproto, tproto6 := proto, proto
	if g.offLinktype.constPart == offNotSet && proto == qDefault {
		tproto, tproto6 = qIP, qIPv6
	}
	var b *block
	for _, ip := range ips {
		var tmp *block
		if len(ip) == net.IPv4len {
			if tproto == qIPv6 {
				continue
			}
			tmp = g.host(binary.BigEndian.Uint32(ip), 0xffffffff, tproto, dir, typ)
		} else {
			if tproto6 == qIP {
				continue
			}
			var a, m [16]byte
			copy(a[:], ip)
			for i := range m {
				m[i] = 0xff
			}
			tmp = g.host6(a, m, tproto6, dir, typ)
		}
		if b != nil {
			genOr(b, tmp)
		}
		b = tmp
	}
	if b == nil {
		if proto == qDefault {
			fail("unknown host '%s'", name)
		}
		fail("unknown host '%s' for specified address family", name)
	}
	return b
}
