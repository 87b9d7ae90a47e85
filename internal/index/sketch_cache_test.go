package index

import (
	"math"
	"slices"
	"testing"
)

// TestBuilderTermCache: within a block, a term its packets repeat is
// hashed and added once (the capture path's saving: one flow's packets
// carry the same five terms), and the block's terms are still exactly
// those Terms.Packet finds in all its packets together; Reset starts a
// new block whose terms are added again, also after the cache's
// generation counter wraps.
func TestBuilderTermCache(t *testing.T) {
	frames := mixFrames(t, 20000)
	frames = append(frames, corpusEthernet(t)...)

	// One block of everything, no Reset between packets.
	var fast, slow Builder
	var tm Terms
	for _, f := range frames {
		fast.AddPacket(1, f)
		tm.Packet(1, f)
		for _, x := range tm.List {
			slow.Add(x)
		}
	}
	if !slices.Equal(hashSet(fast.hashes), hashSet(slow.hashes)) || fast.any != slow.any {
		t.Fatalf("a block's terms with the cache (%d distinct) differ from Terms.Packet's (%d distinct)", len(hashSet(fast.hashes)), len(hashSet(slow.hashes)))
	}
	if len(fast.hashes) >= len(slow.hashes) {
		t.Errorf("the cache left no repeat out: %d hashes added, %d without it", len(fast.hashes), len(slow.hashes))
	}

	// One flow's packets: its five terms, once each.
	var one Builder
	udp := frames[0]
	for _, f := range frames {
		if len(f) > 23 && f[23] == 17 && f[12] == 0x08 && f[13] == 0 {
			udp = f
			break
		}
	}
	for range 1000 {
		one.AddPacket(1, udp)
	}
	tm.Packet(1, udp)
	if want := len(hashSet(func() []uint64 {
		var h []uint64
		for _, x := range tm.List {
			h = append(h, Hash(x))
		}
		return h
	}())); len(one.hashes) != want {
		t.Errorf("1000 packets of one flow added %d hashes, want its %d terms once each", len(one.hashes), want)
	}

	// Reset: the next block gets the same terms again.
	first := slices.Clone(one.hashes)
	one.Reset()
	one.AddPacket(1, udp)
	if !slices.Equal(one.hashes, first) {
		t.Errorf("after Reset the flow's packet added %d hashes, want the %d of its terms", len(one.hashes), len(first))
	}
	// A generation counter that wraps empties the cache too.
	one.gen = math.MaxUint32
	one.Reset()
	one.AddPacket(1, udp)
	if !slices.Equal(one.hashes, first) {
		t.Errorf("after the generation wrapped the flow's packet added %d hashes, want the %d of its terms", len(one.hashes), len(first))
	}
}
