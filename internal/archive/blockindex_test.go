package archive_test

import (
	"slices"
	"testing"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/archive"
	"github.com/packetrecorderd/packetrecorderd/internal/flow"
	"github.com/packetrecorderd/packetrecorderd/internal/index"
	"github.com/packetrecorderd/packetrecorderd/internal/index/synth"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

// TestBlockIndexLiveSegments records a synthetic mix as a daemon's
// recording does (archive.Recording: roll-over every 256 KiB), and after
// commits looks for the connection of the packet just committed through
// the index of every segment, closed and open, from other connections:
// it is found at once (the index is written in the block's transaction),
// with exactly the packets the full walk finds, and as many as the mix
// has so far; segments expired by retention meanwhile change nothing.
func TestBlockIndexLiveSegments(t *testing.T) {
	dir := t.TempDir()
	a, err := archive.Open(dir, archive.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	rec, err := archive.NewRecording(dir, archive.RecordingConfig{Interface: "synth0", LinkType: 1, Snaplen: 65535, MaxBytes: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()
	m := synth.Generate(synth.Config{Seed: 7, Flows: 500, Packets: 12000, Span: 600e9})
	var b store.Block
	var frame []byte
	expired := map[string]bool{}
	lost := 0 // packets in expired segments
	const per = 60
	for start, round := 0, 0; start < len(m.Packets); start, round = start+per, round+1 {
		end := min(start+per, len(m.Packets))
		b.Reset(1)
		for _, p := range m.Packets[start:end] {
			frame = m.Frame(frame[:0], p)
			b.Append(p.TS, len(frame), frame)
		}
		if err := rec.Append(&b); err != nil {
			t.Fatal(err)
		}
		if err := rec.Commit(); err != nil {
			t.Fatal(err)
		}
		committed := time.Now()
		if round%10 != 0 {
			continue
		}
		// Retention: expire the oldest closed segment now and then.
		segs, err := a.Segments()
		if err != nil {
			t.Fatal(err)
		}
		if round%40 == 0 && len(segs) > 2 && segs[0].Closed {
			expired[segs[0].File] = true
			lost += int(segs[0].Packets)
			if err := a.Expire(segs[0]); err != nil {
				t.Fatal(err)
			}
			segs = segs[1:]
		}
		last := m.Packets[end-1]
		f := m.Flows[last.Flow]
		want := 0
		for _, p := range m.Packets[:end] {
			if p.Flow == last.Flow {
				want++
			}
		}
		planned, full, st := findFlow(t, a, segs, f)
		if !slices.Equal(planned, full) {
			t.Fatalf("after %d packets: planned walk found %v, full walk %v", end, planned, full)
		}
		if len(planned) == 0 || planned[len(planned)-1] != int64(end) {
			t.Fatalf("after %d packets: the packet just committed is not found (found %v)", end, planned)
		}
		if since := time.Since(committed); since > time.Second {
			t.Fatalf("after %d packets: found %v after the commit", end, since)
		}
		if lost == 0 && len(planned) != want {
			t.Fatalf("after %d packets: found %d packets of the flow, the mix has %d", end, len(planned), want)
		}
		// A connection of a few packets is in a few blocks: the index
		// reads those and about 1% more.
		if st.Unindexed != 0 || (len(planned) <= 10 && st.Read > int64(len(planned))+st.Blocks/20+1) {
			t.Fatalf("after %d packets: the index read %d of %d blocks (%d unindexed)", end, st.Read, st.Blocks, st.Unindexed)
		}
	}
	if len(expired) == 0 {
		t.Fatal("no segment expired: the test did not test retention")
	}
	if rec.Closed < 5 {
		t.Fatalf("%d segments closed: the test did not test roll-over", rec.Closed)
	}
}

// findFlow walks every segment's sessions for flow f, with the plan of
// its 5-tuple and without.
func findFlow(t *testing.T, a *archive.Archive, segs []archive.Segment, f synth.Flow) (planned, full []int64, st store.PlanStats) {
	t.Helper()
	want, _ := flow.Key{Src: f.Client, Dst: f.Server, SrcPort: f.CPort, DstPort: f.SPort, Proto: f.Proto, HasPorts: true}.Canonical()
	match := func(r store.Record) bool {
		var p flow.Packet
		if !flow.Extract(r.LinkType, r.Data, &p) {
			return false
		}
		k, _ := p.Key.Canonical()
		return k == want
	}
	plan := index.And(index.TermExpr(index.AddrTerm(f.Client)), index.TermExpr(index.AddrTerm(f.Server)),
		index.TermExpr(index.PortTerm(f.Proto, f.CPort)), index.TermExpr(index.PortTerm(f.Proto, f.SPort)))
	for _, s := range segs {
		db, err := store.Open(a.Path(s), store.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		sessions, err := db.Sessions()
		if err != nil {
			t.Fatal(err)
		}
		for _, sess := range sessions {
			for _, r := range []store.Range{{Plan: plan, Stats: &st}, {}} {
				var got []int64
				err := db.Packets(sess.ID, r, func(rec store.Record) error {
					if match(rec) {
						got = append(got, rec.Number)
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				if r.Stats != nil {
					planned = append(planned, got...)
				} else {
					full = append(full, got...)
				}
			}
		}
		db.Close()
	}
	return planned, full, st
}
