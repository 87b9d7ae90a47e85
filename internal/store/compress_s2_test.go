package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/klauspost/compress/s2"
)

// TestS2Blocks: with Compression{S2: true} compressible packets are
// stored as S2 blocks (encoding 2 as sqlite3 reads the rows, blobs
// smaller than the raw ones) laid out as docs/DESIGN.md says: the raw
// length as a uvarint, the S2 stream, and the CRC-32C of both (checked
// with the bitwise CRC of compress_crc_test.go, and decoded by the s2
// package into exactly the raw session's blob as sqlite3 writes it out).
// The packets read back exactly, next to a zstd session and a raw one in
// the same database; incompressible packets are stored raw; a flipped
// byte or a cut blob is ErrCorrupt naming the block's packets.
func TestS2Blocks(t *testing.T) {
	db, path := tempDB(t)
	frames := textFrames(3000)
	s2s := writeFrames(t, db, Compression{S2: true}, frames, 64<<10)
	zs := writeFrames(t, db, Compression{}, frames, 64<<10)
	raw := writeFrames(t, db, Compression{None: true}, frames, 64<<10)
	got := sqliteOut(t, path, `SELECT session_id, count(*), sum(encoding = 2), sum(length(data)), sum(bytes + 16 * packet_count) FROM blocks GROUP BY session_id ORDER BY session_id`)
	rows := strings.Split(got, "\n")
	if len(rows) != 3 {
		t.Fatalf("sqlite3 blocks by session: %q", got)
	}
	f := strings.Split(rows[0], "|")
	stored, _ := strconv.ParseInt(f[3], 10, 64)
	rawBytes, _ := strconv.ParseInt(f[4], 10, 64)
	if f[1] != f[2] || stored <= 0 || stored >= rawBytes {
		t.Fatalf("S2 session: blocks, S2 blocks, stored bytes, raw bytes = %s: want every block S2 and smaller", rows[0])
	}
	for _, s := range []int64{s2s, zs, raw} {
		back, err := readAll(t, db, s)
		if err != nil || len(back) != len(frames) {
			t.Fatalf("session %d: %d packets, %v", s, len(back), err)
		}
		for i := range back {
			if !bytes.Equal(back[i], frames[i]) {
				t.Fatalf("session %d: packet %d differs", s, i+1)
			}
		}
	}

	dir := t.TempDir()
	sf, rf := filepath.Join(dir, "s2"), filepath.Join(dir, "raw")
	sqliteOut(t, path, `SELECT writefile('`+sf+`', data) FROM blocks WHERE session_id = 1 AND seq = 1;
		SELECT writefile('`+rf+`', data) FROM blocks WHERE session_id = 3 AND seq = 1`)
	blob, err1 := os.ReadFile(sf)
	want, err2 := os.ReadFile(rf)
	if err1 != nil || err2 != nil || len(blob) < 8 || len(want) == 0 {
		t.Fatalf("blobs: %d and %d bytes (%v, %v)", len(blob), len(want), err1, err2)
	}
	n := len(blob) - 4
	if !bytes.Equal(blob[n:], crc32c(blob[:n])) {
		t.Fatalf("CRC % x, want % x", blob[n:], crc32c(blob[:n]))
	}
	if size, k := binary.Uvarint(blob); k <= 0 || size != uint64(len(want)) {
		t.Fatalf("the blob starts with length %d (%d bytes), want %d", size, k, len(want))
	}
	if dec, err := s2.Decode(nil, blob[:n]); err != nil || !bytes.Equal(dec, want) {
		t.Fatalf("s2.Decode: %d bytes, %v; want the raw block's %d", len(dec), err, len(want))
	}

	enc := writeFrames(t, db, Compression{S2: true}, randomFrames(400), 64<<10)
	if got := sqliteOut(t, path, `SELECT count(*), sum(encoding) FROM blocks WHERE session_id = `+itoa(enc)); !strings.HasSuffix(got, "|0") {
		t.Fatalf("incompressible S2 session: blocks|sum(encoding) = %s, want every block raw", got)
	}

	span := sqliteOut(t, path, `SELECT first_packet || ' to ' || (first_packet + packet_count - 1) FROM blocks WHERE session_id = 1 AND seq = 2 AND encoding = 2`)
	if span == "" {
		t.Fatal("block 2 is not S2")
	}
	sqliteOut(t, path, `UPDATE blocks SET data = CAST(substr(data, 1, length(data) / 2) || X'A5' || substr(data, length(data) / 2 + 2) AS BLOB) WHERE session_id = 1 AND seq = 2`)
	if _, err := readAll(t, db, s2s); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "packets "+span) || !strings.Contains(err.Error(), "CRC-32C") {
		t.Fatalf("read of a damaged S2 block: %v: want ErrCorrupt naming packets %s and the CRC", err, span)
	}
	sqliteOut(t, path, `UPDATE blocks SET data = substr(data, 1, length(data) - 7) WHERE session_id = 1 AND seq = 2`)
	if _, err := db.Count(s2s, Range{}); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "packets "+span) {
		t.Fatalf("count over a cut S2 block: %v: want ErrCorrupt naming packets %s", err, span)
	}
	if _, err := readAll(t, db, s2s); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "packets "+span) {
		t.Fatalf("read of a cut S2 block: %v: want ErrCorrupt naming packets %s", err, span)
	}
}

// TestParseCompression: the names capture, import and the daemon take,
// and the combinations Validate refuses.
func TestParseCompression(t *testing.T) {
	for name, want := range map[string]Compression{"zstd": {}, "": {}, "S2": {S2: true}, "none": {None: true}} {
		c, err := ParseCompression(name)
		if err != nil || c != want || c.Validate() != nil {
			t.Errorf("ParseCompression(%q) = %+v, %v; want %+v", name, c, err, want)
		}
	}
	if _, err := ParseCompression("lz4"); err == nil || !strings.Contains(err.Error(), "zstd, s2 or none") {
		t.Errorf("ParseCompression(lz4): %v", err)
	}
	for _, c := range []Compression{{S2: true, Level: 2}, {S2: true, None: true}, {Level: 5}} {
		if c.Validate() == nil {
			t.Errorf("%+v passed Validate", c)
		}
	}
}
