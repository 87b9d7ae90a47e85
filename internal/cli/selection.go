package cli

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/spf13/cobra"

	"github.com/packetrecorderd/packetrecorderd/internal/archive"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
	"github.com/packetrecorderd/packetrecorderd/internal/storeview"
)

// selection is what query, replay and export share: which packets, of a
// session of a database (-d FILE -s ID) or of the recordings of a store
// directory (-d STORE, by --interface and time).
type selection struct {
	db        string
	session   string
	filter    string
	since     string
	until     string
	iface     string
	storeMode bool // set by open
}

func (s *selection) addFlags(cmd *cobra.Command) {
	addDatabaseFlag(cmd, &s.db)
	cmd.Flags().StringVarP(&s.session, "session", "s", "", "session id (see 'packetrecorder sessions'); not used with a store directory")
	cmd.Flags().StringVar(&s.filter, "filter", "", "only packets matching this filter (tcpdump's language)")
	cmd.Flags().StringVar(&s.since, "since", "", "only packets at or after this time (RFC 3339)")
	cmd.Flags().StringVar(&s.until, "until", "", "only packets at or before this time (RFC 3339)")
	// replay's --interface (-i) is where packets go; there the recorded
	// interface is --source-interface.
	name := "interface"
	if cmd.Flags().Lookup("interface") != nil || cmd.Name() == "replay" {
		name = "source-interface"
	}
	cmd.Flags().StringVar(&s.iface, name, "", "with a store directory: only the packets recorded on this interface")
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

// selected is an open selection.
type selected struct {
	// sess is the session; for a store, a summary of the selection:
	// its interface (when one), first link type, snaplen.
	sess store.Session
	r    store.Range
	db   *store.DB // a database's session; nil for a store
	prog *storeview.Filter
	view *storeview.View // a store's recordings; nil for a database
}

// open opens the database (read-only) or store, the session, and
// compiles the filter for each link type the selection holds.
func (s *selection) open() (*selected, error) {
	r, err := s.timeRange()
	if err != nil {
		return nil, err
	}
	if archive.IsStore(s.db) {
		if s.session != "" {
			return nil, fmt.Errorf("-s selects a session of a database; %s is a store: select with --interface, --since and --until", s.db)
		}
		s.storeMode = true
		v, err := storeview.Open(s.db, s.iface, r, s.filter)
		if err != nil {
			return nil, err
		}
		return &selected{sess: v.Summary(), r: r, view: v}, nil
	}
	if s.iface != "" {
		return nil, fmt.Errorf("--interface selects within a store directory; %s is a database: select a session with -s", s.db)
	}
	if s.session == "" {
		return nil, errors.New(`required flag(s) "session" not set: name a session with -s (see 'packetrecorder sessions')`)
	}
	id, err := parseSessionID(s.session)
	if err != nil {
		return nil, err
	}
	db, err := store.Open(s.db, store.Options{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	sess, err := db.Session(id)
	if err != nil {
		db.Close()
		return nil, err
	}
	var pf *storeview.Filter
	if s.filter != "" {
		linkTypes, _, err := db.LinkTypes(sess.ID)
		if err == nil {
			pf, err = storeview.CompileFilter(s.filter, linkTypes, sess.LinkType)
		}
		if err != nil {
			db.Close()
			return nil, err
		}
	}
	return &selected{sess: sess, r: r, db: db, prog: pf}, nil
}

func (sl *selected) Close() {
	if sl.db != nil {
		sl.db.Close()
	}
	if sl.view != nil {
		sl.view.Close()
	}
}

// linkTypes are the link types of the selected session or recordings.
func (sl *selected) linkTypes() ([]uint32, error) {
	if sl.view != nil {
		return sl.view.LinkTypes(), nil
	}
	lts, _, err := sl.db.LinkTypes(sl.sess.ID)
	if len(lts) == 0 && err == nil {
		lts = []uint32{sl.sess.LinkType}
	}
	return lts, err
}

// walk calls fn for the selected packets, at most limit of them (0 =
// all): a session's in packet-number order, a store's merged by
// timestamp.
func (sl *selected) walk(ctx context.Context, limit int64, fn func(store.Record) error) error {
	if sl.view != nil {
		return sl.view.Walk(ctx, limit, fn)
	}
	var n int64
	return sl.db.Packets(sl.sess.ID, sl.r, func(rec store.Record) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !sl.prog.Match(rec) {
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

// count is how many packets the selection holds, from the block index
// where no filter needs each packet.
func (sl *selected) count(ctx context.Context) (int64, error) {
	if sl.view == nil && sl.prog == nil {
		return sl.db.Count(sl.sess.ID, sl.r)
	}
	if sl.view != nil && sl.view.Filter == nil {
		return sl.view.Count()
	}
	var n int64
	err := sl.walk(ctx, 0, func(store.Record) error { n++; return nil })
	return n, err
}

// interfaceName names the interface of a record: for a store, the
// recording's interface; for a session, "".
func (sl *selected) interfaceName(rec store.Record) string {
	if sl.view != nil {
		return sl.view.InterfaceName(rec)
	}
	return ""
}

// exportShape is what export needs to choose a format: the link types,
// how many interfaces, and the earliest and latest timestamp.
func (sl *selected) exportShape() (linkTypes []uint32, interfaces int, first, last int64, err error) {
	if sl.view != nil {
		first, last = sl.view.Span()
		return sl.view.LinkTypes(), sl.view.Recordings(), first, last, nil
	}
	lts, ids, err := sl.db.LinkTypes(sl.sess.ID)
	if err != nil {
		return nil, 0, 0, 0, err
	}
	first, last, err = sl.db.TimeSpan(sl.sess.ID)
	return lts, len(ids), first, last, err
}

// interfaces are the pcapng interfaces of the selection, by the id its
// records carry.
func (sl *selected) interfaces() ([]store.Interface, error) {
	if sl.view == nil {
		return sl.db.Interfaces(sl.sess)
	}
	return sl.view.PcapngInterfaces(), nil
}
