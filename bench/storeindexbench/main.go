// Command storeindexbench measures a needle query across a store (issue
// #19): a store directory of segments written the daemon's way
// (archive.Recording, one recording, roll-over at -segment bytes, raw
// blocks of 256 KiB committed eight at a time) grows by GiB of a
// synthetic mix (internal/index/synth: heavy-tailed IPv4/IPv6 TCP and UDP
// flows, -flows of them per GiB, each GiB a day of its own). At each size
// of -sizes it asks, through the API (api.Server over selection.Store,
// over HTTP on loopback, as a daemon serves GET /api/v1/packets), for a
// sparse connection of the first GiB by its 5-tuple and by host and port,
// as a pcap read to the last byte: the median time of -runs runs, the
// process's CPU time (server and client: on a shared machine it says
// more than the time), the bytes the process read meanwhile (rchar of /proc/self/io: every
// SQLite read, files cached), and the plan (segments the catalog's
// summaries skipped, blocks read) from the same selection walked in the
// process. The recording stays open, as a daemon's does: its open
// segment is planned by its blocks' sketches.
//
// Run from the repository:
//
//	go run ./bench/storeindexbench [-dir DIR] [-sizes 1,2,5,10] [-segment 256] [-flows 30000] [-runs 5] [-keep]
//
// It checks the free space first and builds the largest sizes that fit
// (leaving 5 GiB), saying so.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ncruces/go-sqlite3"

	"github.com/packetrecorderd/packetrecorderd/bench/internal/selfusage"
	"github.com/packetrecorderd/packetrecorderd/internal/api"
	"github.com/packetrecorderd/packetrecorderd/internal/archive"
	"github.com/packetrecorderd/packetrecorderd/internal/flow"
	"github.com/packetrecorderd/packetrecorderd/internal/index/synth"
	"github.com/packetrecorderd/packetrecorderd/internal/pcapio"
	"github.com/packetrecorderd/packetrecorderd/internal/selection"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

const gib = 1 << 30

func main() {
	dir := flag.String("dir", "", "where to build the store (default: a temporary directory under /var/tmp)")
	sizesFlag := flag.String("sizes", "1,2,5,10", "store sizes to measure at, GiB")
	segMiB := flag.Int64("segment", 256, "segment size, MiB (the daemon's segment.max_bytes)")
	flows := flag.Int("flows", 30000, "flows per GiB")
	runs := flag.Int("runs", 5, "runs of each query")
	keep := flag.Bool("keep", false, "keep the store")
	profile := flag.String("cpuprofile", "", "after the last size, profile 50 runs of the 5-tuple query into this file")
	flag.Parse()
	var sizes []int64
	for _, s := range strings.Split(*sizesFlag, ",") {
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil || n < 1 {
			log.Fatalf("-sizes: %q", s)
		}
		sizes = append(sizes, n)
	}
	if *dir == "" {
		d, err := os.MkdirTemp("/var/tmp", "storeindexbench")
		if err != nil {
			log.Fatal(err)
		}
		*dir = d
	}
	if !*keep {
		defer os.RemoveAll(*dir)
	}
	var fs syscall.Statfs_t
	if err := syscall.Statfs(*dir, &fs); err != nil {
		log.Fatal(err)
	}
	free := int64(fs.Bavail) * fs.Bsize
	fmt.Printf("free space: %.1f GiB\n", float64(free)/gib)
	if fit := (free - 5*gib) / gib; fit < sizes[len(sizes)-1] {
		fmt.Printf("only %d GiB fit (5 GiB left free): sizes above it are left out\n", fit)
		sizes = slices.DeleteFunc(sizes, func(n int64) bool { return n > fit })
		if len(sizes) == 0 {
			log.Fatal("no size fits")
		}
	}
	storeDir := filepath.Join(*dir, "store")
	a, err := archive.Open(storeDir, archive.Options{Create: true})
	if err != nil {
		log.Fatal(err)
	}
	a.Close()
	rec, err := archive.NewRecording(storeDir, archive.RecordingConfig{Interface: "synth0", LinkType: 1, Snaplen: 65535,
		MaxBytes: *segMiB << 20, Compression: store.Compression{None: true}})
	if err != nil {
		log.Fatal(err)
	}
	defer rec.Close()

	// The API, as a daemon serves it.
	b := make([]byte, 24)
	rand.Read(b)
	secret := hex.EncodeToString(b)
	access := api.Access{Tokens: []api.Token{{Name: "bench", SHA256: api.TokenSum(secret), Scopes: []string{api.ScopeRead}}}}
	srv := httptest.NewServer(api.New(api.Options{Selector: selection.Store{Dir: storeDir}, Version: "bench"}, access))
	defer srv.Close()

	var needle synth.Flow
	var want int
	fmt.Printf("segments of %d MiB, raw blocks; %d flows a GiB; medians of %d runs, files cached\n\n", *segMiB, *flows, *runs)
	fmt.Println("| store | segments | packets | query | answer | time to the last packet | CPU | bytes read | segments skipped by the catalog | blocks read (of the segments opened) | bytes of blocks read, of the store's |")
	fmt.Println("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	var written, packets int64
	var summaries []string
	chunk := 0
	for _, size := range sizes {
		for written < size*gib {
			m := synth.Generate(synth.Config{Seed: uint64(chunk + 1), Flows: *flows, Packets: *flows * 78,
				Start: 1767225600e9 + int64(chunk)*24*3600e9, Span: 24 * 3600e9})
			if chunk == 0 {
				needle, want = pickNeedle(m)
			}
			n := writeMix(rec, m)
			packets += n
			written = archive.DiskUsage(storeDir).Total
			chunk++
		}
		segs := 0
		if ar, err := archive.Open(storeDir, archive.Options{ReadOnly: true}); err == nil {
			all, _ := ar.Segments()
			segs = len(all)
			ar.Close()
		}
		summaries = append(summaries, fmt.Sprintf("%.2f GiB: %s", float64(written)/gib, summaryBytes(storeDir, written)))
		proto := map[uint8]string{6: "tcp", 17: "udp"}[needle.Proto]
		for _, q := range []struct{ name, expr string }{
			{"5-tuple", fmt.Sprintf("%s and host %s and host %s and port %d and port %d", proto, needle.Client, needle.Server, needle.CPort, needle.SPort)},
			{"host+port", fmt.Sprintf("host %s and port %d", needle.Client, needle.CPort)},
		} {
			var times, cpus []time.Duration
			var reads []int64
			var got int
			for i := 0; i < *runs; i++ {
				c0 := selfusage.CPU()
				d, n, r := query(srv.URL, secret, q.expr)
				times, reads, got = append(times, d), append(reads, r), n
				cpus = append(cpus, selfusage.CPU()-c0)
			}
			st := plan(storeDir, q.expr)
			answer := fmt.Sprintf("%d packets", got)
			if q.name == "5-tuple" && got != want {
				answer += fmt.Sprintf(" (the mix has %d!)", want)
			}
			fmt.Printf("| %.2f GiB | %d | %d | %s | %s | %.1f ms | %.1f ms | %.2f MB | %d of %d closed | %d of %d | %.2f MB, %.4f%% |\n",
				float64(written)/gib, segs, packets, q.name, answer, ms(median(times)), ms(median(cpus)), float64(median(reads))/1e6,
				st.SegmentsSkipped, st.Segments, st.Read, st.Blocks, float64(st.ReadBytes)/1e6, 100*float64(st.ReadBytes)/float64(written))
		}
	}
	if *profile != "" {
		f, err := os.Create(*profile)
		if err != nil {
			log.Fatal(err)
		}
		pprof.StartCPUProfile(f)
		proto := map[uint8]string{6: "tcp", 17: "udp"}[needle.Proto]
		for i := 0; i < 50; i++ {
			query(srv.URL, secret, fmt.Sprintf("%s and host %s and host %s and port %d and port %d", proto, needle.Client, needle.Server, needle.CPort, needle.SPort))
		}
		pprof.StopCPUProfile()
		f.Close()
	}
	fmt.Printf("\ncatalog summaries: %s\n", strings.Join(summaries, "; "))
	fmt.Printf("\nneedle: %s %s:%d - %s:%d, %d packets\n", map[uint8]string{6: "tcp", 17: "udp"}[needle.Proto], needle.Client, needle.CPort, needle.Server, needle.SPort, want)
}

// pickNeedle picks a TCP flow of 10 to 60 packets and returns it with
// its packet count (both ways, as flow.Extract reads the frames).
func pickNeedle(m *synth.Mix) (synth.Flow, int) {
	for i := len(m.Flows) / 2; i < len(m.Flows); i++ {
		f := m.Flows[i]
		if f.Proto != 6 || f.Packets < 10 || f.Packets > 60 {
			continue
		}
		want, _ := flow.Key{Src: f.Client, Dst: f.Server, SrcPort: f.CPort, DstPort: f.SPort, Proto: f.Proto, HasPorts: true}.Canonical()
		n := 0
		var frame []byte
		for _, p := range m.Packets {
			frame = m.Frame(frame[:0], p)
			var pk flow.Packet
			if flow.Extract(1, frame, &pk) {
				if k, _ := pk.Key.Canonical(); k == want {
					n++
				}
			}
		}
		return f, n
	}
	log.Fatal("no needle flow in the mix")
	return synth.Flow{}, 0
}

// writeMix records the mix's packets in blocks of about 256 KiB, eight
// blocks a commit (the recorder's 100 ms at 20 MB/s), and returns how many.
func writeMix(rec *archive.Recording, m *synth.Mix) int64 {
	var b store.Block
	var frame []byte
	b.Reset(1)
	blocks := 0
	flush := func() {
		if b.Count > 0 {
			if err := rec.Append(&b); err != nil {
				log.Fatal(err)
			}
			b.Reset(1)
			blocks++
		}
		if blocks == 8 {
			if err := rec.Commit(); err != nil {
				log.Fatal(err)
			}
			blocks = 0
		}
	}
	for _, p := range m.Packets {
		frame = m.Frame(frame[:0], p)
		b.Append(p.TS, len(frame), frame)
		if len(b.Data) >= 256<<10 {
			flush()
		}
	}
	blocks = 7
	flush()
	if err := rec.Commit(); err != nil {
		log.Fatal(err)
	}
	return int64(len(m.Packets))
}

// query asks the API for the filter's packets as a pcap, reads them to
// the last byte, and returns the time, the packets and the bytes this
// process read meanwhile.
func query(base, token, expr string) (time.Duration, int, int64) {
	r0 := selfusage.ReadBytes()
	t0 := time.Now()
	req, err := http.NewRequest("GET", base+"/api/v1/packets?format=pcap&filter="+url.QueryEscape(expr), nil)
	if err != nil {
		log.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		body, _ := io.ReadAll(resp.Body)
		log.Fatalf("%s: %s", resp.Status, body)
	}
	rd, err := pcapio.NewReader(resp.Body)
	if err != nil {
		log.Fatal(err)
	}
	n := 0
	for {
		_, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		n++
	}
	return time.Since(t0), n, selfusage.ReadBytes() - r0
}

// plan walks the same selection in the process for its plan statistics.
func plan(dir, expr string) store.PlanStats {
	sl, err := selection.Open(context.Background(), selection.Spec{Database: dir, Filter: expr})
	if err != nil {
		log.Fatal(err)
	}
	defer sl.Close()
	if err := sl.Walk(context.Background(), 0, func(store.Record) error { return nil }); err != nil {
		log.Fatal(err)
	}
	return sl.PlanStats()
}

// summaryBytes is what the catalog's segment summaries take.
func summaryBytes(dir string, store int64) string {
	conn, err := sqlite3.Open("file:" + filepath.Join(dir, archive.CatalogFile) + "?mode=ro")
	if err != nil {
		return err.Error()
	}
	defer conn.Close()
	stmt, _, err := conn.Prepare(`SELECT count(*), coalesce(sum(length(sketch)), 0), coalesce(sum(pairs), 0) FROM segment_summaries`)
	if err != nil {
		return err.Error()
	}
	defer stmt.Close()
	if !stmt.Step() {
		return "none"
	}
	n, b := stmt.ColumnInt64(0), stmt.ColumnInt64(1)
	return fmt.Sprintf("%d summaries (%d with pairs), %.2f MB, %.3f%% of the store", n, stmt.ColumnInt64(2), float64(b)/1e6, 100*float64(b)/float64(store))
}

func median[T int64 | time.Duration](xs []T) T {
	s := slices.Clone(xs)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }
