package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/packetrecorderd/packetrecorderd/internal/archive"
	"github.com/packetrecorderd/packetrecorderd/internal/filter"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
	"github.com/packetrecorderd/packetrecorderd/internal/storeview"
	"github.com/packetrecorderd/packetrecorderd/internal/when"
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
	remote    remoteFlags
	flags     *pflag.FlagSet
	file      string // -r: a capture file, read directly
}

func (s *selection) addFlags(cmd *cobra.Command) {
	addDatabaseFlag(cmd, &s.db)
	s.remote.add(cmd)
	s.flags = cmd.Flags()
	cmd.Flags().StringVarP(&s.file, "read", "r", "", "read packets from a capture file (pcap or pcapng, gzip or zstd compressed; - for standard input), as tcpdump -r")
	cmd.Flags().StringVarP(&s.session, "session", "s", "", "session id or name (see 'packetrecorder sessions'), several as 1,3,7 (merged by time), or all")
	cmd.Flags().StringVar(&s.filter, "filter", "", "only packets matching this filter (tcpdump's language)")
	cmd.Flags().StringVar(&s.since, "since", "", "only packets at or after this time (RFC 3339, local 2006-01-02 15:04:05, epoch seconds, or 5m ago)")
	cmd.Flags().StringVar(&s.until, "until", "", "only packets at or before this time (as --since)")
	// replay's --interface (-i) is where packets go; there the recorded
	// interface is --source-interface.
	name := "interface"
	if cmd.Flags().Lookup("interface") != nil || cmd.Name() == "replay" {
		name = "source-interface"
	}
	cmd.Flags().StringVar(&s.iface, name, "", "with a store directory: only the packets recorded on this interface")
}

// parseTime reads a --since/--until value: RFC 3339, local time as
// sessions and query print it, epoch seconds, or relative ("5m ago").
func parseTime(flag, text string) (int64, error) {
	ns, err := when.ParseNS(text, time.Now())
	if err != nil {
		return 0, fmt.Errorf("invalid %s: %w", flag, err)
	}
	return ns, nil
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
	rem  *remoteView     // a daemon's store, over its API
	file *fileView       // a capture file (-r)
	// multi is several sessions of db, merged by timestamp (-s 1,3 or all).
	multi *multi
	// wholeStore: a store (local or a daemon's) read without --interface,
	// whose packets may be of any of its interfaces.
	wholeStore bool
	ifaces     map[int]store.Interface // by the id records carry; see interfaceName
}

// store reports whether the selection is of a store (local or remote)
// rather than of a database's session.
func (sl *selected) store() bool { return sl.view != nil || sl.rem != nil }

// interfaceNames are the names of the interfaces a store's selection
// holds; none for a session.
func (sl *selected) interfaceNames() []string {
	switch {
	case sl.view != nil:
		return sl.view.Interfaces()
	case sl.rem != nil:
		return sl.rem.interfaceNames()
	}
	return nil
}

// open opens the database (read-only) or store, the session, and
// compiles the filter for each link type the selection holds.
func (s *selection) open() (*selected, error) {
	r, err := s.timeRange()
	if err != nil {
		return nil, err
	}
	if s.file != "" {
		if s.flags != nil && s.flags.Changed("database") || s.remote.server != "" || s.session != "" || s.iface != "" {
			return nil, errors.New("-r reads a capture file: -d, -s, --server and --interface select elsewhere")
		}
		v, err := openFileView(s.file, r, s.filter)
		if err != nil {
			return nil, err
		}
		s.storeMode = true
		return &selected{sess: v.summary(), r: r, file: v}, nil
	}
	if s.remote.server != "" {
		if s.flags != nil && s.flags.Changed("database") {
			return nil, errors.New("-d reads a local database or store, --server a daemon's: give one of them")
		}
		if s.session != "" {
			return nil, errors.New("-s selects a session of a local database; a daemon serves its store: select with --interface, --since and --until")
		}
		s.storeMode = true
		v, err := openRemote(&s.remote, s, r)
		if err != nil {
			return nil, err
		}
		return &selected{sess: v.summary(), r: r, rem: v, wholeStore: s.iface == ""}, nil
	}
	if s.remote.tokenFile != "" || s.remote.cacert != "" || s.remote.cert != "" || s.remote.key != "" {
		return nil, errors.New("--token-file, --cacert, --cert and --key go with --server")
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
		return &selected{sess: v.Summary(), r: r, view: v, wholeStore: s.iface == ""}, nil
	}
	if s.iface != "" {
		return nil, fmt.Errorf("--interface selects within a store directory; %s is a database: select a session with -s", s.db)
	}
	if s.session == "" {
		return nil, errors.New(`required flag(s) "session" not set: name a session with -s (see 'packetrecorder sessions')`)
	}
	db, err := store.Open(s.db, store.Options{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	list, err := resolveSessions(db, s.session)
	if err != nil {
		db.Close()
		return nil, err
	}
	if len(list) > 1 {
		m, err := openMulti(db, list, r, s.filter)
		if err != nil {
			db.Close()
			return nil, err
		}
		return &selected{sess: m.summary(), r: r, db: db, multi: m}, nil
	}
	sess := list[0]
	var pf *storeview.Filter
	if s.filter != "" {
		linkTypes, _, err := db.LinkTypes(sess.ID)
		if err == nil {
			pf, err = storeview.CompileFilterMask(s.filter, linkTypes, sess.LinkType, filter.NetmaskOf(sess.Netmask))
		}
		if err != nil {
			db.Close()
			return nil, err
		}
	}
	return &selected{sess: sess, r: r, db: db, prog: pf}, nil
}

func (sl *selected) Close() {
	if sl.file != nil {
		sl.file.Close()
	}
	if sl.db != nil {
		sl.db.Close()
	}
	if sl.view != nil {
		sl.view.Close()
	}
}

// linkTypes are the link types of the selected session or recordings.
func (sl *selected) linkTypes() ([]uint32, error) {
	if sl.multi != nil {
		return sl.multi.linkTypes(), nil
	}
	if sl.file != nil {
		return sl.file.linkTypes(), nil
	}
	if sl.rem != nil {
		return sl.rem.shape.LinkTypes, nil
	}
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
	if sl.multi != nil {
		return sl.multi.walk(ctx, limit, fn)
	}
	if sl.file != nil {
		return sl.file.walk(ctx, limit, fn)
	}
	if sl.rem != nil {
		return sl.rem.walk(ctx, limit, fn)
	}
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
	if sl.multi != nil {
		return sl.multi.count(ctx)
	}
	if sl.file != nil {
		var n int64
		err := sl.file.walk(ctx, 0, func(store.Record) error { n++; return nil })
		return n, err
	}
	if sl.rem != nil {
		return sl.rem.count(ctx)
	}
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
// recording's interface; for a session or a file, the one its packet
// carries ("#ID" for an unnamed one among several, "" for the only one).
func (sl *selected) interfaceName(rec store.Record) string {
	if sl.rem != nil {
		return sl.rem.interfaceName(rec)
	}
	if sl.view != nil {
		return sl.view.InterfaceName(rec)
	}
	if sl.ifaces == nil {
		sl.ifaces = map[int]store.Interface{}
		ifs, _ := sl.interfaces()
		for _, it := range ifs {
			sl.ifaces[it.ID] = it
		}
	}
	if name := sl.ifaces[rec.Interface].Name; name != "" || len(sl.ifaces) < 2 || sl.multi != nil {
		return name
	}
	return "#" + strconv.Itoa(rec.Interface)
}

// severalInterfaces reports whether the selection can hold packets of
// more than one interface: a store read without --interface, a session or
// file with several, sessions merged.
func (sl *selected) severalInterfaces() bool {
	if sl.store() {
		return sl.wholeStore || len(sl.interfaceNames()) > 1
	}
	if sl.multi != nil {
		return true
	}
	ifs, err := sl.interfaces()
	return err == nil && len(ifs) > 1
}

// sessionOf is the id of the session a record is of when several are
// merged; 0 otherwise.
func (sl *selected) sessionOf(rec store.Record) int64 {
	if sl.multi == nil {
		return 0
	}
	return sl.multi.sessions[sl.multi.session(rec)].ID
}

// exportShape is what export needs to choose a format: the link types,
// how many interfaces, and the earliest and latest timestamp.
func (sl *selected) exportShape() (linkTypes []uint32, interfaces int, first, last int64, err error) {
	if sl.multi != nil {
		first, last, err = sl.multi.span()
		return sl.multi.linkTypes(), len(sl.multi.ifaces), first, last, err
	}
	if sl.file != nil {
		// pcap's time range is checked as packets are written.
		return sl.file.linkTypes(), max(1, len(sl.file.ifaces)), 0, 0, nil
	}
	if sl.rem != nil {
		sh := sl.rem.shape
		return sh.LinkTypes, len(sh.Interfaces), sh.FirstNS, sh.LastNS, nil
	}
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
	if sl.multi != nil {
		return sl.multi.ifaces, nil
	}
	if sl.file != nil {
		return sl.file.storeInterfaces(), nil
	}
	if sl.rem != nil {
		return sl.rem.pcapngInterfaces(), nil
	}
	if sl.view == nil {
		return sl.db.Interfaces(sl.sess)
	}
	return sl.view.PcapngInterfaces(), nil
}

// filterArgs takes the filter from positional arguments, as tcpdump does;
// --filter and arguments together are a mistake.
func (s *selection) filterArgs(args []string) error {
	if len(args) == 0 {
		return nil
	}
	if s.filter != "" {
		return fmt.Errorf("the filter is given twice: --filter %q and %q", s.filter, strings.Join(args, " "))
	}
	s.filter = strings.Join(args, " ")
	return nil
}
