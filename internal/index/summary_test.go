package index

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"testing"

	"github.com/packetrecorderd/packetrecorderd/internal/index/synth"
)

// TestSummaryFoldsExactly: a segment's summary is, word for word, the
// Bloom filter built directly at its size from every term of its blocks
// (the fold loses nothing and invents nothing), it is a valid Sketch, and
// it holds every term added.
func TestSummaryFoldsExactly(t *testing.T) {
	for _, distinct := range []int{0, 1, 50, 3000, 40000} {
		var s Summary
		var b Builder
		var all []uint64
		for blk := 0; blk*500 < distinct || blk == 0; blk++ {
			b.Reset()
			for i := 0; i < 500 && blk*500+i < distinct; i++ {
				v4 := [4]byte{10, byte(blk), byte(i >> 8), byte(i)}
				term := AddrTerm(netip.AddrFrom4(v4))
				b.Add(term)
				b.Add(term) // repeats cost nothing
				all = append(all, Hash(term))
			}
			if distinct > 0 {
				s.AddBlock(&b)
			}
		}
		sk := Sketch(s.Sketch(nil))
		if err := sk.Check(); err != nil {
			t.Fatalf("%d terms: %v", distinct, err)
		}
		n := (len(sk) - sketchHeader) / 8
		if n&(n-1) != 0 {
			t.Fatalf("%d terms: %d words, not a power of two", distinct, n)
		}
		if distinct > 0 && float64(n*64) < float64(distinct)*bitsPerTerm*0.9 {
			t.Errorf("%d terms: %d bits, fewer than %d a term", distinct, n*64, bitsPerTerm)
		}
		if float64(n*64) > float64(max(distinct, 6))*bitsPerTerm*2.4 {
			t.Errorf("%d terms: %d bits, more than twice the %d a term it needs", distinct, n*64, bitsPerTerm)
		}
		direct := make([]uint64, n)
		for _, h := range all {
			direct[word(h, n)] |= mask(h)
		}
		for i := range direct {
			if got := binary.LittleEndian.Uint64(sk[sketchHeader+8*i:]); got != direct[i] {
				t.Fatalf("%d terms: word %d is %x, the filter built at its size has %x", distinct, i, got, direct[i])
			}
		}
		for _, h := range all {
			if !sk.MayHold(h) {
				t.Fatalf("%d terms: a term added is not held", distinct)
			}
		}
		// Absent terms: about 1% test present (bitsPerTerm 12, k 6).
		if distinct >= 3000 {
			fp := 0
			for i := 0; i < 20000; i++ {
				if sk.MayHold(Hash(PortTerm(6, uint16(i)))) {
					fp++
				}
			}
			if fp > 20000*3/100 {
				t.Errorf("%d terms: %d of 20000 absent terms test present", distinct, fp)
			}
		}
	}
}

// TestSummaryAny: a block holding a packet the terms cannot describe
// makes its segment's summary match every plan.
func TestSummaryAny(t *testing.T) {
	var s Summary
	var b Builder
	b.Add(AddrTerm(netip.MustParseAddr("192.0.2.1")))
	s.AddBlock(&b)
	needle := TermExpr(AddrTerm(netip.MustParseAddr("198.51.100.7")))
	if Sketch(s.Sketch(nil)).Match(needle) {
		t.Fatal("a summary without the address matches it")
	}
	b.Reset()
	b.Add(Any)
	s.AddBlock(&b)
	if !Sketch(s.Sketch(nil)).Match(needle) {
		t.Fatal("a summary of a block with KindAny does not match every plan")
	}
	s.Reset()
	if s.Blocks() != 0 || Sketch(s.Sketch(nil)).Check() != nil {
		t.Fatal("Reset does not empty the summary")
	}
}

func BenchmarkSummaryAddBlock(b *testing.B) {
	frames := mixFrames(b, 6000)
	var bl Builder
	var s Summary
	blocks := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		bl.AddPacket(1, frames[i%len(frames)])
		if i%600 == 599 {
			s.AddBlock(&bl)
			bl.Reset()
			blocks++
		}
	}
}

// TestSummaryPairsFastPath: the pairs a summary takes of a frame straight
// from its bytes are exactly every pair of an address and a port of the
// terms Terms.Packet finds in it, on the synthetic mix, the corpus's
// Ethernet frames, and mutations and truncations of them where the fast
// path decides.
func TestSummaryPairsFastPath(t *testing.T) {
	frames := mixFrames(t, 3000)
	frames = append(frames, corpusEthernet(t)...)
	var fast, slow Summary
	var fr, sr []uint64
	fast.record, slow.record = &fr, &sr
	fast.SetPairs(true)
	slow.SetPairs(true)
	var tm Terms
	took := 0
	check := func(f []byte) {
		fr, sr = fr[:0], sr[:0]
		clear(fast.cache)
		fast.pairsLost, slow.pairsLost = false, false
		if fast.fastPairs(f) {
			took++
		} else {
			fast.AddPacketPairs(1, f)
		}
		tm.Packet(1, f)
		slow.addPairs(tm.List)
		if !slices.Equal(hashSet(fr), hashSet(sr)) || fast.pairsLost != slow.pairsLost {
			t.Fatalf("pairs of %x: %d from the bytes, %d from Terms.Packet's %v", f, len(hashSet(fr)), len(hashSet(sr)), tm.List)
		}
	}
	for _, f := range frames {
		check(f)
		fastPathVariants(f, check)
	}
	if took < len(frames)/2 {
		t.Fatalf("the fast path took %d of %d frames", took, len(frames))
	}
}

// TestSummaryMatchPaired: a summary with pairs answers an and of an
// address and a port by their pair: for every flow of a mix, its
// 5-tuple's plan (as filter.Plan makes it) and host+port plans match;
// the address of one flow with a port only another flow has mostly does
// not, though each term is there.
func TestSummaryMatchPaired(t *testing.T) {
	m := synth.Generate(synth.Config{Seed: 3, Flows: 2000, Packets: 20000})
	var s Summary
	s.SetPairs(true)
	var b Builder
	var frame []byte
	for i, p := range m.Packets {
		frame = m.Frame(frame[:0], p)
		b.AddPacket(1, frame)
		s.AddPacketPairs(1, frame)
		if i%500 == 499 {
			s.AddBlock(&b)
			b.Reset()
		}
	}
	s.AddBlock(&b)
	if !s.Paired() {
		t.Fatal("the summary lost its pairs")
	}
	sk := Sketch(s.Sketch(nil))
	ports := func(p uint16) Expr {
		return Or(TermExpr(PortTerm(6, p)), TermExpr(PortTerm(17, p)), TermExpr(PortTerm(132, p)))
	}
	crossed, both := 0, 0
	for i, f := range m.Flows {
		five := And(TermExpr(ProtoTerm(f.Proto)), TermExpr(AddrTerm(f.Client)), TermExpr(AddrTerm(f.Server)), ports(f.CPort), ports(f.SPort))
		if !sk.MatchPaired(five) || !sk.MatchPaired(And(TermExpr(AddrTerm(f.Client)), ports(f.CPort))) ||
			!sk.MatchPaired(And(TermExpr(AddrTerm(f.Server)), ports(f.CPort))) {
			t.Fatalf("flow %d (%v): a plan of its own terms does not match", i, f)
		}
		g := m.Flows[(i+1)%len(m.Flows)]
		cross := And(TermExpr(AddrTerm(f.Client)), ports(g.CPort))
		if sk.Match(cross) {
			both++
			if sk.MatchPaired(cross) {
				crossed++
			}
		}
	}
	if both < 100 || crossed > both/10 {
		t.Fatalf("an address and another flow's port: %d plans match by terms, %d by pairs", both, crossed)
	}
	t.Logf("an address and another flow's port: %d plans match by terms, %d by pairs", both, crossed)
}

func BenchmarkSummaryAddPacketPairs(b *testing.B) {
	frames := mixFrames(b, 6000)
	var s Summary
	s.SetPairs(true)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.AddPacketPairs(1, frames[i%len(frames)])
	}
}
