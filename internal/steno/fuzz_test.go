package steno

import (
	"errors"
	"strings"
	"testing"

	"github.com/packetrecorderd/packetrecorderd/internal/filter"
	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

func FuzzParse(f *testing.F) {
	testkit.NoDNS(f) // "host 1.2ago.3.4" is a name to resolve
	for _, tc := range stenoCases {
		f.Add(tc.query)
	}
	for _, s := range []string{
		"after 3h ago", "before 45m ago", "after 2012-11-03T11:05:00-07:00 and before 2012-11-03T11:05:00Z",
		"host 1.2.3.4 or after 1h ago", "not (after 1h ago or port 22) and tcp port 80 or 443",
		"udp port 53 and after 3h ago", "src host 1.2.3.4 && !after 3hago", "net ::ffff:1.2.3.0/120",
		"net 1.2.3.0 mask 255.0.255.0", "ip[0]&0xf!=5||before 1m ago", "(((tcp)))", "after", "3hago",
		"after 9999-12-31T23:59:59Z or before 0001-01-01T00:00:00Z", "vlan 4095 and mpls 1048575",
		"host dead::beef and net fe80:: mask ffff:ffff::", "port 99999999999999999999", "after 99999999999h ago",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, query string) {
		q, err := Parse(query, testNow)
		if err != nil {
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("Parse(%q) = %v, does not wrap ErrSyntax", query, err)
			}
			if strings.ContainsAny(err.Error(), "\n\r") {
				t.Fatalf("Parse(%q): error of several lines: %q", query, err)
			}
			return
		}
		for i, w := range q.Windows {
			if w.Filter != "" {
				if _, err := filter.Compile(w.Filter, filter.Options{LinkType: filter.LinkTypeEthernet}); err != nil {
					t.Fatalf("Parse(%q): window %d filter %q: %v", query, i, w.Filter, err)
				}
			}
			if w.HasSince && w.HasUntil && w.Since > w.Until {
				t.Fatalf("Parse(%q): empty window %+v", query, w)
			}
			if i > 0 {
				p := q.Windows[i-1]
				if !p.HasUntil || !w.HasSince || p.Until >= w.Since {
					t.Fatalf("Parse(%q): windows %+v and %+v overlap or are out of order", query, p, w)
				}
			}
			if w.HasSince {
				if got, ok := q.Filter(w.Since); !ok || got != w.Filter {
					t.Fatalf("Parse(%q): Filter(%d) = %q, %v; want %q", query, w.Since, got, ok, w.Filter)
				}
			}
		}
	})
}

// evalSteno is Stenographer's meaning of a query over what its index
// records for a packet with timestamp ts.
func evalSteno(n *node, f facts, ts int64) bool {
	switch n.kind {
	case kindAnd:
		return evalSteno(n.l, f, ts) && evalSteno(n.r, f, ts)
	case kindOr:
		return evalSteno(n.l, f, ts) || evalSteno(n.r, f, ts)
	case kindConst:
		return n.val
	case kindTime:
		if n.after {
			return ts >= n.at
		}
		return ts <= n.at
	case kindPrim:
		p := n.prim
		switch p.kind {
		case primNet:
			for _, ip := range f.ips {
				if len(ip) == len(p.net.IP) && p.net.Contains(ip) {
					return true
				}
			}
			return false
		case primPort:
			return has(f.ports, p.n)
		case primProto:
			return f.proto == p.n
		case primVLAN:
			return has(f.vlans, p.n)
		case primMPLS:
			return has(f.labels, p.n)
		}
	}
	panic("unexpected node")
}

// FuzzStenographerMeaning checks the filters of queries in Stenographer
// syntax against Stenographer's meaning on the test packets, at the
// edges of every window.
func FuzzStenographerMeaning(f *testing.F) {
	testkit.NoDNS(f)
	for _, tc := range stenoCases {
		f.Add(tc.query)
	}
	f.Add("(host 1.2.3.4 or after 1h ago) and (port 80 or before 2h ago) or vlan 100 and udp")
	f.Add("mpls 1000 or tcp and (host 10.0.0.1 || net 1.2.3.0/24) and after 2026-12-04T11:00:00Z")
	f.Fuzz(func(t *testing.T, query string) {
		n, err := parseSteno(query, testNow)
		if err != nil || len(query) > MaxQueryLen {
			return
		}
		q, err := Parse(query, testNow)
		if err != nil {
			if strings.Contains(err.Error(), "too complex") {
				return
			}
			t.Fatalf("parseSteno(%q) succeeded, Parse failed: %v", query, err)
		}
		second := encVLAN
		if uses(n, primMPLS) && !uses(n, primVLAN) {
			second = encMPLS
		}
		protoOrPort := uses(n, primPort) || uses(n, primProto)
		times := []int64{testNow.UnixNano()}
		for _, c := range cuts(n, nil) {
			times = append(times, c-1, c, c+1)
		}
		progs := map[string]*filter.Program{}
		for _, pkt := range packets {
			fa := index(pkt.data)
			if fa.levels > 1 || fa.mpls && second != encMPLS || len(fa.vlans) > 0 && second != encVLAN || fa.ext6 && protoOrPort {
				continue
			}
			for _, ts := range times {
				want := evalSteno(n, fa, ts)
				got := false
				if expr, ok := q.Filter(ts); ok {
					p := progs[expr]
					if p == nil {
						p = compile(t, expr)
						progs[expr] = p
					}
					got = p.Match(pkt.data, len(pkt.data))
				}
				if got != want {
					t.Fatalf("%q on %s at %d: got %v, want %v (windows %+v)", query, pkt.name, ts, got, want, q.Windows)
				}
			}
		}
	})
}
