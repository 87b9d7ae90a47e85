package index

// CopyTerms makes dst hold what a Summary takes of b's block (AddBlock,
// AddBlockPairs): its terms' hashes, its Community IDs', its KindAny
// flag and its pairs, and nothing else (dst builds no sketch). A recorder sketches blocks on
// goroutines whose Builders keep their caches warm from one block to the
// next, and hands each block's terms on to the writer, which adds them to
// the summary of the segment the block lands in.
func (b *Builder) CopyTerms(dst *Builder) {
	dst.hashes = append(dst.hashes[:0], b.hashes...)
	dst.flows.hashes = append(dst.flows.hashes[:0], b.flows.hashes...)
	dst.flows.on = b.flows.on
	dst.any = b.any
	dst.pairsOn, dst.pairsLost = b.pairsOn, b.pairsLost
	dst.pairs = append(dst.pairs[:0], b.pairs...)
}
