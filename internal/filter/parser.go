package filter

import (
	"fmt"
)

// parser is a backtracking recursive-descent parser for the grammar of
// libpcap's grammar.y. It builds an AST in which every id carries the
// qualifiers it inherits (the "$<blk>0" chains of the yacc grammar), so
// "host a and b" yields two host ids. Alternatives the LALR parser tells
// apart by lookahead are tried in turn here; the grammar being
// unambiguous, at most one succeeds.
//
// Parsing takes time linear in the number of tokens. Two alternatives
// start over at the same token: a parenthesis may open an expression or
// an arithmetic operand (rterm), and a parenthesized id may be a number
// or a list of ids. The second attempt would parse again what the first
// one did, at every level of nesting, so the arithmetic expressions
// (parseArth) and parenthesized numbers (parsePnum) are memoized by
// position. The other rules are tried at most once at each token.
//
// Nesting is limited to maxDepth levels (parentheses, "not", unary
// minus, operands of binary operators), the most libpcap's parser takes:
// its yacc stack holds 10000 entries, and beyond about 9996 nested
// parentheses it fails with "memory exhausted". Every level counted here
// holds at least one entry of that stack, so an expression refused here
// is refused by libpcap too.
type parser struct {
	expr string
	toks []token
	i    int

	// The position of the furthest failure, reported when the whole
	// parse fails.
	errPos int

	depth int                  // current nesting (enter, leave)
	steps int                  // parse rule invocations, for tests of linearity
	arth  map[arthKey]arthMemo // parseArth results by position and precedence
	pnum  map[int]pnumMemo     // parsePnum results by position
}

// maxDepth is the deepest nesting parse accepts (see parser).
const maxDepth = 9996

// errTooDeep is the panic value that aborts a parse nested more than
// maxDepth levels; parse turns it into an error.
type errTooDeep struct{ pos int }

// arthKey and arthMemo memoize parseArth.
type arthKey struct{ pos, minPrec int }
type arthMemo struct {
	a   arth
	end int
	ok  bool
}

// pnumMemo memoizes parsePnum.
type pnumMemo struct {
	v   uint32
	end int
	ok  bool
}

// parseError is a syntax or lexical error at a byte position.
type parseError struct {
	pos int
	msg string
}

func (e *parseError) Error() string { return e.msg }

// parse parses expr. A nil node means the empty filter.
func parse(expr string) (node, error) {
	n, _, err := parseCounting(expr)
	return n, err
}

// parseCounting is parse that also returns how many parse rules ran.
func parseCounting(expr string) (n node, steps int, err error) {
	p := &parser{expr: expr, toks: lex(expr), errPos: -1,
		arth: map[arthKey]arthMemo{}, pnum: map[int]pnumMemo{}}
	if p.peek().kind == tEOF {
		return nil, 0, nil
	}
	defer func() {
		if r := recover(); r != nil {
			deep, ok := r.(errTooDeep)
			if !ok {
				panic(r)
			}
			n, steps = nil, p.steps
			err = &parseError{deep.pos, fmt.Sprintf("filter: expression nested too deeply at column %d (more than %d levels)", deep.pos+1, maxDepth)}
		}
	}()
	n, _, ok := p.parseExpr(qerr)
	if ok && p.peek().kind != tEOF {
		p.fail()
		ok = false
	}
	if !ok {
		return nil, p.steps, p.error()
	}
	return n, p.steps, nil
}

// enter counts one level of nesting, opened by the token just consumed
// (a parenthesis, "not", an operator), around a nested rule; it aborts
// the parse (errTooDeep) beyond maxDepth levels. Each enter is paired
// with a leave.
func (p *parser) enter() {
	p.depth++
	if p.depth > maxDepth {
		panic(errTooDeep{p.toks[p.i-1].pos})
	}
}

func (p *parser) leave() { p.depth-- }

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) peekAt(n int) token {
	if p.i+n < len(p.toks) {
		return p.toks[p.i+n]
	}
	return p.toks[len(p.toks)-1]
}
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

// fail records a syntax error at the current token. The furthest one
// is the error: the LALR parser reads as far as any alternative here
// can before it finds no way to go on.
func (p *parser) fail() {
	p.errPos = max(p.errPos, p.peek().pos)
}

func (p *parser) error() error {
	// Prefer a lexical error message anywhere in the input: libpcap
	// reports those as soon as the scanner reaches them.
	for _, t := range p.toks {
		if t.kind == tLexError && t.err != "" && t.pos <= p.errPos {
			return &parseError{t.pos, "filter: " + t.err}
		}
	}
	t := token{kind: tEOF, pos: len(p.expr)}
	for _, tt := range p.toks {
		if tt.pos == p.errPos {
			t = tt
			break
		}
	}
	col := p.errPos + 1
	open, closes := p.unbalanced(p.errPos)
	if t.kind == tEOF {
		if open != nil {
			return &parseError{p.errPos, fmt.Sprintf("filter: syntax error at column %d (unexpected end of expression; %q at column %d is not closed)",
				col, open.text, open.pos+1)}
		}
		return &parseError{p.errPos, fmt.Sprintf("filter: syntax error at column %d (unexpected end of expression)", col)}
	}
	if opener := map[tokKind]string{tRParen: "(", tRBrack: "["}[t.kind]; opener != "" && !closes {
		if open != nil {
			return &parseError{p.errPos, fmt.Sprintf("filter: syntax error at column %d near %q (%q at column %d is not closed)",
				col, t.text, open.text, open.pos+1)}
		}
		return &parseError{p.errPos, fmt.Sprintf("filter: syntax error at column %d near %q (no %q is open)", col, t.text, opener)}
	}
	near := p.expr[t.pos:]
	if end := t.pos + len(t.text); t.text != "" && end <= len(p.expr) {
		near = p.expr[t.pos:end]
		if t.kind == tID && end < len(p.expr) && p.expr[t.pos] == '\\' {
			near = p.expr[t.pos : end+1]
		}
	}
	if len(near) > 20 {
		near = near[:20]
	}
	return &parseError{p.errPos, fmt.Sprintf("filter: syntax error at column %d near %q", col, near)}
}

// unbalanced pairs the parentheses and brackets of the tokens before
// pos. open is the innermost one still open there (nil if none); closes
// reports that the token at pos is the ")" or "]" that closes it.
func (p *parser) unbalanced(pos int) (open *token, closes bool) {
	var stack []*token
	for i := range p.toks {
		t := &p.toks[i]
		var closing tokKind
		switch t.kind {
		case tLParen, tLBrack:
			if t.pos < pos {
				stack = append(stack, t)
			}
			continue
		case tRParen:
			closing = tLParen
		case tRBrack:
			closing = tLBrack
		default:
			continue
		}
		if t.pos >= pos {
			closes = t.pos == pos && len(stack) > 0 && stack[len(stack)-1].kind == closing
			break
		}
		if len(stack) > 0 && stack[len(stack)-1].kind == closing {
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) > 0 {
		open = stack[len(stack)-1]
	}
	return open, closes
}

// isFollow reports whether the current token may follow a term or id.
func (p *parser) isFollow() bool {
	switch p.peek().kind {
	case tAnd, tOr, tRParen, tEOF:
		return true
	}
	return false
}

// parseExpr: expr := term { (and|or) (term|id) }.
func (p *parser) parseExpr(ctx qual) (node, qual, bool) {
	p.steps++
	n, q, ok := p.parseTerm(ctx)
	if !ok {
		return nil, q, false
	}
	for {
		op := p.peek().kind
		if op != tAnd && op != tOr {
			return n, q, true
		}
		p.next()
		save := p.i
		n2, q2, ok := p.parseTerm(q)
		if !ok || !p.isFollow() {
			if ok {
				p.fail()
			}
			p.i = save
			n2, q2, ok = p.parseID(q)
			if ok && !p.isFollow() {
				p.fail()
				ok = false
			}
			if !ok {
				return nil, q, false
			}
		}
		if op == tAnd {
			n = andNode{n, n2}
		} else {
			n = orNode{n, n2}
		}
		q = q2
	}
}

// parseTerm: term := not term | rterm.
func (p *parser) parseTerm(ctx qual) (node, qual, bool) {
	p.steps++
	if p.peek().kind == tNot {
		p.next()
		p.enter()
		n, q, ok := p.parseTerm(ctx)
		p.leave()
		if !ok {
			return nil, q, false
		}
		return notNode{n}, q, true
	}
	return p.parseRterm(ctx)
}

func isDqualStart(k tokKind) bool {
	switch k {
	case tSrc, tDst, tAddr1, tAddr2, tAddr3, tAddr4, tRA, tTA:
		return true
	}
	return false
}

func isAqual(k tokKind) bool {
	switch k {
	case tHost, tNet, tPort, tPortrange:
		return true
	}
	return false
}

// parseRterm handles the alternatives of grammar.y's rterm.
func (p *parser) parseRterm(ctx qual) (node, qual, bool) {
	p.steps++
	t := p.peek()
	switch t.kind {
	case tLParen:
		save := p.i
		p.next()
		p.enter()
		n, _, ok := p.parseExpr(ctx)
		p.leave()
		if ok && p.peek().kind == tRParen {
			p.next()
			return n, ctx, true
		}
		if ok {
			p.fail()
		}
		p.i = save
		n, ok = p.parseRelation()
		return n, qerr, ok
	case tPname:
		switch k := p.peekAt(1).kind; {
		case k == tLBrack:
			n, ok := p.parseRelation()
			return n, qerr, ok
		case isDqualStart(k) || isAqual(k) || k == tProto || k == tProtochain || k == tGateway:
			return p.parseHeadID()
		case k == tBroadcast || k == tMulticast || k == tType || k == tSubtype || k == tDir:
			n, ok := p.parseOther()
			return n, qerr, ok
		default:
			p.next()
			return abbrevNode{t.proto}, qerr, true
		}
	case tSrc, tDst, tAddr1, tAddr2, tAddr3, tAddr4, tRA, tTA,
		tHost, tNet, tPort, tPortrange, tProto, tProtochain, tGateway:
		return p.parseHeadID()
	case tNum, tLen, tMinus:
		n, ok := p.parseRelation()
		return n, qerr, ok
	case tBroadcast, tMulticast, tLess, tGreater, tByte, tInbound, tOutbound,
		tIfindex, tVlan, tMpls, tPppoed, tPppoes, tGeneve, tLLC,
		tPFIfname, tPFRset, tPFRnr, tPFSrnr, tPFReason, tPFAction,
		tType, tSubtype, tDir, tATM, tMTP:
		n, ok := p.parseOther()
		return n, qerr, ok
	}
	p.fail()
	return nil, qerr, false
}

// parseHeadID parses "head id": [pname] [dqual] [aqual|proto|protochain|gateway] id.
func (p *parser) parseHeadID() (node, qual, bool) {
	p.steps++
	q := qual{qDefault, dDefault, aDefault}
	if p.peek().kind == tPname {
		q.proto = p.next().proto
	}
	hasDir := false
	switch p.peek().kind {
	case tSrc, tDst:
		first := p.next().kind
		q.dir = dSrc
		if first == tDst {
			q.dir = dDst
		}
		if k := p.peek().kind; k == tOr || k == tAnd {
			other := tDst
			if first == tDst {
				other = tSrc
			}
			if p.peekAt(1).kind == other {
				p.next()
				p.next()
				if k == tOr {
					q.dir = dOr
				} else {
					q.dir = dAnd
				}
			} else {
				// yacc shifts the and/or here and then fails.
				p.next()
				p.fail()
				return nil, q, false
			}
		}
		hasDir = true
	case tAddr1, tAddr2, tAddr3, tAddr4, tRA, tTA:
		q.dir = map[tokKind]int{tAddr1: dAddr1, tAddr2: dAddr2, tAddr3: dAddr3,
			tAddr4: dAddr4, tRA: dRA, tTA: dTA}[p.next().kind]
		hasDir = true
	}
	switch k := p.peek().kind; {
	case isAqual(k):
		q.addr = map[tokKind]int{tHost: aHost, tNet: aNet, tPort: aPort, tPortrange: aPortrange}[k]
		p.next()
	case !hasDir && k == tProto:
		q.addr = aProto
		p.next()
	case !hasDir && k == tProtochain:
		q.addr = aProtochain
		p.next()
	case !hasDir && k == tGateway:
		q.addr = aGateway
		p.next()
	case !hasDir:
		p.fail()
		return nil, q, false
	}
	n, _, ok := p.parseID(q)
	return n, q, ok
}

// parseID parses grammar.y's id (nid, pnum, or a parenthesized pid).
func (p *parser) parseID(ctx qual) (node, qual, bool) {
	p.steps++
	t := p.peek()
	switch t.kind {
	case tNot:
		p.next()
		p.enter()
		n, q, ok := p.parseID(ctx)
		p.leave()
		if !ok {
			return nil, q, false
		}
		return notNode{n}, q, true
	case tNum:
		p.next()
		return idNode{q: ctx, kind: idNum, num: t.num, pos: t.pos}, ctx, true
	case tLParen:
		save := p.i
		if v, ok := p.parsePnum(); ok {
			return idNode{q: ctx, kind: idNum, num: v, pos: t.pos}, ctx, true
		}
		p.i = save
		p.next()
		p.enter()
		n, ok := p.parsePid(ctx)
		p.leave()
		if !ok {
			return nil, ctx, false
		}
		if p.peek().kind != tRParen {
			p.fail()
			return nil, ctx, false
		}
		p.next()
		return n, ctx, true
	}
	n, ok := p.parseNid(ctx)
	return n, ctx, ok
}

// parseNid parses grammar.y's nid: a name or an address, or "not id".
func (p *parser) parseNid(ctx qual) (node, bool) {
	p.steps++
	t := p.peek()
	switch t.kind {
	case tNot:
		n, _, ok := p.parseID(ctx)
		return n, ok
	case tID:
		p.next()
		return idNode{q: ctx, kind: idName, s: t.text, pos: t.pos}, true
	case tHID:
		p.next()
		switch p.peek().kind {
		case tSlash:
			p.next()
			if p.peek().kind != tNum {
				p.fail()
				return nil, false
			}
			return idNode{q: ctx, kind: idHIDLen, s: t.text, num: p.next().num, pos: t.pos}, true
		case tNetmask:
			p.next()
			if p.peek().kind != tHID {
				p.fail()
				return nil, false
			}
			return idNode{q: ctx, kind: idHIDMask, s: t.text, s2: p.next().text, pos: t.pos}, true
		}
		return idNode{q: ctx, kind: idHID, s: t.text, pos: t.pos}, true
	case tHID6:
		p.next()
		if p.peek().kind == tSlash {
			p.next()
			if p.peek().kind != tNum {
				p.fail()
				return nil, false
			}
			return idNode{q: ctx, kind: idHID6Len, s: t.text, num: p.next().num, pos: t.pos}, true
		}
		return idNode{q: ctx, kind: idHID6, s: t.text, num: 128, pos: t.pos}, true
	case tEID:
		p.next()
		return idNode{q: ctx, kind: idEID, s: t.text, pos: t.pos}, true
	case tAID:
		p.next()
		return idNode{q: ctx, kind: idAID, s: t.text, pos: t.pos}, true
	}
	p.fail()
	return nil, false
}

// parsePid parses the inside of a parenthesized id list:
// pid := (nid | pnum) { (and|or) id }, where a lone pnum is not a pid.
func (p *parser) parsePid(ctx qual) (node, bool) {
	p.steps++
	var n node
	t := p.peek()
	if t.kind == tNum || t.kind == tLParen {
		v, ok := p.parsePnum()
		if !ok {
			return nil, false
		}
		if k := p.peek().kind; k != tAnd && k != tOr {
			p.fail()
			return nil, false
		}
		n = idNode{q: ctx, kind: idNum, num: v, pos: t.pos}
	} else {
		var ok bool
		if n, ok = p.parseNid(ctx); !ok {
			return nil, false
		}
	}
	for {
		op := p.peek().kind
		if op != tAnd && op != tOr {
			return n, true
		}
		p.next()
		n2, _, ok := p.parseID(ctx)
		if !ok {
			return nil, false
		}
		if op == tAnd {
			n = andNode{n, n2}
		} else {
			n = orNode{n, n2}
		}
	}
}

// parsePnum: pnum := NUM | '(' pnum ')'. It is memoized.
func (p *parser) parsePnum() (uint32, bool) {
	p.steps++
	start := p.i
	if m, ok := p.pnum[start]; ok {
		p.i = m.end
		return m.v, m.ok
	}
	v, ok := p.parsePnumRule()
	p.pnum[start] = pnumMemo{v, p.i, ok}
	return v, ok
}

func (p *parser) parsePnumRule() (uint32, bool) {
	switch p.peek().kind {
	case tNum:
		return p.next().num, true
	case tLParen:
		p.next()
		p.enter()
		v, ok := p.parsePnum()
		p.leave()
		if !ok {
			return 0, false
		}
		if p.peek().kind != tRParen {
			p.fail()
			return 0, false
		}
		p.next()
		return v, true
	}
	p.fail()
	return 0, false
}

// parseRelation: arth relop arth.
func (p *parser) parseRelation() (node, bool) {
	p.steps++
	l, ok := p.parseArth(0)
	if !ok {
		return nil, false
	}
	var op uint16
	rev := false
	switch p.peek().kind {
	case tGT:
		op = jmpJGT
	case tGE:
		op = jmpJGE
	case tEq:
		op = jmpJEQ
	case tLE:
		op, rev = jmpJGT, true
	case tLT:
		op, rev = jmpJGE, true
	case tNE:
		op, rev = jmpJEQ, true
	default:
		p.fail()
		return nil, false
	}
	p.next()
	r, ok := p.parseArth(0)
	if !ok {
		return nil, false
	}
	return relNode{op: op, reversed: rev, l: l, r: r}, true
}

// Binary operator precedences of grammar.y; '%' and '^' have none, so
// yacc always shifts them (they group everything to their right).
func binaryOp(k tokKind) (op uint16, prec int, ok bool) {
	switch k {
	case tPipe:
		return aluOR, 1, true
	case tAmp:
		return aluAND, 2, true
	case tLsh:
		return aluLSH, 3, true
	case tRsh:
		return aluRSH, 3, true
	case tPlus:
		return aluADD, 4, true
	case tMinus:
		return aluSUB, 4, true
	case tStar:
		return aluMUL, 5, true
	case tSlash:
		return aluDIV, 5, true
	case tPercent:
		return aluMOD, -1, true
	case tCaret:
		return aluXOR, -1, true
	}
	return 0, 0, false
}

// parseArth parses an arithmetic expression whose binary operators all
// have at least precedence minPrec. It is memoized.
func (p *parser) parseArth(minPrec int) (arth, bool) {
	p.steps++
	key := arthKey{p.i, minPrec}
	if m, ok := p.arth[key]; ok {
		p.i = m.end
		return m.a, m.ok
	}
	a, ok := p.parseArthRule(minPrec)
	p.arth[key] = arthMemo{a, p.i, ok}
	return a, ok
}

func (p *parser) parseArthRule(minPrec int) (arth, bool) {
	left, ok := p.parseUnary()
	if !ok {
		return nil, false
	}
	for {
		op, prec, isOp := binaryOp(p.peek().kind)
		if !isOp {
			return left, true
		}
		if prec < 0 {
			p.next()
			p.enter()
			right, ok := p.parseArth(0)
			p.leave()
			if !ok {
				return nil, false
			}
			left = binArth{op, left, right}
			continue
		}
		if prec < minPrec {
			return left, true
		}
		p.next()
		p.enter()
		right, ok := p.parseArth(prec + 1)
		p.leave()
		if !ok {
			return nil, false
		}
		left = binArth{op, left, right}
	}
}

// parseUnary parses a primary, or '-' applied to one (unary minus binds
// tighter than every operator except the precedence-less '%' and '^').
func (p *parser) parseUnary() (arth, bool) {
	p.steps++
	if p.peek().kind == tMinus {
		p.next()
		p.enter()
		x, ok := p.parseUnary()
		p.leave()
		if !ok {
			return nil, false
		}
		for {
			op, prec, isOp := binaryOp(p.peek().kind)
			if !isOp || prec >= 0 {
				break
			}
			p.next()
			p.enter()
			right, ok := p.parseArth(0)
			p.leave()
			if !ok {
				return nil, false
			}
			x = binArth{op, x, right}
		}
		return negArth{x}, true
	}
	return p.parsePrimary()
}

func (p *parser) parsePrimary() (arth, bool) {
	p.steps++
	t := p.peek()
	switch t.kind {
	case tNum:
		p.next()
		return numArth{t.num}, true
	case tLen:
		p.next()
		return lenArth{}, true
	case tLParen:
		p.next()
		p.enter()
		a, ok := p.parseArth(0)
		p.leave()
		if !ok {
			return nil, false
		}
		if p.peek().kind != tRParen {
			p.fail()
			return nil, false
		}
		p.next()
		return a, true
	case tPname:
		if p.peekAt(1).kind != tLBrack {
			break
		}
		p.next()
		p.next()
		p.enter()
		idx, ok := p.parseArth(0)
		p.leave()
		if !ok {
			return nil, false
		}
		size := uint32(1)
		if p.peek().kind == tColon {
			p.next()
			if p.peek().kind != tNum {
				p.fail()
				return nil, false
			}
			size = p.next().num
		}
		if p.peek().kind != tRBrack {
			p.fail()
			return nil, false
		}
		p.next()
		return loadArth{proto: t.proto, idx: idx, size: size}, true
	}
	p.fail()
	return nil, false
}

// parseOther parses the special primitives of grammar.y's "other" rule.
func (p *parser) parseOther() (node, bool) {
	p.steps++
	proto := qDefault
	if p.peek().kind == tPname {
		proto = p.next().proto
	}
	t := p.next()
	optPnum := func() (uint32, bool, bool) {
		if k := p.peek().kind; k == tNum || k == tLParen {
			v, ok := p.parsePnum()
			return v, true, ok
		}
		return 0, false, true
	}
	switch t.kind {
	case tBroadcast:
		return otherNode{kind: oBroadcast, proto: proto}, true
	case tMulticast:
		return otherNode{kind: oMulticast, proto: proto}, true
	case tType, tSubtype, tDir:
		return p.parse80211(t.kind)
	}
	if proto != qDefault {
		p.i--
		p.fail()
		return nil, false
	}
	switch t.kind {
	case tLess, tGreater, tIfindex:
		if p.peek().kind != tNum {
			p.fail()
			return nil, false
		}
		k := map[tokKind]otherKind{tLess: oLess, tGreater: oGreater, tIfindex: oIfindex}[t.kind]
		return otherNode{kind: k, num: p.next().num}, true
	case tByte:
		if p.peek().kind != tNum {
			p.fail()
			return nil, false
		}
		idx := p.next().num
		var op byte
		switch p.peek().kind {
		case tAmp:
			op = '&'
		case tPipe:
			op = '|'
		case tLT:
			op = '<'
		case tGT:
			op = '>'
		case tEq:
			op = '='
		default:
			p.fail()
			return nil, false
		}
		p.next()
		if p.peek().kind != tNum {
			p.fail()
			return nil, false
		}
		return otherNode{kind: oByte, num: idx, op: op, num2: p.next().num}, true
	case tInbound:
		return otherNode{kind: oInbound}, true
	case tOutbound:
		return otherNode{kind: oOutbound}, true
	case tVlan, tMpls, tPppoes, tGeneve:
		v, has, ok := optPnum()
		if !ok {
			return nil, false
		}
		k := map[tokKind]otherKind{tVlan: oVlan, tMpls: oMpls, tPppoes: oPppoes, tGeneve: oGeneve}[t.kind]
		return otherNode{kind: k, num: v, hasNum: has}, true
	case tPppoed:
		return otherNode{kind: oPppoed}, true
	case tLLC:
		switch p.peek().kind {
		case tID:
			return otherNode{kind: oLLC, llc: p.next().text}, true
		case tPFRnr:
			p.next()
			return otherNode{kind: oLLC, llc: "rnr"}, true
		}
		return otherNode{kind: oLLC}, true
	case tPFIfname, tPFRset, tPFReason, tPFAction, tPFRnr, tPFSrnr:
		return p.parsePF(t.kind)
	case tATM, tMTP:
		return p.parseField(t.text)
	}
	p.i--
	p.fail()
	return nil, false
}
