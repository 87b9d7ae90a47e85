package flow

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/packetrecorderd/packetrecorderd/internal/pcapio"
	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// Frame builders: each returns a new slice, headers with valid lengths.

func ipv4Hdr(src, dst string, proto uint8, payload []byte) []byte {
	h := make([]byte, 20, 20+len(payload))
	h[0], h[8], h[9] = 0x45, 64, proto
	binary.BigEndian.PutUint16(h[2:], uint16(20+len(payload)))
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	copy(h[12:], s[:])
	copy(h[16:], d[:])
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(h[10:], ^uint16(sum))
	return append(h, payload...)
}

func ipv6Hdr(src, dst string, nh uint8, payload []byte) []byte {
	h := make([]byte, 40, 40+len(payload))
	h[0], h[6], h[7] = 0x60, nh, 64
	binary.BigEndian.PutUint16(h[4:], uint16(len(payload)))
	s, d := netip.MustParseAddr(src).As16(), netip.MustParseAddr(dst).As16()
	copy(h[8:], s[:])
	copy(h[24:], d[:])
	return append(h, payload...)
}

func tcpHdr(sport, dport uint16, flags uint8) []byte {
	h := make([]byte, 20)
	binary.BigEndian.PutUint16(h, sport)
	binary.BigEndian.PutUint16(h[2:], dport)
	binary.BigEndian.PutUint32(h[4:], 1000)
	h[12], h[13] = 5<<4, flags
	binary.BigEndian.PutUint16(h[14:], 65535)
	return h
}

func udpHdr(sport, dport uint16, payload []byte) []byte {
	h := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint16(h, sport)
	binary.BigEndian.PutUint16(h[2:], dport)
	binary.BigEndian.PutUint16(h[4:], uint16(8+len(payload)))
	return append(h, payload...)
}

func ethHdr(et uint16, payload []byte, vlans ...uint16) []byte {
	h := []byte{0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 6}
	for i, v := range vlans {
		tpid := uint16(0x8100)
		if i == 0 && len(vlans) > 1 {
			tpid = 0x88a8
		}
		h = binary.BigEndian.AppendUint16(h, tpid)
		h = binary.BigEndian.AppendUint16(h, v)
	}
	h = binary.BigEndian.AppendUint16(h, et)
	return append(h, payload...)
}

func greHdr(flags, proto uint16, fields []uint32, payload []byte) []byte {
	h := binary.BigEndian.AppendUint16(nil, flags)
	h = binary.BigEndian.AppendUint16(h, proto)
	for _, f := range fields {
		h = binary.BigEndian.AppendUint32(h, f)
	}
	return append(h, payload...)
}

// innerTCP is the flow every tunnel case carries.
func innerTCP() []byte { return ipv4Hdr("10.1.1.1", "10.2.2.2", ProtoTCP, tcpHdr(40001, 80, SYN)) }

var innerKey = Key{Src: netip.MustParseAddr("10.1.1.1"), Dst: netip.MustParseAddr("10.2.2.2"),
	SrcPort: 40001, DstPort: 80, Proto: ProtoTCP, HasPorts: true}

type extractCase struct {
	name     string
	linkType uint32
	frame    []byte
	key      Key
	outer    []Layer
	vlans    []uint16
}

func extractCases() []extractCase {
	outer4 := func(e Encap, proto uint8, sport, dport uint16, id uint32, hasID bool) Layer {
		return Layer{Encap: e, Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr("192.0.2.2"),
			Proto: proto, SrcPort: sport, DstPort: dport, ID: id, HasID: hasID}
	}
	o := func(proto uint8, payload []byte) []byte {
		return ethHdr(0x0800, ipv4Hdr("192.0.2.1", "192.0.2.2", proto, payload))
	}
	in6 := ipv6Hdr("2001:db8::1", "2001:db8::2", ProtoUDP, udpHdr(5353, 53, []byte("q")))
	key6 := Key{Src: netip.MustParseAddr("2001:db8::1"), Dst: netip.MustParseAddr("2001:db8::2"), SrcPort: 5353, DstPort: 53, Proto: ProtoUDP, HasPorts: true}
	vxlan := append([]byte{0x08, 0, 0, 0, 0, 0x12, 0x34, 0}, ethHdr(0x0800, innerTCP(), 7)...)
	geneve := append([]byte{0x02, 0, 0x65, 0x58, 0, 0, 0x2a, 0, 0x01, 0x02, 0x03, 0x01, 0xde, 0xad, 0xbe, 0xef}, ethHdr(0x0800, innerTCP())...)
	erspan2 := append([]byte{0x10, 0x05, 0x00, 0x2a, 0, 0, 0, 0}, ethHdr(0x0800, innerTCP(), 100)...)
	erspan3 := append([]byte{0x20, 0x05, 0x00, 0x2b, 0, 0, 0, 1, 0, 0, 0, 0}, ethHdr(0x0800, innerTCP())...)
	erspan3p := append([]byte{0x20, 0x05, 0x00, 0x2c, 0, 0, 0, 1, 0, 0, 0, 1, 0x0c, 0, 0, 0, 0, 0, 0, 0}, ethHdr(0x0800, innerTCP())...)
	mpls := append([]byte{0x00, 0x01, 0x00, 0x40, 0x00, 0x02, 0x01, 0x40}, innerTCP()...)
	pppoe := append([]byte{0x11, 0x00, 0x00, 0x01, 0, byte(len(innerTCP()) + 2), 0x00, 0x21}, innerTCP()...)
	sll := append([]byte{0, 0, 0, 1, 0, 6, 0, 1, 2, 3, 4, 5, 0, 0, 0x08, 0x00}, innerTCP()...)
	sll2 := append([]byte{0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 0, 1, 2, 3, 4, 5, 0, 0}, innerTCP()...)
	null := append([]byte{2, 0, 0, 0}, innerTCP()...)
	null6 := append([]byte{30, 0, 0, 0}, in6...)
	loop := append([]byte{0, 0, 0, 2}, innerTCP()...)
	teredo := ethHdr(0x0800, ipv4Hdr("192.0.2.1", "192.0.2.2", ProtoUDP, udpHdr(3544, 40000, in6)))
	return []extractCase{
		{"ethernet", LinkEthernet, ethHdr(0x0800, innerTCP()), innerKey, nil, nil},
		{"qinq", LinkEthernet, ethHdr(0x0800, innerTCP(), 10, 20), innerKey, nil, []uint16{10, 20}},
		{"ipv6 udp", LinkEthernet, ethHdr(0x86dd, in6), key6, nil, nil},
		{"mpls", LinkEthernet, ethHdr(0x8847, mpls), innerKey, nil, nil},
		{"pppoe", LinkEthernet, ethHdr(0x8864, pppoe), innerKey, nil, nil},
		{"sll", LinkSLL, sll, innerKey, nil, nil},
		{"sll2", LinkSLL2, sll2, innerKey, nil, nil},
		{"raw", LinkRaw, innerTCP(), innerKey, nil, nil},
		{"ipv4 link type", LinkIPv4, innerTCP(), innerKey, nil, nil},
		{"null", LinkNull, null, innerKey, nil, nil},
		{"null ipv6 (BSD 30)", LinkNull, null6, key6, nil, nil},
		{"loop", LinkLoop, loop, innerKey, nil, nil},
		{"vxlan", LinkEthernet, o(ProtoUDP, udpHdr(51000, 4789, vxlan)), innerKey,
			[]Layer{outer4(EncapVXLAN, ProtoUDP, 51000, 4789, 0x1234, true)}, []uint16{7}},
		{"geneve", LinkEthernet, o(ProtoUDP, udpHdr(51000, 6081, geneve)), innerKey,
			[]Layer{outer4(EncapGENEVE, ProtoUDP, 51000, 6081, 42, true)}, nil},
		{"gre ipv4", LinkEthernet, o(ProtoGRE, greHdr(0, 0x0800, nil, innerTCP())), innerKey,
			[]Layer{outer4(EncapGRE, ProtoGRE, 0, 0, 0, false)}, nil},
		{"gre key seq checksum", LinkEthernet, o(ProtoGRE, greHdr(0xb000, 0x0800, []uint32{0, 77, 5}, innerTCP())), innerKey,
			[]Layer{outer4(EncapGRE, ProtoGRE, 0, 0, 77, true)}, nil},
		{"gre bridging", LinkEthernet, o(ProtoGRE, greHdr(0x2000, 0x6558, []uint32{9}, ethHdr(0x0800, innerTCP()))), innerKey,
			[]Layer{outer4(EncapGRE, ProtoGRE, 0, 0, 9, true)}, nil},
		{"erspan type I", LinkEthernet, o(ProtoGRE, greHdr(0, 0x88be, nil, ethHdr(0x0800, innerTCP()))), innerKey,
			[]Layer{outer4(EncapERSPAN1, ProtoGRE, 0, 0, 0, false)}, nil},
		{"erspan type II", LinkEthernet, o(ProtoGRE, greHdr(0x1000, 0x88be, []uint32{1}, erspan2)), innerKey,
			[]Layer{outer4(EncapERSPAN2, ProtoGRE, 0, 0, 42, true)}, []uint16{100}},
		{"erspan type III", LinkEthernet, o(ProtoGRE, greHdr(0x1000, 0x22eb, []uint32{1}, erspan3)), innerKey,
			[]Layer{outer4(EncapERSPAN3, ProtoGRE, 0, 0, 43, true)}, nil},
		{"erspan type III platform", LinkEthernet, o(ProtoGRE, greHdr(0x1000, 0x22eb, []uint32{1}, erspan3p)), innerKey,
			[]Layer{outer4(EncapERSPAN3, ProtoGRE, 0, 0, 44, true)}, nil},
		{"ipip", LinkEthernet, o(ProtoIPIP, innerTCP()), innerKey,
			[]Layer{outer4(EncapIPIP, ProtoIPIP, 0, 0, 0, false)}, nil},
		{"6in4", LinkEthernet, o(ProtoIPv6, in6), key6,
			[]Layer{outer4(EncapIPIP, ProtoIPv6, 0, 0, 0, false)}, nil},
		{"4in6", LinkEthernet, ethHdr(0x86dd, ipv6Hdr("2001:db8::a", "2001:db8::b", ProtoIPIP, innerTCP())), innerKey,
			[]Layer{{Encap: EncapIPIP, Src: netip.MustParseAddr("2001:db8::a"), Dst: netip.MustParseAddr("2001:db8::b"), Proto: ProtoIPIP}}, nil},
		{"teredo", LinkEthernet, teredo, key6,
			[]Layer{outer4(EncapTeredo, ProtoUDP, 3544, 40000, 0, false)}, nil},
		{"vxlan in gre", LinkEthernet, o(ProtoGRE, greHdr(0, 0x0800, nil, ipv4Hdr("198.51.100.1", "198.51.100.2", ProtoUDP, udpHdr(1, 4789, vxlan)))), innerKey,
			[]Layer{outer4(EncapGRE, ProtoGRE, 0, 0, 0, false), {Encap: EncapVXLAN, Src: netip.MustParseAddr("198.51.100.1"),
				Dst: netip.MustParseAddr("198.51.100.2"), Proto: ProtoUDP, SrcPort: 1, DstPort: 4789, ID: 0x1234, HasID: true}}, []uint16{7}},
	}
}

// TestExtractTunnels: each encapsulation gives the inner 5-tuple, the
// outer terms it was built with, and tshark's Community ID for the frame
// (tshark also reads the inner packet of each).
func TestExtractTunnels(t *testing.T) {
	cases := extractCases()
	for _, c := range cases {
		var p Packet
		if !Extract(c.linkType, c.frame, &p) {
			t.Errorf("%s: no key", c.name)
			continue
		}
		if p.Key != c.key {
			t.Errorf("%s: key %v, want %v", c.name, p.Key, c.key)
		}
		if got := p.Outer[:p.NOuter]; len(got) != len(c.outer) || len(got) > 0 && !equalLayers(got, c.outer) {
			t.Errorf("%s: outer %+v, want %+v", c.name, got, c.outer)
		}
		if got := p.VLANs[:p.NVLANs]; !equalU16(got, c.vlans) {
			t.Errorf("%s: vlans %v, want %v", c.name, got, c.vlans)
		}
		if c.key.Proto == ProtoTCP && p.TCPFlags != SYN {
			t.Errorf("%s: tcp flags %#x", c.name, p.TCPFlags)
		}
	}
	testkit.RequireTool(t, "tshark")
	dir := t.TempDir()
	for _, c := range cases {
		path := filepath.Join(dir, "f.pcap")
		var buf bytes.Buffer
		w, err := pcapio.NewPcapWriter(&buf, c.linkType, 65535, false)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WritePacket(pcapio.Packet{Timestamp: 1e9, OrigLen: len(c.frame), LinkType: c.linkType, Data: c.frame}); err != nil {
			t.Fatal(err)
		}
		w.Flush()
		if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		frames, err := tsharkCommunityIDs(t, path, 0)
		if err != nil || len(frames) != 1 {
			t.Fatalf("%s: tshark: %v %v", c.name, frames, err)
		}
		if want := c.key.ID(0).String(); frames[0].cid != want {
			t.Errorf("%s: tshark's community id %q, ours %q", c.name, frames[0].cid, want)
		}
	}
}

func equalLayers(a, b []Layer) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func equalU16(a, b []uint16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestExtractTruncated: every prefix of every case's frame is read
// without a panic, and a frame cut inside a tunnel keys its outer packet.
func TestExtractTruncated(t *testing.T) {
	for _, c := range extractCases() {
		for n := range len(c.frame) {
			var p Packet
			Extract(c.linkType, c.frame[:n], &p)
			if p.NOuter > MaxOuter || p.NVLANs > MaxVLANs {
				t.Fatalf("%s[:%d]: %d outer, %d vlans", c.name, n, p.NOuter, p.NVLANs)
			}
			if p.NOuter > 0 && p.Key == (Key{}) {
				t.Errorf("%s[:%d]: outer layers but no key", c.name, n)
			}
		}
	}
}

// TestExtractAllocs pins the hot path: no allocation per packet.
func TestExtractAllocs(t *testing.T) {
	for _, c := range extractCases() {
		var p Packet
		if n := testing.AllocsPerRun(100, func() { Extract(c.linkType, c.frame, &p) }); n != 0 {
			t.Errorf("%s: %v allocations per packet", c.name, n)
		}
		if n := testing.AllocsPerRun(100, func() { _ = p.Key.ID(0) }); n != 0 {
			t.Errorf("%s: community id: %v allocations", c.name, n)
		}
	}
}

// FuzzKey: Extract never panics or reads out of bounds, records at most
// its limits, and a key it reports has valid addresses of one family.
func FuzzKey(f *testing.F) {
	for _, c := range extractCases() {
		f.Add(c.linkType, c.frame)
		f.Add(c.linkType, c.frame[:len(c.frame)/2])
	}
	for _, lt := range []uint32{LinkNull, LinkEthernet, LinkRaw, LinkLoop, LinkSLL, LinkSLL2, LinkIPv4, LinkIPv6, LinkPPP, LinkCHDLC} {
		f.Add(lt, []byte{})
		f.Add(lt, []byte{0x45})
		f.Add(lt, []byte{0x60, 0, 0, 0})
	}
	f.Fuzz(func(t *testing.T, lt uint32, data []byte) {
		var p Packet
		ok := Extract(lt, data, &p)
		if p.NOuter > MaxOuter || p.NVLANs > MaxVLANs || p.depth > maxDepth {
			t.Fatalf("limits: %d outer, %d vlans, depth %d", p.NOuter, p.NVLANs, p.depth)
		}
		if ok && (!p.Key.Src.IsValid() || !p.Key.Dst.IsValid() || p.Key.Src.Is4() != p.Key.Dst.Is4()) {
			t.Fatalf("key %v", p.Key)
		}
		if ok && p.Key.ID(0).IsZero() {
			t.Fatalf("no community id for %v", p.Key)
		}
	})
}

// BenchmarkExtract: ns/packet for the key, and for key plus Community ID.
func BenchmarkExtract(b *testing.B) {
	cases := extractCases()
	for _, name := range []string{"ethernet", "vxlan", "erspan type II"} {
		var c extractCase
		for _, x := range cases {
			if x.name == name {
				c = x
			}
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			var p Packet
			for b.Loop() {
				Extract(c.linkType, c.frame, &p)
			}
		})
	}
	b.Run("ethernet+communityid", func(b *testing.B) {
		b.ReportAllocs()
		var p Packet
		f := ethHdr(0x0800, innerTCP())
		for b.Loop() {
			Extract(LinkEthernet, f, &p)
			_ = p.Key.ID(0)
		}
	})
}
