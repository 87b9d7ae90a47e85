package filter

import (
	"fmt"
)

// Code generation. The generators below follow the structure of
// libpcap 1.10.3's gencode.c: every primitive becomes a small graph of
// blocks built with genAnd/genOr/genNot, in the same order and with the
// same loads, so that the resulting program accepts and rejects exactly
// the packets libpcap's does (including truncated packets, where the
// first out-of-bounds load decides).

// compileError aborts code generation (raised with panic, caught in
// Compile). liveOnly marks a construct that libpcap compiles only for a
// live capture (inbound, outbound and ifindex read socket metadata).
type compileError struct {
	msg      string
	liveOnly bool
	err      error // cause, if any (a resolver's error)
}

func (e *compileError) Error() string { return e.msg }

func (e *compileError) Unwrap() error { return e.err }

func errorf(format string, args ...any) error {
	return &compileError{msg: "filter: " + fmt.Sprintf(format, args...)}
}

// fail aborts code generation with an error.
func fail(format string, args ...any) {
	panic(errorf(format, args...))
}

// unsupportedHere aborts code generation for a construct this package
// refuses to compile because it cannot match libpcap's behaviour.
func unsupportedHere(what string) {
	panic(&compileError{msg: fmt.Sprintf("filter: %s is not supported", what)})
}

// unsupportedSavefile aborts code generation for a construct that only
// a live capture can evaluate: libpcap refuses it for savefiles and
// compiles it for a live Linux socket (Options.Live).
func unsupportedSavefile(what string) {
	panic(&compileError{msg: fmt.Sprintf("filter: %s is not supported on stored packets (only a live capture, Options.Live, can test it)", what), liveOnly: true})
}

// Internal link-layer types (libpcap's DLT_ values the code generator
// distinguishes).
type dlt int

const (
	dltNone dlt = iota
	dltEN10MB
	dltNull
	dltLoop
	dltRaw
	dltIPv4
	dltIPv6
	dltSLL
	dltSLL2
	dltPPP // only as the inner link type of PPPoE
)

// offNotSet marks an offset that does not exist for the link type.
const offNotSet = ^uint32(0)

// absOffset is an offset from the start of the packet: a constant part
// plus, if isVariable, the value of scratch register reg.
type absOffset struct {
	constPart  uint32
	isVariable bool
	reg        int
}

// offrel says what an offset in a load is relative to.
type offrel int

const (
	orPacket offrel = iota
	orLinkhdr
	orPrevlinkhdr
	orLLC
	orPrevMPLShdr
	orLinkpl
	orLinkplNosnap
	orLinktype
	orTranIPv4
	orTranIPv6
)

// Ethernet types, LLC SAPs and other protocol constants.
const (
	ethertypeIP       = 0x0800
	ethertypeARP      = 0x0806
	ethertypeNS       = 0x0600
	ethertypeMOPDL    = 0x6001
	ethertypeMOPRC    = 0x6002
	ethertypeDN       = 0x6003
	ethertypeLAT      = 0x6004
	ethertypeSCA      = 0x6007
	ethertypeTEB      = 0x6558
	ethertypeREVARP   = 0x8035
	ethertypeATALK    = 0x809b
	ethertypeAARP     = 0x80f3
	ethertype8021Q    = 0x8100
	ethertypeIPX      = 0x8137
	ethertypeIPv6     = 0x86dd
	ethertypeMPLS     = 0x8847
	ethertypePPPOED   = 0x8863
	ethertypePPPOES   = 0x8864
	ethertype8021AD   = 0x88a8
	ethertypeLoopback = 0x9000
	ethertype8021QINQ = 0x9100
	ethermtu          = 1500

	llcsapIP      = 0x06
	llcsap8021D   = 0x42
	llcsapSNAP    = 0xaa
	llcsapIPX     = 0xe0
	llcsapNetbeui = 0xf0
	llcsapISONS   = 0xfe

	sllP8023    = 0x0001
	sllP8022    = 0x0004
	sllOutgoing = 4

	pppIP        = 0x0021
	pppOSI       = 0x0023
	pppNS        = 0x0025
	pppDECNET    = 0x0027
	pppApple     = 0x0029
	pppIPX       = 0x002b
	pppBRPDU     = 0x0031
	pppIPv6      = 0x0057
	pppMPLSUcast = 0x0281

	ipprotoHopopts  = 0
	ipprotoICMP     = 1
	ipprotoIGMP     = 2
	ipprotoTCP      = 6
	ipprotoIGRP     = 9
	ipprotoUDP      = 17
	ipprotoRouting  = 43
	ipprotoFragment = 44
	ipprotoESP      = 50
	ipprotoAH       = 51
	ipprotoICMPv6   = 58
	ipprotoNone     = 59
	ipprotoDstopts  = 60
	ipprotoPIM      = 103
	ipprotoVRRP     = 112
	ipprotoCARP     = 112
	ipprotoSCTP     = 132
	protoUndef      = -1

	isoCLNP = 0x81
	isoESIS = 0x82
	isoISIS = 0x83

	isisL1LanIIH = 15
	isisL2LanIIH = 16
	isisPtpIIH   = 17
	isisL1LSP    = 18
	isisL2LSP    = 20
	isisL1CSNP   = 24
	isisL2CSNP   = 25
	isisL1PSNP   = 26
	isisL2PSNP   = 27

	genevePort = 6081

	afInet = 2
	// The AF_INET6 values a savefile may carry on DLT_NULL/DLT_LOOP.
	afInet6BSD     = 24
	afInet6FreeBSD = 28
	afInet6Darwin  = 30
	afInet6Linux   = 10
)

// gen holds the code generator's state (libpcap's compiler_state_t).
type gen struct {
	snaplen uint32

	outermostlinktype, prevlinktype, linktype dlt
	offOutermostlinkhdr, offPrevlinkhdr       absOffset
	offLinkhdr, offLinkpl, offLinktype        absOffset
	offNl, offNlNosnap                        uint32

	isGeneve        bool
	labelStackDepth int
	vlanStackDepth  int
	noOptimize      bool

	// deadHandle compiles as for a live capture or pcap_open_dead (what
	// "tcpdump -y" does) rather than for a savefile: DLT_NULL/DLT_LOOP
	// IPv6 then matches only Linux's AF_INET6. Used by tests.
	deadHandle bool

	// emulateOpt applies the effects of libpcap's optimizer that change
	// which packet loads are done: comparisons it decides at compile
	// time lose their loads. Off only to reproduce libpcap's
	// unoptimized code byte for byte in tests.
	emulateOpt bool

	// live compiles for a live capture on a Linux AF_PACKET socket, as
	// libpcap does for a pcap_t it opened on an interface: "vlan" tests
	// the tag the kernel moved into socket metadata (as well as a tag
	// still in the frame), "inbound", "outbound" and "ifindex" read
	// socket metadata. Those use the kernel's ancillary loads
	// (SKF_AD_OFF + n), which only the kernel can run.
	live bool
	// kernel generates code the kernel accepts: protochain's loop is
	// unrolled (KernelProtochainHeaders) instead of jumping backward.
	kernel bool
	// isVlanVloffset: a "vlan" compiled with ancillary loads made the
	// link-layer type and payload offsets variable; their registers are
	// zeroed at the start of the program (insert_compute_vloffsets).
	isVlanVloffset bool

	regused [memWords]bool
	curreg  int

	// names resolves host names; netmask is the capture's IPv4 netmask
	// for "ip broadcast" (hasNetmask false: not known).
	names      *names
	netmask    uint32
	hasNetmask bool

	// Raw ATM (SunATM) field offsets and the SS7 field offsets of the
	// MTP2 link types (linklayer.go); offNotSet where absent.
	isATM                                bool
	offVPI, offVCI, offProto, offPayload uint32
	mtp                                  mtpOffsets
}

func newGen(lt dlt, snaplen uint32) *gen {
	g := &gen{snaplen: snaplen, linktype: lt, emulateOpt: true}
	zero := absOffset{reg: -1}
	g.offLinkhdr, g.offLinkpl, g.offLinktype = zero, zero, zero
	switch lt {
	case dltEN10MB:
		g.offLinktype.constPart = 12
		g.offLinkpl.constPart = 14
		g.offNl, g.offNlNosnap = 0, 3
	case dltNull, dltLoop:
		g.offLinktype.constPart = 0
		g.offLinkpl.constPart = 4
	case dltRaw, dltIPv4, dltIPv6:
		g.offLinktype.constPart = offNotSet
		g.offLinkpl.constPart = 0
	case dltSLL:
		g.offLinktype.constPart = 14
		g.offLinkpl.constPart = 16
	case dltSLL2:
		g.offLinktype.constPart = 0
		g.offLinkpl.constPart = 20
	default:
		g.initOtherLink(lt)
	}
	g.outermostlinktype, g.prevlinktype = lt, lt
	g.offOutermostlinkhdr, g.offPrevlinkhdr = g.offLinkhdr, g.offLinkhdr
	return g
}

// Scratch register allocation, round-robin as in libpcap.
func (g *gen) allocReg() int {
	for n := 0; n < memWords; n++ {
		if !g.regused[g.curreg] {
			g.regused[g.curreg] = true
			return g.curreg
		}
		g.curreg = (g.curreg + 1) % memWords
	}
	fail("too many registers needed to evaluate expression")
	return 0
}

func (g *gen) freeReg(n int) { g.regused[n] = false }

// absOffsetVarpart returns code loading the variable part of off into X,
// or nil if off is constant.
func (g *gen) absOffsetVarpart(off *absOffset) []*stmt {
	if !off.isVariable {
		return nil
	}
	if off.reg == -1 {
		off.reg = g.allocReg()
	}
	return []*stmt{newStmt(clsLDX|modeMEM, uint32(off.reg))}
}

func (g *gen) loadAbsOffsetRel(off *absOffset, offset uint32, size uint16) []*stmt {
	if s := g.absOffsetVarpart(off); s != nil {
		return append(s, newStmt(clsLD|modeIND|size, off.constPart+offset))
	}
	return []*stmt{newStmt(clsLD|modeABS|size, off.constPart+offset)}
}

// loadA returns code loading the field at offset (relative to rel) into A.
func (g *gen) loadA(rel offrel, offset uint32, size uint16) []*stmt {
	switch rel {
	case orPacket:
		return []*stmt{newStmt(clsLD|modeABS|size, offset)}
	case orLinkhdr:
		return g.loadAbsOffsetRel(&g.offLinkhdr, offset, size)
	case orPrevlinkhdr:
		return g.loadAbsOffsetRel(&g.offPrevlinkhdr, offset, size)
	case orLLC:
		return g.loadAbsOffsetRel(&g.offLinkpl, offset, size)
	case orPrevMPLShdr:
		return g.loadAbsOffsetRel(&g.offLinkpl, g.offNl-4+offset, size)
	case orLinkpl:
		return g.loadAbsOffsetRel(&g.offLinkpl, g.offNl+offset, size)
	case orLinkplNosnap:
		return g.loadAbsOffsetRel(&g.offLinkpl, g.offNlNosnap+offset, size)
	case orLinktype:
		return g.loadAbsOffsetRel(&g.offLinktype, offset, size)
	case orTranIPv4:
		s := g.loadxIPHdrLen()
		return append(s, newStmt(clsLD|modeIND|size, g.offLinkpl.constPart+g.offNl+offset))
	case orTranIPv6:
		return g.loadAbsOffsetRel(&g.offLinkpl, g.offNl+40+offset, size)
	}
	panic("bad offrel")
}

// loadxIPHdrLen loads X with the IPv4 header length (plus the variable
// part of the link-layer payload offset).
func (g *gen) loadxIPHdrLen() []*stmt {
	if s := g.absOffsetVarpart(&g.offLinkpl); s != nil {
		return append(s,
			newStmt(clsLD|modeIND|szB, g.offLinkpl.constPart+g.offNl),
			newStmt(clsALU|aluAND|srcK, 0xf),
			newStmt(clsALU|aluLSH|srcK, 2),
			newStmt(clsALU|aluADD|srcX, 0),
			newStmt(clsMISC|miscTAX, 0))
	}
	return []*stmt{newStmt(clsLDX|modeMSH|szB, g.offLinkpl.constPart+g.offNl)}
}

func jmp(op uint16) uint16 { return clsJMP | op | srcK }

// ncmp: (field & mask) <jtype> v, negated if reverse (for > and >= only).
func (g *gen) ncmp(rel offrel, offset uint32, size uint16, mask uint32, jtype uint16, reverse bool, v uint32) *block {
	if mask == 0 && g.emulateOpt {
		// "field & 0 == v": libpcap's optimizer turns the AND into a
		// constant 0, decides the test and drops the load.
		return g.uncond(jtype == jmpJEQ && v == 0 != reverse)
	}
	s := g.loadA(rel, offset, size)
	if mask != 0xffffffff {
		s = append(s, newStmt(clsALU|aluAND|srcK, mask))
	}
	b := newBlock(jmp(jtype), v, s...)
	if reverse && (jtype == jmpJGT || jtype == jmpJGE) {
		genNot(b)
	}
	return b
}

func (g *gen) cmp(rel offrel, offset uint32, size uint16, v uint32) *block {
	return g.ncmp(rel, offset, size, 0xffffffff, jmpJEQ, false, v)
}
func (g *gen) cmpGT(rel offrel, offset uint32, size uint16, v uint32) *block {
	return g.ncmp(rel, offset, size, 0xffffffff, jmpJGT, false, v)
}
func (g *gen) cmpGE(rel offrel, offset uint32, size uint16, v uint32) *block {
	return g.ncmp(rel, offset, size, 0xffffffff, jmpJGE, false, v)
}
func (g *gen) cmpLT(rel offrel, offset uint32, size uint16, v uint32) *block {
	return g.ncmp(rel, offset, size, 0xffffffff, jmpJGE, true, v)
}
func (g *gen) cmpLE(rel offrel, offset uint32, size uint16, v uint32) *block {
	return g.ncmp(rel, offset, size, 0xffffffff, jmpJGT, true, v)
}
func (g *gen) mcmp(rel offrel, offset uint32, size uint16, v, mask uint32) *block {
	return g.ncmp(rel, offset, size, mask, jmpJEQ, false, v)
}

// bcmp compares a byte string, last word first as libpcap does.
func (g *gen) bcmp(rel offrel, offset uint32, v []byte) *block {
	var b *block
	size := uint32(len(v))
	for size >= 4 {
		p := v[size-4:]
		tmp := g.cmp(rel, offset+size-4, szW, uint32(p[0])<<24|uint32(p[1])<<16|uint32(p[2])<<8|uint32(p[3]))
		if b != nil {
			genAnd(b, tmp)
		}
		b = tmp
		size -= 4
	}
	for size >= 2 {
		p := v[size-2:]
		tmp := g.cmp(rel, offset+size-2, szH, uint32(p[0])<<8|uint32(p[1]))
		if b != nil {
			genAnd(b, tmp)
		}
		b = tmp
		size -= 2
	}
	if size > 0 {
		tmp := g.cmp(rel, offset, szB, uint32(v[0]))
		if b != nil {
			genAnd(b, tmp)
		}
		b = tmp
	}
	return b
}

// uncond is an always-true (or always-false) test.
func (g *gen) uncond(rsense bool) *block {
	k := uint32(0)
	if !rsense {
		k = 1
	}
	return newBlock(jmp(jmpJEQ), 0, newStmt(clsLD|modeIMM, k))
}

func (g *gen) genTrue() *block  { return g.uncond(true) }
func (g *gen) genFalse() *block { return g.uncond(false) }

func swapLong(y uint32) uint32 {
	return (y&0xff)<<24 | (y&0xff00)<<8 | (y&0xff0000)>>8 | (y>>24)&0xff
}

// etherLinktype matches an Ethernet type (> 1500) or an LLC SAP (<= 1500)
// on Ethernet.
func (g *gen) etherLinktype(llProto uint32) *block {
	switch llProto {
	case llcsapISONS, llcsapIP, llcsapNetbeui:
		b0 := g.cmpGT(orLinktype, 0, szH, ethermtu)
		genNot(b0)
		b1 := g.cmp(orLLC, 0, szH, llProto<<8|llProto)
		genAnd(b0, b1)
		return b1
	case llcsapIPX:
		b0 := g.cmp(orLLC, 0, szB, llcsapIPX)
		b1 := g.cmp(orLLC, 0, szH, 0xffff)
		genOr(b0, b1)
		b0 = g.snap(0x000000, ethertypeIPX)
		genOr(b0, b1)
		b0 = g.cmpGT(orLinktype, 0, szH, ethermtu)
		genNot(b0)
		genAnd(b0, b1)
		b0 = g.cmp(orLinktype, 0, szH, ethertypeIPX)
		genOr(b0, b1)
		return b1
	case ethertypeATALK, ethertypeAARP:
		b0 := g.cmpGT(orLinktype, 0, szH, ethermtu)
		genNot(b0)
		b1 := g.atalkSnap(llProto)
		genAnd(b0, b1)
		b0 = g.cmp(orLinktype, 0, szH, llProto)
		genOr(b0, b1)
		return b1
	}
	if llProto <= ethermtu {
		b0 := g.cmpGT(orLinktype, 0, szH, ethermtu)
		genNot(b0)
		b1 := g.cmp(orLinktype, 2, szB, llProto)
		genAnd(b0, b1)
		return b1
	}
	return g.cmp(orLinktype, 0, szH, llProto)
}

// loopbackLinktype matches the 4-byte address family header of
// DLT_NULL (host byte order; little-endian assumed, as for a savefile
// written on the same kind of machine) and DLT_LOOP (network order).
func (g *gen) loopbackLinktype(af uint32) *block {
	if g.linktype == dltNull || g.linktype == dltENC {
		af = swapLong(af)
	}
	return g.cmp(orLinkhdr, 0, szW, af)
}

// sllLinktype is linktype matching for Linux cooked captures (v1).
func (g *gen) sllLinktype(llProto uint32) *block {
	switch llProto {
	case llcsapISONS, llcsapIP, llcsapNetbeui:
		b0 := g.cmp(orLinktype, 0, szH, sllP8022)
		b1 := g.cmp(orLLC, 0, szH, llProto<<8|llProto)
		genAnd(b0, b1)
		return b1
	case llcsapIPX:
		b0 := g.cmp(orLLC, 0, szB, llcsapIPX)
		b1 := g.snap(0x000000, ethertypeIPX)
		genOr(b0, b1)
		b0 = g.cmp(orLinktype, 0, szH, sllP8022)
		genAnd(b0, b1)
		b0 = g.cmp(orLinktype, 0, szH, sllP8023)
		genOr(b0, b1)
		b0 = g.cmp(orLinktype, 0, szH, ethertypeIPX)
		genOr(b0, b1)
		return b1
	case ethertypeATALK, ethertypeAARP:
		b0 := g.cmp(orLinktype, 0, szH, sllP8022)
		b1 := g.atalkSnap(llProto)
		genAnd(b0, b1)
		b0 = g.cmp(orLinktype, 0, szH, llProto)
		genOr(b0, b1)
		return b1
	}
	if llProto <= ethermtu {
		b0 := g.cmp(orLinktype, 0, szH, sllP8022)
		b1 := g.cmp(orLinkhdr, g.offLinkpl.constPart, szB, llProto)
		genAnd(b0, b1)
		return b1
	}
	return g.cmp(orLinktype, 0, szH, llProto)
}

func ethertypeToPPPType(p uint32) uint32 {
	switch p {
	case ethertypeIP:
		return pppIP
	case ethertypeIPv6:
		return pppIPv6
	case ethertypeDN:
		return pppDECNET
	case ethertypeATALK:
		return pppApple
	case ethertypeNS:
		return pppNS
	case llcsapISONS:
		return pppOSI
	case llcsap8021D:
		return pppBRPDU
	case llcsapIPX:
		return pppIPX
	}
	return p
}

// prevLinkhdrCheck: tests needed for a link layer encapsulated in
// another protocol (only Geneve among the link types handled here).
func (g *gen) prevLinkhdrCheck() *block {
	if g.isGeneve {
		return g.geneveLLCheck()
	}
	if g.prevlinktype == dltSunATM {
		// LANE: data, not an LE Control frame.
		b0 := g.cmp(orPrevlinkhdr, sunatmPktBeginPos, szH, 0xff00)
		genNot(b0)
		return b0
	}
	return nil
}

// linktype matches packets whose link-layer type field says llProto (an
// Ethernet type or an LLC SAP).
func (g *gen) linktypeCheck(llProto uint32) *block {
	if g.labelStackDepth > 0 {
		return g.mplsLinktype(llProto)
	}
	switch g.linktype {
	case dltEN10MB, dltNetAnalyzer, dltNetAnalyzerTransparent:
		var b0 *block
		if !g.isGeneve {
			b0 = g.prevLinkhdrCheck()
		}
		b1 := g.etherLinktype(llProto)
		if b0 != nil {
			genAnd(b0, b1)
		}
		return b1
	case dltSLL:
		return g.sllLinktype(llProto)
	case dltRaw:
		switch llProto {
		case ethertypeIP:
			return g.mcmp(orLinkhdr, 0, szB, 0x40, 0xf0)
		case ethertypeIPv6:
			return g.mcmp(orLinkhdr, 0, szB, 0x60, 0xf0)
		}
		return g.genFalse()
	case dltIPv4:
		if llProto == ethertypeIP {
			return g.genTrue()
		}
		return g.genFalse()
	case dltIPv6:
		if llProto == ethertypeIPv6 {
			return g.genTrue()
		}
		return g.genFalse()
	case dltPPP:
		return g.cmp(orLinktype, 0, szH, ethertypeToPPPType(llProto))
	case dltNull, dltLoop, dltENC:
		switch llProto {
		case ethertypeIP:
			return g.loopbackLinktype(afInet)
		case ethertypeIPv6:
			if g.deadHandle {
				return g.loopbackLinktype(afInet6Linux)
			}
			b0 := g.loopbackLinktype(afInet6BSD)
			b1 := g.loopbackLinktype(afInet6FreeBSD)
			genOr(b0, b1)
			b0 = g.loopbackLinktype(afInet6Darwin)
			genOr(b0, b1)
			return b1
		}
		return g.genFalse()
	}
	if b, ok := g.otherLinktypeCheck(llProto); ok {
		return b
	}
	// DLT_LINUX_SLL2 has no case of its own in libpcap 1.10.3: the
	// default compares the 2-byte type field with the Ethernet type.
	if g.offLinktype.constPart != offNotSet {
		return g.cmp(orLinktype, 0, szH, llProto)
	}
	fail("link-layer type filtering not implemented")
	return nil
}

// atalkSnap matches the SNAP encapsulation of llProto, ethertypeATALK
// (AppleTalk Phase 2, under Apple's OUI 0x080007) or ethertypeAARP
// (under OUI 0).
func (g *gen) atalkSnap(llProto uint32) *block {
	if llProto == ethertypeATALK {
		return g.snap(0x080007, ethertypeATALK)
	}
	return g.snap(0x000000, ethertypeAARP)
}

// snap matches an 802.2 LLC/SNAP header with the given OUI and type.
func (g *gen) snap(orgcode, ptype uint32) *block {
	v := []byte{llcsapSNAP, llcsapSNAP, 0x03,
		byte(orgcode >> 16), byte(orgcode >> 8), byte(orgcode),
		byte(ptype >> 8), byte(ptype)}
	return g.bcmp(orLLC, 0, v)
}

// llcCheck matches frames with an 802.2 LLC header.
func (g *gen) llcCheck() *block {
	switch {
	case g.linktype == dltSunATM:
		return g.atmtypeLLC()
	case g.linktype == dltIEEE802, g.linktype == dltFDDI, g.linktype == dltATMRFC1483:
		return g.genTrue()
	case is80211(g.linktype):
		return g.check80211DataFrame()
	case g.linktype != dltEN10MB:
		fail("'llc' not supported for %s", g.describeLink())
	}
	b0 := g.cmpGT(orLinktype, 0, szH, ethermtu)
	genNot(b0)
	b1 := g.cmp(orLLC, 0, szH, 0xffff)
	genNot(b1)
	genAnd(b0, b1)
	return b1
}

var llcSSubtypes = map[string]uint32{"rr": 0x01, "rnr": 0x05, "rej": 0x09}
var llcUSubtypes = map[string]uint32{"ui": 0x03, "ua": 0x63, "disc": 0x43,
	"dm": 0x0f, "sabme": 0x6f, "test": 0xe3, "xid": 0xaf, "frmr": 0x87}

func (g *gen) llc(name string) *block {
	lower := toLower(name)
	switch {
	case name == "":
		return g.llcCheck()
	case lower == "i":
		b0 := g.llcCheck()
		b1 := newBlock(jmp(jmpJSET), 0x01, g.loadA(orLLC, 2, szB)...)
		genNot(b1)
		genAnd(b0, b1)
		return b1
	case lower == "s":
		b0 := g.llcCheck()
		b1 := g.mcmp(orLLC, 2, szB, 1, 0x03)
		genAnd(b0, b1)
		return b1
	case lower == "u":
		b0 := g.llcCheck()
		b1 := g.mcmp(orLLC, 2, szB, 3, 0x03)
		genAnd(b0, b1)
		return b1
	}
	if v, ok := llcSSubtypes[lower]; ok {
		b0 := g.llcCheck()
		b1 := g.mcmp(orLLC, 2, szB, v, 0x0f)
		genAnd(b0, b1)
		return b1
	}
	if v, ok := llcUSubtypes[lower]; ok {
		b0 := g.llcCheck()
		b1 := g.mcmp(orLLC, 2, szB, v, 0xef)
		genAnd(b0, b1)
		return b1
	}
	fail("unknown LLC type name %q", name)
	return nil
}

func toLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// dirError reports an 802.11-only direction qualifier.
func dirError(dir int, what string) {
	names := map[int]string{dAddr1: "'addr1' and 'address1' are", dAddr2: "'addr2' and 'address2' are",
		dAddr3: "'addr3' and 'address3' are", dAddr4: "'addr4' and 'address4' are",
		dRA: "'ra' is", dTA: "'ta' is"}
	fail("%s not valid qualifiers for %s", names[dir], what)
}

// andOr joins b0, the test on the source side, and b1, the test on the
// destination side, for a direction that names both: with "and" for
// dAnd, with "or" otherwise (dOr, dDefault). The arguments are generated in
// that order (source first), as in gencode.c. It returns b1, which now
// stands for both.
func andOr(dir int, b0, b1 *block) *block {
	if dir == dAnd {
		genAnd(b0, b1)
	} else {
		genOr(b0, b1)
	}
	return b1
}

// hostop matches an IPv4 address (under mask) at src/dst offsets of a
// network-layer header with the given link type.
func (g *gen) hostop(addr, mask uint32, dir int, llProto uint32, srcOff, dstOff uint32) *block {
	var offset uint32
	switch dir {
	case dSrc:
		offset = srcOff
	case dDst:
		offset = dstOff
	case dAnd, dDefault, dOr:
		return andOr(dir, g.hostop(addr, mask, dSrc, llProto, srcOff, dstOff), g.hostop(addr, mask, dDst, llProto, srcOff, dstOff))
	default:
		dirError(dir, "addresses other than 802.11 MAC addresses")
	}
	b0 := g.linktypeCheck(llProto)
	b1 := g.mcmp(orLinkpl, offset, szW, addr, mask)
	genAnd(b0, b1)
	return b1
}

func (g *gen) hostop6(addr, mask [16]byte, dir int, llProto uint32, srcOff, dstOff uint32) *block {
	var offset uint32
	switch dir {
	case dSrc:
		offset = srcOff
	case dDst:
		offset = dstOff
	case dAnd, dDefault, dOr:
		return andOr(dir, g.hostop6(addr, mask, dSrc, llProto, srcOff, dstOff), g.hostop6(addr, mask, dDst, llProto, srcOff, dstOff))
	default:
		dirError(dir, "addresses other than 802.11 MAC addresses")
	}
	word := func(b [16]byte, i int) uint32 {
		return uint32(b[4*i])<<24 | uint32(b[4*i+1])<<16 | uint32(b[4*i+2])<<8 | uint32(b[4*i+3])
	}
	b1 := g.mcmp(orLinkpl, offset+12, szW, word(addr, 3), word(mask, 3))
	b0 := g.mcmp(orLinkpl, offset+8, szW, word(addr, 2), word(mask, 2))
	genAnd(b0, b1)
	b0 = g.mcmp(orLinkpl, offset+4, szW, word(addr, 1), word(mask, 1))
	genAnd(b0, b1)
	b0 = g.mcmp(orLinkpl, offset+0, szW, word(addr, 0), word(mask, 0))
	genAnd(b0, b1)
	b0 = g.linktypeCheck(llProto)
	genAnd(b0, b1)
	return b1
}

// ehostop matches an Ethernet address.
func (g *gen) ehostop(eaddr []byte, dir int) *block {
	switch dir {
	case dSrc:
		return g.bcmp(orLinkhdr, 6, eaddr)
	case dDst:
		return g.bcmp(orLinkhdr, 0, eaddr)
	case dAnd, dDefault, dOr:
		return andOr(dir, g.ehostop(eaddr, dSrc), g.ehostop(eaddr, dDst))
	}
	fail("802.11 address qualifiers are only supported on 802.11 with 802.11 headers")
	return nil
}

// dnhostop matches a DECnet address.
func (g *gen) dnhostop(addr uint32, dir int) *block {
	var offsetSh, offsetLh uint32
	switch dir {
	case dDst:
		offsetSh, offsetLh = 1, 7
	case dSrc:
		offsetSh, offsetLh = 3, 15
	case dAnd, dDefault, dOr:
		return andOr(dir, g.dnhostop(addr, dSrc), g.dnhostop(addr, dDst))
	default:
		dirError(dir, "addresses other than 802.11 MAC addresses")
	}
	// ntohs on a little-endian host: the address is compared
	// byte-swapped.
	swapped := (addr&0xff)<<8 | (addr>>8)&0xff
	b0 := g.linktypeCheck(ethertypeDN)
	tmp := g.mcmp(orLinkpl, 2, szH, 0x8106, 0xff07)
	b1 := g.cmp(orLinkpl, 2+1+offsetLh, szH, swapped)
	genAnd(tmp, b1)
	tmp = g.mcmp(orLinkpl, 2, szB, 0x06, 0x7)
	b2 := g.cmp(orLinkpl, 2+offsetLh, szH, swapped)
	genAnd(tmp, b2)
	genOr(b2, b1)
	tmp = g.mcmp(orLinkpl, 2, szH, 0x8102, 0xff07)
	b2 = g.cmp(orLinkpl, 2+1+offsetSh, szH, swapped)
	genAnd(tmp, b2)
	genOr(b2, b1)
	tmp = g.mcmp(orLinkpl, 2, szB, 0x02, 0x7)
	b2 = g.cmp(orLinkpl, 2+offsetSh, szH, swapped)
	genAnd(tmp, b2)
	genOr(b2, b1)
	genAnd(b0, b1)
	return b1
}

// mplsLinktype checks for IPv4/IPv6 inside MPLS.
func (g *gen) mplsLinktype(llProto uint32) *block {
	var v uint32
	switch llProto {
	case ethertypeIP:
		v = 0x40
	case ethertypeIPv6:
		v = 0x60
	default:
		fail("unsupported protocol over mpls")
	}
	b0 := g.mcmp(orLinkpl, ^uint32(1), szB, 0x01, 0x01) // offset -2
	b1 := g.mcmp(orLinkpl, 0, szB, v, 0xf0)
	genAnd(b0, b1)
	return b1
}

// host matches an IPv4 host or network for a protocol qualifier.
func (g *gen) host(addr, mask uint32, proto, dir, typ int) *block {
	typestr := "host"
	if typ == aNet {
		typestr = "net"
	}
	switch proto {
	case qDefault:
		b0 := g.host(addr, mask, qIP, dir, typ)
		if g.labelStackDepth == 0 {
			b1 := g.host(addr, mask, qARP, dir, typ)
			genOr(b0, b1)
			b0 = g.host(addr, mask, qRARP, dir, typ)
			genOr(b1, b0)
		}
		return b0
	case qLink:
		fail("link-layer modifier applied to %s", typestr)
	case qIP:
		return g.hostop(addr, mask, dir, ethertypeIP, 12, 16)
	case qRARP:
		return g.hostop(addr, mask, dir, ethertypeREVARP, 14, 24)
	case qARP:
		return g.hostop(addr, mask, dir, ethertypeARP, 14, 24)
	case qDecnet:
		return g.dnhostop(addr, dir)
	case qAtalk:
		fail("AppleTalk host filtering not implemented")
	case qLAT, qSCA, qMOPRC, qMOPDL, qAARP, qISO, qIPX:
		fail("%s host filtering not implemented", upper(protoNames[proto]))
	case qIPv6:
		fail("'ip6' modifier applied to ip host")
	}
	fail("'%s' modifier applied to %s", protoNames[proto], typestr)
	return nil
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

func (g *gen) host6(addr, mask [16]byte, proto, dir, typ int) *block {
	typestr := "host"
	if typ == aNet {
		typestr = "net"
	}
	switch proto {
	case qDefault, qIPv6:
		return g.hostop6(addr, mask, dir, ethertypeIPv6, 8, 24)
	case qLink:
		fail("link-layer modifier applied to ip6 %s", typestr)
	}
	fail("'%s' modifier applied to ip6 %s", protoNames[proto], typestr)
	return nil
}

// protoAbbrev is a bare protocol name ("tcp", "arp", "ip6", ...).
func (g *gen) protoAbbrev(proto int) *block {
	var b1 *block
	switch proto {
	case qSCTP:
		b1 = g.proto(ipprotoSCTP, qDefault, dDefault)
	case qTCP:
		b1 = g.proto(ipprotoTCP, qDefault, dDefault)
	case qUDP:
		b1 = g.proto(ipprotoUDP, qDefault, dDefault)
	case qICMP:
		b1 = g.proto(ipprotoICMP, qIP, dDefault)
	case qIGMP:
		b1 = g.proto(ipprotoIGMP, qIP, dDefault)
	case qIGRP:
		b1 = g.proto(ipprotoIGRP, qIP, dDefault)
	case qPIM:
		b1 = g.proto(ipprotoPIM, qDefault, dDefault)
	case qVRRP:
		b1 = g.proto(ipprotoVRRP, qIP, dDefault)
	case qCARP:
		b1 = g.proto(ipprotoCARP, qIP, dDefault)
	case qIP:
		b1 = g.linktypeCheck(ethertypeIP)
	case qARP:
		b1 = g.linktypeCheck(ethertypeARP)
	case qRARP:
		b1 = g.linktypeCheck(ethertypeREVARP)
	case qLink:
		fail("link layer applied in wrong context")
	case qAtalk:
		b1 = g.linktypeCheck(ethertypeATALK)
	case qAARP:
		b1 = g.linktypeCheck(ethertypeAARP)
	case qDecnet:
		b1 = g.linktypeCheck(ethertypeDN)
	case qSCA:
		b1 = g.linktypeCheck(ethertypeSCA)
	case qLAT:
		b1 = g.linktypeCheck(ethertypeLAT)
	case qMOPDL:
		b1 = g.linktypeCheck(ethertypeMOPDL)
	case qMOPRC:
		b1 = g.linktypeCheck(ethertypeMOPRC)
	case qIPv6:
		b1 = g.linktypeCheck(ethertypeIPv6)
	case qICMPv6:
		b1 = g.proto(ipprotoICMPv6, qIPv6, dDefault)
	case qAH:
		b1 = g.proto(ipprotoAH, qDefault, dDefault)
	case qESP:
		b1 = g.proto(ipprotoESP, qDefault, dDefault)
	case qISO:
		b1 = g.linktypeCheck(llcsapISONS)
	case qESIS:
		b1 = g.proto(isoESIS, qISO, dDefault)
	case qISIS:
		b1 = g.proto(isoISIS, qISO, dDefault)
	case qISISL1, qISISL2, qISISIIH, qISISLSP, qISISSNP, qISISCSNP, qISISPSNP:
		var types []uint32
		switch proto {
		case qISISL1:
			types = []uint32{isisL1LanIIH, isisPtpIIH, isisL1LSP, isisL1CSNP, isisL1PSNP}
		case qISISL2:
			types = []uint32{isisL2LanIIH, isisPtpIIH, isisL2LSP, isisL2CSNP, isisL2PSNP}
		case qISISIIH:
			types = []uint32{isisL1LanIIH, isisL2LanIIH, isisPtpIIH}
		case qISISLSP:
			types = []uint32{isisL1LSP, isisL2LSP}
		case qISISSNP:
			types = []uint32{isisL1CSNP, isisL2CSNP, isisL1PSNP, isisL2PSNP}
		case qISISCSNP:
			types = []uint32{isisL1CSNP, isisL2CSNP}
		case qISISPSNP:
			types = []uint32{isisL1PSNP, isisL2PSNP}
		}
		b0 := g.proto(types[0], qISIS, dDefault)
		b1 = g.proto(types[1], qISIS, dDefault)
		genOr(b0, b1)
		for _, t := range types[2:] {
			b0 = g.proto(t, qISIS, dDefault)
			genOr(b0, b1)
		}
	case qCLNP:
		b1 = g.proto(isoCLNP, qISO, dDefault)
	case qSTP:
		b1 = g.linktypeCheck(llcsap8021D)
	case qIPX:
		b1 = g.linktypeCheck(llcsapIPX)
	case qNetbeui:
		b1 = g.linktypeCheck(llcsapNetbeui)
	case qRadio:
		fail("'radio' is not a valid protocol type")
	default:
		fail("unknown protocol qualifier")
	}
	return b1
}

// ipfrag: not an IPv4 fragment other than the first.
func (g *gen) ipfrag() *block {
	b := newBlock(jmp(jmpJSET), 0x1fff, g.loadA(orLinkpl, 6, szH)...)
	genNot(b)
	return b
}

// portAtom tests the transport-layer port field at off (0 for the source
// port, 2 for the destination port) relative to rel: equality with one
// port for "port", a closed interval for "portrange".
type portAtom func(rel offrel, off uint32) *block

// singlePort is the portAtom of "port": the field equals port.
func (g *gen) singlePort(port uint32) portAtom {
	return func(rel offrel, off uint32) *block {
		return g.cmp(rel, off, szH, port)
	}
}

// rangePorts is the portAtom of "portrange": the field lies in [p1, p2].
func (g *gen) rangePorts(p1, p2 uint32) portAtom {
	return func(rel offrel, off uint32) *block {
		return g.portrangeAtom(rel, off, p1, p2)
	}
}

// portop: ip proto proto, not a later fragment, and the port field(s)
// selected by dir match atom. what names the qualifier in a direction
// error ("ports", "port ranges").
func (g *gen) portop(atom portAtom, what string, proto uint32, dir int) *block {
	tmp := g.cmp(orLinkpl, 9, szB, proto)
	b0 := g.ipfrag()
	genAnd(tmp, b0)
	var b1 *block
	switch dir {
	case dSrc:
		b1 = atom(orTranIPv4, 0)
	case dDst:
		b1 = atom(orTranIPv4, 2)
	case dAnd, dDefault, dOr:
		b1 = andOr(dir, atom(orTranIPv4, 0), atom(orTranIPv4, 2))
	default:
		dirError(dir, what)
	}
	genAnd(b0, b1)
	return b1
}

// portop6: ip6 next header proto and the port field(s) selected by dir
// match atom. Unlike portop, any other direction is treated as "or".
func (g *gen) portop6(atom portAtom, proto uint32, dir int) *block {
	b0 := g.cmp(orLinkpl, 6, szB, proto)
	var b1 *block
	switch dir {
	case dSrc:
		b1 = atom(orTranIPv6, 0)
	case dDst:
		b1 = atom(orTranIPv6, 2)
	default:
		b1 = andOr(dir, atom(orTranIPv6, 0), atom(orTranIPv6, 2))
	}
	genAnd(b0, b1)
	return b1
}

// portProtos: the link type is ethertype, and op holds for ipProto, or for
// TCP, UDP or SCTP when no transport protocol was given.
func (g *gen) portProtos(ethertype uint32, ipProto int, op func(proto uint32) *block) *block {
	b0 := g.linktypeCheck(ethertype)
	var b1 *block
	if ipProto == protoUndef {
		tmp := op(ipprotoTCP)
		b1 = op(ipprotoUDP)
		genOr(tmp, b1)
		tmp = op(ipprotoSCTP)
		genOr(tmp, b1)
	} else {
		b1 = op(uint32(ipProto))
	}
	genAnd(b0, b1)
	return b1
}

func (g *gen) port(port uint32, ipProto int, dir int) *block {
	return g.portProtos(ethertypeIP, ipProto, func(proto uint32) *block {
		return g.portop(g.singlePort(port), "ports", proto, dir)
	})
}

func (g *gen) port6(port uint32, ipProto int, dir int) *block {
	return g.portProtos(ethertypeIPv6, ipProto, func(proto uint32) *block {
		return g.portop6(g.singlePort(port), proto, dir)
	})
}

func (g *gen) portrangeAtom(rel offrel, off uint32, v1, v2 uint32) *block {
	if v1 > v2 {
		v1, v2 = v2, v1
	}
	b1 := g.cmpGE(rel, off, szH, v1)
	b2 := g.cmpLE(rel, off, szH, v2)
	genAnd(b1, b2)
	return b2
}

func (g *gen) portrange(p1, p2 uint32, ipProto int, dir int) *block {
	return g.portProtos(ethertypeIP, ipProto, func(proto uint32) *block {
		return g.portop(g.rangePorts(p1, p2), "port ranges", proto, dir)
	})
}

func (g *gen) portrange6(p1, p2 uint32, ipProto int, dir int) *block {
	return g.portProtos(ethertypeIPv6, ipProto, func(proto uint32) *block {
		return g.portop6(g.rangePorts(p1, p2), proto, dir)
	})
}

// proto matches the "protocol" field of the header named by proto
// ("ip proto 6", "ip6 proto 17", "ether proto 0x800", ...).
func (g *gen) proto(v uint32, proto int, dir int) *block {
	if dir != dDefault {
		fail("direction applied to 'proto'")
	}
	switch proto {
	case qDefault:
		b0 := g.proto(v, qIP, dir)
		b1 := g.proto(v, qIPv6, dir)
		genOr(b0, b1)
		return b1
	case qLink:
		return g.linktypeCheck(v)
	case qIP:
		b0 := g.linktypeCheck(ethertypeIP)
		b1 := g.cmp(orLinkpl, 9, szB, v)
		genAnd(b0, b1)
		return b1
	case qIPv6:
		b0 := g.linktypeCheck(ethertypeIPv6)
		b2 := g.cmp(orLinkpl, 6, szB, ipprotoFragment)
		b1 := g.cmp(orLinkpl, 40, szB, v)
		genAnd(b2, b1)
		b2 = g.cmp(orLinkpl, 6, szB, v)
		genOr(b2, b1)
		genAnd(b0, b1)
		return b1
	case qISO:
		switch g.linktype {
		case dltFrelay:
			return g.cmp(orLinkhdr, 2, szH, 0x03<<8|v)
		case dltCHDLC:
			b0 := g.linktypeCheck(llcsapISONS<<8 | llcsapISONS)
			b1 := g.cmp(orLinkplNosnap, 1, szB, v)
			genAnd(b0, b1)
			return b1
		}
		b0 := g.linktypeCheck(llcsapISONS)
		b1 := g.cmp(orLinkplNosnap, 0, szB, v)
		genAnd(b0, b1)
		return b1
	case qISIS:
		b0 := g.proto(isoISIS, qISO, dDefault)
		b1 := g.cmp(orLinkplNosnap, 4, szB, v)
		genAnd(b0, b1)
		return b1
	case qARP, qRARP, qLAT, qSCA, qMOPRC, qMOPDL:
		fail("%s does not encapsulate another protocol", protoNames[proto])
	case qAtalk:
		fail("AppleTalk encapsulation is not specifiable")
	case qDecnet:
		fail("DECNET encapsulation is not specifiable")
	case qCLNP:
		fail("'clnp proto' is not supported")
	}
	fail("'%s proto' is bogus", protoNames[proto])
	return nil
}

// broadcast: "ether broadcast" (or plain "broadcast").
func (g *gen) broadcast(proto int) *block {
	switch proto {
	case qDefault, qLink:
		switch {
		case g.linktype == dltArcnet || g.linktype == dltArcnetLinux:
			return g.ahostop([]byte{0}, dDst)
		case !isEthernet(g.linktype):
			if b, ok := g.linkHostop([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, dDst); ok {
				return b
			}
			fail("not a broadcast link")
		}
		b1 := g.prevLinkhdrCheck()
		b0 := g.ehostop([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, dDst)
		if b1 != nil {
			genAnd(b1, b0)
		}
		return b0
	case qIP:
		// libpcap treats its PCAP_NETMASK_UNKNOWN (0xffffffff) as no
		// netmask: the destination's host part all zeros or all ones.
		if !g.hasNetmask || g.netmask == 0xffffffff {
			fail("netmask not known, so 'ip broadcast' not supported")
		}
		b0 := g.linktypeCheck(ethertypeIP)
		hostmask := ^g.netmask
		b1 := g.mcmp(orLinkpl, 16, szW, 0, hostmask)
		b2 := g.mcmp(orLinkpl, 16, szW, hostmask, hostmask)
		genOr(b1, b2)
		genAnd(b0, b2)
		return b2
	}
	fail("only link-layer/IP broadcast filters supported")
	return nil
}

func (g *gen) multicast(proto int) *block {
	switch proto {
	case qDefault, qLink:
		switch {
		case g.linktype == dltArcnet || g.linktype == dltArcnetLinux:
			return g.ahostop([]byte{0}, dDst)
		case g.linktype == dltFDDI:
			return g.macMulticast(1)
		case g.linktype == dltIEEE802, g.linktype == dltIPOverFC:
			return g.macMulticast(2)
		case is80211(g.linktype):
			return g.wlanMulticast()
		case !isEthernet(g.linktype):
			fail("link-layer multicast filters supported only on ethernet/FDDI/token ring/ARCNET/802.11/ATM LANE/Fibre Channel")
		}
		b1 := g.prevLinkhdrCheck()
		b0 := newBlock(jmp(jmpJSET), 1, g.loadA(orLinkhdr, 0, szB)...)
		if b1 != nil {
			genAnd(b1, b0)
		}
		return b0
	case qIP:
		b0 := g.linktypeCheck(ethertypeIP)
		b1 := g.cmpGE(orLinkpl, 16, szB, 224)
		genAnd(b0, b1)
		return b1
	case qIPv6:
		b0 := g.linktypeCheck(ethertypeIPv6)
		b1 := g.cmp(orLinkpl, 24, szB, 255)
		genAnd(b0, b1)
		return b1
	}
	fail("link-layer multicast filters supported only on ethernet/FDDI/token ring/ARCNET/802.11/ATM LANE/Fibre Channel")
	return nil
}

// lenTest: "greater n" (len >= n) or, negated, "less n" (len <= n).
func (g *gen) lenTest(jop uint16, n uint32) *block {
	return newBlock(jmp(jop), n, newStmt(clsLD|modeLEN|szW, 0))
}

func (g *gen) byteop(op byte, idx, val uint32) *block {
	switch op {
	case '=':
		return g.cmp(orLinkhdr, idx, szB, val)
	case '<':
		return g.cmpLT(orLinkhdr, idx, szB, val)
	case '>':
		return g.cmpGT(orLinkhdr, idx, szB, val)
	}
	// libpcap applies "&" and "|" to whatever the accumulator happens
	// to hold (it generates no load), so the result depends on the code
	// around it and on what its optimizer keeps of that code.
	unsupportedHere(fmt.Sprintf("\"byte %d %c %d\" (libpcap tests a leftover register value, not the byte)", idx, op, val))
	return nil
}

// Linux ancillary data offsets (linux/filter.h): a load from
// SKF_AD_OFF + n reads socket metadata instead of packet bytes.
const (
	skfADPkttype    = 4
	skfADIfindex    = 8
	skfADVlanTag    = 44
	skfADVlanTagPre = 48

	packetOutgoing = 4 // PACKET_OUTGOING, the sll_pkttype of a sent packet
)

func (g *gen) inbound(outbound bool) *block {
	var b0 *block
	switch g.linktype {
	case dltSLL:
		b0 = g.cmp(orLinkhdr, 0, szH, sllOutgoing)
	case dltSLL2:
		b0 = g.cmp(orLinkhdr, 10, szB, sllOutgoing)
	case dltSlip:
		// link[0] == 0 (inbound) or != 0 (outbound), as a relation.
		// libpcap's C compiler evaluates the constant 0 (the second
		// argument) first, which decides the scratch registers.
		a1 := g.loadi(0)
		a0 := g.load(qLink, g.loadi(0), 1)
		return g.relationVals(relNode{op: jmpJEQ, reversed: outbound}, a0, a1)
	case dltIPNet:
		if outbound {
			return g.cmp(orLinkhdr, 2, szH, ipnetOutbound)
		}
		return g.cmp(orLinkhdr, 2, szH, ipnetInbound)
	case dltPFLOG:
		if outbound {
			return g.cmp(orLinkhdr, pflogDir, szB, pfOut)
		}
		return g.cmp(orLinkhdr, pflogDir, szB, pfIn)
	case dltPPPPPPD:
		if outbound {
			return g.cmp(orLinkhdr, 0, szB, pppPPPDOut)
		}
		return g.cmp(orLinkhdr, 0, szB, pppPPPDIn)
	default:
		if isJuniper(g.linktype) {
			// The direction is in the flags after the 3-byte magic.
			if outbound {
				return g.mcmp(orLinkhdr, 3, szB, 0, 0x01)
			}
			return g.mcmp(orLinkhdr, 3, szB, 1, 0x01)
		}
		if !g.live {
			unsupportedSavefile("\"inbound\"/\"outbound\" on this link type (only LINUX_SLL and LINUX_SLL2 record the direction)")
		}
		// The packet type of the socket metadata, loaded relative to the
		// link-layer header as libpcap does (so after "pppoes" the
		// offset is shifted, as in libpcap).
		b0 = g.cmp(orLinkhdr, skfADOff+skfADPkttype, szH, packetOutgoing)
	}
	if !outbound {
		genNot(b0)
	}
	return b0
}

func (g *gen) ifindex(idx uint32) *block {
	if g.linktype == dltSLL2 {
		return g.cmp(orLinkhdr, 4, szW, idx)
	}
	if !g.live {
		unsupportedSavefile("\"ifindex\" on this link type (only LINUX_SLL2 records the interface index)")
	}
	return g.cmp(orLinkhdr, skfADOff+skfADIfindex, szW, idx)
}

// vlan: 802.1Q/802.1ad tag, optionally with a VLAN ID; shifts the
// link-layer offsets of everything that follows by 4.
func (g *gen) vlan(vid uint32, hasVID bool) *block {
	if g.labelStackDepth > 0 {
		fail("no VLAN match after MPLS")
	}
	switch g.linktype {
	case dltEN10MB, dltNetAnalyzer, dltNetAnalyzerTransparent, dltIEEE80211, dltPrism, dltAVS, dltRadiotap:
	default:
		fail("no VLAN support for %s", g.describeLink())
	}
	var b0 *block
	if g.live && g.vlanStackDepth == 0 && !g.offLinkhdr.isVariable &&
		g.offLinkhdr.constPart == g.offOutermostlinkhdr.constPart {
		b0 = g.vlanBPFExtensions(vid, hasVID)
	} else {
		b0 = g.vlanTPIDTest()
		if hasVID {
			b1 := g.vlanVIDTest(vid)
			genAnd(b0, b1)
			b0 = b1
		}
		g.offLinkpl.constPart += 4
		g.offLinktype.constPart += 4
	}
	g.vlanStackDepth++
	return b0
}

func (g *gen) vlanTPIDTest() *block {
	b0 := g.linktypeCheck(ethertype8021Q)
	b1 := g.linktypeCheck(ethertype8021AD)
	genOr(b0, b1)
	b0 = b1
	b1 = g.linktypeCheck(ethertype8021QINQ)
	genOr(b0, b1)
	return b1
}

func (g *gen) vlanVIDTest(vid uint32) *block {
	if vid > 0x0fff {
		fail("VLAN tag %d greater than maximum %d", vid, 0x0fff)
	}
	return g.mcmp(orLinkpl, 0, szH, vid, 0x0fff)
}

// vlanBPFExtensions is the outermost "vlan" of a live capture (libpcap's
// gen_vlan_bpf_extensions): Linux usually moves the tag into socket
// metadata, so the test is "a tag in the metadata, or a VLAN TPID in the
// frame". Only in the second case do later offsets move by 4, so they
// become variable: registers, zeroed at the start of the program and
// incremented on the in-frame path. The VID comes from the metadata
// when the tag is there, else from the frame.
func (g *gen) vlanBPFExtensions(vid uint32, hasVID bool) *block {
	b0 := newBlock(jmp(jmpJEQ), 1, newStmt(clsLD|szB|modeABS, skfADOff+skfADVlanTagPre))
	bTPID := g.vlanTPIDTest()
	var bVID *block
	if hasVID {
		bVID = g.vlanVIDTest(vid)
	}

	// The in-frame TPID test first moves the variable parts of the
	// offsets, so that the tests after it see the shifted payload.
	g.isVlanVloffset = true
	s := g.vloffsetAdd(&g.offLinkpl, 4)
	s = append(s, g.vloffsetAdd(&g.offLinktype, 4)...)
	bTPID.head.stmts = append(s, bTPID.head.stmts...)
	genOr(b0, bTPID)
	b0 = bTPID

	if hasVID {
		// ldb [vlanp]; jeq #1 (true: load the TCI from metadata and
		// skip the frame load, false: the VID test as it was). libpcap
		// 1.10.3 loads the TCI with a byte-sized load; the kernel ignores
		// the size of ancillary loads.
		cnt := len(bVID.stmts)
		ldTCI := newStmt(clsLD|szB|modeABS, skfADOff+skfADVlanTag)
		jeq := &stmt{code: jmp(jmpJEQ), k: 1, jt: ldTCI, jf: bVID.stmts[0]}
		pre := []*stmt{newStmt(clsLD|szB|modeABS, skfADOff+skfADVlanTagPre), jeq, ldTCI, newStmt(clsJMP|jmpJA, uint32(cnt-1))}
		bVID.stmts = append(pre, bVID.stmts...)
		genAnd(b0, bVID)
		b0 = bVID
	}
	return b0
}

// vloffsetAdd returns code adding v to the variable part of off, making
// it variable (libpcap's gen_vlan_vloffset_add).
func (g *gen) vloffsetAdd(off *absOffset, v uint32) []*stmt {
	off.isVariable = true
	if off.reg == -1 {
		off.reg = g.allocReg()
	}
	return []*stmt{
		newStmt(clsLD|modeMEM, uint32(off.reg)),
		newStmt(clsALU|aluADD|srcK, v),
		newStmt(clsST, uint32(off.reg)),
	}
}

// insertComputeVloffsets zeroes, at the start of the program, the
// offset registers a live "vlan" increments (libpcap's
// insert_compute_vloffsets; the other link types it handles there are
// not compiled by this package).
func (g *gen) insertComputeVloffsets(b *block) {
	if !g.isVlanVloffset {
		return
	}
	if g.offLinkpl.reg == -1 {
		g.offLinkpl.reg = g.allocReg()
	}
	if g.offLinktype.reg == -1 {
		g.offLinktype.reg = g.allocReg()
	}
	s := []*stmt{
		newStmt(clsLD|modeIMM, 0),
		newStmt(clsST, uint32(g.offLinkpl.reg)),
		newStmt(clsST, uint32(g.offLinktype.reg)),
	}
	b.stmts = append(s, b.stmts...)
}

// mpls: an MPLS label (stack entry), optionally with a label value.
func (g *gen) mpls(label uint32, hasLabel bool) *block {
	var b0 *block
	if g.labelStackDepth > 0 {
		b0 = g.mcmp(orPrevMPLShdr, 2, szB, 0, 0x01)
	} else {
		if !isEthernet(g.linktype) && g.linktype != dltPPP && g.linktype != dltCHDLC {
			fail("no MPLS support for %s", g.describeLink())
		}
		if g.linktype == dltPPP {
			b0 = g.linktypeCheck(pppMPLSUcast)
		} else {
			b0 = g.linktypeCheck(ethertypeMPLS)
		}
	}
	if hasLabel {
		if label > 0xfffff {
			fail("MPLS label %d greater than maximum %d", label, 0xfffff)
		}
		b1 := g.mcmp(orLinkpl, 0, szW, label<<12, 0xfffff000)
		genAnd(b0, b1)
		b0 = b1
	}
	g.offNlNosnap += 4
	g.offNl += 4
	g.labelStackDepth++
	return b0
}

func (g *gen) pppoed() *block { return g.linktypeCheck(ethertypePPPOED) }

// pppoes: PPPoE session, optionally with a session ID; what follows is
// matched as PPP.
func (g *gen) pppoes(sess uint32, hasSess bool) *block {
	b0 := g.linktypeCheck(ethertypePPPOES)
	if hasSess {
		if sess > 0xffff {
			fail("PPPoE session number %d greater than maximum %d", sess, 0xffff)
		}
		b1 := g.mcmp(orLinkpl, 0, szW, sess, 0xffff)
		genAnd(b0, b1)
		b0 = b1
	}
	g.pushLinkhdr(dltPPP, g.offLinkpl.isVariable, g.offLinkpl.constPart+g.offNl+6, g.offLinkpl.reg)
	g.offLinktype = g.offLinkhdr
	g.offLinkpl.constPart = g.offLinkhdr.constPart + 2
	g.offNl, g.offNlNosnap = 0, 0
	return b0
}

func (g *gen) pushLinkhdr(lt dlt, isVariable bool, constPart uint32, reg int) {
	g.prevlinktype = g.linktype
	g.offPrevlinkhdr = g.offLinkhdr
	g.linktype = lt
	g.offLinkhdr = absOffset{constPart: constPart, isVariable: isVariable, reg: reg}
	g.isGeneve = false
}

func (g *gen) geneveCheck(v6 bool, vni uint32, hasVNI bool) *block {
	var b0 *block
	rel := orTranIPv4
	if v6 {
		b0 = g.port6(genevePort, ipprotoUDP, dDst)
		rel = orTranIPv6
	} else {
		b0 = g.port(genevePort, ipprotoUDP, dDst)
	}
	b1 := g.mcmp(rel, 8, szB, 0, 0xc0)
	genAnd(b0, b1)
	b0 = b1
	if hasVNI {
		if vni > 0xffffff {
			fail("Geneve VNI %d greater than maximum %d", vni, 0xffffff)
		}
		b1 = g.mcmp(rel, 12, szW, vni<<8, 0xffffff00)
		genAnd(b0, b1)
		b0 = b1
	}
	return b0
}

// geneve matches Geneve-encapsulated packets; what follows is matched
// against the encapsulated frame, at offsets computed at run time.
func (g *gen) geneve(vni uint32, hasVNI bool) *block {
	// IPv4: UDP to port 6081, then X = IP header length, A = X.
	b0 := g.geneveCheck(false, vni, hasVNI)
	s := g.loadxIPHdrLen()
	s = append(s, newStmt(clsMISC|miscTXA, 0))
	b1 := newBlock(clsJMP|jmpJEQ|srcX, 0, s...)
	genAnd(b0, b1)
	b4 := b1

	b0 = g.geneveCheck(true, vni, hasVNI)
	s = g.absOffsetVarpart(&g.offLinkpl)
	if s != nil {
		s = append(s, newStmt(clsLD|modeIMM, 40), newStmt(clsALU|aluADD|srcX, 0))
	} else {
		s = []*stmt{newStmt(clsLD|modeIMM, 40)}
	}
	s = append(s, newStmt(clsMISC|miscTAX, 0))
	b1 = newBlock(clsJMP|jmpJEQ|srcX, 0, s...)
	genAnd(b0, b1)
	b6 := b1

	genOr(b4, b6)
	b0 = b6

	s = g.geneveOffsets()
	b1 = g.genTrue()
	b1.stmts = append(s, b1.stmts...)
	genAnd(b0, b1)
	g.isGeneve = true
	return b1
}

// geneveOffsets computes, at run time, the offsets of the encapsulated
// link-layer header, type field and payload into scratch registers.
func (g *gen) geneveOffsets() []*stmt {
	s := []*stmt{
		newStmt(clsALU|aluADD|srcK, g.offLinkpl.constPart+g.offNl+8),
		newStmt(clsMISC|miscTAX, 0),
		newStmt(clsALU|aluADD|srcK, 2),
	}
	g.offLinktype.reg = g.allocReg()
	g.offLinktype.isVariable = true
	g.offLinktype.constPart = 0
	s = append(s,
		newStmt(clsST, uint32(g.offLinktype.reg)),
		newStmt(clsLD|modeIND|szB, 0),
		newStmt(clsALU|aluAND|srcK, 0x3f),
		newStmt(clsALU|aluMUL|srcK, 4),
		newStmt(clsALU|aluADD|srcK, 8),
		newStmt(clsALU|aluADD|srcX, 0))
	g.pushLinkhdr(dltEN10MB, true, 0, g.allocReg())
	s = append(s, newStmt(clsST, uint32(g.offLinkhdr.reg)))
	g.noOptimize = true
	s = append(s,
		newStmt(clsLD|modeIND|szH, 2),
		newStmt(clsLDX|modeMEM, uint32(g.offLinkhdr.reg)))
	sProto := newStmt(jmp(jmpJEQ), ethertypeTEB)
	s = append(s, sProto)
	txa := newStmt(clsMISC|miscTXA, 0)
	sProto.jt = txa
	s = append(s, txa,
		newStmt(clsALU|aluADD|srcK, 12),
		newStmt(clsST, uint32(g.offLinktype.reg)),
		newStmt(clsALU|aluADD|srcK, 2),
		newStmt(clsMISC|miscTAX, 0))
	g.offLinkpl.reg = g.allocReg()
	g.offLinkpl.isVariable = true
	g.offLinkpl.constPart = 0
	stx := newStmt(clsSTX, uint32(g.offLinkpl.reg))
	s = append(s, stx)
	sProto.jf = stx
	g.offNl = 0
	return s
}

func (g *gen) geneveLLCheck() *block {
	b0 := newBlock(clsJMP|jmpJEQ|srcX, 0,
		newStmt(clsLD|modeMEM, uint32(g.offLinkhdr.reg)),
		newStmt(clsLDX|modeMEM, uint32(g.offLinkpl.reg)))
	genNot(b0)
	return b0
}

// KernelProtochainHeaders is how many headers (IPv6 extension headers
// and AH) the kernel program of "protochain" skips. libpcap follows the
// chain with a loop (a backward jump), which the kernel refuses; the
// kernel program repeats the loop's body instead. On a packet on which
// libpcap's loop skips at most this many headers, it accepts exactly
// what libpcap accepts. On one where libpcap would skip more, it reads
// the next header as libpcap does (a truncated one rejects the packet)
// and then treats "protochain" as false.
const KernelProtochainHeaders = 16

// protochain follows the IPv6 extension-header chain (and AH, for IPv4
// and IPv6) looking for protocol v, as libpcap's gen_protochain: the
// same loads, including libpcap's computation of the AH length (which
// loses the offset of the AH header). For savefiles the code is
// libpcap's loop; for the kernel the loop is unrolled.
func (g *gen) protochain(v uint32, proto int) *block {
	// Allocated before the "ip or ip6" recursion and, in that case,
	// never freed: libpcap does the same, and later registers depend on
	// it.
	reg := g.allocReg()
	switch proto {
	case qIP, qIPv6:
	case qDefault:
		b0 := g.protochain(v, qIP)
		b := g.protochain(v, qIPv6)
		genOr(b0, b)
		return b
	default:
		fail("bad protocol applied for 'protochain'")
	}
	if g.offLinkpl.isVariable {
		fail("'protochain' not supported with variable length headers")
	}
	// libpcap's optimizer cannot handle the loop, so libpcap turns it
	// off for the whole program.
	g.noOptimize = true
	base := g.offLinkpl.constPart + g.offNl
	var b0 *block
	var s []*stmt
	if proto == qIP {
		b0 = g.linktypeCheck(ethertypeIP)
		s = []*stmt{
			newStmt(clsLD|modeABS|szB, base+9), // A = ip->ip_p
			newStmt(clsLDX|modeMSH|szB, base),  // X = ip->ip_hl << 2
		}
	} else {
		b0 = g.linktypeCheck(ethertypeIPv6)
		s = []*stmt{
			newStmt(clsLD|modeABS|szB, base+6), // A = ip6->ip6_nxt
			newStmt(clsLDX|modeIMM, 40),        // X = sizeof(struct ip6_hdr)
		}
	}
	s = append(s, g.protochainChain(v, proto == qIPv6, reg, base)...)
	b := newBlock(jmp(jmpJEQ), v, s...)
	g.freeReg(reg)
	genAnd(b0, b)
	return b
}

// protochainChain returns the code that walks the chain with A holding
// the next protocol and X the offset of its header, ending at a no-op
// with A holding the protocol found (the block then compares it with
// v). For a savefile it is libpcap's loop:
//
//	again:  A == v or A == IPPROTO_NONE: end
//	        IPv6: A is hop-by-hop, destination options, routing or
//	              fragment: A = next header, X += (length + 1) * 8; again
//	        A == AH: A = next header, X = (length + 2) * 4; again
//	end:    nop
//
// For the kernel the loop is unrolled: KernelProtochainHeaders + 1
// copies of its body, each "again" going to the next copy. The last
// copy still reads the header that would need one more iteration (so a
// truncated one rejects the packet, as in libpcap), then ends the chain
// with A set to a value other than v.
func (g *gen) protochainChain(v uint32, v6 bool, reg int, base uint32) []*stmt {
	copies := 1
	if g.kernel {
		copies = KernelProtochainHeaders + 1
	}
	again := make([]*stmt, copies)
	for i := range again {
		again[i] = newStmt(jmp(jmpJEQ), v)
	}
	end := newStmt(clsALU|aluADD|srcK, 0)
	var s []*stmt
	jas := map[*stmt]*stmt{} // unconditional jumps and their targets
	add := func(code uint16, k uint32) *stmt {
		st := newStmt(code, k)
		s = append(s, st)
		return st
	}
	jump := func(target *stmt) {
		jas[add(clsJMP|jmpJA, 0)] = target
	}
	for i := 0; i < copies; i++ {
		last := g.kernel && i == copies-1
		next := again[0] // libpcap's backward jump
		exit := end
		var exitJA, over *stmt
		switch {
		case last:
			over = newStmt(clsLD|modeIMM, v^1)
			next = over
		case g.kernel:
			next = again[i+1]
			exitJA = newStmt(clsJMP|jmpJA, 0)
			jas[exitJA] = end
			exit = exitJA
		}

		j1 := again[i]
		s = append(s, j1)
		j2 := add(jmp(jmpJEQ), ipprotoNone)
		j1.jt, j1.jf = exit, j2
		j2.jt = exit
		ahcheck := newStmt(jmp(jmpJEQ), ipprotoAH)
		if v6 {
			adv := newStmt(clsLD|modeIND|szB, base)
			prev := j2
			for _, h := range []uint32{ipprotoHopopts, ipprotoDstopts, ipprotoRouting, ipprotoFragment} {
				st := add(jmp(jmpJEQ), h)
				prev.jf = st
				st.jt = adv
				prev = st
			}
			prev.jf = ahcheck
			// A = P[X + base]; X += (P[X + base + 1] + 1) * 8
			s = append(s, adv)
			add(clsST, uint32(reg))
			add(clsLD|modeIND|szB, base+1)
			add(clsALU|aluADD|srcK, 1)
			add(clsALU|aluMUL|srcK, 8)
			add(clsALU|aluADD|srcX, 0)
			add(clsMISC|miscTAX, 0)
			add(clsLD|modeMEM, uint32(reg))
			jump(next)
		} else {
			j2.jf = add(clsALU|aluADD|srcK, 0) // nop
		}
		s = append(s, ahcheck)
		ahcheck.jf = exit
		// A = P[X + base]; X = (P[X + 1 + base] + 2) * 4
		ahcheck.jt = add(clsMISC|miscTXA, 0)
		add(clsLD|modeIND|szB, base)
		add(clsST, uint32(reg))
		add(clsMISC|miscTXA, 0)
		add(clsALU|aluADD|srcK, 1)
		add(clsMISC|miscTAX, 0)
		add(clsLD|modeIND|szB, base)
		add(clsALU|aluADD|srcK, 2)
		add(clsALU|aluMUL|srcK, 4)
		add(clsMISC|miscTAX, 0)
		add(clsLD|modeMEM, uint32(reg))
		jump(next)
		if exitJA != nil {
			s = append(s, exitJA)
		}
		if over != nil {
			s = append(s, over)
		}
	}
	s = append(s, end)
	pos := make(map[*stmt]int, len(s))
	for i, st := range s {
		pos[st] = i
	}
	for ja, target := range jas {
		ja.k = uint32(int32(pos[target] - pos[ja] - 1))
	}
	return s
}
