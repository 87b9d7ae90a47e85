// Package archivetest builds stores for the tests of the packages above
// archive (selection, daemon, cli): a synthetic traffic mix recorded into
// segments as a daemon's recording records an interface.
package archivetest

import (
	"testing"

	"github.com/packetrecorderd/packetrecorderd/internal/archive"
	"github.com/packetrecorderd/packetrecorderd/internal/index/synth"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

// RecordMix records the mix cfg generates into the store at dir (created
// if need be) as interface synth0 (Ethernet, snaplen 65535), 100 packets
// a block and a commit, in segments closed at maxBytes, each with the
// summary its recording writes at close; it returns the mix.
func RecordMix(t testing.TB, dir string, cfg synth.Config, maxBytes int64) *synth.Mix {
	t.Helper()
	return recordMix(t, dir, cfg, maxBytes, false)
}

// RecordMixPrepared is RecordMix with every block prepared first as a
// recorder's preparers prepare it (store.Preparer, collecting the
// address-port pairs the segment summaries take), on the recording's
// compression.
func RecordMixPrepared(t testing.TB, dir string, cfg synth.Config, maxBytes int64) *synth.Mix {
	t.Helper()
	return recordMix(t, dir, cfg, maxBytes, true)
}

func recordMix(t testing.TB, dir string, cfg synth.Config, maxBytes int64, prepared bool) *synth.Mix {
	a, err := archive.Open(dir, archive.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	rec, err := archive.NewRecording(dir, archive.RecordingConfig{Interface: "synth0", LinkType: 1, Snaplen: 65535, MaxBytes: maxBytes})
	if err != nil {
		t.Fatal(err)
	}
	m := synth.Generate(cfg)
	pr := store.Preparer{Pairs: rec.SummaryPairs()}
	var b store.Block
	var frame []byte
	const per = 100
	for start := 0; start < len(m.Packets); start += per {
		b.Reset(1)
		for _, p := range m.Packets[start:min(start+per, len(m.Packets))] {
			frame = m.Frame(frame[:0], p)
			b.Append(p.TS, len(frame), frame)
		}
		if prepared {
			pr.PrepareBlock(&b, rec.Compression(), false)
		}
		if err := rec.Append(&b); err != nil {
			t.Fatal(err)
		}
		if err := rec.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	return m
}
