package cli

import (
	"context"

	"fmt"
	"math"
	"time"

	"github.com/spf13/cobra"

	"github.com/packetrecorderd/packetrecorderd/internal/filter"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

// selection is what query, replay and export share: which session and
// which of its packets.
type selection struct {
	db      string
	session string
	filter  string
	since   string
	until   string
}

func (s *selection) addFlags(cmd *cobra.Command) {
	addDatabaseFlag(cmd, &s.db)
	cmd.Flags().StringVarP(&s.session, "session", "s", "", "session id (see 'packetrecorder sessions')")
	cmd.Flags().StringVar(&s.filter, "filter", "", "only packets matching this filter (tcpdump's language)")
	cmd.Flags().StringVar(&s.since, "since", "", "only packets at or after this time (RFC 3339)")
	cmd.Flags().StringVar(&s.until, "until", "", "only packets at or before this time (RFC 3339)")
	cmd.MarkFlagRequired("session")
}

// Nanosecond timestamps (int64) reach from 1677-09-21 to 2262-04-11.
var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// parseTime reads a --since/--until value: RFC 3339, with any fraction.
func parseTime(flag, text string) (int64, error) {
	ts, err := time.Parse(time.RFC3339Nano, text)
	if err != nil {
		return 0, fmt.Errorf("invalid %s %q: use RFC 3339, e.g. 2026-01-02T15:04:05Z", flag, text)
	}
	if ts.Before(minTime) || ts.After(maxTime) {
		return 0, fmt.Errorf("invalid %s %q: timestamps reach from %s to %s", flag, text,
			minTime.UTC().Format(time.RFC3339), maxTime.UTC().Format(time.RFC3339))
	}
	return ts.UnixNano(), nil
}

// timeRange turns --since and --until into a store.Range. An inverted
// window is an error: it can only be a mistake.
func (s *selection) timeRange() (store.Range, error) {
	var r store.Range
	var err error
	if s.since != "" {
		if r.Since, err = parseTime("--since", s.since); err != nil {
			return r, err
		}
		r.HasSince = true
	}
	if s.until != "" {
		if r.Until, err = parseTime("--until", s.until); err != nil {
			return r, err
		}
		r.HasUntil = true
	}
	if r.HasSince && r.HasUntil && r.Since > r.Until {
		return r, fmt.Errorf("--since %s is after --until %s", s.since, s.until)
	}
	return r, nil
}

// open opens the database (read-only) and the session and compiles the
// filter for each of the session's link types.
func (s *selection) open() (*store.DB, store.Session, store.Range, *packetFilter, error) {
	id, err := parseSessionID(s.session)
	if err != nil {
		return nil, store.Session{}, store.Range{}, nil, err
	}
	r, err := s.timeRange()
	if err != nil {
		return nil, store.Session{}, r, nil, err
	}
	db, err := store.Open(s.db, store.Options{ReadOnly: true})
	if err != nil {
		return nil, store.Session{}, r, nil, err
	}
	sess, err := db.Session(id)
	if err != nil {
		db.Close()
		return nil, store.Session{}, r, nil, err
	}
	var pf *packetFilter
	if s.filter != "" {
		pf, err = compileFilter(db, sess, s.filter)
		if err != nil {
			db.Close()
			return nil, store.Session{}, r, nil, err
		}
	}
	return db, sess, r, pf, nil
}

// packetFilter is a filter compiled for each link type a session holds,
// so that every packet is matched by a program for its own link type, as
// tcpdump matches the packets of each file it reads. A nil packetFilter
// matches everything.
type packetFilter struct {
	progs map[uint32]*filter.Program
}

// compileFilter compiles expr for every link type of the session. An
// expression that does not compile for one of them is an error naming it:
// it never silently selects nothing there.
func compileFilter(db *store.DB, sess store.Session, expr string) (*packetFilter, error) {
	linkTypes, _, err := db.LinkTypes(sess.ID)
	if err != nil {
		return nil, err
	}
	if len(linkTypes) == 0 {
		linkTypes = []uint32{sess.LinkType}
	}
	pf := &packetFilter{progs: make(map[uint32]*filter.Program, len(linkTypes))}
	for _, lt := range linkTypes {
		prog, err := filter.Compile(expr, filter.Options{LinkType: lt})
		if err != nil {
			if len(linkTypes) > 1 {
				return nil, fmt.Errorf("filter for the session's %s packets: %w", filter.LinkTypeName(lt), err)
			}
			return nil, err
		}
		pf.progs[lt] = prog
	}
	return pf, nil
}

// Match reports whether the filter accepts the record.
func (f *packetFilter) Match(rec store.Record) bool {
	if f == nil {
		return true
	}
	prog := f.progs[rec.LinkType]
	return prog != nil && prog.Match(rec.Data, rec.OrigLen)
}

// walk calls fn for the selected packets, at most limit of them (0 = all).
func (s *selection) walk(ctx context.Context, db *store.DB, sess store.Session, r store.Range, prog *packetFilter, limit int64, fn func(store.Record) error) error {
	var n int64
	return db.Packets(sess.ID, r, func(rec store.Record) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !prog.Match(rec) {
			return nil
		}
		if err := fn(rec); err != nil {
			return err
		}
		n++
		if limit > 0 && n >= limit {
			return store.ErrStop
		}
		return nil
	})
}
