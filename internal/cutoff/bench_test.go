package cutoff

import (
	"testing"

	"github.com/packetrecorderd/packetrecorderd/internal/index/synth"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

// BenchmarkApply is the writer's cost per packet on the mix
// (ns/op is per packet): flow tracking alone, and with a 64 KiB cutoff.
func BenchmarkApply(b *testing.B) {
	mix := synth.HeavyTail(synth.HeavyConfig{Packets: 200_000, Flows: 6000})
	var blocks []store.Block
	var blk store.Block
	blk.Reset(1)
	var buf []byte
	for _, p := range mix.Packets {
		buf = mix.Frame(buf[:0], p)
		blk.Append(p.TS, len(buf), buf)
		if len(blk.Data) >= 256<<10 {
			blocks = append(blocks, blk)
			blk = store.Block{}
			blk.Reset(1)
		}
	}
	blocks = append(blocks, blk)
	for _, c := range []struct {
		name string
		cfg  Config
	}{
		{"track", Config{}},
		{"cut64KiB", Config{Enabled: true, Default: Limit{Bytes: 64 << 10}}},
	} {
		b.Run(c.name, func(b *testing.B) {
			work := make([]store.Block, len(blocks))
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				b.StopTimer()
				for i := range blocks {
					work[i] = blocks[i]
					work[i].Data = append(work[i].Data[:0:0], blocks[i].Data...)
				}
				e := New(c.cfg)
				b.StartTimer()
				for i := range work {
					e.Apply(&work[i])
				}
				n += len(mix.Packets)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/packet")
		})
	}
}
