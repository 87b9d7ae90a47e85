// Command compressbench decides the block compression (issue #21): the
// zstd level and the block size, by what each saves and what it costs.
//
//   - On the lab's everyday traffic: bench/mkmix's mix (proportions, sizes,
//     hosts and ports), with payloads as they are on the wire: the full-size
//     segments of ports 443 and 22 encrypted (random bytes), those of port
//     80 a bulk transfer of compressible data (the Go tree's source files,
//     as a software download or backup of text is), DNS names in the small
//     UDP datagrams. (mkmix itself writes zero-filled payloads, which any
//     compressor crushes: -zero measures that too.)
//   - For each level (none, zstd 1-4) and block size: the stored bytes
//     against the raw blocks, and the writer's CPU a packet (build the
//     block, sketch it, compress it, insert it, commit every 4 blocks; this
//     process's rusage), against `tcpdump -r mix.pcap -w out.pcap` on the
//     same packets in the same run.
//   - A full export (every packet walked and written as pcap to a file) of
//     a -export-packets database, compressed and raw: medians of -runs.
//   - The shared corpus (testkit.CorpusRoot): every capture's packets as
//     blocks, the bytes each level stores.
//
// Run from the repository:
//
//	go run ./bench/compressbench [-dir DIR] [-packets 500000] [-export-packets 2000000] [-runs 3] [-corpus DIR]
//
// With -mix-only FILE it only writes -packets of the mix to FILE.
//
// With -bound it only works out the least CPU a packet that saving 20% of
// the mix's block bytes can cost with zstd (as the store configures its
// level 1, and with entropy coding) or S2, however the bytes to compress
// are chosen: each encoder's CPU per byte saved on the part of the mix it
// does best on (the text payloads alone, the packets' headers alone, or
// whole 1 MiB blocks), times the bytes 20% is. Compare it with tcpdump's
// CPU a packet on the same mix at top speed (`bench/capture -p real`):
// issue #21 asks that capture with compression cost at most 1.3x that.
package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/ncruces/go-sqlite3"
	"github.com/packetrecorderd/packetrecorderd/bench/internal/labframe"
	"github.com/packetrecorderd/packetrecorderd/internal/pcapio"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

func main() {
	dir := flag.String("dir", "", "where to build the files (default: a temporary directory under /var/tmp)")
	packets := flag.Int("packets", 500_000, "packets of the mix for the level and block size sweep")
	exportPackets := flag.Int("export-packets", 2_000_000, "packets of the export comparison")
	runs := flag.Int("runs", 3, "runs of each timing")
	corpus := flag.String("corpus", testkit.CorpusRoot(), "the shared corpus (its pcap directory is read)")
	zero := flag.Bool("zero", false, "also measure mkmix's zero-filled payloads")
	mixOnly := flag.String("mix-only", "", "only write -packets of the mix with its payloads to this pcap (for bench/capture -p real)")
	bound := flag.Bool("bound", false, "only work out the least CPU a packet saving 20% of the mix can cost")
	flag.Parse()
	if *mixOnly != "" {
		writeMix(*mixOnly, *packets, false)
		return
	}
	if *dir == "" {
		d, err := os.MkdirTemp("/var/tmp", "compressbench-")
		if err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	fmt.Printf("GOMAXPROCS %d\n", runtime.GOMAXPROCS(0))
	mix := filepath.Join(*dir, "mix.pcap")
	writeMix(mix, *packets, false)
	pkts := readPcap(mix)
	if *bound {
		leastCost(pkts, *runs)
		return
	}
	tcpdump := tcpdumpCPU(mix, filepath.Join(*dir, "tcpdump.pcap"), *runs) / time.Duration(len(pkts))
	fmt.Printf("lab mix: %d packets, %.1f MB of records; tcpdump -r -w: %d ns CPU a packet (median of %d)\n",
		len(pkts), float64(rawBytes(pkts))/1e6, tcpdump.Nanoseconds(), *runs)
	// added: over raw blocks of the same size; x tcpdump: added / tcpdump's.
	fmt.Printf("%-8s %8s %10s %8s %12s %12s %10s\n", "level", "block", "stored MB", "saved", "CPU ns/pkt", "added ns/pkt", "added/tcpdump")
	base := map[int]time.Duration{} // raw blocks' CPU a packet, by block size
	for _, c := range []struct {
		comp  store.Compression
		block int
	}{
		{store.Compression{None: true}, 256 << 10},
		{store.Compression{Level: 1}, 256 << 10},
		{store.Compression{Level: 2}, 256 << 10},
		{store.Compression{Level: 3}, 256 << 10},
		{store.Compression{Level: 4}, 256 << 10},
		{store.Compression{None: true}, 64 << 10},
		{store.Compression{Level: 1}, 64 << 10},
		{store.Compression{None: true}, 1 << 20},
		{store.Compression{Level: 1}, 1 << 20},
	} {
		var cpus []time.Duration
		var stored, raw int64
		for range *runs {
			path := filepath.Join(*dir, "sweep.db")
			cpu, s, r := writeDB(path, pkts, c.comp, c.block)
			removeDB(path)
			cpus = append(cpus, cpu)
			stored, raw = s, r
		}
		per := median(cpus) / time.Duration(len(pkts))
		if c.comp.None {
			base[c.block] = per
		}
		name := "none"
		if !c.comp.None {
			name = fmt.Sprintf("zstd-%d", c.comp.Level)
		}
		fmt.Printf("%-8s %7dK %10.1f %7.1f%% %12d %12d %10.2f\n", name, c.block>>10, float64(stored)/1e6,
			100*(1-float64(stored)/float64(raw)), per.Nanoseconds(), (per - base[c.block]).Nanoseconds(), float64(per-base[c.block])/float64(tcpdump))
	}
	if *zero {
		zmix := filepath.Join(*dir, "zero.pcap")
		writeMix(zmix, *packets, true)
		zp := readPcap(zmix)
		_, s, r := writeDB(filepath.Join(*dir, "zero.db"), zp, store.Compression{}, 256<<10)
		removeDB(filepath.Join(*dir, "zero.db"))
		fmt.Printf("mkmix's zero-filled payloads, zstd-1 256K: %.1f%% saved\n", 100*(1-float64(s)/float64(r)))
	}
	exportBench(*dir, *exportPackets, *runs)
	corpusBench(filepath.Join(*corpus, "pcap"))
}

// textSource is the bulk transfer's content: the Go tree's source files,
// concatenated.
func textSource() []byte {
	var b []byte
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		log.Fatalf("go env GOROOT: %v", err)
	}
	root := filepath.Join(strings.TrimSpace(string(goroot)), "src")
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || len(b) > 16<<20 {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") {
			data, err := os.ReadFile(path)
			if err == nil {
				b = append(b, data...)
			}
		}
		return nil
	})
	if len(b) < 1<<20 {
		log.Fatalf("the Go tree under %s has too little source for the bulk transfer", root)
	}
	return b
}

// writeMix writes the lab's mix as mkmix does, with payloads as described
// in the package comment (zero-filled with zero).
func writeMix(path string, n int, zero bool) {
	f, err := os.Create(path)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	w, err := pcapio.NewPcapWriter(bw, 1, 65535, true)
	if err != nil {
		log.Fatal(err)
	}
	text := textSource()
	textOff := 0
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 1514)
	names := []string{"www", "mail", "api", "cdn", "login", "updates", "ntp", "time", "db", "files"}
	domains := []string{"example.com", "lab.internal", "corp.example.net", "cloud.example.org"}
	ts := int64(1_764_000_000e9)
	for range n {
		ts += 2500
		r := rng.IntN(100)
		var frame []byte
		switch {
		case r < 40:
			frame = labframe.Packet(buf, rng, 6, 54+rng.IntN(13), 443)
		case r < 70:
			port := 53
			if rng.IntN(3) == 0 {
				port = 5000 + rng.IntN(100)
			}
			frame = labframe.Packet(buf, rng, 17, 60+rng.IntN(140), port)
			if !zero {
				p := frame[42:]
				if port == 53 {
					q := names[rng.IntN(len(names))] + "." + domains[rng.IntN(len(domains))]
					binary.BigEndian.PutUint16(p, uint16(rng.Uint32()))
					copy(p[2:], []byte{1, 0, 0, 1, 0, 0, 0, 0, 0, 0})
					copy(p[12:], q)
				} else {
					fillRandom(rng, p)
				}
			}
		case r < 97:
			port := []int{443, 80, 22}[rng.IntN(3)]
			frame = labframe.Packet(buf, rng, 6, 1514, port)
			if !zero {
				p := frame[54:]
				if port == 80 {
					if textOff+len(p) > len(text) {
						textOff = 0
					}
					copy(p, text[textOff:])
					textOff += len(p)
				} else {
					fillRandom(rng, p)
				}
			}
		default:
			frame = labframe.Packet(buf, rng, 1, 98, 0)
		}
		if err := w.WritePacket(pcapio.Packet{Timestamp: ts, OrigLen: len(frame), LinkType: 1, Data: frame}); err != nil {
			log.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		log.Fatal(err)
	}
	if err := bw.Flush(); err != nil {
		log.Fatal(err)
	}
}

func fillRandom(rng *rand.Rand, p []byte) {
	for i := 0; i+8 <= len(p); i += 8 {
		binary.LittleEndian.PutUint64(p[i:], rng.Uint64())
	}
	for i := len(p) &^ 7; i < len(p); i++ {
		p[i] = byte(rng.Uint32())
	}
}

func readPcap(path string) []pcapio.Packet {
	f, err := os.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	r, err := pcapio.NewReader(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		log.Fatal(err)
	}
	var out []pcapio.Packet
	for {
		p, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			log.Fatal(err)
		}
		p.Data = slices.Clone(p.Data)
		out = append(out, p)
	}
}

func rawBytes(pkts []pcapio.Packet) int64 {
	var n int64
	for _, p := range pkts {
		n += int64(store.RecordHeaderLen + len(p.Data))
	}
	return n
}

// writeDB writes the packets as one session, blocks closed at blockBytes
// as the recorder closes them, a commit every 4 blocks, and returns the
// CPU it took and the stored and raw bytes of the blocks (sqlite's
// length(data) and bytes + 16 x packet_count).
func writeDB(path string, pkts []pcapio.Packet, c store.Compression, blockBytes int) (cpu time.Duration, stored, raw int64) {
	db, err := store.Open(path, store.Options{Create: true, NoReserve: true})
	if err != nil {
		log.Fatal(err)
	}
	s := &store.Session{Name: "compressbench", Interface: "mix", LinkType: 1, Snaplen: 65535, Source: store.SourceImport}
	if err := db.CreateSession(s); err != nil {
		log.Fatal(err)
	}
	w, err := db.NewWriter(s.ID)
	if err != nil {
		log.Fatal(err)
	}
	if err := w.SetCompression(c); err != nil {
		log.Fatal(err)
	}
	runtime.GC()
	t0 := cpuSelf()
	b := &store.Block{Data: make([]byte, 0, blockBytes+64<<10)}
	b.Reset(1)
	blocks := 0
	for i, p := range pkts {
		copy(b.AppendHeader(p.Timestamp, len(p.Data), p.OrigLen), p.Data)
		if len(b.Data) >= blockBytes || i == len(pkts)-1 {
			if err := w.Append(b); err != nil {
				log.Fatal(err)
			}
			b.Reset(1)
			if blocks++; blocks%4 == 0 {
				if err := w.Commit(); err != nil {
					log.Fatal(err)
				}
			}
		}
	}
	if err := w.Commit(); err != nil {
		log.Fatal(err)
	}
	cpu = cpuSelf() - t0
	w.Close()
	db.Close()
	conn, err := sqlite3.Open("file:" + path + "?mode=ro")
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	stmt, _, err := conn.Prepare(`SELECT sum(length(data)), sum(bytes + 16 * packet_count) FROM blocks`)
	if err != nil {
		log.Fatal(err)
	}
	defer stmt.Close()
	if stmt.Step() {
		stored, raw = stmt.ColumnInt64(0), stmt.ColumnInt64(1)
	}
	return cpu, stored, raw
}

func removeDB(path string) {
	for _, suffix := range []string{"", "-wal", "-shm", "-journal", "-reserve"} {
		os.Remove(path + suffix)
	}
}

// exportBench times a full export of a compressed and of a raw database
// of n packets of the mix: every packet walked and written as pcap.
func exportBench(dir string, n, runs int) {
	mix := filepath.Join(dir, "export.pcap")
	writeMix(mix, n, false)
	pkts := readPcap(mix)
	os.Remove(mix)
	var times [2][]time.Duration
	paths := [2]string{filepath.Join(dir, "raw.db"), filepath.Join(dir, "zstd.db")}
	comps := [2]store.Compression{{None: true}, {}}
	var sizes [2]int64
	for i := range paths {
		_, sizes[i], _ = writeDB(paths[i], pkts, comps[i], 256<<10)
	}
	pkts = nil
	runtime.GC()
	out := filepath.Join(dir, "export-out.pcap")
	for range runs {
		for i := range paths {
			times[i] = append(times[i], exportOnce(paths[i], out))
		}
	}
	os.Remove(out)
	raw, z := median(times[0]), median(times[1])
	fmt.Printf("export of %d packets: raw %v (%.0f MB of blocks), zstd-1 %v (%.0f MB): compressed at %.2fx the raw speed (medians of %d)\n",
		n, raw.Round(time.Millisecond), float64(sizes[0])/1e6, z.Round(time.Millisecond), float64(sizes[1])/1e6, float64(raw)/float64(z), runs)
	for _, p := range paths {
		removeDB(p)
	}
}

func exportOnce(path, out string) time.Duration {
	t0 := time.Now()
	db, err := store.Open(path, store.Options{ReadOnly: true})
	if err != nil {
		log.Fatal(err)
	}
	f, err := os.Create(out)
	if err != nil {
		log.Fatal(err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	w, err := pcapio.NewPcapWriter(bw, 1, 65535, true)
	if err != nil {
		log.Fatal(err)
	}
	err = db.Packets(1, store.Range{}, func(r store.Record) error {
		return w.WritePacket(pcapio.Packet{Timestamp: r.Timestamp, OrigLen: r.OrigLen, LinkType: r.LinkType, Data: r.Data})
	})
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = f.Close()
	}
	if err != nil {
		log.Fatal(err)
	}
	db.Close()
	return time.Since(t0)
}

// corpusBench stores every capture of the corpus and reports what each
// level saves on all of them together.
func corpusBench(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		fmt.Printf("corpus: %v (skipped)\n", err)
		return
	}
	var all [][]pcapio.Packet
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".pcap") && !strings.HasSuffix(e.Name(), ".pcapng") {
			continue
		}
		pkts := readSome(filepath.Join(dir, e.Name()))
		if len(pkts) > 0 {
			all = append(all, pkts)
		}
	}
	tmp, err := os.MkdirTemp("", "compressbench-corpus-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	fmt.Printf("corpus: %d captures\n", len(all))
	for _, c := range []store.Compression{{Level: 1}, {Level: 2}, {Level: 3}, {Level: 4}} {
		var stored, raw int64
		var cpu time.Duration
		rawBlocks, blocks := 0, 0
		for i, pkts := range all {
			path := filepath.Join(tmp, fmt.Sprint(i, ".db"))
			cc, s, r := writeDB(path, pkts, c, 256<<10)
			removeDB(path)
			stored += s
			raw += r
			cpu += cc
			blocks++
			if s == r {
				rawBlocks++
			}
		}
		fmt.Printf("corpus zstd-%d: %.2f MB stored of %.2f MB (%.1f%% saved), %d of %d captures left raw\n",
			c.Level, float64(stored)/1e6, float64(raw)/1e6, 100*(1-float64(stored)/float64(raw)), rawBlocks, blocks)
	}
}

// readSome reads a capture's packets, as many as parse (a damaged file's
// first ones), with the first link type only.
func readSome(path string) []pcapio.Packet {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	r, err := pcapio.NewReader(bufio.NewReader(f))
	if err != nil {
		return nil
	}
	var out []pcapio.Packet
	for {
		p, err := r.Next()
		if err != nil {
			return out
		}
		if len(out) > 0 && p.LinkType != out[0].LinkType {
			continue
		}
		p.Data = slices.Clone(p.Data)
		out = append(out, p)
	}
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// cpuSelf is this process's CPU time, user and system.
func cpuSelf() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// tcpdumpCPU is the median CPU of tcpdump -r in -w out, user and system.
func tcpdumpCPU(in, out string, runs int) time.Duration {
	var cpus []time.Duration
	for range runs {
		cmd := exec.Command("tcpdump", "-r", in, "-w", out)
		if b, err := cmd.CombinedOutput(); err != nil {
			log.Fatalf("tcpdump: %v: %s", err, b)
		}
		cpus = append(cpus, cmd.ProcessState.UserTime()+cmd.ProcessState.SystemTime())
	}
	os.Remove(out)
	return median(cpus)
}
