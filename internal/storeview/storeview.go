// Package storeview selects packets from a store directory: the segments
// of an interface (or all) that may hold a time window, grouped into
// recordings (one per ring of an interface), merged by timestamp. The CLI
// (-d STORE) and the daemon's API read a store through it.
package storeview

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"github.com/packetrecorderd/packetrecorderd/internal/filter"
	"iter"
	"math"
	"net"
	"sort"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/archive"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

// View is a selection over a store directory: the segments of the
// selected interface (or all) that may hold packets of the time window,
// grouped into recordings (one per ring of an interface, its segments in
// packet order), merged by timestamp.
type View struct {
	ar      *archive.Archive
	streams []*stream
	r       store.Range
	Filter  *Filter // nil: every packet
	// pins keep the selected segments' files whole while the view reads
	// them, whatever retention does meanwhile (see archive.Pin), by
	// segment id; segments past maxPins are pinned as the walk reaches
	// them.
	pins map[int64]*archive.Pin
}

// maxPins bounds the files a view keeps open for its pins.
const maxPins = 256

// stream is one recording's selected segments.
type stream struct {
	iface, recording string
	ring             int
	segs             []archive.Segment
	session          store.Session // of its first segment
}

// ErrNoSuchInterface is Open's error for an interface the store has never
// recorded.
var ErrNoSuchInterface = errors.New("the store holds no packets of interface")

// Open selects, in the store directory dir, the recordings of iface (all
// when "") that may hold packets of r, with expr compiled for their link
// types.
func Open(dir, iface string, r store.Range, expr string) (*View, error) {
	ar, err := archive.Open(dir, archive.Options{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	v := &View{ar: ar, r: r, pins: map[int64]*archive.Pin{}}
	lo, hi := r.Bounds()
	segs, err := ar.Select(iface, lo, hi)
	if err != nil {
		ar.Close()
		return nil, err
	}
	byRec := map[string]*stream{}
	for _, s := range segs {
		if len(v.pins) < maxPins {
			p, err := ar.Pin(s)
			if errors.Is(err, archive.ErrExpired) {
				continue // gone before the selection began
			}
			if err != nil {
				v.Close()
				return nil, err
			}
			v.pins[s.ID] = p
		}
		st := byRec[s.Recording]
		if st == nil {
			st = &stream{iface: s.Interface, recording: s.Recording, ring: s.Ring}
			byRec[s.Recording] = st
			v.streams = append(v.streams, st)
		}
		st.segs = append(st.segs, s)
	}
	for _, st := range v.streams {
		sort.Slice(st.segs, func(i, j int) bool { return st.segs[i].FirstPacket < st.segs[j].FirstPacket })
		db, err := v.openSegment(st.segs[0])
		if err != nil {
			v.Close()
			return nil, err
		}
		ss, err := db.Sessions()
		db.Close()
		if err != nil || len(ss) != 1 {
			v.Close()
			return nil, errors.Join(err, errors.New("segment "+st.segs[0].File+" is not a segment"))
		}
		st.session = ss[0]
	}
	sort.SliceStable(v.streams, func(i, j int) bool {
		a, b := v.streams[i], v.streams[j]
		if a.iface != b.iface {
			return a.iface < b.iface
		}
		return a.ring < b.ring
	})
	if iface != "" && len(v.streams) == 0 {
		known := false
		all, _ := ar.Segments()
		for _, s := range all {
			known = known || s.Interface == iface
		}
		if !known {
			v.Close()
			return nil, fmt.Errorf("%w %s", ErrNoSuchInterface, iface)
		}
	}
	if expr != "" {
		if v.Filter, err = CompileFilterMask(expr, v.LinkTypes(), 1, v.Netmask()); err != nil {
			v.Close()
			return nil, err
		}
	}
	return v, nil
}

func (v *View) Close() {
	for _, p := range v.pins {
		p.Close()
	}
	v.pins = nil
	v.ar.Close()
}

// openSegment opens a selected segment read-only wherever its pinned file
// is now (in the trash, if retention expired it since the selection
// began). A segment past maxPins is pinned now: if retention deleted it
// meanwhile, the error says so (archive.ErrExpired), never that the store
// is damaged.
func (v *View) openSegment(seg archive.Segment) (*store.DB, error) {
	p := v.pins[seg.ID]
	if p == nil {
		var err error
		if p, err = v.ar.Pin(seg); err != nil {
			return nil, fmt.Errorf("read %s: %w", seg.File, err)
		}
		v.pins[seg.ID] = p
	}
	path, err := p.Path()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", seg.File, err)
	}
	db, err := store.Open(path, store.Options{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("read segment %s: %w", seg.File, err)
	}
	return db, nil
}

func (v *View) LinkTypes() []uint32 {
	var out []uint32
	seen := map[uint32]bool{}
	for _, st := range v.streams {
		if lt := st.session.LinkType; !seen[lt] {
			seen[lt] = true
			out = append(out, lt)
		}
	}
	return out
}

// interfaces are the names of the selected recordings' interfaces.
func (v *View) Interfaces() []string {
	var out []string
	for _, st := range v.streams {
		if len(out) == 0 || out[len(out)-1] != st.iface {
			out = append(out, st.iface)
		}
	}
	return out
}

// summary describes the selection as one session.
func (v *View) Summary() store.Session {
	s := store.Session{Name: "store " + v.ar.Dir(), Source: "capture", Snaplen: 0}
	if ifs := v.Interfaces(); len(ifs) == 1 {
		s.Interface = ifs[0]
	}
	for i, st := range v.streams {
		if i == 0 {
			s.LinkType, s.Filter, s.Hostname = st.session.LinkType, st.session.Filter, st.session.Hostname
		}
		s.Snaplen = max(s.Snaplen, st.session.Snaplen)
		for _, seg := range st.segs {
			s.Packets += seg.Packets
			if !seg.Closed {
				s.Packets++ // an open segment's counter lags: it may hold packets
			}
		}
	}
	return s
}

func (v *View) InterfaceName(rec store.Record) string {
	if rec.Interface >= 0 && rec.Interface < len(v.streams) {
		return v.streams[rec.Interface].iface
	}
	return ""
}

// each walks one recording's selected packets in packet order; the
// record's Interface is the stream's index.
func (v *View) each(ctx context.Context, i int) iter.Seq2[store.Record, error] {
	st := v.streams[i]
	return func(yield func(store.Record, error) bool) {
		emit := func(rec store.Record) bool {
			rec.Interface = i
			return yield(rec, nil)
		}
		for _, seg := range st.segs {
			stopped := false
			var err error
			if seg.Closed {
				err = v.inSegment(st, seg, func(db *store.DB, session int64) error {
					return db.Packets(session, v.r, func(rec store.Record) error {
						if ctx.Err() != nil {
							return ctx.Err()
						}
						if !v.Filter.Match(rec) {
							return nil
						}
						if !emit(rec) {
							stopped = true
							return store.ErrStop
						}
						return nil
					})
				})
			} else {
				stopped, err = v.inPieces(ctx, st, seg, emit)
			}
			if stopped {
				return
			}
			if err != nil {
				yield(store.Record{}, err)
				return
			}
		}
	}
}

// A segment being recorded is read in pieces of about pieceBytes of
// matching packets,
// copied out and handed on after the read ends: the recorder's commits
// (which wait for readers of a segment in rollback-journal mode) never
// wait for a slow consumer, such as an API client reading slowly.
const pieceBytes = 4 << 20

func (v *View) inPieces(ctx context.Context, st *stream, seg archive.Segment, emit func(store.Record) bool) (stopped bool, err error) {
	r := v.r
	var buf []byte
	var recs []store.Record
	for {
		buf, recs = buf[:0], recs[:0]
		full := false
		err := v.inSegment(st, seg, func(db *store.DB, session int64) error {
			return db.Packets(session, r, func(rec store.Record) error {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if !v.Filter.Match(rec) {
					return nil
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

// inSegment opens one of a recording's segments read-only and calls fn
// with it and its session (a segment holds one). A segment retention
// expires during the read is read whole all the same (see openSegment).
func (v *View) inSegment(st *stream, seg archive.Segment, fn func(db *store.DB, session int64) error) error {
	db, err := v.openSegment(seg)
	if err != nil {
		return err
	}
	defer db.Close()
	return fn(db, st.session.ID)
}

// walk calls fn for the selected packets of every recording, merged by
// timestamp, at most limit of them (0 = all).
func (v *View) Walk(ctx context.Context, limit int64, fn func(store.Record) error) error {
	var n int64
	emit := func(rec store.Record) (bool, error) {
		if err := fn(rec); err != nil {
			if errors.Is(err, store.ErrStop) {
				return false, nil
			}
			return false, err
		}
		n++
		return limit == 0 || n < limit, nil
	}
	if len(v.streams) == 1 {
		for rec, err := range v.each(ctx, 0) {
			if err != nil {
				return err
			}
			if more, err := emit(rec); !more || err != nil {
				return err
			}
		}
		return nil
	}
	seqs := make([]iter.Seq2[store.Record, error], len(v.streams))
	for i := range v.streams {
		seqs[i] = v.each(ctx, i)
	}
	return Merge(seqs, limit, fn)
}

// Merge calls fn for the records of several sequences, each in time
// order, merged by timestamp (ties: the earlier sequence first), at most
// limit of them (0: all). fn returning store.ErrStop ends it without error.
// A record is valid during fn, as its sequence's are.
func Merge(seqs []iter.Seq2[store.Record, error], limit int64, fn func(store.Record) error) error {
	h := &mergeHeap{}
	var stops []func()
	defer func() {
		for _, stop := range stops {
			stop()
		}
	}()
	for k, seq := range seqs {
		next, stop := iter.Pull2(seq)
		stops = append(stops, stop)
		rec, err, ok := next()
		if err != nil {
			return err
		}
		if ok {
			heap.Push(h, mergeItem{rec, k, next})
		}
	}
	var n int64
	for h.Len() > 0 {
		top := (*h)[0]
		if err := fn(top.rec); err != nil {
			if errors.Is(err, store.ErrStop) {
				return nil
			}
			return err
		}
		if n++; limit > 0 && n >= limit {
			return nil
		}
		rec, err, ok := top.next()
		if err != nil {
			return err
		}
		if ok {
			(*h)[0].rec = rec
			heap.Fix(h, 0)
		} else {
			heap.Pop(h)
		}
	}
	return nil
}

// count counts the selected packets from the segments' block indexes.
func (v *View) Count() (int64, error) {
	var n int64
	for _, st := range v.streams {
		for _, seg := range st.segs {
			err := v.inSegment(st, seg, func(db *store.DB, session int64) error {
				c, err := db.Count(session, v.r)
				n += c
				return err
			})
			if err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

type mergeItem struct {
	rec  store.Record
	k    int // the sequence's index, for ties
	next func() (store.Record, error, bool)
}

type mergeHeap []mergeItem

func (h mergeHeap) Len() int { return len(h) }
func (h mergeHeap) Less(i, j int) bool {
	a, b := h[i].rec, h[j].rec
	if a.Timestamp != b.Timestamp {
		return a.Timestamp < b.Timestamp
	}
	return h[i].k < h[j].k
}
func (h mergeHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *mergeHeap) Push(x any)   { *h = append(*h, x.(mergeItem)) }
func (h *mergeHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}

// span is the earliest and latest timestamp the selected segments hold,
// by the catalog (an open segment's reach is now).
func (v *View) Span() (first, last int64) {
	first, last = math.MaxInt64, math.MinInt64
	for _, st := range v.streams {
		for _, seg := range st.segs {
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

// Filter is a filter compiled for each link type a selection holds, so
// that every packet is matched by a program for its own link type, as
// tcpdump matches the packets of each file it reads. A nil Filter matches
// everything.
type Filter struct {
	progs map[uint32]*filter.Program
}

// CompileFilter compiles expr for every link type (fallback when none is
// known). An expression that does not compile for one of them is an
// error naming it: it never silently selects nothing there.
func CompileFilter(expr string, linkTypes []uint32, fallback uint32) (*Filter, error) {
	return CompileFilterMask(expr, linkTypes, fallback, filter.ZeroNetmask)
}

// CompileFilterMask is CompileFilter with the netmask "ip broadcast" uses
// (the live capture's interface's, as its session recorded it).
func CompileFilterMask(expr string, linkTypes []uint32, fallback uint32, mask net.IPMask) (*Filter, error) {
	if len(linkTypes) == 0 {
		linkTypes = []uint32{fallback}
	}
	pf := &Filter{progs: make(map[uint32]*filter.Program, len(linkTypes))}
	for _, lt := range linkTypes {
		prog, err := filter.Compile(expr, filter.Options{LinkType: lt, Netmask: mask})
		if err != nil {
			if len(linkTypes) > 1 {
				return nil, fmt.Errorf("filter for the %s packets: %w", filter.LinkTypeName(lt), err)
			}
			return nil, err
		}
		pf.progs[lt] = prog
	}
	return pf, nil
}

// Match reports whether the filter accepts the record.
func (f *Filter) Match(rec store.Record) bool {
	if f == nil {
		return true
	}
	prog := f.progs[rec.LinkType]
	return prog != nil && prog.Match(rec.Data, rec.OrigLen)
}

// Recordings is how many recordings (rings of interfaces) the view merges.
func (v *View) Recordings() int { return len(v.streams) }

// PcapngInterfaces are the interfaces of the selection as a pcapng file
// describes them, by the id (the recording's index) records carry.
func (v *View) PcapngInterfaces() []store.Interface {
	out := make([]store.Interface, len(v.streams))
	for i, st := range v.streams {
		out[i] = store.Interface{ID: i, Name: st.iface, Filter: st.session.Filter, LinkType: st.session.LinkType, Snaplen: st.session.Snaplen}
	}
	return out
}

// MatchNothing is a Filter that no packet passes: a restriction and a
// request that contradict each other select nothing, which is no error.
func MatchNothing() *Filter { return &Filter{progs: map[uint32]*filter.Program{}} }

// Netmask is the netmask the first recording's session recorded for its
// interface ("ip broadcast"); recordings of interfaces with other masks
// are filtered with it too.
func (v *View) Netmask() net.IPMask {
	if len(v.streams) == 0 {
		return filter.ZeroNetmask
	}
	return filter.NetmaskOf(v.streams[0].session.Netmask)
}
