package daemon

// The summary builder: a store written by an older build (or whose
// catalog was lost and rebuilt from the files) has closed segments
// without a segment summary, which every store query opens. The daemon
// gives them one in the background, as packetrecorder reindex -d STORE
// does (archive.BuildSummary, archive.PutSummary: the same code as
// Archive.Summarize), one segment at a time, newest first: the newest
// are the likeliest to be asked for, and the oldest are the next that
// retention deletes, whose summaries might never be used.
//
// It never holds up recording or retention: the segments are listed and
// each segment's file read through read-only connections of its own;
// retention's catalog connection (and lock) is taken only to write one
// summary, a statement. Between two segments it
// pauses at least summarizePause, at least as long as the segment took
// (so at most half of one core), long enough to keep its reads under
// summarizeRate on average, and summarizeBackoff more when an
// interface dropped a packet or stored a block raw meanwhile. A segment
// retention deletes before its summary is written is skipped; one that
// cannot be read is logged once and left to reindex (it counts as still
// unsummarized). A summary the catalog refuses to write (a full disk)
// ends the pass: the next rescan tries again. Segments whose block index (their own block sketches) is
// missing are left to reindex too: the summary is built from the
// packets, which does not need them, and writing into a closed segment
// is for an offline tool.
//
// It lists the segments in full (every sketch read and checked) at start,
// then every summarizeRescan with a check that reads no sketch (segments
// closed without a summary: a recording that could not reach the
// catalog, a catalog rebuilt from the files).

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/packetrecorderd/packetrecorderd/internal/archive"
	"github.com/packetrecorderd/packetrecorderd/internal/index"
)

const (
	// summarizePause is the least pause between two segments.
	summarizePause = 100 * time.Millisecond
	// summarizeRate bounds the builder's reads of segment files, on
	// average over each segment and the pause after it (bytes/s).
	summarizeRate = 64 << 20
	// summarizeBackoff is the pause after a segment during which an
	// interface dropped packets or stored blocks raw (its writer fell
	// behind).
	summarizeBackoff = 5 * time.Second
	// summarizeRescan is how often the catalog is looked at again for
	// segments closed without a summary.
	summarizeRescan = time.Minute
)

// IndexStatus is the status of the store's segment summaries (the
// "index" object of GET /api/v1/status).
type IndexStatus struct {
	// SegmentsUnsummarized counts the closed segments without a usable
	// summary, as the builder last counted them (less those it has built
	// or found deleted since): a store query opens each of them.
	SegmentsUnsummarized int64 `json:"segments_unsummarized"`
	// SegmentsSummarized counts the summaries the daemon built since it
	// started.
	SegmentsSummarized int64 `json:"segments_summarized"`
	// Building says the builder is at work.
	Building bool `json:"building"`
}

// summarizer builds the missing segment summaries (see above).
type summarizer struct {
	log *slog.Logger
	// catalog runs fn with the catalog's connection (retention's, under
	// its lock).
	catalog func(fn func(a *archive.Archive) error) error
	dir     string
	// pressure sums the interfaces' dropped packets and raw blocks:
	// when it grows, the builder backs off.
	pressure func() int64
	// In tests: run before a segment's build, and between its build and
	// its write.
	beforeBuild, beforePut func(archive.Segment)

	// The pacing: summarizePause, summarizeBackoff and summarizeRate
	// (tests shorten them).
	pause, backoff time.Duration
	rate           float64

	unsummarized, summarized atomic.Int64
	building                 atomic.Bool
	failed                   map[string]bool // files that could not be summarized: left to reindex
	sum                      index.Summary
}

func newSummarizer(log *slog.Logger, dir string, catalog func(func(*archive.Archive) error) error) *summarizer {
	return &summarizer{log: log, dir: dir, catalog: catalog, failed: map[string]bool{},
		pressure: func() int64 { return 0 }, pause: summarizePause, backoff: summarizeBackoff, rate: summarizeRate}
}

// run builds summaries until ctx ends.
func (s *summarizer) run(ctx context.Context) {
	t := time.NewTicker(summarizeRescan)
	defer t.Stop()
	for full := true; ; {
		// The full listing until one succeeds, then the quick one.
		if s.pass(ctx, full) {
			full = false
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// pass lists the segments without a summary and builds theirs, one at a
// time, until done or ctx ends. It reports whether it could list them.
func (s *summarizer) pass(ctx context.Context, full bool) (listed bool) {
	segs, err := s.list(full)
	if err != nil {
		s.log.Warn("segment summaries: read the catalog", "err", err)
		return false
	}
	var todo []archive.Segment
	for _, g := range segs {
		if !s.failed[g.File] {
			todo = append(todo, g)
		}
	}
	s.unsummarized.Store(int64(len(segs)))
	if len(todo) == 0 {
		return true
	}
	s.building.Store(true)
	defer s.building.Store(false)
	start := time.Now()
	s.log.Info("building segment summaries in the background, newest first", "segments", len(todo))
	var built, deleted, failed int
	defer func() {
		left := s.unsummarized.Load()
		if ctx.Err() != nil {
			s.log.Info("segment summaries: stopped", "built", built, "deleted_meanwhile", deleted, "failed", failed, "left", left, "took", time.Since(start).Round(time.Millisecond))
			return
		}
		s.log.Info("segment summaries built", "built", built, "deleted_meanwhile", deleted, "failed", failed, "left", left, "took", time.Since(start).Round(time.Millisecond))
	}()
	for _, g := range todo {
		if ctx.Err() != nil {
			return true
		}
		t0, p0 := time.Now(), s.pressure()
		switch err := s.one(ctx, g); {
		case err == nil:
			built++
			s.summarized.Add(1)
			s.unsummarized.Add(-1)
		case errors.Is(err, errDeletedMeanwhile):
			deleted++
			s.unsummarized.Add(-1)
		case ctx.Err() != nil:
			return true
		case errors.Is(err, errCatalogWrite):
			// A catalog that refuses a write (a full disk, an I/O error)
			// would refuse the next segments' too: reading their files
			// would be for nothing. The next rescan tries again.
			s.log.Warn("segment summaries: write the catalog (tried again at the next rescan)", "file", g.File, "err", err)
			return true
		default:
			failed++
			s.failed[g.File] = true
			s.log.Warn("segment not summarized: packetrecorder reindex -d STORE tells why", "file", g.File, "err", err)
		}
		took := time.Since(t0)
		wait := max(s.pause, took, time.Duration(float64(g.Bytes)/s.rate*float64(time.Second))-took)
		if s.pressure() != p0 {
			wait = max(wait, s.backoff)
		}
		select {
		case <-ctx.Done():
			return true
		case <-time.After(wait):
		}
	}
	return true
}

var (
	errDeletedMeanwhile = errors.New("deleted by retention meanwhile")
	errCatalogWrite     = errors.New("catalog write")
)

// list lists the segments without a usable summary, newest first,
// through a read-only catalog connection of its own: retention's is
// not held while the sketches are read.
func (s *summarizer) list(full bool) ([]archive.Segment, error) {
	a, err := archive.Open(s.dir, archive.Options{ReadOnly: true, Logger: s.log})
	if err != nil {
		return nil, err
	}
	defer a.Close()
	return a.Unsummarized(full)
}

// one builds and writes g's summary.
func (s *summarizer) one(ctx context.Context, g archive.Segment) error {
	if s.beforeBuild != nil {
		s.beforeBuild(g)
	}
	path := filepath.Join(s.dir, g.File)
	b, err := archive.BuildSummary(ctx, path, g, &s.sum)
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		// Expired while it was read (moved to the trash, freed): skipped.
		var live bool
		if cerr := s.catalog(func(a *archive.Archive) (err error) {
			live, err = a.Live(g)
			return err
		}); cerr == nil && !live {
			return errDeletedMeanwhile
		}
		return err
	}
	if s.beforePut != nil {
		s.beforePut(g)
	}
	var ok bool
	if err := s.catalog(func(a *archive.Archive) (err error) {
		ok, err = a.PutSummary(b)
		return err
	}); err != nil {
		return fmt.Errorf("%w: %w", errCatalogWrite, err)
	}
	if !ok {
		return errDeletedMeanwhile
	}
	return nil
}

// status is the builder's part of the status.
func (s *summarizer) status() IndexStatus {
	if s == nil {
		return IndexStatus{}
	}
	return IndexStatus{SegmentsUnsummarized: s.unsummarized.Load(), SegmentsSummarized: s.summarized.Load(), Building: s.building.Load()}
}

// withCatalog runs fn with retention's catalog connection, under its
// lock.
func (r *retention) withCatalog(fn func(a *archive.Archive) error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return fn(r.a)
}

// startSummarizer starts the summary builder: cancel stops it, done is
// closed once it has stopped.
func (d *Daemon) startSummarizer(ctx context.Context) (cancel context.CancelFunc, done <-chan struct{}) {
	s := newSummarizer(d.log, d.storeDir, d.ret.withCatalog)
	s.pressure = func() int64 {
		var n int64
		for _, r := range d.runnerListLocked() {
			sn := r.snapshot()
			n += sn.KernelDropped + sn.AppDropped + sn.CompressionSkipped
		}
		return n
	}
	d.summaryMu.Lock()
	d.summaries = s
	d.summaryMu.Unlock()
	ctx, cancel = context.WithCancel(ctx)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		s.run(ctx)
	}()
	return cancel, stopped
}

// indexStatus is the status of the segment summaries.
func (d *Daemon) indexStatus() IndexStatus {
	d.summaryMu.Lock()
	s := d.summaries
	d.summaryMu.Unlock()
	return s.status()
}

// summaryState is the Daemon's part for the builder.
type summaryState struct {
	summaryMu sync.Mutex
	summaries *summarizer // nil until Run starts it
}

var (
	descUnsummarized = prometheus.NewDesc("packetrecorder_index_segments_unsummarized",
		"Closed segments without a usable segment summary (every store query opens them); the daemon builds theirs in the background.", nil, nil)
	descSummarized = prometheus.NewDesc("packetrecorder_index_segments_summarized_total",
		"Segment summaries the daemon built in the background.", nil, nil)
)

// summaryCollector is the builder's metrics.
type summaryCollector struct{ d *Daemon }

func (c summaryCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descUnsummarized
	ch <- descSummarized
}

func (c summaryCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.d.indexStatus()
	ch <- prometheus.MustNewConstMetric(descUnsummarized, prometheus.GaugeValue, float64(st.SegmentsUnsummarized))
	ch <- prometheus.MustNewConstMetric(descSummarized, prometheus.CounterValue, float64(st.SegmentsSummarized))
}
