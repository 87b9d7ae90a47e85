package index

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/packetrecorderd/packetrecorderd/internal/flow"
)

// Hand-built frames; the expected terms follow from the header layouts
// (RFC 791, 8200, 826, 3032, 2516, 8926) and from the offsets libpcap's
// programs load (tcpdump -d 'host 10.0.0.1' on EN10MB: ldh [12], ld [26],
// ld [30], ld [28], ld [38]).

func ether(et uint16, payload ...byte) []byte {
	b := []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, byte(et >> 8), byte(et)}
	return append(b, payload...)
}

func ipv4(proto byte, src, dst [4]byte, payload ...byte) []byte {
	h := []byte{0x45, 0, 0, byte(20 + len(payload)), 0, 1, 0, 0, 64, proto, 0, 0}
	h = append(h, src[:]...)
	h = append(h, dst[:]...)
	return append(h, payload...)
}

func ipv6(nh byte, src, dst [16]byte, payload ...byte) []byte {
	h := []byte{0x60, 0, 0, 0, 0, byte(len(payload)), nh, 64}
	h = append(h, src[:]...)
	h = append(h, dst[:]...)
	return append(h, payload...)
}

func ports(sp, dp uint16, rest ...byte) []byte {
	return append([]byte{byte(sp >> 8), byte(sp), byte(dp >> 8), byte(dp), 0, 8, 0, 0}, rest...)
}

var (
	a1 = [4]byte{10, 0, 0, 1}
	a2 = [4]byte{10, 0, 0, 2}
	a3 = [4]byte{192, 168, 1, 3}
	a4 = [4]byte{192, 168, 1, 4}
	v1 = [16]byte{0x20, 0x01, 0x0d, 0xb8, 15: 1}
	v2 = [16]byte{10: 0xff, 11: 0xff, 12: 10, 13: 0, 14: 0, 15: 9} // ::ffff:10.0.0.9
)

func addr(a [4]byte) Term   { return AddrTerm(netip.AddrFrom4(a)) }
func addr6(a [16]byte) Term { return AddrTerm(netip.AddrFrom16(a)) }

func TestTermsPacket(t *testing.T) {
	udp := ipv4(17, a1, a2, ports(1234, 53)...)
	frag := ipv4(6, a1, a2, ports(1, 2)...)
	frag[6], frag[7] = 0x00, 0x10 // fragment offset 16: a later fragment
	opts := ipv4(6, a1, a2, append([]byte{1, 1, 1, 1}, ports(80, 443)...)...)
	opts[0] = 0x46 // IHL 6: the ports are 24 bytes in
	arp := ether(0x0806, 0, 1, 8, 0, 6, 4, 0, 1, 0, 1, 2, 3, 4, 5, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2)
	mpls := ether(0x8847, append([]byte{0, 0x64, 0x00, 64, 0, 0xc8, 0x01, 64}, udp...)...) // labels 6 and 12, S on the second
	pppoe := ether(0x8864, append([]byte{0x11, 0, 0, 1, 0, byte(2 + len(udp)), 0, 0x21}, udp...)...)
	inner := ether(0x0800, ipv4(6, a3, a4, ports(5000, 80)...)...)
	gen := append([]byte{0, 0, 0x65, 0x58, 0, 0, 1, 0}, inner...)
	geneve := ether(0x0800, ipv4(17, a1, a2, ports(40000, 6081, gen...)...)...)
	v6frag := ipv6(44, v1, v2, append([]byte{6, 0, 0, 1, 0, 0, 0, 1}, ports(1, 2)...)...)

	cases := []struct {
		name string
		lt   uint32
		data []byte
		want []Term
	}{
		{"ethernet ipv4 udp", 1, ether(0x0800, udp...),
			[]Term{addr(a1), addr(a2), ProtoTerm(17), PortTerm(17, 1234), PortTerm(17, 53)}},
		{"later fragment has no ports", 1, ether(0x0800, frag...),
			[]Term{addr(a1), addr(a2), ProtoTerm(6)}},
		{"ports after IPv4 options", 1, ether(0x0800, opts...),
			[]Term{addr(a1), addr(a2), ProtoTerm(6), PortTerm(6, 80), PortTerm(6, 443)}},
		{"vlan 10", 1, ether(0x8100, append([]byte{0x20, 10, 0x08, 0x00}, udp...)...),
			[]Term{VLANTerm(10), addr(a1), addr(a2), ProtoTerm(17), PortTerm(17, 1234), PortTerm(17, 53)}},
		{"qinq 100 200", 1, ether(0x88a8, append([]byte{0, 100, 0x81, 0x00, 0, 200, 0x08, 0x00}, udp...)...),
			[]Term{VLANTerm(100), VLANTerm(200), addr(a1), addr(a2), ProtoTerm(17), PortTerm(17, 1234), PortTerm(17, 53)}},
		// The ARP protocol type (0x0800) sits where "vlan or host A"
		// reads the type field after one shift, so the bytes behind it
		// are read as an IPv4 header too, as that program reads them.
		{"arp protocol addresses", 1, arp, []Term{addr(a1), addr(a2),
			addr([4]byte{0, 1, 0, 0}), addr([4]byte{0, 0, 0, 0}), ProtoTerm(5)}},
		{"mpls bottom of stack", 1, mpls,
			[]Term{addr(a1), addr(a2), ProtoTerm(17), PortTerm(17, 1234), PortTerm(17, 53)}},
		{"pppoe session", 1, pppoe,
			[]Term{addr(a1), addr(a2), ProtoTerm(17), PortTerm(17, 1234), PortTerm(17, 53)}},
		{"geneve inner ethernet", 1, geneve,
			[]Term{addr(a1), addr(a2), ProtoTerm(17), PortTerm(17, 40000), PortTerm(17, 6081),
				addr(a3), addr(a4), ProtoTerm(6), PortTerm(6, 5000), PortTerm(6, 80)}},
		{"ipv6 fragment header, ipv4-mapped destination", 1, ether(0x86dd, v6frag...),
			[]Term{addr6(v1), addr6(v2), ProtoTerm(44), ProtoTerm(6)}},
		{"truncated after the source address", 1, ether(0x0800, udp[:16]...),
			[]Term{addr(a1), ProtoTerm(17)}},
		{"raw ipv4", 101, udp,
			[]Term{addr(a1), addr(a2), ProtoTerm(17), PortTerm(17, 1234), PortTerm(17, 53)}},
		{"linux sll", 113, append(make([]byte, 14), append([]byte{0x08, 0x00}, udp...)...),
			[]Term{addr(a1), addr(a2), ProtoTerm(17), PortTerm(17, 1234), PortTerm(17, 53)}},
		{"null, little-endian AF_INET", 0, append([]byte{2, 0, 0, 0}, udp...),
			[]Term{addr(a1), addr(a2), ProtoTerm(17), PortTerm(17, 1234), PortTerm(17, 53)}},
		{"null, big-endian AF_INET is not what libpcap reads", 0, append([]byte{0, 0, 0, 2}, udp...), nil},
		{"link type not modelled", 105, udp, []Term{Any}},
		{"empty", 1, nil, nil},
	}
	var tm Terms
	for _, c := range cases {
		tm.Packet(c.lt, c.data)
		got := Set{}
		got.Add(tm.List...)
		want := Set{}
		want.Add(c.want...)
		for w := range want {
			if !got.Has(w) {
				t.Errorf("%s: missing %s (got %v)", c.name, w, tm.List)
			}
		}
		for g := range got {
			if !want.Has(g) {
				t.Errorf("%s: unexpected %s", c.name, g)
			}
		}
	}
}

// TestTermsDeepNesting: beyond what Terms follows, a packet is KindAny.
func TestTermsDeepNesting(t *testing.T) {
	udp := ipv4(17, a1, a2, ports(1, 2)...)
	// MaxLabels+1 labels, none at the bottom of the stack.
	labels := make([]byte, 4*(MaxLabels+1))
	pkt := ether(0x8847, append(labels, udp...)...)
	var tm Terms
	tm.Packet(1, pkt)
	if !slices.Contains(tm.List, Any) {
		t.Errorf("%d labels: want KindAny, got %v", MaxLabels+1, tm.List)
	}
	// PPPoE in PPPoE, MaxLayers+1 deep.
	p := udp
	p = append([]byte{0, 0x21}, p...)
	for i := 0; i <= MaxLayers; i++ {
		p = append([]byte{0x11, 0, 0, 1, 0, 0}, p...)
		if i < MaxLayers {
			p = append([]byte{0x88, 0x64}, p...)
		}
	}
	tm.Packet(1, ether(0x8864, p...))
	if !slices.Contains(tm.List, Any) {
		t.Errorf("%d nested PPPoE: want KindAny, got %v", MaxLayers+1, tm.List)
	}
}

func TestTermsAddFlow(t *testing.T) {
	inner := ether(0x0800, ipv4(6, a3, a4, ports(5000, 80)...)...)
	vx := append([]byte{0x08, 0, 0, 0, 0, 0, 42, 0}, inner...)
	pkt := ether(0x0800, ipv4(17, a1, a2, ports(40000, 4789, vx...)...)...)
	var fp flow.Packet
	if !flow.Extract(1, pkt, &fp) {
		t.Fatal("flow.Extract finds no IP packet")
	}
	var tm Terms
	tm.Packet(1, pkt)
	if slices.Contains(tm.List, addr(a3)) {
		t.Fatal("libpcap reads no VXLAN payload, Packet should not either")
	}
	tm.AddFlow(&fp)
	for _, w := range []Term{addr(a1), addr(a2), addr(a3), addr(a4), PortTerm(6, 5000), PortTerm(6, 80), PortTerm(17, 4789)} {
		if !slices.Contains(tm.List, w) {
			t.Errorf("missing %s in %v", w, tm.List)
		}
	}
}

func TestTermsAllocs(t *testing.T) {
	pkts := [][]byte{
		ether(0x0800, ipv4(6, a1, a2, ports(1, 2)...)...),
		ether(0x8100, append([]byte{0, 10, 0x86, 0xdd}, ipv6(17, v1, v1, ports(1, 2)...)...)...),
	}
	var tm Terms
	for _, p := range pkts {
		tm.Packet(1, p)
	}
	n := testing.AllocsPerRun(100, func() {
		for _, p := range pkts {
			tm.Packet(1, p)
		}
	})
	if n != 0 {
		t.Errorf("Packet allocates %.1f times per run", n)
	}
}

func BenchmarkTermsPacket(b *testing.B) {
	pkts := [][]byte{
		ether(0x0800, ipv4(6, a1, a2, ports(443, 51234, make([]byte, 1200)...)...)...),
		ether(0x0800, ipv4(17, a3, a4, ports(53, 40000, make([]byte, 60)...)...)...),
		ether(0x86dd, ipv6(6, v1, v2, ports(443, 51234, make([]byte, 500)...)...)...),
		ether(0x8100, append([]byte{0, 10, 0x08, 0x00}, ipv4(6, a1, a2, ports(80, 1234)...)...)...),
	}
	var tm Terms
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tm.Packet(1, pkts[i&3])
	}
}

func TestExprSimplifyAndString(t *testing.T) {
	h := TermExpr(addr(a1))
	p := TermExpr(PortTerm(6, 80))
	cases := []struct {
		e    Expr
		want string
	}{
		{And(h, All), "addr 10.0.0.1"},
		{And(h, None), "none"},
		{Or(h, All), "all"},
		{Or(h, None), "addr 10.0.0.1"},
		{And(h, And(p, TermExpr(ProtoTerm(6)))), "(addr 10.0.0.1 and port 80/6 and proto 6)"},
		{Or(h, And(p, PrefixExpr(netip.MustParsePrefix("10.1.2.3/16")))), "(addr 10.0.0.1 or (port 80/6 and net 10.1.0.0/16))"},
		{PortRangeExpr(17, 2000, 1000), "ports 1000-2000/17"},
		{PortRangeExpr(17, 53, 53), "port 53/17"},
		{And(), "all"},
		{Or(), "none"},
	}
	for _, c := range cases {
		if got := c.e.String(); got != c.want {
			t.Errorf("got %q, want %q", got, c.want)
		}
	}
}

func TestExprEval(t *testing.T) {
	s := Set{}
	s.Add(addr(a1), PortTerm(6, 80), ProtoTerm(6), addr6(v2))
	cases := []struct {
		e    Expr
		want bool
	}{
		{TermExpr(addr(a1)), true},
		{TermExpr(addr(a2)), false},
		{And(TermExpr(addr(a1)), TermExpr(PortTerm(6, 80))), true},
		{And(TermExpr(addr(a1)), TermExpr(PortTerm(17, 80))), false},
		{Or(TermExpr(addr(a2)), TermExpr(PortTerm(6, 80))), true},
		{PrefixExpr(netip.MustParsePrefix("10.0.0.0/8")), true},
		{PrefixExpr(netip.MustParsePrefix("11.0.0.0/8")), false},
		// An IPv4-mapped IPv6 address is not in an IPv4 network, as
		// "net 10.0.0.0/8" does not match it.
		{And(PrefixExpr(netip.MustParsePrefix("10.0.0.0/8")), TermExpr(addr(a1))), true},
		{PrefixExpr(netip.MustParsePrefix("::ffff:10.0.0.0/104")), true},
		{PortRangeExpr(6, 1, 79), false},
		{PortRangeExpr(6, 1, 80), true},
		{All, true},
		{None, false},
	}
	for _, c := range cases {
		if got := c.e.Eval(s); got != c.want {
			t.Errorf("%s: got %v, want %v", c.e, got, c.want)
		}
	}
	any := Set{}
	any.Add(Any)
	if !TermExpr(addr(a2)).Eval(any) || None.Eval(any) {
		t.Error("a set with KindAny must pass every plan but none")
	}
}
