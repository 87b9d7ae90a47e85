package recorder

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/store"
	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// slowSink is a store.Writer whose appends take delay each (a disk that
// cannot keep up): the pipeline before it fills.
type slowSink struct {
	*store.Writer
	delay time.Duration
}

func (s *slowSink) Append(b *store.Block) error {
	time.Sleep(s.delay)
	return s.Writer.Append(b)
}

// blockEncodings counts the session's blocks by their encoding column,
// as the sqlite3 shell reads the file.
func blockEncodings(t *testing.T, path string) (raw, zstd int) {
	t.Helper()
	out, err := exec.Command("sqlite3", path, "SELECT sum(encoding = 0), sum(encoding = 1) FROM blocks").Output()
	if err != nil {
		t.Fatalf("sqlite3: %v", err)
	}
	f := strings.Split(strings.TrimSpace(string(out)), "|")
	if len(f) != 2 {
		t.Fatalf("sqlite3 said %q", out)
	}
	var r, z int
	for i, p := range f {
		n := 0
		for _, c := range p {
			n = n*10 + int(c-'0')
		}
		if i == 0 {
			r = n
		} else {
			z = n
		}
	}
	return r, z
}

// A writer slower than the packets come makes the preparers store blocks
// raw (counted), and every packet is stored, byte for byte; a writer that
// keeps up has every compressible block compressed and none skipped.
func TestSlowWriterStoresBlocksRaw(t *testing.T) {
	testkit.RequireTool(t, "sqlite3")
	frames := labMixFrames(512)
	const total = 6000
	for _, tc := range []struct {
		name  string
		delay time.Duration
		queue int
	}{{"keeps-up", 0, 64}, {"slow", 20 * time.Millisecond, 8}} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "r.db")
			db, err := store.Open(path, store.Options{Create: true})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			s := &store.Session{LinkType: 1, Snaplen: 65535}
			if err := db.CreateSession(s); err != nil {
				t.Fatal(err)
			}
			w, err := db.NewWriter(s.ID)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			// About 30k packets (20 MB) a second: a writer without a
			// delay keeps up, one that takes 20 ms a 32 KiB block does not.
			src := &replaySource{frames: frames, perRead: 32, total: total, ts: 1_764_000_000e9, pace: time.Millisecond}
			res, err := Run(context.Background(), Config{Source: src, Writer: &slowSink{w, tc.delay},
				BlockBytes: 32 << 10, QueueBlocks: tc.queue, Count: total})
			if err != nil {
				t.Fatal(err)
			}
			if res.Stored != total || res.AppDropped != 0 {
				t.Fatalf("stored %d of %d packets, %d not stored", res.Stored, total, res.AppDropped)
			}
			i := 0
			err = db.Packets(s.ID, store.Range{}, func(r store.Record) error {
				if want := frames[i%len(frames)]; !bytes.Equal(r.Data, want) || r.OrigLen != len(want) {
					t.Fatalf("packet %d differs from the frame sent", r.Number)
				}
				i++
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if i != total {
				t.Fatalf("read back %d packets, want %d", i, total)
			}
			raw, zstd := blockEncodings(t, path)
			t.Logf("%d blocks raw, %d zstd, %d skipped", raw, zstd, res.CompressionSkipped)
			if tc.delay == 0 {
				// A stall of the shared machine may skip a few blocks.
				if raw > (raw+zstd)/10 || res.CompressionSkipped > int64(raw) {
					t.Fatalf("a writer that keeps up: %d blocks raw (%d skipped), %d compressed", raw, res.CompressionSkipped, zstd)
				}
				return
			}
			if res.CompressionSkipped == 0 || int64(raw) < res.CompressionSkipped {
				t.Fatalf("a slow writer: %d blocks skipped compression, %d raw in the file", res.CompressionSkipped, raw)
			}
		})
	}
}
