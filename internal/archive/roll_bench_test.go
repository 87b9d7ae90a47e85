package archive

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

func cpuNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func faults() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Minflt
}

// BenchmarkRecordingRoll writes 400 MB of 256 KiB blocks of 64-byte
// packets, committing every 8 blocks, into segments of the given size.
func BenchmarkRecordingRoll(b *testing.B) {
	for _, seg := range []struct {
		name string
		size int64
	}{{"50MB", 50 << 20}, {"4GB", 4 << 30}} {
		b.Run(seg.name, func(b *testing.B) {
			var blk store.Block
			blk.Reset(1)
			pkt := make([]byte, 106)
			ts := time.Now().UnixNano()
			for len(blk.Data) < 256<<10 {
				ts += 1000
				blk.Append(ts, len(pkt), pkt)
			}
			b.ReportAllocs()
			var cpu time.Duration
			var flt int64
			for i := 0; i < b.N; i++ {
				dir := filepath.Join(b.TempDir(), "store")
				a, err := Open(dir, Options{Create: true})
				if err != nil {
					b.Fatal(err)
				}
				a.Close()
				r, err := NewRecording(dir, RecordingConfig{Interface: "eth0", LinkType: 1, MaxBytes: seg.size})
				if err != nil {
					b.Fatal(err)
				}
				c0, f0 := cpuNow(), faults()
				for n := 0; n < 1600; n++ {
					if err := r.Append(&blk); err != nil {
						b.Fatal(err)
					}
					if n%8 == 7 {
						if err := r.Commit(); err != nil {
							b.Fatal(err)
						}
					}
				}
				r.Commit()
				r.Close()
				cpu += cpuNow() - c0
				flt += faults() - f0
			}
			b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
			b.ReportMetric(float64(flt)/float64(b.N), "minflt/op")
		})
	}
}
