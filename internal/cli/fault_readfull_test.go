package cli_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/netlab"
)

// TestFaultReadsOnFullDisk: on a filesystem with 0 bytes free, a reader
// of a store or of a database needs no byte: query, export, sessions and
// hold list answer exactly what they answered before the disk filled,
// and hold (which must write) takes the store's reserve and is kept. No
// line calls the holds file damaged. They failed with "disk I/O error".
func TestFaultReadsOnFullDisk(t *testing.T) {
	for _, how := range []string{"stopped", "killed", "nocatalog"} {
		t.Run(how, func(t *testing.T) { readsOnFullDisk(t, how) })
	}
}

// readsOnFullDisk: before the disk fills, the daemon stopped, or killed
// with SIGKILL (its catalog's WAL and shared memory left, its segments
// open), or stopped and its catalog removed (readers read the segments
// and the holds file).
func readsOnFullDisk(t *testing.T, how string) {
	mnt := smallDisk(t, 24)
	lab := netlab.New(t, "frf")
	st := filepath.Join(mnt, "store")
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	writeConfig(t, cfg, fmt.Sprintf("store: %s\nsegment:\n  max_bytes: 1MiB\nlisten: 127.0.0.1:0\ninterfaces:\n  - name: %s\n    filter: udp dst port 9999\n", st, lab.HostIf))
	d := startDaemon(t, cfg)
	t0 := time.Now()
	sent := seqFlood(t, lab, 9999, 5_000, time.Second, 0)
	t1 := time.Now()
	time.Sleep(500 * time.Millisecond)
	since, until := t0.Add(-100*time.Millisecond).UTC().Format(time.RFC3339Nano), t1.Add(100*time.Millisecond).UTC().Format(time.RFC3339Nano)
	mustRun(t, "hold", "-d", st, "--since", since, "--until", until, "--reason", "before")
	if how == "killed" {
		d.cmd.Process.Kill()
		<-d.done
	} else {
		d.stop(t, 5*time.Second)
	}
	// A capture killed mid-write: its database is first read on the
	// full disk.
	kdb := filepath.Join(mnt, "k.db")
	if how == "killed" {
		rec := start(t, "capture", "-i", lab.HostIf, "-d", kdb, "-f", "udp dst port 9999")
		rec.waitLine(t, "session ", 10*time.Second)
		go seqFlood(t, lab, 9999, 20_000, time.Second, 0)
		time.Sleep(700 * time.Millisecond)
		rec.cmd.Process.Kill()
		rec.wait(t, 5*time.Second)
	}
	db := filepath.Join(mnt, "p.db")
	pcap := filepath.Join(t.TempDir(), "in.pcap")
	writeTestPcap(t, pcap, 2000, 200)
	mustRun(t, "import", "-d", db, pcap)

	if how == "nocatalog" {
		for _, f := range []string{"catalog.db", "catalog.db-wal", "catalog.db-shm"} {
			os.Remove(filepath.Join(st, f))
		}
	}
	reads := [][]string{
		{"query", "-d", st, "--count"},
		{"query", "-d", st, "-c", "5"},
		{"sessions", "-d", st},
		{"hold", "list", "-d", st},
		{"query", "-d", db, "-s", "1", "--count"},
		{"query", "-d", db, "-s", "1", "-c", "5"},
		{"sessions", "-d", db},
	}
	before := make([]string, len(reads))
	for i, args := range reads {
		before[i] = mustRun(t, args...)
	}
	if n := strings.TrimSpace(before[0]); n != fmt.Sprint(sent) {
		t.Fatalf("the store holds %s datagrams, the sender sent %d", n, sent)
	}

	fillDisk(t, mnt, "fill")
	if free := freeBytes(t, mnt); free > 4096 {
		t.Fatalf("%d bytes free after filling", free)
	}
	for i, args := range reads {
		r := run(t, args...)
		if r.code != 0 || r.stdout != before[i] {
			t.Errorf("%s on a full disk: exit %d, stderr %q\nstdout %q\nbefore %q", strings.Join(args, " "), r.code, r.stderr, r.stdout, before[i])
		}
		if strings.Contains(r.stderr, "damaged") {
			t.Errorf("%s: %s", strings.Join(args, " "), r.stderr)
		}
	}
	checkDatagrams(t, st, 0, int64(sent))
	if how == "killed" {
		r := run(t, "query", "-d", kdb, "-s", "1", "--count")
		var n int64
		fmt.Sscan(r.stdout, &n)
		if r.code != 0 || n == 0 {
			t.Errorf("query of a killed capture's database on a full disk: exit %d, %q %s", r.code, r.stdout, r.stderr)
		}
		if ss := run(t, "sessions", "-d", kdb, "--json"); ss.code != 0 || !strings.Contains(ss.stdout, `"interrupted"`) {
			t.Errorf("sessions of a killed capture's database on a full disk: exit %d, %s %s", ss.code, ss.stdout, ss.stderr)
		}
		kout := filepath.Join(t.TempDir(), "k.pcap")
		if r := run(t, "export", "-d", kdb, "-s", "1", "-o", kout); r.code != 0 {
			t.Errorf("export of a killed capture's database on a full disk: %s", r.stderr)
		} else if _, frames, err := netlab.ReadPcap(kout); err != nil || int64(len(frames)) != n {
			t.Errorf("export of the killed capture: %d frames (%v), query --count said %d", len(frames), err, n)
		}
	}
	out := filepath.Join(t.TempDir(), "db.pcap")
	mustRun(t, "export", "-d", db, "-s", "1", "-o", out)
	if _, frames, err := netlab.ReadPcap(out); err != nil || len(frames) != 2000 {
		t.Errorf("export of the database: %d frames, %v", len(frames), err)
	}
	// hold must write: the store's reserve gives it room.
	r := run(t, "hold", "-d", st, "--since", since, "--until", until, "--reason", "on a full disk")
	if r.code != 0 || strings.Contains(r.stderr, "damaged") {
		t.Fatalf("hold on a full disk: exit %d: %s", r.code, r.stderr)
	}
	if l := mustRun(t, "hold", "list", "-d", st); !strings.Contains(l, "on a full disk") || !strings.Contains(l, "before") {
		t.Errorf("hold list after a hold on a full disk:\n%s", l)
	}
}
