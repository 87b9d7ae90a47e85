package steno

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// This file reads a tcpdump expression with before/after terms. It parses
// only the boolean skeleton: and/or/not/parentheses over runs of words,
// each run kept as the text the user wrote (tcpdump's qualifier
// inheritance, "tcp port 80 or 443", survives as long as no time term is
// folded out between its parts). internal/filter parses the rest.

type tdKind uint8

const (
	tdEOF tdKind = iota
	tdWord
	tdAnd
	tdOr
	tdNot
	tdLParen
	tdRParen
)

type tdToken struct {
	kind       tdKind
	start, end int
}

// tdTokens splits a tcpdump expression into words, parentheses and the
// operators "and", "&&", "or", "||", "not" and "!" ("!=" is a word).
func tdTokens(in string) []tdToken {
	var out []tdToken
	i := 0
	for {
		for i < len(in) && isTcpdumpSpace(in[i]) {
			i++
		}
		if i >= len(in) {
			return append(out, tdToken{kind: tdEOF, start: i, end: i})
		}
		start := i
		switch {
		case in[i] == '(':
			out = append(out, tdToken{kind: tdLParen, start: i, end: i + 1})
			i++
			continue
		case in[i] == ')':
			out = append(out, tdToken{kind: tdRParen, start: i, end: i + 1})
			i++
			continue
		case strings.HasPrefix(in[i:], "&&"):
			out = append(out, tdToken{kind: tdAnd, start: i, end: i + 2})
			i += 2
			continue
		case strings.HasPrefix(in[i:], "||"):
			out = append(out, tdToken{kind: tdOr, start: i, end: i + 2})
			i += 2
			continue
		case in[i] == '!' && !strings.HasPrefix(in[i:], "!="):
			out = append(out, tdToken{kind: tdNot, start: i, end: i + 1})
			i++
			continue
		}
		for i < len(in) && !isTcpdumpSpace(in[i]) && in[i] != '(' && in[i] != ')' &&
			!strings.HasPrefix(in[i:], "&&") && !strings.HasPrefix(in[i:], "||") {
			i++
		}
		kind := tdWord
		switch in[start:i] {
		case "and":
			kind = tdAnd
		case "or":
			kind = tdOr
		case "not":
			kind = tdNot
		}
		out = append(out, tdToken{kind: kind, start: start, end: i})
	}
}

// isTcpdumpSpace reports whether libpcap's scanner skips c.
func isTcpdumpSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

type tdParser struct {
	in    string
	toks  []tdToken
	i     int
	now   time.Time
	depth int
	times int
}

// parseTcpdump parses the boolean skeleton of a tcpdump expression with
// time terms.
func parseTcpdump(query string, now time.Time) (*node, error) {
	p := &tdParser{in: query, toks: tdTokens(query), now: now}
	n, err := p.expr()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tdEOF {
		return nil, fmt.Errorf("unexpected %s at offset %d", p.describe(t), t.start)
	}
	return n, nil
}

func (p *tdParser) peek() tdToken { return p.toks[p.i] }

func (p *tdParser) describe(t tdToken) string {
	if t.kind == tdEOF {
		return "end of query"
	}
	return strconv.Quote(p.in[t.start:t.end])
}

func (p *tdParser) expr() (*node, error) {
	l, err := p.unary()
	if err != nil {
		return nil, err
	}
	for {
		var kind nodeKind
		switch p.peek().kind {
		case tdAnd:
			kind = kindAnd
		case tdOr:
			kind = kindOr
		default:
			return l, nil
		}
		p.i++
		r, err := p.unary()
		if err != nil {
			return nil, err
		}
		l = joinNodes(kind, l, r)
	}
}

func (p *tdParser) unary() (*node, error) {
	if p.depth++; p.depth > MaxDepth {
		return nil, fmt.Errorf("nested deeper than %d", MaxDepth)
	}
	defer func() { p.depth-- }()
	if t := p.peek(); t.kind == tdNot {
		p.i++
		c, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &node{kind: kindNot, l: c, start: t.start, end: c.end, hasTime: c.hasTime}, nil
	}
	return p.seq()
}

// seq reads primaries written next to each other: the words of one
// primitive ("src host 1.2.3.4"), or a time term.
func (p *tdParser) seq() (*node, error) {
	var items []*node
	for {
		t := p.peek()
		var n *node
		switch t.kind {
		case tdLParen:
			p.i++
			c, err := p.expr()
			if err != nil {
				return nil, err
			}
			e := p.peek()
			if e.kind != tdRParen {
				return nil, fmt.Errorf("want \")\" for \"(\" at offset %d, got %s at offset %d", t.start, p.describe(e), e.start)
			}
			p.i++
			n = c
			if !c.hasTime {
				n = &node{kind: kindText, start: t.start, end: e.end}
			}
		case tdWord:
			w := p.in[t.start:t.end]
			if w == "before" || w == "after" {
				var err error
				if n, err = p.timeTerm(); err != nil {
					return nil, err
				}
				break
			}
			p.i++
			n = &node{kind: kindText, start: t.start, end: t.end}
		}
		if n == nil {
			break
		}
		items = append(items, n)
	}
	switch {
	case len(items) == 0:
		t := p.peek()
		return nil, fmt.Errorf("want an expression, got %s at offset %d", p.describe(t), t.start)
	case len(items) == 1:
		return items[0], nil
	}
	for _, it := range items {
		if it.hasTime {
			return nil, fmt.Errorf("a time term must be joined to the rest with and/or (at offset %d)", it.start)
		}
	}
	return &node{kind: kindText, start: items[0].start, end: items[len(items)-1].end}, nil
}

// timeTerm reads "before T" or "after T", T as Stenographer takes it.
func (p *tdParser) timeTerm() (*node, error) {
	kw := p.toks[p.i]
	after := p.in[kw.start:kw.end] == "after"
	p.i++
	if p.times++; p.times > MaxTimeTerms {
		return nil, fmt.Errorf("more than %d time terms", MaxTimeTerms)
	}
	t := p.peek()
	if t.kind != tdWord {
		return nil, fmt.Errorf("want a time (RFC 3339, or N(m|h) ago) after %q, got %s at offset %d", p.in[kw.start:kw.end], p.describe(t), t.start)
	}
	w := p.in[t.start:t.end]
	p.i++
	if d, ok := agoDuration(strings.TrimSuffix(w, "ago")); ok && strings.HasSuffix(w, "ago") {
		// "3hago", as Stenographer's lexer reads it.
		return timeNode(after, p.now.Add(-d), kw.start, t.end), nil
	}
	if d, ok := agoDuration(w); ok {
		a := p.peek()
		if a.kind != tdWord || p.in[a.start:a.end] != "ago" {
			return nil, fmt.Errorf("want \"ago\" after %q, got %s at offset %d", w, p.describe(a), a.start)
		}
		p.i++
		return timeNode(after, p.now.Add(-d), kw.start, a.end), nil
	}
	at, err := time.Parse(time.RFC3339, w)
	if err != nil {
		return nil, fmt.Errorf("bad time %q at offset %d: want RFC 3339 (2006-01-02T15:04:05Z) or N(m|h) ago", w, t.start)
	}
	return timeNode(after, at, kw.start, t.end), nil
}

// agoDuration reads the N(m|h) of "N(m|h) ago": decimal digits and a
// unit, as Stenographer's lexer and time.ParseDuration take them.
func agoDuration(w string) (time.Duration, bool) {
	if len(w) < 2 || (w[len(w)-1] != 'm' && w[len(w)-1] != 'h') {
		return 0, false
	}
	for i := 0; i < len(w)-1; i++ {
		if w[i] < '0' || w[i] > '9' {
			return 0, false
		}
	}
	d, err := time.ParseDuration(w)
	return d, err == nil
}

// renderTcpdump renders a folded AST of a tcpdump query: parts without
// time terms as written, the rest rebuilt with parentheses.
func renderTcpdump(in string, n *node) string {
	if !n.synthetic {
		return in[n.start:n.end]
	}
	// "not" binds tighter than "and" and "or", which have equal
	// precedence and associate to the left; a run of words holds no
	// operator outside its own parentheses. So only a binary right
	// operand, and a binary operand of "not", need parentheses. Leaving
	// them out elsewhere keeps tcpdump's qualifier inheritance working
	// across rebuilt parts ("not port 22 and tcp port 80 or 443").
	wrap := func(c *node) string {
		s := renderTcpdump(in, c)
		if c.kind == kindAnd || c.kind == kindOr {
			return "(" + s + ")"
		}
		return s
	}
	switch n.kind {
	case kindNot:
		return "not " + wrap(n.l)
	case kindAnd:
		return renderTcpdump(in, n.l) + " and " + wrap(n.r)
	case kindOr:
		return renderTcpdump(in, n.l) + " or " + wrap(n.r)
	}
	return in[n.start:n.end]
}
