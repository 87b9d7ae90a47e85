package index

import (
	"math"
	"math/bits"
)

// A Summary collects the terms of every block of one segment (a store's
// database of one recording's packets) into one Sketch, sized for the
// segment's distinct terms: the catalog keeps it, and a store selection
// opens only the segments whose summary may hold a match.
//
// It is fed the hashes each block's Builder already computed (AddBlock),
// its Community IDs' too (it holds them, flagCID, when every block did),
// so the capture path hashes nothing twice: each hash sets its k bits in
// an accumulator of summaryWords words. Sketch folds the accumulator down
// to the smallest power of two of words that gives the distinct terms
// (estimated from the accumulator's fill) bitsPerTerm bits each. Folding
// is exact because a Sketch picks a term's word by the high bits of its
// hash (Hash>>32 times the number of words, shifted down by 32): with n =
// 2^j words that is the hash's top j bits, so word w of a filter of 2^J
// words lands in word w >> (J-j) of one of 2^j, and OR-ing those words
// gives exactly the filter built at the smaller size. The result is an
// ordinary Sketch (same version, k and layout), read with MayHold, Match
// and Has.
//
// The zero value is ready; it allocates its accumulator (1 MiB) at the
// first block. A segment with more distinct terms than the accumulator
// holds at bitsPerTerm (about 700k) gets a fuller summary: more false
// "may hold", never a false "does not".
type Summary struct {
	acc    []uint64
	any    bool
	noCID  bool // a block added without its Community IDs (no flagCID)
	blocks int64
	// Pairs (summary_pairs.go).
	pairsOn, pairsLost bool
	terms              Terms
	cache              []pairKey // the last packets' pairs, by hash
	record             *[]uint64 // tests: every pair added
}

// summaryWords is the accumulator's size: 2^17 64-bit words (1 MiB).
const summaryWords = 1 << 17

// AddBlock adds the terms of the block b has just been given (b's hashes
// and its KindAny flag); b is unchanged.
func (s *Summary) AddBlock(b *Builder) {
	if s.acc == nil {
		s.acc = make([]uint64, summaryWords)
	}
	acc := s.acc
	for _, h := range b.hashes {
		acc[word(h, summaryWords)] |= mask(h)
	}
	for _, h := range b.flows.hashes {
		acc[word(h, summaryWords)] |= mask(h)
	}
	s.any = s.any || b.any
	s.noCID = s.noCID || !b.flows.on
	s.blocks++
}

// AddAny says the segment holds a block whose terms are not known (one
// that got no sketch): the summary then matches every plan.
func (s *Summary) AddAny() {
	s.any = true
	s.blocks++
}

// Blocks is how many blocks were added.
func (s *Summary) Blocks() int64 { return s.blocks }

// Reset empties the summary for the next segment (keeping its memory).
func (s *Summary) Reset() {
	clear(s.acc)
	s.any = false
	s.noCID = false
	s.blocks = 0
	s.pairsLost = false
	clear(s.cache)
}

// distinct estimates the distinct terms added from the accumulator's
// fill: a term sets k bits of one word, so with X of the m bits set about
// -(m/k) ln(1 - X/m) terms were added (Swamidass and Baldi's estimate).
func (s *Summary) distinct() float64 {
	ones := 0
	for _, x := range s.acc {
		ones += bits.OnesCount64(x)
	}
	m := float64(len(s.acc) * 64)
	if float64(ones) >= m {
		return math.Inf(1)
	}
	return -m / sketchK * math.Log(1-float64(ones)/m)
}

// Sketch appends the segment's summary to dst: a Sketch of a power of
// two of words, at least bitsPerTerm bits a distinct term where the
// accumulator allows. The summary is unchanged.
func (s *Summary) Sketch(dst []byte) []byte {
	var flags byte
	if s.any {
		flags |= flagAny
	}
	if !s.noCID {
		flags |= flagCID // every block's IDs are in it
	}
	dst = append(dst, sketchVersion, sketchK, flags)
	if s.acc == nil {
		return append(dst, make([]byte, 8)...)
	}
	need := s.distinct() * bitsPerTerm / 64
	n := 1
	for n < summaryWords && float64(n) < need {
		n <<= 1
	}
	shift := bits.TrailingZeros(uint(summaryWords / n))
	for i := 0; i < n; i++ {
		var w uint64
		for _, x := range s.acc[i<<shift : (i+1)<<shift] {
			w |= x
		}
		dst = appendWord(dst, w)
	}
	return dst
}

func appendWord(dst []byte, w uint64) []byte {
	return append(dst, byte(w), byte(w>>8), byte(w>>16), byte(w>>24), byte(w>>32), byte(w>>40), byte(w>>48), byte(w>>56))
}
