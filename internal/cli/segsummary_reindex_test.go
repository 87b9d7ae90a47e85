package cli_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/packetrecorderd/packetrecorderd/internal/archive"
	"github.com/packetrecorderd/packetrecorderd/internal/archive/archivetest"
	"github.com/packetrecorderd/packetrecorderd/internal/index/synth"
	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// mixHostPort is a needle of the mix: "host A and port P" of its flow
// i's client and client port, and how many of the mix's packets match it
// (any flow with A at either end and P at either port), counted from the
// mix itself.
func mixHostPort(m *synth.Mix, i int) (expr string, want int64) {
	f := m.Flows[i]
	for _, p := range m.Packets {
		h := m.Flows[p.Flow]
		if (h.Client == f.Client || h.Server == f.Client) && (h.CPort == f.CPort || h.SPort == f.CPort) {
			want++
		}
	}
	return fmt.Sprintf("host %s and port %d", f.Client, f.CPort), want
}

// TestSegmentSummariesReindex: a store whose catalog lost its segment
// summaries answers a query exactly as before, opening every segment, and
// says so once on stderr; packetrecorder reindex -d STORE builds them
// again, and --explain then counts the segments the catalog skipped.
func TestSegmentSummariesReindex(t *testing.T) {
	testkit.RequireTool(t, "sqlite3")
	dir := filepath.Join(t.TempDir(), "store")
	m := archivetest.RecordMix(t, dir, synth.Config{Seed: 21, Flows: 2000, Packets: 40000, Span: 3600e9}, 800<<10)
	expr, want := mixHostPort(m, len(m.Flows)/2)
	before := explain(t, "-d", dir, expr)
	if before.packets != want {
		t.Fatalf("%q: %d packets, the mix made %d", expr, before.packets, want)
	}
	if !before.hasSegments || before.segments < 5 || before.skipped < before.segments-3 || before.unsumm != 0 {
		t.Fatalf("summaries written at close: %d of %d segments skipped, %d without:\n%s", before.skipped, before.segments, before.unsumm, before.out)
	}
	catalog := filepath.Join(dir, archive.CatalogFile)
	sqlite3Out(t, catalog, "DELETE FROM segment_summaries")
	r := run(t, "query", "-d", dir, "--count", expr)
	if r.code != 0 || strings.TrimSpace(r.stdout) != fmt.Sprint(before.packets) {
		t.Fatalf("without summaries: exit %d, %q packets, want %d: %s", r.code, r.stdout, before.packets, r.stderr)
	}
	if strings.Count(r.stderr, "no usable summary") != 1 || !strings.Contains(r.stderr, "packetrecorder reindex") {
		t.Fatalf("without summaries, stderr says %q", r.stderr)
	}
	without := explain(t, "-d", dir, expr)
	if without.packets != before.packets || without.skipped != 0 || without.unsumm != without.segments {
		t.Fatalf("without summaries: %d packets, %d of %d skipped, %d without:\n%s", without.packets, without.skipped, without.segments, without.unsumm, without.out)
	}
	out := mustRun(t, "reindex", "-d", dir)
	if !strings.Contains(out, fmt.Sprintf("%d segment summaries built, 0 kept", before.segments)) {
		t.Fatalf("reindex printed %q", out)
	}
	after := explain(t, "-d", dir, expr)
	if after.packets != before.packets || after.skipped != before.skipped || after.unsumm != 0 {
		t.Fatalf("after reindex: %d packets, %d of %d skipped (%d at close), %d without:\n%s", after.packets, after.skipped, after.segments, before.skipped, after.unsumm, after.out)
	}
	if n := sqlite3Out(t, catalog, "SELECT count(*) FROM segment_summaries WHERE pairs = 1"); n != fmt.Sprint(before.segments) {
		t.Fatalf("after reindex %s summaries carry pairs, want %d", n, before.segments)
	}
	t.Logf("%q: %d packets; %d of %d closed segments skipped by the catalog", expr, before.packets, before.skipped, before.segments)
}
