package daemon

import (
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/packetrecorderd/packetrecorderd/internal/archive"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// horizonFeed drives a horizon on a fake clock: every horizonStep an
// interface carries pps packets of wire bytes each, of which kept bytes
// are stored, their blocks take blobRate bytes a second and the segment
// files grow by fileRate bytes a second; the
// store rolls over to a new segment every 12 steps and retention deletes
// the oldest beyond three.
type horizonFeed struct {
	h    *horizon
	now  time.Time
	segs []archive.Segment
	next int
}

func newHorizonFeed(t0 time.Time) *horizonFeed {
	f := &horizonFeed{h: newHorizon(), now: t0}
	// A segment from before the daemon started: its bytes are not
	// written now.
	f.segs = []archive.Segment{{File: "eth0/old.db", Interface: "eth0", Bytes: 5 << 30}}
	f.h.sample(f.now, []string{"eth0"}, f.segs)
	return f
}

func (f *horizonFeed) step(pps, wire, kept, blobRate, fileRate int64) {
	secs := int64(horizonStep / time.Second)
	f.h.counter("eth0").add(volume{SeenPackets: pps * secs, SeenBytes: pps * secs * wire,
		StoredPackets: pps * secs, CapturedBytes: pps * secs * kept, BlobBytes: blobRate * secs})
	grow := fileRate * secs
	f.next++
	last := &f.segs[len(f.segs)-1]
	if f.next%12 == 0 {
		// Roll over: the old segment grows by a quarter of the step's
		// bytes, the new one starts with the rest.
		last.Bytes += grow / 4
		f.segs = append(f.segs, archive.Segment{File: "eth0/" + strconv.Itoa(f.next) + ".db", Interface: "eth0", Bytes: grow - grow/4})
		if len(f.segs) > 3 {
			f.segs = f.segs[1:] // retention deleted the oldest
		}
	} else {
		last.Bytes += grow
	}
	f.now = f.now.Add(horizonStep)
	f.h.sample(f.now, []string{"eth0"}, append([]archive.Segment(nil), f.segs...))
}

func near(got, want float64) bool { return math.Abs(got-want) <= 1e-9*math.Max(1, math.Abs(want)) }

// TestHorizonRatesAndProjections: two hours of known traffic on a fake
// clock, then a minute at twice the rate; the rates over each window and
// the projections are those computed by hand.
func TestHorizonRatesAndProjections(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	f := newHorizonFeed(t0)
	// 1000 packets/s of 600 bytes on the wire, 300 of them kept (a
	// cutoff); their blocks of 316 raw bytes a packet take half that
	// (compression), and the files grow 200,000 bytes/s.
	for range 2 * 720 {
		f.step(1000, 600, 300, 158_000, 200_000)
	}
	// Then a minute at twice the packets and twice the file bytes.
	for range 12 {
		f.step(2000, 600, 300, 316_000, 400_000)
	}
	in := horizonInputs{now: f.now, names: []string{"eth0"}, oldestNS: t0.Add(-time.Hour).UnixNano(),
		fileBytes: 600e6, freeBytes: 10e9, keepFree: 1e9, maxBytes: 720e6}
	st := f.h.status(in)
	if len(st.Rates) != 2 {
		t.Fatalf("rates: %+v", st.Rates)
	}
	short, long := st.Rates[0], st.Rates[1]
	// The last minute: 2000 packets/s of 600 bytes, 400,000 file bytes/s.
	if short.Window != "1m" || short.SpanSeconds != 60 || !near(short.SeenBytesPerSecond, 1_200_000) || !near(short.StoredBytesPerSecond, 400_000) {
		t.Errorf("1m: %+v", short)
	}
	// The last hour: 59 minutes at the first rate, one at twice it.
	seen := (59*60*600_000.0 + 60*1_200_000.0) / 3600
	file := (59*60*200_000.0 + 60*400_000.0) / 3600
	if long.Window != "1h" || long.SpanSeconds != 3600 || !near(long.SeenBytesPerSecond, seen) || !near(long.StoredBytesPerSecond, file) {
		t.Errorf("1h: %+v, want seen %v, stored %v", long, seen, file)
	}
	if len(long.Interfaces) != 1 || long.Interfaces[0].Name != "eth0" || !near(long.Interfaces[0].StoredBytesPerSecond, file) {
		t.Errorf("1h per interface: %+v", long.Interfaces)
	}
	// The oldest packet is 2 h 1 min + 1 h old.
	if st.ReachSeconds == nil || *st.ReachSeconds != 3*3600+60 {
		t.Errorf("reach %v, want %d s", st.ReachSeconds, 3*3600+60)
	}
	// max_bytes (720 MB) is less than the disk offers (0.6 + 10 - 1 GB).
	if st.BudgetBytes != 720e6 || st.BudgetFrom != "max_bytes" || st.UsedBytes != 600e6 {
		t.Errorf("budget %d from %q, used %d", st.BudgetBytes, st.BudgetFrom, st.UsedBytes)
	}
	pkts := (59*60*1000.0 + 60*2000.0) / 3600 // packets/s over the hour
	if st.ProjectedSeconds == nil || !near(*st.ProjectedSeconds, 720e6/file) || st.LimitedBy != "budget" {
		t.Errorf("projected %v (%s), want %v", st.ProjectedSeconds, st.LimitedBy, 720e6/file)
	}
	// Whole and uncompressed: 616 raw bytes a packet, and what the
	// files take around the blocks now.
	blob := (59*60*158_000.0 + 60*316_000.0) / 3600
	whole := pkts*(600+16) + file - blob
	if st.ProjectedWholeSeconds == nil || !near(*st.ProjectedWholeSeconds, 720e6/whole) {
		t.Errorf("projected whole %v, want %v", st.ProjectedWholeSeconds, 720e6/whole)
	}
	if st.CutShare == nil || !near(*st.CutShare, 0.5) {
		t.Errorf("cut share %v, want 0.5", st.CutShare)
	}
	if st.CompressionRatio == nil || !near(*st.CompressionRatio, 2) {
		t.Errorf("compression ratio %v, want 2", st.CompressionRatio)
	}

	// max_age of 30 minutes bounds both projections.
	in.maxAge = 30 * time.Minute
	st = f.h.status(in)
	if *st.ProjectedSeconds != 1800 || st.LimitedBy != "max_age" || !near(*st.ProjectedWholeSeconds, 720e6/whole) {
		t.Errorf("with max_age 30m: projected %v (%s), whole %v", *st.ProjectedSeconds, st.LimitedBy, *st.ProjectedWholeSeconds)
	}
	// A small disk: what it offers is the budget.
	in.maxAge, in.freeBytes = 0, 300e6
	if st = f.h.status(in); st.BudgetBytes != 0 || st.BudgetFrom != "disk" || st.ProjectedSeconds != nil {
		t.Errorf("budget %d from %q, want 0 from disk (less free than retention keeps)", st.BudgetBytes, st.BudgetFrom)
	}
	in.freeBytes = 1.1e9
	if st = f.h.status(in); st.BudgetBytes != 700e6 || st.BudgetFrom != "disk" || !near(*st.ProjectedSeconds, 700e6/file) {
		t.Errorf("budget %d from %q, projected %v", st.BudgetBytes, st.BudgetFrom, st.ProjectedSeconds)
	}
}

// TestHorizonYoungAndIdle: a daemon younger than the windows measures
// over what it has; an idle one projects nothing (or max_age); an
// interface taken out of the configuration leaves the rates.
func TestHorizonYoungAndIdle(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	f := newHorizonFeed(t0)
	in := horizonInputs{now: t0, names: []string{"eth0"}, fileBytes: 1e6, freeBytes: 1e9}
	st := f.h.status(in)
	if st.Rates[0].SpanSeconds != 0 || st.ProjectedSeconds != nil || st.ReachSeconds != nil || st.CompressionRatio != nil {
		t.Errorf("one sample: %+v", st)
	}
	f.step(100, 1000, 1000, 101_600, 110_000)
	f.step(100, 1000, 1000, 101_600, 110_000)
	in.now = f.now
	st = f.h.status(in)
	for _, r := range st.Rates {
		if r.SpanSeconds != 10 || !near(r.SeenBytesPerSecond, 100_000) || !near(r.StoredBytesPerSecond, 110_000) {
			t.Errorf("after 10 s: %+v", r)
		}
	}
	// Nothing cut, nothing compressed: 100 packets of 1016 raw bytes a
	// second take 101,600 bytes of blocks, 110,000 of files; whole and
	// uncompressed, the budget holds as long.
	// file bytes: 1.016 times what fileOverhead assumes.
	if *st.CutShare != 0 || *st.CompressionRatio != 1 || !near(*st.ProjectedWholeSeconds, *st.ProjectedSeconds) || !near(*st.ProjectedSeconds, (1e6+1e9)/110_000.0) {
		t.Errorf("cut %v, compression %v, projected %v, whole %v", *st.CutShare, *st.CompressionRatio, *st.ProjectedSeconds, *st.ProjectedWholeSeconds)
	}
	// Idle for a minute: the 1m window sees nothing; the 1h window (the
	// projections') still has the first 10 s.
	for range 12 {
		f.step(0, 0, 0, 0, 0)
	}
	in.now = f.now
	st = f.h.status(in)
	if r := st.Rates[0]; r.SpanSeconds != 60 || r.StoredBytesPerSecond != 0 || r.SeenBytesPerSecond != 0 {
		t.Errorf("idle for a minute: 1m %+v", r)
	}
	if want := (1e6 + 1e9) / (110_000 * 10 / 70.0); st.ProjectedSeconds == nil || !near(*st.ProjectedSeconds, want) {
		t.Errorf("projected %v, want %v", st.ProjectedSeconds, want)
	}
	// Never anything written: no projection, or max_age.
	idle := newHorizonFeed(t0)
	for range 3 {
		idle.step(0, 0, 0, 0, 0)
	}
	in.now = idle.now
	if st = idle.h.status(in); st.Rates[1].SpanSeconds != 15 || st.ProjectedSeconds != nil || st.ProjectedWholeSeconds != nil || st.CompressionRatio != nil {
		t.Errorf("idle: %+v", st)
	}
	in.maxAge = 24 * time.Hour
	if st = idle.h.status(in); st.ProjectedSeconds == nil || *st.ProjectedSeconds != 86400 || st.LimitedBy != "max_age" {
		t.Errorf("idle with max_age 1d: %v %q", st.ProjectedSeconds, st.LimitedBy)
	}
	f.h.sample(f.now.Add(horizonStep), nil, f.segs)
	in.names = nil
	if st = f.h.status(in); len(st.Rates[1].Interfaces) != 0 || st.Rates[1].SpanSeconds != 0 {
		t.Errorf("no interface configured: %+v", st.Rates[1])
	}
}

// TestHorizonSegmentShrinks: a segment whose side files shrink (a WAL
// checkpointed) and grow again is not counted twice.
func TestHorizonSegmentShrinks(t *testing.T) {
	h := newHorizon()
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	seg := func(n int64) []archive.Segment {
		return []archive.Segment{{File: "eth0/a.db", Interface: "eth0", Bytes: n}}
	}
	for i, n := range []int64{0, 1000, 5000, 2000, 5000, 6000} {
		h.sample(t0.Add(time.Duration(i)*horizonStep), []string{"eth0"}, seg(n))
	}
	if got := h.counter("eth0").load().FileBytes; got != 6000 {
		t.Errorf("file bytes written %d, want 6000 (the most the segment took)", got)
	}
}

// TestHorizonSinkCounts: the sink counts exactly the packets a recording
// commits, with their lengths on the wire and captured, never those of a
// transaction rolled back.
func TestHorizonSinkCounts(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	a, err := archive.Open(dir, archive.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	rec, err := archive.NewRecording(dir, archive.RecordingConfig{Interface: "eth0", LinkType: 1, Snaplen: 96, Compression: store.Compression{None: true}})
	if err != nil {
		t.Fatal(err)
	}
	h := newHorizon()
	s := h.sink("eth0", rec)
	block := func(n, wire, capLen int) *store.Block {
		b := &store.Block{LinkType: 1}
		for i := range n {
			b.Append(int64(i+1)*1e6, wire, make([]byte, capLen))
		}
		return b
	}
	for _, step := range []struct {
		b      *store.Block
		commit bool
	}{{block(10, 1500, 96), true}, {block(7, 60, 60), false}, {block(3, 9000, 96), true}} {
		if err := s.Append(step.b); err != nil {
			t.Fatal(err)
		}
		if step.commit {
			err = s.Commit()
		} else {
			err = s.Rollback()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	// Raw blocks: each takes its 96 bytes and 16 of header a packet.
	want := volume{SeenPackets: 13, SeenBytes: 10*1500 + 3*9000, StoredPackets: 13, CapturedBytes: 13 * 96, BlobBytes: 13 * (96 + 16)}
	if got := h.counter("eth0").load(); got != want {
		t.Errorf("counted %+v, want %+v", got, want)
	}
	// A cutoff's keep: none left out 4 packets of 1500 bytes, then 2
	// more: seen, not stored.
	s.noteDropped(4, 4*1500)
	s.noteDropped(6, 6*1500)
	want.SeenPackets, want.SeenBytes = want.SeenPackets+6, want.SeenBytes+6*1500
	if got := h.counter("eth0").load(); got != want {
		t.Errorf("with packets left out: counted %+v, want %+v", got, want)
	}
}

// TestHorizonMetricsScrape: the horizon's metrics parse as Prometheus's
// own checker reads them, with the values status gives.
func TestHorizonMetricsScrape(t *testing.T) {
	testkit.RequireTool(t, "promtool")
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	f := newHorizonFeed(t0)
	for range 24 {
		f.step(1000, 600, 300, 158_000, 200_000)
	}
	st := f.h.status(horizonInputs{now: f.now, names: []string{"eth0"}, oldestNS: t0.UnixNano(), fileBytes: 600e6, freeBytes: 10e9, maxBytes: 720e6})
	reg := prometheus.NewRegistry()
	reg.MustRegister(horizonCollector{st})
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	check := exec.Command("promtool", "check", "metrics")
	check.Stdin = strings.NewReader(text)
	if out, err := check.CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) != 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
	for _, want := range []string{
		`packetrecorder_interface_seen_bytes_per_second{interface="eth0",window="1m"} 600000`,
		`packetrecorder_interface_stored_bytes_per_second{interface="eth0",window="1h"} 200000`,
		`packetrecorder_store_seen_bytes_per_second{window="1h"} 600000`,
		`packetrecorder_store_stored_bytes_per_second{window="1m"} 200000`,
		`packetrecorder_store_budget_bytes 7.2e+08`,
		`packetrecorder_store_budget_used_ratio 0.8333333333333334`,
		`packetrecorder_store_horizon_seconds 120`,
		`packetrecorder_store_horizon_projected_seconds 3600`,
		`packetrecorder_store_cut_ratio 0.5`,
		`packetrecorder_store_compression_ratio 2`,
	} {
		if !strings.Contains(text, "\n"+want+"\n") {
			t.Errorf("metrics lack %q:\n%s", want, text)
		}
	}
	// 1000 packets/s of 616 raw bytes, and 200,000 - 158,000 bytes/s
	// of the files around the blocks.
	if v, want := metricValue(text, "packetrecorder_store_horizon_projected_whole_seconds"), 720e6/658_000.0; !near(v, want) {
		t.Errorf("projected whole %v, want %v", v, want)
	}
}

type horizonCollector struct{ st HorizonStatus }

func (c horizonCollector) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }
func (c horizonCollector) Collect(ch chan<- prometheus.Metric) { collectHorizon(ch, c.st) }

func metricValue(text, name string) float64 {
	for _, l := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err == nil {
				return f
			}
		}
	}
	return math.NaN()
}

// TestHorizonSinkBlobsAcrossSegments: the blob bytes the sink counts over
// a recording that rolls over several segments, zstd on, are what
// sqlite3 finds in the segments' blocks (data_len).
func TestHorizonSinkBlobsAcrossSegments(t *testing.T) {
	testkit.RequireTool(t, "sqlite3")
	dir := filepath.Join(t.TempDir(), "store")
	a, err := archive.Open(dir, archive.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	rec, err := archive.NewRecording(dir, archive.RecordingConfig{Interface: "eth0", LinkType: 1, Snaplen: 1500, MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	h := newHorizon()
	s := h.sink("eth0", rec)
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := range 40 {
		b := &store.Block{LinkType: 1}
		for j := range 100 {
			p := make([]byte, 1000) // half noise, half zeros: compresses some
			for k := range 500 {
				p[k] = byte(rnd.Uint32())
			}
			b.Append(int64(i*100+j+1)*1e6, len(p), p)
		}
		if err := s.Append(b); err != nil {
			t.Fatal(err)
		}
		if err := s.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	segs, err := a.Segments()
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) < 3 {
		t.Fatalf("%d segments: the test wants the recording to roll over", len(segs))
	}
	var blobs int64
	for _, sg := range segs {
		out, err := exec.Command("sqlite3", a.Path(sg), "SELECT coalesce(sum(data_len), 0) FROM blocks").Output()
		if err != nil {
			t.Fatal(err)
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		blobs += n
	}
	got := h.counter("eth0").load()
	if got.BlobBytes != blobs || got.StoredPackets != 4000 || blobs >= 4000*(1000+16) {
		t.Errorf("counted %d blob bytes of %d packets; sqlite3 finds %d (raw: %d)", got.BlobBytes, got.StoredPackets, blobs, 4000*(1000+16))
	}
}
