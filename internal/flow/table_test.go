package flow

import (
	"fmt"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

func tcpPacket(src, dst string, sport, dport uint16, flags uint8) *Packet {
	return &Packet{Key: Key{Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst), SrcPort: sport, DstPort: dport, Proto: ProtoTCP, HasPorts: true}, TCPFlags: flags}
}

func collect(t *testing.T, cfg Config) (*Table, *[]Flow) {
	t.Helper()
	var out []Flow
	cfg.Emit = func(f *Flow) { out = append(out, *f) }
	tb, err := NewTable(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tb, &out
}

// TestTableLifecycle: a handshake, data, FIN both ways and the last ACK
// make one flow, initiated by the SYN's sender even when the SYN-ACK is
// the first packet seen; an RST ends a flow after the linger; a flow idle
// past the timeout ends; a full table evicts the least recently active.
func TestTableLifecycle(t *testing.T) {
	ms := int64(time.Millisecond)
	tb, out := collect(t, Config{Linger: 100 * time.Millisecond, IdleTimeout: time.Second, Size: 2})
	c, s := "10.0.0.1", "10.0.0.2"
	// The capture starts at the SYN-ACK: the client is still the initiator.
	tb.Add(0, tcpPacket(s, c, 80, 5000, SYN|ACK), 60)
	tb.Add(1*ms, tcpPacket(c, s, 5000, 80, ACK), 54)
	tb.Add(2*ms, tcpPacket(c, s, 5000, 80, PSH|ACK), 100)
	tb.Add(3*ms, tcpPacket(s, c, 80, 5000, FIN|ACK), 54)
	tb.Add(4*ms, tcpPacket(c, s, 5000, 80, FIN|ACK), 54)
	tb.Add(5*ms, tcpPacket(s, c, 80, 5000, ACK), 54) // the last ACK, within the linger
	if len(*out) != 0 {
		t.Fatalf("ended early: %+v", *out)
	}
	tb.Add(200*ms, tcpPacket(c, "10.0.0.3", 5001, 443, SYN), 60) // the linger is over
	if len(*out) != 1 {
		t.Fatalf("%d flows ended, want the first", len(*out))
	}
	f := (*out)[0]
	if f.Key.Src.String() != c || f.Key.SrcPort != 5000 || f.End != EndFIN {
		t.Errorf("initiator %v end %v", f.Key, f.End)
	}
	if f.Packets != [2]uint64{3, 3} || f.Bytes != [2]uint64{54 + 100 + 54, 60 + 54 + 54} {
		t.Errorf("packets %v bytes %v", f.Packets, f.Bytes)
	}
	if f.FirstNS != 0 || f.LastNS != 5*ms || f.TCPFlags != SYN|ACK|PSH|FIN {
		t.Errorf("first %d last %d flags %#x", f.FirstNS, f.LastNS, f.TCPFlags)
	}
	if f.CommunityID != f.Key.ID(0) {
		t.Error("community id")
	}
	// RST: ends after the linger.
	tb.Add(210*ms, tcpPacket("10.0.0.3", c, 443, 5001, RST), 54)
	tb.Add(400*ms, tcpPacket(c, "10.0.0.4", 1, 2, SYN), 60)
	if len(*out) != 2 || (*out)[1].End != EndRST || (*out)[1].TotalPackets() != 2 {
		t.Fatalf("after rst: %+v", *out)
	}
	// The table holds 2: a third flow evicts the least recently active.
	tb.Add(500*ms, tcpPacket(c, "10.0.0.5", 1, 2, SYN), 60)
	tb.Add(600*ms, tcpPacket(c, "10.0.0.4", 1, 2, ACK), 60)
	tb.Add(700*ms, tcpPacket(c, "10.0.0.6", 1, 2, SYN), 60)
	if len(*out) != 3 || (*out)[2].End != EndEvicted || (*out)[2].Key.Dst.String() != "10.0.0.5" || tb.Stats().Evicted != 1 {
		t.Fatalf("eviction: %+v %+v", *out, tb.Stats())
	}
	// Idle: nothing for over a second.
	tb.Advance(1650 * ms) // 10.0.0.4 is 1.05 s idle, 10.0.0.6 0.95 s
	if len(*out) != 4 || (*out)[3].End != EndIdle || (*out)[3].Key.Dst.String() != "10.0.0.4" {
		t.Fatalf("idle: %+v", *out)
	}
	tb.Flush()
	if len(*out) != 5 || (*out)[4].End != EndFlush || tb.Stats().Active != 0 {
		t.Fatalf("flush: %+v", *out)
	}
	// Timestamps out of order do not move the clock back.
	tb.Add(100*ms, tcpPacket(c, s, 7, 8, SYN), 60)
	tb.Flush()
	if (*out)[5].FirstNS != 100*ms {
		t.Errorf("late packet: %+v", (*out)[5])
	}
}

// TestTableNeverEnds: with negative timeouts only Flush and eviction end
// flows, so a FIN'd connection and its retransmissions stay one flow.
func TestTableNeverEnds(t *testing.T) {
	tb, out := collect(t, Config{Linger: -1, IdleTimeout: -1})
	tb.Add(0, tcpPacket("10.0.0.1", "10.0.0.2", 1, 2, RST), 60)
	tb.Add(int64(time.Hour), tcpPacket("10.0.0.2", "10.0.0.1", 2, 1, ACK), 60)
	if len(*out) != 0 {
		t.Fatal("ended")
	}
	tb.Flush()
	if len(*out) != 1 || (*out)[0].Packets != [2]uint64{1, 1} {
		t.Fatalf("%+v", *out)
	}
}

// TestTableAllocs: a packet of a known flow allocates nothing.
func TestTableAllocs(t *testing.T) {
	tb, _ := collect(t, Config{})
	p := tcpPacket("10.0.0.1", "10.0.0.2", 1, 2, ACK)
	ts := int64(0)
	tb.Add(ts, p, 60)
	if n := testing.AllocsPerRun(1000, func() { ts++; tb.Add(ts, p, 60) }); n != 0 {
		t.Errorf("%v allocations per packet", n)
	}
}

func BenchmarkTable(b *testing.B) {
	var emitted int
	tb, _ := NewTable(Config{Size: 1 << 16, Emit: func(*Flow) { emitted++ }})
	pkts := make([]Packet, 4096)
	for i := range pkts {
		pkts[i] = *tcpPacket("10.0.0.1", fmt.Sprintf("10.1.%d.%d", i>>8, i&255), uint16(i), 80, ACK)
	}
	b.ReportAllocs()
	ts := int64(0)
	for b.Loop() {
		ts += 1000
		tb.Add(ts, &pkts[ts/1000%4096], 100)
	}
}

// endpointKey names a conversation without direction.
func endpointKey(proto, a, b string) string {
	if a > b {
		a, b = b, a
	}
	return proto + " " + a + " " + b
}

// TestTableAgainstTsharkConversations: over every corpus file of a link
// type Extract reads, a table that never ends flows on time (tshark's
// conversation table does not split on FIN or idle time) gives tshark's
// TCP and UDP conversations, with the same packets each way and the same
// bytes (frame lengths) each way as tshark prints them.
//
// Rows of tshark's UDP table that are tunnels (VXLAN, GENEVE, Teredo),
// which we key by the inner flow, must equal the count of our packets
// carrying that outer UDP layer. Files where tshark decodes what Zeek and
// Suricata do not (MPLS in UDP, IPComp) or keys by what we do not read
// (link types other than Extract's) are left out, named below.
func TestTableAgainstTsharkConversations(t *testing.T) {
	testkit.RequireTool(t, "tshark")
	malformed := map[string]bool{}
	for _, row := range testkit.MustReadTSV(t, testkit.Corpus(t, "pcap", "MANIFEST.tsv")) {
		malformed[row["file"]] = row["tshark_malformed_frames"] != "0"
	}
	var files, convs, merged int
	for _, path := range corpusFiles(t) {
		name := filepath.Base(path)
		if strings.Contains(name, "mpls-over-udp") || strings.Contains(name, "IPcomp") {
			continue // see TestCommunityIDAgainstTshark
		}
		if malformed[name] {
			// tshark stops dissecting a frame it finds malformed before
			// the conversation taps, so its tables leave such frames
			// out (Cisco FabricPath's inner frames, fuzzed files).
			continue
		}
		pkts, rerr := readPackets(path)
		if rerr != nil || len(pkts) == 0 {
			continue // damaged: tshark and our reader stop at different places
		}
		supported := true
		for _, pk := range pkts {
			switch pk.LinkType {
			case LinkNull, LinkEthernet, LinkRaw, LinkLoop, LinkSLL, LinkIPv4, LinkIPv6, LinkSLL2, LinkPPP, LinkPPPHDLC, LinkCHDLC:
			default:
				supported = false
			}
		}
		if !supported {
			continue
		}
		rows, err := testkit.TsharkConversations(path)
		if err != nil {
			continue // tshark stops at damage
		}
		// tshark 4.0 keys its conversation rows by its stream index too:
		// a UDP request-response protocol whose dissector makes its own
		// conversations (SNMP) gets a row per direction, a reused TCP
		// 5-tuple a row per connection. Rows are summed per 5-tuple here,
		// as our table (never ending flows on time) keys them.
		rows, m := testkit.MergeConversations(rows)
		merged += m
		type agg struct{ pk, by [2]uint64 }
		ours := map[string]*Flow{}
		outer := map[string]*agg{} // tunnels' outer UDP, by "udp a b" (a first seen)
		var flows []Flow
		// A packet whose TCP header is cut short is keyed by its ports,
		// but tshark's conversation tap never sees it (its TCP dissector
		// throws first): such packets are counted apart, and a flow of
		// nothing else is not tshark's.
		truncatedOnly := map[Key]bool{}
		tb, _ := NewTable(Config{Size: 1 << 20, IdleTimeout: -1, Linger: -1, Emit: func(f *Flow) { flows = append(flows, *f) }})
		for _, pk := range pkts {
			var p Packet
			if !Extract(pk.LinkType, pk.Data, &p) {
				continue
			}
			if p.Truncated {
				truncatedOnly[p.Key] = true
				continue
			}
			if p.Fragment {
				// Without reassembly tshark finds no TCP or UDP in a later
				// fragment; the table counts it in its first fragment's
				// flow (TestFragmentsJoinTheirFlow checks that).
				continue
			}
			tb.Add(pk.Timestamp, &p, pk.OrigLen)
			for i := 0; i < p.NOuter; i++ {
				l := p.Outer[i]
				if l.Proto != ProtoUDP {
					continue
				}
				a, b := Endpoint(l.Src, l.SrcPort, true), Endpoint(l.Dst, l.DstPort, true)
				k := endpointKey("udp", a, b)
				g := outer[k]
				if g == nil {
					g = &agg{}
					outer[k] = g
				}
				d := 0
				if a > b {
					d = 1
				}
				g.pk[d]++
				g.by[d] += uint64(pk.OrigLen)
			}
		}
		tb.Flush()
		for i := range flows {
			f := &flows[i]
			if (f.Key.Proto == ProtoTCP || f.Key.Proto == ProtoUDP) && f.Key.HasPorts && !truncatedOnly[f.Key] {
				ours[endpointKey(ProtoName(f.Key.Proto), Endpoint(f.Key.Src, f.Key.SrcPort, true), Endpoint(f.Key.Dst, f.Key.DstPort, true))] = f
			}
		}
		files++
		seen := map[string]bool{}
		for _, r := range rows {
			k := endpointKey(r.Proto, r.A, r.B)
			seen[k] = true
			f := ours[k]
			if f == nil {
				if g := outer[k]; g != nil {
					// A tunnel: tshark counts its outer UDP conversation.
					d := 0
					if r.A > r.B {
						d = 1
					}
					if int(g.pk[d]) != r.FramesAB || int(g.pk[1-d]) != r.FramesBA || testkit.TsharkBytes(g.by[d]) != r.BytesAB || testkit.TsharkBytes(g.by[1-d]) != r.BytesBA {
						t.Errorf("%s: tunnel %s <-> %s: ours %v packets %v bytes, tshark %d %s / %d %s", name, r.A, r.B, g.pk, g.by, r.FramesAB, r.BytesAB, r.FramesBA, r.BytesBA)
					}
					continue
				}
				t.Errorf("%s: tshark's %s conversation %s <-> %s (%d frames) is not ours", name, r.Proto, r.A, r.B, r.Frames)
				continue
			}
			convs++
			// Directions: tshark's A is the first packet's source; ours is
			// the initiator, which may be the other side (a capture that
			// starts at a SYN-ACK).
			ab, ba := 0, 1
			if Endpoint(f.Key.Src, f.Key.SrcPort, true) != r.A {
				ab, ba = 1, 0
			}
			if int(f.Packets[ab]) != r.FramesAB || int(f.Packets[ba]) != r.FramesBA {
				t.Errorf("%s: %s %s <-> %s: packets %d/%d, tshark %d/%d", name, r.Proto, r.A, r.B, f.Packets[ab], f.Packets[ba], r.FramesAB, r.FramesBA)
			}
			if r.BytesAB != "" && testkit.TsharkBytes(f.Bytes[ab]) != r.BytesAB || r.BytesBA != "" && testkit.TsharkBytes(f.Bytes[ba]) != r.BytesBA {
				t.Errorf("%s: %s %s <-> %s: bytes %d/%d, tshark %s/%s", name, r.Proto, r.A, r.B, f.Bytes[ab], f.Bytes[ba], r.BytesAB, r.BytesBA)
			}
		}
		for k, f := range ours {
			if !seen[k] {
				t.Errorf("%s: our flow %v (%d packets) is not in tshark's conversations", name, f.Key, f.TotalPackets())
			}
		}
	}
	t.Logf("%d files, %d conversations compared (%d of them tshark's rows merged by 5-tuple)", files, convs, merged)
	if files < 50 || convs < 200 {
		t.Errorf("only %d files, %d conversations compared", files, convs)
	}
}

// TestTableAgainstModel drives the table and a plain model of the same
// rules (every flow searched for the least recently active, no lists)
// with random packets, and wants the same flows ended in the same order
// with the same counts.
func TestTableAgainstModel(t *testing.T) {
	type mflow struct {
		f       Flow
		canon   Key
		initRev bool
		fin     [2]bool
		closeAt int64 // -1 open
		touched int64
		seq     int // creation order, to break ties as the table does
	}
	rnd := newRand(7)
	for round := range 20 {
		cfg := Config{Size: 1 + rnd.intn(8), IdleTimeout: time.Duration(1+rnd.intn(50)) * time.Millisecond, Linger: time.Duration(1+rnd.intn(20)) * time.Millisecond}
		tb, got := collect(t, cfg)
		var want []Flow
		model := map[Key]*mflow{}
		var now int64
		seq := 0
		endFlow := func(m *mflow, why End) {
			m.f.End = why
			want = append(want, m.f)
			delete(model, m.canon)
		}
		oldest := func() *mflow {
			var o *mflow
			for _, m := range model {
				if o == nil || m.touched < o.touched || m.touched == o.touched && m.seq < o.seq {
					o = m
				}
			}
			return o
		}
		ts := int64(0)
		for range 400 {
			// Distinct times: "least recently active" has no ties to break.
			ts += int64(1+rnd.intn(5)) * int64(time.Millisecond)
			hosts := []string{"10.0.0.1", "10.0.0.2", "10.0.0.3"}
			src, dst := hosts[rnd.intn(3)], hosts[rnd.intn(3)]
			flags := []uint8{SYN, SYN | ACK, ACK, FIN | ACK, RST, PSH | ACK}[rnd.intn(6)]
			p := tcpPacket(src, dst, uint16(1+rnd.intn(2)), uint16(1+rnd.intn(2)), flags)
			tb.Add(ts, p, 60+rnd.intn(100))
			// The model, step by step.
			now = max(now, ts)
			for {
				var first *mflow
				for _, m := range model {
					if m.closeAt >= 0 && m.closeAt < now && (first == nil || m.closeAt < first.closeAt || m.closeAt == first.closeAt && m.seq < first.seq) {
						first = m
					}
				}
				if first == nil {
					break
				}
				endFlow(first, first.f.End)
			}
			for {
				o := oldest()
				if o == nil || now-o.touched <= int64(cfg.IdleTimeout) {
					break
				}
				endFlow(o, EndIdle)
			}
			c, rev := p.Key.Canonical()
			m := model[c]
			if m == nil {
				if len(model) >= cfg.Size {
					endFlow(oldest(), EndEvicted)
				}
				initRev, k := rev, p.Key
				if flags&(SYN|ACK) == SYN|ACK {
					initRev, k = !rev, k.Reverse()
				}
				seq++
				m = &mflow{canon: c, initRev: initRev, closeAt: -1, seq: seq, f: Flow{Key: k, CommunityID: c.ID(0), FirstNS: ts, LastNS: ts}}
				model[c] = m
			}
			d := 0
			if rev != m.initRev {
				d = 1
			}
			m.f.Packets[d]++
			m.touched = now
			m.f.FirstNS, m.f.LastNS = min(m.f.FirstNS, ts), max(m.f.LastNS, ts)
			m.f.KeyNS = m.f.FirstNS // never Reported: the key follows the first packet
			m.f.TCPFlags |= flags
			if m.closeAt < 0 {
				if flags&RST != 0 {
					m.closeAt, m.f.End = ts+int64(cfg.Linger), EndRST
				} else if flags&FIN != 0 {
					m.fin[d] = true
					if m.fin[0] && m.fin[1] {
						m.closeAt, m.f.End = ts+int64(cfg.Linger), EndFIN
					}
				}
			}
		}
		tb.Flush()
		for len(model) > 0 {
			endFlow(oldest(), EndFlush)
		}
		if len(*got) != len(want) {
			t.Fatalf("round %d: %d flows, model %d", round, len(*got), len(want))
		}
		for i := range want {
			g, w := (*got)[i], want[i]
			g.Bytes = [2]uint64{} // the model does not count bytes
			if g != w {
				t.Fatalf("round %d, flow %d:\n got %+v\nwant %+v", round, i, g, w)
			}
		}
	}
}

// rand is a small deterministic generator (xorshift), so the model test
// is the same on every run.
type rand struct{ s uint64 }

func newRand(seed uint64) *rand { return &rand{s: seed*2654435761 + 1} }

func (r *rand) intn(n int) int {
	r.s ^= r.s << 13
	r.s ^= r.s >> 7
	r.s ^= r.s << 17
	return int(r.s % uint64(n))
}

// TestFragmentsJoinTheirFlow: in every corpus file with IP fragments, the
// table counts each fragment in the flow tshark assigns it once it has
// reassembled the packet (the Community ID of the frame the fragment is
// reassembled in), so per Community ID the table's packets and bytes are
// tshark's after reassembly, as Zeek and Suricata count them.
func TestFragmentsJoinTheirFlow(t *testing.T) {
	testkit.RequireTool(t, "tshark")
	files := 0
	for _, path := range corpusFiles(t) {
		pkts, err := readPackets(path)
		if err != nil || len(pkts) == 0 {
			continue
		}
		fragmented := false
		for _, pk := range pkts {
			var p Packet
			if Extract(pk.LinkType, pk.Data, &p) && p.Fragment {
				fragmented = true
			}
		}
		if !fragmented {
			continue
		}
		out, err := exec.Command("tshark", "-2", "-r", path, "--enable-protocol", "communityid", "-T", "fields", "-E", "separator=/t",
			"-e", "frame.len", "-e", "communityid", "-e", "ip.reassembled_in", "-e", "ipv6.reassembled.in").Output()
		if err != nil {
			t.Fatalf("tshark %s: %v", path, err)
		}
		lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
		if len(lines) != len(pkts) {
			continue // see TestCommunityIDAgainstTshark
		}
		type sums struct{ packets, bytes uint64 }
		cids := make([]string, len(lines))
		lens := make([]uint64, len(lines))
		into := make([]int, len(lines))
		for i, line := range lines {
			f := strings.Split(line, "\t")
			n, _ := strconv.Atoi(f[0])
			lens[i], cids[i], into[i] = uint64(n), f[1], i
			if r, err := strconv.Atoi(strings.Split(f[2]+f[3], ",")[0]); err == nil && r >= 1 && r <= len(lines) {
				into[i] = r - 1
			}
		}
		want := map[string]sums{}
		for i := range lines {
			cid := cids[into[i]]
			s := want[cid]
			want[cid] = sums{s.packets + 1, s.bytes + lens[i]}
		}
		got := map[string]sums{}
		tb, _ := NewTable(Config{Size: 1 << 20, IdleTimeout: -1, Linger: -1, Emit: func(f *Flow) {
			s := got[f.CommunityID.String()]
			got[f.CommunityID.String()] = sums{s.packets + f.TotalPackets(), s.bytes + f.TotalBytes()}
		}})
		for _, pk := range pkts {
			var p Packet
			if Extract(pk.LinkType, pk.Data, &p) {
				tb.Add(pk.Timestamp, &p, pk.OrigLen)
			}
		}
		tb.Flush()
		files++
		for cid, w := range want {
			if cid == "" {
				continue
			}
			if got[cid] != w {
				t.Errorf("%s: flow %s: %+v, tshark after reassembly %+v", filepath.Base(path), cid, got[cid], w)
			}
		}
	}
	t.Logf("%d files with fragments", files)
	if files < 2 {
		t.Errorf("only %d corpus files with fragments", files)
	}
}
