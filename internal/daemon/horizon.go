package daemon

// The horizon: how far back the store reaches now, and how far its
// budget reaches at the rate it fills, with and without what compression
// and the per-flow cutoff save.
//
// Each interface's recordings go through a horizonSink, which counts the
// packets it commits: their lengths on the wire (seen), their captured
// bytes (kept) and what their blocks take (blobs, compressed or raw); and
// the packets a cutoff left out (seen, not stored) as the ring's Progress
// reports them. Every horizonStep the sampler reads the catalog: the file
// bytes each interface's segments grew by since the last sample (new
// segments whole) are what it stored. The samples of the last
// horizonLong make exact windows: a rate over a window is the growth of
// the counters between the window's oldest sample and the newest,
// divided by the time between them (less than the window while the
// daemon is younger than it).

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/packetrecorderd/packetrecorderd/internal/archive"
	"github.com/packetrecorderd/packetrecorderd/internal/recorder"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

const (
	// horizonStep is how often the sampler reads the counters and the
	// catalog.
	horizonStep = 5 * time.Second
	// The windows of the rates: the recent one, and the one the
	// projections use (steadier).
	horizonShort = time.Minute
	horizonLong  = time.Hour
)

// horizonWindows name the windows as status and metrics show them.
var horizonWindows = []struct {
	name string
	d    time.Duration
}{{"1m", horizonShort}, {"1h", horizonLong}}

// volume is what an interface carried and what the store kept of it,
// cumulative over the daemon's life.
type volume struct {
	// SeenPackets and SeenBytes are the packets seen and their lengths on
	// the wire (original lengths). A packet the cutoff stores truncated
	// is seen whole; one it leaves out (keep: none) too (noteDropped).
	SeenPackets, SeenBytes int64
	// StoredPackets and CapturedBytes are the packets stored and the
	// bytes of them stored (captured lengths, record headers excluded).
	StoredPackets, CapturedBytes int64
	// BlobBytes is what the stored packets' blocks take (compressed, or
	// raw where compression did not pay); FileBytes is what the
	// interface's segment files grew by (blobs, pages, block index).
	BlobBytes, FileBytes int64
}

func (v volume) sub(o volume) volume {
	return volume{v.SeenPackets - o.SeenPackets, v.SeenBytes - o.SeenBytes, v.StoredPackets - o.StoredPackets,
		v.CapturedBytes - o.CapturedBytes, v.BlobBytes - o.BlobBytes, v.FileBytes - o.FileBytes}
}

// ifaceVolume is one interface's volume, written by its rings' sinks and
// the sampler, read by the sampler.
type ifaceVolume struct {
	seenPackets, seenBytes, storedPackets, capturedBytes, blobBytes, fileBytes atomic.Int64
}

func (c *ifaceVolume) add(v volume) {
	c.seenPackets.Add(v.SeenPackets)
	c.seenBytes.Add(v.SeenBytes)
	c.storedPackets.Add(v.StoredPackets)
	c.capturedBytes.Add(v.CapturedBytes)
	c.blobBytes.Add(v.BlobBytes)
	c.fileBytes.Add(v.FileBytes)
}

func (c *ifaceVolume) load() volume {
	return volume{c.seenPackets.Load(), c.seenBytes.Load(), c.storedPackets.Load(), c.capturedBytes.Load(), c.blobBytes.Load(), c.fileBytes.Load()}
}

// horizonSink counts the blocks a ring's recording commits. The
// recorder uses one from one goroutine; Tick and the rest are the
// Recording's own.
var _ recorder.Sink = (*horizonSink)(nil)

type horizonSink struct {
	*archive.Recording
	c       *ifaceVolume
	pending volume // appended since the last commit
	blobs   int64  // the recording's blob bytes at the last commit
	// dropped is what the ring's cutoff left out so far (keep: none).
	dropped struct{ packets, wire int64 }
}

// noteDropped hears of the packets a ring's cutoff left out entirely
// (keep: none), cumulative over the ring's recording as the recorder's
// Progress reports them, with their lengths on the wire: they were
// seen, though nothing of them is stored. (A packet cut to its headers
// is stored, and seen whole by Append.) Call it from the recorder's
// Progress, which runs in the goroutine that calls Commit.
func (s *horizonSink) noteDropped(packets, wireBytes int64) {
	dp, dw := packets-s.dropped.packets, wireBytes-s.dropped.wire
	if dp < 0 || dw < 0 {
		return // not cumulative: never count backwards
	}
	s.dropped.packets, s.dropped.wire = packets, wireBytes
	s.c.add(volume{SeenPackets: dp, SeenBytes: dw})
}

// Append adds b to the open transaction and to what the next Commit counts.
func (s *horizonSink) Append(b *store.Block) error {
	if err := s.Recording.Append(b); err != nil {
		return err
	}
	s.pending.add(b)
	return nil
}

func (v *volume) add(b *store.Block) {
	n := int64(b.Count)
	v.SeenPackets += n
	v.SeenBytes += b.WireBytes
	v.StoredPackets += n
	v.CapturedBytes += int64(len(b.Data)) - n*store.RecordHeaderLen
}

// Commit commits, and counts what it committed.
func (s *horizonSink) Commit() error {
	if err := s.Recording.Commit(); err != nil {
		return err
	}
	b := s.Recording.StoredBytes()
	s.pending.BlobBytes, s.blobs = b-s.blobs, b
	s.c.add(s.pending)
	s.pending = volume{}
	return nil
}

// Rollback abandons the open transaction, and its count.
func (s *horizonSink) Rollback() error {
	s.pending = volume{}
	return s.Recording.Rollback()
}

// Reopen gives up the open segment (its transaction rolled back), and
// the count of that transaction.
func (s *horizonSink) Reopen() error {
	s.pending = volume{}
	return s.Recording.Reopen()
}

type volSample struct {
	at time.Time
	v  volume
}

type segSeen struct {
	iface string
	bytes int64
}

// horizon keeps the interfaces' volumes and their recent samples.
type horizon struct {
	mu     sync.Mutex
	ifaces map[string]*ifaceVolume // by interface name, for the daemon's life
	files  map[string]segSeen      // the most each segment took at a sample
	primed bool                    // files holds a first sample
	series map[string][]volSample  // each configured interface's samples, oldest first
}

func newHorizon() *horizon {
	return &horizon{ifaces: map[string]*ifaceVolume{}, files: map[string]segSeen{}, series: map[string][]volSample{}}
}

// counter is the volume of the interface name.
func (h *horizon) counter(name string) *ifaceVolume {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.ifaces[name]
	if c == nil {
		c = &ifaceVolume{}
		h.ifaces[name] = c
	}
	return c
}

// sink wraps a ring's recording of the interface name to count it (into
// nothing with a nil horizon).
func (h *horizon) sink(name string, rec *archive.Recording) *horizonSink {
	c := &ifaceVolume{}
	if h != nil {
		c = h.counter(name)
	}
	return &horizonSink{Recording: rec, c: c}
}

// sample takes the catalog's segments at now: what each interface's
// segments grew by past the most they took at a sample is added to its
// file bytes (a new segment whole; the first sample only notes the
// sizes), then each of
// the interfaces names (the configured ones) gets a sample. Samples older
// than horizonLong are forgotten, as are the interfaces no longer named.
func (h *horizon) sample(now time.Time, names []string, segs []archive.Segment) {
	grown := map[string]int64{}
	h.mu.Lock()
	files := make(map[string]segSeen, len(segs))
	for _, s := range segs {
		// A segment's size counts its side files (a WAL, a journal),
		// which shrink as well as grow: only what it grows past the
		// most it ever took is written anew.
		high := s.Bytes
		if prev, ok := h.files[s.File]; ok {
			grown[s.Interface] += max(0, s.Bytes-prev.bytes)
			high = max(high, prev.bytes)
		} else if h.primed {
			grown[s.Interface] += max(0, s.Bytes)
		}
		files[s.File] = segSeen{s.Interface, high}
	}
	h.files, h.primed = files, true
	h.mu.Unlock()
	for name, n := range grown {
		h.counter(name).fileBytes.Add(n)
	}
	keep := map[string]bool{}
	for _, name := range names {
		keep[name] = true
		v := h.counter(name).load()
		h.mu.Lock()
		s := append(h.series[name], volSample{now, v})
		i := 0
		for i < len(s)-1 && now.Sub(s[i].at) > horizonLong {
			i++
		}
		h.series[name] = s[i:]
		h.mu.Unlock()
	}
	h.mu.Lock()
	for name := range h.series {
		if !keep[name] {
			delete(h.series, name)
		}
	}
	h.mu.Unlock()
}

// rate is a volume per second over a window.
type rate struct {
	span                   time.Duration // what the samples cover
	seenPackets, seenBytes float64
	storedPackets, kept    float64 // packets and captured bytes stored
	blobBytes, fileBytes   float64
}

// rates is the interface name's rate over window w: between the newest
// sample and the oldest no more than w before it. ok is false with fewer
// than two samples.
func (h *horizon) rates(name string, w time.Duration) (rate, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.series[name]
	if len(s) < 2 {
		return rate{}, false
	}
	last := s[len(s)-1]
	i := 0
	for i < len(s)-1 && last.at.Sub(s[i].at) > w {
		i++
	}
	span := last.at.Sub(s[i].at)
	if i == len(s)-1 || span <= 0 {
		return rate{}, false
	}
	d, sec := last.v.sub(s[i].v), span.Seconds()
	return rate{span: span, seenPackets: float64(d.SeenPackets) / sec, seenBytes: float64(d.SeenBytes) / sec,
		storedPackets: float64(d.StoredPackets) / sec, kept: float64(d.CapturedBytes) / sec,
		blobBytes: float64(d.BlobBytes) / sec, fileBytes: float64(d.FileBytes) / sec}, true
}

// HorizonStatus is how far back the store reaches and would reach, in
// GET /api/v1/status ("horizon"). Rates are in bytes per second;
// projections assume the store fills at the rate of the 1h window (or
// of what the daemon has seen, if it is younger). Values that cannot be
// known yet (no packet, or no two samples) are null.
type HorizonStatus struct {
	// ReachSeconds is how far back the store reaches now: now minus the
	// oldest packet's time.
	ReachSeconds *float64 `json:"reach_seconds"`
	// BudgetBytes is the room the store may fill: retention.max_bytes,
	// or what the filesystem offers it (its file bytes, plus the free
	// bytes, less what retention keeps free) if that is less; BudgetFrom
	// says which ("max_bytes" or "disk").
	BudgetBytes int64  `json:"budget_bytes"`
	BudgetFrom  string `json:"budget_from"`
	UsedBytes   int64  `json:"used_bytes"`
	// MaxAgeSeconds is retention.max_age (0: none), which bounds both
	// projections.
	MaxAgeSeconds float64 `json:"max_age_seconds"`
	// ProjectedSeconds is how far back the store will reach once its
	// budget is full at the current stored rate: budget / stored bytes
	// per second, at most max_age. LimitedBy says what bounds it
	// ("budget" or "max_age").
	ProjectedSeconds *float64 `json:"projected_seconds"`
	LimitedBy        string   `json:"limited_by,omitempty"`
	// ProjectedWholeSeconds is the same if every packet seen were stored
	// whole and uncompressed (no cutoff, no snaplen, no compression): the
	// budget over the bytes seen with their record headers, plus what
	// the files take now around their blocks.
	ProjectedWholeSeconds *float64 `json:"projected_whole_seconds"`
	// CompressionRatio is the stored packets' raw blocks (captured bytes
	// with their record headers) over what the blocks take: 1 without
	// compression, 2 when zstd halves them.
	CompressionRatio *float64 `json:"compression_ratio"`
	// CutShare is the share of the bytes seen on the wire that were not
	// stored (the cutoff and the snaplen cut them): 0 to 1.
	CutShare *float64 `json:"cut_share"`
	// Rates are the rates over each window, all interfaces together and
	// each.
	Rates []HorizonRates `json:"rates"`
}

// HorizonRates are the rates over one window.
type HorizonRates struct {
	Window string `json:"window"` // "1m" or "1h"
	// SpanSeconds is the time the rates are measured over: the window,
	// or less while the daemon is younger than it (0: not yet measured).
	SpanSeconds          float64             `json:"span_seconds"`
	SeenBytesPerSecond   float64             `json:"seen_bytes_per_second"`   // lengths on the wire
	StoredBytesPerSecond float64             `json:"stored_bytes_per_second"` // file bytes written
	Interfaces           []HorizonIfaceRates `json:"interfaces"`
}

// HorizonIfaceRates are one interface's rates over a window.
type HorizonIfaceRates struct {
	Name                 string  `json:"name"`
	SeenBytesPerSecond   float64 `json:"seen_bytes_per_second"`
	StoredBytesPerSecond float64 `json:"stored_bytes_per_second"`
}

// horizonInputs are the store's state the horizon is computed from.
type horizonInputs struct {
	now      time.Time
	names    []string // the configured interfaces
	oldestNS int64    // 0: no packet
	// The store's file bytes, the filesystem's free bytes (negative:
	// unknown) and the free bytes retention keeps.
	fileBytes, freeBytes, keepFree int64
	maxBytes                       int64
	maxAge                         time.Duration
}

// budget is the room the store may fill, and what bounds it.
func budget(in horizonInputs) (int64, string) {
	if in.freeBytes < 0 {
		if in.maxBytes > 0 {
			return in.maxBytes, "max_bytes"
		}
		return 0, ""
	}
	disk := max(0, in.fileBytes+in.freeBytes-in.keepFree)
	if in.maxBytes > 0 && in.maxBytes <= disk {
		return in.maxBytes, "max_bytes"
	}
	return disk, "disk"
}

// status computes the horizon from the samples and the store's state.
func (h *horizon) status(in horizonInputs) HorizonStatus {
	st := HorizonStatus{UsedBytes: in.fileBytes, MaxAgeSeconds: in.maxAge.Seconds(), Rates: []HorizonRates{}}
	st.BudgetBytes, st.BudgetFrom = budget(in)
	if in.oldestNS != 0 {
		st.ReachSeconds = ptr(max(0, in.now.Sub(time.Unix(0, in.oldestNS)).Seconds()))
	}
	var long rate
	for _, w := range horizonWindows {
		hr := HorizonRates{Window: w.name, Interfaces: []HorizonIfaceRates{}}
		var sum rate
		for _, name := range in.names {
			r, ok := h.rates(name, w.d)
			if !ok {
				continue
			}
			hr.Interfaces = append(hr.Interfaces, HorizonIfaceRates{Name: name, SeenBytesPerSecond: r.seenBytes, StoredBytesPerSecond: r.fileBytes})
			sum.span = max(sum.span, r.span)
			sum.seenPackets += r.seenPackets
			sum.seenBytes += r.seenBytes
			sum.storedPackets += r.storedPackets
			sum.kept += r.kept
			sum.blobBytes += r.blobBytes
			sum.fileBytes += r.fileBytes
		}
		hr.SpanSeconds, hr.SeenBytesPerSecond, hr.StoredBytesPerSecond = sum.span.Seconds(), sum.seenBytes, sum.fileBytes
		st.Rates = append(st.Rates, hr)
		long = sum
	}
	if long.span == 0 {
		return st
	}
	if long.seenBytes > 0 {
		st.CutShare = ptr(max(0, 1-long.kept/long.seenBytes))
	}
	st.ProjectedSeconds, st.LimitedBy = project(st.BudgetBytes, long.fileBytes, in.maxAge)
	if long.blobBytes > 0 {
		// Blocks of whole packets, raw, would take the bytes seen with
		// their record headers, and the files what they take around the
		// blocks now (pages, block index, sessions: by the block, not
		// by the byte).
		st.CompressionRatio = ptr((long.kept + long.storedPackets*store.RecordHeaderLen) / long.blobBytes)
		whole := long.seenBytes + long.seenPackets*store.RecordHeaderLen + max(0, long.fileBytes-long.blobBytes)
		st.ProjectedWholeSeconds, _ = project(st.BudgetBytes, whole, in.maxAge)
	} else if long.seenBytes == 0 {
		// Nothing seen, nothing written: whole or not, the same.
		st.ProjectedWholeSeconds, _ = project(st.BudgetBytes, 0, in.maxAge)
	}
	return st
}

// project is how long budget bytes last at rate bytes per second, at most
// maxAge (0: no bound), and what bounds it; nil when it cannot be told
// (no budget, or nothing written and no max_age).
func project(budget int64, rate float64, maxAge time.Duration) (*float64, string) {
	if budget <= 0 {
		return nil, ""
	}
	if rate <= 0 {
		if maxAge > 0 {
			return ptr(maxAge.Seconds()), "max_age"
		}
		return nil, ""
	}
	s := float64(budget) / rate
	if maxAge > 0 && s > maxAge.Seconds() {
		return ptr(maxAge.Seconds()), "max_age"
	}
	return &s, "budget"
}

func ptr(f float64) *float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil
	}
	return &f
}

// segmentList reads the catalog's segments under the retention lock (its
// one catalog connection).
func (r *retention) segmentList() ([]archive.Segment, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.a.Segments()
}

// horizonLoop samples every horizonStep until ctx ends.
func (d *Daemon) horizonLoop(ctx context.Context) {
	t := time.NewTicker(horizonStep)
	defer t.Stop()
	for {
		d.sampleHorizon(time.Now())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (d *Daemon) sampleHorizon(now time.Time) {
	segs, err := d.ret.segmentList()
	if err != nil {
		d.log.Warn("horizon: read the catalog", "err", err)
		return
	}
	d.horizon.sample(now, d.interfaceNames(), segs)
}

// interfaceNames are the configured interfaces' names.
func (d *Daemon) interfaceNames() []string {
	cfg := d.config()
	names := make([]string, 0, len(cfg.Interfaces))
	for _, it := range cfg.Interfaces {
		names = append(names, it.Name)
	}
	return names
}

// horizonStatus is the horizon now.
func (d *Daemon) horizonStatus() HorizonStatus {
	if d.horizon == nil {
		return HorizonStatus{Rates: []HorizonRates{}}
	}
	cfg := d.config()
	ret := d.ret
	return d.horizon.status(horizonInputs{now: time.Now(), names: d.interfaceNames(), oldestNS: ret.oldestNS.Load(),
		fileBytes: ret.fileBytes.Load(), freeBytes: ret.freeBytes.Load(), keepFree: ret.floorBytes.Load(),
		maxBytes: int64(cfg.Retention.MaxBytes), maxAge: time.Duration(cfg.Retention.MaxAge)})
}

// collectHorizon sends the horizon's metrics; what is not known yet
// (null in status) is left out.
func collectHorizon(ch chan<- prometheus.Metric, h HorizonStatus) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	maybe := func(d *prometheus.Desc, v *float64) {
		if v != nil {
			gauge(d, *v)
		}
	}
	for _, r := range h.Rates {
		if r.SpanSeconds == 0 {
			continue
		}
		gauge(descSeenRate, r.SeenBytesPerSecond, r.Window)
		gauge(descStoredRate, r.StoredBytesPerSecond, r.Window)
		for _, it := range r.Interfaces {
			gauge(descIfaceSeenRate, it.SeenBytesPerSecond, it.Name, r.Window)
			gauge(descIfaceStoredRate, it.StoredBytesPerSecond, it.Name, r.Window)
		}
	}
	if h.BudgetBytes > 0 {
		gauge(descBudget, float64(h.BudgetBytes))
		gauge(descBudgetUsed, float64(h.UsedBytes)/float64(h.BudgetBytes))
	}
	maybe(descHorizon, h.ReachSeconds)
	maybe(descProjected, h.ProjectedSeconds)
	maybe(descProjectedWhole, h.ProjectedWholeSeconds)
	maybe(descCompression, h.CompressionRatio)
	maybe(descCut, h.CutShare)
}
