package index

import (
	"encoding/binary"
	"errors"
	"math"
	"math/bits"
	"net/netip"
)

// A Sketch is the index of one stored block: a Bloom filter of the Terms
// its packets carry. It answers "may this block hold a packet carrying
// T?" with no false "no" and about 1% false "yes" per term (less for the
// and of several). One sketch is written with its block, in the same
// transaction, so a block is findable as soon as it is visible.
//
// Why a per-block sketch and not term -> block postings: measured on a
// synthetic mix of 300k flows (see bench/indexbench), sketches take
// 0.3-0.5% of the stored bytes, cost one row per block (the postings of
// one 100 ms commit are one row per distinct term, 10-20x the bytes until
// compacted), need no compaction when a segment closes, and a damaged or
// missing sketch costs reading one block, never a wrong answer. Their
// lookup reads every sketch of a session (a few hundred KiB per GiB of
// packets), which is well under 1% of the bytes a scan reads.
//
// Layout, all little-endian: a version byte (2), the number of bits set
// per term (k), a flags byte (1: the block holds a packet the terms
// cannot describe, KindAny; 2: the block's Community IDs are in it, see
// sketch_cid.go), then the filter's 64-bit words, as many as
// give the block's distinct terms about bitsPerTerm bits each. A term
// sets k bits of one word (a Bloom filter blocked in words: one memory
// access a term): the word is picked by the high 32 bits of the term's
// Hash (multiplied by the number of words, shifted down by 32), the bits
// by its low 36 bits, 6 bits each.
type Sketch []byte

const (
	sketchVersion = 2
	sketchK       = 6
	// sketchHeader is the version, k and flags bytes before the words.
	sketchHeader = 3
	// flagAny: a packet of the block carries KindAny (the terms cannot
	// describe it), so the block may hold a match for every plan.
	flagAny = 1
	// bitsPerTerm sizes a sketch: with k = 6 bits a term in 64-bit
	// words, about 1% of the terms a block lacks are reported present.
	bitsPerTerm = 12
	// estWords is the size of the bitmap a Builder estimates the number
	// of distinct terms with (256 Kbit: a block of 200k distinct terms
	// would saturate it; a 256 KiB block holds at most about 20k).
	estWords = 1 << 12
)

// ErrBadSketch reports a sketch whose bytes are not a sketch.
var ErrBadSketch = errors.New("damaged block sketch")

// Hash is the 64-bit hash of a Term as sketches use it. It is part of the
// on-disk format: it must never change for a sketch version.
func Hash(t Term) uint64 {
	switch t.Kind {
	case KindAddr:
		return hashAddr(t.Addr)
	case KindPort:
		return hashPort(t.Proto, t.Port)
	case KindProto:
		return hashProto(t.Proto)
	case KindVLAN:
		return hash2(uint64(KindVLAN)<<60|uint64(t.VLAN), 0)
	case KindCommunityID:
		return hash2(uint64(KindCommunityID)<<60^binary.BigEndian.Uint64(t.CID[:8]), binary.BigEndian.Uint64(t.CID[8:16]))
	}
	return hash2(uint64(t.Kind)<<60, 0)
}

func hashAddr(a netip.Addr) uint64 {
	if a.Is4() {
		v4 := a.As4()
		return hash2(addr4Key(binary.BigEndian.Uint32(v4[:])), 0)
	}
	v6 := a.As16()
	return hash2(uint64(KindAddr)<<60^6<<56^binary.BigEndian.Uint64(v6[:8]), binary.BigEndian.Uint64(v6[8:]))
}

func hashPort(proto uint8, port uint16) uint64 { return hash2(portKey(proto, port), 0) }

func hashProto(proto uint8) uint64 { return hash2(protoKey(proto), 0) }

// The keys the hashes of an IPv4 address, a port and a protocol are
// computed from: distinct for distinct terms (the kind in the top four
// bits).
func addr4Key(a uint32) uint64 { return uint64(KindAddr)<<60 | 4<<32 | uint64(a) }
func portKey(proto uint8, port uint16) uint64 {
	return uint64(KindPort)<<60 | uint64(proto)<<16 | uint64(port)
}
func protoKey(proto uint8) uint64 { return uint64(KindProto)<<60 | uint64(proto) }

func hash2(a, b uint64) uint64 { return mix(mix(a) ^ b ^ 0x9e3779b97f4a7c15) }

// mix is splitmix64's finalizer.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// mask is the k bits a hash sets in its word (from the hash's low 36
// bits, 6 per bit; two may coincide, which only sets fewer bits).
func mask(h uint64) uint64 {
	return 1<<(h&63) | 1<<(h>>6&63) | 1<<(h>>12&63) | 1<<(h>>18&63) | 1<<(h>>24&63) | 1<<(h>>30&63)
}

// word is the index of the word of a filter of n words a hash sets.
func word(h uint64, n int) int { return int((h >> 32) * uint64(n) >> 32) }

// Builder collects the terms of one block's packets. The zero value is
// ready; Reset empties it for the next block. It allocates only while its
// buffers grow.
type Builder struct {
	hashes  []uint64 // of the terms added (most repeats left out, see seen)
	est     []uint64 // a bitmap estimating the number of distinct terms
	scratch []uint64
	terms   Terms
	any     bool    // a packet the terms cannot describe (KindAny)
	flows   flowIDs // the packets' Community IDs (sketch_cid.go)

	// Address-port pairs for a segment's summary (builder_pairs.go),
	// when SetPairs is on: the hashes of the block's pairs (PairHash),
	// and whether a packet had too many.
	pairsOn, pairsLost bool
	pairs              []uint64

	// seen is a direct-mapped cache of the terms this block already has,
	// by their key (the first argument of hash2 for an IPv4 address, a
	// port or a protocol: see addKey), valid where seenGen is gen. The
	// packets of a block repeat their addresses, ports and protocols: a
	// term found here is neither hashed nor added again, which the
	// sketch does not need (a Bloom filter holds a term once). A miss
	// only costs the hash.
	seenKey [seenSize]uint64
	seenGen [seenSize]uint32
	gen     uint32
}

// seenSize is the number of entries of a Builder's term cache.
const (
	seenBits = 10
	seenSize = 1 << seenBits
)

// addKey adds the term whose Hash is hash2(k, 0) (hashAddr of an IPv4
// address, hashPort, hashProto: their keys never collide), unless the
// cache says the block has it already.
func (b *Builder) addKey(k uint64) {
	if b.gen == 0 {
		b.gen = 1 // the zero Builder: entries of generation 0 are empty
	}
	i := (k * 0x9e3779b97f4a7c15) >> (64 - seenBits)
	if b.seenGen[i] == b.gen && b.seenKey[i] == k {
		return
	}
	b.seenKey[i], b.seenGen[i] = k, b.gen
	b.AddHash(hash2(k, 0))
}

// Add records that a packet of the block carries t.
func (b *Builder) Add(t Term) {
	switch t.Kind {
	case KindAddr:
		b.AddHash(hashAddr(t.Addr))
	case KindPort:
		b.AddHash(hashPort(t.Proto, t.Port))
	case KindAny:
		b.any = true
	default:
		b.AddHash(Hash(t))
	}
}

// AddHash records a term by its Hash.
func (b *Builder) AddHash(h uint64) {
	if b.est == nil {
		b.est = make([]uint64, estWords)
	}
	b.est[h>>52] |= 1 << (h & 63)
	b.hashes = append(b.hashes, h)
}

// Reset empties the builder.
func (b *Builder) Reset() {
	clear(b.est)
	b.hashes = b.hashes[:0]
	b.any = false
	b.pairs, b.pairsLost = b.pairs[:0], false
	b.flows.reset()
	// A new generation empties the term cache without clearing it.
	b.gen++
	if b.gen == 0 {
		clear(b.seenGen[:])
		b.gen = 1
	}
}

// distinct estimates the number of distinct terms added (linear
// counting over the est bitmap, one bit a term).
func (b *Builder) distinct() float64 {
	ones := 0
	for _, x := range b.est {
		ones += bits.OnesCount64(x)
	}
	m := float64(estWords * 64)
	added := float64(len(b.hashes) + len(b.flows.hashes))
	if ones >= estWords*64 {
		return added
	}
	return min(-m*math.Log(1-float64(ones)/m), added)
}

// Sketch appends the sketch of what was added to dst. The builder is
// unchanged.
func (b *Builder) Sketch(dst []byte) []byte {
	n := max(1, int(math.Ceil(b.distinct()*bitsPerTerm/64)))
	if cap(b.scratch) < n {
		b.scratch = make([]uint64, n)
	}
	w := b.scratch[:n]
	clear(w)
	for _, h := range b.hashes {
		w[word(h, n)] |= mask(h)
	}
	for _, h := range b.flows.hashes {
		w[word(h, n)] |= mask(h)
	}
	var flags byte
	if b.any {
		flags |= flagAny
	}
	if b.flows.on {
		flags |= flagCID
	}
	dst = append(dst, sketchVersion, sketchK, flags)
	for _, x := range w {
		dst = binary.LittleEndian.AppendUint64(dst, x)
	}
	return dst
}

// Check reports whether s has a sketch's layout.
func (s Sketch) Check() error {
	if len(s) < sketchHeader+8 || s[0] != sketchVersion || s[1] != sketchK || s[2]&^(flagAny|flagCID) != 0 || (len(s)-sketchHeader)%8 != 0 {
		return ErrBadSketch
	}
	return nil
}

// MayHold reports whether the block may hold a packet carrying the term
// whose Hash is h. s must have passed Check.
func (s Sketch) MayHold(h uint64) bool {
	n := (len(s) - sketchHeader) / 8
	i := word(h, n)
	w := binary.LittleEndian.Uint64(s[sketchHeader+8*i:])
	m := mask(h)
	return w&m == m
}

// Match reports whether the block may hold a packet the planned
// expression selects. s must have passed Check.
func (s Sketch) Match(e Expr) bool { return e.Eval(s) }

// Has is TermSet's: whether the block may hold t. Every Community ID
// may be in a sketch without flagCID.
func (s Sketch) Has(t Term) bool {
	switch t.Kind {
	case KindAny:
		return s[2]&flagAny != 0
	case KindCommunityID:
		return s[2]&flagCID == 0 || s.MayHold(Hash(t))
	}
	return s.MayHold(Hash(t))
}

// HasPrefix is TermSet's: a sketch answers for a single address only;
// any wider prefix may be there.
func (s Sketch) HasPrefix(p netip.Prefix) bool {
	if p.IsValid() && p.IsSingleIP() {
		return s.MayHold(hashAddr(p.Addr()))
	}
	return true
}

// maxRangeProbes bounds the ports of a range a sketch is asked about one
// by one; a wider range may always be there.
const maxRangeProbes = 256

// HasPortRange is TermSet's.
func (s Sketch) HasPortRange(proto uint8, lo, hi uint16) bool {
	if hi < lo || int(hi)-int(lo) >= maxRangeProbes {
		return hi >= lo
	}
	for p := int(lo); p <= int(hi); p++ {
		if s.MayHold(hashPort(proto, uint16(p))) {
			return true
		}
	}
	return false
}

var _ TermSet = Sketch(nil)

// Narrows reports whether e can leave any block out: an expression that
// is All (or made only of parts that narrow nothing) is answered by
// reading every block, without looking at sketches.
func Narrows(e Expr) bool {
	switch e.Op {
	case OpNone:
		return true
	case OpTerm:
		return true
	case OpPrefix:
		return e.Prefix.IsValid() && e.Prefix.IsSingleIP()
	case OpPortRange:
		return e.PortHi < e.Term.Port || int(e.PortHi)-int(e.Term.Port) < maxRangeProbes
	case OpAnd:
		for _, a := range e.Args {
			if Narrows(a) {
				return true
			}
		}
		return false
	case OpOr:
		if len(e.Args) == 0 {
			return true
		}
		for _, a := range e.Args {
			if !Narrows(a) {
				return false
			}
		}
		return true
	}
	return false
}
