package decode

import (
	"bytes"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

var (
	mac1 = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	mac2 = net.HardwareAddr{0x02, 0, 0, 0, 0, 2}
	ip1  = net.IP{10, 0, 0, 1}
	ip2  = net.IP{10, 0, 0, 2}
	ip61 = net.ParseIP("fe80::1")
	ip62 = net.ParseIP("ff02::1")
)

// build serializes layers with lengths and checksums fixed.
func build(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatalf("serialize: %v", err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func eth(t layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: mac1, DstMAC: mac2, EthernetType: t}
}

func ip4(p layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: p, SrcIP: ip1, DstIP: ip2}
}

func ip6(nh layers.IPProtocol, src, dst net.IP) *layers.IPv6 {
	return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: nh, SrcIP: src, DstIP: dst}
}

func udp(t testing.TB, nl gopacket.NetworkLayer, sp, dp uint16) *layers.UDP {
	u := &layers.UDP{SrcPort: layers.UDPPort(sp), DstPort: layers.UDPPort(dp)}
	if err := u.SetNetworkLayerForChecksum(nl); err != nil {
		t.Fatal(err)
	}
	return u
}

func tcp(t testing.TB, nl gopacket.NetworkLayer, tl *layers.TCP) *layers.TCP {
	if err := tl.SetNetworkLayerForChecksum(nl); err != nil {
		t.Fatal(err)
	}
	return tl
}

func payload(n int) gopacket.Payload { return gopacket.Payload(bytes.Repeat([]byte{'x'}, n)) }

type summaryCase struct {
	name     string
	linkType uint32
	data     []byte
	wireLen  int // 0: len(data)
	want     string
}

func summaryCases(t testing.TB) []summaryCase {
	udpPkt := func() []byte {
		i := ip4(layers.IPProtocolUDP)
		return build(t, eth(layers.EthernetTypeIPv4), i, udp(t, i, 5000, 9000), payload(20))
	}
	tcpSyn := func() []byte {
		i := ip4(layers.IPProtocolTCP)
		return build(t, eth(layers.EthernetTypeIPv4), i, tcp(t, i, &layers.TCP{SrcPort: 41000, DstPort: 80, Seq: 123, SYN: true, Window: 64240}))
	}
	var cases []summaryCase
	add := func(name string, lt uint32, data []byte, want string) {
		cases = append(cases, summaryCase{name: name, linkType: lt, data: data, want: want})
	}

	add("udp", 1, udpPkt(), "IP 10.0.0.1.5000 > 10.0.0.2.9000: UDP, length 20")
	add("tcp syn", 1, tcpSyn(), "IP 10.0.0.1.41000 > 10.0.0.2.80: Flags [S], seq 123, win 64240, length 0")
	{
		i := ip4(layers.IPProtocolTCP)
		opts := []layers.TCPOption{
			{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}},
			{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2},
			{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: []byte{0, 0, 0, 1, 0, 0, 0, 0}},
			{OptionType: layers.TCPOptionKindNop},
			{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{7}},
		}
		add("tcp syn-ack options", 1,
			build(t, eth(layers.EthernetTypeIPv4), i, tcp(t, i, &layers.TCP{SrcPort: 80, DstPort: 41000, Seq: 7, Ack: 124, SYN: true, ACK: true, Window: 65160, Options: opts})),
			"IP 10.0.0.1.80 > 10.0.0.2.41000: Flags [S.], seq 7, ack 124, win 65160, options [mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7], length 0")
	}
	{
		i := ip4(layers.IPProtocolTCP)
		add("tcp data", 1,
			build(t, eth(layers.EthernetTypeIPv4), i, tcp(t, i, &layers.TCP{SrcPort: 41000, DstPort: 80, Seq: 1000, Ack: 5, PSH: true, ACK: true, Window: 512}), payload(10)),
			"IP 10.0.0.1.41000 > 10.0.0.2.80: Flags [P.], seq 1000:1010, ack 5, win 512, length 10: HTTP")
		add("tcp all flags", 1,
			build(t, eth(layers.EthernetTypeIPv4), i, tcp(t, i, &layers.TCP{SrcPort: 1, DstPort: 2, Seq: 1, Ack: 2, FIN: true, SYN: true, RST: true, PSH: true, ACK: true, URG: true, ECE: true, CWR: true, Window: 3, Urgent: 4})),
			"IP 10.0.0.1.1 > 10.0.0.2.2: Flags [FSRP.UEW], seq 1, ack 2, win 3, urg 4, length 0")
		add("tcp no flags", 1,
			build(t, eth(layers.EthernetTypeIPv4), i, tcp(t, i, &layers.TCP{SrcPort: 1, DstPort: 2, Window: 3})),
			"IP 10.0.0.1.1 > 10.0.0.2.2: Flags [none], win 3, length 0")
	}
	{
		i := ip4(layers.IPProtocolICMPv4)
		ip4udp := ip4(layers.IPProtocolUDP)
		add("icmp echo", 1,
			build(t, eth(layers.EthernetTypeIPv4), i, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 1, Seq: 2}, payload(56)),
			"IP 10.0.0.1 > 10.0.0.2: ICMP echo request, id 1, seq 2, length 64")
		add("icmp unreachable", 1,
			build(t, eth(layers.EthernetTypeIPv4), i, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 3)}, gopacket.Payload(build(t, ip4udp, udp(t, ip4udp, 5000, 9000)))),
			"IP 10.0.0.1 > 10.0.0.2: ICMP 10.0.0.2 udp port 9000 unreachable, length 36")
	}
	{
		i := ip6(layers.IPProtocolICMPv6, ip61, ip62)
		ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(128, 0)}
		if err := ic.SetNetworkLayerForChecksum(i); err != nil {
			t.Fatal(err)
		}
		add("icmp6 echo", 1,
			build(t, eth(layers.EthernetTypeIPv6), i, ic, &layers.ICMPv6Echo{Identifier: 1, SeqNumber: 2}, payload(56)),
			"IP6 fe80::1 > ff02::1: ICMP6, echo request, id 1, seq 2, length 64")
		ns := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(135, 0)}
		if err := ns.SetNetworkLayerForChecksum(i); err != nil {
			t.Fatal(err)
		}
		add("icmp6 neighbor solicitation", 1,
			build(t, eth(layers.EthernetTypeIPv6), i, ns, &layers.ICMPv6NeighborSolicitation{TargetAddress: net.ParseIP("fe80::2")}),
			"IP6 fe80::1 > ff02::1: ICMP6, neighbor solicitation, who has fe80::2, length 24")
	}
	{
		i := ip6(layers.IPProtocolUDP, net.ParseIP("2001:db8::1"), net.ParseIP("2001:db8::2"))
		add("udp6", 1, build(t, eth(layers.EthernetTypeIPv6), i, udp(t, i, 5300, 9000), payload(4)),
			"IP6 2001:db8::1.5300 > 2001:db8::2.9000: UDP, length 4")
	}
	{
		i := ip6(layers.IPProtocolIPv6HopByHop, net.ParseIP("2001:db8::1"), net.ParseIP("2001:db8::2"))
		hbh := &layers.IPv6HopByHop{}
		hbh.NextHeader = layers.IPProtocolUDP
		hbh.Options = []*layers.IPv6HopByHopOption{{OptionType: 1, OptionLength: 4, OptionData: []byte{0, 0, 0, 0}}}
		add("udp6 hop-by-hop", 1, build(t, eth(layers.EthernetTypeIPv6), i, hbh, udp(t, i, 5300, 9000), payload(4)),
			"IP6 2001:db8::1 > 2001:db8::2: HBH 5300 > 9000: UDP, length 4")
	}
	arp := func(op uint16, sha, tha net.HardwareAddr) []byte {
		return build(t, eth(layers.EthernetTypeARP), &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
			HwAddressSize: 6, ProtAddressSize: 4, Operation: op, SourceHwAddress: sha, SourceProtAddress: ip1,
			DstHwAddress: tha, DstProtAddress: ip2})
	}
	// gopacket pads the frame to 60 bytes; like tcpdump, the length counts the padding.
	add("arp request", 1, arp(1, mac1, net.HardwareAddr{0, 0, 0, 0, 0, 0}), "ARP, Request who-has 10.0.0.2 tell 10.0.0.1, length 46")
	add("arp request unpadded", 1, arp(1, mac1, net.HardwareAddr{0, 0, 0, 0, 0, 0})[:42], "ARP, Request who-has 10.0.0.2 tell 10.0.0.1, length 28")
	add("arp reply", 1, arp(2, mac1, mac2), "ARP, Reply 10.0.0.1 is-at 02:00:00:00:00:01, length 46")
	{
		i := ip4(layers.IPProtocolUDP)
		add("vlan", 1, build(t, eth(layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 100, Type: layers.EthernetTypeIPv4}, i, udp(t, i, 5000, 9000), payload(20)),
			"IP 10.0.0.1.5000 > 10.0.0.2.9000: UDP, length 20")
		add("qinq", 1, build(t, eth(layers.EthernetTypeQinQ), &layers.Dot1Q{VLANIdentifier: 10, Priority: 7, Type: layers.EthernetTypeDot1Q},
			&layers.Dot1Q{VLANIdentifier: 20, Priority: 5, DropEligible: true, Type: layers.EthernetTypeIPv4}, i, udp(t, i, 5000, 9000), payload(20)),
			"IP 10.0.0.1.5000 > 10.0.0.2.9000: UDP, length 20")
	}
	{
		add("unknown ethertype", 1, build(t, eth(layers.EthernetType(0x88b5)), payload(46)), "02:00:00:00:00:01 > 02:00:00:00:00:02, ethertype Unknown (0x88b5), length 60: "+
			"\n\t0x0000:  7878 7878 7878 7878 7878 7878 7878 7878  xxxxxxxxxxxxxxxx"+
			"\n\t0x0010:  7878 7878 7878 7878 7878 7878 7878 7878  xxxxxxxxxxxxxxxx"+
			"\n\t0x0020:  7878 7878 7878 7878 7878 7878 7878       xxxxxxxxxxxxxx")
		add("unknown link type", 147, make([]byte, 40), "UNSUPPORTED"+
			"\n\t0x0000:  0000 0000 0000 0000 0000 0000 0000 0000  ................"+
			"\n\t0x0010:  0000 0000 0000 0000 0000 0000 0000 0000  ................"+
			"\n\t0x0020:  0000 0000 0000 0000                      ........")
		add("link type tcpdump has no name for", 300, make([]byte, 40), "LINKTYPE 300, length 40")
	}
	{
		// The same UDP datagram behind other link layers.
		i := ip4(layers.IPProtocolUDP)
		ipPkt := build(t, i, udp(t, i, 5000, 9000), payload(20))
		const want = "IP 10.0.0.1.5000 > 10.0.0.2.9000: UDP, length 20"
		add("raw", 101, ipPkt, want)
		add("ipv4 link", 228, ipPkt, want)
		add("null le", 0, append([]byte{2, 0, 0, 0}, ipPkt...), want)
		add("null be", 0, append([]byte{0, 0, 0, 2}, ipPkt...), want)
		add("loop", 108, append([]byte{0, 0, 0, 2}, ipPkt...), want)
		// gopacket cannot serialize SLL headers: type 0 (to us), ARPHRD 1, address length 6.
		sll := append([]byte{0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00}, ipPkt...)
		add("sll", 113, sll, want)
		sll2 := append([]byte{0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0}, ipPkt...)
		add("sll2", 276, sll2, want)
		add("ppp", 9, append([]byte{0xff, 0x03, 0x00, 0x21}, ipPkt...), want)
		add("chdlc", 104, append([]byte{0x0f, 0x00, 0x08, 0x00}, ipPkt...), want)
		ipip := ip4(layers.IPProtocolIPv4)
		add("ipip", 101, build(t, ipip, i, udp(t, i, 5000, 9000), payload(20)), "IP 10.0.0.1 > 10.0.0.2: "+want)
	}
	// Truncated packets say where they stop.
	syn := tcpSyn()
	// tcpdump's " [|proto]" follows what it printed before it found the
	// capture short (TestTruncatedCasesMatchTcpdump checks these).
	add("truncated ether", 1, syn[:10], " [|ether]")
	add("truncated ip", 1, syn[:14+10], "IP  [|ip]")
	add("truncated tcp ports", 1, syn[:14+20+2], "IP 10.0.0.1 > 10.0.0.2: [|tcp]")
	add("truncated tcp header", 1, syn[:14+20+10], "IP 10.0.0.1.41000 > 10.0.0.2.80:  [|tcp]")
	u := udpPkt()
	add("truncated udp", 1, u[:14+20+6], "IP 10.0.0.1.5000 > 10.0.0.2.9000:  [|udp]")
	add("empty", 1, nil, " [|ether]")
	return append(cases, fragmentCases()...)
}

func TestSummary(t *testing.T) {
	s := NewSummarizer()
	for _, c := range summaryCases(t) {
		t.Run(c.name, func(t *testing.T) {
			wl := c.wireLen
			if wl == 0 {
				wl = len(c.data)
			}
			if strings.HasPrefix(c.name, "truncated") || c.name == "empty" {
				wl = 74 // the original length is kept; the capture is short
			}
			if got := s.Summary(c.linkType, c.data, wl); got != c.want {
				t.Errorf("Summary =\n %q\nwant\n %q", got, c.want)
			}
			if got := Summary(c.linkType, c.data, wl); got != c.want {
				t.Errorf("package Summary = %q, want %q", got, c.want)
			}
		})
	}
}

func TestSummaryTruncatedIPLength(t *testing.T) {
	i := ip4(layers.IPProtocolUDP)
	p := build(t, eth(layers.EthernetTypeIPv4), i, udp(t, i, 5000, 9000), payload(20))
	// wireLen shorter than the IP total length claims.
	got := Summary(1, p[:len(p)-1], len(p)-1)
	if !strings.HasPrefix(got, "IP truncated-ip - 1 bytes missing! 10.0.0.1.5000 > 10.0.0.2.9000:") {
		t.Errorf("got %q", got)
	}
}

func TestFlowKey(t *testing.T) {
	i := ip4(layers.IPProtocolUDP)
	p := build(t, eth(layers.EthernetTypeIPv4), i, udp(t, i, 5000, 9000), payload(20))
	f, ok := FlowKey(1, p)
	want := Flow{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"), SrcPort: 5000, DstPort: 9000, Proto: 17}
	if !ok || f != want {
		t.Errorf("FlowKey = %+v, %v; want %+v", f, ok, want)
	}

	i6 := ip6(layers.IPProtocolIPv6HopByHop, net.ParseIP("2001:db8::1"), net.ParseIP("2001:db8::2"))
	hbh := &layers.IPv6HopByHop{}
	hbh.NextHeader = layers.IPProtocolTCP
	hbh.Options = []*layers.IPv6HopByHopOption{{OptionType: 1, OptionLength: 4, OptionData: []byte{0, 0, 0, 0}}}
	p = build(t, eth(layers.EthernetTypeIPv6), i6, hbh, tcp(t, i6, &layers.TCP{SrcPort: 1234, DstPort: 443, SYN: true}))
	f, ok = FlowKey(1, p)
	want = Flow{Src: netip.MustParseAddr("2001:db8::1"), Dst: netip.MustParseAddr("2001:db8::2"), SrcPort: 1234, DstPort: 443, Proto: 6}
	if !ok || f != want {
		t.Errorf("FlowKey v6 = %+v, %v; want %+v", f, ok, want)
	}

	// Tunnels report the outer header.
	outer := ip4(layers.IPProtocolIPv4)
	outer.SrcIP, outer.DstIP = net.IP{192, 0, 2, 1}, net.IP{192, 0, 2, 2}
	p = build(t, outer, i, udp(t, i, 5000, 9000), payload(1))
	f, ok = FlowKey(101, p)
	want = Flow{Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr("192.0.2.2"), Proto: 4}
	if !ok || f != want {
		t.Errorf("FlowKey ipip = %+v, %v; want %+v", f, ok, want)
	}

	arp := build(t, eth(layers.EthernetTypeARP), &layers.ARP{AddrType: 1, Protocol: 0x800, HwAddressSize: 6, ProtAddressSize: 4,
		Operation: 1, SourceHwAddress: mac1, SourceProtAddress: ip1, DstHwAddress: mac2, DstProtAddress: ip2})
	if f, ok := FlowKey(1, arp); ok {
		t.Errorf("FlowKey(arp) = %+v, want !ok", f)
	}
}

func TestHexDump(t *testing.T) {
	data := []byte("E\x00\x00T\x1cF@\x00@\x01\x9fZ\n\x00\x00\x01 abc")
	var b strings.Builder
	if err := HexDump(&b, data); err != nil {
		t.Fatal(err)
	}
	want := "\t0x0000:  4500 0054 1c46 4000 4001 9f5a 0a00 0001  E..T.F@.@..Z....\n" +
		"\t0x0010:  2061 6263                                .abc\n"
	if b.String() != want {
		t.Errorf("HexDump =\n%q\nwant\n%q", b.String(), want)
	}
	b.Reset()
	if err := HexDump(&b, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if want := "\t0x0000:  0102 03                                  ...\n"; b.String() != want {
		t.Errorf("HexDump odd =\n%q\nwant\n%q", b.String(), want)
	}
}

func TestSummaryAllocs(t *testing.T) {
	cases := summaryCases(t)
	s := NewSummarizer()
	var dst []byte
	for _, c := range cases {
		n := testing.AllocsPerRun(20, func() {
			dst = s.AppendSummary(dst[:0], c.linkType, c.data, len(c.data))
			s.Flow(c.linkType, c.data)
		})
		if n != 0 {
			t.Errorf("%s: %v allocations per AppendSummary+Flow, want 0", c.name, n)
		}
	}
}

func BenchmarkSummary(b *testing.B) {
	cases := summaryCases(b)
	s := NewSummarizer()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		c := cases[i%len(cases)]
		_ = s.Summary(c.linkType, c.data, len(c.data))
	}
}

func BenchmarkFlow(b *testing.B) {
	cases := summaryCases(b)
	s := NewSummarizer()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		c := cases[i%len(cases)]
		_, _ = s.Flow(c.linkType, c.data)
	}
}

// TestSLL2InterfaceAndDirection: with InterfaceName set, a LINUX_SLL2
// summary starts as tcpdump's does: the interface name in 5 columns, the
// direction (In, B, M, P, Out) in 3, "?" for an unknown index or type.
func TestSLL2InterfaceAndDirection(t *testing.T) {
	i := ip4(layers.IPProtocolUDP)
	ipPkt := build(t, i, udp(t, i, 5000, 9000), payload(20))
	const rest = "IP 10.0.0.1.5000 > 10.0.0.2.9000: UDP, length 20"
	sll2 := func(index uint32, pktType byte) []byte {
		h := []byte{0x08, 0x00, 0, 0, byte(index >> 24), byte(index >> 16), byte(index >> 8), byte(index), 0, 1, pktType, 6, 2, 0, 0, 0, 0, 1, 0, 0}
		return append(h, ipPkt...)
	}
	s := NewSummarizer()
	s.InterfaceName = func(index uint32) string {
		return map[uint32]string{1: "lo", 2: "eth0", 3: "veth-long-name"}[index]
	}
	for _, c := range []struct {
		index   uint32
		pktType byte
		want    string
	}{
		{2, 0, "eth0  In  " + rest},
		{1, 4, "lo    Out " + rest},
		{3, 1, "veth-long-name B   " + rest},
		{9, 2, "?     M   " + rest},
		{2, 3, "eth0  P   " + rest},
		{2, 7, "eth0  ?   " + rest},
	} {
		if got := s.Summary(276, sll2(c.index, c.pktType), 20+len(ipPkt)); got != c.want {
			t.Errorf("ifindex %d type %d: %q, want %q", c.index, c.pktType, got, c.want)
		}
	}
	if got := Summary(276, sll2(2, 0), 20+len(ipPkt)); got != rest {
		t.Errorf("without InterfaceName: %q, want %q", got, rest)
	}
}
