package store

import (
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/ncruces/go-sqlite3"
)

// writeTimes stores one packet per timestamp, blockSize packets a block,
// and returns the session id.
func writeTimes(t *testing.T, db *DB, times []int64, blockSize int) int64 {
	t.Helper()
	s := &Session{LinkType: 1, Snaplen: 100}
	if err := db.CreateSession(s); err != nil {
		t.Fatal(err)
	}
	w, err := db.NewWriter(s.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var b Block
	b.Reset(1)
	for i, ts := range times {
		b.Append(ts, 10, packet(i, 10))
		if b.Count == blockSize || i == len(times)-1 {
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

// inWindow is the expected selection, from first principles.
func inWindow(times []int64, r Range) []int64 {
	lo, hi := r.Bounds()
	var out []int64
	for i, ts := range times {
		if ts >= lo && ts <= hi {
			out = append(out, int64(i+1))
		}
	}
	return out
}

// Timestamps out of order (merged files, clock steps) are selected by
// time exactly: the block index keeps each block's minimum and maximum,
// not its first and last.
func TestTimeWindowUnorderedTimestamps(t *testing.T) {
	db, _ := tempDB(t)
	rng := rand.New(rand.NewPCG(1, 2))
	var times []int64
	// Two interleaved clocks, a step back, and random jitter.
	for i := range 3000 {
		ts := int64(1e18) + int64(i)*1000
		switch {
		case i%2 == 1:
			ts -= 700_000 // a second source 0.7 ms behind
		case i > 2000 && i < 2100:
			ts -= 5_000_000 // a clock step back
		}
		times = append(times, ts+rng.Int64N(500))
	}
	id := writeTimes(t, db, times, 64)
	sorted := slices.Clone(times)
	slices.Sort(sorted)
	windows := []Range{{}}
	for range 200 {
		a, b := sorted[rng.IntN(len(sorted))], sorted[rng.IntN(len(sorted))]
		windows = append(windows, Range{Since: min(a, b), Until: max(a, b), HasSince: true, HasUntil: true},
			Range{Since: a, HasSince: true}, Range{Until: b, HasUntil: true})
	}
	for _, r := range windows {
		want := inWindow(times, r)
		var got []int64
		if err := db.Packets(id, r, func(rec Record) error { got = append(got, rec.Number); return nil }); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("window %+v: got %d packets, want %d", r, len(got), len(want))
		}
		n, err := db.Count(id, r)
		if err != nil || n != int64(len(want)) {
			t.Fatalf("Count(%+v) = %d, %v; want %d", r, n, err, len(want))
		}
	}
}

// The epoch and times before it are real bounds, not "unset".
func TestTimeBoundsAtTheEdges(t *testing.T) {
	db, _ := tempDB(t)
	times := []int64{-5e9, -1, 0, 1, 5e9, math.MaxInt64 - 1, math.MinInt64 + 1}
	id := writeTimes(t, db, times, 3)
	for _, r := range []Range{
		{Until: 0, HasUntil: true},
		{Since: 0, HasSince: true},
		{Since: 0, Until: 0, HasSince: true, HasUntil: true},
		{Since: math.MaxInt64, HasSince: true},
		{Until: math.MinInt64, HasUntil: true},
		{Since: 1, Until: -1, HasSince: true, HasUntil: true},
	} {
		want := inWindow(times, r)
		var got []int64
		if err := db.Packets(id, r, func(rec Record) error { got = append(got, rec.Number); return nil }); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("window %+v: got %v, want %v", r, got, want)
		}
		if n, err := db.Count(id, r); err != nil || n != int64(len(want)) {
			t.Errorf("Count(%+v) = %d, %v; want %d", r, n, err, len(want))
		}
	}
}

// A missing block row (a damaged or edited database) is reported, not
// answered with fewer packets.
func TestMissingBlocksAreDamage(t *testing.T) {
	for _, which := range []string{"middle", "first", "last"} {
		t.Run(which, func(t *testing.T) {
			db, _ := tempDB(t)
			times := make([]int64, 100)
			for i := range times {
				times[i] = int64(i)
			}
			id := writeTimes(t, db, times, 10)
			q := map[string]string{
				"middle": `DELETE FROM blocks WHERE first_packet = 41`,
				"first":  `DELETE FROM blocks WHERE first_packet = 1`,
				"last":   `DELETE FROM blocks WHERE first_packet = 91`,
			}[which]
			if err := db.conn.Exec(q); err != nil {
				t.Fatal(err)
			}
			for _, r := range []Range{{}, {From: 95}, {Since: 0, Until: 5, HasSince: true, HasUntil: true}} {
				err := db.Packets(id, r, func(Record) error { return nil })
				if !errors.Is(err, ErrCorrupt) {
					t.Errorf("Packets(%+v) after deleting the %s block: %v, want ErrCorrupt", r, which, err)
				}
				if _, err := db.Count(id, r); !errors.Is(err, ErrCorrupt) {
					t.Errorf("Count(%+v) after deleting the %s block: %v, want ErrCorrupt", r, which, err)
				}
			}
		})
	}
}

// A block whose blob holds fewer packets than its index row says is damage.
func TestBlockCountMismatchIsDamage(t *testing.T) {
	db, _ := tempDB(t)
	id := writeTimes(t, db, []int64{1, 2, 3, 4}, 4)
	if err := db.conn.Exec(`UPDATE blocks SET data = substr(data, 1, 16 + 10)`); err != nil {
		t.Fatal(err)
	}
	if err := db.Packets(id, Range{}, func(Record) error { return nil }); !errors.Is(err, ErrCorrupt) {
		t.Errorf("got %v, want ErrCorrupt", err)
	}
}

// A database of schema version 2 is migrated: its blocks get their
// minimum and maximum timestamps from their packets.
func TestMigrateFromVersion2(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v2.db")
	conn, err := sqlite3.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var b Block
	b.Reset(1)
	for _, ts := range []int64{500, 100, 900, 300} { // first 500, last 300; min 100, max 900
		b.Append(ts, 4, []byte{1, 2, 3, 4})
	}
	err = conn.Exec(`PRAGMA page_size=65536;` + migrations[0] + migrations[1] +
		`PRAGMA application_id=1347568706; PRAGMA user_version=2;
		INSERT INTO sessions (id, uuid, link_type, snaplen, started_ns, status, packets) VALUES (1, 'u', 1, 100, 0, 'complete', 4);`)
	if err != nil {
		t.Fatal(err)
	}
	ins, _, err := conn.Prepare(`INSERT INTO blocks (session_id, seq, first_packet, packet_count, first_ns, last_ns, bytes, link_type, data)
		VALUES (1, 0, 1, 4, 500, 300, 16, 1, ?)`)
	if err != nil {
		t.Fatal(err)
	}
	ins.BindBlob(1, b.Data)
	if err := ins.Exec(); err != nil {
		t.Fatal(err)
	}
	ins.Close()
	conn.Close()

	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var got []int64
	r := Range{Since: 800, Until: 1000, HasSince: true, HasUntil: true}
	if err := db.Packets(1, r, func(rec Record) error { got = append(got, rec.Number); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []int64{3}) {
		t.Errorf("after migration the window [800, 1000] gave %v, want [3]", got)
	}
	if lo, hi, err := db.TimeSpan(1); err != nil || lo != 100 || hi != 900 {
		t.Errorf("TimeSpan = %d, %d, %v; want 100, 900", lo, hi, err)
	}
}

// A segment of a continuous recording numbers its packets on from where
// the one before stopped; the contiguity check starts there.
func TestSessionFirstPacket(t *testing.T) {
	db, _ := tempDB(t)
	s := &Session{LinkType: 1, Snaplen: 100, FirstPacket: 1001}
	if err := db.CreateSession(s); err != nil {
		t.Fatal(err)
	}
	w, err := db.NewWriter(s.ID)
	if err != nil {
		t.Fatal(err)
	}
	var b Block
	b.Reset(1)
	for i := range 10 {
		b.Append(int64(i), 4, []byte{1, 2, 3, 4})
	}
	w.Append(&b)
	w.Commit()
	w.Close()
	var got []int64
	if err := db.Packets(s.ID, Range{From: 1005}, func(r Record) error { got = append(got, r.Number); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []int64{1005, 1006, 1007, 1008, 1009, 1010}) {
		t.Errorf("packets from 1005: %v", got)
	}
	if n, err := db.Count(s.ID, Range{}); err != nil || n != 10 {
		t.Errorf("Count = %d, %v", n, err)
	}
	if err := db.conn.Exec(`UPDATE sessions SET packets = 11`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Count(s.ID, Range{}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("a missing last packet: %v", err)
	}
}
