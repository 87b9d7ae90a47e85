package index

// A Builder can also collect its block's address-port pairs (SetPairs),
// as a segment's Summary takes them of every packet (summary_pairs.go):
// the pairs then come from the walk that builds the block's sketch, on
// the recorder's preparers, instead of a second walk of every block on
// the writer (Summary.AddPacketPairs). They are the same pairs: on the
// fast paths a packet's pairs, like its terms, are functions of its
// 5-tuple, added with them and skipped with them for the flow's later
// packets; every other packet's come from Terms.Packet's list.
// TestBuilderPairs checks that a summary gets the same sketch either way.

// SetPairs has the builder collect each block's address-port pairs from
// now on (Reset keeps the setting). Changing it empties the flow cache's
// notes of what blocks hold, so that no packet is taken as seen without
// its pairs.
func (b *Builder) SetPairs(on bool) {
	if b.pairsOn != on {
		b.pairsOn = on
		b.Reset()
	}
}

// HasPairs reports whether the builder collected its block's pairs.
func (b *Builder) HasPairs() bool { return b.pairsOn }

func (b *Builder) addPair(h uint64) { b.pairs = append(b.pairs, h) }

// addPairs4 adds the four pairs of two address hashes and two port
// hashes.
func (b *Builder) addPairs4(sa, da, sp, dp uint64) {
	b.pairs = append(b.pairs, PairHash(sa, sp), PairHash(sa, dp), PairHash(da, sp), PairHash(da, dp))
}

// AddBlockPairs adds the pairs b collected of its block (SetPairs) to
// the summary, as AddPacketPairs of each of its packets would. It
// reports false, adding nothing, when b collected none: the caller adds
// them packet by packet.
func (s *Summary) AddBlockPairs(b *Builder) bool {
	if !b.pairsOn {
		return false
	}
	if !s.pairsOn {
		return true
	}
	if b.pairsLost {
		s.pairsLost = true
	}
	for _, h := range b.pairs {
		s.addPair(h)
	}
	return true
}

// PairsOn reports whether the summary takes pairs (SetPairs).
func (s *Summary) PairsOn() bool { return s.pairsOn }
