package index

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/flow"
)

// packetCID is a packet's seed-0 Community ID term as the per-packet
// match computes it (flow.Extract, then Key.ID), ok false for none.
func packetCID(t *testing.T, lt uint32, data []byte) (Term, bool) {
	t.Helper()
	var p flow.Packet
	if !flow.Extract(lt, data, &p) {
		return Term{}, false
	}
	id := p.Key.ID(0)
	if id.IsZero() {
		return Term{}, false
	}
	term, ok := CommunityIDTerm(id)
	if !ok {
		t.Fatalf("CommunityIDTerm(%s) refused an ID Key.ID made", id)
	}
	return term, true
}

// TestCommunityIDTerm: the term holds the 20 bytes the ID's base64
// encodes (RFC 4648, decoded here by the standard library, not by the
// code under test), prints as the ID, and refuses what is not an ID.
func TestCommunityIDTerm(t *testing.T) {
	// The spec's example flow (community-id-spec's baseline, TCP
	// 128.232.110.120:34855 -> 66.35.250.204:80, seed 0).
	const id = "1:LQU9qZlK+B5F3KDmev6m5PMibrg="
	c, err := flow.ParseCommunityID(id)
	if err != nil {
		t.Fatal(err)
	}
	term, ok := CommunityIDTerm(c)
	if !ok || term.Kind != KindCommunityID {
		t.Fatalf("CommunityIDTerm(%s) = %v, %v", id, term, ok)
	}
	raw, _ := base64.StdEncoding.DecodeString(id[2:])
	if !slices.Equal(term.CID[:], raw) {
		t.Fatalf("term bytes %x, the ID encodes %x", term.CID, raw)
	}
	if got := term.String(); got != "community-id "+id {
		t.Errorf("String() = %q", got)
	}
	if _, ok := CommunityIDTerm(flow.CommunityID{}); ok {
		t.Error("the zero CommunityID made a term")
	}
	// The same flow's key gives the same ID and term.
	k := flow.Key{Src: netip.MustParseAddr("128.232.110.120"), Dst: netip.MustParseAddr("66.35.250.204"), SrcPort: 34855, DstPort: 80, Proto: 6, HasPorts: true}
	if got := k.ID(0).String(); got != id {
		t.Fatalf("the spec's flow has ID %s here, the spec says %s", got, id)
	}
	sum, _ := k.Sum(0)
	if sum != term.CID || hashCID(sum) != Hash(term) {
		t.Error("Key.Sum and the term disagree")
	}
}

// TestFlowKeyFastPath: where fastFlowKey reads a frame's 5-tuple, it is
// exactly the canonical key of flow.Extract's, on the synthetic mix,
// every Ethernet packet of the corpus, those packets with bytes changed
// where the fast path decides, and cut short.
func TestFlowKeyFastPath(t *testing.T) {
	frames := mixFrames(t, 3000)
	frames = append(frames, corpusEthernet(t)...)
	var p flow.Packet
	check := func(f []byte) bool {
		k, fast := fastFlowKey(1, f)
		if !fast {
			return false
		}
		if !flow.Extract(1, f, &p) {
			t.Fatalf("fast path keyed %x, flow.Extract finds no IP packet", f)
		}
		want, ok := keyOf(p.Key)
		if !ok || k != want {
			t.Fatalf("fast path key %+v (%v), flow.Extract's %v (%+v) for %x", k, flowOf(k), p.Key, want, f)
		}
		if flowOf(k).ID(0) != p.Key.ID(0) {
			t.Fatalf("the cache key's flow %v has another ID than %v", flowOf(k), p.Key)
		}
		if sum, _ := p.Key.Sum(0); fastSum(k) != sum {
			t.Fatalf("fastSum of %v is %x, Key.Sum %x", p.Key, fastSum(k), sum)
		}
		return true
	}
	n := 0
	for _, f := range frames {
		if check(f) {
			n++
		}
		// IPv4: version/length, total length, flags and offset,
		// protocol, ports; IPv6: version, payload length, next header,
		// ports.
		for _, o := range []int{12, 13, 14, 16, 17, 20, 21, 23, 26, 30, 34, 35, 36, 37, 18, 19, 54, 55, 56, 57} {
			if o >= len(f) {
				continue
			}
			for _, v := range []byte{0x00, 0x01, 0x06, 0x08, 0x11, 0x12, 0x17, 0x20, 0x2c, 0x3a, 0x45, 0x46, 0x4f, 0x60, 0x84, 0x86, 0xb5, 0xc1, 0xdd, 0xff} {
				g := slices.Clone(f)
				g[o] = v
				check(g)
			}
		}
		for cut := 0; cut < min(len(f), 80); cut++ {
			check(f[:cut])
		}
	}
	if n < len(frames)/2 {
		t.Errorf("the fast path took %d of %d frames", n, len(frames))
	}
}

// TestBuilderCommunityIDs: a sketch built by AddPacket holds the
// Community ID of every packet's flow (as the per-packet match computes
// it) and says so (flagCID); IDs of flows not in the block test present
// about as often as absent terms (1-3%); each flow's ID is added once a
// block (but for cache collisions); after Reset, and after the cache's generation wraps, the next
// block gets its IDs again.
func TestBuilderCommunityIDs(t *testing.T) {
	frames := mixFrames(t, 20000)
	frames = append(frames, corpusEthernet(t)...)
	var b Builder
	const per = 200
	fp, absent, added, flows := 0, 0, 0, 0
	for start := 0; start < len(frames); start += per {
		blk := frames[start:min(start+per, len(frames))]
		b.Reset()
		ids := map[Term]bool{}
		for _, f := range blk {
			b.AddPacket(1, f)
			if term, ok := packetCID(t, 1, f); ok {
				ids[term] = true
			}
		}
		// Each flow's ID once, but for two flows of one cache slot
		// taking turns (a direct-mapped cache of 1024 entries).
		var want []uint64
		for term := range ids {
			want = append(want, Hash(term))
		}
		slices.Sort(want)
		if got := hashSet(b.flows.hashes); !slices.Equal(got, want) || len(b.flows.hashes) > len(ids)+len(ids)/10+2 {
			t.Fatalf("block at %d: %d IDs added (%d distinct) for %d flows", start, len(b.flows.hashes), len(got), len(ids))
		}
		added += len(b.flows.hashes)
		flows += len(ids)
		s := Sketch(b.Sketch(nil))
		if err := s.Check(); err != nil || !s.HasCommunityIDs() {
			t.Fatalf("block at %d: %v, flagCID %v", start, err, s.HasCommunityIDs())
		}
		for term := range ids {
			if !s.Has(term) || !s.Match(TermExpr(term)) {
				t.Fatalf("block at %d: its packet's %v is not in its sketch", start, term)
			}
		}
		// IDs of other flows (of the next block, not in this one).
		for _, f := range frames[min(start+per, len(frames)):min(start+2*per, len(frames))] {
			if term, ok := packetCID(t, 1, f); ok && !ids[term] {
				absent++
				if s.Has(term) {
					fp++
				}
			}
		}
	}
	if absent < 1000 || fp > absent*4/100 {
		t.Errorf("%d of %d IDs of flows not in the block test present", fp, absent)
	}
	if added > flows+flows/50 {
		t.Errorf("%d IDs added for %d flows a block: the cache leaves few repeats", added, flows)
	}
	t.Logf("%d IDs added for %d flows a block, summed; %d of %d absent IDs test present", added, flows, fp, absent)

	// One flow's packets: its ID once; again after Reset and a wrap.
	f := frames[0]
	id, ok := packetCID(t, 1, f)
	if !ok {
		t.Fatal("the mix's first frame has no ID")
	}
	b.Reset()
	for range 100 {
		b.AddPacket(1, f)
	}
	if want := []uint64{Hash(id)}; !slices.Equal(b.flows.hashes, want) {
		t.Fatalf("100 packets of a flow added %x, want its ID's %x once", b.flows.hashes, want)
	}
	b.Reset()
	b.AddPacket(1, f)
	if len(b.flows.hashes) != 1 {
		t.Fatalf("after Reset the flow's ID was added %d times", len(b.flows.hashes))
	}
	b.flows.cache.gen = math.MaxUint32
	b.Reset()
	b.AddPacket(1, f)
	if len(b.flows.hashes) != 1 || !Sketch(b.Sketch(nil)).Has(id) {
		t.Fatalf("after the generation wrapped the flow's ID was added %d times", len(b.flows.hashes))
	}
}

// TestSketchWithoutCommunityIDs: a sketch or summary without flagCID
// (built before Community IDs were indexed, or of terms added one by
// one) may hold every ID, so a plan of one never leaves its block or
// segment out; a summary holds IDs only when every block it was given
// did, and then leaves out a segment without the ID.
func TestSketchWithoutCommunityIDs(t *testing.T) {
	frames := mixFrames(t, 2000)
	var b Builder
	for _, f := range frames[:500] {
		b.AddPacket(1, f)
	}
	in, _ := packetCID(t, 1, frames[0])
	out := Term{Kind: KindCommunityID, CID: sha1.Sum([]byte("a flow of no block"))}
	if Narrows(TermExpr(out)) != true {
		t.Fatal("a Community ID term does not narrow")
	}
	withIDs := Sketch(b.Sketch(nil))
	if !withIDs.Has(in) || withIDs.Has(out) {
		t.Fatalf("a sketch with IDs: Has(in) %v, Has(out) %v", withIDs.Has(in), withIDs.Has(out))
	}
	// The same sketch as the previous layout wrote it: flags 0.
	old := slices.Clone(withIDs)
	old[2] &^= flagCID
	if old.Check() != nil || old.HasCommunityIDs() {
		t.Fatal("a sketch of the previous layout is not a sketch without IDs")
	}
	for i := range 200 {
		id := Term{Kind: KindCommunityID, CID: sha1.Sum(fmt.Appendf(nil, "flow %d", i))}
		if !old.Has(id) || !old.Match(And(TermExpr(id), TermExpr(ProtoTerm(6)))) || !old.MatchPaired(TermExpr(id)) {
			t.Fatalf("a sketch without IDs leaves out a block for %v", id)
		}
	}
	// Terms added one by one say nothing of IDs.
	var byTerm Builder
	byTerm.Add(ProtoTerm(6))
	if s := Sketch(byTerm.Sketch(nil)); s.HasCommunityIDs() || !s.Has(out) {
		t.Fatal("a sketch of terms added by Add claims the block's IDs")
	}

	// Summaries.
	var sum Summary
	sum.AddBlock(&b)
	var b2 Builder
	for _, f := range frames[500:1000] {
		b2.AddPacket(1, f)
	}
	sum.AddBlock(&b2)
	s := Sketch(sum.Sketch(nil))
	in2, _ := packetCID(t, 1, frames[700])
	if !s.HasCommunityIDs() || !s.Has(in) || !s.Has(in2) || s.Has(out) || s.Match(TermExpr(out)) {
		t.Fatalf("a summary of blocks with IDs: flag %v, holds %v %v, holds an absent one %v", s.HasCommunityIDs(), s.Has(in), s.Has(in2), s.Has(out))
	}
	sum.AddBlock(&byTerm)
	s = Sketch(sum.Sketch(nil))
	if s.HasCommunityIDs() || !s.Has(out) {
		t.Fatal("a summary with a block without IDs claims every block's IDs")
	}
	sum.Reset()
	sum.AddBlock(&b)
	if s := Sketch(sum.Sketch(nil)); !s.HasCommunityIDs() || s.Has(out) {
		t.Fatal("Reset does not forget a block without IDs")
	}
}

// TestCommunityIDPlanString: a plan with an ID prints it as users type
// it, for query --explain.
func TestCommunityIDPlanString(t *testing.T) {
	id := flow.Key{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"), SrcPort: 1, DstPort: 2, Proto: 17, HasPorts: true}.ID(0)
	term, _ := CommunityIDTerm(id)
	e := And(TermExpr(ProtoTerm(17)), TermExpr(term))
	if got, want := e.String(), "(proto 17 and community-id "+id.String()+")"; got != want {
		t.Errorf("plan %q, want %q", got, want)
	}
	if !strings.HasPrefix(id.String(), "1:") {
		t.Fatal(id)
	}
}

// BenchmarkBuilderAddPacketCID: the CPU a packet of AddPacket (all: the
// terms and the Community ID), of AddPacket without the ID (terms: what
// the ID adds is all's CPU less this) and of the ID part alone (cid),
// in blocks of 600 packets, on the synthetic heavy-tailed mix and on the
// lab mix (bench/mkmix's: nearly every packet a flow of its own, the
// worst case of the ID cache).
//
//	go test -run '^$' -bench BuilderAddPacketCID -benchtime 1000000x ./internal/index/
func BenchmarkBuilderAddPacketCID(b *testing.B) {
	for _, w := range []struct {
		name   string
		frames [][]byte
	}{
		{"synth", mixFrames(b, 20000)},
		{"labmix", labMixFrames(20000)},
	} {
		for _, part := range []string{"all", "terms", "cid"} {
			b.Run(w.name+"/"+part, func(b *testing.B) {
				var bl Builder
				b.ReportAllocs()
				c0 := cpuNow()
				defer func() { b.ReportMetric(float64((cpuNow()-c0).Nanoseconds())/float64(b.N), "cpu-ns/pkt") }()
				i := 0
				for b.Loop() {
					if i%600 == 0 {
						bl.Reset() // a block of 256 KiB holds about 600 packets
					}
					f := w.frames[i%len(w.frames)]
					switch part {
					case "all":
						bl.AddPacket(1, f)
					case "terms": // AddPacket without the ID, as before
						if !bl.fastPacket(f) {
							bl.terms.Packet(1, f)
							for _, x := range bl.terms.List {
								bl.Add(x)
							}
						}
					default:
						bl.addFlowID(1, f)
					}
					i++
				}
			})
		}
	}
}

// cpuNow is this process's CPU time, user and system.
func cpuNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// labMixFrames is bench/mkmix's mix: 40% TCP acks to 443, 30% small UDP
// (53, or 5000-5099), 27% full-size segments (443, 80, 22), 3% ICMP
// echo, between 1000 clients of 10.213.1-4.0/24 and 20 servers, the
// client's port random in 32768-52767, either way.
func labMixFrames(n int) [][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	out := make([][]byte, 0, n)
	for range n {
		var proto byte
		var size, port int
		switch r := rng.IntN(100); {
		case r < 40:
			proto, size, port = 6, 54+rng.IntN(13), 443
		case r < 70:
			proto, size, port = 17, 60+rng.IntN(140), 53
			if rng.IntN(3) == 0 {
				port = 5000 + rng.IntN(100)
			}
		case r < 97:
			proto, size, port = 6, 1514, []int{443, 80, 22}[rng.IntN(3)]
		default:
			proto, size = 1, 98
		}
		b := make([]byte, size)
		binary.BigEndian.PutUint16(b[12:], 0x0800)
		ip := b[14:]
		ip[0], ip[8], ip[9] = 0x45, 64, proto
		binary.BigEndian.PutUint16(ip[2:], uint16(size-14))
		client := [4]byte{10, 213, byte(1 + rng.IntN(4)), byte(1 + rng.IntN(250))}
		server := [4]byte{10, 213, 0, byte(1 + rng.IntN(20))}
		cport := uint16(32768 + rng.IntN(20000))
		src, dst, sport, dport := client, server, cport, uint16(port)
		if rng.IntN(2) == 0 {
			src, dst, sport, dport = server, client, dport, sport
		}
		copy(ip[12:], src[:])
		copy(ip[16:], dst[:])
		l4 := ip[20:]
		if proto == 1 {
			l4[0] = 8
		} else {
			binary.BigEndian.PutUint16(l4, sport)
			binary.BigEndian.PutUint16(l4[2:], dport)
			if proto == 6 {
				l4[12], l4[13] = 5<<4, 0x10
			}
		}
		out = append(out, b)
	}
	return out
}
