package cli_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/netlab"
	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// TestFaultKillAtRandom: a daemon writing 1 MiB segments (a roll-over
// every ~0.6 s at 10,000 datagrams/s) is killed with SIGKILL at 8
// pseudo-random moments, half of them a few milliseconds after a
// roll-over (a new segment file appeared), and restarted each time.
// After each restart: every segment opens and passes sqlite3's
// integrity_check, no hot journal is left, the catalog lists exactly the
// segment files with each file's own packet count, the killed recordings
// are interrupted and none is left recording, and query --count is at
// least what it said just before the kill. At the end the export holds
// each datagram number at most once, in order. The seed is logged;
// PRD_KILL_SEED=N replays a run.
func TestFaultKillAtRandom(t *testing.T) {
	testkit.RequireTool(t, "sqlite3")
	seed := uint64(time.Now().UnixNano())
	if s, err := strconv.ParseUint(os.Getenv("PRD_KILL_SEED"), 10, 64); err == nil {
		seed = s
	}
	t.Logf("seed %d (PRD_KILL_SEED=%d replays it)", seed, seed)
	rnd := rand.New(rand.NewPCG(seed, 18))
	lab := netlab.New(t, "fkr")
	dir := t.TempDir()
	st := filepath.Join(dir, "store")
	cfg := filepath.Join(dir, "c.yaml")
	writeConfig(t, cfg, fmt.Sprintf("store: %s\nsegment:\n  max_bytes: 1MiB\nlisten: 127.0.0.1:0\ninterfaces:\n  - name: %s\n    filter: udp dst port 9999\n", st, lab.HostIf))
	segDir := filepath.Join(st, "segments", lab.HostIf)
	var next uint64
	var lastCount int64
	const kills = 8
	for round := 0; round <= kills; round++ {
		d := startDaemon(t, cfg)
		if round > 0 {
			if n := storeCount(t, st); n < lastCount {
				t.Errorf("round %d: %d packets after the restart, %d committed before the kill", round, n, lastCount)
			}
			checkKilledStore(t, st, segDir, round)
		}
		if round == kills {
			d.stop(t, 10*time.Second)
			break
		}
		done := make(chan uint64)
		first := next
		go func() { done <- seqFlood(t, lab, 9999, 10_000, 2500*time.Millisecond, first) }()
		afterRoll := round%2 == 1
		if afterRoll {
			// Wait for a roll-over: a new segment file, then a few ms.
			time.Sleep(300 * time.Millisecond)
			before := countSegments(segDir)
			for end := time.Now().Add(2 * time.Second); countSegments(segDir) == before && time.Now().Before(end); {
				time.Sleep(time.Millisecond)
			}
			time.Sleep(time.Duration(rnd.IntN(20)) * time.Millisecond)
		} else {
			time.Sleep(time.Duration(200+rnd.IntN(2000)) * time.Millisecond)
		}
		lastCount = storeCount(t, st)
		d.cmd.Process.Kill()
		<-d.done
		t.Logf("round %d: killed %s with %d packets committed", round, map[bool]string{true: "just after a roll-over", false: "at random"}[afterRoll], lastCount)
		next = <-done
	}
	// Reads are exact: each datagram at most once, in order (a kill loses
	// what was not committed, never reorders or repeats).
	out := filepath.Join(t.TempDir(), "all.pcap")
	mustRun(t, "export", "-d", st, "-o", out)
	_, frames, err := netlab.ReadPcap(out)
	if err != nil {
		t.Fatal(err)
	}
	const off = 14 + 20 + 8
	prev := int64(-1)
	for i, fr := range frames {
		n := int64(beUint64(fr.Data[off:]))
		if n <= prev || n >= int64(next) {
			t.Fatalf("frame %d holds datagram %d after %d (sent 0 to %d)", i, n, prev, next-1)
		}
		prev = n
	}
	if int64(len(frames)) != storeCount(t, st) {
		t.Errorf("exported %d, query --count says %d", len(frames), storeCount(t, st))
	}
	t.Logf("%d of %d datagrams stored across %d kills", len(frames), next, kills)
	recs := storeRecordings(t, st)
	interrupted := 0
	for _, r := range recs {
		switch r.Status {
		case "interrupted":
			interrupted++
		case "complete":
		default:
			t.Errorf("a recording is %s after a clean stop: %+v", r.Status, recs)
		}
	}
	if interrupted != kills {
		t.Errorf("%d recordings interrupted, %d kills: %+v", interrupted, kills, recs)
	}
}

func beUint64(b []byte) uint64 {
	return uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 | uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7])
}

func countSegments(dir string) int {
	segs, _ := filepath.Glob(filepath.Join(dir, "*.db"))
	return len(segs)
}

// sqliteShell runs the sqlite3 shell read-only on db and returns its output.
func sqliteShell(t *testing.T, db, sql string) string {
	t.Helper()
	out, err := exec.Command("sqlite3", "-readonly", db, sql).CombinedOutput()
	if err != nil {
		t.Errorf("sqlite3 %s %q: %v %s", db, sql, err, out)
	}
	return strings.TrimSpace(string(out))
}

// checkKilledStore checks a store just restarted after a kill, before
// new packets: each segment sound (sqlite3's integrity_check), no hot
// journal, the catalog's rows the segment files with their packet
// counts, no recording left recording.
func checkKilledStore(t *testing.T, st, segDir string, round int) {
	t.Helper()
	segs, _ := filepath.Glob(filepath.Join(segDir, "*.db"))
	if journals, _ := filepath.Glob(filepath.Join(segDir, "*-journal")); len(journals) > 0 {
		t.Errorf("round %d: journals left after the restart: %v", round, journals)
	}
	files := map[string]string{}
	for _, seg := range segs {
		if got := sqliteShell(t, seg, "PRAGMA integrity_check"); got != "ok" {
			t.Errorf("round %d: %s: integrity_check: %s", round, filepath.Base(seg), got)
		}
		rel, _ := filepath.Rel(st, seg)
		files[rel] = sqliteShell(t, seg, "SELECT coalesce(sum(packets), 0) FROM sessions")
	}
	cat := map[string]string{}
	for _, line := range strings.Split(sqliteShell(t, filepath.Join(st, "catalog.db"), "SELECT file, packets FROM segments WHERE NOT expiring"), "\n") {
		if file, n, ok := strings.Cut(line, "|"); ok {
			cat[file] = n
		}
	}
	var diff []string
	for f, n := range files {
		if cat[f] != n {
			diff = append(diff, fmt.Sprintf("%s: file %s, catalog %q", f, n, cat[f]))
		}
	}
	for f := range cat {
		if _, ok := files[f]; !ok {
			diff = append(diff, f+": in the catalog, no file")
		}
	}
	sort.Strings(diff)
	if len(diff) > 0 {
		t.Errorf("round %d: the catalog disagrees with the segment files:\n%s", round, strings.Join(diff, "\n"))
	}
	recs := storeRecordings(t, st)
	interrupted := 0
	for _, r := range recs {
		if r.Status == "recording" {
			t.Errorf("round %d: a recording is still recording after a kill and restart: %+v", round, recs)
		}
		if r.Status == "interrupted" {
			interrupted++
		}
	}
	if interrupted != round {
		t.Errorf("round %d: %d recordings interrupted: %+v", round, interrupted, recs)
	}
}
