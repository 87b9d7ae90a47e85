package selection

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

// readSession is the one place packets are read out of a database: a
// session of a database, each of several sessions merged, and every
// segment of a store (closed, or being recorded and read in pieces) are
// read through it, in packet order, restricted to r (its time window and
// its first packet number).
//
// It is the planner's hook: the set of blocks that can hold a packet the
// filter accepts (store.Range.Plan, an index.Expr that filter.Plan makes
// of the window's expression, compiled with it at Open) is applied here,
// and every reader of a database or store is planned at once. The
// compiled filter still decides each packet of the blocks read (see
// keep), so narrowing here can only skip work, never change an answer.
func readSession(db *store.DB, session int64, r store.Range, f *Filter, fn func(store.Record) error) error {
	if f != nil {
		r.Plan, r.Stats = f.plan, f.stats
	}
	return db.Packets(session, r, fn)
}

// ResolveSessions reads a session list as -s takes it: a session id or
// name, several separated by commas ("1,3,7", "office-uplink,9"), or
// "all". A name that several sessions share is an error that lists them.
func ResolveSessions(db *store.DB, spec string) ([]store.Session, error) {
	list, err := db.Sessions()
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(spec) == "all" {
		if len(list) == 0 {
			return nil, errors.New("the database has no sessions")
		}
		return list, nil
	}
	var out []store.Session
	seen := map[int64]bool{}
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			return nil, fmt.Errorf("invalid session list %q", spec)
		}
		var found []store.Session
		if id, err := strconv.ParseInt(item, 10, 64); err == nil {
			for _, s := range list {
				if s.ID == id {
					found = append(found, s)
				}
			}
			if len(found) == 0 {
				return nil, fmt.Errorf("session %d: %w", id, store.ErrNoSession)
			}
		} else {
			for _, s := range list {
				if s.Name == item {
					found = append(found, s)
				}
			}
			switch len(found) {
			case 0:
				return nil, fmt.Errorf("no session is named %q (see 'packetrecorder sessions')", item)
			case 1:
			default:
				ids := make([]string, len(found))
				for i, s := range found {
					ids[i] = strconv.FormatInt(s.ID, 10)
				}
				return nil, fmt.Errorf("%d sessions are named %q: %s; name one by its id", len(found), item, strings.Join(ids, ", "))
			}
		}
		if !seen[found[0].ID] {
			seen[found[0].ID] = true
			out = append(out, found[0])
		}
	}
	return out, nil
}

// dbSource is one session of a database, or several merged by timestamp
// (-s 1,3 or all). Merged, each session's interfaces get ids after the
// ones of the sessions before it.
type dbSource struct {
	db       *store.DB
	sessions []store.Session
	offsets  []int // first interface id of each session (merged)
	ifaces   []store.Interface
	ifByID   map[int]store.Interface
	// filterLTs are the link types the filter is compiled for (the
	// sessions' packets'), read once asked for.
	filterLTs []uint32
}

func openDatabase(path, sessions string) (*dbSource, error) {
	db, err := store.Open(path, store.Options{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	list, err := ResolveSessions(db, sessions)
	if err != nil {
		db.Close()
		return nil, err
	}
	d := &dbSource{db: db, sessions: list}
	if err := d.load(); err != nil {
		db.Close()
		return nil, err
	}
	return d, nil
}

func (d *dbSource) merged() bool { return len(d.sessions) > 1 }

// load reads the sessions' interfaces (the link types are read when
// needed: that reads every block's row).
func (d *dbSource) load() error {
	for _, s := range d.sessions {
		off := len(d.ifaces)
		if !d.merged() {
			off = 0
		}
		d.offsets = append(d.offsets, off)
		ifs, err := d.db.Interfaces(s)
		if err != nil {
			return err
		}
		for _, it := range ifs {
			it.ID += off
			d.ifaces = append(d.ifaces, it)
		}
	}
	d.ifByID = map[int]store.Interface{}
	for _, it := range d.ifaces {
		d.ifByID[it.ID] = it
	}
	if d.merged() {
		_, err := d.packetLinkTypes()
		return err
	}
	return nil
}

// packetLinkTypes are the link types of the sessions' packets, each once
// (a session's own when it has none yet): what the filter is compiled
// for.
func (d *dbSource) packetLinkTypes() ([]uint32, error) {
	if d.filterLTs != nil {
		return d.filterLTs, nil
	}
	var lts []uint32
	for _, s := range d.sessions {
		l, _, err := d.db.LinkTypes(s.ID)
		if err != nil {
			return nil, err
		}
		if len(l) == 0 {
			l = []uint32{s.LinkType}
		}
		for _, lt := range l {
			if !slices.Contains(lts, lt) {
				lts = append(lts, lt)
			}
		}
	}
	d.filterLTs = lts
	return lts, nil
}

func (d *dbSource) close() { d.db.Close() }

func (d *dbSource) summary() store.Session {
	s := d.sessions[0]
	if !d.merged() {
		return s
	}
	names := make([]string, len(d.sessions))
	s.Packets = 0
	for i, x := range d.sessions {
		names[i] = strconv.FormatInt(x.ID, 10)
		s.Packets += x.Packets
		s.Snaplen = max(s.Snaplen, x.Snaplen)
	}
	s.Name = "sessions " + strings.Join(names, ", ")
	return s
}

// linkTypes are the selection's link types: merged, its interfaces'; a
// session's, its packets'.
func (d *dbSource) linkTypes() ([]uint32, error) {
	if d.merged() {
		return linkTypesOf(d.ifaces), nil
	}
	return d.packetLinkTypes()
}

func (d *dbSource) interfaces() []store.Interface { return d.ifaces }

// interfaceName names the interface a record carries; "#ID" for an
// unnamed one among several of one session.
func (d *dbSource) interfaceName(rec store.Record) string {
	if name := d.ifByID[rec.Interface].Name; name != "" || len(d.ifByID) < 2 || d.merged() {
		return name
	}
	return "#" + strconv.Itoa(rec.Interface)
}

// sessionIndex is the index of the session a record of the merged walk
// is of.
func (d *dbSource) sessionIndex(rec store.Record) int {
	i := len(d.offsets) - 1
	for i > 0 && rec.Interface < d.offsets[i] {
		i--
	}
	return i
}

func (d *dbSource) streams(ctx context.Context, r store.Range, f *Filter) []stream {
	out := make([]stream, len(d.sessions))
	for k := range d.sessions {
		out[k] = pushed(func(emit func(store.Record) error) error {
			return readSession(d.db, d.sessions[k].ID, r, f, func(rec store.Record) error {
				if ok, err := keep(ctx, f, rec); !ok || err != nil {
					return err
				}
				rec.Interface += d.offsets[k]
				return emit(rec)
			})
		})
	}
	return out
}

func (d *dbSource) count(r store.Range) (int64, error) {
	var n int64
	for _, s := range d.sessions {
		c, err := d.db.Count(s.ID, r)
		if err != nil {
			return 0, err
		}
		n += c
	}
	return n, nil
}

func (d *dbSource) shape() (linkTypes []uint32, interfaces int, first, last int64, err error) {
	if !d.merged() {
		lts, ids, err := d.db.LinkTypes(d.sessions[0].ID)
		if err != nil {
			return nil, 0, 0, 0, err
		}
		first, last, err = d.db.TimeSpan(d.sessions[0].ID)
		return lts, len(ids), first, last, err
	}
	for i, s := range d.sessions {
		f, l, err := d.db.TimeSpan(s.ID)
		if err != nil {
			return nil, 0, 0, 0, err
		}
		if i == 0 || f < first {
			first = f
		}
		if i == 0 || l > last {
			last = l
		}
	}
	return linkTypesOf(d.ifaces), len(d.ifaces), first, last, nil
}

// comments are the pcapng comments of the selected packets: a function
// of a record of the walk.
func (d *dbSource) comments() (func(store.Record) []string, error) {
	per := make([]map[int64][]string, len(d.sessions))
	for i, s := range d.sessions {
		var err error
		if per[i], err = d.db.Comments(s.ID); err != nil {
			return nil, err
		}
	}
	if !d.merged() {
		return func(rec store.Record) []string { return per[0][rec.Number] }, nil
	}
	// Packet numbers repeat across sessions: comments are looked up by
	// session (told by the interface id) and number.
	return func(rec store.Record) []string { return per[d.sessionIndex(rec)][rec.Number] }, nil
}

// linkTypesOf lists the interfaces' link types, each once, in order.
func linkTypesOf(ifaces []store.Interface) []uint32 {
	var out []uint32
	for _, it := range ifaces {
		if !slices.Contains(out, it.LinkType) {
			out = append(out, it.LinkType)
		}
	}
	return out
}
