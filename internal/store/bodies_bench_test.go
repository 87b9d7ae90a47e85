package store

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// BenchmarkBlockBodies weighs where a block's packet bytes go, for the
// capture's hot path (issue #19): into the blocks row's BLOB, as the
// store keeps them, or appended with one pwrite to a file beside the
// database while the row keeps only where they are (the layout of
// Stenographer's and n2disk's packet files). Both commit every 4 blocks
// in the rollback journal capture uses (BeginBulk); the file is synced
// before each commit, so no committed row points at bytes not on disk.
// One op is one 1 MiB block of raw packets; cpu-ns/pkt is this process's
// CPU (user and system) a packet. Nothing else of the path (sketch,
// compression) runs.
//
//	go test -run '^$' -bench BlockBodies -benchtime 400x ./internal/store/
func BenchmarkBlockBodies(b *testing.B) {
	for _, w := range []struct {
		name  string
		sizes []int // frame sizes, repeated
	}{
		{"udp64", []int{106}},
		{"labmix", []int{66, 60, 1514, 54, 200, 1514, 98, 130, 1514, 60}},
	} {
		for _, side := range []bool{false, true} {
			name := w.name + "/blob"
			if side {
				name = w.name + "/file"
			}
			b.Run(name, func(b *testing.B) {
				benchBodies(b, w.sizes, side)
			})
		}
	}
}

func benchBodies(b *testing.B, sizes []int, side bool) {
	dir := b.TempDir()
	db, err := Open(filepath.Join(dir, "bench.db"), Options{Create: true})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	s := &Session{LinkType: 1, Snaplen: 65535}
	if err := db.CreateSession(s); err != nil {
		b.Fatal(err)
	}
	if end, ok := db.BeginBulk(); ok {
		defer end()
	}
	var f *os.File
	if side {
		if f, err = os.OpenFile(filepath.Join(dir, "bench.db-packets"), os.O_RDWR|os.O_CREATE, 0o600); err != nil {
			b.Fatal(err)
		}
		defer f.Close()
	}
	blk := &Block{}
	blk.Reset(1)
	frame := make([]byte, 1514)
	ts := int64(1_764_000_000e9)
	for i := 0; len(blk.Data) < 1<<20; i++ {
		n := sizes[i%len(sizes)]
		ts += 1500
		copy(blk.AppendHeader(ts, n, n), frame[:n])
	}
	insert, _, err := db.conn.Prepare(`INSERT INTO blocks
		(session_id, seq, first_packet, packet_count, first_ns, last_ns, bytes, link_type, interface_id, data, min_ns, max_ns, encoding, data_len)
		VALUES (?, ?, ?, 1, 0, 0, 0, 1, 0, ?, 0, 0, 0, ?)`)
	if err != nil {
		b.Fatal(err)
	}
	defer insert.Close()
	var off int64
	b.ResetTimer()
	cpu0 := rusageCPU()
	for i := range b.N {
		if i%4 == 0 {
			if err := db.conn.Exec("BEGIN IMMEDIATE"); err != nil {
				b.Fatal(err)
			}
		}
		insert.BindInt64(1, s.ID)
		insert.BindInt64(2, int64(i))
		insert.BindInt64(3, int64(i)*int64(blk.Count)+1)
		if side {
			if _, err := f.WriteAt(blk.Data, off); err != nil {
				b.Fatal(err)
			}
			insert.BindZeroBlob(4, 0)
			insert.BindInt64(5, off) // where the body is
			off += int64(len(blk.Data))
		} else {
			insert.BindBlob(4, blk.Data)
			insert.BindInt64(5, int64(len(blk.Data)))
		}
		if err := insert.Exec(); err != nil {
			b.Fatal(err)
		}
		if i%4 == 3 || i == b.N-1 {
			if side {
				if err := unix.Fdatasync(int(f.Fd())); err != nil {
					b.Fatal(err)
				}
			}
			if err := db.conn.Exec("COMMIT"); err != nil {
				b.Fatal(err)
			}
		}
	}
	cpu := rusageCPU() - cpu0
	b.StopTimer()
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*blk.Count), "cpu-ns/pkt")
	b.ReportMetric(float64(blk.Count), "pkts/block")
}

func rusageCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
