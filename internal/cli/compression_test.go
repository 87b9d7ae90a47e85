package cli_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

func sqlite3Out(t *testing.T, db, sql string) string {
	t.Helper()
	out, err := exec.Command("sqlite3", db, sql).CombinedOutput()
	if err != nil {
		t.Fatalf("sqlite3: %v: %s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestCompressionRoundTripCorpus imports every capture of the corpus that
// libpcap reads, in turn with --compression zstd and s2, exports it, and
// requires tcpdump to print the export as it prints the original (times,
// lengths, every byte); sqlite3 confirms that blocks were stored
// compressed both ways, and that --compression none stores them raw.
func TestCompressionRoundTripCorpus(t *testing.T) {
	requireCorpus(t)
	testkit.RequireTool(t, "tcpdump")
	testkit.RequireTool(t, "sqlite3")
	dir := t.TempDir()
	db := filepath.Join(dir, "zstd.db")
	checked := 0
	for _, row := range manifest(t) {
		if row["libpcap_read"] != "ok" || strings.HasPrefix(row["packets"], "0") {
			continue
		}
		file := filepath.Join(corpusDir, "pcap", row["file"])
		how := []string{"zstd", "s2"}[checked%2]
		out, errs, code := inProcess("import", "--compression", how, "-d", db, file)
		if code != 0 {
			t.Errorf("%s: import failed: %s", row["file"], errs)
			continue
		}
		id := strings.TrimSuffix(strings.Fields(out)[1], ":")
		exp := filepath.Join(dir, "out-"+id)
		if _, errs, code := inProcess("export", "-d", db, "-s", id, "-o", exp); code != 0 {
			t.Errorf("%s: export failed: %s", row["file"], errs)
			continue
		}
		orig, err := tcpdumpHex(t, file)
		if err != nil {
			t.Errorf("%s: tcpdump on the original: %v", row["file"], err)
			continue
		}
		got, err := tcpdumpHex(t, exp)
		if err != nil {
			t.Errorf("%s: tcpdump cannot read our export: %v", row["file"], err)
			continue
		}
		ol, gl := strings.Split(orig, "\n"), strings.Split(got, "\n")
		if len(ol) != len(gl) {
			t.Errorf("%s: tcpdump prints %d lines of the export, %d of the original", row["file"], len(gl), len(ol))
			continue
		}
		invalidFrac := orig != got && hasInvalidFraction(t, file)
		for i := range ol {
			// A sub-second field past one second is carried into the
			// seconds on import (see TestImportExportCorpus).
			if ol[i] != gl[i] && !(invalidFrac && afterTime(ol[i]) == afterTime(gl[i])) {
				t.Errorf("%s: tcpdump output differs at line %d:\norig %s\nours %s", row["file"], i+1, ol[i], gl[i])
				break
			}
		}
		os.Remove(exp)
		checked++
	}
	if checked < 150 {
		t.Errorf("only %d captures checked", checked)
	}
	for enc, name := range []string{1: "zstd", 2: "s2"} {
		if name == "" {
			continue
		}
		compressed := sqlite3Out(t, db, fmt.Sprintf("SELECT count(DISTINCT session_id) FROM blocks WHERE encoding = %d", enc))
		t.Logf("%d corpus captures round-tripped, half through %s blocks; %s of them have %s blocks", checked, name, compressed, name)
		if compressed == "0" || compressed == "" {
			t.Errorf("no block of the corpus was stored as %s", name)
		}
	}
	raw := filepath.Join(dir, "raw.db")
	mustRun(t, "import", "--compression", "none", "-d", raw, filepath.Join(corpusDir, "pcap", "gopacket_test_dns.pcap"))
	if got := sqlite3Out(t, raw, "SELECT count(*), sum(encoding) FROM blocks"); strings.HasPrefix(got, "0|") || !strings.HasSuffix(got, "|0") {
		t.Errorf("--compression none: blocks, zstd blocks: %s", got)
	}
}

// TestFaultCompressedBlockDamaged: one byte flipped in a compressed block
// (zstd or S2, by sqlite3, its length intact) makes query and export fail
// with one line naming the block's packets; cut short, query --count
// fails too.
func TestFaultCompressedBlockDamaged(t *testing.T) {
	testkit.RequireTool(t, "sqlite3")
	for enc, how := range map[int]string{1: "zstd", 2: "s2"} {
		t.Run(how, func(t *testing.T) { damageCompressedBlock(t, how, enc) })
	}
}

func damageCompressedBlock(t *testing.T, how string, encoding int) {
	dir := t.TempDir()
	db := filepath.Join(dir, "p.db")
	mustRun(t, "import", "--compression", how, "-d", db, pcapFile(t, dir, 5000, 200))
	span := sqlite3Out(t, db, fmt.Sprintf("SELECT first_packet || ' to ' || (first_packet + packet_count - 1) FROM blocks WHERE seq = 1 AND encoding = %d", encoding))
	if span == "" {
		t.Fatal("block 1 was not stored compressed")
	}
	before := sqlite3Out(t, db, "SELECT hex(data) FROM blocks WHERE seq = 1")
	sqlite3Out(t, db, `UPDATE blocks SET data = CAST(substr(data, 1, length(data) / 2) || X'A5' || substr(data, length(data) / 2 + 2) AS BLOB) WHERE seq = 1`)
	after := sqlite3Out(t, db, "SELECT hex(data) FROM blocks WHERE seq = 1")
	if len(after) != len(before) || after == before {
		t.Fatalf("the flip: %d hex digits before, %d after, changed %v", len(before), len(after), after != before)
	}
	want := "packets " + span
	for _, args := range [][]string{
		{"query", "-d", db, "-s", "1", "-c", "0"},
		{"query", "-d", db, "-s", "1", "-c", "0", "udp"},
		{"export", "-d", db, "-s", "1", "-o", filepath.Join(dir, "out.pcap")},
	} {
		oneLineError(t, run(t, args...), want)
	}
	sqlite3Out(t, db, `UPDATE blocks SET data = substr(data, 1, length(data) - 9) WHERE seq = 1`)
	oneLineError(t, run(t, "query", "-d", db, "-s", "1", "--count"), want)
}

// TestCompressionFlagRefused: an unknown --compression is a one-line
// error before anything is stored.
func TestCompressionFlagRefused(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "p.db")
	oneLineError(t, run(t, "import", "--compression", "lz4", "-d", db, pcapFile(t, dir, 10, 20)), "compression")
	if _, err := os.Stat(db); err == nil {
		if got := strings.TrimSpace(mustRun(t, "sessions", "-d", db, "--json")); got != "[]" && got != "null" {
			t.Errorf("a refused import left sessions: %s", got)
		}
	}
	oneLineError(t, run(t, "capture", "-i", "lo", "--compression", "lz4", "-d", db, "-c", "1"), "compression")
}
