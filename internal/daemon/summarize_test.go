package daemon

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"

	"github.com/packetrecorderd/packetrecorderd/internal/archive"
	"github.com/packetrecorderd/packetrecorderd/internal/archive/archivetest"
	"github.com/packetrecorderd/packetrecorderd/internal/index"
	"github.com/packetrecorderd/packetrecorderd/internal/index/synth"
)

// summaryStore writes a store of closed segments (a synthetic mix, one
// recording rolling over at maxBytes), returns its directory and each
// closed segment's summary as the recording wrote it at close, by file;
// then deletes every summary from the catalog, as a store of an older
// build or a catalog rebuilt from the files has none.
func summaryStore(t testing.TB, maxBytes int64) (string, map[string][]byte) {
	t.Helper()
	return summaryStoreOf(t, maxBytes, archivetest.RecordMix)
}

// summaryStoreOf is summaryStore recording with record.
func summaryStoreOf(t testing.TB, maxBytes int64, record func(testing.TB, string, synth.Config, int64) *synth.Mix) (string, map[string][]byte) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "store")
	record(t, dir, synth.Config{Seed: 19, Flows: 2000, Packets: 40000, Span: 3600e9}, maxBytes)
	conn, err := sqlite3.Open(filepath.Join(dir, archive.CatalogFile))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stmt, _, err := conn.Prepare(`SELECT file, sketch FROM segment_summaries`)
	if err != nil {
		t.Fatal(err)
	}
	atClose := map[string][]byte{}
	for stmt.Step() {
		atClose[stmt.ColumnText(0)] = stmt.ColumnBlob(1, nil)
	}
	stmt.Close()
	if err := conn.Exec(`DELETE FROM segment_summaries`); err != nil {
		t.Fatal(err)
	}
	if len(atClose) < 4 {
		t.Fatalf("%d segments summarized at close, want several", len(atClose))
	}
	return dir, atClose
}

// testSummarizer is a summarizer over the store at dir, with a catalog
// connection of its own (as retention's) and a log in buf.
func testSummarizer(t *testing.T, dir string) (*summarizer, *archive.Archive, *bytes.Buffer) {
	t.Helper()
	a, err := archive.Open(dir, archive.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	var buf bytes.Buffer
	var mu sync.Mutex
	s := newSummarizer(slog.New(slog.NewTextHandler(&buf, nil)), dir, func(fn func(*archive.Archive) error) error {
		mu.Lock()
		defer mu.Unlock()
		return fn(a)
	})
	return s, a, &buf
}

func closedSegments(t *testing.T, a *archive.Archive) []archive.Segment {
	t.Helper()
	segs, err := a.Segments()
	if err != nil {
		t.Fatal(err)
	}
	var out []archive.Segment
	for _, g := range segs {
		if g.Closed {
			out = append(out, g)
		}
	}
	return out
}

// TestSummarizerBuildsMissing: every closed segment without a summary
// gets one, byte for byte the one its recording wrote at close (built
// from the hashes as the blocks were written, not from the file), newest
// first, with one log line at the start and one at the end; the status
// counts down to 0.
func TestSummarizerBuildsMissing(t *testing.T) {
	dir, atClose := summaryStore(t, 800<<10)
	s, a, logs := testSummarizer(t, dir)
	closed := closedSegments(t, a)
	if got := len(a.Summaries(closed)); got != 0 {
		t.Fatalf("%d summaries before the build", got)
	}
	var order []int64
	s.beforeBuild = func(g archive.Segment) { order = append(order, g.MaxNS) }
	s.pass(context.Background(), true)
	requireBuiltAsAtClose(t, a, closed, atClose)
	for i := 1; i < len(order); i++ {
		if order[i] > order[i-1] {
			t.Fatalf("built out of order (newest first): %v", order)
		}
	}
	st := s.status()
	if st.SegmentsUnsummarized != 0 || st.SegmentsSummarized != int64(len(closed)) || st.Building {
		t.Fatalf("status after the build: %+v", st)
	}
	out := logs.String()
	if strings.Count(out, "\n") != 2 || !strings.Contains(out, "msg=\"building segment summaries") ||
		!strings.Contains(out, "segments="+strconv.Itoa(len(closed))) || !strings.Contains(out, "msg=\"segment summaries built\" built="+strconv.Itoa(len(closed))) {
		t.Fatalf("log:\n%s", out)
	}
	// Nothing left: the next passes, full or quick, log nothing.
	s.pass(context.Background(), true)
	s.pass(context.Background(), false)
	if logs.String() != out {
		t.Fatalf("a pass with nothing to do logged:\n%s", strings.TrimPrefix(logs.String(), out))
	}

	// A summary lost (a catalog rebuilt from the files), one counting
	// other packets than its segment (stale) and one damaged: the quick
	// pass finds the first two, the full one the third.
	conn, err := sqlite3.Open(filepath.Join(dir, archive.CatalogFile))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	lost, stale, damaged := closed[0].File, closed[1].File, closed[2].File
	for _, q := range []string{
		`DELETE FROM segment_summaries WHERE file = '` + lost + `'`,
		`UPDATE segment_summaries SET packets = packets + 1 WHERE file = '` + stale + `'`,
		`UPDATE segment_summaries SET sketch = x'ff' WHERE file = '` + damaged + `'`,
	} {
		if err := conn.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	s.pass(context.Background(), false)
	if got := len(a.Summaries(closed)); got != len(closed)-1 {
		t.Fatalf("after the quick pass %d of %d summaries usable, want all but the damaged one", got, len(closed))
	}
	s.pass(context.Background(), true)
	sums := a.Summaries(closed)
	for _, g := range closed {
		if !bytes.Equal(sums[g.ID].Sketch, atClose[g.File]) {
			t.Errorf("%s: after the passes, built %d bytes, the recording wrote %d bytes", g.File, len(sums[g.ID].Sketch), len(atClose[g.File]))
		}
	}
	if st := s.status(); st.SegmentsUnsummarized != 0 || st.SegmentsSummarized != int64(len(closed)+3) {
		t.Fatalf("status after the passes: %+v", st)
	}
}

// requireBuiltAsAtClose requires a summary of every closed segment,
// with pairs, equal to the one its recording wrote at close.
func requireBuiltAsAtClose(t *testing.T, a *archive.Archive, closed []archive.Segment, atClose map[string][]byte) {
	t.Helper()
	sums := a.Summaries(closed)
	if len(sums) != len(closed) || len(closed) != len(atClose) {
		t.Fatalf("%d of %d closed segments summarized (%d at close)", len(sums), len(closed), len(atClose))
	}
	for _, g := range closed {
		if !bytes.Equal(sums[g.ID].Sketch, atClose[g.File]) || !sums[g.ID].Pairs {
			t.Errorf("%s: built %d bytes (pairs %v), the recording wrote %d bytes", g.File, len(sums[g.ID].Sketch), sums[g.ID].Pairs, len(atClose[g.File]))
		}
	}
}

// TestSummarizerBuildsWhatPreparersCollect: segments recorded from
// blocks a recorder's preparers prepared (their address-port pairs
// collected with the sketch, not by the writer's walk) close with
// exactly the summaries the builder makes of their packets one by one.
func TestSummarizerBuildsWhatPreparersCollect(t *testing.T) {
	dir, atClose := summaryStoreOf(t, 800<<10, archivetest.RecordMixPrepared)
	s, a, _ := testSummarizer(t, dir)
	closed := closedSegments(t, a)
	s.pass(context.Background(), true)
	requireBuiltAsAtClose(t, a, closed, atClose)
}

// TestSummarizerBacksOff: while an interface drops packets (or stores
// blocks raw), the builder waits its backoff after each segment.
func TestSummarizerBacksOff(t *testing.T) {
	dir, _ := summaryStore(t, 800<<10)
	s, a, _ := testSummarizer(t, dir)
	closed := closedSegments(t, a)
	s.pause, s.backoff = time.Millisecond, 300*time.Millisecond
	t0 := time.Now()
	s.pass(context.Background(), true)
	quiet := time.Since(t0)
	conn, err := sqlite3.Open(filepath.Join(dir, archive.CatalogFile))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.Exec(`DELETE FROM segment_summaries`); err != nil {
		t.Fatal(err)
	}
	var drops int64
	s.pressure = func() int64 { drops++; return drops } // a drop during every segment
	t0 = time.Now()
	s.pass(context.Background(), true)
	loaded := time.Since(t0)
	if want := time.Duration(len(closed)) * s.backoff; loaded < want || len(a.Summaries(closed)) != len(closed) {
		t.Fatalf("%d segments built in %v while packets dropped (%v without), want at least %v", len(closed), loaded, quiet, want)
	}
	t.Logf("%d segments: %v, %v while packets dropped", len(closed), quiet, loaded)
}

// TestSummarizerSkipsDeleted: a segment retention deletes while the
// builder works on it, before its build (its file gone to the trash and
// freed) or between its build and its write, is skipped without an error
// and gets no summary row; the others are built.
func TestSummarizerSkipsDeleted(t *testing.T) {
	dir, _ := summaryStore(t, 800<<10)
	s, a, logs := testSummarizer(t, dir)
	closed := closedSegments(t, a)
	// Retention's own connection, as the daemon's.
	ret, err := archive.Open(dir, archive.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ret.Close()
	var goneBefore, goneBetween string
	n := 0
	s.beforeBuild = func(g archive.Segment) {
		if n++; n == 2 {
			goneBefore = g.File
			if err := ret.Expire(g); err != nil {
				t.Fatal(err)
			}
			if err := ret.Reap(nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	s.beforePut = func(g archive.Segment) {
		if n == 3 {
			goneBetween = g.File
			if err := ret.Expire(g); err != nil {
				t.Fatal(err)
			}
		}
	}
	s.pass(context.Background(), true)
	out := logs.String()
	if strings.Contains(out, "level=WARN") || strings.Contains(out, "level=ERROR") ||
		!strings.Contains(out, "built="+strconv.Itoa(len(closed)-2)+" deleted_meanwhile=2 failed=0 left=0") {
		t.Fatalf("log:\n%s", out)
	}
	left := closedSegments(t, a)
	sums := a.Summaries(left)
	if len(left) != len(closed)-2 || len(sums) != len(left) {
		t.Fatalf("%d segments left of %d, %d summarized", len(left), len(closed), len(sums))
	}
	conn, err := sqlite3.Open(filepath.Join(dir, archive.CatalogFile))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stmt, _, err := conn.Prepare(`SELECT count(*) FROM segment_summaries WHERE file IN (?, ?)`)
	if err != nil {
		t.Fatal(err)
	}
	defer stmt.Close()
	stmt.BindText(1, goneBefore)
	stmt.BindText(2, goneBetween)
	if !stmt.Step() || stmt.ColumnInt(0) != 0 {
		t.Fatalf("the deleted segments %s and %s have summary rows", goneBefore, goneBetween)
	}
	if st := s.status(); st.SegmentsUnsummarized != 0 || st.SegmentsSummarized != int64(len(left)) {
		t.Fatalf("status: %+v", st)
	}
}

// TestSummarizerStops: cancelled in the middle of a segment, the builder
// returns at once, writes nothing for it, logs that it stopped, and the
// next pass builds the rest.
func TestSummarizerStops(t *testing.T) {
	dir, _ := summaryStore(t, 800<<10)
	s, a, logs := testSummarizer(t, dir)
	closed := closedSegments(t, a)
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	s.beforeBuild = func(archive.Segment) {
		if n++; n == 3 {
			cancel()
		}
	}
	t0 := time.Now()
	s.pass(ctx, true)
	if took := time.Since(t0); took > 5*time.Second {
		t.Errorf("the pass took %v after its cancel", took)
	}
	if got := len(a.Summaries(closed)); got != 2 {
		t.Fatalf("%d segments summarized before the stop, want 2", got)
	}
	if !strings.Contains(logs.String(), "msg=\"segment summaries: stopped\" built=2") {
		t.Fatalf("log:\n%s", logs)
	}
	if st := s.status(); st.SegmentsUnsummarized != int64(len(closed)-2) || st.Building {
		t.Fatalf("status after the stop: %+v", st)
	}
	s.beforeBuild = nil
	s.pass(context.Background(), false)
	if got := len(a.Summaries(closed)); got != len(closed) {
		t.Fatalf("%d of %d segments summarized after the next pass", got, len(closed))
	}
}

// BenchmarkBuildSummary: building one segment's summary from its file,
// the work the builder does between its pauses (bytes are the segment's
// file bytes).
func BenchmarkBuildSummary(b *testing.B) {
	dir, _ := summaryStore(b, 800<<10)
	a, err := archive.Open(dir, archive.Options{ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	segs, err := a.Unsummarized(false)
	a.Close()
	if err != nil || len(segs) == 0 {
		b.Fatal(len(segs), err)
	}
	g := segs[0]
	var sum index.Summary
	b.SetBytes(g.Bytes)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := archive.BuildSummary(context.Background(), filepath.Join(dir, g.File), g, &sum); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(g.Packets), "packets/segment")
}

// TestSummarizerCatalogRefuses: a catalog that refuses the write of a
// summary (a full disk) ends the pass after that segment, with one
// warning, instead of reading every other segment's file for a write
// that would fail too; the next pass, the catalog writable again, builds
// them all. Before, the pass built every segment and logged a warning
// for each.
func TestSummarizerCatalogRefuses(t *testing.T) {
	dir, _ := summaryStore(t, 800<<10)
	s, a, logs := testSummarizer(t, dir)
	closed := closedSegments(t, a)
	s.pause = time.Millisecond
	writable := s.catalog
	full := errors.New("database or disk is full")
	s.catalog = func(func(*archive.Archive) error) error { return full }
	builds := 0
	s.beforeBuild = func(archive.Segment) { builds++ }
	if !s.pass(context.Background(), true) {
		t.Fatal("the pass could not list the segments")
	}
	if builds != 1 {
		t.Errorf("%d of %d segments built while the catalog refused writes, want 1", builds, len(closed))
	}
	out := logs.String()
	if n := strings.Count(out, "level=WARN"); n != 1 || !strings.Contains(out, full.Error()) {
		t.Errorf("%d warnings, want 1 naming the catalog's error:\n%s", n, out)
	}
	if st := s.status(); st.SegmentsUnsummarized != int64(len(closed)) || st.SegmentsSummarized != 0 {
		t.Errorf("status while the catalog refused writes: %+v", st)
	}
	s.catalog = writable
	s.pass(context.Background(), false)
	if got := len(a.Summaries(closed)); got != len(closed) {
		t.Fatalf("%d of %d segments summarized once the catalog took writes again", got, len(closed))
	}
}

// TestSummarizerFullListingKeepsNoSketch: the full listing, which runs at
// every start, checks each summary's sketch and keeps none: what it
// allocates does not grow with the sketches (up to 1 MiB each: a store of
// thousands of segments would have held gigabytes at start). Before, it
// read every sketch into memory at once (Archive.Summaries) to look at
// its header.
func TestSummarizerFullListingKeepsNoSketch(t *testing.T) {
	dir, atClose := summaryStore(t, 800<<10)
	conn, err := sqlite3.Open(filepath.Join(dir, archive.CatalogFile))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Every summary back, each sketch padded to 1 MiB (a busy segment's):
	// still usable (a whole number of words).
	stmt, _, err := conn.Prepare(`INSERT INTO segment_summaries (file, packets, blocks, pairs, sketch)
		SELECT file, packets, 1, 1, ? FROM segments WHERE file = ?`)
	if err != nil {
		t.Fatal(err)
	}
	var sketches int64
	for file, sk := range atClose {
		big := append(bytes.Clone(sk), make([]byte, 3+8<<17-len(sk))...) // 2^17 words
		if err := index.Sketch(big).Check(); err != nil || !index.Sketch(big).HasCommunityIDs() {
			t.Fatalf("padded sketch: %v", err)
		}
		stmt.BindBlob(1, big)
		stmt.BindText(2, file)
		if err := stmt.Exec(); err != nil {
			t.Fatal(err)
		}
		sketches += int64(len(big))
	}
	stmt.Close()
	a, err := archive.Open(dir, archive.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	segs, err := a.Unsummarized(true)
	runtime.ReadMemStats(&after)
	if err != nil || len(segs) != 0 {
		t.Fatalf("%d segments listed unsummarized, %v; want none", len(segs), err)
	}
	if got := int64(after.TotalAlloc - before.TotalAlloc); got > sketches/4 {
		t.Fatalf("the full listing of %d summaries allocated %d bytes, their sketches hold %d", len(atClose), got, sketches)
	}
}
