package filter

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
)

// tokKind identifies a lexical token of the filter language.
type tokKind int

// Token kinds. Keywords map onto these through the keyword table; the
// operator kinds stand for the single characters and digraphs of the
// language.
const (
	tEOF tokKind = iota
	tLexError

	// qualifiers
	tDst
	tSrc
	tHost
	tGateway
	tNet
	tNetmask
	tPort
	tPortrange
	tProto
	tProtochain
	tLess
	tGreater
	tByte
	tBroadcast
	tMulticast
	tInbound
	tOutbound
	tIfindex
	tLen
	tVlan
	tMpls
	tPppoed
	tPppoes
	tGeneve
	tAnd
	tOr
	tNot
	tType
	tSubtype
	tDir
	tAddr1
	tAddr2
	tAddr3
	tAddr4
	tRA
	tTA
	tLLC
	tPFIfname
	tPFRset
	tPFRnr
	tPFSrnr
	tPFReason
	tPFAction
	tATM   // ATM keywords (lane, metac, vpi, ...): never valid on our link types
	tMTP   // SS7 MTP2/MTP3 keywords: never valid on our link types
	tPname // a protocol name (pname in grammar.y); tok.proto says which

	// values
	tNum  // a number (tok.num)
	tID   // a name (tok.text)
	tHID  // a dotted IPv4 address or prefix (tok.text)
	tHID6 // an IPv6 address (tok.text)
	tEID  // a MAC address (tok.text)
	tAID  // an ARCnet address "$xx" (tok.text)

	// operators
	tPlus
	tMinus
	tStar
	tSlash
	tPercent
	tColon
	tLBrack
	tRBrack
	tLParen
	tRParen
	tAmp
	tPipe
	tCaret
	tEq
	tGT
	tLT
	tGE
	tLE
	tNE
	tLsh
	tRsh
)

// token is one lexeme with its position (byte offset in the expression).
type token struct {
	kind  tokKind
	pos   int
	text  string // the matched text (for ID, without the leading backslash)
	num   uint32 // tNum
	proto int    // tPname: the protocol qualifier
	err   string // tLexError or a lexeme the scanner flags as bogus
}

// keywords are the reserved words of scanner.l. Protocol names are
// handled separately in pnames. Matching is case-sensitive, as in
// libpcap.
var keywords = map[string]tokKind{
	"dst": tDst, "src": tSrc,
	"host": tHost, "net": tNet, "mask": tNetmask, "port": tPort,
	"portrange": tPortrange, "proto": tProto, "protochain": tProtochain,
	"gateway": tGateway,
	"type":    tType, "subtype": tSubtype, "direction": tDir, "dir": tDir,
	"address1": tAddr1, "addr1": tAddr1, "address2": tAddr2, "addr2": tAddr2,
	"address3": tAddr3, "addr3": tAddr3, "address4": tAddr4, "addr4": tAddr4,
	"ra": tRA, "ta": tTA,
	"less": tLess, "greater": tGreater, "byte": tByte,
	"broadcast": tBroadcast, "multicast": tMulticast,
	"and": tAnd, "or": tOr, "not": tNot,
	"len": tLen, "length": tLen,
	"inbound": tInbound, "outbound": tOutbound, "ifindex": tIfindex,
	"vlan": tVlan, "mpls": tMpls, "pppoed": tPppoed, "pppoes": tPppoes,
	"geneve": tGeneve,
	"llc":    tLLC,
	"lane":   tATM, "metac": tATM, "bcc": tATM, "oam": tATM, "oamf4": tATM,
	"oamf4ec": tATM, "oamf4sc": tATM, "sc": tATM, "ilmic": tATM,
	"vpi": tATM, "vci": tATM, "connectmsg": tATM, "metaconnect": tATM,
	"on": tPFIfname, "ifname": tPFIfname, "rset": tPFRset, "ruleset": tPFRset,
	"rnr": tPFRnr, "rulenum": tPFRnr, "srnr": tPFSrnr, "subrulenum": tPFSrnr,
	"reason": tPFReason, "action": tPFAction,
	"fisu": tMTP, "lssu": tMTP, "lsu": tMTP, "msu": tMTP, "hfisu": tMTP,
	"hlssu": tMTP, "hmsu": tMTP, "sio": tMTP, "opc": tMTP, "dpc": tMTP,
	"sls": tMTP, "hsio": tMTP, "hopc": tMTP, "hdpc": tMTP, "hsls": tMTP,
}

// pnames are the protocol-name keywords (the pname rule of grammar.y).
var pnames = map[string]int{
	"link": qLink, "ether": qLink, "ppp": qLink, "slip": qLink,
	"fddi": qLink, "tr": qLink, "wlan": qLink,
	"arp": qARP, "rarp": qRARP, "ip": qIP, "sctp": qSCTP, "tcp": qTCP,
	"udp": qUDP, "icmp": qICMP, "igmp": qIGMP, "igrp": qIGRP, "pim": qPIM,
	"vrrp": qVRRP, "carp": qCARP, "radio": qRadio,
	"ip6": qIPv6, "icmp6": qICMPv6, "ah": qAH, "esp": qESP,
	"atalk": qAtalk, "aarp": qAARP, "decnet": qDecnet, "lat": qLAT,
	"sca": qSCA, "moprc": qMOPRC, "mopdl": qMOPDL,
	"iso": qISO, "esis": qESIS, "es-is": qESIS, "isis": qISIS, "is-is": qISIS,
	"l1": qISISL1, "l2": qISISL2, "iih": qISISIIH, "lsp": qISISLSP,
	"snp": qISISSNP, "csnp": qISISCSNP, "psnp": qISISPSNP,
	"clnp": qCLNP, "stp": qSTP, "ipx": qIPX, "netbeui": qNetbeui,
}

// numKeywords are the names the scanner turns into numbers (field offsets
// and values for ICMP, ICMPv6 and TCP).
var numKeywords = map[string]uint32{
	"icmptype": 0, "icmpcode": 1,
	"icmp-echoreply": 0, "icmp-unreach": 3, "icmp-sourcequench": 4,
	"icmp-redirect": 5, "icmp-echo": 8, "icmp-routeradvert": 9,
	"icmp-routersolicit": 10, "icmp-timxceed": 11, "icmp-paramprob": 12,
	"icmp-tstamp": 13, "icmp-tstampreply": 14, "icmp-ireq": 15,
	"icmp-ireqreply": 16, "icmp-maskreq": 17, "icmp-maskreply": 18,
	"icmp6type": 0, "icmp6code": 1,
	"icmp6-destinationunreach": 1, "icmp6-packettoobig": 2,
	"icmp6-timeexceeded": 3, "icmp6-parameterproblem": 4,
	"icmp6-echo": 128, "icmp6-echoreply": 129,
	"icmp6-multicastlistenerquery": 130, "icmp6-multicastlistenerreportv1": 131,
	"icmp6-multicastlistenerdone": 132, "icmp6-routersolicit": 133,
	"icmp6-routeradvert": 134, "icmp6-neighborsolicit": 135,
	"icmp6-neighboradvert": 136, "icmp6-redirect": 137,
	"icmp6-routerrenum": 138, "icmp6-nodeinformationquery": 139,
	"icmp6-nodeinformationresponse": 140, "icmp6-ineighbordiscoverysolicit": 141,
	"icmp6-ineighbordiscoveryadvert": 142, "icmp6-multicastlistenerreportv2": 143,
	"icmp6-homeagentdiscoveryrequest": 144, "icmp6-homeagentdiscoveryreply": 145,
	"icmp6-mobileprefixsolicit": 146, "icmp6-mobileprefixadvert": 147,
	"icmp6-certpathsolicit": 148, "icmp6-certpathadvert": 149,
	"icmp6-multicastrouteradvert": 151, "icmp6-multicastroutersolicit": 152,
	"icmp6-multicastrouterterm": 153,
	"tcpflags":                  13, "tcp-fin": 0x01, "tcp-syn": 0x02, "tcp-rst": 0x04,
	"tcp-push": 0x08, "tcp-ack": 0x10, "tcp-urg": 0x20, "tcp-ece": 0x40,
	"tcp-cwr": 0x80,
}

// The value patterns of scanner.l, in rule order. The lexer picks the
// longest match over all rules; among equally long matches the earliest
// rule wins (flex semantics). Keywords precede all of these, the
// number keywords follow them but precede ID.
var (
	reW   = `[0-9A-Fa-f]{1,4}`
	reN   = `(?:[0-9]+|0[xX][0-9A-Fa-f]+)`
	reB   = `[0-9A-Fa-f][0-9A-Fa-f]?`
	reB2  = `[0-9A-Fa-f]{4}`
	reV6  = buildV6Pattern()
	reMAC = `(?:` + reB + `:` + reB + `:` + reB + `:` + reB + `:` + reB + `:` + reB +
		`|` + reB + `-` + reB + `-` + reB + `-` + reB + `-` + reB + `-` + reB +
		`|` + reB + `\.` + reB + `\.` + reB + `\.` + reB + `\.` + reB + `\.` + reB +
		`|` + reB2 + `\.` + reB2 + `\.` + reB2 +
		`|` + reB2 + reB2 + reB2 + `)`

	valuePatterns = []struct {
		kind tokKind
		re   *regexp.Regexp
	}{
		{tAID, longest(`\$` + reB)},
		{tEID, longest(reMAC)},
		{tNum, longest(reN)},
		{tHID, longest(reN + `\.` + reN + `(?:\.` + reN + `){0,2}`)},
		{tHID6, longest(reV6)},
		{tLexError, longest(reB + `:+(?:` + reB + `:+)+`)}, // bogus ethernet address
		{tID, longest(`[A-Za-z0-9](?:[-_.A-Za-z0-9]*[.A-Za-z0-9])?`)},
		{tID, longest(`\\[^ !()\n\t]+`)},
	}
)

func longest(p string) *regexp.Regexp {
	re := regexp.MustCompile(`^(?:` + p + `)`)
	re.Longest()
	return re
}

// buildV6Pattern spells out the IPv6 address forms scanner.l accepts:
// eight groups, "::" standing for one to eight groups, and the forms
// ending in a dotted IPv4 address.
func buildV6Pattern() string {
	var alts []string
	groups := func(n int) []string {
		g := make([]string, n)
		for i := range g {
			g[i] = reW
		}
		return g
	}
	alts = append(alts, strings.Join(groups(8), ":"))
	// "::" forms with n explicit groups (0..7), split as i before and n-i after.
	for n := 7; n >= 0; n-- {
		for i := 0; i <= n; i++ {
			alts = append(alts, strings.Join(groups(i), ":")+"::"+strings.Join(groups(n-i), ":"))
		}
	}
	v4 := reN + `\.` + reN + `\.` + reN + `\.` + reN
	alts = append(alts, strings.Join(groups(6), ":")+":"+v4)
	for n := 5; n >= 0; n-- {
		for i := 0; i <= n; i++ {
			tail := strings.Join(groups(n-i), ":")
			if tail != "" {
				tail += ":"
			}
			alts = append(alts, strings.Join(groups(i), ":")+"::"+tail+v4)
		}
	}
	return `(?:` + strings.Join(alts, "|") + `)`
}

// operators maps the operator lexemes, longest first.
var operators = []struct {
	text string
	kind tokKind
}{
	{"&&", tAnd}, {"||", tOr}, {">=", tGE}, {"<=", tLE}, {"!=", tNE},
	{"==", tEq}, {"<<", tLsh}, {">>", tRsh},
	{"+", tPlus}, {"-", tMinus}, {"*", tStar}, {"/", tSlash}, {"%", tPercent},
	{":", tColon}, {"[", tLBrack}, {"]", tRBrack}, {"!", tNot}, {"<", tLT},
	{">", tGT}, {"(", tLParen}, {")", tRParen}, {"&", tAmp}, {"|", tPipe},
	{"^", tCaret}, {"=", tEq},
}

// lex splits expr into tokens following libpcap's scanner.l. Lexical
// errors become tLexError tokens (the parser reports them where they
// occur).
func lex(expr string) []token {
	// Room for a token per byte that is not a space (up to 64K tokens):
	// growing the slice token by token costs more than lexing.
	n := 1
	for i := 0; i < len(expr) && n < 1<<16; i++ {
		if c := expr[i]; c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			n++
		}
	}
	toks := make([]token, 0, n)
	i := 0
	for i < len(expr) {
		c := expr[i]
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			i++
			continue
		}
		rest := expr[i:]
		// Longest value-pattern match (earliest rule wins ties). Every
		// value starts with a letter, a digit, '$', '\\' or ':'.
		bestLen, bestKind := 0, tEOF
		if isValueStart(c) {
			for _, vp := range valuePatterns {
				if loc := vp.re.FindStringIndex(rest); loc != nil && loc[1] > bestLen {
					bestLen, bestKind = loc[1], vp.kind
				}
			}
		}
		// Operators.
		opLen, opKind := 0, tEOF
		for _, op := range operators {
			if strings.HasPrefix(rest, op.text) {
				opLen, opKind = len(op.text), op.kind
				break
			}
		}
		if bestLen == 0 && opLen == 0 {
			toks = append(toks, token{kind: tLexError, pos: i, text: rest[:1]})
			i++
			continue
		}
		if opLen >= bestLen {
			// Operators precede all value rules; keywords never start
			// with an operator character.
			toks = append(toks, token{kind: opKind, pos: i, text: rest[:opLen]})
			i += opLen
			continue
		}
		text := rest[:bestLen]
		tok := token{kind: bestKind, pos: i, text: text}
		if k, ok := keywords[text]; ok {
			tok.kind = k
		} else if p, ok := pnames[text]; ok {
			tok.kind, tok.proto = tPname, p
		} else {
			switch bestKind {
			case tNum:
				tok.num, tok.err = parseNum(text)
				if tok.err != "" {
					tok.kind = tLexError
				}
			case tHID6:
				if _, err := netip.ParseAddr(text); err != nil {
					tok.kind = tLexError
					tok.err = fmt.Sprintf("bogus IPv6 address %s", text)
				}
			case tLexError:
				tok.err = fmt.Sprintf("bogus ethernet address %s", text)
			case tID:
				if v, ok := numKeywords[text]; ok {
					tok.kind, tok.num = tNum, v
				} else if text[0] == '\\' {
					tok.text = text[1:]
				}
			}
		}
		toks = append(toks, tok)
		i += bestLen
	}
	toks = append(toks, token{kind: tEOF, pos: len(expr)})
	return toks
}

// isValueStart reports whether c can start a value pattern.
func isValueStart(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' ||
		c == '$' || c == '\\' || c == ':'
}

// parseNum converts a number lexeme as libpcap's stou does: 0x prefix for
// hex, a leading 0 for octal, decimal otherwise, with overflow checks.
func parseNum(s string) (uint32, string) {
	var n uint64
	switch {
	case len(s) > 1 && (s[1] == 'x' || s[1] == 'X'):
		for _, c := range s[2:] {
			var d uint64
			switch {
			case c >= '0' && c <= '9':
				d = uint64(c - '0')
			case c >= 'a' && c <= 'f':
				d = uint64(c-'a') + 10
			default:
				d = uint64(c-'A') + 10
			}
			n = n<<4 + d
			if n > 0xffffffff {
				return 0, fmt.Sprintf("number %s overflows 32 bits", s)
			}
		}
	case s[0] == '0':
		for _, c := range s[1:] {
			if c > '7' {
				return 0, fmt.Sprintf("number %s contains non-octal digit", s)
			}
			n = n<<3 + uint64(c-'0')
			if n > 0xffffffff {
				return 0, fmt.Sprintf("number %s overflows 32 bits", s)
			}
		}
	default:
		for _, c := range s {
			n = n*10 + uint64(c-'0')
			if n > 0xffffffff {
				return 0, fmt.Sprintf("number %s overflows 32 bits", s)
			}
		}
	}
	return uint32(n), ""
}
