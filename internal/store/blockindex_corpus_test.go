package store_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/filter"
	"github.com/packetrecorderd/packetrecorderd/internal/pcapio"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// TestBlockIndexCorpus is the differential test of the block index: every
// corpus capture is stored in blocks of three packets (so that the index
// has blocks to leave out), and for every filter libpcap judged on it
// (filters/verdicts.tsv), the walk planned by filter.Plan must select
// exactly the packets the full walk selects, and libpcap's packets where
// the full walk agrees with libpcap.
func TestBlockIndexCorpus(t *testing.T) {
	verdicts := testkit.MustReadTSV(t, testkit.Corpus(t, "filters", "verdicts.tsv"))
	dir := t.TempDir()
	type stored struct {
		db      *store.DB
		session int64
		lt      uint32
		err     error
	}
	dbs := map[string]*stored{}
	open := func(name string) *stored {
		if s, ok := dbs[name]; ok {
			return s
		}
		s := &stored{}
		dbs[name] = s
		s.db, s.session, s.lt, s.err = storeFile(t, filepath.Join(testkit.CorpusRoot(), "pcap", name), filepath.Join(dir, name+".db"))
		if s.db != nil {
			t.Cleanup(func() { s.db.Close() })
		}
		return s
	}
	var checked, narrowed, agreed, skipped int
	for _, v := range verdicts {
		s := open(v["pcap"])
		if s.err != nil {
			skipped++
			continue
		}
		lt, ok := filter.LinkTypeByName(v["dlt"])
		if !ok || lt != s.lt {
			skipped++
			continue
		}
		prog, err := filter.Compile(v["expr"], filter.Options{LinkType: lt})
		if err != nil {
			skipped++ // what the compiler refuses is the matrix's to check
			continue
		}
		plan, err := filter.Plan(v["expr"], filter.Options{LinkType: lt})
		if err != nil {
			t.Fatalf("%s: %q compiles but does not plan: %v", v["pcap"], v["expr"], err)
		}
		walk := func(r store.Range) []int64 {
			var got []int64
			err := s.db.Packets(s.session, r, func(rec store.Record) error {
				if prog.Match(rec.Data, rec.OrigLen) {
					got = append(got, rec.Number)
				}
				return nil
			})
			if err != nil {
				t.Fatalf("%s: %q: %v", v["pcap"], v["expr"], err)
			}
			return got
		}
		var st store.PlanStats
		full, planned := walk(store.Range{}), walk(store.Range{Plan: plan, Stats: &st})
		if !slices.Equal(full, planned) {
			t.Errorf("%s: %q planned as %v: the planned walk selects %v, the full walk %v", v["pcap"], v["expr"], plan, planned, full)
		}
		if st.Unindexed != 0 {
			t.Errorf("%s: %d blocks without an index entry", v["pcap"], st.Unindexed)
		}
		if st.Read < st.Blocks {
			narrowed++
		}
		if want, ok := libpcapSelects(v); ok && slices.Equal(want, full) {
			agreed++
			if !slices.Equal(want, planned) {
				t.Errorf("%s: %q: planned walk selects %v, libpcap %v", v["pcap"], v["expr"], planned, want)
			}
		}
		checked++
	}
	t.Logf("%d (file, filter) pairs checked, %d narrowed by the index, %d also against libpcap's verdict; %d skipped", checked, narrowed, agreed, skipped)
	if checked < 10000 || narrowed < checked/10 {
		t.Errorf("only %d pairs checked, %d narrowed: the test tests little", checked, narrowed)
	}
}

// libpcapSelects is the packet numbers verdicts.tsv says libpcap accepts.
func libpcapSelects(v map[string]string) ([]int64, bool) {
	n, err := strconv.Atoi(v["packets"])
	if err != nil {
		return nil, false
	}
	switch a := v["accepted"]; a {
	case "":
		return nil, true
	case "all":
		out := make([]int64, n)
		for i := range out {
			out[i] = int64(i + 1)
		}
		return out, true
	default:
		var out []int64
		for _, f := range strings.Split(a, ",") {
			k, err := strconv.ParseInt(f, 10, 64)
			if err != nil {
				return nil, false
			}
			out = append(out, k)
		}
		return out, true
	}
}

// storeFile stores a capture file of one link type as a session of a new
// database, three packets a block.
func storeFile(t *testing.T, src, path string) (*store.DB, int64, uint32, error) {
	f, err := os.Open(src)
	if err != nil {
		return nil, 0, 0, err
	}
	defer f.Close()
	r, err := pcapio.NewReader(f)
	if err != nil {
		return nil, 0, 0, err
	}
	var pkts []pcapio.Packet
	for {
		p, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, 0, 0, err // a damaged file: the matrix's to check
		}
		p.Data = slices.Clone(p.Data)
		pkts = append(pkts, p)
	}
	if len(pkts) == 0 {
		return nil, 0, 0, errors.New("no packets")
	}
	lt := pkts[0].LinkType
	for _, p := range pkts {
		if p.LinkType != lt {
			return nil, 0, 0, errors.New("several link types")
		}
	}
	db, err := store.Open(path, store.Options{Create: true, NoReserve: true})
	if err != nil {
		t.Fatal(err)
	}
	s := &store.Session{Name: filepath.Base(src), LinkType: lt, Snaplen: 262144, Source: store.SourceImport}
	if err := db.CreateSession(s); err != nil {
		t.Fatal(err)
	}
	w, err := db.NewWriter(s.ID)
	if err != nil {
		t.Fatal(err)
	}
	var b store.Block
	b.Reset(lt)
	for i, p := range pkts {
		b.Append(p.Timestamp, p.OrigLen, p.Data)
		if b.Count == 3 || i == len(pkts)-1 {
			if err := w.Append(&b); err != nil {
				t.Fatal(err)
			}
			b.Reset(lt)
		}
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if err := db.Finish(s.ID, store.StatusComplete, time.Now(), 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	return db, s.ID, lt, nil
}
