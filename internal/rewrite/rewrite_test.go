package rewrite

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

var (
	macA = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0a}
	macB = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0b}
)

// build serializes a frame with gopacket, checksums computed by gopacket.
func build(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(buf.Bytes())
}

type frameSpec struct {
	vlan    bool
	v6      bool
	proto   string // tcp, udp, icmp
	hbh     bool   // IPv6 hop-by-hop options header
	payload int
	flags   string // tcp: any of S A F P C
}

func (s frameSpec) frame(t testing.TB, src, dst string, sport, dport uint16) []byte {
	t.Helper()
	payload := make([]byte, s.payload)
	for i := range payload {
		payload[i] = byte(i*7 + i/251)
	}
	eth := &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4}
	var ls []gopacket.SerializableLayer
	ls = append(ls, eth)
	if s.vlan {
		eth.EthernetType = layers.EthernetTypeDot1Q
		ls = append(ls, &layers.Dot1Q{VLANIdentifier: 42, Type: layers.EthernetTypeIPv4})
	}
	var nl gopacket.NetworkLayer
	ipProto := map[string]layers.IPProtocol{"tcp": layers.IPProtocolTCP, "udp": layers.IPProtocolUDP, "icmp": layers.IPProtocolICMPv4}[s.proto]
	if s.v6 {
		if s.vlan {
			ls[1].(*layers.Dot1Q).Type = layers.EthernetTypeIPv6
		} else {
			eth.EthernetType = layers.EthernetTypeIPv6
		}
		if s.proto == "icmp" {
			ipProto = layers.IPProtocolICMPv6
		}
		ip6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: ipProto, SrcIP: net.ParseIP(src), DstIP: net.ParseIP(dst)}
		nl = ip6
		ls = append(ls, ip6)
		if s.hbh {
			ip6.NextHeader = layers.IPProtocolIPv6HopByHop
			ip6.HopByHop = &layers.IPv6HopByHop{}
			ip6.HopByHop.NextHeader = ipProto
			ip6.HopByHop.Options = []*layers.IPv6HopByHopOption{{OptionType: 1, OptionLength: 4, OptionData: []byte{0, 0, 0, 0}}}
		}
	} else {
		ip4 := &layers.IPv4{Version: 4, TTL: 64, Id: 0x1234, Flags: layers.IPv4DontFragment, Protocol: ipProto, SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4()}
		nl = ip4
		ls = append(ls, ip4)
	}
	switch s.proto {
	case "tcp":
		tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: 0xfffff000, Ack: 77, Window: 512,
			Options: []layers.TCPOption{{OptionType: layers.TCPOptionKindNop}, {OptionType: layers.TCPOptionKindNop}, {OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: []byte{1, 2, 3, 4, 5, 6, 7, 8}}}}
		tcp.SYN = strings.Contains(s.flags, "S")
		tcp.ACK = strings.Contains(s.flags, "A")
		tcp.FIN = strings.Contains(s.flags, "F")
		tcp.PSH = strings.Contains(s.flags, "P")
		tcp.CWR = strings.Contains(s.flags, "C")
		tcp.SetNetworkLayerForChecksum(nl)
		ls = append(ls, tcp)
	case "udp":
		udp := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
		udp.SetNetworkLayerForChecksum(nl)
		ls = append(ls, udp)
	case "icmp":
		if s.v6 {
			ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(128, 0)}
			ic.SetNetworkLayerForChecksum(nl)
			ls = append(ls, ic, &layers.ICMPv6Echo{Identifier: 9, SeqNumber: 1})
		} else {
			ls = append(ls, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 9, Seq: 1})
		}
	}
	ls = append(ls, gopacket.Payload(payload))
	return build(t, ls...)
}

// verify checks every checksum of a frame from first principles: the
// headers are found by gopacket, the sums computed here over the bytes
// (with the pseudo-header spelled out) and each must fold to 0xffff.
func verify(t testing.TB, f []byte) {
	t.Helper()
	p := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
	if el := p.ErrorLayer(); el != nil {
		t.Fatalf("gopacket cannot decode: %v\n% x", el.Error(), f)
	}
	var pseudo []byte
	if ip4, ok := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ok {
		if s := onesSum(ip4.Contents); s != 0xffff {
			t.Errorf("IPv4 header checksum bad (sum %#04x)", s)
		}
		if ip4.Flags&layers.IPv4MoreFragments != 0 || ip4.FragOffset != 0 {
			return // fragments: checked after reassembly
		}
		pseudo = append(append([]byte{}, ip4.SrcIP.To4()...), ip4.DstIP.To4()...)
		pseudo = append(pseudo, 0, byte(ip4.Protocol))
	}
	if ip6, ok := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6); ok {
		if p.Layer(layers.LayerTypeIPv6Fragment) != nil {
			return
		}
		pseudo = append(append([]byte{}, ip6.SrcIP...), ip6.DstIP...)
		pseudo = append(pseudo, 0, 0, 0, 0, 0, 0, 0, 0)
	}
	tl := p.TransportLayer()
	var seg []byte
	var proto byte
	switch l := tl.(type) {
	case *layers.TCP:
		seg, proto = append(l.Contents, l.Payload...), 6
	case *layers.UDP:
		seg, proto = append(l.Contents, l.Payload...), 17
	default:
		if ic, ok := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4); ok {
			if s := onesSum(append(ic.Contents, ic.Payload...)); s != 0xffff {
				t.Errorf("ICMP checksum bad")
			}
			return
		}
		if ic, ok := p.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6); ok {
			seg, proto = append(ic.Contents, ic.Payload...), 58
		} else {
			return
		}
	}
	if len(pseudo) == 10 {
		pseudo = append(pseudo[:10], byte(len(seg)>>8), byte(len(seg)))
	} else {
		pseudo = append(pseudo[:32], 0, 0, byte(len(seg)>>8), byte(len(seg)), 0, 0, 0, proto)
	}
	if s := onesSum(append(pseudo, seg...)); s != 0xffff {
		t.Errorf("transport (%d) checksum bad (sum %#04x)\n% x", proto, s, f)
	}
}

// onesSum is the ones'-complement sum of b, byte by byte.
func onesSum(b []byte) uint16 {
	var s uint32
	for i, c := range b {
		if i%2 == 0 {
			s += uint32(c) << 8
		} else {
			s += uint32(c)
		}
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

func TestParseFlags(t *testing.T) {
	maps, err := ParseIPMaps("10.0.0.0/8:192.168.0.0/16, 2001:db8::/32:fd00:1::/48")
	if err != nil || len(maps) != 2 || maps[0].To != netip.MustParsePrefix("192.168.0.0/16") || maps[1].From != netip.MustParsePrefix("2001:db8::/32") || maps[1].To != netip.MustParsePrefix("fd00:1::/48") {
		t.Errorf("ParseIPMaps: %v %v", maps, err)
	}
	for _, bad := range []string{"", "10.0.0.0/8", "10.0.0.0/8:", "10.0.0.0/8:2001:db8::/32", "10.0.0.0/33:1.0.0.0/8", "x/8:1.0.0.0/8", "10.0.0.0:1.0.0.0"} {
		if _, err := ParseIPMaps(bad); err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("ParseIPMaps(%q): %v", bad, err)
		}
	}
	pm, err := ParsePortMap("80:8080,443:8443")
	if err != nil || len(pm) != 2 || pm[80] != 8080 || pm[443] != 8443 {
		t.Errorf("ParsePortMap: %v %v", pm, err)
	}
	for _, bad := range []string{"", "80", "80:", "0:1", "1:65536", "a:b", "80:1,80:2", "-1:5"} {
		if _, err := ParsePortMap(bad); err == nil {
			t.Errorf("ParsePortMap(%q) accepted", bad)
		}
	}
	if _, err := ParseMAC("02:00:00:00:00:01"); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{"", "02:00:00:00:00", "00:00:00:00:fe:80:00:00:00:00:00:00:02:00:5e:10"} {
		if _, err := ParseMAC(bad); err == nil {
			t.Errorf("ParseMAC(%q) accepted", bad)
		}
	}
}

var specs = []frameSpec{
	{proto: "tcp", flags: "AP", payload: 100},
	{proto: "udp", payload: 101},
	{proto: "icmp", payload: 32},
	{proto: "tcp", flags: "S"},
	{vlan: true, proto: "tcp", flags: "A", payload: 33},
	{vlan: true, proto: "udp", payload: 7},
	{v6: true, proto: "tcp", flags: "AP", payload: 100},
	{v6: true, proto: "udp", payload: 99},
	{v6: true, proto: "icmp", payload: 16},
	{v6: true, hbh: true, proto: "udp", payload: 50},
	{v6: true, vlan: true, proto: "tcp", flags: "A", payload: 1},
}

func addrs(v6 bool) (src, dst string) {
	if v6 {
		return "2001:db8:aaaa::1", "2001:db8:bbbb::2"
	}
	return "10.1.2.3", "172.16.9.8"
}

func TestRewrite(t *testing.T) {
	cfg := Config{
		SrcMAC: net.HardwareAddr{0x02, 1, 2, 3, 4, 5},
		DstMAC: net.HardwareAddr{0x02, 6, 7, 8, 9, 10},
		Ports:  PortMap{80: 8080, 40000: 40001},
	}
	cfg.SrcIP, _ = ParseIPMaps("10.0.0.0/8:192.168.0.0/16,2001:db8:aaaa::/48:fd00::/16")
	cfg.DstIP, _ = ParseIPMaps("172.16.0.0/12:10.200.0.0/16,2001:db8::/32:fd99:1:2:3::/64")
	r := New(cfg)
	for _, sp := range specs {
		src, dst := addrs(sp.v6)
		f := sp.frame(t, src, dst, 40000, 80)
		verify(t, f)
		if !r.Apply(LinkEthernet, f) {
			t.Errorf("%+v: not changed", sp)
		}
		verify(t, f)
		p := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
		eth := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
		if !bytes.Equal(eth.SrcMAC, cfg.SrcMAC) || !bytes.Equal(eth.DstMAC, cfg.DstMAC) {
			t.Errorf("%+v: MACs %s %s", sp, eth.SrcMAC, eth.DstMAC)
		}
		wantSrc, wantDst := "192.168.2.3", "10.200.9.8"
		if sp.v6 {
			// fd00::/16 keeps bits 16 on of 2001:db8:aaaa::1; fd99:1:2:3::/64 keeps 64 on.
			wantSrc, wantDst = "fd00:db8:aaaa::1", "fd99:1:2:3::2"
		}
		nf := p.NetworkLayer().NetworkFlow()
		if nf.Src().String() != wantSrc || nf.Dst().String() != wantDst {
			t.Errorf("%+v: addresses %s > %s, want %s > %s", sp, nf.Src(), nf.Dst(), wantSrc, wantDst)
		}
		if tl := p.TransportLayer(); tl != nil {
			if tf := tl.TransportFlow(); tf.Src().String() != "40001" || tf.Dst().String() != "8080" {
				t.Errorf("%+v: ports %s > %s", sp, tf.Src(), tf.Dst())
			}
		}
	}
	if st := r.Stats(); st.Changed != int64(len(specs)) || st.Patched != 0 {
		t.Errorf("stats %+v", st)
	}
}

// A frame cut by the snaplen keeps a checksum that was right right: the
// same as the whole frame's after the same rewrite.
func TestRewriteCutShort(t *testing.T) {
	cfg := Config{Ports: PortMap{80: 8080}}
	cfg.SrcIP, _ = ParseIPMaps("10.0.0.0/8:192.168.0.0/16,2001:db8::/32:fd00::/16")
	for _, sp := range specs {
		src, dst := addrs(sp.v6)
		whole := sp.frame(t, src, dst, 40000, 80)
		cut := bytes.Clone(whole[:len(whole)-min(sp.payload, 20)])
		New(cfg).Apply(LinkEthernet, whole)
		verify(t, whole)
		r := New(cfg)
		r.Apply(LinkEthernet, cut)
		want := int64(1)
		if Parse(LinkEthernet, cut).Whole { // gopacket's padding was cut
			want = 0
		}
		if r.Stats().Patched != want {
			t.Errorf("%+v: stats %+v", sp, r.Stats())
		}
		if !bytes.Equal(cut, whole[:len(cut)]) {
			t.Errorf("%+v: cut frame rewritten to\n% x\nthe whole one to\n% x", sp, cut, whole[:len(cut)])
		}
	}
}

func TestFixChecksums(t *testing.T) {
	r := New(Config{FixChecksums: true})
	for _, sp := range specs {
		src, dst := addrs(sp.v6)
		f := sp.frame(t, src, dst, 50000, 50001)
		want := bytes.Clone(f)
		// Damage every checksum: the IPv4 header's and the transport's,
		// as a capture of offloaded traffic has them.
		ly := Parse(LinkEthernet, f)
		if ly.Version == 4 {
			f[ly.L3+10] ^= 0x5a
		}
		f[ly.L4+csumOffset(ly.Proto)] ^= 0xa5
		r.Apply(LinkEthernet, f)
		verify(t, f)
		if !bytes.Equal(f, want) {
			t.Errorf("%+v: fixed frame differs from gopacket's", sp)
		}
	}
}

func TestRewriteAllocs(t *testing.T) {
	cfg := Config{FixChecksums: true, Ports: PortMap{80: 8080}, SrcMAC: macB}
	cfg.SrcIP, _ = ParseIPMaps("10.0.0.0/8:192.168.0.0/16")
	r := New(cfg)
	f := specs[0].frame(t, "10.1.2.3", "10.2.3.4", 40000, 80)
	if n := testing.AllocsPerRun(100, func() { r.Apply(LinkEthernet, f) }); n != 0 {
		t.Errorf("Apply allocates %v times per frame", n)
	}
	s := NewSegmenter(1500)
	big := frameSpec{proto: "tcp", flags: "AP", payload: 20000}.frame(t, "10.1.2.3", "10.2.3.4", 1, 2)
	if n := testing.AllocsPerRun(100, func() { s.Split(LinkEthernet, big) }); n != 0 {
		t.Errorf("Split allocates %v times per frame", n)
	}
}

// writePcap writes the frames to a pcap file in a temporary directory.
func writePcap(t *testing.T, frames [][]byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "out.pcap")
	fh, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := pcapgo.NewWriter(fh)
	w.WriteFileHeader(65535, layers.LinkTypeEthernet)
	for _, f := range frames {
		w.WritePacket(gopacket.CaptureInfo{CaptureLength: len(f), Length: len(f)}, f)
	}
	if err := fh.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// tsharkFlags runs tshark over the frames with checksum validation and
// reassembly on and returns the packets it finds malformed or with a bad
// checksum, one line each.
func tsharkFlags(t *testing.T, frames [][]byte) string {
	t.Helper()
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed")
	}
	args := []string{"-n", "-r", writePcap(t, frames), "-o", "tcp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE",
		"-o", "ipv6.defragment:TRUE", "-o", "ip.defragment:TRUE",
		"-Y", "_ws.malformed or ip.checksum.status == 0 or tcp.checksum.status == 0 or udp.checksum.status == 0 or icmp.checksum.status == 0 or icmpv6.checksum.status == 0"}
	out, err := exec.Command("tshark", args...).Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// tsharkCheck fails the test if tshark flags any of the frames.
func tsharkCheck(t *testing.T, frames [][]byte) {
	t.Helper()
	if s := tsharkFlags(t, frames); s != "" {
		t.Errorf("tshark flags packets:\n%s", s)
	}
}

func TestRewriteTshark(t *testing.T) {
	cfg := Config{Ports: PortMap{80: 8080}}
	cfg.SrcIP, _ = ParseIPMaps("10.0.0.0/8:192.168.0.0/16,2001:db8::/32:fd00::/16")
	r := New(cfg)
	var frames [][]byte
	for _, sp := range specs {
		src, dst := addrs(sp.v6)
		f := sp.frame(t, src, dst, 40000, 80)
		r.Apply(LinkEthernet, f)
		frames = append(frames, f)
	}
	tsharkCheck(t, frames)
	// The check itself sees a bad checksum of each kind.
	for _, f := range frames {
		bad := bytes.Clone(f)
		ly := Parse(LinkEthernet, bad)
		bad[ly.L4+csumOffset(ly.Proto)]++
		if tsharkFlags(t, [][]byte{bad}) == "" {
			ps := gopacket.NewPacket(bad, layers.LayerTypeEthernet, gopacket.Default)
			t.Errorf("tshark misses a bad checksum in %v", ps)
		}
	}
}

func TestSegmentTCP(t *testing.T) {
	const mtu = 1500
	for _, sp := range []frameSpec{
		{proto: "tcp", flags: "APFC", payload: 20000},
		{vlan: true, proto: "tcp", flags: "AP", payload: 64000},
		{v6: true, proto: "tcp", flags: "APC", payload: 9000},
		{v6: true, vlan: true, proto: "tcp", flags: "AF", payload: 2 * (mtu - 40 - 32)},
	} {
		src, dst := addrs(sp.v6)
		f := sp.frame(t, src, dst, 40000, 80)
		orig := gopacket.NewPacket(bytes.Clone(f), layers.LayerTypeEthernet, gopacket.Default)
		otcp := orig.Layer(layers.LayerTypeTCP).(*layers.TCP)
		s := NewSegmenter(mtu)
		segs, err := s.Split(LinkEthernet, f)
		if err != nil {
			t.Fatal(err)
		}
		hdr := 40 + 32
		if !sp.v6 {
			hdr = 20 + 32
		}
		if want := (sp.payload + mtu - hdr - 1) / (mtu - hdr); len(segs) != want {
			t.Errorf("%+v: %d segments, want %d", sp, len(segs), want)
		}
		var payload []byte
		for k, seg := range segs {
			verify(t, seg)
			p := gopacket.NewPacket(seg, layers.LayerTypeEthernet, gopacket.Default)
			tcp := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
			ipLen := len(p.NetworkLayer().LayerContents()) + len(p.NetworkLayer().LayerPayload())
			if ipLen > mtu {
				t.Errorf("%+v: segment %d is %d bytes of IP", sp, k, ipLen)
			}
			if ip4, ok := p.NetworkLayer().(*layers.IPv4); ok {
				if int(ip4.Length) != ipLen || ip4.Id != 0x1234+uint16(k) || ip4.Flags != layers.IPv4DontFragment {
					t.Errorf("%+v: segment %d: IPv4 length %d id %#x flags %v", sp, k, ip4.Length, ip4.Id, ip4.Flags)
				}
			}
			if tcp.Seq != otcp.Seq+uint32(len(payload)) {
				t.Errorf("%+v: segment %d seq %d", sp, k, tcp.Seq)
			}
			last := k == len(segs)-1
			if tcp.FIN != (otcp.FIN && last) || tcp.PSH != (otcp.PSH && last) || tcp.CWR != (otcp.CWR && k == 0) || tcp.ACK != otcp.ACK || len(tcp.Options) != 3 {
				t.Errorf("%+v: segment %d flags FIN %v PSH %v CWR %v ACK %v", sp, k, tcp.FIN, tcp.PSH, tcp.CWR, tcp.ACK)
			}
			payload = append(payload, tcp.Payload...)
		}
		if !bytes.Equal(payload, otcp.Payload) {
			t.Errorf("%+v: segments carry %d bytes, not the original %d", sp, len(payload), len(otcp.Payload))
		}
		tsharkCheck(t, segs)
	}
}

func TestSegmentUDP(t *testing.T) {
	const mtu = 1400
	for _, sp := range []frameSpec{
		{proto: "udp", payload: 5000},
		{vlan: true, proto: "udp", payload: 1473},
		{v6: true, proto: "udp", payload: 4000},
		{v6: true, hbh: true, proto: "udp", payload: 3000},
		{proto: "icmp", payload: 3000},
		{v6: true, proto: "icmp", payload: 3000},
	} {
		src, dst := addrs(sp.v6)
		f := sp.frame(t, src, dst, 50000, 50001)
		// As captured on the way out: the NIC was to complete the sum.
		good := bytes.Clone(f)
		ly := Parse(LinkEthernet, f)
		f[ly.L4+csumOffset(ly.Proto)] ^= 0xff
		l3 := ly.L3
		origIP := bytes.Clone(f[l3+4 : l3+8])
		s := NewSegmenter(mtu)
		segs, err := s.Split(LinkEthernet, bytes.Clone(f))
		if err != nil {
			t.Fatal(err)
		}
		if len(segs) < 2 {
			t.Fatalf("%+v: %d fragments", sp, len(segs))
		}
		// Reassemble by hand: fragment offsets and MF, checked here.
		var data []byte
		for k, seg := range segs {
			verify(t, seg)
			p := gopacket.NewPacket(seg, layers.LayerTypeEthernet, gopacket.Default)
			if n := len(seg) - l3; n > mtu {
				t.Errorf("%+v: fragment %d is %d bytes of IP", sp, k, n)
			}
			var off int
			var more bool
			var chunk []byte
			if ip4, ok := p.NetworkLayer().(*layers.IPv4); ok {
				off, more, chunk = int(ip4.FragOffset)*8, ip4.Flags&layers.IPv4MoreFragments != 0, ip4.Payload
				if ip4.Id != binary.BigEndian.Uint16(origIP) || ip4.Flags&layers.IPv4DontFragment != 0 {
					t.Errorf("%+v: fragment %d id %#x flags %v", sp, k, ip4.Id, ip4.Flags)
				}
			} else {
				fr := p.Layer(layers.LayerTypeIPv6Fragment).(*layers.IPv6Fragment)
				off, more, chunk = int(fr.FragmentOffset)*8, fr.MoreFragments, fr.Payload
			}
			if off != len(data) || more != (k < len(segs)-1) {
				t.Errorf("%+v: fragment %d at %d (have %d), more %v", sp, k, off, len(data), more)
			}
			data = append(data, chunk...)
		}
		// The reassembled datagram is the original, its checksum now right.
		start := l3 + 20
		if sp.v6 {
			start = ly.UnfragEnd
		}
		if want := good[start:ly.IPEnd]; !bytes.Equal(data, want) {
			t.Errorf("%+v: reassembled %d bytes differ from the original %d", sp, len(data), len(want))
		}
		tsharkCheck(t, segs)
	}
}
