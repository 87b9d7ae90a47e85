package steno

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// This file reads Stenographer's own syntax, with its lexer's rules
// (query/parser.y in google/stenographer): keywords are matched as
// prefixes of the remaining input before anything else; a value is a run
// of [0-9a-f:.TZ+-] ended early by 'm' or 'h' (taken as its last
// character); a value with '-', 'T', '+' or 'Z' is an RFC 3339 time, else
// one with ':' or '.' is an IP address, else one ending in 'm' or 'h' is a
// duration, else it is a decimal number. Single characters ( ) / : . are
// tokens of their own.

type tokKind uint8

const (
	tEOF tokKind = iota
	tKeyword
	tIP
	tNum
	tDur
	tTime
	tChar
)

type token struct {
	kind tokKind
	text string // keyword or character
	ip   net.IP
	num  int
	dur  time.Duration
	t    time.Time
	pos  int
}

// stenoKeywords are Stenographer's; none is a prefix of another.
var stenoKeywords = []string{
	"after", "ago", "&&", "and", "before", "host", "icmp", "ip", "mask",
	"net", "||", "or", "port", "vlan", "mpls", "proto", "tcp", "udp",
}

type stenoLexer struct {
	in  string
	pos int
}

func (x *stenoLexer) next() (token, error) {
	for x.pos < len(x.in) && isSpace(x.in[x.pos]) {
		x.pos++
	}
	start := x.pos
	rest := x.in[x.pos:]
	for _, k := range stenoKeywords {
		if strings.HasPrefix(rest, k) {
			x.pos += len(k)
			return token{kind: tKeyword, text: k, pos: start}, nil
		}
	}
	var isIP, isDur, isTime bool
scan:
	for x.pos < len(x.in) {
		switch c := x.in[x.pos]; {
		case c == ':' || c == '.':
			isIP = true
		case c >= '0' && c <= '9' || c >= 'a' && c <= 'f':
		case c == 'm' || c == 'h':
			x.pos++
			isDur = true
			break scan
		case c == '-' || c == 'T' || c == '+' || c == 'Z':
			isTime = true
		default:
			break scan
		}
		x.pos++
	}
	part := x.in[start:x.pos]
	switch {
	case isTime:
		t, err := time.Parse(time.RFC3339, part)
		if err != nil {
			return token{}, fmt.Errorf("bad time %q at offset %d", part, start)
		}
		return token{kind: tTime, t: t, pos: start}, nil
	case isIP:
		ip := net.ParseIP(part)
		if ip == nil {
			return token{}, fmt.Errorf("bad IP address %q at offset %d", part, start)
		}
		if ip4 := ip.To4(); ip4 != nil {
			ip = ip4
		}
		return token{kind: tIP, ip: ip, pos: start}, nil
	case isDur:
		d, err := time.ParseDuration(part)
		if err != nil {
			return token{}, fmt.Errorf("bad duration %q at offset %d", part, start)
		}
		return token{kind: tDur, dur: d, pos: start}, nil
	case x.pos != start:
		n, err := strconv.Atoi(part)
		if err != nil {
			return token{}, fmt.Errorf("bad number %q at offset %d", part, start)
		}
		return token{kind: tNum, num: n, pos: start}, nil
	case x.pos >= len(x.in):
		return token{kind: tEOF, pos: start}, nil
	}
	switch c := x.in[x.pos]; c {
	case '(', ')', '/', ':', '.':
		x.pos++
		return token{kind: tChar, text: string(c), pos: start}, nil
	}
	return token{}, fmt.Errorf("unexpected %q at offset %d", x.in[x.pos:x.pos+1], start)
}

func isSpace(c byte) bool {
	// Stenographer tests unicode.IsSpace on single bytes.
	switch c {
	case ' ', '\t', '\n', '\v', '\f', '\r', 0x85, 0xA0:
		return true
	}
	return false
}

func (t token) String() string {
	switch t.kind {
	case tEOF:
		return "end of query"
	case tKeyword, tChar:
		return strconv.Quote(t.text)
	case tIP:
		return "IP address " + t.ip.String()
	case tNum:
		return "number " + strconv.Itoa(t.num)
	case tDur:
		return "duration " + t.dur.String()
	case tTime:
		return "time " + t.t.Format(time.RFC3339Nano)
	}
	return "token"
}

// primKind is a Stenographer primitive.
type primKind uint8

const (
	primNet   primKind = iota // host and net
	primPort                  // TCP or UDP port
	primProto                 // IP protocol
	primVLAN
	primMPLS
)

type prim struct {
	kind primKind
	net  *net.IPNet // primNet: masked address and contiguous mask
	n    int
}

type stenoParser struct {
	lex   stenoLexer
	tok   token
	now   time.Time
	depth int
	times int
}

// parseSteno parses query as Stenographer syntax.
func parseSteno(query string, now time.Time) (*node, error) {
	p := &stenoParser{lex: stenoLexer{in: query}, now: now}
	if err := p.advance(); err != nil {
		return nil, err
	}
	n, err := p.expr()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tEOF {
		return nil, fmt.Errorf("unexpected %v at offset %d", p.tok, p.tok.pos)
	}
	return n, nil
}

func (p *stenoParser) advance() error {
	t, err := p.lex.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

func (p *stenoParser) isKeyword(k string) bool { return p.tok.kind == tKeyword && p.tok.text == k }

func (p *stenoParser) expr() (*node, error) {
	l, err := p.expr2()
	if err != nil {
		return nil, err
	}
	for {
		var kind nodeKind
		switch {
		case p.isKeyword("and") || p.isKeyword("&&"):
			kind = kindAnd
		case p.isKeyword("or") || p.isKeyword("||"):
			kind = kindOr
		default:
			return l, nil
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		r, err := p.expr2()
		if err != nil {
			return nil, err
		}
		l = joinNodes(kind, l, r)
	}
}

// want reads a token of the given kind, for the error naming what.
func (p *stenoParser) want(kind tokKind, what, after string) (token, error) {
	t := p.tok
	if t.kind != kind {
		return t, fmt.Errorf("want %s after %q, got %v at offset %d", what, after, t, t.pos)
	}
	return t, p.advance()
}

func (p *stenoParser) expr2() (*node, error) {
	t := p.tok
	if t.kind == tChar && t.text == "(" {
		if p.depth++; p.depth > MaxDepth {
			return nil, fmt.Errorf("parentheses nested deeper than %d", MaxDepth)
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		n, err := p.expr()
		if err != nil {
			return nil, err
		}
		if p.tok.kind != tChar || p.tok.text != ")" {
			return nil, fmt.Errorf("want \")\", got %v at offset %d", p.tok, p.tok.pos)
		}
		p.depth--
		return n, p.advance()
	}
	if t.kind != tKeyword {
		return nil, fmt.Errorf("want a primitive, got %v at offset %d", t, t.pos)
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	leaf := func(pr prim) *node { return &node{kind: kindPrim, prim: pr} }
	switch t.text {
	case "host":
		ip, err := p.want(tIP, "an IP address", t.text)
		if err != nil {
			return nil, err
		}
		bits := len(ip.ip) * 8
		return leaf(prim{kind: primNet, net: &net.IPNet{IP: ip.ip, Mask: net.CIDRMask(bits, bits)}}), nil
	case "port", "vlan", "mpls":
		n, err := p.want(tNum, "a number", t.text)
		if err != nil {
			return nil, err
		}
		kind, limit := primPort, 1<<16
		switch t.text {
		case "vlan":
			kind = primVLAN
		case "mpls":
			kind, limit = primMPLS, 1<<20
		}
		if n.num < 0 || n.num >= limit {
			return nil, fmt.Errorf("invalid %s %d at offset %d", t.text, n.num, n.pos)
		}
		return leaf(prim{kind: kind, n: n.num}), nil
	case "ip":
		if !p.isKeyword("proto") {
			return nil, fmt.Errorf("want \"proto\" after \"ip\", got %v at offset %d", p.tok, p.tok.pos)
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		n, err := p.want(tNum, "a number", "ip proto")
		if err != nil {
			return nil, err
		}
		if n.num < 0 || n.num >= 256 {
			return nil, fmt.Errorf("invalid proto %d at offset %d", n.num, n.pos)
		}
		return leaf(prim{kind: primProto, n: n.num}), nil
	case "tcp":
		return leaf(prim{kind: primProto, n: 6}), nil
	case "udp":
		return leaf(prim{kind: primProto, n: 17}), nil
	case "icmp":
		return leaf(prim{kind: primProto, n: 1}), nil
	case "net":
		return p.net(t)
	case "before", "after":
		if p.times++; p.times > MaxTimeTerms {
			return nil, fmt.Errorf("more than %d time terms", MaxTimeTerms)
		}
		var at time.Time
		switch v := p.tok; v.kind {
		case tTime:
			at = v.t
		case tDur:
			if err := p.advance(); err != nil {
				return nil, err
			}
			if !p.isKeyword("ago") {
				return nil, fmt.Errorf("want \"ago\" after %q, got %v at offset %d", v.dur, p.tok, p.tok.pos)
			}
			at = p.now.Add(-v.dur)
		default:
			return nil, fmt.Errorf("want a time (RFC 3339, or N(m|h) ago) after %q, got %v at offset %d", t.text, v, v.pos)
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		return timeNode(t.text == "after", at, t.pos, p.tok.pos), nil
	}
	return nil, fmt.Errorf("want a primitive, got %v at offset %d", t, t.pos)
}

func (p *stenoParser) net(kw token) (*node, error) {
	ip, err := p.want(tIP, "an IP address", kw.text)
	if err != nil {
		return nil, err
	}
	var mask net.IPMask
	switch {
	case p.tok.kind == tChar && p.tok.text == "/":
		if err := p.advance(); err != nil {
			return nil, err
		}
		n, err := p.want(tNum, "a prefix length", "/")
		if err != nil {
			return nil, err
		}
		mask = net.CIDRMask(n.num, len(ip.ip)*8)
		if mask == nil {
			return nil, fmt.Errorf("bad CIDR %v/%d at offset %d", ip.ip, n.num, ip.pos)
		}
	case p.isKeyword("mask"):
		if err := p.advance(); err != nil {
			return nil, err
		}
		m, err := p.want(tIP, "a mask", "mask")
		if err != nil {
			return nil, err
		}
		if len(m.ip) != len(ip.ip) {
			return nil, fmt.Errorf("bad IP or mask: %v %v at offset %d", ip.ip, m.ip, ip.pos)
		}
		mask = net.IPMask(m.ip)
		if ones, bits := mask.Size(); ones == 0 && bits == 0 {
			// Stenographer takes the range from ip&mask to ip|^mask,
			// which no libpcap net primitive expresses.
			return nil, fmt.Errorf("non-contiguous mask %v is not supported at offset %d", m.ip, m.pos)
		}
	default:
		return nil, fmt.Errorf("want \"/\" or \"mask\" after net %v, got %v at offset %d", ip.ip, p.tok, p.tok.pos)
	}
	return &node{kind: kindPrim, prim: prim{kind: primNet, net: &net.IPNet{IP: ip.ip.Mask(mask), Mask: mask}}}, nil
}

// encap is the encapsulation a rendering of a Stenographer query is for.
type encap uint8

const (
	encNone encap = iota // untagged Ethernet
	encVLAN              // after one VLAN tag (libpcap's "vlan")
	encMPLS              // after one MPLS label (libpcap's "mpls")
)

// renderSteno renders a folded Stenographer AST as a tcpdump expression,
// "E or (vlan and (E'))" (see the package doc), and false if it matches
// nothing.
func renderSteno(n *node) (string, bool, error) {
	second := encVLAN
	if uses(n, primMPLS) && !uses(n, primVLAN) {
		second = encMPLS
	}
	var parts []string
	for _, e := range []encap{encNone, second} {
		s, v, chain := renderPrims(n, e)
		if v == valTrue {
			return "", true, nil // cannot happen for a folded, non-constant AST
		}
		if v == valFalse {
			continue
		}
		if chain && e != encNone {
			s = "(" + s + ")"
		}
		switch e {
		case encVLAN:
			s = "(vlan and " + s + ")"
		case encMPLS:
			s = "(mpls and " + s + ")"
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return "", false, nil
	}
	return strings.Join(parts, " or "), true, nil
}

func uses(n *node, k primKind) bool {
	if n == nil {
		return false
	}
	if n.kind == kindPrim {
		return n.prim.kind == k
	}
	return uses(n.l, k) || uses(n.r, k)
}

type value uint8

const (
	valExpr value = iota
	valTrue
	valFalse
)

// renderPrims renders n for encapsulation e, and reports whether the
// result is an and/or chain not enclosed in parentheses. "and" and "or"
// have equal precedence and associate to the left in both languages, so
// only a chain on the right of another needs parentheses (left chains
// stay flat, which keeps long queries within libpcap's nesting limit).
func renderPrims(n *node, e encap) (string, value, bool) {
	switch n.kind {
	case kindConst:
		if n.val {
			return "", valTrue, false
		}
		return "", valFalse, false
	case kindPrim:
		s, v := renderPrim(n.prim, e)
		return s, v, false
	case kindAnd, kindOr:
		l, lv, lc := renderPrims(n.l, e)
		r, rv, rc := renderPrims(n.r, e)
		absorb, neutral := valFalse, valTrue
		op := " and "
		if n.kind == kindOr {
			absorb, neutral, op = valTrue, valFalse, " or "
		}
		switch {
		case lv == absorb || rv == absorb:
			return "", absorb, false
		case lv == neutral:
			return r, rv, rc
		case rv == neutral:
			return l, lv, lc
		}
		if rc {
			r = "(" + r + ")"
		}
		return l + op + r, valExpr, true
	}
	// Stenographer has no "not"; its AST holds nothing else.
	return "", valFalse, false
}

func renderPrim(p prim, e encap) (string, value) {
	switch p.kind {
	case primNet:
		ones, bits := p.net.Mask.Size()
		ipv := "ip"
		if bits == 128 {
			ipv = "ip6"
		}
		switch ones {
		case 0:
			return ipv, valExpr
		case bits:
			return "(" + ipv + " host " + p.net.IP.String() + ")", valExpr
		}
		return "(" + ipv + " net " + p.net.String() + ")", valExpr
	case primPort:
		return fmt.Sprintf("(tcp port %d or udp port %d)", p.n, p.n), valExpr
	case primProto:
		return fmt.Sprintf("(ip proto %d or ip6 proto %d)", p.n, p.n), valExpr
	case primVLAN:
		if e != encVLAN {
			return "", valFalse
		}
		return fmt.Sprintf("(ether[14:2] & 0xfff = %d)", p.n), valExpr
	case primMPLS:
		if e != encMPLS {
			return "", valFalse
		}
		return fmt.Sprintf("(ether[14:4] >> 12 = %d)", p.n), valExpr
	}
	return "", valFalse
}
