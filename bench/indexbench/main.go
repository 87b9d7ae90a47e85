// Command indexbench measures the block index (issue #19) on a database
// of a synthetic mix (internal/index/synth: heavy-tailed flows, IPv4 and
// IPv6, TCP and UDP, spread over 24 hours):
//
//   - the index's size against the stored packet bytes, and the cost of
//     building it per packet;
//   - the candidates it was chosen over, on the same mix: term -> block
//     postings (delta varints) in a SQLite WITHOUT ROWID table, compacted
//     per database, and as written per commit (one row per term and
//     commit, before compaction);
//   - a 5-tuple query, a host+port query and a Community ID pivot
//     (--community-id, planned by the ID's term) for a sparse connection
//     (about 40 packets), and a broad one (tcp port 443): the walk with the plan
//     and without, in this process (open, plan, walk, BPF on every packet
//     read, close), `packetrecorder query --count` (today's full scan) and
//     `tcpdump -r` on the same packets as a pcap, file cached; medians of
//     -runs runs; bytes read (rchar of /proc/self/io) against the file.
//
// Run from the repository:
//
//	go run ./bench/indexbench [-dir DIR] [-packets 4000000] [-flows 300000] [-runs 5] [-keep]
//
// The plans are built here from the connection's terms, as filter.Plan
// plans the same expressions (host A and host B and port P and port Q: the
// and of the four terms).
package main

import (
	"bufio"
	"encoding/binary"
	"flag"
	"fmt"
	"log"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/ncruces/go-sqlite3"
	"github.com/packetrecorderd/packetrecorderd/bench/internal/selfusage"
	"github.com/packetrecorderd/packetrecorderd/internal/filter"
	"github.com/packetrecorderd/packetrecorderd/internal/flow"
	"github.com/packetrecorderd/packetrecorderd/internal/index"
	"github.com/packetrecorderd/packetrecorderd/internal/index/synth"
	"github.com/packetrecorderd/packetrecorderd/internal/pcapio"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

func main() {
	dir := flag.String("dir", "", "where to build the files (default: a temporary directory under /var/tmp)")
	packets := flag.Int("packets", 4_000_000, "packets in the mix")
	flows := flag.Int("flows", 300_000, "flows in the mix")
	runs := flag.Int("runs", 5, "runs of each measurement")
	keep := flag.Bool("keep", false, "keep the files")
	pcapFile := flag.String("pcap", "", "only measure the sketches of this capture's packets (Ethernet; e.g. bench/mkmix's lab mix) with and without Community IDs, and exit")
	flag.Parse()
	if *pcapFile != "" {
		pcapSketches(*pcapFile)
		return
	}
	if *dir == "" {
		d, err := os.MkdirTemp("/var/tmp", "indexbench-")
		if err != nil {
			log.Fatal(err)
		}
		*dir = d
	}
	if !*keep {
		defer os.RemoveAll(*dir)
	}
	bin := filepath.Join(*dir, "packetrecorder")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/packetrecorder").CombinedOutput(); err != nil {
		log.Printf("build packetrecorder (query --count is skipped): %v: %s", err, out)
		bin = ""
	}
	m := synth.Generate(synth.Config{Seed: 19, Flows: *flows, Packets: *packets})
	dbPath := filepath.Join(*dir, "mix.db")
	pcapPath := filepath.Join(*dir, "mix.pcap")
	t0 := time.Now()
	session, stored := writeDB(dbPath, m)
	fmt.Printf("mix: %d packets, %d flows, %.1f MB stored; database written in %v\n", len(m.Packets), len(m.Flows), float64(stored)/1e6, time.Since(t0).Round(time.Millisecond))
	writePcap(pcapPath, m)

	db, err := store.Open(dbPath, store.Options{ReadOnly: true})
	if err != nil {
		log.Fatal(err)
	}
	db.Close()
	sizes(dbPath, stored)
	withoutCIDs(dbPath, stored)
	perPacket := buildCost(dbPath)
	tcpdumpCPU := cpuCmd("tcpdump", "-r", pcapPath, "-w", "/dev/null")
	fmt.Printf("tcpdump -r -w /dev/null: %.0f ns CPU a packet; the index's build is %.2fx that\n",
		float64(tcpdumpCPU.Nanoseconds())/float64(len(m.Packets)), perPacket/(float64(tcpdumpCPU.Nanoseconds())/float64(len(m.Packets))))
	postings(dbPath, *dir, stored)

	f := pick(m)
	proto := "tcp"
	if f.Proto == 17 {
		proto = "udp"
	}
	cid := flow.Key{Src: f.Client, Dst: f.Server, SrcPort: f.CPort, DstPort: f.SPort, Proto: f.Proto, HasPorts: true}.ID(0)
	cidTerm, _ := index.CommunityIDTerm(cid)
	fiveTuple := fmt.Sprintf("host %s and host %s and %s port %d and %s port %d", f.Client, f.Server, proto, f.CPort, proto, f.SPort)
	queries := []struct {
		name, expr string
		plan       index.Expr
		cid        flow.CommunityID // match by it (query --community-id); expr is tcpdump's
	}{
		{"5-tuple", fiveTuple,
			and(addr(f.Client), addr(f.Server), port(f.Proto, f.CPort), port(f.Proto, f.SPort)), flow.CommunityID{}},
		{"host+port", fmt.Sprintf("host %s and port %d", f.Client, f.CPort),
			and(addr(f.Client), or(port(6, f.CPort), port(17, f.CPort), port(132, f.CPort))), flow.CommunityID{}},
		{"cid", fiveTuple, index.TermExpr(cidTerm), cid},
		{"broad", "tcp port 443", and(index.Expr{Op: index.OpTerm, Term: index.Term{Kind: index.KindProto, Proto: 6}}, port(6, 443)), flow.CommunityID{}},
	}
	fi, _ := os.Stat(dbPath)
	fmt.Printf("\nconnection: %s %s:%d <-> %s:%d, %d packets; database file %.1f MB\n", proto, f.Client, f.CPort, f.Server, f.SPort, f.Packets, float64(fi.Size())/1e6)
	fmt.Printf("%-10s %9s %12s %12s %12s %12s %14s %14s\n", "query", "packets", "planned", "unplanned", "query-cli", "tcpdump-r", "read planned", "read unplanned")
	for _, q := range queries {
		var tp, tu, tc, tt []time.Duration
		var np, nu int64
		var rp, ru int64
		var st store.PlanStats
		for i := range *runs {
			// Alternate which walk goes first: the first after tcpdump
			// finds colder caches.
			for k := range 2 {
				if (i+k)%2 == 0 {
					d, n, r, s := walk(dbPath, session, q.expr, q.cid, q.plan)
					tp, np, rp, st = append(tp, d), n, r, s
				} else {
					d, n, r, _ := walk(dbPath, session, q.expr, q.cid, index.All)
					tu, nu, ru = append(tu, d), n, r
				}
			}
			if bin != "" {
				if q.cid.IsZero() {
					tc = append(tc, timeCmd(bin, "query", "-d", dbPath, "-s", strconv.FormatInt(session, 10), "--count", q.expr))
				} else {
					tc = append(tc, timeCmd(bin, "query", "-d", dbPath, "-s", strconv.FormatInt(session, 10), "--count", "--community-id", q.cid.String()))
				}
			}
			tt = append(tt, timeCmd("tcpdump", "-r", pcapPath, "-w", "/dev/null", q.expr))
		}
		if np != nu {
			log.Fatalf("%s: planned walk matched %d packets, the scan %d", q.name, np, nu)
		}
		fmt.Printf("%-10s %9d %12v %12v %12v %12v %8.1f MB %4.2f%% %8.1f MB\n", q.name, np, median(tp), median(tu), median(tc), median(tt),
			float64(rp)/1e6, 100*float64(rp)/float64(fi.Size()), float64(ru)/1e6)
		fmt.Printf("%-10s blocks read %d of %d; planned/tcpdump %.3f\n", "", st.Read, st.Blocks, float64(median(tp))/float64(median(tt)))
	}
}

func addr(a netip.Addr) index.Expr {
	return index.Expr{Op: index.OpTerm, Term: index.Term{Kind: index.KindAddr, Addr: a}}
}

func port(proto uint8, p uint16) index.Expr {
	return index.Expr{Op: index.OpTerm, Term: index.Term{Kind: index.KindPort, Proto: proto, Port: p}}
}

func and(a ...index.Expr) index.Expr { return index.Expr{Op: index.OpAnd, Args: a} }
func or(a ...index.Expr) index.Expr  { return index.Expr{Op: index.OpOr, Args: a} }

// pick is the TCP flow with the number of packets closest to 40 whose
// client port no other flow uses.
func pick(m *synth.Mix) synth.Flow {
	uses := map[uint16]int{}
	for _, f := range m.Flows {
		uses[f.CPort]++
	}
	best := -1
	for i, f := range m.Flows {
		if f.Proto != 6 || !f.Client.Is4() {
			continue
		}
		if best < 0 || abs(f.Packets-40) < abs(m.Flows[best].Packets-40) {
			best = i
		}
	}
	return m.Flows[best]
}

func abs(x int) int { return max(x, -x) }

func writeDB(path string, m *synth.Mix) (int64, int64) {
	db, err := store.Open(path, store.Options{Create: true, NoReserve: true})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	s := &store.Session{Name: "indexbench", Interface: "synth", LinkType: 1, Snaplen: 65535, Source: store.SourceImport}
	if err := db.CreateSession(s); err != nil {
		log.Fatal(err)
	}
	w, err := db.NewWriter(s.ID)
	if err != nil {
		log.Fatal(err)
	}
	// Raw blocks: this bench reads the blobs straight from SQLite.
	if err := w.SetCompression(store.Compression{None: true}); err != nil {
		log.Fatal(err)
	}
	var b store.Block
	b.Reset(1)
	var frame []byte
	var stored int64
	n := 0
	for i, p := range m.Packets {
		frame = m.Frame(frame[:0], p)
		b.Append(p.TS, len(frame), frame)
		stored += int64(len(frame))
		if len(b.Data) >= 256<<10 || i == len(m.Packets)-1 {
			if err := w.Append(&b); err != nil {
				log.Fatal(err)
			}
			b.Reset(1)
			if n++; n%64 == 0 {
				if err := w.Commit(); err != nil {
					log.Fatal(err)
				}
			}
		}
	}
	if err := w.Commit(); err != nil {
		log.Fatal(err)
	}
	w.Close()
	if err := db.Finish(s.ID, store.StatusComplete, time.Now(), 0, 0, 0); err != nil {
		log.Fatal(err)
	}
	return s.ID, stored
}

func writePcap(path string, m *synth.Mix) {
	f, err := os.Create(path)
	if err != nil {
		log.Fatal(err)
	}
	w, err := pcapio.NewPcapWriter(f, 1, 65535, true)
	if err != nil {
		log.Fatal(err)
	}
	var frame []byte
	for _, p := range m.Packets {
		frame = m.Frame(frame[:0], p)
		if err := w.WritePacket(pcapio.Packet{Timestamp: p.TS, OrigLen: len(frame), LinkType: 1, Data: frame}); err != nil {
			log.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
}

// walk opens the database, walks the session with the plan and runs the
// compiled filter over every packet read, as query --count does (or,
// given a Community ID, matches each packet's as --community-id does).
func walk(path string, session int64, expr string, cid flow.CommunityID, plan index.Expr) (time.Duration, int64, int64, store.PlanStats) {
	r0 := selfusage.ReadBytes()
	t0 := time.Now()
	db, err := store.Open(path, store.Options{ReadOnly: true})
	if err != nil {
		log.Fatal(err)
	}
	prog, err := filter.Compile(expr, filter.Options{LinkType: 1, Snaplen: 65535})
	if err != nil {
		log.Fatal(err)
	}
	var st store.PlanStats
	var n int64
	var p flow.Packet
	err = db.Packets(session, store.Range{Plan: plan, Stats: &st}, func(r store.Record) error {
		switch {
		case !cid.IsZero():
			if flow.Extract(r.LinkType, r.Data, &p) && p.Key.ID(0) == cid {
				n++
			}
		case prog.Match(r.Data, r.OrigLen):
			n++
		}
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	db.Close()
	return time.Since(t0), n, selfusage.ReadBytes() - r0, st
}

func timeCmd(name string, args ...string) time.Duration {
	t0 := time.Now()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		log.Fatalf("%s %v: %v: %s", name, args, err, out)
	}
	return time.Since(t0)
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	d = slices.Clone(d)
	slices.Sort(d)
	return d[len(d)/2].Round(100 * time.Microsecond)
}

// sizes prints the index's bytes against the stored packet bytes.
func sizes(path string, stored int64) {
	conn, err := sqlite3.Open("file:" + path + "?mode=ro")
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	q := func(sql string) int64 {
		stmt, _, err := conn.Prepare(sql)
		if err != nil {
			log.Fatal(err)
		}
		defer stmt.Close()
		stmt.Step()
		return stmt.ColumnInt64(0)
	}
	sk := q(`SELECT sum(length(sketch)) FROM block_sketches`)
	rows := q(`SELECT count(*) FROM block_sketches`)
	pages := int64(-1)
	if stmt, _, err := conn.Prepare(`SELECT sum(pgsize) FROM dbstat WHERE name = 'block_sketches'`); err == nil {
		if stmt.Step() {
			pages = stmt.ColumnInt64(0)
		}
		stmt.Close()
	}
	fmt.Printf("index (block sketches): %d blocks, %.2f MB of sketches (%.3f%% of %.1f MB stored)", rows, float64(sk)/1e6, 100*float64(sk)/float64(stored), float64(stored)/1e6)
	if pages >= 0 {
		fmt.Printf(", %.2f MB of pages (%.3f%%)", float64(pages)/1e6, 100*float64(pages)/float64(stored))
	}
	fmt.Println()
}

// withoutCIDs prints what the block sketches would take without the
// packets' Community IDs: each block's terms (Terms.Packet) alone.
func withoutCIDs(path string, stored int64) {
	conn, err := sqlite3.Open("file:" + path + "?mode=ro")
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	stmt, _, err := conn.Prepare(`SELECT link_type, data FROM blocks`)
	if err != nil {
		log.Fatal(err)
	}
	defer stmt.Close()
	var with, without int64
	var b, t index.Builder
	var tm index.Terms
	var buf []byte
	for stmt.Step() {
		lt := uint32(stmt.ColumnInt64(0))
		b.Reset()
		t.Reset()
		store.WalkBlock(stmt.ColumnRawBlob(1), 1, lt, 0, func(r store.Record) error {
			b.AddPacket(lt, r.Data)
			tm.Packet(lt, r.Data)
			for _, x := range tm.List {
				t.Add(x)
			}
			return nil
		})
		buf = b.Sketch(buf[:0])
		with += int64(len(buf))
		buf = t.Sketch(buf[:0])
		without += int64(len(buf))
	}
	fmt.Printf("sketches without Community IDs: %.2f MB (%.3f%% of stored); the IDs add %.2f MB (%.3f%% of stored, +%.0f%%)\n",
		float64(without)/1e6, 100*float64(without)/float64(stored), float64(with-without)/1e6, 100*float64(with-without)/float64(stored), 100*float64(with-without)/float64(without))
}

// pcapSketches prints, for a capture's packets in blocks of 256 KiB, the
// sketches' bytes with and without Community IDs against the packets'
// bytes, and the CPU a packet of AddPacket (terms and ID).
func pcapSketches(path string) {
	f, err := os.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	r, err := pcapio.NewReader(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		log.Fatal(err)
	}
	var blocks [][][]byte
	var cur [][]byte
	var size, stored int64
	n := 0
	for {
		p, err := r.Next()
		if err != nil {
			break
		}
		cur = append(cur, slices.Clone(p.Data))
		size += int64(len(p.Data)) + 16
		stored += int64(len(p.Data))
		n++
		if size >= 256<<10 {
			blocks, cur, size = append(blocks, cur), nil, 0
		}
	}
	if len(cur) > 0 {
		blocks = append(blocks, cur)
	}
	var b, t index.Builder
	var tm index.Terms
	var buf []byte
	var with, without int64
	c0 := selfusage.CPU()
	for _, blk := range blocks {
		b.Reset()
		for _, d := range blk {
			b.AddPacket(1, d)
		}
		buf = b.Sketch(buf[:0])
		with += int64(len(buf))
	}
	cpu := selfusage.CPU() - c0
	for _, blk := range blocks {
		t.Reset()
		for _, d := range blk {
			tm.Packet(1, d)
			for _, x := range tm.List {
				t.Add(x)
			}
		}
		buf = t.Sketch(buf[:0])
		without += int64(len(buf))
	}
	fmt.Printf("%s: %d packets, %.1f MB, %d blocks; sketches %.2f MB (%.3f%% of the packets' bytes), without Community IDs %.2f MB (%.3f%%); AddPacket and Sketch %.0f ns CPU a packet\n",
		path, n, float64(stored)/1e6, len(blocks), float64(with)/1e6, 100*float64(with)/float64(stored), float64(without)/1e6, 100*float64(without)/float64(stored), float64(cpu.Nanoseconds())/float64(n))
}

// buildCost times building every block's sketch from the stored blobs
// (the writer's work per block), and the term extraction alone.
func buildCost(path string) float64 {
	conn, err := sqlite3.Open("file:" + path + "?mode=ro")
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	stmt, _, err := conn.Prepare(`SELECT link_type, data FROM blocks`)
	if err != nil {
		log.Fatal(err)
	}
	defer stmt.Close()
	var blobs [][]byte
	for stmt.Step() && len(blobs) < 2000 {
		blobs = append(blobs, append([]byte(nil), stmt.ColumnRawBlob(1)...))
	}
	var b index.Builder
	var buf []byte
	var n int
	walk := func() {
		n = 0
		for _, blob := range blobs {
			store.WalkBlock(blob, 1, 1, 0, func(r store.Record) error {
				n++
				return nil
			})
		}
	}
	walk() // the first touches the copies' pages
	c0 := selfusage.CPU()
	walk()
	walkCPU := selfusage.CPU() - c0
	c0 = selfusage.CPU()
	for _, blob := range blobs {
		b.Reset()
		store.WalkBlock(blob, 1, 1, 0, func(r store.Record) error {
			b.AddPacket(1, r.Data)
			return nil
		})
		buf = b.Sketch(buf[:0])
	}
	all := selfusage.CPU() - c0 - walkCPU
	per := float64(all.Nanoseconds()) / float64(n)
	fmt.Printf("build: %.0f ns CPU a packet for the sketch (terms, hashing, sizing; the block walk's %.0f ns excluded; %d packets)\n",
		per, float64(walkCPU.Nanoseconds())/float64(n), n)
	return per
}

// cpuCmd runs a command and returns its CPU time, user and system.
func cpuCmd(name string, args ...string) time.Duration {
	cmd := exec.Command(name, args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		log.Fatalf("%s %v: %v: %s", name, args, err, out)
	}
	return cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
}

// postings measures the candidate the sketches were chosen over: a term ->
// block list table (delta varints), compacted (one row per term) and as
// a writer would leave it before compaction (one row per term and commit
// of one block: a 100 ms commit holds about one block at the lab's rates).
func postings(path, dir string, stored int64) {
	conn, err := sqlite3.Open("file:" + path + "?mode=ro")
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	stmt, _, err := conn.Prepare(`SELECT seq, link_type, data FROM blocks ORDER BY seq`)
	if err != nil {
		log.Fatal(err)
	}
	defer stmt.Close()
	lists := map[string][]int32{}
	var key []byte
	var perBlock int64
	var p flow.Packet
	seen := map[string]bool{}
	for stmt.Step() {
		seq := int32(stmt.ColumnInt64(0))
		clear(seen)
		store.WalkBlock(stmt.ColumnRawBlob(2), 1, 1, 0, func(r store.Record) error {
			if !flow.Extract(1, r.Data, &p) {
				return nil
			}
			k := p.Key
			terms := []index.Term{{Kind: index.KindAddr, Addr: k.Src}, {Kind: index.KindAddr, Addr: k.Dst}, {Kind: index.KindProto, Proto: k.Proto},
				{Kind: index.KindPort, Proto: k.Proto, Port: k.SrcPort}, {Kind: index.KindPort, Proto: k.Proto, Port: k.DstPort}}
			for _, t := range terms {
				key = termKey(key[:0], t)
				if seen[string(key)] {
					continue
				}
				seen[string(key)] = true
				lists[string(key)] = append(lists[string(key)], seq)
			}
			return nil
		})
		for k := range seen {
			perBlock += int64(len(k)) + 1 + 1 + 4 // key, seq varint, count, row overhead
		}
	}
	pdb := filepath.Join(dir, "postings.db")
	os.Remove(pdb)
	pc, err := sqlite3.Open(pdb)
	if err != nil {
		log.Fatal(err)
	}
	defer pc.Close()
	if err := pc.Exec(`PRAGMA page_size=4096; CREATE TABLE postings (term BLOB PRIMARY KEY, blocks BLOB NOT NULL) WITHOUT ROWID; BEGIN`); err != nil {
		log.Fatal(err)
	}
	ins, _, err := pc.Prepare(`INSERT INTO postings VALUES (?, ?)`)
	if err != nil {
		log.Fatal(err)
	}
	keys := make([]string, 0, len(lists))
	for k := range lists {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var payload int64
	t0 := time.Now()
	for _, k := range keys {
		var enc []byte
		prev := int32(-1)
		for _, s := range lists[k] {
			enc = binary.AppendUvarint(enc, uint64(s-prev))
			prev = s
		}
		payload += int64(len(k) + len(enc))
		ins.BindBlob(1, []byte(k))
		ins.BindBlob(2, enc)
		if err := ins.Exec(); err != nil {
			log.Fatal(err)
		}
		ins.Reset()
	}
	ins.Close()
	if err := pc.Exec(`COMMIT; VACUUM`); err != nil {
		log.Fatal(err)
	}
	build := time.Since(t0)
	fi, _ := os.Stat(pdb)
	fmt.Printf("candidate postings, compacted: %d terms, %.2f MB payload, %.2f MB file (%.3f%% of stored), written in %v\n",
		len(keys), float64(payload)/1e6, float64(fi.Size())/1e6, 100*float64(fi.Size())/float64(stored), build.Round(time.Millisecond))
	fmt.Printf("candidate postings, per commit before compaction: about %.2f MB (%.3f%% of stored)\n", float64(perBlock)/1e6, 100*float64(perBlock)/float64(stored))
	// Lookup: the rows of a few terms, decoded.
	sel, _, err := pc.Prepare(`SELECT blocks FROM postings WHERE term = ?`)
	if err != nil {
		log.Fatal(err)
	}
	defer sel.Close()
	t0 = time.Now()
	const lookups = 1000
	for i := range lookups {
		sel.BindBlob(1, []byte(keys[(i*7919)%len(keys)]))
		if sel.Step() {
			b := sel.ColumnRawBlob(0)
			for len(b) > 0 {
				_, n := binary.Uvarint(b)
				b = b[n:]
			}
		}
		sel.Reset()
	}
	fmt.Printf("candidate postings, lookup: %.1f us per term\n", float64(time.Since(t0).Microseconds())/lookups)
	w := bufio.NewWriter(os.Stdout)
	w.Flush()
}

func termKey(dst []byte, t index.Term) []byte {
	dst = append(dst, byte(t.Kind))
	switch t.Kind {
	case index.KindAddr:
		dst = append(dst, t.Addr.AsSlice()...)
	case index.KindPort:
		dst = append(dst, t.Proto, byte(t.Port>>8), byte(t.Port))
	case index.KindProto:
		dst = append(dst, t.Proto)
	}
	return dst
}
