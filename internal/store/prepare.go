package store

import "github.com/packetrecorderd/packetrecorderd/internal/index"

// A block can be prepared ahead of its Append, on another goroutine than
// the Writer's: its sketch for the block index built and its blob
// compressed (PrepareBlock). Append then only inserts what was made, so
// a recorder keeps the CPU of compression and sketching off the
// goroutine that writes to SQLite, and spreads it over several cores.
//
// The preparation rides on the Block and holds only for the bytes it was
// made of: a Block that is Reset, or whose Data is another buffer (a
// copy held in memory while the store fails) or of another length, is
// prepared again by Append itself, so a stale blob is never stored. A
// compressed blob is used only by a Writer that compresses the same way,
// and a block's terms without their pairs only by a Writer whose summary
// takes none.

// prepared is a block's stored form, made by PrepareBlock. Its buffers
// belong to the Block and are reused from one fill to the next.
type prepared struct {
	valid    bool
	data     *byte // &Data[0] of the block it was made of
	n, count int
	encoding int64
	frame    []byte // the compressed blob when encoding is not EncodingRaw
	sketchOK bool
	sketch   []byte
	terms    index.Builder // the block's terms, for a segment summary (CopyTerms)
}

// usable reports whether p was made of b's current bytes and may be
// stored by a Writer compressing with c, whose segment summary takes
// address-port pairs if pairs is set (then p must have collected them).
func (p *prepared) usable(b *Block, c Compression, pairs bool) bool {
	return p != nil && p.valid && len(b.Data) > 0 && p.data == &b.Data[0] && p.n == len(b.Data) && p.count == b.Count &&
		(p.encoding == EncodingRaw || p.encoding == c.encoding()) && (!pairs || p.terms.HasPairs())
}

// Preparer holds one goroutine's compression state for PrepareBlock. A
// Preparer is used by one goroutine at a time.
type Preparer struct {
	// Pairs has the block's address-port pairs collected with its
	// terms, for a Writer whose segment summary takes them
	// (index.Summary.SetPairs): its Append then walks the block no more.
	Pairs bool

	zenc blockEncoder
	b    index.Builder // its caches stay warm from block to block
}

// PrepareBlock builds b's sketch and blob, compressed as c says unless
// raw is set (then stored raw: it stays readable, only larger). It
// reports whether the blob is compressed. b must not change until it is
// appended (or Reset); other goroutines must not touch b meanwhile.
func (pr *Preparer) PrepareBlock(b *Block, c Compression, raw bool) (compressed bool) {
	p := b.prep
	if p == nil {
		p = &prepared{}
		b.prep = p
	}
	p.valid = false
	if b.Count == 0 || len(b.Data) == 0 {
		return false
	}
	pr.b.SetPairs(pr.Pairs)
	pr.b.Reset()
	err := WalkBlock(b.Data, 1, b.LinkType, 0, func(r Record) error {
		pr.b.AddPacket(b.LinkType, r.Data)
		return nil
	})
	p.sketch = pr.b.Sketch(p.sketch[:0])
	p.sketchOK = err == nil
	pr.b.CopyTerms(&p.terms)
	p.encoding = EncodingRaw
	if !raw && !c.None {
		// The frame is written into the block's own buffer: the Writer
		// inserts it from there, with no copy.
		pr.zenc.buf, p.frame = p.frame, nil
		_, enc, err := pr.zenc.encode(c, b.Data)
		p.frame, pr.zenc.buf = pr.zenc.buf, nil
		if err != nil {
			return false // Append compresses it itself, and reports the error
		}
		p.encoding = enc
	}
	p.data, p.n, p.count = &b.Data[0], len(b.Data), b.Count
	p.valid = true
	return p.encoding != EncodingRaw
}

// blob is the prepared blob of b.
func (p *prepared) blob(b *Block) []byte {
	if p.encoding != EncodingRaw {
		return p.frame
	}
	return b.Data
}

// writeSketch inserts a prepared sketch for block id.
func (s *sketcher) writeSketch(session, id, bytes int64, sketch []byte) error {
	st := s.insert
	st.BindInt64(1, session)
	st.BindInt64(2, id)
	st.BindInt64(3, bytes)
	st.BindBlob(4, sketch)
	return st.Exec()
}
