package decode

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/packetrecorderd/packetrecorderd/internal/pcapio"
)

// Hand-built fragments: gopacket's FixLengths would rewrite the UDP length
// field, which is the point of these packets. Ports 33333 and 44444 are
// ones tcpdump decodes no application protocol for.

var ethHdr4 = []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00}
var ethHdr6 = []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x86, 0xdd}

// ipv4Frame returns an Ethernet frame with an IPv4 header (10.0.0.1 >
// 10.0.0.2, checksum set) whose flags/fragment-offset field is flagsOff
// (flag bits | offset in 8-byte units), followed by payload.
func ipv4Frame(proto byte, flagsOff uint16, payload []byte) []byte {
	h := make([]byte, 20)
	h[0] = 0x45
	binary.BigEndian.PutUint16(h[2:], uint16(20+len(payload)))
	binary.BigEndian.PutUint16(h[4:], 0x1234)
	binary.BigEndian.PutUint16(h[6:], flagsOff)
	h[8], h[9] = 64, proto
	copy(h[12:], []byte{10, 0, 0, 1})
	copy(h[16:], []byte{10, 0, 0, 2})
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	binary.BigEndian.PutUint16(h[10:], ^uint16(sum))
	return cat(ethHdr4, h, payload)
}

// ipv6Frame returns an Ethernet frame with an IPv6 header (2001:db8::1 >
// 2001:db8::2) with next header nh, followed by payload.
func ipv6Frame(nh byte, payload []byte) []byte {
	h := make([]byte, 40)
	h[0] = 0x60
	binary.BigEndian.PutUint16(h[4:], uint16(len(payload)))
	h[6], h[7] = nh, 64
	copy(h[8:], []byte{0x20, 0x01, 0x0d, 0xb8})
	h[23] = 1
	copy(h[24:], []byte{0x20, 0x01, 0x0d, 0xb8})
	h[39] = 2
	return cat(ethHdr6, h, payload)
}

// fragHeader is an IPv6 fragment header: next header, offset in bytes
// (a multiple of 8), M flag.
func fragHeader(nh byte, off uint16, more bool) []byte {
	b := []byte{nh, 0, 0, 0, 0, 0, 0x56, 0x78}
	v := off &^ 7
	if more {
		v |= 1
	}
	binary.BigEndian.PutUint16(b[2:], v)
	return b
}

func cat(bs ...[]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

// padTo returns b followed by zeros up to n bytes.
func padTo(b []byte, n int) []byte { return append(bytes.Clone(b), make([]byte, n-len(b))...) }

func udpHeader(ulen uint16) []byte {
	return []byte{0x82, 0x35, 0xad, 0x9c, byte(ulen >> 8), byte(ulen), 0, 0} // 33333 > 44444
}

func tcpHeader() []byte {
	b := make([]byte, 20)
	binary.BigEndian.PutUint16(b, 33333)
	binary.BigEndian.PutUint16(b[2:], 44444)
	binary.BigEndian.PutUint32(b[4:], 1000)
	binary.BigEndian.PutUint32(b[8:], 5)
	b[12], b[13] = 5<<4, 0x18 // PSH ACK
	binary.BigEndian.PutUint16(b[14:], 512)
	return b
}

// fragmentCases are IP fragments of UDP, TCP and ICMP datagrams, and UDP
// length errors beside them, with what tcpdump -n prints for each
// (TestFragmentSummaryMatchesTcpdump checks these strings against tcpdump).
func fragmentCases() []summaryCase {
	const (
		mf = 0x2000 // IPv4 more fragments
		df = 0x4000 // IPv4 don't fragment
	)
	icmpEcho := []byte{8, 0, 0, 0, 0, 1, 0, 2}
	icmp6Echo := []byte{128, 0, 0, 0, 0, 1, 0, 2}
	hbh := []byte{protoFragment, 0, 1, 4, 0, 0, 0, 0}
	c := func(name string, data []byte, want string) summaryCase {
		return summaryCase{name: name, linkType: 1, data: data, want: want}
	}
	return []summaryCase{
		// A 3000-byte UDP payload in three IPv4 fragments of 1400, 1400, 208.
		c("frag udp first", ipv4Frame(protoUDP, mf, padTo(udpHeader(3008), 1400)),
			"IP 10.0.0.1.33333 > 10.0.0.2.44444: UDP, length 3000"),
		c("frag udp middle", ipv4Frame(protoUDP, mf|1400/8, make([]byte, 1400)),
			"IP 10.0.0.1 > 10.0.0.2: ip-proto-17"),
		c("frag udp last", ipv4Frame(protoUDP, 2800/8, make([]byte, 208)),
			"IP 10.0.0.1 > 10.0.0.2: ip-proto-17"),
		// The same first part without more-fragments (or with DF only) is
		// a bad length; tcpdump counts both lengths without the header.
		c("frag udp unfragmented bad length", ipv4Frame(protoUDP, 0, padTo(udpHeader(3008), 1400)),
			"IP 10.0.0.1.33333 > 10.0.0.2.44444: UDP, bad length 3000 > 1392"),
		c("frag udp df bad length", ipv4Frame(protoUDP, df, padTo(udpHeader(3008), 1400)),
			"IP 10.0.0.1.33333 > 10.0.0.2.44444: UDP, bad length 3000 > 1392"),
		c("frag udp first short length", ipv4Frame(protoUDP, mf, padTo(udpHeader(100), 1400)),
			"IP 10.0.0.1.33333 > 10.0.0.2.44444: UDP, length 92"),
		c("frag udp length below header", ipv4Frame(protoUDP, mf, padTo(udpHeader(4), 1400)),
			"IP 10.0.0.1.33333 > 10.0.0.2.44444: truncated-udplength 4"),
		c("frag udp ip length below header", ipv4Frame(protoUDP, mf, udpHeader(3008)[:6]),
			"IP 10.0.0.1.33333 > 10.0.0.2.44444: truncated-udp 6"),
		c("frag tcp first", ipv4Frame(protoTCP, mf, padTo(tcpHeader(), 1400)),
			"IP 10.0.0.1.33333 > 10.0.0.2.44444: Flags [P.], seq 1000:2380, ack 5, win 512, length 1380"),
		c("frag tcp last", ipv4Frame(protoTCP, 1400/8, make([]byte, 100)),
			"IP 10.0.0.1 > 10.0.0.2: ip-proto-6"),
		c("frag icmp first", ipv4Frame(protoICMP, mf, padTo(icmpEcho, 1480)),
			"IP 10.0.0.1 > 10.0.0.2: ICMP echo request, id 1, seq 2, length 1480"),
		c("frag icmp last", ipv4Frame(protoICMP, 1480/8, make([]byte, 100)),
			"IP 10.0.0.1 > 10.0.0.2: ip-proto-1"),
		c("frag other protocol", ipv4Frame(200, 1480/8, make([]byte, 100)),
			"IP 10.0.0.1 > 10.0.0.2: ip-proto-200"),

		// IPv6: tcpdump prints the addresses, the fragment header, then the
		// ports alone.
		c("frag6 udp first", ipv6Frame(protoFragment, cat(fragHeader(protoUDP, 0, true), padTo(udpHeader(3008), 1400))),
			"IP6 2001:db8::1 > 2001:db8::2: frag (0|1400) 33333 > 44444: UDP, length 3000"),
		c("frag6 udp middle", ipv6Frame(protoFragment, cat(fragHeader(protoUDP, 1400, true), make([]byte, 1400))),
			"IP6 2001:db8::1 > 2001:db8::2: frag (1400|1400)"),
		c("frag6 udp last", ipv6Frame(protoFragment, cat(fragHeader(protoUDP, 2800, false), make([]byte, 208))),
			"IP6 2001:db8::1 > 2001:db8::2: frag (2800|208)"),
		c("frag6 udp atomic", ipv6Frame(protoFragment, cat(fragHeader(protoUDP, 0, false), padTo(udpHeader(3008), 1400))),
			"IP6 2001:db8::1 > 2001:db8::2: frag (0|1400) 33333 > 44444: UDP, length 3000"),
		c("frag6 udp unfragmented bad length", ipv6Frame(protoUDP, padTo(udpHeader(3008), 1400)),
			"IP6 2001:db8::1.33333 > 2001:db8::2.44444: UDP, bad length 3000 > 1392"),
		c("frag6 udp length below header", ipv6Frame(protoFragment, cat(fragHeader(protoUDP, 0, true), padTo(udpHeader(4), 1400))),
			"IP6 2001:db8::1 > 2001:db8::2: frag (0|1400) 33333 > 44444: truncated-udplength 4"),
		c("frag6 tcp first", ipv6Frame(protoFragment, cat(fragHeader(protoTCP, 0, true), padTo(tcpHeader(), 1400))),
			"IP6 2001:db8::1 > 2001:db8::2: frag (0|1400) 33333 > 44444: Flags [P.], seq 1000:2380, ack 5, win 512, length 1380"),
		c("frag6 tcp last", ipv6Frame(protoFragment, cat(fragHeader(protoTCP, 1400, false), make([]byte, 100))),
			"IP6 2001:db8::1 > 2001:db8::2: frag (1400|100)"),
		c("frag6 icmp6 first", ipv6Frame(protoFragment, cat(fragHeader(protoICMPv6, 0, true), padTo(icmp6Echo, 1400))),
			"IP6 2001:db8::1 > 2001:db8::2: frag (0|1400) ICMP6, echo request, id 1, seq 2, length 1400"),
		c("frag6 icmp6 last", ipv6Frame(protoFragment, cat(fragHeader(protoICMPv6, 1400, false), make([]byte, 100))),
			"IP6 2001:db8::1 > 2001:db8::2: frag (1400|100)"),
		c("frag6 hop-by-hop udp first", ipv6Frame(protoHopByHop, cat(hbh, fragHeader(protoUDP, 0, true), padTo(udpHeader(3008), 1400))),
			"IP6 2001:db8::1 > 2001:db8::2: HBH frag (0|1400) 33333 > 44444: UDP, length 3000"),
		c("frag6 hop-by-hop udp last", ipv6Frame(protoHopByHop, cat(hbh, fragHeader(protoUDP, 1400, false), make([]byte, 100))),
			"IP6 2001:db8::1 > 2001:db8::2: HBH frag (1400|100)"),
	}
}

// TestFragmentSummaryMatchesTcpdump writes fragmentCases to a pcap and
// compares each of our summaries with tcpdump -n's line for the packet.
func TestFragmentSummaryMatchesTcpdump(t *testing.T) {
	needTcpdump(t)
	cases := fragmentCases()
	var buf bytes.Buffer
	w, err := pcapio.NewPcapWriter(&buf, 1, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		if err := w.WritePacket(pcapio.Packet{Timestamp: int64(i+1) * 1e9, OrigLen: len(c.data), LinkType: 1, Data: c.data}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "fragments.pcap")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	lines := tcpdumpLines(t, "-n", "-t", "-r", path)
	if len(lines) != len(cases) {
		t.Fatalf("tcpdump printed %d lines for %d packets:\n%q", len(lines), len(cases), lines)
	}
	s := NewSummarizer()
	for i, c := range cases {
		if lines[i] != c.want {
			t.Errorf("%s: tcpdump prints %q, the test expects %q", c.name, lines[i], c.want)
		}
		if got := s.Summary(c.linkType, c.data, len(c.data)); got != lines[i] {
			t.Errorf("%s:\n ours    %q\n tcpdump %q", c.name, got, lines[i])
		}
	}
}
