package selection

import (
	"context"
	"encoding/binary"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/packetrecorderd/packetrecorderd/internal/filter"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

// udpFrame is an Ethernet, IPv4 and UDP header from 10.0.0.1:sport to
// 10.0.0.2:dport, as pcap-filter(7) reads one (offsets of RFC 791/768).
func udpFrame(sport, dport uint16) []byte {
	f := make([]byte, 14+20+8)
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:]
	ip[0], ip[8], ip[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(ip[2:], 28)
	copy(ip[12:], []byte{10, 0, 0, 1})
	copy(ip[16:], []byte{10, 0, 0, 2})
	binary.BigEndian.PutUint16(ip[20:], sport)
	binary.BigEndian.PutUint16(ip[22:], dport)
	binary.BigEndian.PutUint16(ip[24:], 8)
	return f
}

// pkt is a packet to store: its time and UDP destination port.
type pkt struct {
	ts   int64
	port uint16
}

// writeSession stores pkts as one session of db and returns its id.
func writeSession(t *testing.T, db *store.DB, name string, pkts []pkt) int64 {
	t.Helper()
	s := &store.Session{Name: name, LinkType: 1, Snaplen: 100}
	if err := db.CreateSession(s); err != nil {
		t.Fatal(err)
	}
	w, err := db.NewWriter(s.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var b store.Block
	b.Reset(1)
	for _, p := range pkts {
		f := udpFrame(1000, p.port)
		b.Append(p.ts, len(f), f)
	}
	if err := w.Append(&b); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	return s.ID
}

// twoSessions is a database of two sessions whose packets interleave in
// time: session "a" at 10, 30, 50 (ports 1, 3, 5), "b" at 20, 30, 40
// (ports 2, 3, 4).
func twoSessions(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "db")
	db, err := store.Open(path, store.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	writeSession(t, db, "a", []pkt{{10, 1}, {30, 3}, {50, 5}})
	writeSession(t, db, "b", []pkt{{20, 2}, {30, 3}, {40, 4}})
	return path
}

// walked is what a walk yielded: each packet's time, session and number.
type walked struct {
	ts, session, n int64
}

func walk(t *testing.T, sl *Selection, limit int64) []walked {
	t.Helper()
	var out []walked
	err := sl.Walk(context.Background(), limit, func(rec store.Record) error {
		out = append(out, walked{rec.Timestamp, sl.SessionOf(rec), rec.Number})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func open(t *testing.T, spec Spec) *Selection {
	t.Helper()
	sl, err := Open(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sl.Close)
	return sl
}

// Sessions merged are walked in timestamp order, a tie to the session
// listed first; each packet keeps its session's number; limits and the
// filter apply to the merged walk; Count agrees with the walk.
func TestMergedSessions(t *testing.T) {
	path := twoSessions(t)
	sl := open(t, Spec{Database: path, Sessions: "1,2"})
	want := []walked{{10, 1, 1}, {20, 2, 1}, {30, 1, 2}, {30, 2, 2}, {40, 2, 3}, {50, 1, 3}}
	if got := walk(t, sl, 0); !slices.Equal(got, want) {
		t.Errorf("merged walk %v, want %v", got, want)
	}
	if got := walk(t, sl, 3); !slices.Equal(got, want[:3]) {
		t.Errorf("walk of 3: %v", got)
	}
	if n, err := sl.Count(context.Background()); err != nil || n != 6 {
		t.Errorf("count %d, %v; want 6", n, err)
	}
	// Listed the other way round, the tie goes to session 2.
	sl = open(t, Spec{Database: path, Sessions: "2,1"})
	if got := walk(t, sl, 0); got[2] != (walked{30, 2, 2}) {
		t.Errorf("sessions 2,1: third packet %v, want session 2's", got[2])
	}
	sl = open(t, Spec{Database: path, Sessions: "all", Filter: "udp dst port 3 or udp dst port 4", Limit: 2})
	want = []walked{{30, 1, 2}, {30, 2, 2}}
	if got := walk(t, sl, 0); !slices.Equal(got, want) {
		t.Errorf("filtered, limit 2: %v, want %v", got, want)
	}
	if n, err := sl.Count(context.Background()); err != nil || n != 2 {
		t.Errorf("filtered count %d, %v; want 2 (the limit)", n, err)
	}
}

// The forced filter is ANDed with the request's; a contradiction selects
// nothing and is no error; a mistake says whose it is.
func TestForcedFilter(t *testing.T) {
	path := twoSessions(t)
	ports := func(spec Spec) []uint16 {
		sl := open(t, spec)
		var out []uint16
		sl.Walk(context.Background(), 0, func(rec store.Record) error {
			out = append(out, binary.BigEndian.Uint16(rec.Data[14+22:]))
			return nil
		})
		return out
	}
	base := Spec{Database: path, Sessions: "1", ForcedFilter: "udp dst port 1 or udp dst port 3"}
	if got := ports(base); !slices.Equal(got, []uint16{1, 3}) {
		t.Errorf("forced alone: ports %v", got)
	}
	base.Filter = "udp dst port 3 or udp dst port 5"
	if got := ports(base); !slices.Equal(got, []uint16{3}) {
		t.Errorf("forced and request: ports %v, want [3]", got)
	}
	base.Filter = "not udp"
	if got := ports(base); len(got) != 0 {
		t.Errorf("contradiction: ports %v, want none", got)
	}
	var fe *FilterError
	base.Filter = "udp port"
	if _, err := Open(context.Background(), base); !errors.As(err, &fe) || fe.Forced {
		t.Errorf("the request's mistake: %v, want a FilterError not Forced", err)
	}
	base.Filter, base.ForcedFilter = "udp", "udp and port"
	if _, err := Open(context.Background(), base); !errors.As(err, &fe) || !fe.Forced {
		t.Errorf("the forced filter's mistake: %v, want a FilterError Forced", err)
	}
}

// Windows are read in turn, each with its own filter; a limit spans
// them.
func TestWindows(t *testing.T) {
	path := twoSessions(t)
	spec := Spec{Database: path, Sessions: "2", Range: store.Range{Since: 0, Until: 100, HasSince: true, HasUntil: true},
		Windows: []Window{
			{Range: store.Range{Since: 35, Until: 45, HasSince: true, HasUntil: true}},
			{Range: store.Range{Since: 0, Until: 30, HasSince: true, HasUntil: true}, Filter: "udp dst port 2"},
		}}
	sl := open(t, spec)
	if got, want := walk(t, sl, 0), []walked{{40, 0, 3}, {20, 0, 1}}; !slices.Equal(got, want) {
		t.Errorf("windows: %v, want %v", got, want)
	}
	if got := walk(t, sl, 1); len(got) != 1 {
		t.Errorf("windows, limit 1: %v", got)
	}
	if sl.Indexed() {
		t.Error("windows are counted by walking them")
	}
}

// A filter is compiled once per link type when a selection opens,
// however many requests' worth of parts (a forced filter, the request's)
// it is made of.
func TestFilterCompiledOnce(t *testing.T) {
	path := twoSessions(t)
	n := 0
	compileBPF = func(expr string, o filter.Options) (*filter.Program, error) {
		n++
		return filter.Compile(expr, o)
	}
	defer func() { compileBPF = filter.Compile }()
	sl := open(t, Spec{Database: path, Sessions: "1", Filter: "udp", ForcedFilter: "udp dst port 3"})
	walk(t, sl, 0)
	sl.Count(context.Background())
	if n != 1 {
		t.Errorf("%d compilations, want 1", n)
	}
}

// Contradictory sources and flags are refused before anything is read.
func TestOpenRefuses(t *testing.T) {
	path := twoSessions(t)
	for _, spec := range []Spec{
		{File: "x.pcap", DatabaseSet: true, Database: path},
		{File: "x.pcap", Sessions: "1"},
		{File: "x.pcap", Interface: "eth0"},
		{Server: Remote{Server: "http://127.0.0.1:1"}, DatabaseSet: true},
		{Server: Remote{Server: "http://127.0.0.1:1"}, Sessions: "1"},
		{Server: Remote{TokenFile: "t"}, Database: path, Sessions: "1"},
		{Database: path, Interface: "eth0", Sessions: "1"},
		{Database: path},
		{Database: path, Sessions: "3"},
	} {
		if sl, err := Open(context.Background(), spec); err == nil {
			sl.Close()
			t.Errorf("%+v: opened", spec)
		}
	}
	if _, err := Open(context.Background(), Spec{Database: path, Sessions: "3"}); !errors.Is(err, store.ErrNoSession) {
		t.Errorf("no session 3: %v, want store.ErrNoSession", err)
	}
}
