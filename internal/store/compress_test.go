package store

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// writeFrames stores frames as one session, blocks closed at blockBytes,
// and returns the session.
func writeFrames(t *testing.T, db *DB, c Compression, frames [][]byte, blockBytes int) int64 {
	t.Helper()
	s := &Session{Name: "frames", LinkType: 1, Snaplen: 65535, Source: SourceImport}
	if err := db.CreateSession(s); err != nil {
		t.Fatal(err)
	}
	w, err := db.NewWriter(s.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.SetCompression(c); err != nil {
		t.Fatal(err)
	}
	var b Block
	b.Reset(1)
	for i, f := range frames {
		b.Append(int64(1e18)+int64(i)*1000, len(f)+i%3, f)
		if len(b.Data) >= blockBytes || i == len(frames)-1 {
			if err := w.Append(&b); err != nil {
				t.Fatal(err)
			}
			b.Reset(1)
		}
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	return s.ID
}

// textFrames are compressible: Ethernet/IPv4/TCP headers and an HTTP-like
// payload that repeats.
func textFrames(n int) [][]byte {
	frames := make([][]byte, n)
	for i := range frames {
		f := make([]byte, 54, 54+600)
		f[12], f[13], f[14], f[23] = 0x08, 0x00, 0x45, 6
		f[33] = byte(i)
		body := strings.Repeat("GET /index.html HTTP/1.1\r\nHost: lab.example\r\n", 1+i%12)
		frames[i] = append(f, body...)
	}
	return frames
}

// randomFrames have payloads of random bytes, as encrypted traffic looks.
func randomFrames(n int) [][]byte {
	rng := rand.New(rand.NewPCG(5, 6))
	frames := make([][]byte, n)
	for i := range frames {
		f := make([]byte, 60+rng.IntN(1400))
		for j := range f {
			f[j] = byte(rng.Uint32())
		}
		frames[i] = f
	}
	return frames
}

func readAll(t *testing.T, db *DB, session int64) ([][]byte, error) {
	t.Helper()
	var got [][]byte
	err := db.Packets(session, Range{}, func(r Record) error {
		if want := int64(1e18) + (r.Number-1)*1000; r.Timestamp != want {
			t.Fatalf("packet %d: timestamp %d, want %d", r.Number, r.Timestamp, want)
		}
		if r.OrigLen != len(r.Data)+int(r.Number-1)%3 {
			t.Fatalf("packet %d: original length %d for %d bytes", r.Number, r.OrigLen, len(r.Data))
		}
		got = append(got, bytes.Clone(r.Data))
		return nil
	})
	return got, err
}

func sqliteOut(t *testing.T, path, sql string) string {
	t.Helper()
	out, err := exec.Command(requireSQLite(t), path, sql).CombinedOutput()
	if err != nil {
		t.Fatalf("sqlite3: %v: %s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestCompressedBlocksRoundTrip: compressible packets are stored as zstd
// blocks (sqlite3 sees the encoding and the smaller blobs) and read back
// exactly as written, as are the same packets stored raw.
func TestCompressedBlocksRoundTrip(t *testing.T) {
	db, path := tempDB(t)
	frames := textFrames(3000)
	zs := writeFrames(t, db, Compression{}, frames, 64<<10)
	raw := writeFrames(t, db, Compression{None: true}, frames, 64<<10)
	for _, s := range []int64{zs, raw} {
		got, err := readAll(t, db, s)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(frames) {
			t.Fatalf("session %d: %d packets, want %d", s, len(got), len(frames))
		}
		for i := range got {
			if !bytes.Equal(got[i], frames[i]) {
				t.Fatalf("session %d: packet %d differs", s, i+1)
			}
		}
		if n, err := db.Count(s, Range{}); err != nil || n != int64(len(frames)) {
			t.Fatalf("session %d: count %d, %v", s, n, err)
		}
	}
	out := sqliteOut(t, path, `SELECT session_id, group_concat(DISTINCT encoding), sum(length(data)), sum(bytes + 16 * packet_count), sum(data_len = length(data)) = count(*)
		FROM blocks GROUP BY session_id ORDER BY session_id`)
	lines := strings.Split(out, "\n")
	if len(lines) != 2 {
		t.Fatalf("sqlite3: %q", out)
	}
	z, r := strings.Split(lines[0], "|"), strings.Split(lines[1], "|")
	if z[1] != "1" || r[1] != "0" || z[4] != "1" || r[4] != "1" {
		t.Fatalf("encodings: zstd session %q, raw session %q", lines[0], lines[1])
	}
	zb, _ := strconv.Atoi(z[2])
	rb, _ := strconv.Atoi(r[2])
	if r[2] != r[3] || zb <= 0 || zb >= rb/2 {
		t.Fatalf("zstd blobs %s bytes, raw %s (of %s): want under half", z[2], r[2], r[3])
	}
	// The reference zstd decoder reads each compressed blob as the raw
	// blob of the same block of the raw session, byte for byte.
	zstdTool, err := exec.LookPath("zstd")
	if err != nil {
		t.Fatal("zstd is needed (apt-get install zstd)")
	}
	dir := t.TempDir()
	for _, seq := range []string{"0", "3"} {
		zf, rf := filepath.Join(dir, "z"+seq), filepath.Join(dir, "r"+seq)
		sqliteOut(t, path, fmt.Sprintf(`SELECT writefile('%s', data) FROM blocks WHERE session_id = %d AND seq = %s;
			SELECT writefile('%s', data) FROM blocks WHERE session_id = %d AND seq = %s`, zf, zs, seq, rf, raw, seq))
		dec, err := exec.Command(zstdTool, "-d", "-c", zf).Output()
		if err != nil {
			t.Fatalf("zstd -d of block %s: %v", seq, err)
		}
		want, err := os.ReadFile(rf)
		if err != nil || len(want) == 0 || !bytes.Equal(dec, want) {
			t.Fatalf("zstd -d of block %s: %d bytes, the raw block %d (%v)", seq, len(dec), len(want), err)
		}
	}
}

// TestIncompressibleBlocksStoredRaw: blocks of random payloads, which zstd
// cannot shrink, are stored raw (encoding 0, their blob the records), so
// encrypted traffic costs nothing to read.
func TestIncompressibleBlocksStoredRaw(t *testing.T) {
	db, path := tempDB(t)
	frames := randomFrames(400)
	s := writeFrames(t, db, Compression{}, frames, 64<<10)
	if got := sqliteOut(t, path, `SELECT count(*), sum(encoding), sum(length(data) = bytes + 16 * packet_count) FROM blocks`); !strings.HasSuffix(got, "|0|"+strings.Split(got, "|")[0]) || got == "0|0|0" {
		t.Fatalf("sqlite3 blocks, zstd blocks, raw-length blocks: %s: want every block raw", got)
	}
	got, err := readAll(t, db, s)
	if err != nil || len(got) != len(frames) {
		t.Fatalf("%d packets, %v", len(got), err)
	}
	for i := range got {
		if !bytes.Equal(got[i], frames[i]) {
			t.Fatalf("packet %d differs", i+1)
		}
	}
}

// TestDamagedCompressedBlock: a byte flipped inside a compressed blob (by
// sqlite3, length intact) makes a read an error naming the block's
// packets, never a shorter answer; a blob cut short makes Count one too.
func TestDamagedCompressedBlock(t *testing.T) {
	db, path := tempDB(t)
	frames := textFrames(3000)
	s := writeFrames(t, db, Compression{}, frames, 32<<10)
	span := sqliteOut(t, path, `SELECT first_packet || ' to ' || (first_packet + packet_count - 1) FROM blocks WHERE seq = 2 AND encoding = 1`)
	if span == "" {
		t.Fatal("block 2 is not compressed")
	}
	// Flip one byte in the middle of the frame.
	sqliteOut(t, path, `UPDATE blocks SET data = CAST(substr(data, 1, length(data) / 2) || X'A5' || substr(data, length(data) / 2 + 2) AS BLOB) WHERE seq = 2`)
	if got := sqliteOut(t, path, `SELECT data_len = length(data) FROM blocks WHERE seq = 2`); got != "1" {
		t.Fatalf("the flip changed the blob's length: %s", got)
	}
	_, err := readAll(t, db, s)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "packets "+span) {
		t.Fatalf("read of a damaged block: %v: want ErrCorrupt naming packets %s", err, span)
	}
	sqliteOut(t, path, `UPDATE blocks SET data = substr(data, 1, length(data) - 7) WHERE seq = 2`)
	if _, err := db.Count(s, Range{}); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "packets "+span) {
		t.Fatalf("count over a cut compressed block: %v: want ErrCorrupt naming packets %s", err, span)
	}
	if _, err := readAll(t, db, s); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "packets "+span) {
		t.Fatalf("read of a cut compressed block: %v: want ErrCorrupt naming packets %s", err, span)
	}
}

// TestMigrateFrom5: a schema 5 file (made with sqlite3 from one of raw
// blocks) is read as it is when opened read-only, and opened read-write
// becomes schema 6 with its old blocks raw and readable, new ones
// compressed.
func TestMigrateFrom5(t *testing.T) {
	db, path := tempDB(t)
	frames := textFrames(2000)
	old := writeFrames(t, db, Compression{None: true}, frames, 32<<10)
	db.Close()
	sqliteOut(t, path, `ALTER TABLE blocks DROP COLUMN encoding; ALTER TABLE blocks DROP COLUMN data_len; PRAGMA user_version=5;`)
	ro, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	got, err := readAll(t, ro, old)
	if err != nil || len(got) != len(frames) {
		t.Fatalf("schema 5 read-only: %d packets, %v", len(got), err)
	}
	if n, err := ro.Count(old, Range{}); err != nil || n != int64(len(frames)) {
		t.Fatalf("schema 5 read-only count: %d, %v", n, err)
	}
	ro.Close()
	rw, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rw.Close()
	if v := sqliteOut(t, path, "PRAGMA user_version"); v != "6" {
		t.Fatalf("user_version %s after the migration", v)
	}
	fresh := writeFrames(t, rw, Compression{}, frames, 32<<10)
	for _, s := range []int64{old, fresh} {
		got, err := readAll(t, rw, s)
		if err != nil || len(got) != len(frames) {
			t.Fatalf("session %d after migration: %d packets, %v", s, len(got), err)
		}
		for i := range got {
			if !bytes.Equal(got[i], frames[i]) {
				t.Fatalf("session %d: packet %d differs", s, i+1)
			}
		}
		if n, err := rw.Count(s, Range{}); err != nil || n != int64(len(frames)) {
			t.Fatalf("session %d count: %d, %v", s, n, err)
		}
	}
	if got := sqliteOut(t, path, "SELECT session_id, group_concat(DISTINCT encoding) FROM blocks GROUP BY session_id ORDER BY 1"); got != "1|0\n2|1" {
		t.Fatalf("encodings by session: %q", got)
	}
	if _, err := rw.Reindex(true); err != nil {
		t.Fatalf("reindex over raw and compressed blocks: %v", err)
	}
	if got := sqliteOut(t, path, "SELECT (SELECT count(*) FROM blocks) = (SELECT count(*) FROM block_sketches)"); got != "1" {
		t.Fatal("reindex left blocks without a sketch")
	}
}
