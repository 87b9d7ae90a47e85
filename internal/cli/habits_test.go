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

// TestReadFileDirectly: query -r reads pcap and pcapng files, gzip- and
// zstd-compressed too, without importing them, and selects what tcpdump
// -r selects with the same filter (given as arguments, as to tcpdump).
func TestReadFileDirectly(t *testing.T) {
	testkit.RequireTool(t, "tcpdump")
	testkit.RequireTool(t, "zstd")
	dir := testkit.Corpus(t, "pcap")
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	checked := 0
	for _, e := range ents {
		name := e.Name()
		if !strings.HasSuffix(name, ".pcap") && !strings.HasSuffix(name, ".pcapng") || checked >= 12 {
			continue
		}
		path := filepath.Join(dir, name)
		all, refused, err := testkit.TcpdumpPackets(path, "")
		if err != nil || refused != "" || len(all) < 20 {
			continue
		}
		udp, refused, err := testkit.TcpdumpPackets(path, "udp or icmp")
		if err != nil || refused != "" {
			continue
		}
		if r := run(t, "query", "-r", path, "--count", "udp"); r.code != 0 && strings.Contains(r.stderr, "not supported") {
			continue // a link type our filters do not cover yet (see TestMatrix)
		}
		checked++
		gz := filepath.Join(tmp, name+".gz")
		zst := filepath.Join(tmp, name+".zst")
		if out, err := exec.Command("sh", "-c", fmt.Sprintf("gzip -c %q > %q && zstd -q -c %q > %q", path, gz, path, zst)).CombinedOutput(); err != nil {
			t.Fatalf("compress: %v %s", err, out)
		}
		for _, file := range []string{path, gz, zst} {
			if got := strings.TrimSpace(mustRun(t, "query", "-r", file, "--count")); got != fmt.Sprint(len(all)) {
				t.Errorf("%s: query -r counts %s packets, tcpdump reads %d", filepath.Base(file), got, len(all))
			}
			if got := strings.TrimSpace(mustRun(t, "query", "-r", file, "--count", "udp", "or", "icmp")); got != fmt.Sprint(len(udp)) {
				t.Errorf("%s: query -r 'udp or icmp' counts %s, tcpdump %d", filepath.Base(file), got, len(udp))
			}
		}
		// -c as tcpdump's: that many lines.
		if out := mustRun(t, "query", "-r", zst, "-n", "-c", "5"); strings.Count(out, "\n") != 5 {
			t.Errorf("%s: -c 5 printed %d lines", name, strings.Count(out, "\n"))
		}
		// export -r writes what tcpdump reads back as the same packets.
		out := filepath.Join(tmp, "sel.pcapng")
		mustRun(t, "export", "-r", gz, "-o", out, "udp", "or", "icmp")
		if back, _, err := testkit.TcpdumpPackets(out, ""); err != nil || len(back) != len(udp) {
			t.Errorf("%s: export -r kept %d packets, tcpdump selects %d (%v)", name, len(back), len(udp), err)
		}
	}
	if checked < 5 {
		t.Fatalf("only %d corpus files checked", checked)
	}
	// Mistakes are one-line errors.
	for _, c := range []struct {
		args []string
		says string
	}{
		{[]string{"query", "-r", filepath.Join(tmp, "missing.pcap")}, "no such file"},
		{[]string{"query", "-r", "/etc/hostname"}, "hostname"},
		{[]string{"query", "-r", filepath.Join(dir, ents[1].Name()), "--filter", "tcp", "udp"}, "given twice"},
		{[]string{"query", "-r", filepath.Join(dir, ents[1].Name()), "-s", "1"}, "-r reads a capture file"},
		{[]string{"query", "-r", filepath.Join(dir, ents[1].Name()), "tcp", "port"}, "syntax"},
		{[]string{"query", "-r", filepath.Join(dir, ents[1].Name()), "-c", "3", "-l", "4"}, "give one"},
	} {
		r := run(t, c.args...)
		if r.code == 0 || !strings.Contains(r.stderr, c.says) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("%v: exit %d, %q; want a one-line error saying %q", c.args, r.code, r.stderr, c.says)
		}
	}
}

// TestQuerySaysWhenItStopsAtTheDefaultLimit: without -l, query shows 10
// packets and says how many there are; with -l it says nothing.
func TestQuerySaysWhenItStopsAtTheDefaultLimit(t *testing.T) {
	testkit.RequireTool(t, "tcpdump")
	dir := testkit.Corpus(t, "pcap")
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		path := filepath.Join(dir, e.Name())
		all, refused, err := testkit.TcpdumpPackets(path, "")
		if err != nil || refused != "" || len(all) < 30 || !strings.HasSuffix(path, ".pcap") {
			continue
		}
		db := filepath.Join(t.TempDir(), "t.db")
		mustRun(t, "import", "-d", db, path)
		r := run(t, "query", "-d", db, "-s", "1")
		if r.code != 0 || strings.Count(r.stdout, "\n") != 10 || strings.TrimSpace(r.stderr) != fmt.Sprintf("10 of %d packets; -c 0 for all", len(all)) {
			t.Errorf("default limit: %d lines, stderr %q", strings.Count(r.stdout, "\n"), r.stderr)
		}
		if r := run(t, "query", "-d", db, "-s", "1", "-l", "10"); r.code != 0 || r.stderr != "" {
			t.Errorf("-l 10: stderr %q", r.stderr)
		}
		return
	}
	t.Fatal("no corpus file of 30 packets or more")
}

// TestVacuumGivesSpaceBack: after deleting sessions the file keeps its
// size; vacuum (and sessions delete --vacuum) shrinks it, and what is left
// reads as before.
func TestVacuumGivesSpaceBack(t *testing.T) {
	testkit.RequireTool(t, "tcpdump")
	dir := testkit.Corpus(t, "pcap")
	ents, _ := os.ReadDir(dir)
	var path string
	var want int
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		if fi, err := os.Stat(p); err != nil || fi.Size() < 200<<10 || !strings.HasSuffix(p, ".pcap") {
			continue
		}
		if pkts, refused, err := testkit.TcpdumpPackets(p, ""); err == nil && refused == "" && len(pkts) > 100 {
			path, want = p, len(pkts)
			break
		}
	}
	if path == "" {
		t.Fatal("no corpus capture of 200 KiB")
	}
	db := filepath.Join(t.TempDir(), "v.db")
	for range 4 { // raw blocks: the sessions' shares of the file are their packets'
		mustRun(t, "import", "--compression", "none", "-d", db, path)
	}
	size := func() int64 {
		fi, err := os.Stat(db)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	full := size()
	mustRun(t, "sessions", "-d", db, "delete", "1", "2")
	if size() < full {
		t.Logf("deleting shrank the file by itself (%d to %d)", full, size())
	}
	out := mustRun(t, "vacuum", "-d", db)
	if after := size(); after > full*7/10 || !strings.Contains(out, "vacuumed") {
		t.Errorf("vacuum: %d bytes of %d left: %s", after, full, out)
	}
	mustRun(t, "sessions", "-d", db, "delete", "--vacuum", "3")
	if after := size(); after > full*45/100 {
		t.Errorf("delete --vacuum: %d bytes of %d left", after, full)
	}
	if got := strings.TrimSpace(mustRun(t, "query", "-d", db, "-s", "4", "--count")); got != fmt.Sprint(want) {
		t.Errorf("the session left has %s packets, tcpdump reads %d", got, want)
	}
}

// TestVersionNamesTheCommit: a binary built from this checkout with
// -buildvcs=true names git's HEAD in version and --version; completion
// offers this host's interfaces for capture -i.
func TestVersionNamesTheCommit(t *testing.T) {
	testkit.RequireTool(t, "git")
	// A checkout owned by another user (a CI runner's) is still ours to read.
	safe := []string{"GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=safe.directory", "GIT_CONFIG_VALUE_0=*"}
	rev := exec.Command("git", "rev-parse", "HEAD")
	rev.Env = append(os.Environ(), safe...)
	headOut, err := rev.Output()
	if err != nil {
		t.Fatalf("not a git checkout: %v", err)
	}
	head := string(headOut)
	bin := filepath.Join(t.TempDir(), "packetrecorder")
	build := exec.Command("go", "build", "-buildvcs=true", "-o", bin, "../../cmd/packetrecorder")
	build.Env = append(append(os.Environ(), "CGO_ENABLED=0"), safe...)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	for _, arg := range []string{"version", "--version"} {
		out, err := exec.Command(bin, arg).Output()
		if err != nil || strings.Count(string(out), strings.TrimSpace(head)[:12]) != 1 || !strings.HasPrefix(string(out), "packetrecorder ") {
			t.Errorf("%s: %q %v; want HEAD %s", arg, out, err, head)
		}
	}
	out, err := exec.Command(bin, "__complete", "capture", "-i", "l").Output()
	if err != nil || !strings.Contains(string(out), "lo\n") {
		t.Errorf("completion of capture -i l: %q %v", out, err)
	}
}

// TestSeveralSessionsByNameAndNumber: -s takes names, lists and "all";
// several sessions come merged by timestamp, as mergecap merges their
// files; an ambiguous name is an error naming the candidates.
func TestSeveralSessionsByNameAndNumber(t *testing.T) {
	testkit.RequireTool(t, "mergecap")
	testkit.RequireTool(t, "tcpdump")
	dir := testkit.Corpus(t, "pcap")
	ents, _ := os.ReadDir(dir)
	var files []string
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		if !strings.HasSuffix(p, ".pcap") {
			continue
		}
		out, _, err := testkit.RunTool("tcpdump", "-n", "-r", p, "-c", "1")
		if err != nil || !strings.Contains(out, " IP ") {
			continue // Ethernet captures of IPv4 only: one link type for all
		}
		if r := run(t, "query", "-r", p, "--count"); r.code != 0 {
			continue
		}
		files = append(files, p)
		if len(files) == 3 {
			break
		}
	}
	if len(files) < 3 {
		t.Fatalf("found %d suitable captures", len(files))
	}
	tmp := t.TempDir()
	db := filepath.Join(tmp, "m.db")
	for _, f := range files {
		mustRun(t, "import", "-d", db, f)
	}
	mustRun(t, "sessions", "-d", db, "rename", "2", "uplink")
	ref := filepath.Join(tmp, "ref.pcapng")
	if out, err := exec.Command("mergecap", "-w", ref, files[0], files[1], files[2]).CombinedOutput(); err != nil {
		t.Fatalf("mergecap: %v %s", err, out)
	}
	want, _, _ := testkit.RunTool("tcpdump", "-n", "-tt", "-r", ref)
	for _, spec := range []string{"1,uplink,3", "all", "3,1,2"} {
		out := filepath.Join(tmp, "ours.pcapng")
		mustRun(t, "export", "-d", db, "-s", spec, "-o", out)
		got, _, _ := testkit.RunTool("tcpdump", "-n", "-tt", "-r", out)
		if got != want {
			t.Errorf("-s %s: %d lines, mergecap's merge %d", spec, strings.Count(got, "\n"), strings.Count(want, "\n"))
		}
		n := strings.TrimSpace(mustRun(t, "query", "-d", db, "-s", spec, "--count"))
		if n != fmt.Sprint(strings.Count(want, "\n")) {
			t.Errorf("-s %s --count: %s", spec, n)
		}
	}
	// One session by its name reads as by its number.
	if a, b := mustRun(t, "query", "-d", db, "-s", "uplink", "-l", "0"), mustRun(t, "query", "-d", db, "-s", "2", "-l", "0"); a != b {
		t.Error("-s uplink and -s 2 differ")
	}
	mustRun(t, "sessions", "-d", db, "rename", "3", "uplink")
	for _, c := range []struct{ spec, says string }{
		{"uplink", "2 sessions are named \"uplink\": 2, 3"},
		{"nosuch", "no session is named"},
		{"1,,2", "invalid session list"},
		{"9", "no such session"},
	} {
		r := run(t, "query", "-d", db, "-s", c.spec)
		if r.code == 0 || !strings.Contains(r.stderr, c.says) {
			t.Errorf("-s %s: exit %d %q; want %q", c.spec, r.code, r.stderr, c.says)
		}
	}
}

// TestImportGoesOnAfterABadFile: import a bad b reports b and imports
// both others, then exits non-zero.
func TestImportGoesOnAfterABadFile(t *testing.T) {
	dir := testkit.Corpus(t, "pcap")
	var good []string
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		if strings.HasSuffix(p, ".pcap") && run(t, "query", "-r", p, "--count").code == 0 {
			good = append(good, p)
		}
		if len(good) == 2 {
			break
		}
	}
	tmp := t.TempDir()
	bad := filepath.Join(tmp, "notes.pcap")
	os.WriteFile(bad, []byte("this is not a capture file at all\n"), 0o600)
	db := filepath.Join(tmp, "i.db")
	r := run(t, "import", "-d", db, good[0], bad, good[1])
	if r.code == 0 || !strings.Contains(r.stderr, "notes.pcap") || !strings.Contains(r.stderr, "1 of 3 files not imported") ||
		strings.Count(r.stdout, "imported") != 2 {
		t.Errorf("exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	if out := mustRun(t, "sessions", "-d", db); strings.Count(out, "\n") != 3 {
		t.Errorf("sessions:\n%s", out)
	}
}

// TestQueryPrintsTcpdumpsLines: on the lab's saved traffic, query prints
// exactly tcpdump -n's lines with each of tcpdump's time formats, with -S,
// and with -X and -XX dumps, so that diff against tcpdump is empty.
func TestQueryPrintsTcpdumpsLines(t *testing.T) {
	testkit.RequireTool(t, "tcpdump")
	lab := "../decode/testdata/lab.pcap"
	for _, flags := range [][]string{{"--tcpdump"}, {"-t"}, {"-tt"}, {"-ttt"}, {"-tttt"}, {"-ttttt"}, {"-tt", "-S"}, {"-tt", "-X"}, {"-tt", "-XX"}} {
		want, _, err := testkit.RunTool("tcpdump", append([]string{"-n", "-r", lab}, tcpdumpFlags(flags)...)...)
		if err != nil {
			t.Fatal(err)
		}
		got := mustRun(t, append([]string{"query", "-r", lab, "-l", "0"}, flags...)...)
		if got != want {
			gl, wl := strings.Split(got, "\n"), strings.Split(want, "\n")
			for i := range min(len(gl), len(wl)) {
				if gl[i] != wl[i] {
					t.Errorf("%v: line %d\n got %q\nwant %q", flags, i+1, gl[i], wl[i])
					break
				}
			}
			if len(gl) != len(wl) {
				t.Errorf("%v: %d lines, tcpdump %d", flags, len(gl), len(wl))
			}
		}
	}
}

func tcpdumpFlags(flags []string) []string {
	var out []string
	for _, f := range flags {
		if f != "--tcpdump" {
			out = append(out, f)
		}
	}
	return out
}

// TestReplayReadsAFile: replay -r takes a capture file as tcpreplay does,
// the filter as arguments; conflicting pacing options are an error.
func TestReplayReadsAFile(t *testing.T) {
	testkit.RequireTool(t, "tcpdump")
	lab := "../decode/testdata/lab.pcap"
	want, _, err := testkit.TcpdumpPackets(lab, "udp or arp")
	if err != nil {
		t.Fatal(err)
	}
	out := mustRun(t, "replay", "-r", lab, "--display-only", "--speed", "0", "udp", "or", "arp")
	if n := strings.Count(out, "\n"); n != len(want) {
		t.Errorf("replay -r --display-only: %d lines, tcpdump selects %d", n, len(want))
	}
	for _, args := range [][]string{
		{"replay", "-r", lab, "--display-only", "--speed", "2", "--pps", "10"},
		{"replay", "-r", lab, "--display-only", "--filter", "udp", "tcp"},
	} {
		if r := run(t, args...); r.code == 0 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("%v: exit %d %q; want a one-line error", args, r.code, r.stderr)
		}
	}
}

// TestFilterChecksAFile: filter -r FILE EXPR counts what tcpdump -r FILE
// EXPR prints.
func TestFilterChecksAFile(t *testing.T) {
	testkit.RequireTool(t, "tcpdump")
	lab := "../decode/testdata/lab.pcap"
	for _, expr := range []string{"udp", "tcp[tcpflags] & tcp-syn != 0", "icmp6 or arp", "not ip"} {
		want, _, err := testkit.TcpdumpPackets(lab, expr)
		if err != nil {
			t.Fatal(err)
		}
		all, _, _ := testkit.TcpdumpPackets(lab, "")
		if got := mustRun(t, "filter", "-r", lab, expr); got != fmt.Sprintf("%d of %d packets match\n", len(want), len(all)) {
			t.Errorf("%s: %q, tcpdump matches %d of %d", expr, got, len(want), len(all))
		}
	}
}
