package index

import (
	"bytes"
	"slices"
	"testing"
)

// TestBuilderPairs: a segment's summary that takes each block's pairs
// from the Builder that sketched it (SetPairs, AddBlockPairs) holds
// exactly the pairs it takes packet by packet (AddPacketPairs), and says
// the same of whether it has them all (Paired), on the synthetic mix and
// the corpus's Ethernet packets, each followed in its block by copies
// changed where the fast paths decide and cut short.
func TestBuilderPairs(t *testing.T) {
	frames := mixFrames(t, 3000)
	frames = append(frames, corpusEthernet(t)...)
	var byBlock, byPacket Summary
	var recBlock, recPacket []uint64
	byBlock.SetPairs(true)
	byPacket.SetPairs(true)
	byBlock.record, byPacket.record = &recBlock, &recPacket
	var pb, plain Builder
	pb.SetPairs(true)
	var block [][]byte
	flush := func() {
		pb.Reset()
		plain.Reset()
		for _, f := range block {
			pb.AddPacket(1, f)
			plain.AddPacket(1, f)
			byPacket.AddPacketPairs(1, f)
		}
		if !byBlock.AddBlockPairs(&pb) {
			t.Fatal("a builder with pairs gave none")
		}
		if byBlock.AddBlockPairs(&plain) {
			t.Fatal("a builder without pairs gave some")
		}
		byBlock.AddBlock(&pb)
		byPacket.AddBlock(&plain)
		if byBlock.Paired() != byPacket.Paired() {
			t.Fatalf("paired %v by block, %v packet by packet", byBlock.Paired(), byPacket.Paired())
		}
		block = block[:0]
	}
	for i, f := range frames {
		block = append(block, f, f)
		fastPathVariants(f, func(g []byte) { block = append(block, g, f) })
		if i%5 == 4 {
			flush()
		}
	}
	flush()
	// Every pair the summaries added (they record each).
	gotSet, wantSet := hashSet(recBlock), hashSet(recPacket)
	if !slices.Equal(gotSet, wantSet) {
		t.Fatalf("pairs by block: %d; packet by packet: %d", len(gotSet), len(wantSet))
	}
	if !byBlock.Paired() || len(gotSet) < 1000 {
		t.Fatalf("paired %v with %d pairs: the test adds too few", byBlock.Paired(), len(gotSet))
	}
	a, b := byBlock.Sketch(nil), byPacket.Sketch(nil)
	if !bytes.Equal(a, b) {
		t.Fatal("the summaries' sketches differ")
	}

}
