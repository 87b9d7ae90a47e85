package cli_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/packetrecorderd/packetrecorderd/internal/pcapio"
	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// Floors at the measured shares (floored) of tcpdump's lines for our own
// export of the corpus imported with --cutoff 1KiB that query prints
// identically: the cut packets (headers kept, caplen < len) among whole
// ones, as the decoders' corpus tests measure them on whole files.
const (
	cutLinesMin        = 96.0
	cutLinesVerboseMin = 97.0
	// cutPacketLinesMin is the floor for the lines of the packets the
	// cutoff cut, plain and -v.
	cutPacketLinesMin = 99.0
)

// cutSummary finds the number of packets cut in import's cutoff line.
var cutSummary = regexp.MustCompile(`cutoff \(.*?\): (\S+) packets? cut`)

// TestQueryCutLinesMatchTcpdump imports each corpus capture libpcap reads
// with --cutoff 1KiB (the per-flow cutoff keeps the headers of every
// packet past a flow's first KiB), prints it with query --tcpdump -c 0
// (and -v), and compares the lines with what tcpdump -n (-v) prints for
// our own export of the same session, which holds the same cut packets.
// tcpdump's line count is the denominator, compared packet by packet; a
// line query does not print counts as different. The figures are reproduced with
//
//	go test -run 'TestQueryCutLinesMatchTcpdump$' -v ./internal/cli/
func TestQueryCutLinesMatchTcpdump(t *testing.T) {
	requireCorpus(t)
	testkit.RequireTool(t, "tcpdump")
	dir := t.TempDir()
	type tally struct{ same, total, cutFiles int }
	var plain, verbose, cutPlain, cutVerbose tally
	var diffs []string
	byFile := map[string]*tally{}
	for _, row := range manifest(t) {
		if row["libpcap_read"] != "ok" {
			continue
		}
		name := row["file"]
		file := filepath.Join(corpusDir, "pcap", name)
		db := filepath.Join(dir, name+".db")
		out, errs, code := inProcess("import", "-d", db, "--cutoff", "1KiB", file)
		if code != 0 {
			t.Errorf("%s: import --cutoff 1KiB: exit %d: %s", name, code, errs)
			continue
		}
		fields := strings.Fields(out)
		if len(fields) < 2 {
			t.Errorf("%s: import printed %q", name, out)
			continue
		}
		id := strings.TrimSuffix(fields[1], ":")
		exp := filepath.Join(dir, name+".export.pcap")
		if _, errs, code := inProcess("export", "-d", db, "-s", id, "-o", exp); code != 0 {
			// Times past 2106 need pcapng.
			if _, errs2, code := inProcess("export", "-d", db, "-s", id, "--format", "pcapng", "-o", exp); code != 0 {
				t.Errorf("%s: export: exit %d: %s; as pcapng: %s", name, code, errs, errs2)
				continue
			}
		}
		m := cutSummary.FindStringSubmatch(errs)
		cut := m != nil && m[1] != "0"
		isCut := cutPackets(t, file, exp)
		for _, c := range []struct {
			t, cut *tally
			flag   []string
		}{{&plain, &cutPlain, nil}, {&verbose, &cutVerbose, []string{"-v"}}} {
			want, _, err := testkit.RunTool("tcpdump", append(append([]string{"-n"}, c.flag...), "-r", exp)...)
			if err != nil {
				t.Errorf("%s: tcpdump %v on our export: %v", name, c.flag, err)
				continue
			}
			args := append([]string{"query", "-d", db, "-s", id, "--tcpdump", "-c", "0"}, c.flag...)
			got, qerr, code := inProcess(args...)
			if code != 0 {
				t.Errorf("%s: query %v: exit %d: %s", name, c.flag, code, qerr)
				continue
			}
			wp, gp := packetLines(want), packetLines(got)
			f := byFile[name]
			if f == nil {
				f = &tally{}
				byFile[name] = f
			}
			for i, wl := range wp {
				var gl []string
				if i < len(gp) {
					gl = gp[i]
				}
				cutPkt := i < len(isCut) && isCut[i]
				for j, w := range wl {
					c.t.total++
					f.total++
					if cutPkt {
						c.cut.total++
					}
					if j < len(gl) && gl[j] == w {
						c.t.same++
						f.same++
						if cutPkt {
							c.cut.same++
						}
					} else if len(diffs) < 20000 {
						g := "<no line>"
						if j < len(gl) {
							g = gl[j]
						}
						diffs = append(diffs, fmt.Sprintf("%s %v packet %d line %d\n  ours    %s\n  tcpdump %s", name, c.flag, i+1, j+1, g, w))
					}
				}
			}
		}
		if cut {
			plain.cutFiles++
		}
		os.Remove(db)
		os.Remove(exp)
	}
	pct := func(c tally) float64 { return 100 * float64(c.same) / float64(max(c.total, 1)) }
	var b strings.Builder
	fmt.Fprintf(&b, "query --tcpdump -c 0 against tcpdump -n of our export, corpus imported with --cutoff 1KiB (%d captures with cut packets):\n", plain.cutFiles)
	fmt.Fprintf(&b, "  plain: %d of %d lines identical (%.1f%%); of the cut packets' lines %d of %d (%.1f%%)\n", plain.same, plain.total, pct(plain), cutPlain.same, cutPlain.total, pct(cutPlain))
	fmt.Fprintf(&b, "  -v:    %d of %d lines identical (%.1f%%); of the cut packets' lines %d of %d (%.1f%%)\n", verbose.same, verbose.total, pct(verbose), cutVerbose.same, cutVerbose.total, pct(cutVerbose))
	names := make([]string, 0, len(byFile))
	for n := range byFile {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		a, c := byFile[names[i]], byFile[names[j]]
		if ga, gc := a.total-a.same, c.total-c.same; ga != gc {
			return ga > gc
		}
		return names[i] < names[j]
	})
	for _, n := range names[:min(len(names), 15)] {
		fmt.Fprintf(&b, "  %-50s %6d lines %6d differ\n", n, byFile[n].total, byFile[n].total-byFile[n].same)
	}
	t.Log(b.String())
	if p := os.Getenv("PRD_DECODE_DIFFS"); p != "" {
		if err := os.WriteFile(p, []byte(strings.Join(diffs, "\n")+"\n"), 0o644); err != nil {
			t.Error(err)
		}
	}
	if plain.cutFiles < 20 {
		t.Errorf("only %d captures had packets cut at 1KiB", plain.cutFiles)
	}
	if cutPlain.total < 1000 {
		t.Errorf("only %d lines of cut packets compared", cutPlain.total)
	}
	if pct(cutPlain) < cutPacketLinesMin || pct(cutVerbose) < cutPacketLinesMin {
		t.Errorf("the cut packets' lines: %.1f%% (-v %.1f%%) identical to tcpdump's, want %.0f%%", pct(cutPlain), pct(cutVerbose), cutPacketLinesMin)
	}
	if pct(plain) < cutLinesMin {
		t.Errorf("query's lines for the cut corpus: %.1f%% identical to tcpdump's, want %.0f%%", pct(plain), cutLinesMin)
	}
	if pct(verbose) < cutLinesVerboseMin {
		t.Errorf("query -v's lines for the cut corpus: %.1f%% identical to tcpdump -v's, want %.0f%%", pct(verbose), cutLinesVerboseMin)
	}
}

// cutPackets reports for each packet of the export whether the cutoff cut
// it: fewer bytes than the original capture holds of the same packet.
func cutPackets(t *testing.T, orig, exp string) []bool {
	t.Helper()
	read := func(path string) []pcapio.Packet {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		r, err := pcapio.NewReader(f)
		if err != nil {
			return nil
		}
		var pkts []pcapio.Packet
		for {
			p, err := r.Next()
			if err != nil {
				return pkts
			}
			pkts = append(pkts, pcapio.Packet{OrigLen: p.OrigLen, Data: make([]byte, len(p.Data))})
		}
	}
	o, e := read(orig), read(exp)
	if len(o) != len(e) {
		return nil
	}
	cut := make([]bool, len(e))
	for i := range e {
		cut[i] = len(e[i].Data) < len(o[i].Data)
	}
	return cut
}

// packetStartLine matches the first line of a packet in tcpdump's default
// output (and query --tcpdump's): its local time, or what tcpdump prints
// for a time or record it cannot read.
var packetStartLine = regexp.MustCompile(`^([0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6} |\[Error converting time\]|\[Invalid header)`)

// packetLines groups the lines of out by packet: a packet's first line and
// the lines that continue it (-v's, hex dumps), so that a line one side
// leaves out costs that line only.
func packetLines(out string) [][]string {
	out = strings.TrimSuffix(out, "\n")
	if out == "" {
		return nil
	}
	var pkts [][]string
	for _, l := range strings.Split(out, "\n") {
		if packetStartLine.MatchString(l) || len(pkts) == 0 {
			pkts = append(pkts, []string{l})
			continue
		}
		pkts[len(pkts)-1] = append(pkts[len(pkts)-1], l)
	}
	return pkts
}
