package cli_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/packetrecorderd/packetrecorderd/internal/index/synth"
	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// cutInput writes the differential tests' capture: a small heavy-tailed
// mix (IPv4 TCP and UDP), an IPv6 TCP bulk flow whose TCP header carries
// 12 bytes of options, and ARP frames (no flow: never cut) among them.
func cutInput(t *testing.T, path string) {
	t.Helper()
	mix := synth.HeavyTail(synth.HeavyConfig{Seed: 7, Packets: 6000, Flows: 300, Span: 60e9})
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriterNanos(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	put := func(ts int64, frame []byte) {
		ci := gopacket.CaptureInfo{Timestamp: timeNS(ts), CaptureLength: len(frame), Length: len(frame)}
		if err := w.WritePacket(ci, frame); err != nil {
			t.Fatal(err)
		}
	}
	eth := func(et layers.EthernetType) *layers.Ethernet {
		return &layers.Ethernet{SrcMAC: net.HardwareAddr{0, 1, 2, 3, 4, 5}, DstMAC: net.HardwareAddr{0, 1, 2, 3, 4, 6}, EthernetType: et}
	}
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	var buf []byte
	for i, p := range mix.Packets {
		buf = mix.Frame(buf[:0], p)
		put(p.TS, buf)
		switch {
		case i%500 == 0:
			sb := gopacket.NewSerializeBuffer()
			arp := &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
				Operation: 1, SourceHwAddress: []byte{0, 1, 2, 3, 4, 5}, SourceProtAddress: []byte{10, 9, 9, 1},
				DstHwAddress: make([]byte, 6), DstProtAddress: []byte{10, 9, 9, byte(i / 500)}}
			if err := gopacket.SerializeLayers(sb, opts, eth(layers.EthernetTypeARP), arp); err != nil {
				t.Fatal(err)
			}
			put(p.TS, sb.Bytes())
		case i%100 == 50:
			sb := gopacket.NewSerializeBuffer()
			ip := &layers.IPv6{Version: 6, NextHeader: layers.IPProtocolTCP, HopLimit: 64,
				SrcIP: net.ParseIP("2001:db8::1"), DstIP: net.ParseIP("2001:db8::2")}
			tcp := &layers.TCP{SrcPort: 443, DstPort: 50000, Seq: uint32(i), ACK: true, PSH: true, Window: 500,
				Options: []layers.TCPOption{{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: make([]byte, 8)},
					{OptionType: layers.TCPOptionKindNop}, {OptionType: layers.TCPOptionKindNop}}}
			tcp.SetNetworkLayerForChecksum(ip)
			if err := gopacket.SerializeLayers(sb, opts, eth(layers.EthernetTypeIPv6), ip, tcp, gopacket.Payload(bytes.Repeat([]byte{byte(i)}, 1200))); err != nil {
				t.Fatal(err)
			}
			put(p.TS, sb.Bytes())
		}
	}
}

// cutPacket is a packet as a cutoff of limit payload bytes should store
// it, computed here from the original with gopacket: the flow's payload
// before it (both ways, from the IP and TCP/UDP length fields) decides;
// a cut packet keeps Ethernet + IP + TCP/UDP headers.
type cutPacket struct {
	ts      int64
	data    []byte // what is stored
	origLen int
	flow    string // "tcp a:p b:q", ordered; "" for no flow
	cut     bool
}

func expectCut(t *testing.T, path string, limit int) []cutPacket {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	carried := map[string]int{}
	var out []cutPacket
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
		cp := cutPacket{ts: ci.Timestamp.UnixNano(), data: data, origLen: ci.Length}
		var src, dst string
		var ipHdr, ipPayload int
		if ip4, ok := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ok {
			src, dst = ip4.SrcIP.String(), ip4.DstIP.String()
			ipHdr, ipPayload = int(ip4.IHL)*4, int(ip4.Length)-int(ip4.IHL)*4
		} else if ip6, ok := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6); ok {
			src, dst = ip6.SrcIP.String(), ip6.DstIP.String()
			ipHdr, ipPayload = 40, int(ip6.Length)
		}
		var proto string
		var sport, dport, l4 int
		if tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP); ok {
			proto, sport, dport, l4 = "tcp", int(tcp.SrcPort), int(tcp.DstPort), int(tcp.DataOffset)*4
		} else if udp, ok := p.Layer(layers.LayerTypeUDP).(*layers.UDP); ok {
			proto, sport, dport, l4 = "udp", int(udp.SrcPort), int(udp.DstPort), 8
		}
		if proto != "" {
			a, b := net.JoinHostPort(src, strconv.Itoa(sport)), net.JoinHostPort(dst, strconv.Itoa(dport))
			if a > b {
				a, b = b, a
			}
			cp.flow = proto + " " + a + " " + b
			if carried[cp.flow] >= limit {
				cp.cut = true
				cp.data = data[:min(len(data), 14+ipHdr+l4)]
			}
			carried[cp.flow] += ipPayload - l4
		}
		out = append(out, cp)
	}
	return out
}

// writeExpected writes what expectCut says is stored (keep: none drops
// the cut packets) as a pcap with gopacket, for tcpdump to read.
func writeExpected(t *testing.T, path string, pkts []cutPacket, none bool) int {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriterNanos(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range pkts {
		if none && p.cut {
			continue
		}
		n++
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: timeNS(p.ts), CaptureLength: len(p.data), Length: p.origLen}, p.data); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// TestCutoffImportExportDifferential imports a capture with --cutoff
// (headers kept, then none) and requires the export to be exactly what
// the cutoff defines, computed here from the original with gopacket:
// tcpdump prints our export and the expected file alike (times, caplen
// and len, every byte), capinfos counts the same packets and bytes,
// filters select over the database what tcpdump selects from the expected
// file, and flows reports tshark's conversations of the uncut capture as
// seen, with the stored counts and the cut flag the rule gives.
func TestCutoffImportExportDifferential(t *testing.T) {
	for _, tool := range []string{"tcpdump", "tshark", "capinfos"} {
		testkit.RequireTool(t, tool)
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "in.pcap")
	cutInput(t, in)
	const limit = 4096
	want := expectCut(t, in, limit)
	cuts := 0
	for _, p := range want {
		if p.cut {
			cuts++
		}
	}
	if cuts < 1000 || cuts > len(want)-1000 {
		t.Fatalf("the input's cut packets, %d of %d, do not test much", cuts, len(want))
	}
	convs := tsharkConvs(t, in)
	for _, keep := range []string{"headers", "none"} {
		t.Run(keep, func(t *testing.T) {
			none := keep == "none"
			db := filepath.Join(dir, keep+".db")
			r := run(t, "import", "-d", db, "--compression", "none", "--cutoff", "4KiB", "--cutoff-keep", keep, in)
			if r.code != 0 {
				t.Fatalf("import: exit %d: %s", r.code, r.stderr)
			}
			if !strings.Contains(r.stderr, fmt.Sprintf("cutoff (4096 bytes, %s kept): %d packets cut", keep, cuts)) {
				t.Errorf("import's summary: %q, want %d packets cut", r.stderr, cuts)
			}
			exp := filepath.Join(dir, keep+"-expected.pcap")
			n := writeExpected(t, exp, want, none)
			out := filepath.Join(dir, keep+"-export.pcap")
			mustRun(t, "export", "-d", db, "-s", "1", "-o", out)
			got, err := tcpdumpHex(t, out)
			if err != nil {
				t.Fatal(err)
			}
			wantHex, err := tcpdumpHex(t, exp)
			if err != nil {
				t.Fatal(err)
			}
			if got != wantHex {
				t.Errorf("tcpdump reads the export otherwise than the expected file:\n%s", firstDiff(got, wantHex))
			}
			ci := func(f string) string {
				o, err := exec.Command("capinfos", "-c", "-d", "-M", "-T", "-r", f).Output()
				if err != nil {
					t.Fatalf("capinfos %s: %v", f, err)
				}
				_, rest, _ := strings.Cut(string(o), "\t")
				return rest
			}
			if a, b := ci(out), ci(exp); a != b || !strings.HasPrefix(a, strconv.Itoa(n)+"\t") {
				t.Errorf("capinfos: export %q, expected %q (%d packets)", a, b, n)
			}
			// query's lines are tcpdump's for the cut packets too.
			q := strings.Split(strings.TrimSpace(mustRun(t, "query", "-d", db, "-s", "1", "-l", "0")), "\n")
			tdOut, err := exec.Command("tcpdump", "-r", exp, "-n").Output()
			if err != nil {
				t.Fatal(err)
			}
			td := strings.Split(strings.TrimSpace(string(tdOut)), "\n")
			if len(q) != n || len(td) != n {
				t.Fatalf("query printed %d lines, tcpdump -r %d, for %d packets", len(q), len(td), n)
			}
			bad := 0
			for j := range q {
				ourCols := strings.SplitN(q[j], " ", 4)
				tdCols := strings.SplitN(td[j], " ", 2)
				if len(ourCols) < 4 || len(tdCols) < 2 || ourCols[3] != tdCols[1] {
					if bad++; bad <= 5 {
						t.Errorf("line %d: ours %q, tcpdump %q", j+1, q[j], td[j])
					}
				}
			}
			// Filters, some reading payload bytes a cut packet no longer
			// has, select what libpcap selects from the expected file.
			for _, f := range []string{"tcp", "udp", "arp", "ip6", "tcp[20:2] = 0", "udp[8] = 0", "greater 1000", "len <= 100", "tcp port 443 and ip6[60] = 0"} {
				tc, err := exec.Command("tcpdump", "-r", exp, "-nn", "-q", f).Output()
				if err != nil {
					t.Fatalf("tcpdump %q: %v", f, err)
				}
				wantN := strings.Count(string(tc), "\n")
				gotN := strings.TrimSpace(mustRun(t, "query", "-d", db, "-s", "1", "--count", "--filter", f))
				if gotN != strconv.Itoa(wantN) {
					t.Errorf("filter %q: query counts %s, tcpdump %d", f, gotN, wantN)
				}
			}
			// flows: seen as tshark counts the uncut capture; stored and cut
			// as computed.
			flows, _ := flowsJSON(t, "-d", db, "-s", "1", "-l", "0")
			compareFlows(t, "flows "+keep, flows, convs)
			type stored struct {
				packets, bytes int
				cut            bool
			}
			wantStored := map[string]*stored{}
			for _, p := range want {
				if p.flow == "" {
					continue
				}
				s := wantStored[p.flow]
				if s == nil {
					s = &stored{}
					wantStored[p.flow] = s
				}
				s.cut = s.cut || p.cut
				if !(none && p.cut) {
					s.packets++
					s.bytes += len(p.data)
				}
			}
			raw := mustRun(t, "flows", "--json", "-d", db, "-s", "1", "-l", "0")
			for _, line := range strings.Split(strings.TrimSpace(raw), "\n") {
				var f struct {
					Proto         string `json:"proto"`
					Src, Dst      string
					Sport, Dport  int
					StoredPackets *int  `json:"stored_packets"`
					StoredBytes   *int  `json:"stored_bytes"`
					Cut           *bool `json:"cut"`
				}
				if err := jsonUnmarshal(line, &f); err != nil {
					t.Fatal(err)
				}
				if f.Proto == "" {
					continue // the end line
				}
				a, b := net.JoinHostPort(f.Src, strconv.Itoa(f.Sport)), net.JoinHostPort(f.Dst, strconv.Itoa(f.Dport))
				if a > b {
					a, b = b, a
				}
				s := wantStored[f.Proto+" "+a+" "+b]
				if s == nil || f.StoredPackets == nil || f.StoredBytes == nil || f.Cut == nil {
					t.Errorf("flow %s: %q", f.Proto+" "+a+" "+b, line)
					continue
				}
				if *f.StoredPackets != s.packets || *f.StoredBytes != s.bytes || *f.Cut != s.cut {
					t.Errorf("flow %s %s %s: stored %d packets %d bytes cut %v, want %d, %d, %v", f.Proto, a, b,
						*f.StoredPackets, *f.StoredBytes, *f.Cut, s.packets, s.bytes, s.cut)
				}
			}
		})
	}
}

// firstDiff shows where two texts first differ, a line of context each.
func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(al), len(bl)) {
		if al[i] != bl[i] {
			return fmt.Sprintf("line %d:\n  got  %s\n  want %s", i+1, al[i], bl[i])
		}
	}
	return fmt.Sprintf("lengths differ: %d lines against %d", len(al), len(bl))
}

func timeNS(ns int64) time.Time { return time.Unix(0, ns) }

func jsonUnmarshal(line string, v any) error { return json.Unmarshal([]byte(line), v) }

// Bad --cutoff values are one clear line and a non-zero exit, before
// anything is written.
func TestCutoffFlagErrors(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.pcap")
	cutInput(t, in)
	db := filepath.Join(dir, "x.db")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--cutoff", "lots"}, `--cutoff: invalid size "lots"`},
		{[]string{"--cutoff", "-1KiB"}, `--cutoff: invalid size "-1KiB"`},
		{[]string{"--cutoff", "64KiB", "--cutoff-keep", "some"}, `--cutoff-keep: keep "some": want headers or none`},
		{[]string{"--cutoff-keep", "none"}, "--cutoff-keep needs --cutoff"},
	} {
		r := run(t, append(append([]string{"import", "-d", db}, c.args...), in)...)
		if r.code == 0 || !strings.Contains(r.stderr, c.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("import %v: exit %d, %q; want one line with %q", c.args, r.code, r.stderr, c.want)
		}
		if _, err := os.Stat(db); err == nil {
			t.Errorf("import %v: created the database", c.args)
		}
	}
}
