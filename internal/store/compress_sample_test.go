package store

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// blockOf lays frames out as a block of at least size bytes.
func blockOf(frames [][]byte, size int) []byte {
	var b Block
	b.Reset(1)
	for i := 0; len(b.Data) < size; i++ {
		f := frames[i%len(frames)]
		b.Append(int64(1e18)+int64(i)*1000, len(f), f)
	}
	return b.Data
}

// TestEncryptedBlocksJudgedBySample: on a run of blocks zstd cannot
// shrink (random payloads, as TLS carries), only the first is compressed
// whole; each next one is stored raw on the word of a sample of 16 KiB,
// which is what lets compression cost almost nothing on encrypted
// traffic. A compressible block after them is compressed again, and the
// run's blocks and it decode to themselves.
func TestEncryptedBlocksJudgedBySample(t *testing.T) {
	var e blockEncoder
	frames := randomFrames(500) // more than a block: none repeats
	for i := range 20 {
		raw := blockOf(frames[i%3:], 256<<10)
		blob, enc, err := e.encode(Compression{}, raw)
		if err != nil {
			t.Fatal(err)
		}
		if enc != EncodingRaw || !bytes.Equal(blob, raw) {
			t.Fatalf("random block %d: encoding %d, want it stored raw", i, enc)
		}
	}
	if e.whole != 1 {
		t.Errorf("%d of 20 random blocks were compressed whole, want only the first", e.whole)
	}

	raw := blockOf(textFrames(400), 256<<10)
	blob, enc, err := e.encode(Compression{}, raw)
	if err != nil {
		t.Fatal(err)
	}
	if enc != EncodingZstd || len(blob) >= len(raw)/2 {
		t.Fatalf("text block after the random ones: encoding %d, %d of %d bytes: want it compressed", enc, len(blob), len(raw))
	}
	got, err := decodeBlock(enc, blob, int64(len(raw)), nil)
	if err != nil || !bytes.Equal(got, raw) {
		t.Fatalf("text block does not decode to itself: %v", err)
	}
	if e.probe {
		t.Error("a block that paid left the encoder sampling")
	}
	// A small random block (too small to sample) is compressed whole and
	// stored raw.
	small := blockOf(randomFrames(30), 8<<10)
	if _, enc, _ := e.encode(Compression{}, small); enc != EncodingRaw {
		t.Errorf("small random block: encoding %d, want raw", enc)
	}
	// Without compression nothing is encoded.
	if blob, enc, _ := e.encode(Compression{None: true}, raw); enc != EncodingRaw || !bytes.Equal(blob, raw) {
		t.Errorf("compression none: encoding %d", enc)
	}
}

// TestBlocksThatBarelyShrinkStoredRaw: a block zstd shrinks by less than
// 1/8 is stored raw: not worth the CPU nor a decode on every read. (An
// encrypted link's blocks save their headers' few percent.)
func TestBlocksThatBarelyShrinkStoredRaw(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	// Random bytes with a compressible run of 1% of the block.
	raw := make([]byte, 256<<10)
	for i := range raw {
		raw[i] = byte(rng.Uint32())
	}
	clear(raw[1000 : 1000+len(raw)/20])
	var e blockEncoder
	if _, enc, err := e.encode(Compression{}, raw); err != nil || enc != EncodingRaw {
		t.Fatalf("a block zstd shrinks by about 5%%: encoding %d, %v; want raw", enc, err)
	}
	// 20% compressible: stored compressed.
	clear(raw[1000 : 1000+len(raw)/5])
	if _, enc, err := e.encode(Compression{}, raw); err != nil || enc != EncodingZstd {
		t.Fatalf("a block zstd shrinks by about 20%%: encoding %d, %v; want zstd", enc, err)
	}
}
