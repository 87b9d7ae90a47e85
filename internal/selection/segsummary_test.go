package selection

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ncruces/go-sqlite3"

	"github.com/packetrecorderd/packetrecorderd/internal/archive"
	"github.com/packetrecorderd/packetrecorderd/internal/archive/archivetest"
	"github.com/packetrecorderd/packetrecorderd/internal/flow"
	"github.com/packetrecorderd/packetrecorderd/internal/index/synth"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

// flowPackets are the numbers (1-based, in the mix's order) of the
// packets of f's 5-tuple, either way, as flow.Extract reads them.
func flowPackets(m *synth.Mix, f synth.Flow) []int64 {
	want, _ := flow.Key{Src: f.Client, Dst: f.Server, SrcPort: f.CPort, DstPort: f.SPort, Proto: f.Proto, HasPorts: true}.Canonical()
	var out []int64
	var frame []byte
	for i, p := range m.Packets {
		frame = m.Frame(frame[:0], p)
		var pk flow.Packet
		if flow.Extract(1, frame, &pk) {
			if k, _ := pk.Key.Canonical(); k == want {
				out = append(out, int64(i+1))
			}
		}
	}
	return out
}

func fiveTuple(f synth.Flow) string {
	proto := map[uint8]string{6: "tcp", 17: "udp"}[f.Proto]
	return fmt.Sprintf("%s and host %s and host %s and port %d and port %d", proto, f.Client, f.Server, f.CPort, f.SPort)
}

func selectNumbers(t *testing.T, dir, expr string) ([]int64, store.PlanStats) {
	t.Helper()
	sl, err := Open(context.Background(), Spec{Database: dir, Filter: expr})
	if err != nil {
		t.Fatal(err)
	}
	defer sl.Close()
	var got []int64
	if err := sl.Walk(context.Background(), 0, func(rec store.Record) error {
		got = append(got, rec.Number)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return got, sl.PlanStats()
}

// TestStoreSegmentSummaries: a store selection opens only the closed
// segments whose catalog summary may hold its 5-tuple, and its answer is
// exactly the flow's packets (as the mix made them, read by flow.Extract);
// with the summaries damaged, stale or gone it opens every segment,
// warns, and gives the same answer; reindex (Summarize) brings them back.
func TestStoreSegmentSummaries(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	m := archivetest.RecordMix(t, dir, synth.Config{Seed: 11, Flows: 3000, Packets: 60000, Span: 3600e9}, 800<<10)
	// Flows of a few packets, spread over the store.
	var flows []synth.Flow
	var wants [][]int64
	for i := 0; i < len(m.Flows) && len(flows) < 6; i += 97 {
		if w := flowPackets(m, m.Flows[i]); len(w) > 0 && len(w) < 20 {
			flows = append(flows, m.Flows[i])
			wants = append(wants, w)
		}
	}
	if len(flows) < 3 {
		t.Fatalf("the mix has %d small flows to look for", len(flows))
	}
	check := func(stage string, summarized bool) {
		t.Helper()
		for i, f := range flows {
			got, st := selectNumbers(t, dir, fiveTuple(f))
			if !slices.Equal(got, wants[i]) {
				t.Fatalf("%s: %s: got packets %v, the flow's are %v", stage, fiveTuple(f), got, wants[i])
			}
			if i == 0 {
				t.Logf("%s: %d packets; %d of %d segments skipped by the catalog, %d unsummarized; %d of %d blocks read", stage, len(got), st.SegmentsSkipped, st.Segments, st.Unsummarized, st.Read, st.Blocks)
			}
			if st.Segments < 10 {
				t.Fatalf("%s: %d closed segments planned: the test needs many", stage, st.Segments)
			}
			if summarized {
				// The flow's packets lie in at most as many segments as
				// it has packets; about 1% of the others test present.
				if st.Unsummarized != 0 || st.SegmentsSkipped < st.Segments-int64(len(wants[i]))-st.Segments/20-1 {
					t.Fatalf("%s: %s: %d of %d segments skipped by the catalog (%d unsummarized)", stage, fiveTuple(f), st.SegmentsSkipped, st.Segments, st.Unsummarized)
				}
				if st.Warning() != "" {
					t.Fatalf("%s: warning %q", stage, st.Warning())
				}
			} else {
				if st.SegmentsSkipped != 0 || st.Unsummarized != st.Segments {
					t.Fatalf("%s: %d of %d segments skipped, %d unsummarized: a segment without a usable summary must be opened", stage, st.SegmentsSkipped, st.Segments, st.Unsummarized)
				}
				if !strings.Contains(st.Warning(), "no usable summary") {
					t.Fatalf("%s: warning %q", stage, st.Warning())
				}
			}
		}
	}
	check("written at close", true)
	paired := func(stage string) {
		t.Helper()
		conn, err := sqlite3.Open(filepath.Join(dir, archive.CatalogFile))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		stmt, _, err := conn.Prepare(`SELECT count(*), coalesce(sum(pairs), 0) FROM segment_summaries`)
		if err != nil {
			t.Fatal(err)
		}
		defer stmt.Close()
		if !stmt.Step() || stmt.ColumnInt64(0) < 10 || stmt.ColumnInt64(1) != stmt.ColumnInt64(0) {
			t.Fatalf("%s: %d summaries, %d with pairs", stage, stmt.ColumnInt64(0), stmt.ColumnInt64(1))
		}
	}
	paired("written at close")

	catalog := func(sql string) {
		t.Helper()
		conn, err := sqlite3.Open(filepath.Join(dir, archive.CatalogFile))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if err := conn.Exec(sql); err != nil {
			t.Fatal(err)
		}
	}
	catalog(`UPDATE segment_summaries SET sketch = x'0102'`)
	check("damaged", false)
	catalog(`UPDATE segment_summaries SET sketch = zeroblob(length(sketch))`)
	check("zeroed (no version byte)", false)
	catalog(`UPDATE segment_summaries SET packets = packets - 1`)
	check("stale", false)
	catalog(`DELETE FROM segment_summaries`)
	check("missing", false)

	a, err := archive.Open(dir, archive.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := a.Summarize(false)
	a.Close()
	if err != nil {
		t.Fatal(err)
	}
	if st.Built < 10 || st.Kept != 0 {
		t.Fatalf("reindex built %d summaries, kept %d", st.Built, st.Kept)
	}
	check("rebuilt by reindex", true)
	paired("rebuilt by reindex")
	// A host and a port that are each in the store, never in one packet:
	// the pairs leave out every segment that lacks them together.
	f, g := flows[0], flows[1]
	cross := fmt.Sprintf("host %s and port %d", f.Client, g.CPort)
	got, pst := selectNumbers(t, dir, cross)
	var want []int64
	for i, p := range m.Packets {
		h := m.Flows[p.Flow]
		if (h.Client == f.Client || h.Server == f.Client) && (h.CPort == g.CPort || h.SPort == g.CPort) {
			want = append(want, int64(i+1))
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s: got packets %v, the mix has %v", cross, got, want)
	}
	if pst.SegmentsSkipped < pst.Segments-2 {
		t.Errorf("%s: %d of %d segments skipped by the catalog: its pairs should leave out nearly all", cross, pst.SegmentsSkipped, pst.Segments)
	}

	// A broad filter reads every segment and every packet it accepts.
	all, _ := selectNumbers(t, dir, "")
	if len(all) != len(m.Packets) {
		t.Fatalf("the store holds %d packets, the mix %d", len(all), len(m.Packets))
	}
}
