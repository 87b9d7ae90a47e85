package cli

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strconv"
	"strings"

	"github.com/packetrecorderd/packetrecorderd/internal/filter"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
	"github.com/packetrecorderd/packetrecorderd/internal/storeview"
)

// resolveSessions reads -s: a session id or name, several separated by
// commas ("1,3,7", "office-uplink,9"), or "all". A name that several
// sessions share is an error that lists them.
func resolveSessions(db *store.DB, spec string) ([]store.Session, error) {
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

// multi is a selection of several sessions of one database, merged by
// timestamp. Each session's interfaces get ids after the ones of the
// sessions before it.
type multi struct {
	db       *store.DB
	sessions []store.Session
	offsets  []int // first interface id of each session
	ifaces   []store.Interface
	r        store.Range
	prog     *storeview.Filter
}

func openMulti(db *store.DB, sessions []store.Session, r store.Range, expr string) (*multi, error) {
	m := &multi{db: db, sessions: sessions, r: r}
	var lts []uint32
	for _, s := range sessions {
		m.offsets = append(m.offsets, len(m.ifaces))
		ifs, err := db.Interfaces(s)
		if err != nil {
			return nil, err
		}
		for _, it := range ifs {
			it.ID += m.offsets[len(m.offsets)-1]
			m.ifaces = append(m.ifaces, it)
		}
		l, _, err := db.LinkTypes(s.ID)
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
	if expr != "" {
		var err error
		if m.prog, err = storeview.CompileFilterMask(expr, lts, sessions[0].LinkType, filter.NetmaskOf(sessions[0].Netmask)); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// summary describes the sessions as one.
func (m *multi) summary() store.Session {
	s := m.sessions[0]
	names := make([]string, len(m.sessions))
	s.Packets = 0
	for i, x := range m.sessions {
		names[i] = strconv.FormatInt(x.ID, 10)
		s.Packets += x.Packets
		s.Snaplen = max(s.Snaplen, x.Snaplen)
	}
	s.Name = "sessions " + strings.Join(names, ", ")
	return s
}

func (m *multi) linkTypes() []uint32 { return linkTypesOf(m.ifaces) }

// session is the index of the session a record of the merged walk is of.
func (m *multi) session(rec store.Record) int {
	i := len(m.offsets) - 1
	for i > 0 && rec.Interface < m.offsets[i] {
		i--
	}
	return i
}

func (m *multi) each(ctx context.Context, k int) iter.Seq2[store.Record, error] {
	return func(yield func(store.Record, error) bool) {
		stopped := false
		err := m.db.Packets(m.sessions[k].ID, m.r, func(rec store.Record) error {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if !m.prog.Match(rec) {
				return nil
			}
			rec.Interface += m.offsets[k]
			if !yield(rec, nil) {
				stopped = true
				return store.ErrStop
			}
			return nil
		})
		if err != nil && !stopped {
			yield(store.Record{}, err)
		}
	}
}

// walk merges the sessions' packets by timestamp (ties: the session
// listed first), at most limit of them (0: all).
func (m *multi) walk(ctx context.Context, limit int64, fn func(store.Record) error) error {
	seqs := make([]iter.Seq2[store.Record, error], len(m.sessions))
	for k := range m.sessions {
		seqs[k] = m.each(ctx, k)
	}
	return storeview.Merge(seqs, limit, fn)
}

func (m *multi) count(ctx context.Context) (int64, error) {
	var n int64
	if m.prog == nil {
		for _, s := range m.sessions {
			c, err := m.db.Count(s.ID, m.r)
			if err != nil {
				return 0, err
			}
			n += c
		}
		return n, nil
	}
	err := m.walk(ctx, 0, func(store.Record) error { n++; return nil })
	return n, err
}

// span is the earliest and latest timestamp of the sessions.
func (m *multi) span() (first, last int64, err error) {
	for i, s := range m.sessions {
		f, l, err := m.db.TimeSpan(s.ID)
		if err != nil {
			return 0, 0, err
		}
		if i == 0 || f < first {
			first = f
		}
		if i == 0 || l > last {
			last = l
		}
	}
	return first, last, nil
}
