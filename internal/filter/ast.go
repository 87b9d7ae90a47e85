package filter

// Protocol qualifiers (Q_* in libpcap's gencode.h). qDefault means "none
// given"; qUndef marks the qualifier set that follows a term which
// carries none (a bare id after it is a syntax error).
const (
	qDefault = iota
	qLink
	qIP
	qARP
	qRARP
	qSCTP
	qTCP
	qUDP
	qICMP
	qIGMP
	qIGRP
	qAtalk
	qDecnet
	qLAT
	qSCA
	qMOPRC
	qMOPDL
	qIPv6
	qICMPv6
	qAH
	qESP
	qPIM
	qVRRP
	qAARP
	qISO
	qESIS
	qISIS
	qCLNP
	qSTP
	qIPX
	qNetbeui
	qISISL1
	qISISL2
	qISISIIH
	qISISSNP
	qISISCSNP
	qISISPSNP
	qISISLSP
	qRadio
	qCARP
	qUndef = 255
)

// Direction qualifiers.
const (
	dDefault = iota
	dSrc
	dDst
	dOr
	dAnd
	dAddr1
	dAddr2
	dAddr3
	dAddr4
	dRA
	dTA
	dUndef = 255
)

// Address-type qualifiers.
const (
	aDefault = iota
	aHost
	aNet
	aPort
	aGateway
	aProto
	aProtochain
	aPortrange
	aUndef = 255
)

// qual is the qualifier triple attached to an id ("tcp src port").
type qual struct {
	proto, dir, addr int
}

var qerr = qual{qUndef, dUndef, aUndef}

// protoNames gives the keyword for a protocol qualifier, for messages.
var protoNames = map[int]string{
	qLink: "link", qIP: "ip", qARP: "arp", qRARP: "rarp", qSCTP: "sctp",
	qTCP: "tcp", qUDP: "udp", qICMP: "icmp", qIGMP: "igmp", qIGRP: "igrp",
	qAtalk: "atalk", qDecnet: "decnet", qLAT: "lat", qSCA: "sca",
	qMOPRC: "moprc", qMOPDL: "mopdl", qIPv6: "ip6", qICMPv6: "icmp6",
	qAH: "ah", qESP: "esp", qPIM: "pim", qVRRP: "vrrp", qAARP: "aarp",
	qISO: "iso", qESIS: "esis", qISIS: "isis", qCLNP: "clnp", qSTP: "stp",
	qIPX: "ipx", qNetbeui: "netbeui", qISISL1: "l1", qISISL2: "l2",
	qISISIIH: "iih", qISISSNP: "snp", qISISCSNP: "csnp", qISISPSNP: "psnp",
	qISISLSP: "lsp", qRadio: "radio", qCARP: "carp",
}

// node is a boolean expression of the AST.
type node interface{ isNode() }

// andNode, orNode: "a and b", "a or b" (left to right, short-circuit).
type andNode struct{ l, r node }
type orNode struct{ l, r node }

// notNode negates its operand.
type notNode struct{ x node }

// idKind tells how the value of an id primitive was written.
type idKind int

const (
	idName    idKind = iota // ID: a name (host, port, protocol, ...)
	idNum                   // pnum: a plain number
	idHID                   // HID: dotted IPv4 (possibly abbreviated)
	idHIDLen                // HID '/' NUM
	idHIDMask               // HID mask HID
	idHID6                  // HID6
	idHID6Len               // HID6 '/' NUM
	idEID                   // a MAC address
	idAID                   // an ARCnet address
)

// idNode is a qualified id: "host 10.0.0.1", "port http", "net 10/8".
type idNode struct {
	q    qual
	kind idKind
	s    string // name or address text
	s2   string // mask text (idHIDMask)
	num  uint32 // number (idNum) or prefix length
	pos  int
}

// abbrevNode is a bare protocol name: "tcp", "ip6", "arp".
type abbrevNode struct{ proto int }

// relNode is a comparison of two arithmetic expressions. op is one of
// jmpJEQ, jmpJGT, jmpJGE; reversed negates the comparison (!=, <=, <).
type relNode struct {
	op       uint16
	reversed bool
	l, r     arth
}

// otherKind enumerates the primitives of grammar.y's "other" rule.
type otherKind int

const (
	oBroadcast otherKind = iota
	oMulticast
	oLess
	oGreater
	oByte
	oInbound
	oOutbound
	oIfindex
	oVlan
	oMpls
	oPppoed
	oPppoes
	oGeneve
	oLLC
	o80211Type // 802.11 "type"/"subtype": frame control byte & num2 == num
	o80211Dir  // 802.11 "dir": frame direction num
)

// otherNode is one of the special primitives (broadcast, less, vlan, ...).
type otherNode struct {
	kind   otherKind
	proto  int    // pqual for broadcast/multicast
	num    uint32 // argument
	num2   uint32 // second argument (byte)
	op     byte   // byte operator
	hasNum bool
	llc    string // llc subtype name, "" for plain llc
}

// unsupportedNode stands for a construct that parses but that this
// package does not compile.
type unsupportedNode struct{ what string }

// fieldNode is an ATM or SS7 keyword ("lane", "oam", "fisu") or field
// test ("vpi 1", "sio > 2", "dpc (1 or 2)"): tests are or-ed.
type fieldNode struct {
	kw    string
	tests []fieldTest
}

// fieldTest compares a field with v: op is jmpJEQ, jmpJGT or jmpJGE,
// negated if reversed.
type fieldTest struct {
	op       uint16
	reversed bool
	v        uint32
}

// pfNode is a PFLOG keyword: what is "ifname", "ruleset", "rnr",
// "srnr", "reason" or "action", with its name or number.
type pfNode struct {
	what string
	s    string
	num  uint32
}

// failNode is a construct the parser accepts but libpcap's grammar
// refuses in a semantic action (an unknown 802.11 type name, ...):
// compiling it fails with msg.
type failNode struct{ msg string }

func (fieldNode) isNode()       {}
func (failNode) isNode()        {}
func (pfNode) isNode()          {}
func (andNode) isNode()         {}
func (orNode) isNode()          {}
func (notNode) isNode()         {}
func (idNode) isNode()          {}
func (abbrevNode) isNode()      {}
func (relNode) isNode()         {}
func (otherNode) isNode()       {}
func (unsupportedNode) isNode() {}

// arth is an arithmetic expression (grammar.y's arth/narth).
type arth interface{ isArth() }

type numArth struct{ v uint32 }
type lenArth struct{}
type negArth struct{ x arth }
type binArth struct {
	op   uint16 // BPF ALU operation
	l, r arth
}
type loadArth struct {
	proto int
	idx   arth
	size  uint32
}

func (numArth) isArth()  {}
func (lenArth) isArth()  {}
func (negArth) isArth()  {}
func (binArth) isArth()  {}
func (loadArth) isArth() {}
