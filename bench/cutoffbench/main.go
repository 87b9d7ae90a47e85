// Command cutoffbench measures the per-flow cutoff (issue #21) on the
// issue's heavy-tailed mix (internal/index/synth.HeavyTail: 1M IPv4
// packets over 6 minutes in tens of thousands of TCP and UDP flows, flow
// i carrying packets in proportion to 1/(i+1)^1.3, the largest 1% of the
// TCP flows in full-size segments with one pure ACK in four):
//
//   - it imports the mix's pcap three times with the real command
//     (`packetrecorder import --compression none`): without a cutoff,
//     with --cutoff 64KiB (headers kept) and with --cutoff-keep none;
//   - from the databases it prints the flows kept whole (every packet of
//     the generated flow stored with all its bytes), and the stored bytes
//     (captured bytes, session.bytes) as a share of the uncut import's;
//   - the CPU the cutoff adds per packet: in the recorder's writer (the
//     engine over the mix's 256 KiB blocks, in this process, median of
//     -runs) and in the import process (user+sys, against the uncut import).
//
// Run from the repository:
//
//	go run ./bench/cutoffbench [-dir DIR] [-packets 1000000] [-flows 30000] [-cutoff 64KiB] [-runs 3] [-keep]
package main

import (
	"bufio"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"syscall"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/cutoff"
	"github.com/packetrecorderd/packetrecorderd/internal/flow"
	"github.com/packetrecorderd/packetrecorderd/internal/index/synth"
	"github.com/packetrecorderd/packetrecorderd/internal/pcapio"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

func main() {
	dir := flag.String("dir", "", "where to build the files (default: a temporary directory under /var/tmp)")
	packets := flag.Int("packets", 1_000_000, "packets in the mix (about)")
	flows := flag.Int("flows", 30_000, "flows in the mix")
	size := flag.String("cutoff", "64KiB", "the cutoff")
	runs := flag.Int("runs", 3, "runs of the CPU measurements")
	keep := flag.Bool("keep", false, "keep the files")
	flag.Parse()
	if *dir == "" {
		d, err := os.MkdirTemp("/var/tmp", "cutoffbench-")
		if err != nil {
			log.Fatal(err)
		}
		*dir = d
	}
	if !*keep {
		defer os.RemoveAll(*dir)
	}
	limit, err := cutoff.ParseBytes(*size)
	if err != nil {
		log.Fatal(err)
	}
	bin := filepath.Join(*dir, "packetrecorder")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/packetrecorder").CombinedOutput(); err != nil {
		log.Fatalf("build: %v\n%s", err, out)
	}
	mix := synth.HeavyTail(synth.HeavyConfig{Packets: *packets, Flows: *flows})
	pcap := filepath.Join(*dir, "mix.pcap")
	writePcap(pcap, mix)
	ntcp := 0
	for _, f := range mix.Flows {
		if f.Proto == 6 {
			ntcp++
		}
	}
	fmt.Printf("mix: %d packets, %d flows (%d TCP), largest flow %d packets; cutoff %s\n",
		len(mix.Packets), len(mix.Flows), ntcp, mix.Flows[0].Packets, *size)

	type variant struct {
		name string
		args []string
	}
	vs := []variant{
		{"uncut", nil},
		{"headers", []string{"--cutoff", *size}},
		{"none", []string{"--cutoff", *size, "--cutoff-keep", "none"}},
	}
	var uncut int64
	cpu := map[string]time.Duration{}
	for _, v := range vs {
		var cpus []time.Duration
		var stored int64
		var whole int
		for r := range *runs {
			db := filepath.Join(*dir, v.name+".db")
			os.Remove(db)
			args := append([]string{"import", "-d", db, "--compression", "none"}, v.args...)
			args = append(args, pcap)
			cmd := exec.Command(bin, args...)
			cmd.Stderr = os.Stderr
			if err := cmd.Run(); err != nil {
				log.Fatalf("%s: %v", v.name, err)
			}
			u := cmd.ProcessState.SysUsage().(*syscall.Rusage)
			cpus = append(cpus, time.Duration(u.Utime.Nano()+u.Stime.Nano()))
			if r == 0 {
				stored, whole = measure(db, mix)
			}
			if r < *runs-1 || !*keep {
				removeDB(db)
			}
		}
		slices.Sort(cpus)
		cpu[v.name] = cpus[len(cpus)/2]
		if v.name == "uncut" {
			uncut = stored
		}
		fmt.Printf("%-8s stored %8.1f MB = %5.1f%% of uncut; flows kept whole %5.1f%%; import CPU %4d ns/packet (%+d against uncut)\n",
			v.name, float64(stored)/1e6, 100*float64(stored)/float64(uncut), 100*float64(whole)/float64(len(mix.Flows)),
			cpu[v.name].Nanoseconds()/int64(len(mix.Packets)), (cpu[v.name]-cpu["uncut"]).Nanoseconds()/int64(len(mix.Packets)))
	}
	writerCPU(mix, limit, *runs)
}

// writePcap writes the mix as an Ethernet pcap.
func writePcap(path string, mix *synth.Mix) {
	f, err := os.Create(path)
	if err != nil {
		log.Fatal(err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	w, err := pcapio.NewPcapWriter(bw, 1, 65535, true)
	if err != nil {
		log.Fatal(err)
	}
	var buf []byte
	for _, p := range mix.Packets {
		buf = mix.Frame(buf[:0], p)
		if err := w.WritePacket(pcapio.Packet{Timestamp: p.TS, OrigLen: len(buf), LinkType: 1, Data: buf}); err != nil {
			log.Fatal(err)
		}
	}
	if err := bw.Flush(); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
}

// measure reads an import's database: the captured bytes stored, and how
// many of the mix's flows have every packet stored whole.
func measure(path string, mix *synth.Mix) (stored int64, whole int) {
	db, err := store.Open(path, store.Options{ReadOnly: true})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	ss, err := db.Sessions()
	if err != nil || len(ss) != 1 {
		log.Fatalf("%s: sessions %v %v", path, ss, err)
	}
	stored = ss[0].Bytes
	byClient := map[[4]byte]int{}
	for i, f := range mix.Flows {
		byClient[f.Client.As4()] = i
	}
	full := make([]int, len(mix.Flows))
	var p flow.Packet
	err = db.Packets(ss[0].ID, store.Range{}, func(r store.Record) error {
		if !flow.Extract(r.LinkType, r.Data, &p) || len(r.Data) != r.OrigLen {
			return nil
		}
		c := p.Key.Src.As4()
		if c[0] != 10 {
			c = p.Key.Dst.As4()
		}
		full[byClient[c]]++
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	for i, f := range mix.Flows {
		if full[i] == f.Packets {
			whole++
		}
	}
	return stored, whole
}

// writerCPU is the engine's cost per packet as the recorder's writer pays
// it: the mix in 256 KiB blocks, tracked without a cutoff and cut.
func writerCPU(mix *synth.Mix, limit int64, runs int) {
	var blocks []*store.Block
	b := &store.Block{}
	b.Reset(1)
	var buf []byte
	for _, p := range mix.Packets {
		buf = mix.Frame(buf[:0], p)
		b.Append(p.TS, len(buf), buf)
		if len(b.Data) >= 256<<10 {
			blocks = append(blocks, b)
			b = &store.Block{}
			b.Reset(1)
		}
	}
	blocks = append(blocks, b)
	copies := make([]store.Block, len(blocks))
	run := func(cfg *cutoff.Config) time.Duration {
		var ds []time.Duration
		for range runs {
			for i, b := range blocks {
				copies[i] = *b
				copies[i].Data = append(copies[i].Data[:0:0], b.Data...)
			}
			// The CPU time of this thread, as the recorder's writer
			// goroutine would spend it: other processes on the machine
			// do not count.
			runtime.LockOSThread()
			start := threadCPU()
			e := cutoff.New(*cfg)
			for i := range copies {
				e.Apply(&copies[i])
			}
			e.Flush()
			ds = append(ds, threadCPU()-start)
			runtime.UnlockOSThread()
		}
		slices.Sort(ds)
		return ds[len(ds)/2] / time.Duration(len(mix.Packets))
	}
	track := run(&cutoff.Config{})
	head := run(&cutoff.Config{Enabled: true, Default: cutoff.Limit{Bytes: limit}})
	none := run(&cutoff.Config{Enabled: true, Default: cutoff.Limit{Bytes: limit, Keep: cutoff.KeepNone}})
	fmt.Printf("writer CPU per packet (thread CPU time, median of %d): flow tracking alone %d ns, cutoff with headers %d ns, keep none %d ns (no cutoff: none)\n",
		runs, track.Nanoseconds(), head.Nanoseconds(), none.Nanoseconds())
}

// threadCPU is the calling thread's user and system time.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru); err != nil {
		log.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func removeDB(path string) {
	for _, s := range []string{"", "-wal", "-shm", "-journal"} {
		os.Remove(path + s)
	}
}
