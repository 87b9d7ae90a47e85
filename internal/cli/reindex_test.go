package cli_test

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// TestReindex: after the block index is deleted behind the database's
// back (sqlite3), reindex builds an entry for every block again, and says
// how many.
func TestReindex(t *testing.T) {
	requireCorpus(t)
	testkit.RequireTool(t, "sqlite3")
	db := filepath.Join(t.TempDir(), "r.db")
	mustRun(t, "import", "-d", db, filepath.Join(corpusDir, "pcap", "zeek_http_bro.org.pcap"))
	sql := func(q string) string {
		out, err := exec.Command("sqlite3", db, q).CombinedOutput()
		if err != nil {
			t.Fatalf("sqlite3 %s: %v: %s", q, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	blocks := sql("SELECT count(*) FROM blocks")
	if got := sql("SELECT count(*) FROM block_sketches"); got != blocks || blocks == "0" {
		t.Fatalf("import left %s index entries for %s blocks", got, blocks)
	}
	sql("DELETE FROM block_sketches")
	out := mustRun(t, "reindex", "-d", db)
	if m := regexp.MustCompile(`^(\d+) blocks indexed, 0 kept`).FindStringSubmatch(out); m == nil || m[1] != blocks {
		t.Fatalf("reindex said %q, want %s blocks indexed", out, blocks)
	}
	if got := sql("SELECT count(*) FROM block_sketches"); got != blocks {
		t.Fatalf("after reindex: %s index entries for %s blocks", got, blocks)
	}
	// A second run has nothing to do.
	if out := mustRun(t, "reindex", "-d", db); !strings.HasPrefix(out, "0 blocks indexed, "+blocks+" kept") {
		t.Fatalf("second reindex said %q", out)
	}
	// A missing database is a clear error.
	if r := run(t, "reindex", "-d", filepath.Join(t.TempDir(), "none.db")); r.code == 0 || !strings.Contains(r.stderr, "no such database") {
		t.Fatalf("reindex of a missing database: exit %d, %q", r.code, r.stderr)
	}
}
