package selection

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/packetrecorderd/packetrecorderd/internal/archive"
	"github.com/packetrecorderd/packetrecorderd/internal/filter"
	"github.com/packetrecorderd/packetrecorderd/internal/flow"
	"github.com/packetrecorderd/packetrecorderd/internal/index"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

// Spec says which packets to select. Exactly one source is read:
//
//   - File (-r): a capture file, pcap or pcapng, gzip or zstd compressed,
//     "-" for standard input;
//   - Server.Server (--server): a daemon's store, over its API (the daemon
//     selects and filters);
//   - Database (-d): a packetrecorder database, whose Sessions are read
//     (one, or several merged by timestamp), or a store directory (told
//     by its catalog), whose recordings of Interface (all when "") are
//     read merged by timestamp.
//
// Within it: the time window Range, the Filter (tcpdump's language), the
// ForcedFilter ANDed on, and at most Limit packets.
type Spec struct {
	// Database is a database file or a store directory.
	Database string
	// DatabaseSet says Database was named (-d given), not a default:
	// with File or a Server it is a contradiction.
	DatabaseSet bool
	// Sessions selects a database's sessions: an id or name, several as
	// "1,3,7", or "all" (see ResolveSessions).
	Sessions string
	// File is a capture file to read.
	File string
	// Server is the daemon to ask, with its credentials.
	Server Remote
	// Interface selects a store's recordings of one interface.
	Interface string
	// Range is the time window.
	Range store.Range
	// Windows, when set, are read in turn instead of Range and Filter,
	// each with its own filter (Stenographer's query: a union of time
	// windows). Range is then their hull: it decides which segments are
	// opened, the shape Describe and Shape report.
	Windows []Window
	// Filter selects packets (tcpdump's language); "" for all.
	Filter string
	// ForcedFilter is ANDed with Filter, each in parentheses: a token's
	// filter, which the request cannot widen. Where the two contradict
	// each other (nothing could pass both), nothing is selected.
	ForcedFilter string
	// Limit is the most packets Walk yields and Count and Describe count
	// (0: all).
	Limit int64
	// CommunityID selects one flow's packets by its Community ID
	// (version 1, "1:" and base64, as Zeek, Suricata and tshark print
	// it), computed with CommunityIDSeed: each packet's inner 5-tuple
	// (flow.Extract) is hashed and compared, after the filter. It is not
	// an index term yet, so it narrows no block by itself.
	CommunityID     string
	CommunityIDSeed uint16

	// store forces Database to be read as a store directory (Store.Select).
	store bool
}

// Window is one time window of a Spec's Windows, with its filter.
type Window struct {
	Range  store.Range
	Filter string
}

// window is a Window compiled.
type window struct {
	r store.Range
	f *Filter
}

// Selection is an open selection: its source, its filters compiled.
// It is not safe for concurrent use.
type Selection struct {
	spec    Spec
	windows []window
	filter  *Filter // the main window's; nil: every packet
	// stats adds up what the planned reads of every window read.
	stats store.PlanStats

	db   *dbSource
	st   *storeSource
	file *fileSource
	rem  *remoteSource
}

// Open opens spec's source (read-only) and compiles its filter for each
// link type the source holds.
func Open(ctx context.Context, spec Spec) (*Selection, error) {
	r := spec.Range
	sl := &Selection{spec: spec}
	var err error
	switch {
	case spec.File != "":
		if spec.DatabaseSet || spec.Server.Server != "" || spec.Sessions != "" || spec.Interface != "" {
			return nil, errors.New("-r reads a capture file: -d, -s, --server and --interface select elsewhere")
		}
		if sl.file, err = openFile(spec.File); err != nil {
			return nil, err
		}
		lt := sl.file.linkType()
		// Compiled for the first packet's link type now, so that a bad
		// expression is reported before anything else; for others as
		// they appear (a pcapng file may describe interfaces late), with
		// tcpdump's netmask for files.
		err = sl.compile([]uint32{lt}, lt, filter.ZeroNetmask, true)
	case spec.Server.Server != "":
		if spec.DatabaseSet {
			return nil, errors.New("-d reads a local database or store, --server a daemon's: give one of them")
		}
		if spec.Sessions != "" {
			return nil, errors.New("-s selects a session of a local database; a daemon serves its store: select with --interface, --since and --until")
		}
		if sl.rem, err = openRemote(ctx, spec); err != nil {
			return nil, err
		}
		sl.windows = []window{{r: r}} // the daemon filters
		return sl, nil
	case spec.Server != (Remote{}):
		return nil, errors.New("--token-file, --cacert, --cert and --key go with --server")
	case spec.store || archive.IsStore(spec.Database):
		if spec.Sessions != "" {
			return nil, fmt.Errorf("-s selects a session of a database; %s is a store: select with --interface, --since and --until", spec.Database)
		}
		if sl.st, err = openStore(spec.Database, spec.Interface, r); err != nil {
			return nil, err
		}
		err = sl.compile(sl.st.linkTypes(), 1, sl.st.netmask(), false)
	default:
		if spec.Interface != "" {
			return nil, fmt.Errorf("--interface selects within a store directory; %s is a database: select a session with -s", spec.Database)
		}
		if spec.Sessions == "" {
			return nil, errors.New(`required flag(s) "session" not set: name a session with -s (see 'packetrecorder sessions')`)
		}
		if sl.db, err = openDatabase(spec.Database, spec.Sessions); err != nil {
			return nil, err
		}
		s0 := sl.db.sessions[0]
		var lts []uint32
		if spec.Filter != "" || spec.ForcedFilter != "" || len(spec.Windows) > 0 {
			lts, err = sl.db.packetLinkTypes()
		}
		if err == nil {
			err = sl.compile(lts, s0.LinkType, filter.NetmaskOf(s0.Netmask), false)
		}
	}
	if err == nil {
		err = sl.selectFlow()
	}
	if err != nil {
		sl.Close()
		return nil, err
	}
	return sl, nil
}

// selectFlow adds the spec's Community ID to every window's filter.
func (sl *Selection) selectFlow() error {
	if sl.spec.CommunityID == "" {
		return nil
	}
	cid, err := flow.ParseCommunityID(sl.spec.CommunityID)
	if err != nil {
		return &FilterError{Err: fmt.Errorf("community id %q: %w", sl.spec.CommunityID, err)}
	}
	for i := range sl.windows {
		f := sl.windows[i].f
		if f == nil {
			f = &Filter{noProgram: true, plan: index.All, stats: &sl.stats}
			sl.windows[i].f = f
		}
		f.selectFlow(cid, sl.spec.CommunityIDSeed)
	}
	if len(sl.spec.Windows) == 0 {
		sl.filter = sl.windows[0].f
	}
	return nil
}

// compile compiles the filter (or each window's) once for the link
// types.
func (sl *Selection) compile(lts []uint32, fallback uint32, mask []byte, lazy bool) error {
	one := func(expr string) (*Filter, error) {
		f, err := compileSpec(expr, sl.spec.ForcedFilter, lts, fallback, mask)
		if f != nil && lazy && len(f.progs) > 0 {
			f.lazy, f.expr, f.mask = true, joined(expr, sl.spec.ForcedFilter), mask
		}
		if f != nil {
			f.stats = &sl.stats
		}
		return f, err
	}
	if len(sl.spec.Windows) == 0 {
		f, err := one(sl.spec.Filter)
		if err != nil {
			return err
		}
		sl.filter = f
		sl.windows = []window{{r: sl.spec.Range, f: f}}
		return nil
	}
	for _, w := range sl.spec.Windows {
		f, err := one(w.Filter)
		if err != nil {
			return err
		}
		sl.windows = append(sl.windows, window{r: w.Range, f: f})
	}
	return nil
}

// joined is the expression compileSpec compiles, for an expr it let
// through (filter.And refuses one that does not parse on its own).
func joined(expr, forced string) string {
	full, _ := filter.And(forced, expr)
	return full
}

// Close releases the source.
func (sl *Selection) Close() {
	switch {
	case sl.file != nil:
		sl.file.close()
	case sl.db != nil:
		sl.db.close()
	case sl.st != nil:
		sl.st.close()
	}
}

// Plan is the block index's part in the selection: the blocks that can
// hold a selected packet (of any window), as filter.Plan made it of the
// filter. index.All: every block of the window is read.
func (sl *Selection) Plan() index.Expr {
	var out []index.Expr
	for _, w := range sl.windows {
		if w.f == nil {
			return index.All
		}
		out = append(out, w.f.plan)
	}
	if len(out) == 0 {
		return index.All
	}
	return index.Or(out...)
}

// PlanStats is what the walks so far read of the blocks their window
// held: blocks and bytes read out of the total, and how many had no usable
// index entry (read whole). Its Warning is the line a reader prints when
// part of the index was missing.
func (sl *Selection) PlanStats() store.PlanStats { return sl.stats }

// Spec is the spec the selection was opened with.
func (sl *Selection) Spec() Spec { return sl.spec }

// streams are the source's streams of one window, at most limit packets
// (a daemon stops there itself).
func (sl *Selection) streams(ctx context.Context, w window, limit int64) []stream {
	switch {
	case sl.file != nil:
		return sl.file.streams(ctx, w.r, w.f)
	case sl.rem != nil:
		return []stream{sl.rem.stream(ctx, limit)}
	case sl.st != nil:
		return sl.st.streams(ctx, w.r, w.f)
	}
	return sl.db.streams(ctx, w.r, w.f)
}

// Walk calls fn for the selected packets in timestamp order (a session's
// and a file's in their own order; several sessions or recordings merged
// by timestamp, ties to the one listed first), at most limit of them (0:
// all; Spec.Limit bounds them too). fn returning store.ErrStop ends the
// walk without error. A record and its Data are valid only during fn.
// Each call is one pass over the selection (standard input is read once).
//
// It is the one loop every reader's packets go through: emitted, counted,
// cut at the limit; windows read in turn.
func (sl *Selection) Walk(ctx context.Context, limit int64, fn func(store.Record) error) error {
	if l := sl.spec.Limit; l > 0 && (limit == 0 || l < limit) {
		limit = l
	}
	var n int64
	stopped := false
	emit := func(rec store.Record) (bool, error) {
		if err := fn(rec); err != nil {
			if errors.Is(err, store.ErrStop) {
				stopped = true
				return false, nil
			}
			return false, err
		}
		n++
		return limit == 0 || n < limit, nil
	}
	for _, w := range sl.windows {
		rest := int64(0)
		if limit > 0 {
			rest = limit - n
		}
		if err := merge(sl.streams(ctx, w, rest), emit); err != nil {
			return err
		}
		if stopped || limit > 0 && n >= limit {
			return nil
		}
	}
	return nil
}

// Indexed reports whether Count answers from the block index, without
// reading packets: no filter applies (a daemon's count is its own).
func (sl *Selection) Indexed() bool {
	return sl.file == nil && len(sl.spec.Windows) == 0 && sl.filter == nil
}

// Count is how many packets Walk would yield (at most Spec.Limit): from
// the block index where no filter needs each packet.
func (sl *Selection) Count(ctx context.Context) (int64, error) {
	var n int64
	var err error
	switch {
	case sl.rem != nil:
		n, err = sl.rem.count(ctx)
	case !sl.Indexed():
		err = sl.Walk(ctx, 0, func(store.Record) error { n++; return nil })
		return n, err
	case sl.st != nil:
		n, err = sl.st.count(sl.spec.Range)
	default:
		n, err = sl.db.count(sl.spec.Range)
	}
	if sl.spec.Limit > 0 {
		n = min(n, sl.spec.Limit)
	}
	return n, err
}

// Tally reads every packet of a capture file's window and reports how
// many there are and how many expr accepts, compiled for each link type
// as it first appears (filter -r).
func (sl *Selection) Tally(ctx context.Context, expr string) (matched, total int64, err error) {
	if sl.file == nil {
		return 0, 0, errors.New("tally reads a capture file")
	}
	f := &Filter{progs: map[uint32]*filter.Program{}, lazy: true, expr: expr, mask: filter.ZeroNetmask}
	err = merge(sl.file.streams(ctx, sl.windows[0].r, nil), func(rec store.Record) (bool, error) {
		total++
		ok, err := f.match(rec)
		if ok {
			matched++
		}
		return err == nil, err
	})
	return matched, total, err
}

// Describe is the selection's shape, as GET /api/v1/packets?describe=true
// sends it. It counts what a Walk would yield, never the segments' whole
// contents: those may hold packets outside the window, or that a forced
// filter hides.
func (sl *Selection) Describe(ctx context.Context) (Description, error) {
	if sl.rem != nil {
		return sl.rem.shape, nil
	}
	lts, err := sl.LinkTypes()
	if err != nil {
		return Description{}, err
	}
	d := Description{LinkTypes: lts, Interfaces: []DescriptionInterface{}, Snaplen: sl.Summary().Snaplen}
	if d.LinkTypes == nil {
		d.LinkTypes = []uint32{}
	}
	if sl.Indexed() {
		n, err := sl.Count(ctx)
		if err != nil {
			return d, err
		}
		d.Packets = n
		if n > 0 {
			_, _, d.FirstNS, d.LastNS, _ = sl.Shape()
			r := sl.spec.Range
			if r.HasSince {
				d.FirstNS = max(d.FirstNS, r.Since)
			}
			if r.HasUntil {
				d.LastNS = min(d.LastNS, r.Until)
			}
		}
	} else {
		first, last := int64(math.MaxInt64), int64(math.MinInt64)
		err := sl.Walk(ctx, 0, func(rec store.Record) error {
			d.Packets++
			first, last = min(first, rec.Timestamp), max(last, rec.Timestamp)
			return nil
		})
		if err != nil {
			return d, err
		}
		if d.Packets > 0 {
			d.FirstNS, d.LastNS = first, last
		}
	}
	ifs, err := sl.Interfaces()
	if err != nil {
		return d, err
	}
	for _, it := range ifs {
		d.Interfaces = append(d.Interfaces, DescriptionInterface{ID: it.ID, Name: it.Name, LinkType: it.LinkType, Snaplen: it.Snaplen, Filter: it.Filter})
	}
	return d, nil
}

// Summary describes the selection as one session: a database's session
// (several merged: the first, named after all), else what a session
// would say of a store's recordings, a file, a daemon's selection.
func (sl *Selection) Summary() store.Session {
	switch {
	case sl.file != nil:
		return sl.file.summary()
	case sl.rem != nil:
		return sl.rem.summary()
	case sl.st != nil:
		return sl.st.summary()
	}
	return sl.db.summary()
}

// IsStore reports whether the selection is of a store (local or a
// daemon's) rather than of a database's sessions or a file.
func (sl *Selection) IsStore() bool { return sl.st != nil || sl.rem != nil }

// LinkTypes are the link types of the selected packets' interfaces, for
// writers: a pcap file holds one.
func (sl *Selection) LinkTypes() ([]uint32, error) {
	switch {
	case sl.file != nil:
		return sl.file.linkTypes(), nil
	case sl.rem != nil:
		return sl.rem.shape.LinkTypes, nil
	case sl.st != nil:
		return sl.st.linkTypes(), nil
	}
	return sl.db.linkTypes()
}

// Interfaces are the selection's interfaces as a pcapng file describes
// them, by the id its records carry.
func (sl *Selection) Interfaces() ([]store.Interface, error) {
	switch {
	case sl.file != nil:
		return sl.file.interfaces(), nil
	case sl.rem != nil:
		return sl.rem.interfaces(), nil
	case sl.st != nil:
		return sl.st.interfaces(), nil
	}
	return sl.db.interfaces(), nil
}

// InterfaceName names the interface of a record: for a store, the
// recording's interface; for a session or a file, the one its packet
// carries ("#ID" for an unnamed one among several, "" for the only one).
func (sl *Selection) InterfaceName(rec store.Record) string {
	switch {
	case sl.rem != nil:
		return sl.rem.interfaceName(rec)
	case sl.st != nil:
		return sl.st.interfaceName(rec)
	case sl.file != nil:
		ifs := sl.file.interfaces()
		name := ""
		if rec.Interface >= 0 && rec.Interface < len(ifs) {
			name = ifs[rec.Interface].Name
		}
		if name != "" || len(ifs) < 2 {
			return name
		}
		return "#" + strconv.Itoa(rec.Interface)
	}
	return sl.db.interfaceName(rec)
}

// SeveralInterfaces reports whether the selection can hold packets of
// more than one interface: a store read without an interface, a session
// or file with several, sessions merged.
func (sl *Selection) SeveralInterfaces() bool {
	switch {
	case sl.rem != nil:
		return sl.spec.Interface == "" || len(sl.rem.interfaceNames()) > 1
	case sl.st != nil:
		return sl.spec.Interface == "" || len(sl.st.interfaceNames()) > 1
	case sl.file != nil:
		return len(sl.file.ifaces) > 1
	}
	return sl.db.merged() || len(sl.db.ifaces) > 1
}

// SessionOf is the id of the session a record is of when several are
// merged; 0 otherwise.
func (sl *Selection) SessionOf(rec store.Record) int64 {
	if sl.db == nil || !sl.db.merged() {
		return 0
	}
	return sl.db.sessions[sl.db.sessionIndex(rec)].ID
}

// Session is the database session the selection reads, when it reads
// exactly one (its capture counters go into a pcapng file).
func (sl *Selection) Session() (store.Session, bool) {
	if sl.db == nil || sl.db.merged() {
		return store.Session{}, false
	}
	return sl.db.sessions[0], true
}

// Comments are the pcapng comments of a record of the walk: a database's
// sessions' (none for other sources).
func (sl *Selection) Comments() (func(store.Record) []string, error) {
	if sl.db == nil {
		return func(store.Record) []string { return nil }, nil
	}
	return sl.db.comments()
}

// Shape is what a writer needs to choose a file format: the link types,
// how many interfaces, and the earliest and latest timestamp (0, 0 for a
// file, whose range is checked as packets are written).
func (sl *Selection) Shape() (linkTypes []uint32, interfaces int, first, last int64, err error) {
	switch {
	case sl.file != nil:
		return sl.file.linkTypes(), max(1, len(sl.file.ifaces)), 0, 0, nil
	case sl.rem != nil:
		sh := sl.rem.shape
		return sh.LinkTypes, len(sh.Interfaces), sh.FirstNS, sh.LastNS, nil
	case sl.st != nil:
		first, last = sl.st.span()
		return sl.st.linkTypes(), len(sl.st.recordings), first, last, nil
	}
	return sl.db.shape()
}
