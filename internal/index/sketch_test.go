package index

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/packetrecorderd/packetrecorderd/internal/pcapio"
	"github.com/packetrecorderd/packetrecorderd/internal/testkit"

	"github.com/packetrecorderd/packetrecorderd/internal/index/synth"
)

func mixFrames(tb testing.TB, n int) [][]byte {
	m := synth.Generate(synth.Config{Seed: 5, Flows: n / 10, Packets: n})
	var out [][]byte
	for _, p := range m.Packets {
		out = append(out, m.Frame(nil, p))
	}
	return out
}

func BenchmarkBuilderAddPacket(b *testing.B) {
	frames := mixFrames(b, 5000)
	var bl Builder
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%600 == 0 {
			bl.Reset() // a block of 256 KiB holds about 600 packets
		}
		bl.AddPacket(1, frames[i%len(frames)])
	}
}

func BenchmarkBuilderAdd(b *testing.B) {
	var bl Builder
	t := Term{Kind: KindAddr, Addr: netip.MustParseAddr("10.1.2.3")}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if i%3000 == 0 {
			bl.Reset()
		}
		t.Port = uint16(i)
		bl.Add(t)
	}
}

func BenchmarkBuilderSketch(b *testing.B) {
	frames := mixFrames(b, 600)
	var bl Builder
	for _, f := range frames {
		bl.AddPacket(1, f)
	}
	var buf []byte
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf = bl.Sketch(buf[:0])
	}
}

// TestSketchNoFalseNo: every term added is found after folding, for
// blocks of 1 to 20000 distinct terms, and terms never added are
// reported present at most a few percent of the time (10 bits a term,
// k=6: about 1.5% for a Bloom filter blocked in 64-bit words).
func TestSketchNoFalseNo(t *testing.T) {
	var b Builder
	for _, n := range []int{1, 10, 100, 1000, 5000, 20000} {
		b.Reset()
		terms := make([]Term, n)
		for i := range terms {
			terms[i] = Term{Kind: KindPort, Proto: 6, Port: uint16(i)}
			if i%2 == 1 {
				terms[i] = Term{Kind: KindAddr, Addr: netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})}
			}
			b.Add(terms[i])
		}
		s := Sketch(b.Sketch(nil))
		if err := s.Check(); err != nil {
			t.Fatal(err)
		}
		for _, tm := range terms {
			if !s.MayHold(Hash(tm)) || !s.Match(Expr{Op: OpTerm, Term: tm}) {
				t.Fatalf("%d terms: %v added but not found", n, tm)
			}
		}
		fp := 0
		const probes = 20000
		for i := range probes {
			if s.MayHold(Hash(Term{Kind: KindAddr, Addr: netip.AddrFrom4([4]byte{192, 168, byte(i >> 8), byte(i)})})) {
				fp++
			}
		}
		bitsPerTerm := float64(len(s)-sketchHeader) * 8 / float64(n)
		t.Logf("%d terms: %d bytes (%.1f bits a term), false yes %.2f%%", n, len(s), bitsPerTerm, 100*float64(fp)/probes)
		if n >= 100 && (fp > probes*4/100 || bitsPerTerm > 25) {
			t.Errorf("%d terms: %d bytes (%.1f bits a term), false yes %d of %d", n, len(s), bitsPerTerm, fp, probes)
		}
	}
}

// TestSketchMatch: the and/or/not-free structure of a plan over a sketch.
func TestSketchMatch(t *testing.T) {
	var b Builder
	a := Term{Kind: KindAddr, Addr: netip.MustParseAddr("10.0.0.1")}
	p := Term{Kind: KindPort, Proto: 6, Port: 443}
	absent := Term{Kind: KindAddr, Addr: netip.MustParseAddr("2001:db8::1")}
	b.Add(a)
	b.Add(p)
	s := Sketch(b.Sketch(nil))
	term := func(t Term) Expr { return Expr{Op: OpTerm, Term: t} }
	for _, c := range []struct {
		e    Expr
		want bool
	}{
		{All, true},
		{Expr{Op: OpNone}, false},
		{term(a), true},
		{term(absent), false},
		{Expr{Op: OpAnd, Args: []Expr{term(a), term(p)}}, true},
		{Expr{Op: OpAnd, Args: []Expr{term(a), term(absent)}}, false},
		{Expr{Op: OpOr, Args: []Expr{term(absent), term(p)}}, true},
		{Expr{Op: OpOr, Args: []Expr{term(absent)}}, false},
		{Expr{Op: OpPrefix, Prefix: netip.MustParsePrefix("2001:db8::/32")}, true},
		{Expr{Op: OpPrefix, Prefix: netip.MustParsePrefix("2001:db8::1/128")}, false},
		{term(Term{Kind: KindCommunityID}), true},
	} {
		if got := s.Match(c.e); got != c.want {
			t.Errorf("Match(%+v) = %v, want %v", c.e, got, c.want)
		}
	}
	w8 := make([]byte, 8)
	for _, bad := range []Sketch{nil, {2}, {2, 6, 0, 0, 0}, append(Sketch{3, 6, 0}, w8...), append(Sketch{2, 6, 4}, w8...), append(Sketch{2, 5, 0}, w8...), append(Sketch{2, 6, 0, 1}, w8...)} {
		if bad.Check() == nil {
			t.Errorf("Check(%x) accepted a damaged sketch", []byte(bad))
		}
	}
}

// TestAddPacketFastPath: the fast path of AddPacket adds exactly the
// terms Terms.Packet finds, on the synthetic mix, on every Ethernet
// packet of the corpus, and on those packets with bytes changed where
// the fast path decides (type fields, header lengths, fragment fields,
// protocols, ports).
func TestAddPacketFastPath(t *testing.T) {
	frames := mixFrames(t, 3000)
	frames = append(frames, corpusEthernet(t)...)
	var fast, slow Builder
	var tm Terms
	check := func(f []byte) bool {
		fast.Reset()
		slow.Reset()
		took := fast.fastPacket(f)
		tm.Packet(1, f)
		for _, x := range tm.List {
			slow.Add(x)
		}
		if !took {
			return false
		}
		if !slices.Equal(hashSet(fast.hashes), hashSet(slow.hashes)) || fast.any != slow.any {
			t.Fatalf("fast path terms differ from Terms.Packet's %v for %x", tm.List, f)
		}
		return true
	}
	n := 0
	for _, f := range frames {
		if check(f) {
			n++
		}
		fastPathVariants(f, func(g []byte) { check(g) })
	}
	if n < len(frames)/2 {
		t.Errorf("the fast path took %d of %d frames", n, len(frames))
	}
}

// fastPathVariants calls fn with each copy of frame f changed where the
// fast paths decide (type fields, header lengths, fragment fields,
// protocols, ports), then with f cut short at every third byte of its
// first 80.
func fastPathVariants(f []byte, fn func([]byte)) {
	for _, o := range []int{12, 13, 14, 16, 17, 20, 21, 22, 23, 24, 25, 28, 34, 36, 37, 54, 56, 57} {
		if o >= len(f) {
			continue
		}
		for _, v := range []byte{0x00, 0x08, 0x81, 0x86, 0xdd, 0x88, 0x45, 0x4f, 0x41, 0x11, 0x06, 0x2c, 0x17, 0xc1, 0x20} {
			g := slices.Clone(f)
			g[o] = v
			fn(g)
		}
	}
	for cut := 0; cut < min(len(f), 80); cut += 3 {
		fn(f[:cut])
	}
}

func corpusEthernet(t *testing.T) [][]byte {
	dir := filepath.Join(testkit.CorpusRoot(), "pcap")
	names, err := filepath.Glob(filepath.Join(dir, "*.pcap*"))
	if err != nil || len(names) == 0 {
		t.Logf("no corpus in %s: synthetic frames only", dir)
		return nil
	}
	var out [][]byte
	for _, name := range names {
		f, err := os.Open(name)
		if err != nil {
			continue
		}
		r, err := pcapio.NewReader(f)
		if err != nil {
			f.Close()
			continue
		}
		for {
			p, err := r.Next()
			if err != nil {
				break
			}
			if p.LinkType == 1 {
				out = append(out, slices.Clone(p.Data))
			}
		}
		f.Close()
	}
	return out
}

func hashSet(h []uint64) []uint64 {
	h = slices.Clone(h)
	slices.Sort(h)
	return slices.Compact(h)
}
