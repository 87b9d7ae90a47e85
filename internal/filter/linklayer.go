package filter

import "strings"

// Link types beyond Ethernet, Linux cooked and raw IP: 802.11 (bare,
// radiotap, PPI, AVS, Prism), PPP and HDLC, Frame Relay, SLIP, FDDI,
// Token Ring, ARCNET, ATM, IP over Fibre Channel, IPNET, Juniper and
// BACnet MS/TP. As the rest of the code generator, this follows
// libpcap 1.10.3's gencode.c (init_linktype, gen_linktype,
// insert_compute_vloffsets, gen_wlanhostop, gen_p80211_type, ...) so
// that the programs are libpcap's, instruction for instruction.

// Link types of this file (the code generator's, see dlt).
const (
	dltIEEE80211 dlt = iota + 100
	dltRadiotap
	dltPPI
	dltAVS
	dltPrism
	dltPPPSerial
	dltPPPPPPD
	dltPPPEther
	dltPPPBSDOS
	dltCHDLC
	dltFrelay
	dltSlip
	dltSlipBSDOS
	dltFDDI
	dltIEEE802 // Token Ring
	dltArcnet
	dltArcnetLinux
	dltATMRFC1483
	dltATMCLIP
	dltSunATM
	dltIPOverFC
	dltIPNet
	dltBACnet
	dltMTP2
	dltMTP2Phdr
	// Juniper pseudo-headers: they differ only in their offsets.
	dltJuniperMLPPP
	dltJuniperMLFR
	dltJuniperES
	dltJuniperGGSN
	dltJuniperMFR
	dltJuniperATM2
	dltJuniperServices
	dltJuniperATM1
	dltJuniperMonitor
	dltJuniperPPPoE
	dltJuniperPPPoEATM
	dltJuniperEther
	dltJuniperPPP
	dltJuniperFrelay
	dltJuniperCHDLC
	dltJuniperVP
	dltJuniperST
	dltJuniperISM
	dltJuniperVS
	dltJuniperSRXE2E
	dltJuniperFC
	dltJuniperATMCEMIC
	dltERF
	dltLTalk
	dltAppleIPOverIEEE1394
	dltMFR
	dltSymantec
	dltPFLOG
	dltENC
	dltNetAnalyzer            // Ethernet after a 4-byte pseudo-header
	dltNetAnalyzerTransparent // Ethernet after pseudo-header, preamble and SFD
	// dltGeneric is any other link type of libpcap's "matching" range
	// (LINKTYPE 104 to 289) that init_linktype has no case for: only
	// the packet bytes ("link[n]", "len", ...) can be tested.
	dltGeneric
)

// Bounds of libpcap's LINKTYPE "matching" range, whose LINKTYPE values
// equal their DLT values.
const (
	linkTypeMatchingMin = 104
	linkTypeMatchingMax = 289
)

// otherLinkType returns the code generator's link type for a LINKTYPE
// of this file, or dltNone.
func otherLinkType(lt uint32) dlt {
	if d, ok := otherLinkTypes[lt]; ok {
		return d
	}
	if lt >= linkTypeMatchingMin && lt <= linkTypeMatchingMax {
		return dltGeneric
	}
	return dltNone
}

// otherLinkTypes maps the LINKTYPE numbers of this file to the code
// generator's link types.
var otherLinkTypes = map[uint32]dlt{
	105: dltIEEE80211, 127: dltRadiotap, 192: dltPPI, 163: dltAVS, 119: dltPrism,
	9: dltPPP, 50: dltPPPSerial, 166: dltPPPPPPD, 51: dltPPPEther, 103: dltPPPBSDOS,
	104: dltCHDLC, 107: dltFrelay, 8: dltSlip, 102: dltSlipBSDOS,
	10: dltFDDI, 6: dltIEEE802, 7: dltArcnet, 129: dltArcnetLinux,
	100: dltATMRFC1483, 106: dltATMCLIP, 123: dltSunATM, 122: dltIPOverFC,
	226: dltIPNet, 165: dltBACnet, 140: dltMTP2, 139: dltMTP2Phdr,
	130: dltJuniperMLPPP, 131: dltJuniperMLFR, 132: dltJuniperES, 133: dltJuniperGGSN,
	134: dltJuniperMFR, 135: dltJuniperATM2, 136: dltJuniperServices, 137: dltJuniperATM1,
	164: dltJuniperMonitor, 167: dltJuniperPPPoE, 168: dltJuniperPPPoEATM, 178: dltJuniperEther,
	179: dltJuniperPPP, 180: dltJuniperFrelay, 181: dltJuniperCHDLC, 183: dltJuniperVP,
	200: dltJuniperST, 194: dltJuniperISM, 232: dltJuniperVS, 233: dltJuniperSRXE2E,
	234: dltJuniperFC, 238: dltJuniperATMCEMIC,
	197: dltERF, 114: dltLTalk, 138: dltAppleIPOverIEEE1394, 182: dltMFR,
	99: dltSymantec, 117: dltPFLOG, 109: dltENC, 240: dltNetAnalyzer, 241: dltNetAnalyzerTransparent,
}

// linkDescriptions are libpcap's descriptions of the link types whose
// names appear in its error messages.
var linkDescriptions = map[dlt]string{
	dltMTP2: "SS7 MTP2", dltMTP2Phdr: "SS7 MTP2 with Pseudo-header",
	dltBACnet: "BACnet MS/TP", dltIPNet: "Solaris ipnet", dltERF: "Endace ERF header",
	dltMFR: "FRF.16 Frame Relay",
}

func (g *gen) describeLink() string {
	if d, ok := linkDescriptions[g.linktype]; ok {
		return d
	}
	return "this link type"
}

// is80211 reports whether the link type carries 802.11 frames (after a
// radio header for all but dltIEEE80211).
func is80211(lt dlt) bool {
	switch lt {
	case dltIEEE80211, dltRadiotap, dltPPI, dltAVS, dltPrism:
		return true
	}
	return false
}

// isEthernet reports whether the link-layer header is an Ethernet
// header (after a pseudo-header for netANALYZER).
func isEthernet(lt dlt) bool {
	return lt == dltEN10MB || lt == dltNetAnalyzer || lt == dltNetAnalyzerTransparent
}

func isJuniper(lt dlt) bool { return lt >= dltJuniperMLPPP && lt <= dltJuniperATMCEMIC }

// isMTP2 reports whether the MTP2 keywords apply (ERF included, as in
// libpcap).
func isMTP2(lt dlt) bool { return lt == dltMTP2 || lt == dltMTP2Phdr || lt == dltERF }

// SS7 field offsets of the MTP2 link types (libpcap's off_li, off_sio,
// ...); offNotSet elsewhere.
type mtpOffsets struct{ li, liHSL, sio, opc, dpc, sls uint32 }

// initOtherLink sets the offsets of a link type of this file, as
// libpcap's init_linktype.
func (g *gen) initOtherLink(lt dlt) {
	set := func(linktype, linkpl, nl, nlNosnap uint32) {
		g.offLinktype.constPart, g.offLinkpl.constPart = linktype, linkpl
		g.offNl, g.offNlNosnap = nl, nlNosnap
	}
	g.mtp = mtpOffsets{offNotSet, offNotSet, offNotSet, offNotSet, offNotSet, offNotSet}
	g.offVPI, g.offVCI, g.offProto, g.offPayload = offNotSet, offNotSet, offNotSet, offNotSet
	switch lt {
	case dltArcnet:
		set(2, 6, 0, 0)
	case dltArcnetLinux:
		set(4, 8, 0, 0)
	case dltSlip:
		set(offNotSet, 16, 0, 0)
	case dltSlipBSDOS:
		set(offNotSet, 24, 0, 0)
	case dltPPP, dltPPPPPPD, dltCHDLC, dltPPPSerial:
		set(2, 4, 0, 0)
	case dltPPPEther:
		set(6, 8, 0, 0)
	case dltPPPBSDOS:
		set(5, 24, 0, 0)
	case dltFDDI:
		set(13, 13, 8, 3) // pcap_fddipad is 0 on Linux
	case dltIEEE802:
		set(14, 14, 8, 3)
	case dltPrism, dltAVS, dltRadiotap, dltPPI:
		g.offLinkhdr.isVariable = true
		set(24, 0, 8, 3)
		g.offLinkpl.isVariable = true
	case dltIEEE80211:
		set(24, 0, 8, 3)
		g.offLinkpl.isVariable = true
	case dltATMRFC1483, dltATMCLIP:
		set(0, 0, 8, 3)
	case dltSunATM:
		g.isATM = true
		g.offVPI, g.offVCI, g.offProto, g.offPayload = sunatmVPIPos, sunatmVCIPos, sunatmProtoPos, sunatmPktBeginPos
		set(g.offPayload, g.offPayload, 8, 3)
	case dltIPOverFC:
		set(16, 16, 8, 3)
	case dltFrelay:
		set(offNotSet, 0, 0, 0)
	case dltJuniperMFR, dltJuniperMLFR, dltJuniperMLPPP, dltJuniperPPP, dltJuniperCHDLC, dltJuniperFrelay:
		set(4, 4, 0, offNotSet)
	case dltJuniperATM1:
		set(4, 4, 0, 10)
	case dltJuniperATM2:
		set(8, 8, 0, 10)
	case dltJuniperPPPoE, dltJuniperEther:
		set(16, 14, 18, 21)
	case dltJuniperPPPoEATM:
		set(4, 6, 0, offNotSet)
	case dltJuniperGGSN:
		set(6, 12, 0, offNotSet)
	case dltJuniperES:
		set(6, offNotSet, offNotSet, offNotSet)
	case dltJuniperMonitor:
		set(12, 12, 0, offNotSet)
	case dltBACnet:
		set(offNotSet, offNotSet, offNotSet, offNotSet)
	case dltJuniperServices:
		set(12, offNotSet, offNotSet, offNotSet)
	case dltJuniperVP, dltJuniperST:
		set(18, offNotSet, offNotSet, offNotSet)
	case dltJuniperISM, dltJuniperVS, dltJuniperSRXE2E, dltJuniperFC, dltJuniperATMCEMIC:
		set(8, offNotSet, offNotSet, offNotSet)
	case dltMTP2:
		g.mtp = mtpOffsets{li: 2, liHSL: 4, sio: 3, opc: 4, dpc: 4, sls: 7}
		set(offNotSet, offNotSet, offNotSet, offNotSet)
	case dltMTP2Phdr:
		g.mtp = mtpOffsets{li: 6, liHSL: 8, sio: 7, opc: 8, dpc: 8, sls: 11}
		set(offNotSet, offNotSet, offNotSet, offNotSet)
	case dltIPNet:
		set(1, 24, 0, offNotSet)
	case dltERF:
		g.mtp = mtpOffsets{li: 22, liHSL: 24, sio: 23, opc: 24, dpc: 24, sls: 27}
		set(offNotSet, offNotSet, offNotSet, offNotSet)
	case dltLTalk:
		set(offNotSet, 0, 0, 0)
	case dltAppleIPOverIEEE1394:
		set(16, 18, 0, 0)
	case dltMFR:
		set(offNotSet, 0, 4, 0)
	case dltSymantec:
		set(6, 44, 0, 0)
	case dltPFLOG:
		set(0, 0, 0, 0)
		g.offLinkpl.isVariable = true
	case dltENC:
		set(0, 12, 0, 0)
	case dltNetAnalyzer, dltNetAnalyzerTransparent:
		g.offLinkhdr.constPart = 4
		if lt == dltNetAnalyzerTransparent {
			g.offLinkhdr.constPart = 12
		}
		set(g.offLinkhdr.constPart+12, g.offLinkhdr.constPart+14, 0, 3)
	case dltGeneric:
		set(offNotSet, offNotSet, offNotSet, offNotSet)
	}
}

// SunATM pseudo-header positions (sunatmpos.h).
const (
	sunatmDirPos      = 0
	sunatmVPIPos      = 1
	sunatmVCIPos      = 2
	sunatmProtoPos    = 0 // the protocol type (low 4 bits), with the direction
	sunatmPktBeginPos = 4

	ptLANE = 0x01 // LANE
	ptLLC  = 0x02 // LLC encapsulation
)

// Link-layer protocol numbers of the link types of this file.
const (
	arctypeIPOld  = 240
	arctypeARPOld = 241
	arctypeIP     = 212
	arctypeARP    = 213
	arctypeREVARP = 214
	arctypeATALK  = 221
	arctypeINET6  = 0xc4

	iphAFInet  = 2  // IPNET: IPv4
	iphAFInet6 = 26 // IPNET: IPv6

	ipnetOutbound = 1
	ipnetInbound  = 2

	pppPPPDIn  = 0x00
	pppPPPDOut = 0x01
	pppVJC     = 0x002d
	pppVJNC    = 0x002f
)

// otherLinktypeCheck is gen_linktype for the link types of this file;
// ok is false for the others.
func (g *gen) otherLinktypeCheck(llProto uint32) (b *block, ok bool) {
	lt := g.linktype
	switch {
	case lt == dltCHDLC:
		if llProto == llcsapISONS {
			llProto = llProto<<8 | llcsapISONS
		}
		return g.cmp(orLinktype, 0, szH, llProto), true
	case is80211(lt):
		b0 := g.check80211DataFrame()
		b1 := g.llcLinktype(llProto)
		genAnd(b0, b1)
		return b1, true
	case lt == dltFDDI, lt == dltIEEE802, lt == dltATMRFC1483, lt == dltATMCLIP, lt == dltIPOverFC:
		return g.llcLinktype(llProto), true
	case lt == dltSunATM:
		b0 := g.atmfieldCode(atmProtoType, ptLLC, jmpJEQ, false)
		b1 := g.llcLinktype(llProto)
		genAnd(b0, b1)
		return b1, true
	case lt == dltSlip, lt == dltSlipBSDOS:
		switch llProto {
		case ethertypeIP:
			return g.mcmp(orLinkhdr, 0, szB, 0x40, 0xf0), true
		case ethertypeIPv6:
			return g.mcmp(orLinkhdr, 0, szB, 0x60, 0xf0), true
		}
		return g.genFalse(), true
	case lt == dltPPPPPPD, lt == dltPPPSerial, lt == dltPPPEther:
		return g.cmp(orLinktype, 0, szH, ethertypeToPPPType(llProto)), true
	case lt == dltPPPBSDOS:
		if llProto == ethertypeIP {
			b0 := g.cmp(orLinktype, 0, szH, pppIP)
			b1 := g.cmp(orLinktype, 0, szH, pppVJC)
			genOr(b0, b1)
			b0 = g.cmp(orLinktype, 0, szH, pppVJNC)
			genOr(b1, b0)
			return b0, true
		}
		return g.cmp(orLinktype, 0, szH, ethertypeToPPPType(llProto)), true
	case lt == dltArcnet, lt == dltArcnetLinux:
		switch llProto {
		case ethertypeIPv6:
			return g.cmp(orLinktype, 0, szB, arctypeINET6), true
		case ethertypeIP:
			b0 := g.cmp(orLinktype, 0, szB, arctypeIP)
			b1 := g.cmp(orLinktype, 0, szB, arctypeIPOld)
			genOr(b0, b1)
			return b1, true
		case ethertypeARP:
			b0 := g.cmp(orLinktype, 0, szB, arctypeARP)
			b1 := g.cmp(orLinktype, 0, szB, arctypeARPOld)
			genOr(b0, b1)
			return b1, true
		case ethertypeREVARP:
			return g.cmp(orLinktype, 0, szB, arctypeREVARP), true
		case ethertypeATALK:
			return g.cmp(orLinktype, 0, szB, arctypeATALK), true
		}
		return g.genFalse(), true
	case lt == dltFrelay:
		switch llProto {
		case ethertypeIP:
			return g.cmp(orLinkhdr, 2, szH, 0x03<<8|0xcc), true
		case ethertypeIPv6:
			return g.cmp(orLinkhdr, 2, szH, 0x03<<8|0x8e), true
		case llcsapISONS:
			b0 := g.cmp(orLinkhdr, 2, szH, 0x03<<8|isoCLNP)
			b1 := g.cmp(orLinkhdr, 2, szH, 0x03<<8|isoESIS)
			b2 := g.cmp(orLinkhdr, 2, szH, 0x03<<8|isoISIS)
			genOr(b1, b2)
			genOr(b0, b2)
			return b2, true
		}
		return g.genFalse(), true
	case isJuniper(lt):
		return g.mcmp(orLinkhdr, 0, szW, 0x4d474300, 0xffffff00), true
	case lt == dltBACnet:
		return g.mcmp(orLinkhdr, 0, szW, 0x55ff0000, 0xffff0000), true
	case lt == dltIPNet:
		switch llProto {
		case ethertypeIP:
			return g.cmp(orLinktype, 0, szB, iphAFInet), true
		case ethertypeIPv6:
			return g.cmp(orLinktype, 0, szB, iphAFInet6), true
		}
		return g.genFalse(), true
	case lt == dltMTP2, lt == dltMTP2Phdr:
		fail("MTP2 link-layer type filtering not implemented")
	case lt == dltERF:
		fail("ERF link-layer type filtering not implemented")
	case lt == dltMFR:
		fail("Multi-link Frame Relay link-layer type filtering not implemented")
	case lt == dltPFLOG:
		switch llProto {
		case ethertypeIP:
			return g.cmp(orLinkhdr, pflogAF, szB, afInet), true
		case ethertypeIPv6:
			return g.cmp(orLinkhdr, pflogAF, szB, afInet6Linux), true
		}
		return g.genFalse(), true
	case lt == dltLTalk:
		if llProto == ethertypeATALK {
			return g.genTrue(), true
		}
		return g.genFalse(), true
	}
	return nil, false
}

// llcLinktype matches an LLC SAP or, for an Ethernet type, the type of
// a SNAP header (gen_llc_linktype).
func (g *gen) llcLinktype(llProto uint32) *block {
	switch llProto {
	case llcsapIP, llcsapISONS, llcsapNetbeui:
		return g.cmp(orLLC, 0, szH, llProto<<8|llProto)
	case llcsapIPX:
		return g.cmp(orLLC, 0, szB, llcsapIPX)
	case ethertypeATALK:
		return g.snap(0x080007, ethertypeATALK)
	}
	if llProto <= ethermtu {
		return g.cmp(orLLC, 0, szB, llProto)
	}
	return g.cmp(orLLC, 6, szH, llProto)
}

// jset is a block testing "field & k != 0".
func (g *gen) jset(rel offrel, offset uint32, size uint16, k uint32) *block {
	return newBlock(jmp(jmpJSET), k, g.loadA(rel, offset, size)...)
}

// check80211DataFrame: the frame control field says a data frame
// (0x08 set, 0x04 clear).
func (g *gen) check80211DataFrame() *block {
	b0 := g.jset(orLinkhdr, 0, szB, 0x08)
	b1 := g.jset(orLinkhdr, 0, szB, 0x04)
	genNot(b1)
	genAnd(b1, b0)
	return b0
}

// 802.11 frame control values (ieee80211.h).
const (
	wlanTypeMask    = 0x0c
	wlanTypeMgt     = 0x00
	wlanTypeCtl     = 0x04
	wlanTypeData    = 0x08
	wlanSubtypeMask = 0xf0
	wlanSubtypeCTS  = 0xc0
	wlanSubtypeACK  = 0xd0
	wlanDirMask     = 0x03
	wlanDirDSToDS   = 0x03
)

// wlanAddrTests is the shape shared by gen_wlanhostop's source and
// destination cases and gen_multicast on 802.11: a test on the address
// of a data frame with To DS set (at toDS) or clear (at notToDS), or of
// a management frame (at mgt), in a frame that is not a control frame.
// addr(offset) makes the test of the address at offset.
func (g *gen) wlanAddrTests(addr func(offset uint32) *block, dataToDS, dataNotToDS func() *block, mgt uint32) *block {
	b0 := dataToDS()
	b1 := dataNotToDS()
	genOr(b1, b0)
	b1 = g.jset(orLinkhdr, 0, szB, 0x08)
	genAnd(b1, b0)
	b2 := g.jset(orLinkhdr, 0, szB, 0x08)
	genNot(b2)
	b1 = addr(mgt)
	genAnd(b2, b1)
	genOr(b1, b0)
	b1 = g.jset(orLinkhdr, 0, szB, 0x04)
	genNot(b1)
	genAnd(b1, b0)
	return b0
}

// wlanDirTests returns the tests of a data frame's address that sits at
// set when flag is set in the second frame control byte and at clear
// otherwise.
func (g *gen) wlanDirTests(addr func(offset uint32) *block, flag, set, clear uint32) (func() *block, func() *block) {
	withFlag := func() *block {
		b1 := g.jset(orLinkhdr, 1, szB, flag)
		b0 := addr(set)
		genAnd(b1, b0)
		return b0
	}
	withoutFlag := func() *block {
		b2 := g.jset(orLinkhdr, 1, szB, flag)
		genNot(b2)
		b1 := addr(clear)
		genAnd(b2, b1)
		return b1
	}
	return withFlag, withoutFlag
}

// wlanhostop matches an 802.11 MAC address (gen_wlanhostop).
func (g *gen) wlanhostop(e []byte, dir int) *block {
	addr := func(offset uint32) *block { return g.bcmp(orLinkhdr, offset, e[:6]) }
	switch dir {
	case dSrc:
		// Data frames with From DS set: SA at 24 (To DS set) or 16.
		fromDS := func() *block {
			toDS, notToDS := g.wlanDirTests(addr, 0x01, 24, 16)
			b0 := toDS()
			b1 := notToDS()
			genOr(b1, b0)
			b1 = g.jset(orLinkhdr, 1, szB, 0x02)
			genAnd(b1, b0)
			return b0
		}
		notFromDS := func() *block {
			b2 := g.jset(orLinkhdr, 1, szB, 0x02)
			genNot(b2)
			b1 := addr(10)
			genAnd(b2, b1)
			return b1
		}
		return g.wlanAddrTests(addr, fromDS, notFromDS, 10)
	case dDst:
		toDS, notToDS := g.wlanDirTests(addr, 0x01, 16, 4)
		return g.wlanAddrTests(addr, toDS, notToDS, 4)
	case dAnd, dDefault, dOr:
		return andOr(dir, g.wlanhostop(e, dSrc), g.wlanhostop(e, dDst))
	case dAddr1:
		return addr(4)
	case dAddr2:
		b2 := g.notCTSOrACK()
		b1 := addr(10)
		genAnd(b2, b1)
		return b1
	case dAddr3:
		b0 := g.mcmp(orLinkhdr, 0, szB, wlanTypeCtl, wlanTypeMask)
		genNot(b0)
		b1 := addr(16)
		genAnd(b0, b1)
		return b1
	case dAddr4:
		b0 := g.mcmp(orLinkhdr, 1, szB, wlanDirDSToDS, wlanDirMask)
		b1 := addr(24)
		genAnd(b0, b1)
		return b1
	case dRA:
		b1 := g.jset(orLinkhdr, 0, szB, 0x08)
		b0 := addr(4)
		genAnd(b1, b0)
		return b0
	case dTA:
		b2 := g.notCTSOrACK()
		b1 := g.jset(orLinkhdr, 0, szB, 0x08)
		genAnd(b1, b2)
		b1 = addr(10)
		genAnd(b2, b1)
		return b1
	}
	panic("bad direction")
}

// notCTSOrACK: not a control frame, or neither CTS nor ACK (frames
// that carry addr2).
func (g *gen) notCTSOrACK() *block {
	b0 := g.mcmp(orLinkhdr, 0, szB, wlanTypeCtl, wlanTypeMask)
	genNot(b0)
	b1 := g.mcmp(orLinkhdr, 0, szB, wlanSubtypeCTS, wlanSubtypeMask)
	genNot(b1)
	b2 := g.mcmp(orLinkhdr, 0, szB, wlanSubtypeACK, wlanSubtypeMask)
	genNot(b2)
	genAnd(b1, b2)
	genOr(b0, b2)
	return b2
}

// wlanMulticast is "multicast" on 802.11: the DA's group bit.
func (g *gen) wlanMulticast() *block {
	addr := func(offset uint32) *block { return g.macMulticast(offset) }
	toDS, notToDS := g.wlanDirTests(addr, 0x01, 16, 4)
	return g.wlanAddrTests(addr, toDS, notToDS, 4)
}

// macMulticast: link[offset] & 1 != 0.
func (g *gen) macMulticast(offset uint32) *block { return g.jset(orLinkhdr, offset, szB, 1) }

// notOnly80211 fails for an 802.11 address qualifier on a link type
// whose addresses are not 802.11 ones.
func notOnly80211(dir int) {
	switch dir {
	case dAddr1:
		fail("'addr1' and 'address1' are only supported on 802.11")
	case dAddr2:
		fail("'addr2' and 'address2' are only supported on 802.11")
	case dAddr3:
		fail("'addr3' and 'address3' are only supported on 802.11")
	case dAddr4:
		fail("'addr4' and 'address4' are only supported on 802.11")
	case dRA:
		fail("'ra' is only supported on 802.11")
	case dTA:
		fail("'ta' is only supported on 802.11")
	}
}

// macHostop matches a 6-byte MAC address at src/dst offsets of the
// link-layer header (gen_fhostop, gen_thostop, gen_ipfchostop).
func (g *gen) macHostop(e []byte, dir int, src, dst uint32) *block {
	switch dir {
	case dSrc:
		return g.bcmp(orLinkhdr, src, e[:6])
	case dDst:
		return g.bcmp(orLinkhdr, dst, e[:6])
	case dAnd, dDefault, dOr:
		return andOr(dir, g.macHostop(e, dSrc, src, dst), g.macHostop(e, dDst, src, dst))
	}
	notOnly80211(dir)
	panic("bad direction")
}

// ahostop matches an ARCnet address (one byte; source first).
func (g *gen) ahostop(e []byte, dir int) *block {
	switch dir {
	case dSrc:
		return g.bcmp(orLinkhdr, 0, e[:1])
	case dDst:
		return g.bcmp(orLinkhdr, 1, e[:1])
	case dAnd, dDefault, dOr:
		return andOr(dir, g.ahostop(e, dSrc), g.ahostop(e, dDst))
	}
	notOnly80211(dir)
	panic("bad direction")
}

// linkHostop matches a link-layer address on the link types that have
// one (gen_ecode's switch); ok is false on the others.
func (g *gen) linkHostop(e []byte, dir int) (*block, bool) {
	if len(e) < 6 {
		e = append(e, make([]byte, 6-len(e))...)
	}
	switch {
	case isEthernet(g.linktype):
		tmp := g.prevLinkhdrCheck()
		b := g.ehostop(e, dir)
		if tmp != nil {
			genAnd(tmp, b)
		}
		return b, true
	case g.linktype == dltFDDI:
		return g.macHostop(e, dir, 6+1, 0+1), true
	case g.linktype == dltIEEE802:
		return g.macHostop(e, dir, 8, 2), true
	case is80211(g.linktype):
		return g.wlanhostop(e, dir), true
	case g.linktype == dltIPOverFC:
		return g.macHostop(e, dir, 10, 2), true
	}
	return nil, false
}

// acode: an ARCnet address ("$xx").
func (g *gen) acode(s string, q qual) *block {
	if g.linktype != dltArcnet && g.linktype != dltArcnetLinux {
		fail("aid supported only on ARCnet")
	}
	if (q.addr == aHost || q.addr == aDefault) && q.proto == qLink {
		return g.ahostop(etherAton(s), q.dir)
	}
	fail("ARCnet address used in non-arc expression")
	return nil
}

// p80211Type: "type T", "type T subtype S", "subtype S"
// (gen_p80211_type). PPI is not among the link types libpcap takes.
func (g *gen) p80211Type(v, mask uint32) *block {
	switch g.linktype {
	case dltIEEE80211, dltPrism, dltAVS, dltRadiotap:
		return g.mcmp(orLinkhdr, 0, szB, v, mask)
	}
	fail("802.11 link-layer types supported only on 802.11")
	return nil
}

// p80211Dir: "dir D" (gen_p80211_fcdir).
func (g *gen) p80211Dir(v uint32) *block {
	switch g.linktype {
	case dltIEEE80211, dltPrism, dltAVS, dltRadiotap:
		return g.mcmp(orLinkhdr, 1, szB, v, wlanDirMask)
	}
	fail("frame direction supported only with 802.11 headers")
	return nil
}

// ppiDLTCheck: on PPI, the per-packet DLT must be DLT_IEEE802_11
// (gen_ppi_dlt_check).
func (g *gen) ppiDLTCheck() *block {
	if g.linktype != dltPPI {
		return nil
	}
	return newBlock(jmp(jmpJEQ), swapLong(105), newStmt(clsLD|modeABS|szW, 4))
}

// insertOtherVloffsets adds, before the statements of the root block
// b, the code computing the variable offsets of the 802.11 link types
// (insert_compute_vloffsets): the length of the radio header into the
// link-layer header register, then the length of the 802.11 header
// into the payload register. It reports whether it did (libpcap's
// optimizer is then off).
func (g *gen) insertOtherVloffsets(b *block) bool {
	if g.offLinkpl.reg != -1 && g.offLinkhdr.isVariable && g.offLinkhdr.reg == -1 {
		g.offLinkhdr.reg = g.allocReg()
	}
	var s []*stmt
	switch g.outermostlinktype {
	case dltPrism:
		s = g.loadPrismLLPrefixLen()
	case dltAVS:
		s = g.loadAVSLLPrefixLen()
	case dltRadiotap, dltPPI:
		s = g.loadRadiotapLLPrefixLen()
	}
	if is80211(g.outermostlinktype) {
		s = g.load80211HeaderLen(s, b.stmts)
	}
	if g.outermostlinktype == dltPFLOG && g.offLinkpl.reg != -1 {
		// The payload follows the header, whose length is its first
		// byte, rounded up to 4.
		s = []*stmt{
			newStmt(clsLD|szB|modeABS, 0),
			newStmt(clsALU|aluADD|srcK, 3),
			newStmt(clsALU|aluAND|srcK, 0xfffffffc),
			newStmt(clsST, uint32(g.offLinkpl.reg)),
			newStmt(clsMISC|miscTAX, 0),
		}
	}
	if s == nil {
		return false
	}
	b.stmts = append(s, b.stmts...)
	return true
}

func (g *gen) loadPrismLLPrefixLen() []*stmt {
	if g.offLinkhdr.reg == -1 {
		return nil
	}
	g.noOptimize = true
	ldLen := newStmt(clsLD|szW|modeABS, 4)
	imm := newStmt(clsLD|szW|modeIMM, 144)
	st := newStmt(clsST, uint32(g.offLinkhdr.reg))
	jeq := &stmt{code: jmp(jmpJEQ), k: 0x80211000, jt: ldLen, jf: imm}
	return []*stmt{
		newStmt(clsLD|szW|modeABS, 0),
		newStmt(clsALU|aluAND|srcK, 0xfffff000),
		jeq, ldLen,
		newStmt(clsJMP|jmpJA, 1),
		imm, st,
		newStmt(clsMISC|miscTAX, 0),
	}
}

func (g *gen) loadAVSLLPrefixLen() []*stmt {
	if g.offLinkhdr.reg == -1 {
		return nil
	}
	return []*stmt{
		newStmt(clsLD|szW|modeABS, 4),
		newStmt(clsST, uint32(g.offLinkhdr.reg)),
		newStmt(clsMISC|miscTAX, 0),
	}
}

// loadRadiotapLLPrefixLen loads the little-endian length field of a
// radiotap (or PPI) header.
func (g *gen) loadRadiotapLLPrefixLen() []*stmt {
	if g.offLinkhdr.reg == -1 {
		return nil
	}
	return []*stmt{
		newStmt(clsLD|szB|modeABS, 3),
		newStmt(clsALU|aluLSH|srcK, 8),
		newStmt(clsMISC|miscTAX, 0),
		newStmt(clsLD|szB|modeABS, 2),
		newStmt(clsALU|aluOR|srcX, 0),
		newStmt(clsST, uint32(g.offLinkhdr.reg)),
		newStmt(clsMISC|miscTAX, 0),
	}
}

// load80211HeaderLen computes the offset of the 802.11 payload: 24
// after the link-layer header, 2 more for a QoS data frame, rounded up
// to 4 on radiotap when the flags say the driver padded the header
// (gen_load_802_11_header_len). next is the first statement of the
// rest of the program (nil: the block's jump).
func (g *gen) load80211HeaderLen(s []*stmt, rest []*stmt) []*stmt {
	if g.offLinkpl.reg == -1 {
		return s
	}
	g.noOptimize = true
	var next *stmt
	if len(rest) > 0 {
		next = rest[0]
	}
	if s == nil {
		s = []*stmt{newStmt(clsLDX|modeIMM, g.offOutermostlinkhdr.constPart)}
	}
	reg := uint32(g.offLinkpl.reg)
	add := func(code uint16, k uint32) *stmt {
		st := newStmt(code, k)
		s = append(s, st)
		return st
	}
	add(clsMISC|miscTXA, 0)
	add(clsALU|aluADD|srcK, 24)
	add(clsST, reg)
	add(clsLD|modeIND|szB, 0)
	data1 := add(jmp(jmpJSET), 0x08)
	data2 := add(jmp(jmpJSET), 0x04)
	data1.jt, data1.jf = data2, next
	qos := add(jmp(jmpJSET), 0x80)
	data2.jt, data2.jf = next, qos
	qos.jt = add(clsLD|modeMEM, reg)
	add(clsALU|aluADD|srcK, 2)
	add(clsST, reg)
	if g.linktype != dltRadiotap {
		qos.jf = next
		return s
	}
	qos.jf = add(clsLD|modeABS|szW, 4)
	flags := add(jmp(jmpJSET), swapLong(0x00000002))
	flags.jf = next
	ext := add(jmp(jmpJSET), swapLong(0x80000000))
	flags.jt = ext
	ext.jt = next
	tsft := add(jmp(jmpJSET), swapLong(0x00000001))
	ext.jf = tsft
	tsft.jt = add(clsLD|modeABS|szB, 16)
	tsftPad := add(jmp(jmpJSET), 0x20)
	tsft.jf = add(clsLD|modeABS|szB, 8)
	noTsftPad := add(jmp(jmpJSET), 0x20)
	round := add(clsLD|modeMEM, reg)
	add(clsALU|aluADD|srcK, 3)
	add(clsALU|aluAND|srcK, ^uint32(3))
	add(clsST, reg)
	tsftPad.jt, tsftPad.jf = round, next
	noTsftPad.jt, noTsftPad.jf = round, next
	return s
}

// ATM fields of the SunATM pseudo-header (gen_atmfield_code).
const (
	atmVPI = iota
	atmVCI
	atmProtoType
	atmMsgType
)

// atmMsgTypePos is the offset of the message type in a signalling
// message (atmuni31.h MSG_TYPE_POS).
const atmMsgTypePos = 5

// UNI 3.1 signalling message types.
const (
	atmCallProceed = 0x02
	atmConnect     = 0x07
	atmConnectAck  = 0x0f
	atmSetup       = 0x05
	atmRelease     = 0x4d
	atmReleaseDone = 0x5a
)

func (g *gen) atmfieldCode(field int, v uint32, jtype uint16, reverse bool) *block {
	switch field {
	case atmVPI:
		if !g.isATM {
			fail("'vpi' supported only on raw ATM")
		}
		return g.ncmp(orLinkhdr, g.offVPI, szB, 0xffffffff, jtype, reverse, v)
	case atmVCI:
		if !g.isATM {
			fail("'vci' supported only on raw ATM")
		}
		return g.ncmp(orLinkhdr, g.offVCI, szH, 0xffffffff, jtype, reverse, v)
	case atmProtoType:
		return g.ncmp(orLinkhdr, g.offProto, szB, 0x0f, jtype, reverse, v)
	case atmMsgType:
		return g.ncmp(orLinkhdr, g.offPayload+atmMsgTypePos, szB, 0xffffffff, jtype, reverse, v)
	}
	panic("bad ATM field")
}

// atmVPIVCI: VPI 0 and the given VCI.
func (g *gen) atmVPIVCI(vci uint32) *block {
	b0 := g.atmfieldCode(atmVPI, 0, jmpJEQ, false)
	b1 := g.atmfieldCode(atmVCI, vci, jmpJEQ, false)
	genAnd(b0, b1)
	return b1
}

// atmtypeLLC: LLC-encapsulated; later tests see the link type before
// "lane" (gen_atmtype_llc).
func (g *gen) atmtypeLLC() *block {
	b0 := g.atmfieldCode(atmProtoType, ptLLC, jmpJEQ, false)
	g.linktype = g.prevlinktype
	return b0
}

// field generates an ATM or SS7 keyword or field test.
func (g *gen) field(n fieldNode) *block {
	rawATM := func() {
		if !g.isATM {
			fail("'%s' supported only on raw ATM", n.kw)
		}
	}
	mtp2 := func(what string) {
		if !isMTP2(g.linktype) {
			fail("'%s' supported only on %s", n.kw, what)
		}
	}
	switch n.kw {
	case "metac":
		rawATM()
		return g.atmVPIVCI(1)
	case "bcc":
		rawATM()
		return g.atmVPIVCI(2)
	case "oamf4sc":
		if !g.isATM {
			fail("'oam4sc' supported only on raw ATM")
		}
		return g.atmVPIVCI(3)
	case "oamf4ec":
		if !g.isATM {
			fail("'oam4ec' supported only on raw ATM")
		}
		return g.atmVPIVCI(4)
	case "sc":
		rawATM()
		return g.atmVPIVCI(5)
	case "ilmic":
		rawATM()
		return g.atmVPIVCI(16)
	case "lane":
		rawATM()
		b1 := g.atmfieldCode(atmProtoType, ptLANE, jmpJEQ, false)
		g.pushLinkhdr(dltEN10MB, false, g.offPayload+2, -1)
		g.offLinktype.constPart = g.offLinkhdr.constPart + 12
		g.offLinkpl.constPart = g.offLinkhdr.constPart + 14
		g.offNl, g.offNlNosnap = 0, 3
		return b1
	case "oam", "oamf4":
		rawATM()
		b0 := g.atmfieldCode(atmVCI, 3, jmpJEQ, false)
		b1 := g.atmfieldCode(atmVCI, 4, jmpJEQ, false)
		genOr(b0, b1)
		b0 = g.atmfieldCode(atmVPI, 0, jmpJEQ, false)
		genAnd(b0, b1)
		return b1
	case "connectmsg", "metaconnect":
		rawATM()
		types := []uint32{atmSetup, atmCallProceed, atmConnect, atmConnectAck, atmRelease, atmReleaseDone}
		if n.kw == "metaconnect" {
			types = []uint32{atmSetup, atmCallProceed, atmConnect, atmRelease, atmReleaseDone}
		}
		b1 := g.atmfieldCode(atmMsgType, types[0], jmpJEQ, false)
		b0 := g.atmfieldCode(atmMsgType, types[1], jmpJEQ, false)
		genOr(b1, b0)
		b1 = b0
		for _, t := range types[2:] {
			b0 = g.atmfieldCode(atmMsgType, t, jmpJEQ, false)
			genOr(b0, b1)
		}
		if n.kw == "metaconnect" {
			b0 = g.atmVPIVCI(1)
		} else {
			b0 = g.atmVPIVCI(5)
		}
		genAnd(b0, b1)
		return b1
	case "vpi", "vci":
		f := atmVPI
		if n.kw == "vci" {
			f = atmVCI
		}
		return g.orTests(n.tests, func(t fieldTest) *block { return g.atmfieldCode(f, t.v, t.op, t.reversed) })
	case "fisu":
		mtp2("MTP2")
		return g.ncmp(orPacket, g.mtp.li, szB, 0x3f, jmpJEQ, false, 0)
	case "lssu":
		mtp2("MTP2")
		b0 := g.ncmp(orPacket, g.mtp.li, szB, 0x3f, jmpJGT, true, 2)
		b1 := g.ncmp(orPacket, g.mtp.li, szB, 0x3f, jmpJGT, false, 0)
		genAnd(b1, b0)
		return b0
	case "msu":
		mtp2("MTP2")
		return g.ncmp(orPacket, g.mtp.li, szB, 0x3f, jmpJGT, false, 2)
	case "hfisu":
		mtp2("MTP2_HSL")
		return g.ncmp(orPacket, g.mtp.liHSL, szH, 0xff80, jmpJEQ, false, 0)
	case "hlssu":
		mtp2("MTP2_HSL")
		b0 := g.ncmp(orPacket, g.mtp.liHSL, szH, 0xff80, jmpJGT, true, 0x0100)
		b1 := g.ncmp(orPacket, g.mtp.liHSL, szH, 0xff80, jmpJGT, false, 0)
		genAnd(b1, b0)
		return b0
	case "hmsu":
		mtp2("MTP2_HSL")
		return g.ncmp(orPacket, g.mtp.liHSL, szH, 0xff80, jmpJGT, false, 0x0100)
	}
	return g.orTests(n.tests, func(t fieldTest) *block { return g.mtp3Field(n.kw, t) })
}

// orTests or-s the blocks of tests, in order.
func (g *gen) orTests(tests []fieldTest, f func(fieldTest) *block) *block {
	b := f(tests[0])
	for _, t := range tests[1:] {
		b1 := f(t)
		genOr(b, b1)
		b = b1
	}
	return b
}

// mtp3Field: an SS7 MTP3 field test (gen_mtp3field_code); the "h"
// forms are 3 bytes further, for high-speed links.
func (g *gen) mtp3Field(kw string, t fieldTest) *block {
	hsl := uint32(0)
	if strings.HasPrefix(kw, "h") {
		hsl, kw = 3, kw[1:]
	}
	v := t.v
	var off, mask uint32
	var size uint16
	switch kw {
	case "sio":
		if g.mtp.sio == offNotSet {
			fail("'sio' supported only on SS7")
		}
		if v > 255 {
			fail("sio value %d too big; max value = 255", v)
		}
		off, size, mask = g.mtp.sio+hsl, szB, 0xffffffff
	case "opc":
		if g.mtp.opc == offNotSet {
			fail("'opc' supported only on SS7")
		}
		if v > 16383 {
			fail("opc value %d too big; max value = 16383", v)
		}
		v = (v&0x3c00)>>10 + (v&0x3fc)<<6 + (v&0x3)<<22
		off, size, mask = g.mtp.opc+hsl, szW, 0x00c0ff0f
	case "dpc":
		if g.mtp.dpc == offNotSet {
			fail("'dpc' supported only on SS7")
		}
		if v > 16383 {
			fail("dpc value %d too big; max value = 16383", v)
		}
		v = (v&0xff)<<24 + (v&0x3f00)<<8
		off, size, mask = g.mtp.dpc+hsl, szW, 0xff3f0000
	case "sls":
		if g.mtp.sls == offNotSet {
			fail("'sls' supported only on SS7")
		}
		if v > 15 {
			fail("sls value %d too big; max value = 15", v)
		}
		v <<= 4
		off, size, mask = g.mtp.sls+hsl, szB, 0xf0
	default:
		panic("bad SS7 field")
	}
	return g.ncmp(orPacket, off, size, mask, t.op, t.reversed, v)
}

// Fields of the PFLOG header (struct pfloghdr, as libpcap defines it
// outside the BSDs).
const (
	pflogAF        = 1
	pflogAction    = 2
	pflogReason    = 3
	pflogIfname    = 4
	pflogRuleset   = 20
	pflogRulenr    = 36
	pflogSubrulenr = 40
	pflogDir       = 60
	pflogNameSize  = 16 // ifname and ruleset, with their NUL

	pfIn  = 1
	pfOut = 2
)

// pflogReasons and pflogActions are grammar.y's names (as built on
// Linux).
var pflogReasons = []wlanName{
	{"match", 0}, {"bad-offset", 1}, {"fragment", 2}, {"short", 3}, {"normalize", 4},
	{"memory", 5}, {"bad-timestamp", 6}, {"congestion", 7}, {"ip-option", 8},
	{"proto-cksum", 9}, {"state-mismatch", 10}, {"state-insert", 11},
	{"state-limit", 12}, {"src-limit", 13}, {"synproxy", 14},
}

var pflogActions = []wlanName{
	{"pass", 0}, {"accept", 0}, {"drop", 1}, {"block", 1}, {"scrub", 2}, {"noscrub", 3},
	{"nat", 4}, {"nonat", 5}, {"binat", 6}, {"nobinat", 7}, {"rdr", 8}, {"nordr", 9},
	{"synproxy-drop", 10},
}

// pf generates a PFLOG keyword: "on IF", "ruleset NAME", "rnr N",
// "srnr N", "reason R", "action A" (gen_pf_*).
func (g *gen) pf(n pfNode) *block {
	if g.linktype != dltPFLOG {
		fail("%s supported only on PF linktype", n.what)
	}
	switch n.what {
	case "ifname", "ruleset":
		off := uint32(pflogIfname)
		if n.what == "ruleset" {
			off = pflogRuleset
		}
		if len(n.s) >= pflogNameSize {
			if n.what == "ifname" {
				fail("ifname interface names can only be %d characters", pflogNameSize-1)
			}
			fail("ruleset names can only be %d characters", pflogNameSize-1)
		}
		if n.s == "" {
			return g.genTrue()
		}
		return g.bcmp(orLinkhdr, off, []byte(n.s))
	case "rnr":
		return g.cmp(orLinkhdr, pflogRulenr, szW, n.num)
	case "srnr":
		return g.cmp(orLinkhdr, pflogSubrulenr, szW, n.num)
	case "reason":
		return g.cmp(orLinkhdr, pflogReason, szB, n.num)
	case "action":
		return g.cmp(orLinkhdr, pflogAction, szB, n.num)
	}
	panic("bad pf keyword")
}
