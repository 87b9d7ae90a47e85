package store

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"runtime"
	"strings"
	"sync"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
)

// Block encodings (schema version 6, the blocks.encoding column). A block
// is compressed whole, and stored so only where that makes it smaller by
// at least 1/8; a block that does not shrink so (encrypted traffic) is
// stored raw, costing the reader nothing, and the writer then judges the
// next blocks by a sample (blockEncoder). The sketch of the block index
// is computed from the raw block before it is compressed.
//
// zstd (EncodingZstd): one zstd frame (RFC 8878) with its content size,
// followed by a skippable frame (RFC 8878, 3.1.2) that carries the
// CRC-32C of the zstd frame's bytes (the CRC trailer). Every zstd tool
// decodes such a blob, skipping the trailer. Blocks written before the
// trailer carry zstd's own content checksum instead, an XXH64 of the raw
// block that cost 5% of a capture's CPU; both are read. The trailer sums
// the compressed bytes, a tenth of the raw ones on everyday traffic.
//
// S2 (EncodingS2): one S2 block (github.com/klauspost/compress/s2's
// block format, a superset of Snappy's: the raw length as a uvarint,
// then the compressed stream), followed by the CRC-32C of those bytes
// (4 bytes, little-endian). It saves nearly what zstd's fastest level
// saves on the lab's traffic for half its CPU (docs/PERFORMANCE.md): the
// choice for a link near the machine's top speed.
const (
	EncodingRaw  = 0 // the block blob as block.go lays it out
	EncodingZstd = 1 // one zstd frame whose content is the raw blob, and the CRC trailer
	EncodingS2   = 2 // one S2 block whose content is the raw blob, and its CRC-32C
)

// migration6 adds the per-block encoding and the stored blob's length (so
// that counting from the index keeps an exact length check without
// reading a compressed blob). Existing blocks are raw: encoding 0, and
// data_len 0 (a raw block's length is checked against bytes +
// RecordHeaderLen x packet_count, as before).
const migration6 = `ALTER TABLE blocks ADD COLUMN encoding INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE blocks ADD COLUMN data_len INTEGER NOT NULL DEFAULT 0;`

// Compression says how a Writer stores blocks. The zero value compresses
// with zstd at DefaultCompressionLevel where it pays.
type Compression struct {
	// None stores every block raw.
	None bool
	// S2 compresses with S2 instead of zstd (Level is zstd's: it must
	// be 0 with S2).
	S2 bool
	// Level is the zstd level, 1 (fastest) to 4 (best); 0 means
	// DefaultCompressionLevel.
	Level int
}

// DefaultCompressionLevel is the level a zero Compression uses: zstd's
// fastest, chosen by bench/compressbench (see docs/DESIGN.md): the better
// levels saved a few percent more of the lab's traffic for twice the CPU.
const DefaultCompressionLevel = 1

// MaxCompressionLevel is the highest level accepted.
const MaxCompressionLevel = 4

// ParseCompression reads a compression name: "zstd", "s2" or "none".
func ParseCompression(name string) (Compression, error) {
	switch strings.ToLower(name) {
	case "zstd", "":
		return Compression{}, nil
	case "s2":
		return Compression{S2: true}, nil
	case "none":
		return Compression{None: true}, nil
	}
	return Compression{}, fmt.Errorf("compression %q: want zstd, s2 or none", name)
}

// Validate checks the level, and that only one way is chosen.
func (c Compression) Validate() error {
	if c.None && c.S2 {
		return fmt.Errorf("compression: none and s2 at once")
	}
	if c.Level < 0 || c.Level > MaxCompressionLevel {
		return fmt.Errorf("compression level %d: want 1 to %d", c.Level, MaxCompressionLevel)
	}
	if c.Level != 0 && c.S2 {
		return fmt.Errorf("compression level %d: a level is zstd's; s2 has none", c.Level)
	}
	return nil
}

// String is the compression's name as ParseCompression reads it.
func (c Compression) String() string {
	switch {
	case c.None:
		return "none"
	case c.S2:
		return "s2"
	}
	return "zstd"
}

// encoding is the encoding of the blocks c compresses.
func (c Compression) encoding() int64 {
	switch {
	case c.None:
		return EncodingRaw
	case c.S2:
		return EncodingS2
	}
	return EncodingZstd
}

func (c Compression) level() int {
	if c.Level == 0 {
		return DefaultCompressionLevel
	}
	return min(max(c.Level, 1), MaxCompressionLevel)
}

// encoders holds one zstd encoder per level, shared: EncodeAll may be
// called from several goroutines, each call running on its own.
var encoders [MaxCompressionLevel + 1]func() (*zstd.Encoder, error)

func init() {
	for l := 1; l <= MaxCompressionLevel; l++ {
		encoders[l] = sync.OnceValues(func() (*zstd.Encoder, error) {
			// Level 1 leaves literals without entropy coding: on the
			// lab's mix it saved as much (the literals are mostly
			// encrypted payload) for 30% less CPU, and decodes faster.
			return zstd.NewWriter(nil,
				zstd.WithEncoderLevel(zstd.EncoderLevel(l)),
				zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)),
				zstd.WithEncoderCRC(false), // the trailer's CRC-32C instead
				zstd.WithWindowSize(1<<20),
				zstd.WithNoEntropyCompression(l == 1),
				zstd.WithSingleSegment(true))
		})
	}
}

// maxRawBlock bounds the decoded size of a compressed block, so that a
// damaged frame header can never make a reader allocate without limit.
// Blocks are closed at a few hundred KiB; one packet is at most MaxCapLen.
const maxRawBlock = 64 << 20

var decoder = sync.OnceValues(func() (*zstd.Decoder, error) {
	return zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(runtime.GOMAXPROCS(0)),
		zstd.WithDecoderMaxMemory(maxRawBlock),
		zstd.WithDecoderMaxWindow(maxRawBlock))
})

// A block is stored compressed only where zstd saves at least
// 1/2^minSavingShift of it (12.5%): less is not worth the CPU of
// compressing it nor a decode on every read. An encrypted link saves
// 2-4% (its headers), which is below.
const minSavingShift = 3

// After a block zstd did not shrink by that much (encrypted traffic), a
// Writer tries each next block on a sample first: sampleParts pieces of
// samplePart bytes spread over the block, compressed together. A block
// whose sample does not pay either is stored raw without compressing it
// whole, so an encrypted link costs a sample's compression a block (6%
// of a 256 KiB block) instead of the whole block's. A sample that pays
// has its block compressed whole, which decides again.
const (
	samplePart  = 4 << 10
	sampleParts = 4
)

// blockEncoder is a Writer's compression state: the buffers it reuses,
// and whether the last block paid.
type blockEncoder struct {
	buf    []byte // the last compressed frame
	sample []byte
	s2     []byte // S2's output before it is copied to buf
	probe  bool   // the last block did not pay: try the next on a sample
	whole  int    // blocks compressed whole (for tests)
}

// pays reports whether a frame of out bytes saves enough over in.
func pays(out, in int) bool { return out <= in-in>>minSavingShift }

// encode returns the blob to store for the raw block and its encoding:
// the zstd frame when it pays, else raw itself. The frame is valid until
// the next call.
func (e *blockEncoder) encode(c Compression, raw []byte) (blob []byte, encoding int64, err error) {
	if c.None || len(raw) == 0 {
		return raw, EncodingRaw, nil
	}
	var zenc *zstd.Encoder // nil: S2
	if !c.S2 {
		var err error
		if zenc, err = encoders[c.level()](); err != nil {
			return nil, 0, fmt.Errorf("zstd encoder: %w", err)
		}
	}
	if e.probe && len(raw) >= 2*sampleParts*samplePart {
		e.sample = e.sample[:0]
		step := len(raw) / sampleParts
		for i := range sampleParts {
			e.sample = append(e.sample, raw[i*step:i*step+samplePart]...)
		}
		e.buf = e.compress(zenc, e.sample)
		if !pays(len(e.buf), len(e.sample)) {
			return raw, EncodingRaw, nil
		}
	}
	e.whole++
	e.buf = e.compress(zenc, raw)
	e.probe = !pays(len(e.buf)+crcTrailerLen, len(raw))
	if e.probe {
		return raw, EncodingRaw, nil
	}
	if zenc == nil {
		e.buf = appendCRC32C(e.buf)
		return e.buf, EncodingS2, nil
	}
	e.buf = appendCRCTrailer(e.buf)
	return e.buf, EncodingZstd, nil
}

// compress compresses src into e.buf's memory: with zenc, or with S2
// when zenc is nil. S2 wants room for the worst case, so it writes into
// a scratch buffer of the encoder's, and the blob (kept with its block
// until the block is stored) takes only what it needs.
func (e *blockEncoder) compress(zenc *zstd.Encoder, src []byte) []byte {
	if zenc != nil {
		return zenc.EncodeAll(src, e.buf[:0])
	}
	if need := s2.MaxEncodedLen(len(src)); cap(e.s2) < need {
		e.s2 = make([]byte, need)
	}
	return append(e.buf[:0], s2.Encode(e.s2[:cap(e.s2)], src)...)
}

// The CRC trailer of a compressed block: a zstd skippable frame of 12
// bytes, little-endian: the magic number crcTrailerMagic (one of the 16
// skippable ones, 0x184D2A50 to 0x184D2A5F), its content length (4), and
// the CRC-32C (Castagnoli) of every byte of the blob before the trailer.
const (
	crcTrailerMagic = 0x184D2A5C
	crcTrailerLen   = 12
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func appendCRCTrailer(frame []byte) []byte {
	sum := crc32.Checksum(frame, castagnoli)
	frame = binary.LittleEndian.AppendUint32(frame, crcTrailerMagic)
	frame = binary.LittleEndian.AppendUint32(frame, 4)
	return binary.LittleEndian.AppendUint32(frame, sum)
}

// appendCRC32C appends the CRC-32C of b to it, little-endian (an S2
// blob's check).
func appendCRC32C(b []byte) []byte {
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// checkCRCTrailer returns the zstd frame of a compressed blob. The
// frame's header says which check the blob carries: a frame written
// since the trailer came has no content checksum of its own (the
// Content_Checksum_flag, bit 2 of the descriptor after the magic, clear)
// and must end in the trailer, whose CRC must match; one written before
// has the flag set and no trailer, and zstd checks its checksum as it
// decodes. The blob's last bytes cannot decide: an old frame whose last
// zstd block is stored raw ends in packet bytes, which anyone can make
// look like a trailer. A blob with neither check is ErrCorruptBlock.
func checkCRCTrailer(blob []byte) ([]byte, error) {
	if len(blob) > 4 && binary.LittleEndian.Uint32(blob) == zstdMagic && blob[4]&zstdChecksumFlag != 0 {
		return blob, nil
	}
	n := len(blob) - crcTrailerLen
	if n < 0 || binary.LittleEndian.Uint32(blob[n:]) != crcTrailerMagic || binary.LittleEndian.Uint32(blob[n+4:]) != 4 {
		return nil, fmt.Errorf("compressed block has neither zstd's checksum nor a CRC-32C trailer: %w", ErrCorruptBlock)
	}
	if got, want := crc32.Checksum(blob[:n], castagnoli), binary.LittleEndian.Uint32(blob[n+8:]); got != want {
		return nil, fmt.Errorf("compressed block's CRC-32C is %08x, its trailer says %08x: %w", got, want, ErrCorruptBlock)
	}
	return blob[:n], nil
}

// A zstd frame begins with its magic number (little-endian) and its
// descriptor byte, whose bit 2 says a content checksum ends the frame.
const (
	zstdMagic        = 0xFD2FB528
	zstdChecksumFlag = 0x04
)

// decodeBlock returns the raw blob of a stored one, decoding into buf,
// and checks that it is rawLen bytes long. A blob whose CRC trailer does
// not match, a frame that does not decode (damaged: zstd checks the
// content checksum of a frame that has one) or decodes to another length
// is ErrCorruptBlock.
func decodeBlock(encoding int64, blob []byte, rawLen int64, buf []byte) ([]byte, error) {
	switch encoding {
	case EncodingRaw:
		return blob, nil
	case EncodingZstd, EncodingS2:
	default:
		return nil, fmt.Errorf("unknown block encoding %d: %w", encoding, ErrCorruptBlock)
	}
	if rawLen < 0 || rawLen > maxRawBlock {
		return nil, fmt.Errorf("compressed block of %d bytes: %w", rawLen, ErrCorruptBlock)
	}
	if encoding == EncodingS2 {
		return decodeS2(blob, rawLen, buf)
	}
	dec, err := decoder()
	if err != nil {
		return nil, fmt.Errorf("zstd decoder: %w", err)
	}
	frame, err := checkCRCTrailer(blob)
	if err != nil {
		return nil, err
	}
	if int64(cap(buf)) < rawLen {
		buf = make([]byte, 0, rawLen)
	}
	out, err := dec.DecodeAll(frame, buf[:0])
	if err != nil {
		return nil, fmt.Errorf("compressed block does not decode (%v): %w", err, ErrCorruptBlock)
	}
	if int64(len(out)) != rawLen {
		return nil, fmt.Errorf("compressed block decodes to %d bytes, its row says %d: %w", len(out), rawLen, ErrCorruptBlock)
	}
	return out, nil
}

// decodeS2 decodes an S2 blob (EncodingS2) of a block of rawLen bytes
// into buf, after checking its CRC-32C and the length it says.
func decodeS2(blob []byte, rawLen int64, buf []byte) ([]byte, error) {
	n := len(blob) - 4
	if n < 1 {
		return nil, fmt.Errorf("S2 block of %d bytes: %w", len(blob), ErrCorruptBlock)
	}
	if got, want := crc32.Checksum(blob[:n], castagnoli), binary.LittleEndian.Uint32(blob[n:]); got != want {
		return nil, fmt.Errorf("compressed block's CRC-32C is %08x, it says %08x: %w", got, want, ErrCorruptBlock)
	}
	size, err := s2.DecodedLen(blob[:n])
	if err != nil || int64(size) != rawLen {
		return nil, fmt.Errorf("compressed block says %d bytes (%v), its row says %d: %w", size, err, rawLen, ErrCorruptBlock)
	}
	if int64(cap(buf)) < rawLen {
		buf = make([]byte, 0, rawLen)
	}
	out, err := s2.Decode(buf[:rawLen], blob[:n])
	if err != nil {
		return nil, fmt.Errorf("compressed block does not decode (%v): %w", err, ErrCorruptBlock)
	}
	if int64(len(out)) != rawLen {
		return nil, fmt.Errorf("compressed block decodes to %d bytes, its row says %d: %w", len(out), rawLen, ErrCorruptBlock)
	}
	return out, nil
}
