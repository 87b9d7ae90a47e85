package selection

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"

	"github.com/packetrecorderd/packetrecorderd/internal/archive"
	"github.com/packetrecorderd/packetrecorderd/internal/archive/archivetest"
	"github.com/packetrecorderd/packetrecorderd/internal/flow"
	"github.com/packetrecorderd/packetrecorderd/internal/index"
	"github.com/packetrecorderd/packetrecorderd/internal/index/synth"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

// cidWalk walks a selection of spec, planned as Open plans it or, with
// planned false, reading every block (the plan set to index.All, the
// per-packet match unchanged), and returns the packets' numbers, what
// the walk read and the plan.
func cidWalk(t *testing.T, spec Spec, planned bool) ([]int64, store.PlanStats, string) {
	t.Helper()
	sl, err := Open(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	defer sl.Close()
	plan := sl.Plan().String()
	if !planned {
		for _, w := range sl.windows {
			if w.f != nil {
				w.f.plan = index.All
			}
		}
	}
	var got []int64
	if err := sl.Walk(context.Background(), 0, func(rec store.Record) error {
		got = append(got, rec.Number)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return got, sl.PlanStats(), plan
}

// writeMixDB stores a synthetic mix as one session of a database, per
// packets a block.
func writeMixDB(t *testing.T, path string, cfg synth.Config, per int) *synth.Mix {
	t.Helper()
	db, err := store.Open(path, store.Options{Create: true, NoReserve: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s := &store.Session{Name: "mix", Interface: "synth0", LinkType: 1, Snaplen: 65535, Source: store.SourceImport}
	if err := db.CreateSession(s); err != nil {
		t.Fatal(err)
	}
	w, err := db.NewWriter(s.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	m := synth.Generate(cfg)
	var b store.Block
	var frame []byte
	for start := 0; start < len(m.Packets); start += per {
		b.Reset(1)
		for _, p := range m.Packets[start:min(start+per, len(m.Packets))] {
			frame = m.Frame(frame[:0], p)
			b.Append(p.TS, len(frame), frame)
		}
		if err := w.Append(&b); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := db.Finish(s.ID, store.StatusComplete, time.Now(), 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	return m
}

// smallFlows picks up to n flows of 1 to 20 packets, spread over the mix,
// with their packets (by 5-tuple, flowPackets).
func smallFlows(t *testing.T, m *synth.Mix, n int) ([]synth.Flow, [][]int64) {
	t.Helper()
	var flows []synth.Flow
	var wants [][]int64
	for i := 0; i < len(m.Flows) && len(flows) < n; i += 97 {
		if w := flowPackets(m, m.Flows[i]); len(w) > 0 && len(w) < 20 {
			flows = append(flows, m.Flows[i])
			wants = append(wants, w)
		}
	}
	if len(flows) < 3 {
		t.Fatalf("the mix has %d small flows to look for", len(flows))
	}
	return flows, wants
}

func flowID(f synth.Flow, seed uint16) string {
	return flow.Key{Src: f.Client, Dst: f.Server, SrcPort: f.CPort, DstPort: f.SPort, Proto: f.Proto, HasPorts: true}.ID(seed).String()
}

// TestCommunityIDPlannedDatabase: a --community-id selection of a
// database (seed 0) is planned by the ID (query --explain shows it), its
// planned walk selects exactly the full walk's packets, which are the
// flow's by its 5-tuple, and reads few blocks; with a filter the ID is
// ANDed to the filter's plan; with another seed the ID narrows nothing
// and the answer is the same.
func TestCommunityIDPlannedDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mix.db")
	m := writeMixDB(t, path, synth.Config{Seed: 13, Flows: 3000, Packets: 60000, Span: 3600e9}, 100)
	flows, wants := smallFlows(t, m, 6)
	for i, f := range flows {
		id := flowID(f, 0)
		for _, spec := range []Spec{
			{Database: path, Sessions: "1", CommunityID: id},
			{Database: path, Sessions: "1", CommunityID: id, Filter: "tcp or udp"},
			{Database: path, Sessions: "1", CommunityID: flowID(f, 4242), CommunityIDSeed: 4242},
		} {
			planned, st, plan := cidWalk(t, spec, true)
			full, fst, _ := cidWalk(t, spec, false)
			if !slices.Equal(full, wants[i]) {
				t.Fatalf("%+v: the full walk selects %v, the flow's packets are %v", spec, full, wants[i])
			}
			if !slices.Equal(planned, full) {
				t.Fatalf("%+v (plan %s): the planned walk selects %v, the full walk %v", spec, plan, planned, full)
			}
			if fst.Read != fst.Blocks || st.Blocks != int64(len(m.Packets)+99)/100 || st.Unindexed != 0 || st.Warning() != "" {
				t.Fatalf("%+v: planned %+v, full %+v", spec, st, fst)
			}
			if spec.CommunityIDSeed != 0 {
				if strings.Contains(plan, "community-id") || st.Read != st.Blocks {
					t.Fatalf("seed %d: plan %s, %d of %d blocks read: only seed 0 is indexed", spec.CommunityIDSeed, plan, st.Read, st.Blocks)
				}
				continue
			}
			if !strings.Contains(plan, "community-id "+id) {
				t.Fatalf("%+v: plan %q does not show the ID", spec, plan)
			}
			// The flow's packets lie in at most as many blocks as it
			// has packets; about 1% of the others test present.
			if st.Read > int64(len(full))+st.Blocks/20 {
				t.Fatalf("%+v: %d of %d blocks read for %d packets", spec, st.Read, st.Blocks, len(full))
			}
		}
	}
	// An ID of no flow in the database reads (nearly) nothing.
	none := flow.Key{Src: m.Flows[0].Client, Dst: m.Flows[0].Client, Proto: 47}.ID(0).String()
	got, st, _ := cidWalk(t, Spec{Database: path, Sessions: "1", CommunityID: none}, true)
	if len(got) != 0 || st.Read > st.Blocks/20 {
		t.Fatalf("an absent ID: %d packets, %d of %d blocks read", len(got), st.Read, st.Blocks)
	}
}

// TestCommunityIDPlannedStore: in a store, a --community-id selection
// opens only the closed segments whose catalog summary may hold the ID,
// and answers exactly as the full walk; summaries written before IDs were
// indexed (flagCID clear) are used for other plans but open their
// segment for every ID, with the same answer, until reindex writes them
// again.
func TestCommunityIDPlannedStore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	m := archivetest.RecordMix(t, dir, synth.Config{Seed: 11, Flows: 3000, Packets: 60000, Span: 3600e9}, 800<<10)
	flows, wants := smallFlows(t, m, 5)
	check := func(stage string, skips bool) {
		t.Helper()
		for i, f := range flows {
			spec := Spec{Database: dir, CommunityID: flowID(f, 0)}
			planned, st, _ := cidWalk(t, spec, true)
			full, _, _ := cidWalk(t, spec, false)
			if !slices.Equal(full, wants[i]) || !slices.Equal(planned, full) {
				t.Fatalf("%s: %s: planned %v, full %v, the flow's packets %v", stage, spec.CommunityID, planned, full, wants[i])
			}
			if st.Segments < 10 || st.Unsummarized != 0 || st.Warning() != "" {
				t.Fatalf("%s: %+v, warning %q", stage, st, st.Warning())
			}
			if skips && st.SegmentsSkipped < st.Segments-int64(len(full))-st.Segments/20-1 {
				t.Fatalf("%s: %s: %d of %d segments skipped by the catalog", stage, spec.CommunityID, st.SegmentsSkipped, st.Segments)
			}
			if !skips && st.SegmentsSkipped != 0 {
				t.Fatalf("%s: %d segments skipped by summaries without IDs", stage, st.SegmentsSkipped)
			}
			// Within the segments opened, the blocks' sketches narrow.
			if st.Read > int64(len(full))+st.Blocks/20 {
				t.Fatalf("%s: %s: %d of %d blocks read", stage, spec.CommunityID, st.Read, st.Blocks)
			}
			if i == 0 {
				t.Logf("%s: %d packets; %d of %d segments skipped, %d of %d blocks read", stage, len(full), st.SegmentsSkipped, st.Segments, st.Read, st.Blocks)
			}
		}
	}
	check("summaries with IDs", true)

	// The catalog's summaries as the previous layout wrote them.
	conn, err := sqlite3.Open(filepath.Join(dir, archive.CatalogFile))
	if err != nil {
		t.Fatal(err)
	}
	var rows [][]byte
	var files []string
	stmt, _, err := conn.Prepare(`SELECT file, sketch FROM segment_summaries`)
	if err != nil {
		t.Fatal(err)
	}
	for stmt.Step() {
		files = append(files, stmt.ColumnText(0))
		rows = append(rows, stmt.ColumnBlob(1, nil))
	}
	stmt.Close()
	for i, sk := range rows {
		if !index.Sketch(sk).HasCommunityIDs() {
			t.Fatalf("%s: a summary written without IDs", files[i])
		}
		sk[2] &^= 2
		up, _, err := conn.Prepare(`UPDATE segment_summaries SET sketch = ? WHERE file = ?`)
		if err != nil {
			t.Fatal(err)
		}
		up.BindBlob(1, sk)
		up.BindText(2, files[i])
		if err := up.Exec(); err != nil {
			t.Fatal(err)
		}
		up.Close()
	}
	conn.Close()
	check("summaries of the previous layout", false)
	// They still leave out segments for a 5-tuple.
	if got, st := selectNumbers(t, dir, fiveTuple(flows[0])); !slices.Equal(got, wants[0]) || st.SegmentsSkipped < st.Segments/2 {
		t.Fatalf("summaries of the previous layout: %v, %d of %d segments skipped", got, st.SegmentsSkipped, st.Segments)
	}
	// reindex (Summarize) writes them again, with IDs.
	a, err := archive.Open(dir, archive.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := a.Summarize(false)
	a.Close()
	if err != nil || st.Built != int64(len(rows)) || st.Kept != 0 {
		t.Fatalf("reindex built %d of %d summaries, kept %d (%v)", st.Built, len(rows), st.Kept, err)
	}
	check("summaries rebuilt by reindex", true)
}
