// Command storebench measures a daemon store's two latency targets on a
// store it builds itself:
//
//   - deleting a 1 GiB segment (retention unlinks it) against deleting the
//     same packets with SQL DELETE, which reads every overflow page;
//   - the first packet of a one-second window out of `packetrecorder query
//     -d STORE` from a store of many segments (default 10 GiB).
//
// Run from the repository (it builds the binary):
//
//	go run ./bench/storebench [-dir DIR] [-store-gib 10] [-runs 5]
//
// The store is removed at the end. Figures are medians of the runs.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	"github.com/ncruces/go-sqlite3"

	"github.com/packetrecorderd/packetrecorderd/bench/internal/benchstore"
	"github.com/packetrecorderd/packetrecorderd/internal/archive"
)

func main() {
	dir := flag.String("dir", "", "where to build the store (default: a temporary directory under /var/tmp)")
	gib := flag.Int("store-gib", 10, "size of the store for the window test, GiB")
	runs := flag.Int("runs", 5, "runs of each measurement")
	flag.Parse()
	if *dir == "" {
		d, err := os.MkdirTemp("/var/tmp", "prd-storebench-")
		if err != nil {
			log.Fatal(err)
		}
		*dir = d
	}
	defer os.RemoveAll(*dir)
	bin := filepath.Join(*dir, "packetrecorder")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/packetrecorder").CombinedOutput(); err != nil {
		log.Fatalf("build: %v\n%s", err, out)
	}

	// 1. Deleting a 1 GiB segment.
	var unlink, sqlDelete, reapStep, reapAll []time.Duration
	for r := 0; r < *runs; r++ {
		st := filepath.Join(*dir, fmt.Sprintf("del%d", r))
		a, err := archive.Open(st, archive.Options{Create: true})
		if err != nil {
			log.Fatal(err)
		}
		benchstore.Fill(st, "eth0", 1<<30, 1<<30, 0)
		segs, _ := a.Segments()
		seg := segs[0]
		copyPath := filepath.Join(*dir, "copy.db")
		cp(a.Path(seg), copyPath)
		syncAll()
		t0 := time.Now()
		if err := a.Expire(seg); err != nil {
			log.Fatal(err)
		}
		unlink = append(unlink, time.Since(t0))
		// The reaper frees it afterwards, step by step: its longest step.
		var longest time.Duration
		last := time.Now()
		a.Reap(func() bool {
			longest = max(longest, time.Since(last))
			last = time.Now()
			return false
		})
		longest = max(longest, time.Since(last))
		reapStep = append(reapStep, longest)
		reapAll = append(reapAll, time.Since(t0))
		a.Close()
		// The same packets deleted row by row, as a one-file store would.
		conn, err := sqlite3.Open(copyPath)
		if err != nil {
			log.Fatal(err)
		}
		conn.Exec("PRAGMA journal_mode=WAL")
		syncAll()
		t0 = time.Now()
		if err := conn.Exec("DELETE FROM blocks"); err != nil {
			log.Fatal(err)
		}
		sqlDelete = append(sqlDelete, time.Since(t0))
		conn.Close()
		os.Remove(copyPath)
		os.RemoveAll(st)
	}
	fmt.Printf("delete a 1 GiB segment: %v until it is gone from the store (median of %d); space freed by the reaper in %v, its longest step %v; SQL DELETE of the same rows %v\n",
		median(unlink), *runs, median(reapAll), median(reapStep), median(sqlDelete))

	// 2. A one-second window from a store of many segments.
	st := filepath.Join(*dir, "big")
	a, err := archive.Open(st, archive.Options{Create: true})
	if err != nil {
		log.Fatal(err)
	}
	const segBytes = 256 << 20
	t0 := time.Now()
	span := benchstore.Fill(st, "eth0", int64(*gib)<<30, segBytes, 0)
	segs, _ := a.Segments()
	var total int64
	for _, s := range segs {
		total += s.Bytes
	}
	a.Close()
	fmt.Printf("built a store of %.1f GiB in %d segments (%v), spanning %v of packet time\n", float64(total)/(1<<30), len(segs), time.Since(t0).Round(time.Second), span)
	syncAll()
	var first, whole []time.Duration
	var got int
	for r := 0; r < *runs; r++ {
		// A window in a different place each run, away from the page cache
		// of the last.
		at := time.Unix(0, benchstore.Base+int64(r+1)*int64(span)/int64(*runs+2)).UTC()
		dropCaches()
		cmd := exec.Command(bin, "query", "-d", st, "--interface", "eth0", "-l", "0",
			"--since", at.Format(time.RFC3339Nano), "--until", at.Add(time.Second).Format(time.RFC3339Nano))
		out, _ := cmd.StdoutPipe()
		t0 := time.Now()
		if err := cmd.Start(); err != nil {
			log.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		n := 0
		for sc.Scan() {
			if n == 0 {
				first = append(first, time.Since(t0))
			}
			n++
		}
		cmd.Wait()
		whole = append(whole, time.Since(t0))
		got = n
	}
	fmt.Printf("one-second window (%d packets) from the store: first packet out in %v, whole window in %v (medians of %d, caches dropped)\n",
		got, median(first), median(whole), *runs)
	// For scale: the same with warm caches, and the binary's own start.
	first, whole = nil, nil
	var start []time.Duration
	for r := 0; r < *runs; r++ {
		at := time.Unix(0, benchstore.Base+int64(r+1)*int64(span)/int64(*runs+2)).UTC()
		cmd := exec.Command(bin, "query", "-d", st, "--interface", "eth0", "-l", "0",
			"--since", at.Format(time.RFC3339Nano), "--until", at.Add(time.Second).Format(time.RFC3339Nano))
		out, _ := cmd.StdoutPipe()
		t0 := time.Now()
		cmd.Start()
		sc := bufio.NewScanner(out)
		for n := 0; sc.Scan(); n++ {
			if n == 0 {
				first = append(first, time.Since(t0))
			}
		}
		cmd.Wait()
		whole = append(whole, time.Since(t0))
		dropCaches()
		t0 = time.Now()
		exec.Command(bin, "version").Run()
		start = append(start, time.Since(t0))
	}
	fmt.Printf("warm caches: first packet %v, whole window %v; the binary's cold start alone (version): %v\n", median(first), median(whole), median(start))
}

func cp(src, dst string) {
	if out, err := exec.Command("cp", src, dst).CombinedOutput(); err != nil {
		log.Fatalf("cp: %v %s", err, out)
	}
}

func syncAll() { exec.Command("sync").Run() }

// dropCaches empties the page cache (root), so reads come from the disk.
func dropCaches() {
	syncAll()
	os.WriteFile("/proc/sys/vm/drop_caches", []byte("3\n"), 0o200)
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2].Round(10 * time.Microsecond)
}
