package decode

import (
	"encoding/binary"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// writePcap writes packets of one link type as a classic pcap file.
func writePcap(t testing.TB, path string, linkType uint32, pkts [][]byte) {
	t.Helper()
	b := binary.LittleEndian.AppendUint32(nil, 0xa1b2c3d4)
	b = binary.LittleEndian.AppendUint16(b, 2)
	b = binary.LittleEndian.AppendUint16(b, 4)
	b = append(b, make([]byte, 8)...)
	b = binary.LittleEndian.AppendUint32(b, 262144)
	b = binary.LittleEndian.AppendUint32(b, linkType)
	for i, p := range pkts {
		b = binary.LittleEndian.AppendUint32(b, uint32(1700000000+i))
		b = binary.LittleEndian.AppendUint32(b, 0)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(p)))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(p)))
		b = append(b, p...)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestSummaryCasesMatchTcpdump writes the hand-built packets of the unit
// tests (whole ones only) to pcap files and checks that the expected
// summaries are what tcpdump -n prints for them, so that the expectations
// in summaryCases come from tcpdump, not from our own reading.
func TestSummaryCasesMatchTcpdump(t *testing.T) {
	needTcpdump(t)
	byLink := map[uint32][]summaryCase{}
	for _, c := range summaryCases(t) {
		if c.wireLen != 0 || strings.HasPrefix(c.name, "truncated") || c.name == "empty" || c.linkType == 300 || c.linkType == LinkTypeLinuxSLL2 {
			continue
		}
		byLink[c.linkType] = append(byLink[c.linkType], c)
	}
	dir := t.TempDir()
	for lt, cases := range byLink {
		var pkts [][]byte
		for _, c := range cases {
			pkts = append(pkts, c.data)
		}
		path := filepath.Join(dir, "cases.pcap")
		writePcap(t, path, lt, pkts)
		got := tcpdumpPackets(t, path)
		for i, c := range cases {
			if i >= len(got) {
				t.Errorf("%s: tcpdump printed nothing", c.name)
				continue
			}
			if got := strings.Join(got[i], "\n"); got != c.want {
				t.Errorf("%s: expected\n %q\ntcpdump\n %q", c.name, c.want, got)
			}
		}
	}
}

// conversation is a TCP connection with an HTTP exchange, a SACK and a
// close, then a DNS query and answer, as Ethernet frames.
func conversation(t testing.TB) [][]byte {
	cli, srv := net.IP{192, 0, 2, 10}, net.IP{192, 0, 2, 80}
	seg := func(from, to net.IP, sp, dp uint16, seq, ack uint32, flags string, data string, opts ...layers.TCPOption) []byte {
		i := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Flags: layers.IPv4DontFragment, Protocol: layers.IPProtocolTCP, SrcIP: from, DstIP: to}
		tl := &layers.TCP{SrcPort: layers.TCPPort(sp), DstPort: layers.TCPPort(dp), Seq: seq, Ack: ack, Window: 502, Options: opts,
			SYN: strings.Contains(flags, "S"), ACK: strings.Contains(flags, "."), PSH: strings.Contains(flags, "P"),
			FIN: strings.Contains(flags, "F"), RST: strings.Contains(flags, "R")}
		return build(t, eth(layers.EthernetTypeIPv4), i, tcp(t, i, tl), gopacket.Payload(data))
	}
	const c0, s0 = 4000000000, 123456789 // the client's numbers wrap around
	mss := layers.TCPOption{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}}
	sack := func(l, r uint32) layers.TCPOption {
		d := binary.BigEndian.AppendUint32(nil, l)
		return layers.TCPOption{OptionType: layers.TCPOptionKindSACK, OptionLength: 10, OptionData: binary.BigEndian.AppendUint32(d, r)}
	}
	req := "GET /index.html HTTP/1.1\r\nHost: lab\r\n\r\n"
	resp := "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
	pkts := [][]byte{
		seg(cli, srv, 50000, 80, c0, 0, "S", "", mss),
		seg(srv, cli, 80, 50000, s0, c0+1, "S.", "", mss),
		seg(cli, srv, 50000, 80, c0+1, s0+1, ".", ""),
		seg(cli, srv, 50000, 80, c0+1, s0+1, "P.", req),
		seg(srv, cli, 80, 50000, s0+1, c0+1+uint32(len(req)), ".", "", layers.TCPOption{OptionType: layers.TCPOptionKindNop},
			layers.TCPOption{OptionType: layers.TCPOptionKindNop}, sack(c0+1, c0+10)),
		seg(srv, cli, 80, 50000, s0+1, c0+1+uint32(len(req)), "P.", resp),
		seg(srv, cli, 80, 50000, s0+1+uint32(len(resp)), c0+1+uint32(len(req)), "F.", ""),
		seg(cli, srv, 50000, 80, c0+1+uint32(len(req)), s0+2+uint32(len(resp)), "F.", ""),
		seg(srv, cli, 80, 50000, s0+2+uint32(len(resp)), c0+2+uint32(len(req)), ".", ""),
		// A connection seen from its middle, and one refused.
		seg(srv, cli, 80, 50001, 77, 99, "P.", "HTTP/1.1 304 Not Modified\r\n\r\n"),
		seg(srv, cli, 80, 50001, 77+29, 99, ".", ""),
		seg(cli, srv, 50002, 81, 5, 0, "S", ""),
		seg(srv, cli, 81, 50002, 0, 6, "R.", ""),
	}
	u := ip4(layers.IPProtocolUDP)
	q := []byte{0x03, 0xe8, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 5, 'h', 'o', 's', 't', '0', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0, 0, 1, 0, 1}
	a := append(append([]byte{0x03, 0xe8, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0}, q[12:]...), 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, 1)
	pkts = append(pkts, build(t, eth(layers.EthernetTypeIPv4), u, udp(t, u, 40000, 53), gopacket.Payload(q)))
	return append(pkts, build(t, eth(layers.EthernetTypeIPv4), u, udp(t, u, 53, 40000), gopacket.Payload(a)))
}

// TestConversationMatchesTcpdump checks relative and absolute (-S) TCP
// numbers, HTTP and DNS on a conversation against tcpdump, with and
// without -S and -v, line for line.
func TestConversationMatchesTcpdump(t *testing.T) {
	needTcpdump(t)
	path := filepath.Join(t.TempDir(), "conversation.pcap")
	pkts := conversation(t)
	writePcap(t, path, LinkTypeEthernet, pkts)
	for _, c := range []struct {
		opts  Options
		flags []string
	}{
		{Options{}, nil},
		{Options{AbsoluteSeq: true}, []string{"-S"}},
		{Options{Verbose: true}, []string{"-v"}},
	} {
		want := tcpdumpSummaries(t, path, c.flags...)
		if len(want) != len(pkts) {
			t.Fatalf("tcpdump %v printed %d lines for %d packets", c.flags, len(want), len(pkts))
		}
		s := NewSummarizerOptions(c.opts)
		for i, p := range pkts {
			got, _, _ := strings.Cut(s.Summary(LinkTypeEthernet, p, len(p)), "\n")
			if got != want[i] {
				t.Errorf("%+v packet %d:\n ours    %q\n tcpdump %q", c.opts, i+1, got, want[i])
			}
			// Flow on the same Summarizer must not disturb its memory.
			s.Flow(LinkTypeEthernet, p)
		}
	}
}
