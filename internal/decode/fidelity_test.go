package decode

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// tcpdumpStart matches the start of a packet's first line in tcpdump -tt
// output: the time, or what tcpdump prints instead of one.
var tcpdumpStart = regexp.MustCompile(`^([0-9]+\.[0-9]+ |\[Error converting time\] |\[Invalid header[^\]]*\],? ?)`)

// tcpdumpSummaries runs tcpdump -n -tt (plus extra flags) on a capture and
// returns the first line of each packet without the time. Continuation
// lines (tcpdump indents them) are dropped. A capture tcpdump stops
// reading half-way gives the lines printed before it stopped.
func tcpdumpSummaries(t testing.TB, path string, extra ...string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args := append([]string{"-n", "-tt"}, extra...)
	args = append(args, "-r", path)
	cmd := exec.CommandContext(ctx, "tcpdump", args...)
	var out bytes.Buffer
	cmd.Stdout = &out
	_ = cmd.Run() // an error leaves what was read; the caller compares that
	var lines []string
	for _, l := range strings.Split(out.String(), "\n") {
		if loc := tcpdumpStart.FindStringIndex(l); loc != nil {
			lines = append(lines, l[loc[1]:])
		}
	}
	return lines
}

// labFidelityMin is the share of tcpdump -n lines of the lab's traffic
// that Summary must reproduce exactly.
const labFidelityMin = 95.0

// fidelity counts how many of a capture's tcpdump lines our Summarizer
// reproduces exactly, and returns up to maxDiffs differences.
type fidelity struct {
	same, total int
	diffs       []string
}

const maxDiffs = 20000

func (f *fidelity) percent() float64 {
	if f.total == 0 {
		return 100
	}
	return 100 * float64(f.same) / float64(f.total)
}

// compareCapture summarises the packets of path with a new Summarizer built
// from opts and compares each with what tcpdump (run with extra flags)
// printed for it.
func (f *fidelity) compareCapture(t testing.TB, path string, opts Options, extra ...string) {
	t.Helper()
	want := tcpdumpSummaries(t, path, extra...)
	pkts := readCapture(t, path)
	s := NewSummarizerOptions(opts)
	s.InterfaceName = localInterfaceName
	for i, w := range want {
		f.total++
		if i >= len(pkts) {
			f.addDiff(path, i, "<no packet>", w)
			continue
		}
		p := pkts[i]
		got := s.Summary(p.linkType, p.data, p.wireLen)
		// tcpdump -v continues some lines on the next; compare the first.
		if i := strings.IndexByte(got, '\n'); i >= 0 {
			got = got[:i]
		}
		if got == w {
			f.same++
			continue
		}
		f.addDiff(path, i, got, w)
	}
}

func (f *fidelity) addDiff(path string, i int, got, want string) {
	if len(f.diffs) < maxDiffs {
		f.diffs = append(f.diffs, fmt.Sprintf("%s #%d\n  ours    %s\n  tcpdump %s", filepath.Base(path), i+1, got, want))
	}
}

// writeDiffs writes the differences to the file PRD_DECODE_DIFFS names, if
// set, for working on the decoders.
func (f *fidelity) writeDiffs(t testing.TB) {
	name := os.Getenv("PRD_DECODE_DIFFS")
	if name == "" {
		return
	}
	if err := os.WriteFile(name, []byte(strings.Join(f.diffs, "\n")+"\n"), 0o644); err != nil {
		t.Error(err)
	}
}

// localInterfaceName names interface indexes as tcpdump does when it reads
// a LINUX_SLL2 capture: by the interfaces of this machine.
func localInterfaceName(index uint32) string {
	ifi, err := net.InterfaceByIndex(int(index))
	if err != nil {
		return ""
	}
	return ifi.Name
}

// TestSummaryLabCaptureFidelity runs the comparison of
// TestSummaryLabFidelity on a capture that test recorded once
// (testdata/lab.pcap, kept with PRD_DECODE_LAB_PCAP), so that it also
// runs without root.
func TestSummaryLabCaptureFidelity(t *testing.T) {
	needTcpdump(t)
	for _, c := range []struct {
		opts  Options
		flags []string
	}{{Options{}, nil}, {Options{AbsoluteSeq: true}, []string{"-S"}}} {
		var f fidelity
		f.compareCapture(t, filepath.Join("testdata", "lab.pcap"), c.opts, c.flags...)
		t.Logf("testdata/lab.pcap, tcpdump %v: %d of %d lines identical (%.1f%%)", c.flags, f.same, f.total, f.percent())
		if f.total < 50 || f.percent() < labFidelityMin {
			t.Errorf("fidelity %.1f%% of %d lines < %.0f%%:\n%s", f.percent(), f.total, labFidelityMin, strings.Join(f.diffs, "\n"))
		}
	}
}
