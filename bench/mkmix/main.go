// Command mkmix writes the lab's traffic mix as a pcap file, for the import,
// export and query benchmarks: about 40% TCP acks of 54-66 bytes, 30% small
// UDP datagrams (many of them DNS), 27% full-size 1514-byte TCP segments and
// 3% ICMP echo, between a few hundred hosts of 10.213.0.0/16, one packet
// every 2.5 us, or with -gap-min/-gap-max, at irregular gaps.
//
// By default every packet draws its client port anew, so nearly every
// packet is a flow of its own: the worst case of anything that works per
// flow (the flow table, the index's per-flow caches). With -flows N the
// packets' hosts and client ports are those of one of N flows instead,
// flow k drawn with probability proportional to 1/(k+1)^1.3 (Zipf, as
// heavy-tailed as the cutoff bench's), so connections repeat as on a
// real link; the proportions of sizes and protocols stay the same.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"time"

	"github.com/packetrecorderd/packetrecorderd/bench/internal/labframe"
	"github.com/packetrecorderd/packetrecorderd/internal/pcapio"
)

func main() {
	n := flag.Int("n", 2_000_000, "packets")
	out := flag.String("o", "mix.pcap", "output file")
	gapMin := flag.Duration("gap-min", 0, "with gap-max: irregular gaps, log-uniform between the two")
	gapMax := flag.Duration("gap-max", 0, "largest gap between packets")
	flows := flag.Int("flows", 0, "draw the packets' hosts and client ports from this many heavy-tailed flows (0: a new client port every packet)")
	flag.Parse()
	if *flows < 0 {
		fmt.Fprintln(os.Stderr, "mkmix: -flows must be 0 or more")
		os.Exit(2)
	}
	if err := run(*n, *out, *gapMin, *gapMax, *flows); err != nil {
		fmt.Fprintln(os.Stderr, "mkmix:", err)
		os.Exit(1)
	}
}

func run(n int, path string, gapMin, gapMax time.Duration, flows int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	w, err := pcapio.NewPcapWriter(bw, 1, 65535, true)
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var zipf *rand.Zipf
	if flows > 0 {
		zipf = rand.NewZipf(rand.New(rand.NewPCG(3, 4)), 1.3, 1, uint64(flows-1))
	}
	var flowPCG rand.PCG
	flow := rand.New(&flowPCG)
	buf := make([]byte, 1514)
	ts := int64(1_764_000_000e9)
	for i := 0; i < n; i++ {
		ts += 2500
		if gapMax > 0 {
			lo, hi := math.Log(float64(gapMin)), math.Log(float64(gapMax))
			ts += int64(math.Exp(lo+rng.Float64()*(hi-lo))) - 2500
		}
		ends := rng // a client port of its own
		if zipf != nil {
			flowPCG.Seed(zipf.Uint64(), 5)
			ends = flow
		}
		r := rng.IntN(100)
		var frame []byte
		switch {
		case r < 40:
			frame = labframe.PacketOf(buf, rng, ends, 6, 54+rng.IntN(13), 443)
		case r < 70:
			port := 53
			if rng.IntN(3) == 0 {
				port = 5000 + rng.IntN(100)
			}
			frame = labframe.PacketOf(buf, rng, ends, 17, 60+rng.IntN(140), port)
		case r < 97:
			frame = labframe.PacketOf(buf, rng, ends, 6, 1514, []int{443, 80, 22}[rng.IntN(3)])
		default:
			frame = labframe.PacketOf(buf, rng, ends, 1, 98, 0)
		}
		if err := w.WritePacket(pcapio.Packet{Timestamp: ts, OrigLen: len(frame), LinkType: 1, Data: frame}); err != nil {
			return err
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return bw.Flush()
}
