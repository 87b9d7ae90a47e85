package flow

import (
	"bufio"
	"crypto/sha1"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/packetrecorderd/packetrecorderd/internal/pcapio"
	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// corpusFiles are the capture files of the shared corpus.
func corpusFiles(t *testing.T) []string {
	t.Helper()
	dir := testkit.Corpus(t, "pcap")
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if n := e.Name(); strings.HasSuffix(n, ".pcap") || strings.HasSuffix(n, ".pcapng") || strings.Contains(n, ".pcap") {
			out = append(out, filepath.Join(dir, n))
		}
	}
	if len(out) < 100 {
		t.Fatalf("only %d corpus files", len(out))
	}
	return out
}

// readPackets reads a capture file with our reader, as far as it reads
// (damaged files end early: the packets before the damage are compared).
func readPackets(path string) ([]pcapio.Packet, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rd, err := pcapio.NewReader(bufio.NewReader(f))
	if err != nil {
		return nil, err
	}
	var out []pcapio.Packet
	for {
		p, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		p.Data = append([]byte(nil), p.Data...)
		out = append(out, p)
	}
}

// tsharkFrame is one packet as tshark reads it: its length on the wire
// and its Community ID ("" for none).
type tsharkFrame struct {
	len   int
	cid   string
	vlans string // every 802.1Q id, outermost first, comma-separated
	addrs string // every IPv4 and IPv6 source and destination, outermost first
}

// tsharkCommunityIDs runs tshark's communityid post-dissector over a
// file, with IP reassembly off so that each fragment is keyed by what it
// carries itself (the first by its ports, the others by addresses and
// protocol), as a per-packet extractor keys it.
func tsharkCommunityIDs(t *testing.T, path string, seed uint16) ([]tsharkFrame, error) {
	t.Helper()
	cmd := exec.Command("tshark", "-r", path, "--enable-protocol", "communityid",
		"-o", "communityid.seed:"+strconv.Itoa(int(seed)),
		"-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE",
		"-T", "fields", "-E", "separator=/t", "-e", "frame.number", "-e", "frame.len", "-e", "communityid", "-e", "vlan.id", "-e", "ip.src", "-e", "ip.dst", "-e", "ipv6.src", "-e", "ipv6.dst")
	out, err := cmd.Output()
	var frames []tsharkFrame
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 8 {
			continue
		}
		n, err1 := strconv.Atoi(f[0])
		l, err2 := strconv.Atoi(f[1])
		if err1 != nil || err2 != nil || n != len(frames)+1 {
			return nil, fmt.Errorf("tshark: unexpected line %q", line)
		}
		// Several IDs (a packet dissected twice) are joined by commas.
		frames = append(frames, tsharkFrame{len: l, cid: f[2], vlans: f[3], addrs: "v4 " + f[4] + " " + f[5] + " v6 " + f[6] + " " + f[7]})
	}
	return frames, err
}

// TestCommunityIDAgainstTshark: for every packet of every corpus file,
// our Community ID (seed 0 and seed 4242) is tshark's; where tshark gives
// none we give none. The differences allowed are named in
// explainCommunityID, each for a reason that says why tshark's answer is
// not the flow's as Zeek and Suricata key it.
func TestCommunityIDAgainstTshark(t *testing.T) {
	testkit.RequireTool(t, "tshark")
	files := corpusFiles(t)
	var compared, withID, explained, flowsCompared, tunnelled int
	reasons := map[string]int{}
	for _, path := range files {
		pkts, _ := readPackets(path)
		if len(pkts) == 0 {
			continue
		}
		for _, seed := range []uint16{0, 4242} {
			if seed != 0 && !strings.Contains(path, "zeek_") && !strings.Contains(path, "icmp") {
				continue // the seed is checked on the larger captures
			}
			frames, err := tsharkCommunityIDs(t, path, seed)
			if len(frames) == 0 {
				continue // tshark cannot read it: nothing to compare
			}
			_ = err // tshark stops at damage; the frames before it count
			if len(frames) != len(pkts) {
				// tshark shows a frame for blocks our reader does not
				// (pcapng conformance files), or stops at damage: the
				// frames cannot be paired one to one.
				reasons["tshark and our reader count packets differently"] += len(frames)
				explained += len(frames)
				continue
			}
			// The flows of a table that never ends them on time, by ID,
			// must hold tshark's packets and bytes (frame lengths) of that
			// ID exactly, wherever every packet's ID agreed.
			type sums struct{ packets, bytes uint64 }
			theirs, ours, differ := map[string]sums{}, map[string]sums{}, map[string]bool{}
			tb, _ := NewTable(Config{Size: 1 << 20, IdleTimeout: -1, Linger: -1, Seed: seed, Emit: func(f *Flow) {
				s := ours[f.CommunityID.String()]
				ours[f.CommunityID.String()] = sums{s.packets + f.TotalPackets(), s.bytes + f.TotalBytes()}
			}})
			for i, want := range frames {
				pk := pkts[i]
				var p Packet
				got := ""
				if Extract(pk.LinkType, pk.Data, &p) {
					got = p.Key.ID(seed).String()
					tb.Add(pk.Timestamp, &p, pk.OrigLen)
					if p.Fragmented {
						// The table counts a later fragment in its first
						// fragment's flow, not under its own address-only
						// ID: see TestFragmentsJoinTheirFlow.
						differ[got], differ[want.cid] = true, true
						if p.Frag.First {
							noPorts := Key{Src: p.Frag.Src, Dst: p.Frag.Dst, Proto: p.Frag.Proto}
							differ[noPorts.ID(seed).String()] = true
						}
					}
					if vl := joinVLANs(p.VLANs[:p.NVLANs]); vl != want.vlans && seed == 0 {
						t.Errorf("%s #%d: vlan ids %q, tshark %q", filepath.Base(path), i+1, vl, want.vlans)
					}
					// (An ICMP error's quoted packet adds its addresses to
					// tshark's lists: those are left out.)
					if p.NOuter > 0 && seed == 0 && got == want.cid && p.Key.Proto != ProtoICMP && p.Key.Proto != ProtoICMPv6 {
						tunnelled++
					}
					if a := addrChain(&p); p.NOuter > 0 && a != want.addrs && seed == 0 && got == want.cid && p.Key.Proto != ProtoICMP && p.Key.Proto != ProtoICMPv6 {
						t.Errorf("%s #%d: outer and inner addresses %q, tshark %q", filepath.Base(path), i+1, a, want.addrs)
					}
				}
				if want.cid != "" {
					s := theirs[want.cid]
					theirs[want.cid] = sums{s.packets + 1, s.bytes + uint64(want.len)}
				}
				compared++
				if want.cid != "" {
					withID++
				}
				if got == want.cid {
					continue
				}
				differ[got], differ[want.cid] = true, true
				if why := explainCommunityID(pk, &p, want.cid, got); why != "" {
					reasons[why]++
					explained++
					continue
				}
				t.Errorf("%s #%d (link type %d) seed %d: community id %q, tshark %q (key %v)", filepath.Base(path), i+1, pk.LinkType, seed, got, want.cid, p.Key)
			}
			tb.Flush()
			for cid, w := range theirs {
				if differ[cid] {
					continue
				}
				flowsCompared++
				if g := ours[cid]; g != w {
					t.Errorf("%s: flow %s: %d packets %d bytes, tshark %d packets %d bytes", filepath.Base(path), cid, g.packets, g.bytes, w.packets, w.bytes)
				}
			}
		}
	}
	t.Logf("%d packets compared, %d with a tshark community id, %d differences explained: %v; %d flows' packets and bytes compared", compared, withID, explained, reasons, flowsCompared)
	t.Logf("%d tunnelled packets' outer and inner addresses compared", tunnelled)
	if withID < 5000 || tunnelled < 50 || flowsCompared < 500 {
		t.Errorf("only %d packets with a community id, %d tunnelled packets, %d flows compared", withID, tunnelled, flowsCompared)
	}
}

// addrChain lists a tunnelled packet's addresses as tshark's ip.src,
// ip.dst, ipv6.src and ipv6.dst fields list their occurrences.
func addrChain(p *Packet) string {
	var s4, d4, s6, d6 []string
	add := func(src, dst netip.Addr) {
		if src.Is4() {
			s4, d4 = append(s4, src.String()), append(d4, dst.String())
		} else {
			s6, d6 = append(s6, src.String()), append(d6, dst.String())
		}
	}
	for _, l := range p.Outer[:p.NOuter] {
		add(l.Src, l.Dst)
	}
	add(p.Key.Src, p.Key.Dst)
	j := func(x []string) string { return strings.Join(x, ",") }
	return "v4 " + j(s4) + " " + j(d4) + " v6 " + j(s6) + " " + j(d6)
}

func joinVLANs(ids []uint16) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.Itoa(int(id))
	}
	return strings.Join(parts, ",")
}

// explainCommunityID says why our ID may differ from tshark's for this
// packet, or "" when it may not.
func explainCommunityID(pk pcapio.Packet, p *Packet, want, got string) string {
	switch pk.LinkType & 0x03FFFFFF {
	case LinkNull, LinkEthernet, LinkRaw, LinkLoop, LinkSLL, LinkIPv4, LinkIPv6, LinkSLL2, LinkPPP, LinkPPPHDLC, LinkCHDLC:
	default:
		// 802.11, ARCNET, FDDI, IPoIB, NFLOG, PKTAP, Frame Relay, ...:
		// Extract reads the link types recorders produce, not these.
		if got == "" {
			return "link type not read by Extract"
		}
	}
	k := p.Key
	if k.Src.Is6() && !k.Src.Is4In6() || k.Src.Is4In6() {
		// tshark 4.0's communityid post-dissector, finding no ports (or
		// no ICMPv6 information, as for MLDv2 reports), takes "the
		// outermost IP header's protocol" from the IPv6 dissector's
		// per-layer data, where IPv6 stores a pointer, not the next
		// header: it hashes a byte of that pointer (a multiple of 16;
		// no ID when it is 0). Our ID is the spec's, with the protocol
		// of the last header.
		if want == "" {
			return "tshark's IPv6 address-only id (pointer byte 0)"
		}
		for proto := 0; proto < 256; proto += 16 {
			alt := Key{Src: k.Src, Dst: k.Dst, Proto: uint8(proto)}
			if alt.ID(0).String() == want || alt.ID(4242).String() == want {
				return "tshark's IPv6 address-only id (pointer byte as protocol)"
			}
		}
	}
	if n := p.NOuter; n > 0 && !k.HasPorts && p.Outer[n-1].Proto == ProtoUDP {
		// A tunnelled packet with no ports of its own (a Teredo bubble:
		// IPv6 with no next header): tshark's ID mixes the inner
		// addresses with the tunnel's UDP ports, left in pinfo by the
		// outer UDP dissector.
		l := p.Outer[n-1]
		mixed := Key{Src: k.Src, Dst: k.Dst, Proto: ProtoUDP, SrcPort: l.SrcPort, DstPort: l.DstPort, HasPorts: true}
		if mixed.ID(0).String() == want || mixed.ID(4242).String() == want {
			return "tshark mixes inner addresses and outer ports"
		}
	}
	if k.Proto == 108 {
		// IPComp: tshark inflates the payload and keys the packet inside;
		// Zeek and Suricata key the compressed packet by its addresses.
		return "IPComp inflated by tshark"
	}
	if k.Proto == ProtoUDP && (k.SrcPort == 6635 || k.DstPort == 6635) {
		// MPLS in UDP (RFC 7510): tshark decodes it, Zeek and Suricata
		// do not; we key the outer UDP flow, as they do.
		return "MPLS in UDP decoded by tshark"
	}
	if len(pk.Data) > 14 && pk.LinkType == LinkEthernet && be16(pk.Data[12:]) == 0x8903 {
		// Cisco FabricPath: tshark 4.0 loses the inner UDP ports (its ID
		// is the address-only one); Zeek keys the inner 5-tuple.
		noPorts := Key{Src: k.Src, Dst: k.Dst, Proto: k.Proto}
		if noPorts.ID(0).String() == want || noPorts.ID(4242).String() == want {
			return "FabricPath: tshark drops the inner ports"
		}
	}
	return ""
}

var sumSink [20]byte

// BenchmarkCommunityID is what one flow's Community ID costs over IPv4
// TCP keys that differ in every call, as new flows' do: "digest" is the
// spec's SHA-1 over its 16 input bytes alone, the least any code pays for
// a flow's ID whatever else it does; "sum" the digest from a Key, as the
// block index keeps it; "id" its text, as a flow record carries it.
//
//	go test -run '^$' -bench CommunityID ./internal/flow/
func BenchmarkCommunityID(b *testing.B) {
	k := Key{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("192.0.2.80"), Proto: ProtoTCP, DstPort: 443, HasPorts: true}
	b.Run("digest", func(b *testing.B) {
		// seed 0, 10.0.0.1, 192.0.2.80, TCP, pad, source port, 443
		in := [16]byte{0, 0, 10, 0, 0, 1, 192, 0, 2, 80, ProtoTCP, 0, 0, 0, 1, 187}
		for i := range b.N {
			in[12], in[13] = byte(i>>8), byte(i)
			sumSink = sha1.Sum(in[:])
		}
	})
	b.Run("sum", func(b *testing.B) {
		for i := range b.N {
			k.SrcPort = uint16(32768 + i)
			sumSink, _ = k.Sum(0)
		}
	})
	b.Run("id", func(b *testing.B) {
		var c CommunityID
		for i := range b.N {
			k.SrcPort = uint16(32768 + i)
			c = k.ID(0)
		}
		sumSink[0] = c[2]
	})
}
