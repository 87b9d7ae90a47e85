package index

import (
	"slices"
	"testing"
)

// TestAddPacketFlowMemo: a block whose packets repeat flows gets exactly
// the terms and Community IDs that its packets add one by one, each to a
// Builder of its own (where no packet can find its flow noted before
// it): on the synthetic mix and the corpus's Ethernet packets, each
// followed in the same block by copies of itself with the bytes changed
// where the fast paths decide (type fields, header lengths, fragment
// fields, protocols, ports) and cut short, so that packets of one
// 5-tuple take the fast path and the slow one in turn.
func TestAddPacketFlowMemo(t *testing.T) {
	frames := mixFrames(t, 3000)
	frames = append(frames, corpusEthernet(t)...)
	var block, one Builder
	var want, got []uint64
	wantAny := false
	flush := func() {
		got = append(append(got[:0], block.hashes...), block.flows.hashes...)
		if !slices.Equal(hashSet(got), hashSet(want)) || block.any != wantAny {
			t.Fatalf("a block's terms differ from its packets' own: %d terms, want %d (any %v, want %v)",
				len(hashSet(got)), len(hashSet(want)), block.any, wantAny)
		}
		block.Reset()
		want, wantAny = want[:0], false
	}
	add := func(f []byte) {
		block.AddPacket(1, f)
		one.Reset()
		one.AddPacket(1, f)
		want = append(append(want, one.hashes...), one.flows.hashes...)
		wantAny = wantAny || one.any
	}
	memoHits := 0
	for i, f := range frames {
		add(f)
		before := len(block.hashes)
		add(f) // the same packet again: nothing new
		if len(block.hashes) == before {
			memoHits++
		}
		fastPathVariants(f, func(g []byte) {
			add(g)
			add(f)
		})
		if i%7 == 6 {
			flush()
		}
	}
	flush()
	if memoHits < len(frames)/2 {
		t.Errorf("a repeated packet added nothing in %d of %d blocks", memoHits, len(frames))
	}
}
