package store

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// TestCRCTrailer: a compressed blob is a zstd frame without zstd's
// content checksum and a 12-byte skippable frame with the CRC-32C of the
// frame (checked against hash/crc32's Castagnoli sum computed here, not
// by the code under test); any byte flipped in the frame or in the CRC
// is ErrCorruptBlock; and a blob written before the trailer (a frame with
// zstd's own content checksum, as the encoder made it then) still reads,
// and a flipped byte in it is still an error.
func TestCRCTrailer(t *testing.T) {
	var raw []byte
	for _, f := range textFrames(2000) {
		raw = append(raw, f...)
	}
	var e blockEncoder
	blob, enc, err := e.encode(Compression{}, raw)
	if err != nil || enc != EncodingZstd {
		t.Fatalf("encode: encoding %d, %v", enc, err)
	}
	blob = bytes.Clone(blob)
	n := len(blob) - 12
	if n <= 0 || !bytes.Equal(blob[n:n+8], []byte{0x5c, 0x2a, 0x4d, 0x18, 4, 0, 0, 0}) {
		t.Fatalf("the blob does not end with a skippable frame of 4 bytes: % x", blob[max(0, n):])
	}
	if want := crc32c(blob[:n]); !bytes.Equal(blob[n+8:], want) {
		t.Fatalf("trailer CRC % x, want % x", blob[n+8:], want)
	}
	// The frame's descriptor (byte 4 after the magic): no content checksum.
	if blob[4]&0x04 != 0 {
		t.Fatalf("the frame still carries zstd's content checksum (descriptor %#x)", blob[4])
	}
	got, err := decodeBlock(EncodingZstd, blob, int64(len(raw)), nil)
	if err != nil || !bytes.Equal(got, raw) {
		t.Fatalf("decode: %d bytes, %v", len(got), err)
	}
	for _, at := range []int{8, n / 2, n - 1, n + 8, n + 11} {
		bad := bytes.Clone(blob)
		bad[at] ^= 0x10
		if _, err := decodeBlock(EncodingZstd, bad, int64(len(raw)), nil); !errors.Is(err, ErrCorruptBlock) {
			t.Errorf("byte %d of %d flipped: %v, want ErrCorruptBlock", at, len(blob), err)
		} else if at < n && !strings.Contains(err.Error(), "CRC-32C") {
			t.Errorf("byte %d flipped in the frame: %v, want the CRC named", at, err)
		}
	}

	old, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderCRC(true), zstd.WithSingleSegment(true))
	if err != nil {
		t.Fatal(err)
	}
	before := old.EncodeAll(raw, nil)
	if got, err := decodeBlock(EncodingZstd, before, int64(len(raw)), nil); err != nil || !bytes.Equal(got, raw) {
		t.Fatalf("decode of a blob with zstd's checksum: %d bytes, %v", len(got), err)
	}
	bad := bytes.Clone(before)
	bad[len(bad)/2] ^= 0x10
	if _, err := decodeBlock(EncodingZstd, bad, int64(len(raw)), nil); !errors.Is(err, ErrCorruptBlock) {
		t.Errorf("a flipped byte in a blob with zstd's checksum: %v, want ErrCorruptBlock", err)
	}
}

// TestCRCTrailerOldFrameEndsLikeOne: a blob written before the trailer
// whose frame ends in a raw zstd block ends in packet bytes; a packet
// ending in the trailer's magic and length (anyone can send one) must
// not make the block read as damaged. And a new frame whose trailer is
// damaged, or gone, is an error, not a frame read with no check at all.
func TestCRCTrailerOldFrameEndsLikeOne(t *testing.T) {
	// Text that pays for the block, then random bytes zstd stores raw,
	// ending in what a trailer's first 8 bytes are.
	var raw []byte
	for _, f := range textFrames(500) {
		raw = append(raw, f...)
	}
	noise := make([]byte, 64<<10)
	rand.NewChaCha8([32]byte{1}).Read(noise)
	raw = append(raw, noise...)
	raw = append(raw, 0x5c, 0x2a, 0x4d, 0x18, 4, 0, 0, 0)
	old, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderCRC(true), zstd.WithSingleSegment(true))
	if err != nil {
		t.Fatal(err)
	}
	before := old.EncodeAll(raw, nil)
	n := len(before) - 12
	if n <= 0 || !bytes.Equal(before[n:n+8], raw[len(raw)-8:]) {
		t.Fatalf("setup: the old frame does not end in the packet's last bytes and its checksum: % x", before[max(0, n):])
	}
	if got, err := decodeBlock(EncodingZstd, before, int64(len(raw)), nil); err != nil || !bytes.Equal(got, raw) {
		t.Fatalf("an old blob ending like a trailer: %d bytes, %v", len(got), err)
	}

	var e blockEncoder
	blob, enc, err := e.encode(Compression{}, raw)
	if err != nil || enc != EncodingZstd {
		t.Fatalf("encode: encoding %d, %v", enc, err)
	}
	blob = bytes.Clone(blob)
	for _, bad := range [][]byte{
		blob[:len(blob)-12], // the trailer cut off
		append(bytes.Clone(blob[:len(blob)-12]), 0x5d, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 0, 0, 0, 0), // its magic damaged
	} {
		if _, err := decodeBlock(EncodingZstd, bad, int64(len(raw)), nil); !errors.Is(err, ErrCorruptBlock) {
			t.Errorf("a new frame without its trailer (%d bytes): %v, want ErrCorruptBlock", len(bad), err)
		}
	}
}

// crc32c is CRC-32C (Castagnoli, reflected, init and final xor all ones)
// bit by bit, little-endian, from its definition.
func crc32c(p []byte) []byte {
	c := ^uint32(0)
	for _, b := range p {
		c ^= uint32(b)
		for range 8 {
			if c&1 != 0 {
				c = c>>1 ^ 0x82F63B78
			} else {
				c >>= 1
			}
		}
	}
	c = ^c
	return []byte{byte(c), byte(c >> 8), byte(c >> 16), byte(c >> 24)}
}
