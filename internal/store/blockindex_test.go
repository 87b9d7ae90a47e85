package store

import (
	"net/netip"
	"os/exec"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/flow"
	"github.com/packetrecorderd/packetrecorderd/internal/index"
	"github.com/packetrecorderd/packetrecorderd/internal/index/synth"
)

// writeMix stores a synthetic mix as one session in blocks of about
// blockBytes, committing every few blocks, and returns the session id.
// mixCompression is how writeMix stores its blocks: raw for a test that
// makes the file an older schema's (see downgradeTo4).
var mixCompression Compression

// downgradeTo4 makes a database of raw blocks a schema 4 file, for sqlite3.
const downgradeTo4 = "ALTER TABLE blocks DROP COLUMN encoding; ALTER TABLE blocks DROP COLUMN data_len; DROP TABLE block_sketches; PRAGMA user_version=4;"

func writeMix(t *testing.T, db *DB, m *synth.Mix, blockBytes int) int64 {
	t.Helper()
	s := &Session{Name: "mix", Interface: "synth", LinkType: 1, Snaplen: 65535, Source: SourceImport}
	if err := db.CreateSession(s); err != nil {
		t.Fatal(err)
	}
	w, err := db.NewWriter(s.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.SetCompression(mixCompression); err != nil {
		t.Fatal(err)
	}
	var b Block
	b.Reset(1)
	var frame []byte
	blocks := 0
	for i, p := range m.Packets {
		frame = m.Frame(frame[:0], p)
		b.Append(p.TS, len(frame), frame)
		if len(b.Data) >= blockBytes || i == len(m.Packets)-1 {
			if err := w.Append(&b); err != nil {
				t.Fatal(err)
			}
			b.Reset(1)
			if blocks++; blocks%8 == 0 {
				if err := w.Commit(); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := db.Finish(s.ID, StatusComplete, time.Now(), 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	return s.ID
}

// matchFlow is a packet predicate standing in for a compiled filter: the
// packet is one of flow f's (either direction), by flow.Extract.
func matchFlow(f synth.Flow) func(Record) bool {
	want, _ := flow.Key{Src: f.Client, Dst: f.Server, SrcPort: f.CPort, DstPort: f.SPort, Proto: f.Proto, HasPorts: true}.Canonical()
	return func(r Record) bool {
		var p flow.Packet
		if !flow.Extract(r.LinkType, r.Data, &p) {
			return false
		}
		k, _ := p.Key.Canonical()
		return k == want
	}
}

// flowPlan is the plan of "host C and host S and port P and port Q"
// for flow f.
func flowPlan(f synth.Flow) index.Expr {
	term := func(t index.Term) index.Expr { return index.Expr{Op: index.OpTerm, Term: t} }
	return index.Expr{Op: index.OpAnd, Args: []index.Expr{
		term(index.Term{Kind: index.KindAddr, Addr: f.Client}),
		term(index.Term{Kind: index.KindAddr, Addr: f.Server}),
		term(index.Term{Kind: index.KindPort, Proto: f.Proto, Port: f.CPort}),
		{Op: index.OpOr, Args: []index.Expr{
			term(index.Term{Kind: index.KindPort, Proto: 6, Port: f.SPort}),
			term(index.Term{Kind: index.KindPort, Proto: 17, Port: f.SPort}),
		}},
	}}
}

// selected returns the numbers of the packets the walk finds that match.
func selected(t *testing.T, db *DB, session int64, r Range, match func(Record) bool) []int64 {
	t.Helper()
	var got []int64
	err := db.Packets(session, r, func(rec Record) error {
		if match(rec) {
			got = append(got, rec.Number)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// sparseFlows picks flows of a few packets to dozens, as a user looks for.
func sparseFlows(m *synth.Mix, n int) []synth.Flow {
	var out []synth.Flow
	for _, f := range m.Flows {
		if f.Packets >= 3 && f.Packets <= 60 {
			out = append(out, f)
			if len(out) == n {
				break
			}
		}
	}
	return out
}

func TestBlockIndexPlannedWalkIsTheScan(t *testing.T) {
	db, _ := tempDB(t)
	m := synth.Generate(synth.Config{Seed: 1, Flows: 3000, Packets: 60000})
	id := writeMix(t, db, m, 64<<10)
	for _, f := range sparseFlows(m, 20) {
		match := matchFlow(f)
		full := selected(t, db, id, Range{}, match)
		var st PlanStats
		planned := selected(t, db, id, Range{Plan: flowPlan(f), Stats: &st}, match)
		// The generator says how many packets the flow has.
		if len(full) != f.Packets {
			t.Fatalf("flow %v: the scan finds %d packets, the mix has %d", f, len(full), f.Packets)
		}
		if !slices.Equal(full, planned) {
			t.Fatalf("flow %v: planned walk found %v, the scan %v", f, planned, full)
		}
		if st.Unindexed != 0 || st.Read >= st.Blocks/4 || st.Read == 0 {
			t.Errorf("flow %v: read %d of %d blocks (%d unindexed): the index did not narrow", f, st.Read, st.Blocks, st.Unindexed)
		}
		// A time window and a packet number still apply.
		lo := m.Packets[f.FirstPkt].TS
		r := Range{Plan: flowPlan(f), Since: lo, HasSince: true, From: 2}
		rf := r
		rf.Plan = index.All
		if a, b := selected(t, db, id, r, match), selected(t, db, id, rf, match); !slices.Equal(a, b) {
			t.Fatalf("flow %v in a window: planned %v, scan %v", f, a, b)
		}
	}
	// Plans that narrow nothing read every block; OpNone reads none.
	for _, e := range []index.Expr{index.All, {Op: index.OpPrefix, Prefix: netip.MustParsePrefix("10.0.0.0/8")}} {
		var st PlanStats
		selected(t, db, id, Range{Plan: e, Stats: &st}, func(Record) bool { return true })
		if st.Read != st.Blocks {
			t.Errorf("plan %+v read %d of %d blocks", e, st.Read, st.Blocks)
		}
	}
	var st PlanStats
	if got := selected(t, db, id, Range{Plan: index.Expr{Op: index.OpNone}, Stats: &st}, func(Record) bool { return true }); len(got) != 0 {
		t.Errorf("OpNone selected %d packets", len(got))
	}
}

// TestBlockIndexDamaged deletes and damages index rows behind the
// database's back (sqlite3): the planned walk reads those blocks whole,
// finds every packet, and says so.
func TestBlockIndexDamaged(t *testing.T) {
	sqlite := requireSQLite(t)
	db, path := tempDB(t)
	m := synth.Generate(synth.Config{Seed: 2, Flows: 2000, Packets: 30000})
	id := writeMix(t, db, m, 32<<10)
	flows := sparseFlows(m, 10)
	full := make([][]int64, len(flows))
	for i, f := range flows {
		full[i] = selected(t, db, id, Range{}, matchFlow(f))
	}
	db.Close()
	for _, sql := range []string{
		"DELETE FROM block_sketches WHERE block_id % 3 = 0",
		"UPDATE block_sketches SET sketch = x'0106' WHERE block_id % 3 = 1",
		"DELETE FROM block_sketches",
	} {
		if out, err := exec.Command(sqlite, path, sql).CombinedOutput(); err != nil {
			t.Fatalf("sqlite3 %s: %v: %s", sql, err, out)
		}
		ro, err := Open(path, Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		for i, f := range flows {
			var st PlanStats
			got := selected(t, ro, id, Range{Plan: flowPlan(f), Stats: &st}, matchFlow(f))
			if !slices.Equal(got, full[i]) {
				t.Fatalf("after %q: flow %v: planned walk found %v, the scan %v", sql, f, got, full[i])
			}
			if st.Unindexed == 0 || st.Warning() == "" {
				t.Fatalf("after %q: no warning (%+v)", sql, st)
			}
		}
		ro.Close()
	}
	// reindex rebuilds what is missing: the walk narrows again.
	rw, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rw.Close()
	rs, err := rw.Reindex(false)
	if err != nil {
		t.Fatal(err)
	}
	if rs.Blocks == 0 || rs.Sketch == 0 {
		t.Fatalf("reindex built nothing: %+v", rs)
	}
	for i, f := range flows {
		var st PlanStats
		got := selected(t, rw, id, Range{Plan: flowPlan(f), Stats: &st}, matchFlow(f))
		if !slices.Equal(got, full[i]) || st.Unindexed != 0 || st.Read >= st.Blocks/2 {
			t.Fatalf("after reindex: flow %v: found %v want %v, stats %+v", f, got, full[i], st)
		}
	}
}

// TestBlockIndexMigrateFrom4 takes a database back to schema 4 (no
// block_sketches, user_version 4) with sqlite3: read-only it is read
// whole with a warning; the first read-write open indexes every block.
func TestBlockIndexMigrateFrom4(t *testing.T) {
	sqlite := requireSQLite(t)
	db, path := tempDB(t)
	m := synth.Generate(synth.Config{Seed: 3, Flows: 1000, Packets: 20000})
	mixCompression = Compression{None: true}
	id := writeMix(t, db, m, 32<<10)
	mixCompression = Compression{}
	var blocks int64
	walkErr := db.walkIndex(id, func(blockRef) error { blocks++; return nil })
	if walkErr != nil {
		t.Fatal(walkErr)
	}
	db.Close()
	if out, err := exec.Command(sqlite, path, downgradeTo4).CombinedOutput(); err != nil {
		t.Fatalf("sqlite3: %v: %s", err, out)
	}
	f := sparseFlows(m, 1)[0]
	ro, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var st PlanStats
	got := selected(t, ro, id, Range{Plan: flowPlan(f), Stats: &st}, matchFlow(f))
	ro.Close()
	if len(got) != f.Packets || !st.NoIndex || st.Read != blocks || st.Warning() == "" {
		t.Fatalf("schema 4 read-only: %d packets (want %d), stats %+v", len(got), f.Packets, st)
	}
	rw, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rw.Close()
	if v, _ := rw.pragmaInt("user_version"); v != SchemaVersion {
		t.Fatalf("user_version %d after migration", v)
	}
	out, err := exec.Command(sqlite, path, "SELECT count(*) FROM block_sketches").Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte(itoa(blocks) + "\n"); string(out) != string(want) {
		t.Fatalf("block_sketches holds %q rows, want %d", out, blocks)
	}
	st = PlanStats{}
	got = selected(t, rw, id, Range{Plan: flowPlan(f), Stats: &st}, matchFlow(f))
	if len(got) != f.Packets || st.Unindexed != 0 || st.Read >= blocks/2 {
		t.Fatalf("after migration: %d packets (want %d), stats %+v", len(got), f.Packets, st)
	}
}

// TestBlockIndexLive: a block committed by a writer is found through the
// index by another connection at once (the sketch is in the block's
// transaction).
func TestBlockIndexLive(t *testing.T) {
	db, path := tempDB(t)
	s := &Session{Name: "live", Interface: "synth", LinkType: 1, Snaplen: 65535}
	if err := db.CreateSession(s); err != nil {
		t.Fatal(err)
	}
	w, err := db.NewWriter(s.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	m := synth.Generate(synth.Config{Seed: 4, Flows: 200, Packets: 4000})
	ro, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	var b Block
	var frame []byte
	const per = 500
	for start := 0; start < len(m.Packets); start += per {
		b.Reset(1)
		for _, p := range m.Packets[start:min(start+per, len(m.Packets))] {
			frame = m.Frame(frame[:0], p)
			b.Append(p.TS, len(frame), frame)
		}
		if err := w.Append(&b); err != nil {
			t.Fatal(err)
		}
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
		// The last packet just committed is found through the index.
		last := m.Packets[min(start+per, len(m.Packets))-1]
		f := m.Flows[last.Flow]
		var st PlanStats
		got := selected(t, ro, s.ID, Range{Plan: flowPlan(f), Stats: &st}, matchFlow(f))
		if len(got) == 0 || got[len(got)-1] != int64(min(start+per, len(m.Packets))) || st.Unindexed != 0 {
			t.Fatalf("after committing packets to %d: found %v, stats %+v", start+per, got, st)
		}
	}
}

func requireSQLite(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("sqlite3")
	if err != nil {
		t.Fatal("sqlite3 is needed (apt-get install sqlite3)")
	}
	return p
}

func itoa(n int64) string {
	return strconv.FormatInt(n, 10)
}

// TestBlockIndexDeleted: deleting a session deletes its index entries
// (sqlite3 counts them), and the other session's stay.
func TestBlockIndexDeleted(t *testing.T) {
	sqlite := requireSQLite(t)
	db, path := tempDB(t)
	m := synth.Generate(synth.Config{Seed: 8, Flows: 200, Packets: 5000})
	a := writeMix(t, db, m, 16<<10)
	b := writeMix(t, db, m, 16<<10)
	count := func(session int64) string {
		out, err := exec.Command(sqlite, path, "SELECT count(*) FROM block_sketches WHERE session_id = "+strconv.FormatInt(session, 10)).Output()
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	if count(a) == "0\n" || count(a) != count(b) {
		t.Fatalf("index entries: %q and %q", count(a), count(b))
	}
	before := count(b)
	if err := db.Delete(a); err != nil {
		t.Fatal(err)
	}
	if got := count(a); got != "0\n" {
		t.Fatalf("%s index entries left of a deleted session", got)
	}
	if got := count(b); got != before {
		t.Fatalf("the other session's index entries went from %s to %s", before, got)
	}
}

// TestBlockIndexMigrateLarge: a database larger than migrateIndexMax is
// migrated without its index (so that the capture that opened it starts
// at once): every block is read, with a warning, until Reindex.
func TestBlockIndexMigrateLarge(t *testing.T) {
	sqlite := requireSQLite(t)
	db, path := tempDB(t)
	m := synth.Generate(synth.Config{Seed: 9, Flows: 500, Packets: 8000})
	mixCompression = Compression{None: true}
	id := writeMix(t, db, m, 16<<10)
	mixCompression = Compression{}
	db.Close()
	if out, err := exec.Command(sqlite, path, downgradeTo4).CombinedOutput(); err != nil {
		t.Fatalf("sqlite3: %v: %s", err, out)
	}
	defer func(old int64) { migrateIndexMax = old }(migrateIndexMax)
	migrateIndexMax = 1 << 16
	rw, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rw.Close()
	f := sparseFlows(m, 1)[0]
	var st PlanStats
	got := selected(t, rw, id, Range{Plan: flowPlan(f), Stats: &st}, matchFlow(f))
	if len(got) != f.Packets || st.Unindexed != st.Blocks || st.Read != st.Blocks || st.Warning() == "" {
		t.Fatalf("migrated without an index: %d packets (want %d), stats %+v", len(got), f.Packets, st)
	}
	if _, err := rw.Reindex(false); err != nil {
		t.Fatal(err)
	}
	st = PlanStats{}
	got = selected(t, rw, id, Range{Plan: flowPlan(f), Stats: &st}, matchFlow(f))
	if len(got) != f.Packets || st.Unindexed != 0 || st.Read*2 > st.Blocks {
		t.Fatalf("after reindex: %d packets (want %d), stats %+v", len(got), f.Packets, st)
	}
}

// BenchmarkBlockSketch is the writer's added work per packet: walking a
// freshly built 256 KiB block and building its sketch.
func BenchmarkBlockSketch(b *testing.B) {
	m := synth.Generate(synth.Config{Seed: 10, Flows: 2000, Packets: 20000})
	var blk Block
	blk.Reset(1)
	var frame []byte
	for _, p := range m.Packets {
		frame = m.Frame(frame[:0], p)
		blk.Append(p.TS, len(frame), frame)
		if len(blk.Data) >= 256<<10 {
			break
		}
	}
	var sk sketcher
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := sk.sketch(blk.Data, 1); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*blk.Count), "ns/packet")
}
