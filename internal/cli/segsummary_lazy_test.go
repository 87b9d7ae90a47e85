package cli_test

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/archive"
	"github.com/packetrecorderd/packetrecorderd/internal/archive/archivetest"
	"github.com/packetrecorderd/packetrecorderd/internal/index/synth"
	"github.com/packetrecorderd/packetrecorderd/internal/netlab"
	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// lazyStatus is what these tests read of GET /api/v1/status.
type lazyStatus struct {
	Interfaces []struct {
		Packets, Received int64
		Drops             struct{ Kernel, App int64 }
	} `json:"interfaces"`
	Retention struct {
		DeletedSegments int64 `json:"deleted_segments"`
	} `json:"retention"`
	Index *struct {
		Unsummarized int64 `json:"segments_unsummarized"`
		Summarized   int64 `json:"segments_summarized"`
		Building     bool  `json:"building"`
	} `json:"index"`
}

func (d *daemonProc) lazyStatus(t *testing.T) lazyStatus {
	t.Helper()
	code, body := d.get(t, "/api/v1/status")
	var st lazyStatus
	if code != 200 || json.Unmarshal([]byte(body), &st) != nil || st.Index == nil || len(st.Interfaces) != 1 {
		t.Fatalf("status: %d %s", code, body)
	}
	return st
}

// tcpdumpRead is tcpdump's reading of a capture file: one line a packet,
// times in epoch seconds, every byte in hex.
func tcpdumpRead(t *testing.T, file string) string {
	t.Helper()
	out, err := exec.Command("tcpdump", "-n", "-tt", "-xx", "-r", file).Output()
	if err != nil {
		t.Fatalf("tcpdump -r %s: %v", file, err)
	}
	return string(out)
}

var leftRE = regexp.MustCompile(`msg="segment summaries: stopped" built=(\d+) .* left=(\d+)`)

// TestFaultLazySummaries: a store whose catalog an older build left
// (version 2, no segment_summaries) gets its segment summaries from the
// daemon, in the background. SIGTERM in the middle of the build stops the
// daemon promptly with the catalog sound and every answer the same; the
// next start builds the rest while it records a flood without a drop;
// status and metrics count the segments left down to 0; a needle query
// then skips every segment it skipped when the summaries were written at
// close, and its export reads in tcpdump exactly as the export made
// before.
func TestFaultLazySummaries(t *testing.T) {
	testkit.RequireTool(t, "sqlite3")
	testkit.RequireTool(t, "tcpdump")
	lab := netlab.New(t, "lzs")
	dir := t.TempDir()
	st := filepath.Join(dir, "store")
	m := archivetest.RecordMix(t, st, synth.Config{Seed: 23, Flows: 2000, Packets: 80000, Span: 3600e9}, 800<<10)
	expr, want := mixHostPort(m, len(m.Flows)/3)
	before := explain(t, "-d", st, "--interface", "synth0", expr)
	if before.packets != want || !before.hasSegments || before.segments < 10 || before.skipped < before.segments-3 || before.unsumm != 0 {
		t.Fatalf("summaries written at close: %d packets (the mix made %d), %d of %d segments skipped, %d without:\n%s",
			before.packets, want, before.skipped, before.segments, before.unsumm, before.out)
	}
	beforePcap := filepath.Join(dir, "before.pcap")
	mustRun(t, "export", "-d", st, "--interface", "synth0", "-o", beforePcap, expr)
	beforeRead := tcpdumpRead(t, beforePcap)
	n := 0
	for _, l := range strings.Split(beforeRead, "\n") {
		if l != "" && !strings.HasPrefix(l, "\t") {
			n++
		}
	}
	if n != int(want) {
		t.Fatalf("tcpdump reads %d packets in the export, the mix made %d", n, want)
	}
	catalog := filepath.Join(st, archive.CatalogFile)
	sqlite3Out(t, catalog, "DROP TABLE segment_summaries; PRAGMA user_version = 2;")
	if old := explain(t, "-d", st, "--interface", "synth0", expr); old.packets != want || old.skipped != 0 || old.unsumm != old.segments {
		t.Fatalf("the older catalog: %d packets, %d of %d skipped, %d without:\n%s", old.packets, old.skipped, old.segments, old.unsumm, old.out)
	}

	config := fmt.Sprintf(`store: %s
interfaces:
  - name: %s
    filter: "udp dst port 9999"
listen: 127.0.0.1:0
`, st, lab.HostIf)
	cfg := filepath.Join(dir, "c.yaml")
	writeConfig(t, cfg, config)

	// SIGTERM while the build goes on.
	d := startDaemon(t, cfg)
	d.waitLine(t, "building segment summaries", 20*time.Second)
	took := d.stop(t, 5*time.Second)
	sm := leftRE.FindStringSubmatch(d.stderr.String())
	if sm == nil {
		t.Fatalf("no line of the build stopping:\n%s", d.stderr)
	}
	built1, _ := strconv.Atoi(sm[1])
	left, _ := strconv.Atoi(sm[2])
	if left == 0 || built1+left != int(before.segments) {
		t.Fatalf("stopped with %d built and %d left, of %d segments", built1, left, before.segments)
	}
	if out := sqlite3Out(t, catalog, "PRAGMA integrity_check"); out != "ok" {
		t.Fatalf("catalog after the stop: %s", out)
	}
	if n := storeCount(t, st, "--interface", "synth0", expr); n != want {
		t.Fatalf("after the stop, %d packets, want %d", n, want)
	}
	t.Logf("SIGTERM in the build: stopped in %v, %d summaries built, %d left", took, built1, left)

	// The next start builds the rest while a flood is recorded.
	d = startDaemon(t, cfg)
	var wg sync.WaitGroup
	var sent int
	wg.Add(1)
	go func() { defer wg.Done(); sent = flood(t, lab, 9999, 3000, 4*time.Second) }()
	deadline := time.Now().Add(60 * time.Second)
	var s lazyStatus
	for {
		s = d.lazyStatus(t)
		if code, body := d.get(t, "/healthz"); code != 200 {
			t.Fatalf("healthz during the build: %d %s", code, body)
		}
		if s.Index.Unsummarized == 0 && !s.Index.Building {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("summaries still missing after 60 s: %+v\n%s", *s.Index, d.stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	wg.Wait()
	if s.Index.Summarized != int64(left) {
		t.Fatalf("the second start built %d summaries, %d were left", s.Index.Summarized, left)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		s = d.lazyStatus(t)
		if s.Interfaces[0].Packets >= int64(sent) || time.Now().After(deadline) {
			break
		}
	}
	it := s.Interfaces[0]
	if it.Packets != int64(sent) || it.Received != it.Packets || it.Drops.Kernel+it.Drops.App != 0 {
		t.Fatalf("recording during the build: %d sent, %d received, %d stored, drops %+v", sent, it.Received, it.Packets, it.Drops)
	}
	_, metrics := d.get(t, "/metrics")
	for _, line := range []string{"packetrecorder_index_segments_unsummarized 0", fmt.Sprintf("packetrecorder_index_segments_summarized_total %d", left)} {
		if !strings.Contains(metrics, "\n"+line+"\n") {
			t.Errorf("metrics lack %q", line)
		}
	}
	errs := d.stderr.String()
	if strings.Count(errs, `msg="building segment summaries`) != 1 || strings.Count(errs, `msg="segment summaries built"`) != 1 || summaryWarned(errs) {
		t.Fatalf("daemon log:\n%s", errs)
	}
	after := explain(t, "-d", st, "--interface", "synth0", expr)
	if after.packets != want || after.segments != before.segments || after.skipped != before.skipped || after.unsumm != 0 {
		t.Fatalf("after the build: %d packets (want %d), %d of %d skipped (%d at close), %d without:\n%s",
			after.packets, want, after.skipped, after.segments, before.skipped, after.unsumm, after.out)
	}
	afterPcap := filepath.Join(dir, "after.pcap")
	mustRun(t, "export", "-d", st, "--interface", "synth0", "-o", afterPcap, expr)
	if got := tcpdumpRead(t, afterPcap); got != beforeRead {
		t.Fatalf("tcpdump reads the export after the build otherwise than before:\n%.2000s\nbefore:\n%.2000s", got, beforeRead)
	}
	if n := storeCount(t, st, "--interface", lab.HostIf); n != int64(sent) {
		t.Fatalf("the store holds %d packets of the flood, %d sent", n, sent)
	}
	d.stop(t, 10*time.Second)
	t.Logf("%q: %d packets; %d of %d segments skipped by the catalog after the build; %d flood packets recorded meanwhile", expr, want, after.skipped, after.segments, sent)
}

var builtRE = regexp.MustCompile(`msg="segment summaries built" built=(\d+) deleted_meanwhile=(\d+) failed=(\d+) left=(\d+)`)

// TestFaultLazySummariesRetention: retention deletes segments (max_age)
// while the daemon builds the summaries of a store that has none: each
// segment deleted before the builder reaches it is skipped without a
// warning, no summary row is left of a deleted segment, and every closed
// segment left has its summary.
func TestFaultLazySummariesRetention(t *testing.T) {
	testkit.RequireTool(t, "sqlite3")
	lab := netlab.New(t, "lzr")
	dir := t.TempDir()
	st := filepath.Join(dir, "store")
	// 40 segments of 100 packets, 1 s of packet time each, the oldest
	// passing max_age (20 s) some 3 s from now, one more each second
	// after: the build (newest first, at least 100 ms a segment) meets
	// retention deleting the oldest.
	start := time.Now().Add(-18 * time.Second).UnixNano()
	archivetest.RecordMix(t, st, synth.Config{Seed: 29, Flows: 400, Packets: 4000, Span: 40e9, Start: start}, 256<<10)
	catalog := filepath.Join(st, archive.CatalogFile)
	segs, _ := strconv.Atoi(sqlite3Out(t, catalog, "SELECT count(*) FROM segments WHERE closed"))
	if segs < 30 {
		t.Fatalf("%d segments written, want about 40", segs)
	}
	sqlite3Out(t, catalog, "DELETE FROM segment_summaries")
	cfg := filepath.Join(dir, "c.yaml")
	writeConfig(t, cfg, fmt.Sprintf(`store: %s
segment:
  max_age: 10s
retention:
  max_age: 20s
interfaces:
  - name: %s
    filter: "udp dst port 9999"
listen: 127.0.0.1:0
`, st, lab.HostIf))
	d := startDaemon(t, cfg)
	line := d.waitLine(t, "segment summaries built", 60*time.Second)
	m := builtRE.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("end of the build: %q", line)
	}
	built, _ := strconv.Atoi(m[1])
	deleted, _ := strconv.Atoi(m[2])
	if deleted == 0 || m[3] != "0" || m[4] != "0" {
		t.Fatalf("the build met no deletion, or failed: %q", line)
	}
	s := d.lazyStatus(t)
	if s.Index.Unsummarized != 0 || s.Index.Building || s.Index.Summarized != int64(built) || s.Retention.DeletedSegments < int64(deleted) {
		t.Fatalf("status after the build: index %+v, retention deleted %d segments", *s.Index, s.Retention.DeletedSegments)
	}
	if n := sqlite3Out(t, catalog, "SELECT count(*) FROM segments WHERE closed AND NOT expiring AND file NOT IN (SELECT file FROM segment_summaries)"); n != "0" {
		t.Fatalf("%s closed segments without a summary after the build", n)
	}
	if n := sqlite3Out(t, catalog, "SELECT count(*) FROM segment_summaries WHERE file NOT IN (SELECT file FROM segments)"); n != "0" {
		t.Fatalf("%s summaries of deleted segments", n)
	}
	if errs := d.stderr.String(); summaryWarned(errs) {
		t.Fatalf("daemon log:\n%s", errs)
	}
	d.stop(t, 10*time.Second)
	t.Logf("%d segments: %d summaries built, %d segments deleted by retention before the builder reached them, %d deleted in all", segs, built, deleted, s.Retention.DeletedSegments)
}

// summaryWarned reports a warning or error of the daemon's log about the
// summaries or the catalog.
func summaryWarned(log string) bool {
	for _, l := range strings.Split(log, "\n") {
		if (strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR")) && (strings.Contains(l, "summar") || strings.Contains(l, "catalog")) {
			return true
		}
	}
	return false
}
