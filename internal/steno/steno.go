// Package steno reads the query language of Google's Stenographer (the body
// of its "POST /query", what stenoread and stenocurl send), so that the
// daemon can answer Stenographer's clients. A query becomes one or more
// time windows, each with a filter expression in tcpdump's language
// (pcap-filter(7)) that internal/filter compiles:
//
//	query text --Parse--> AST (and/or/not over primitives and time terms)
//	  --split the time axis at every before/after bound--> per interval,
//	  time terms become true or false and fold away --> []Window{range, filter}
//
// # Two syntaxes
//
// A query that is valid Stenographer syntax is read with Stenographer's
// meaning (see stenographer's README "Query language" and its query/parser.y,
// and stenotype/index.cc for what the index records):
//
//	host 1.2.3.4, host 2001:db8::1   the IPv4 (or IPv6) source or destination
//	net 10.0.0.0/8, net 2001:db8::/32, net 10.1.2.3 mask 255.0.0.0
//	                                  an address in the network, either
//	                                  direction; host bits are ignored
//	                                  (Stenographer masks them off)
//	port 80                           TCP or UDP source or destination port
//	ip proto 6, tcp (6), udp (17), icmp (1)
//	                                  the IPv4 protocol or the IPv6 next
//	                                  header (Stenographer's "ip proto" and
//	                                  "tcp" cover both)
//	vlan 100, mpls 1000               see "Encapsulation" below
//	before T, after T                 see "Time" below
//	and, &&, or, ||, ( )              "and" and "or" have equal precedence
//	                                  and associate to the left: "a or b and
//	                                  c" is "(a or b) and c", as in tcpdump
//
// Stenographer's lexer is reproduced, quirks included: keywords are
// recognized as prefixes ("host1.2.3.4" and "3hago" are accepted),
// IPv4-mapped IPv6 addresses are IPv4 addresses, numbers are decimal.
// Stenographer has no "not". The translation uses "ip host", "ip6 net",
// "tcp port N or udp port N", "ip proto N or ip6 proto N" and so on.
//
// Any other query (for example "not port 22", "src host 1.2.3.4",
// "udp port 53") is read as a tcpdump filter expression in which "before
// T" and "after T" terms may appear wherever a primitive may, joined to
// the rest with and/or/not/parentheses ("udp port 53 and after 3h ago").
// Everything but the time terms keeps tcpdump's meaning and is passed to
// internal/filter as written.
//
// # Time
//
// T is what Stenographer accepts: RFC 3339 as Go's time.Parse(time.RFC3339)
// reads it ("2012-11-03T11:05:00Z", "2012-11-03T11:05:00.5-07:00"), or
// "N ago" where N is a whole number of minutes or hours ("45m ago", "3h
// ago"; not "2d ago", "90s ago", "1h30m ago" or "1.5h ago", which
// Stenographer rejects too). Relative times count back from the now
// passed to Parse.
//
// "after T" holds for packets with timestamp >= T and "before T" for
// timestamp <= T: both bounds inclusive, to the nanosecond, as
// store.Range's Since and Until. (Stenographer itself selects whole index
// files, each about a minute of traffic, with a minute of slack on either
// side, so it returns a superset of this; the exact bound is what its
// documentation describes.)
//
// Time terms may appear anywhere in the expression, under "or" and "not"
// too. The bounds of all time terms cut the time axis into intervals; in
// each interval every time term is a constant, the expression folds to a
// filter, and adjacent intervals with the same filter are merged. The
// result is a list of disjoint windows in time order, each with its
// filter: "after X and before Y and port 80" gives one window [X, Y]
// with "port 80"; "host A or after X" gives (-inf, X) with the host
// filter and [X, +inf) with no filter. A window whose expression folds
// to false, or whose filter rejects every packet ("tcp and udp"), is
// left out, so a query can yield no window at all: it matches nothing,
// as in Stenographer.
//
// # Encapsulation
//
// Stenographer's index looks through any number of VLAN tags (TPIDs
// 0x8100, 0x88a8, 0x9100, 0x9200, 0x9300) and MPLS labels before the IP
// header, and "vlan N" / "mpls N" match a tag or label anywhere in the
// stack. A libpcap filter can follow one level of encapsulation (each
// "vlan" or "mpls" keyword moves the offsets of everything after it, to
// the end of the expression), so a Stenographer query E is translated to
// "E or (vlan and (E'))": untagged frames, or frames with one VLAN tag
// (0x8100, 0x88a8, 0x9100: libpcap's "vlan"), where "vlan N" tests the
// VLAN ID of that tag. When the query uses "mpls" and not "vlan", the
// second branch is "(mpls and (E'))" instead, for frames with one MPLS
// label, which "mpls N" tests. Not matched: deeper stacks, MPLS frames
// when the query has no "mpls" (VLAN frames when it has), Stenographer's
// TPIDs 0x9200 and 0x9300, and pseudowire Ethernet inside MPLS.
//
// Also unlike Stenographer's index: the protocol and ports of IPv6 are
// those of the fixed header (libpcap's "ip6 proto", "tcp port"), while
// Stenographer looks behind hop-by-hop, routing, destination options,
// mobility and first-fragment extension headers; and, as in libpcap,
// only the first fragment of a fragmented IPv4 packet has ports, where
// Stenographer reads any fragment's payload as a TCP or UDP header. A
// Stenographer "net A mask M" with a non-contiguous mask, which it reads
// as the address range from A&M to A|^M, is refused.
//
// A translated filter is longer than the query; the limits below bound
// the work Parse does (it compiles each window's filter, to refuse what
// internal/filter cannot compile and leave out windows whose filter
// rejects every packet).
//
// Parse never panics; its errors are one line.
package steno

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/filter"
)

// Limits on what Parse takes; beyond them it returns an error.
const (
	MaxQueryLen  = 16 << 10 // bytes of query text
	MaxDepth     = 200      // nesting of parentheses and "not"
	MaxTimeTerms = 64       // before/after terms (each adds up to two windows)
	// MaxFilterBytes bounds the total length of the distinct filters of
	// a query's windows, and so the time Parse spends compiling them.
	MaxFilterBytes = 256 << 10
)

// Window is a stretch of time and the filter that selects packets in it.
type Window struct {
	// Since and Until bound packet timestamps (ns since the Unix epoch),
	// both inclusive, when HasSince and HasUntil are set; an unset bound
	// is open. The fields mean what store.Range's fields of the same
	// names mean.
	Since, Until       int64
	HasSince, HasUntil bool
	// Filter is a tcpdump filter expression for internal/filter; ""
	// accepts every packet.
	Filter string
}

// Query is a parsed query: a packet matches if its timestamp is in one of
// Windows and the packet matches that window's Filter.
type Query struct {
	// Windows are disjoint and in ascending time order. None means the
	// query matches no packet.
	Windows []Window
	// Stenographer reports whether the query was read as Stenographer
	// syntax (true) or as a tcpdump expression with time terms (false).
	Stenographer bool
}

// ErrSyntax is wrapped by the errors Parse returns for queries that are
// neither valid Stenographer syntax nor a valid tcpdump expression.
var ErrSyntax = errors.New("invalid query")

// Parse reads a query. now is the time "N ago" counts back from.
func Parse(query string, now time.Time) (Query, error) {
	if len(query) > MaxQueryLen {
		return Query{}, fmt.Errorf("%w: longer than %d bytes", ErrSyntax, MaxQueryLen)
	}
	if strings.TrimSpace(query) == "" {
		return Query{}, fmt.Errorf("%w: empty", ErrSyntax)
	}
	n, serr := parseSteno(query, now)
	if serr == nil {
		ws, err := windows(n, renderSteno)
		if err != nil {
			// Every primitive renders to a valid filter; this would be a bug.
			return Query{}, fmt.Errorf("%w: %v", ErrSyntax, err)
		}
		return Query{Windows: ws, Stenographer: true}, nil
	}
	n, terr := parseTcpdump(query, now)
	if terr == nil {
		var ws []Window
		ws, terr = windows(n, func(n *node) (string, bool, error) { return renderTcpdump(query, n), true, nil })
		if terr == nil {
			return Query{Windows: ws}, nil
		}
	}
	return Query{}, fmt.Errorf("%w: as Stenographer syntax: %v; as a tcpdump expression: %v", ErrSyntax, serr, terr)
}

// Hull returns the smallest window holding all of q's windows, with no
// filter: what a store must read to answer q. For a query without
// windows it is the zero Window, but there is nothing to read.
func (q Query) Hull() Window {
	if len(q.Windows) == 0 {
		return Window{}
	}
	first, last := q.Windows[0], q.Windows[len(q.Windows)-1]
	return Window{Since: first.Since, HasSince: first.HasSince, Until: last.Until, HasUntil: last.HasUntil}
}

// Filter returns the filter of the window holding timestamp ts (ns since
// the epoch), and false if no window holds it.
func (q Query) Filter(ts int64) (string, bool) {
	i := sort.Search(len(q.Windows), func(i int) bool {
		w := q.Windows[i]
		return !w.HasUntil || w.Until >= ts
	})
	if i == len(q.Windows) {
		return "", false
	}
	w := q.Windows[i]
	if w.HasSince && ts < w.Since {
		return "", false
	}
	return w.Filter, true
}

// node is the AST of both syntaxes.
type node struct {
	kind       nodeKind
	l, r       *node
	prim       prim  // kindPrim
	after      bool  // kindTime: "after" (ts >= at) or "before" (ts <= at)
	at         int64 // kindTime
	val        bool  // kindConst
	start, end int   // the node's text in the query (tcpdump syntax)
	hasTime    bool  // a time term is in this subtree
	synthetic  bool  // built by folding: render from children, not from the text
}

type nodeKind uint8

const (
	kindAnd nodeKind = iota
	kindOr
	kindNot
	kindPrim  // a Stenographer primitive
	kindText  // a piece of tcpdump expression
	kindTime  // before/after
	kindConst // true or false
)

// timeNode returns the node for "after t" or "before t". Times outside
// the nanosecond range of int64 make the term a constant.
func timeNode(after bool, t time.Time, start, end int) *node {
	n := &node{kind: kindTime, after: after, start: start, end: end, hasTime: true}
	switch {
	case t.Before(minTime): // every timestamp is after t
		return &node{kind: kindConst, val: after, start: start, end: end, hasTime: true}
	case t.After(maxTime): // every timestamp is before t
		return &node{kind: kindConst, val: !after, start: start, end: end, hasTime: true}
	}
	n.at = t.UnixNano()
	return n
}

var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

func joinNodes(kind nodeKind, l, r *node) *node {
	return &node{kind: kind, l: l, r: r, start: l.start, end: r.end, hasTime: l.hasTime || r.hasTime}
}

// fold returns n with its time terms decided for timestamp ts and
// constants folded away: the result is a constant or has none.
func fold(n *node, ts int64) *node {
	if !n.hasTime {
		return n
	}
	switch n.kind {
	case kindTime:
		v := ts <= n.at
		if n.after {
			v = ts >= n.at
		}
		return &node{kind: kindConst, val: v}
	case kindNot:
		c := fold(n.l, ts)
		if c.kind == kindConst {
			return &node{kind: kindConst, val: !c.val}
		}
		return &node{kind: kindNot, l: c, synthetic: true}
	case kindAnd, kindOr:
		l, r := fold(n.l, ts), fold(n.r, ts)
		absorb := n.kind == kindOr // the constant that decides the result
		for _, c := range []*node{l, r} {
			if c.kind == kindConst && c.val == absorb {
				return c
			}
		}
		if l.kind == kindConst {
			return r
		}
		if r.kind == kindConst {
			return l
		}
		return &node{kind: n.kind, l: l, r: r, synthetic: true}
	}
	return n
}

// cuts returns the timestamps at which some time term of n changes value.
func cuts(n *node, out []int64) []int64 {
	if n == nil || !n.hasTime {
		return out
	}
	if n.kind == kindTime {
		if n.after {
			return append(out, n.at)
		}
		if n.at < math.MaxInt64 {
			return append(out, n.at+1)
		}
		return out
	}
	return cuts(n.r, cuts(n.l, out))
}

// windows splits the time axis at the bounds of n's time terms and
// renders the folded expression of each interval with render, which
// returns the filter and false if the expression matches nothing.
func windows(n *node, render func(*node) (string, bool, error)) ([]Window, error) {
	cs := cuts(n, nil)
	sort.Slice(cs, func(i, j int) bool { return cs[i] < cs[j] })
	starts := []int64{math.MinInt64}
	for _, c := range cs {
		if c != starts[len(starts)-1] {
			starts = append(starts, c)
		}
	}
	var out []Window
	cache := map[string]bool{} // filter -> matches something
	total := 0                 // bytes of the filters in cache
	for i, s := range starts {
		var w Window
		if i > 0 {
			w.Since, w.HasSince = s, true
		}
		if i+1 < len(starts) {
			w.Until, w.HasUntil = starts[i+1]-1, true
		}
		f := fold(n, s)
		if f.kind == kindConst && !f.val {
			continue
		}
		if f.kind != kindConst {
			text, ok, err := render(f)
			if err != nil {
				return nil, err
			}
			if !ok {
				continue
			}
			w.Filter = text
		}
		if w.Filter != "" {
			ok, seen := cache[w.Filter]
			if !seen {
				if total += len(w.Filter); total > MaxFilterBytes {
					return nil, fmt.Errorf("too complex: its filters exceed %d bytes", MaxFilterBytes)
				}
				var err error
				if ok, err = compiles(w.Filter); err != nil {
					if n.hasTime {
						return nil, fmt.Errorf("%q (what remains in a window once the time terms are decided): %w", w.Filter, err)
					}
					return nil, err
				}
				cache[w.Filter] = ok
			}
			if !ok {
				continue
			}
		}
		if k := len(out) - 1; k >= 0 && out[k].Filter == w.Filter && out[k].HasUntil && w.HasSince && out[k].Until == w.Since-1 {
			out[k].Until, out[k].HasUntil = w.Until, w.HasUntil
			continue
		}
		out = append(out, w)
	}
	return out, nil
}

// compiles checks that expr compiles for Ethernet. It reports false
// (and no error) for an expression that rejects every packet.
func compiles(expr string) (bool, error) {
	_, err := filter.Compile(expr, filter.Options{LinkType: filter.LinkTypeEthernet, Netmask: filter.ZeroNetmask})
	if err != nil {
		if errors.Is(err, filter.ErrRejectsAll) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}
