package store

import (
	"bytes"
	"testing"

	"github.com/packetrecorderd/packetrecorderd/internal/index"
	"github.com/packetrecorderd/packetrecorderd/internal/index/synth"
)

// TestPreparedPairsSummary: a segment summary that takes address-port
// pairs ends the same, byte for byte, whether its Writer appends blocks
// unprepared (it sketches them itself), prepared with their pairs, or
// prepared without them (the Writer does not use that preparation and
// prepares the block again).
func TestPreparedPairsSummary(t *testing.T) {
	m := synth.Generate(synth.Config{Seed: 7, Flows: 500, Packets: 6000})
	var sketches [3][]byte
	for i, how := range []string{"unprepared", "with pairs", "without pairs"} {
		db, _ := tempDB(t)
		s := &Session{LinkType: 1, Snaplen: 65535}
		if err := db.CreateSession(s); err != nil {
			t.Fatal(err)
		}
		w, err := db.NewWriter(s.ID)
		if err != nil {
			t.Fatal(err)
		}
		var sum index.Summary
		sum.SetPairs(true)
		w.SetSummary(&sum)
		pr := Preparer{Pairs: how == "with pairs"}
		var b Block
		var frame []byte
		for start := 0; start < len(m.Packets); start += 200 {
			b.Reset(1)
			for _, p := range m.Packets[start:min(start+200, len(m.Packets))] {
				frame = m.Frame(frame[:0], p)
				b.Append(p.TS, len(frame), frame)
			}
			if how != "unprepared" {
				pr.PrepareBlock(&b, w.Compression(), false)
			}
			if err := w.Append(&b); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
		w.Close()
		if !sum.Paired() {
			t.Fatalf("%s: the summary lost its pairs", how)
		}
		sketches[i] = sum.Sketch(nil)
	}
	if !bytes.Equal(sketches[0], sketches[1]) || !bytes.Equal(sketches[0], sketches[2]) {
		t.Fatalf("summaries differ: unprepared %d bytes, with pairs %d, without %d (equal %v, %v)",
			len(sketches[0]), len(sketches[1]), len(sketches[2]), bytes.Equal(sketches[0], sketches[1]), bytes.Equal(sketches[0], sketches[2]))
	}
}
