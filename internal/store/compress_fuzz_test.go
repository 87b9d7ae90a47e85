package store

import (
	"errors"
	"testing"
)

// FuzzDecodeBlock: whatever a blob holds (a damaged file, a crafted
// one), decoding it under any encoding and claimed raw length returns
// exactly that many bytes or an ErrCorruptBlock, and never panics. The
// seeds are a zstd blob and an S2 blob of compressible packets. With
// sum set the fuzzed bytes get a valid CRC (a crafted blob's), so that
// the decoders themselves see them.
func FuzzDecodeBlock(f *testing.F) {
	var raw []byte
	for _, fr := range textFrames(200) {
		raw = append(raw, fr...)
	}
	for _, c := range []Compression{{}, {S2: true}} {
		var e blockEncoder
		blob, enc, err := e.encode(c, raw)
		if err != nil || enc == EncodingRaw {
			f.Fatalf("seed %s: encoding %d, %v", c, enc, err)
		}
		f.Add(enc, append([]byte(nil), blob...), int64(len(raw)), false)
		n := len(blob) - 4
		if enc == EncodingZstd {
			n = len(blob) - crcTrailerLen
		}
		f.Add(enc, append([]byte(nil), blob[:n]...), int64(len(raw)), true)
	}
	f.Fuzz(func(t *testing.T, encoding int64, blob []byte, rawLen int64, sum bool) {
		if sum {
			switch encoding {
			case EncodingZstd:
				blob = appendCRCTrailer(blob)
			case EncodingS2:
				blob = appendCRC32C(blob)
			}
		}
		out, err := decodeBlock(encoding, blob, rawLen, nil)
		switch {
		case err != nil:
			if !errors.Is(err, ErrCorruptBlock) {
				t.Fatalf("error %v is not ErrCorruptBlock", err)
			}
		case encoding == EncodingRaw:
			if len(out) != len(blob) {
				t.Fatalf("raw: %d bytes of %d", len(out), len(blob))
			}
		case int64(len(out)) != rawLen:
			t.Fatalf("decoded %d bytes, claimed %d", len(out), rawLen)
		}
	})
}
