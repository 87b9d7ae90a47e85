package selection

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net"
	"os"
	"sort"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/archive"
	"github.com/packetrecorderd/packetrecorderd/internal/filter"
	"github.com/packetrecorderd/packetrecorderd/internal/index"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

// ErrNoSuchInterface is Open's error for an interface the store has never
// recorded.
var ErrNoSuchInterface = errors.New("the store holds no packets of interface")

// storeSource is a selection over a store directory: the segments of the
// selected interface (or all) that may hold packets of the time window,
// grouped into recordings (one per ring of an interface, its segments in
// packet order), merged by timestamp. A record's Interface is its
// recording's index.
type storeSource struct {
	ar         *archive.Archive
	recordings []*recording
	// pins keep the selected segments' files whole while the selection
	// reads them, whatever retention does meanwhile (see archive.Pin), by
	// segment id; segments past maxPins are pinned as the walk reaches
	// them.
	pins map[int64]*archive.Pin
	// sums are the catalog's usable summaries of the selected closed
	// segments, by segment id, read when a plan first needs them.
	sums map[int64]archive.SegmentSummary
}

// maxPins bounds the files a selection keeps open for its pins.
const maxPins = 256

// recording is one recording's selected segments.
type recording struct {
	iface   string
	ring    int
	segs    []archive.Segment
	session store.Session // of its first segment
}

// openStore selects, in the store directory dir, the recordings of iface
// (all when "") that may hold packets of r.
func openStore(dir, iface string, r store.Range) (*storeSource, error) {
	ar, err := archive.Open(dir, archive.Options{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	v := &storeSource{ar: ar, pins: map[int64]*archive.Pin{}}
	lo, hi := r.Bounds()
	segs, err := ar.Select(iface, lo, hi)
	if err != nil {
		ar.Close()
		return nil, err
	}
	byRec := map[string]*recording{}
	for _, s := range segs {
		if len(v.pins) < maxPins {
			p, err := ar.Pin(s)
			if errors.Is(err, archive.ErrExpired) || errors.Is(err, archive.ErrDiscarded) {
				continue // gone before the selection began
			}
			if err != nil {
				v.close()
				return nil, err
			}
			v.pins[s.ID] = p
		}
		rc := byRec[s.Recording]
		if rc == nil {
			rc = &recording{iface: s.Interface, ring: s.Ring}
			byRec[s.Recording] = rc
			v.recordings = append(v.recordings, rc)
		}
		rc.segs = append(rc.segs, s)
	}
	kept := v.recordings[:0]
	for _, rc := range v.recordings {
		sort.Slice(rc.segs, func(i, j int) bool { return rc.segs[i].FirstPacket < rc.segs[j].FirstPacket })
		// The session from its first segment still there (one past
		// maxPins may be gone already).
		var db *store.DB
		for len(rc.segs) > 0 {
			if db, err = v.openSegment(rc.segs[0]); !errors.Is(err, errGone) {
				break
			}
			rc.segs = rc.segs[1:]
		}
		if len(rc.segs) == 0 {
			continue
		}
		if err != nil {
			v.close()
			return nil, err
		}
		ss, err := db.Sessions()
		db.Close()
		if err != nil || len(ss) != 1 {
			v.close()
			return nil, errors.Join(err, errors.New("segment "+rc.segs[0].File+" is not a segment"))
		}
		rc.session = ss[0]
		kept = append(kept, rc)
	}
	v.recordings = kept
	sort.SliceStable(v.recordings, func(i, j int) bool {
		a, b := v.recordings[i], v.recordings[j]
		if a.iface != b.iface {
			return a.iface < b.iface
		}
		return a.ring < b.ring
	})
	if iface != "" && len(v.recordings) == 0 {
		known := false
		all, _ := ar.Segments()
		for _, s := range all {
			known = known || s.Interface == iface
		}
		if !known {
			v.close()
			return nil, fmt.Errorf("%w %s", ErrNoSuchInterface, iface)
		}
	}
	return v, nil
}

func (v *storeSource) close() {
	for _, p := range v.pins {
		p.Close()
	}
	v.pins = nil
	v.ar.Close()
}

// openSegment opens a selected segment read-only wherever its pinned file
// is now (in the trash, if retention expired it since the selection
// began). A segment past maxPins is pinned now: if retention deleted it
// meanwhile, the error is errGone (the walk skips it, as it skips a
// segment gone before the selection pinned it), never that the store is
// damaged.
func (v *storeSource) openSegment(seg archive.Segment) (*store.DB, error) {
	p := v.pins[seg.ID]
	if p == nil {
		var err error
		if p, err = v.ar.Pin(seg); err != nil {
			if errors.Is(err, archive.ErrExpired) || errors.Is(err, archive.ErrDiscarded) {
				return nil, fmt.Errorf("read %s: %w: %w", seg.File, errGone, err)
			}
			return nil, fmt.Errorf("read %s: %w", seg.File, err)
		}
		v.pins[seg.ID] = p
	}
	// Retention may move the file to the trash between Path and the
	// open: then it is opened again where it is now. A pinned file moves
	// at most once (the reaper leaves it whole), so the second try is
	// the last.
	for try := 0; ; try++ {
		path, err := p.Path()
		if errors.Is(err, archive.ErrDiscarded) {
			// An open segment its recording removed empty: nothing of it
			// is missed.
			return nil, fmt.Errorf("read %s: %w: %w", seg.File, errGone, err)
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", seg.File, err)
		}
		db, err := store.Open(path, store.Options{ReadOnly: true})
		if err == nil {
			return db, nil
		}
		if now, perr := p.Path(); try == 0 && perr == nil && now != path {
			continue
		}
		return nil, fmt.Errorf("read segment %s: %w", seg.File, err)
	}
}

// errGone marks a segment past maxPins that retention deleted before the
// walk could pin it, or an open one its recording removed empty: it is
// left out of the selection.
var errGone = errors.New("segment gone before it was pinned")

// inSegment opens one of a recording's segments read-only and calls fn
// with it and its session (a segment holds one). A segment retention
// expires during the read is read whole all the same (see openSegment).
func (v *storeSource) inSegment(rc *recording, seg archive.Segment, fn func(db *store.DB, session int64) error) error {
	db, err := v.openSegment(seg)
	if err != nil {
		return err
	}
	defer db.Close()
	return fn(db, rc.session.ID)
}

func (v *storeSource) linkTypes() []uint32 {
	var out []uint32
	seen := map[uint32]bool{}
	for _, rc := range v.recordings {
		if lt := rc.session.LinkType; !seen[lt] {
			seen[lt] = true
			out = append(out, lt)
		}
	}
	return out
}

// interfaceNames are the names of the selected recordings' interfaces.
func (v *storeSource) interfaceNames() []string {
	var out []string
	for _, rc := range v.recordings {
		if len(out) == 0 || out[len(out)-1] != rc.iface {
			out = append(out, rc.iface)
		}
	}
	return out
}

// summary describes the selection as one session.
func (v *storeSource) summary() store.Session {
	s := store.Session{Name: "store " + v.ar.Dir(), Source: "capture", Snaplen: 0}
	if ifs := v.interfaceNames(); len(ifs) == 1 {
		s.Interface = ifs[0]
	}
	for i, rc := range v.recordings {
		if i == 0 {
			s.LinkType, s.Filter, s.Hostname = rc.session.LinkType, rc.session.Filter, rc.session.Hostname
		}
		s.Snaplen = max(s.Snaplen, rc.session.Snaplen)
		for _, seg := range rc.segs {
			s.Packets += seg.Packets
			if !seg.Closed {
				s.Packets++ // an open segment's counter lags: it may hold packets
			}
		}
	}
	return s
}

func (v *storeSource) interfaceName(rec store.Record) string {
	if rec.Interface >= 0 && rec.Interface < len(v.recordings) {
		return v.recordings[rec.Interface].iface
	}
	return ""
}

// interfaces are the interfaces of the selection as a pcapng file
// describes them, by the id (the recording's index) records carry.
func (v *storeSource) interfaces() []store.Interface {
	out := make([]store.Interface, len(v.recordings))
	for i, rc := range v.recordings {
		out[i] = store.Interface{ID: i, Name: rc.iface, Filter: rc.session.Filter, LinkType: rc.session.LinkType, Snaplen: rc.session.Snaplen}
	}
	return out
}

// netmask is the netmask the first recording's session recorded for its
// interface ("ip broadcast"); recordings of interfaces with other masks
// are filtered with it too.
func (v *storeSource) netmask() net.IPMask {
	if len(v.recordings) == 0 {
		return filter.ZeroNetmask
	}
	return filter.NetmaskOf(v.recordings[0].session.Netmask)
}

// streams are the recordings' selected packets, each in packet order.
func (v *storeSource) streams(ctx context.Context, r store.Range, f *Filter) []stream {
	out := make([]stream, len(v.recordings))
	for i, rc := range v.recordings {
		out[i] = func(yield func(store.Record, error) bool) {
			emit := func(rec store.Record) bool {
				rec.Interface = i
				return yield(rec, nil)
			}
			for _, seg := range rc.segs {
				stopped := false
				var err error
				if !v.mayHold(seg, f) {
					continue
				}
				if seg.Closed {
					err = v.inSegment(rc, seg, func(db *store.DB, session int64) error {
						return readSession(db, session, r, f, func(rec store.Record) error {
							if ok, err := keep(ctx, f, rec); !ok || err != nil {
								return err
							}
							if !emit(rec) {
								stopped = true
								return store.ErrStop
							}
							return nil
						})
					})
				} else {
					stopped, err = v.inPieces(ctx, rc, seg, r, f, emit)
				}
				if stopped {
					return
				}
				if errors.Is(err, errGone) {
					continue // nothing of it was read
				}
				if err != nil {
					yield(store.Record{}, err)
					return
				}
			}
		}
	}
	return out
}

// mayHold reports whether a segment must be opened for f: it is open, or
// f's plan narrows nothing, or the catalog's summary of the segment may
// hold a packet f accepts, or the segment has no usable summary (then it
// is opened and planned by its blocks' sketches, and counted for the
// warning). Only a summary that says no leaves a segment out.
func (v *storeSource) mayHold(seg archive.Segment, f *Filter) bool {
	if f == nil || !seg.Closed || !index.Narrows(f.plan) {
		return true
	}
	stats := f.stats
	if stats == nil {
		stats = &store.PlanStats{}
	}
	stats.Segments++
	if v.sums == nil {
		// Every selected segment's, at once; none usable, or the
		// catalog failed: the segment is opened.
		var segs []archive.Segment
		for _, rc := range v.recordings {
			segs = append(segs, rc.segs...)
		}
		v.sums = v.ar.Summaries(segs)
	}
	sk, ok := v.sums[seg.ID]
	if !ok {
		// Retention deletes a summary with its row: a segment expired
		// since the selection chose it (its pinned file is in the trash)
		// is opened, but lacks nothing reindex could give it.
		if _, err := os.Stat(v.ar.Path(seg)); !errors.Is(err, fs.ErrNotExist) {
			stats.Unsummarized++
		}
		return true
	}
	if !sk.Match(f.plan) {
		stats.SegmentsSkipped++
		return false
	}
	return true
}

// A segment being recorded is read in pieces of about pieceBytes of
// matching packets, copied out and handed on after the read ends: the
// recorder's commits (which wait for readers of a segment in
// rollback-journal mode) never wait for a slow consumer, such as an API
// client reading slowly.
const pieceBytes = 4 << 20

func (v *storeSource) inPieces(ctx context.Context, rc *recording, seg archive.Segment, r store.Range, f *Filter, emit func(store.Record) bool) (stopped bool, err error) {
	var buf []byte
	var recs []store.Record
	for {
		buf, recs = buf[:0], recs[:0]
		full := false
		err := v.inSegment(rc, seg, func(db *store.DB, session int64) error {
			return readSession(db, session, r, f, func(rec store.Record) error {
				if ok, err := keep(ctx, f, rec); !ok || err != nil {
					return err
				}
				off := len(buf)
				buf = append(buf, rec.Data...)
				rec.Data = buf[off:len(buf):len(buf)]
				recs = append(recs, rec)
				if len(buf) >= pieceBytes {
					full = true
					return store.ErrStop
				}
				return nil
			})
		})
		if err != nil {
			return false, err
		}
		// buf may have moved as it grew: point the records into it again.
		off := 0
		for i := range recs {
			n := len(recs[i].Data)
			recs[i].Data = buf[off : off+n : off+n]
			off += n
		}
		for _, rec := range recs {
			if !emit(rec) {
				return true, nil
			}
		}
		if !full || len(recs) == 0 {
			return false, nil
		}
		r.From = recs[len(recs)-1].Number + 1
	}
}

// count counts the selected packets from the segments' block indexes.
func (v *storeSource) count(r store.Range) (int64, error) {
	var n int64
	for _, rc := range v.recordings {
		for _, seg := range rc.segs {
			err := v.inSegment(rc, seg, func(db *store.DB, session int64) error {
				c, err := db.Count(session, r)
				n += c
				return err
			})
			if err != nil && !errors.Is(err, errGone) {
				return 0, err
			}
		}
	}
	return n, nil
}

// span is the earliest and latest timestamp the selected segments hold,
// by the catalog (an open segment's reach is now).
func (v *storeSource) span() (first, last int64) {
	first, last = math.MaxInt64, math.MinInt64
	for _, rc := range v.recordings {
		for _, seg := range rc.segs {
			if seg.Packets > 0 {
				first, last = min(first, seg.MinNS), max(last, seg.MaxNS)
			}
			if !seg.Closed {
				last = max(last, time.Now().UnixNano())
				first = min(first, seg.Created.UnixNano())
			}
		}
	}
	if first > last {
		return 0, 0
	}
	return first, last
}

// Recordings lists the store's recordings in the order they began,
// numbered from 1.
func Recordings(dir string) ([]Recording, error) {
	ar, err := archive.Open(dir, archive.Options{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer ar.Close()
	segs, err := ar.Segments()
	if err != nil {
		return nil, err
	}
	var order []string
	byRec := map[string]*Recording{}
	for _, s := range segs {
		r := byRec[s.Recording]
		if r == nil {
			r = &Recording{Recording: s.Recording, Interface: s.Interface, Ring: s.Ring, FirstPacket: s.FirstPacket, Status: store.StatusComplete}
			byRec[s.Recording] = r
			order = append(order, s.Recording)
		}
		r.FirstPacket = min(r.FirstPacket, s.FirstPacket)
		r.Packets += s.Packets
		r.FileBytes += s.Bytes // the catalog's bytes are file bytes
		r.Segments++
		switch {
		case !s.Closed:
			r.Status = store.StatusRecording
		case s.Interrupted && r.Status != store.StatusRecording:
			// Its process died (kill -9, a crash) before closing it.
			r.Status = store.StatusInterrupted
		}
		if s.Packets > 0 {
			if !r.hasSpan || s.MinNS < r.oldest {
				r.oldest = s.MinNS
			}
			if !r.hasSpan || s.MaxNS > r.newest {
				r.newest = s.MaxNS
			}
			r.hasSpan = true
		}
	}
	out := make([]Recording, 0, len(order))
	for i, id := range order {
		r := byRec[id]
		r.ID = i + 1
		if r.hasSpan {
			lo, hi := fmtTime(r.oldest), fmtTime(r.newest)
			r.OldestAt, r.NewestAt = &lo, &hi
		}
		out = append(out, *r)
	}
	return out, nil
}

// Store is a store directory as the daemon's API reads it: every request
// selects through Select, and lists recordings through Recordings.
type Store struct {
	Dir string
}

// Select opens spec's selection of the store (spec.Database is the
// store's directory, whatever it said).
func (s Store) Select(ctx context.Context, spec Spec) (*Selection, error) {
	spec.Database, spec.store = s.Dir, true
	return Open(ctx, spec)
}

// Recordings lists the store's recordings.
func (s Store) Recordings() ([]Recording, error) { return Recordings(s.Dir) }
