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
	"sort"
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
	var lines []string
	for _, p := range tcpdumpPackets(t, path, extra...) {
		lines = append(lines, p[0])
	}
	return lines
}

// tcpdumpPackets runs tcpdump -n -tt (plus extra flags) on a capture and
// returns every line it printed, grouped by packet: a packet's first line
// (without the time) and the lines that continue it (hex dumps, -v's
// second lines). A capture tcpdump stops reading half-way gives the
// packets printed before it stopped.
func tcpdumpPackets(t testing.TB, path string, extra ...string) [][]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args := append([]string{"-n", "-tt"}, extra...)
	args = append(args, "-r", path)
	cmd := exec.CommandContext(ctx, "tcpdump", args...)
	var out bytes.Buffer
	cmd.Stdout = &out
	_ = cmd.Run() // an error leaves what was read; the caller compares that
	var pkts [][]string
	text := strings.TrimSuffix(out.String(), "\n")
	if text == "" {
		return nil
	}
	for _, l := range strings.Split(text, "\n") {
		if loc := tcpdumpStart.FindStringIndex(l); loc != nil {
			pkts = append(pkts, []string{l[loc[1]:]})
		} else if len(pkts) > 0 {
			pkts[len(pkts)-1] = append(pkts[len(pkts)-1], l)
		}
	}
	return pkts
}

// labFidelityMin is the share of tcpdump -n lines of the lab's traffic
// that Summary must reproduce exactly.
const labFidelityMin = 95.0

// fidelity counts how many of tcpdump's output lines our Summarizer
// reproduces exactly, in total, per protocol and per file, and keeps up to
// maxDiffs differences. tcpdump's line count is the denominator: every
// line it prints for a packet (the first and those continuing it) is
// compared with the line at the same place of our summary of that packet,
// and a line we do not print counts as different.
type fidelity struct {
	same, total int
	byProto     map[string]*tally
	byFile      map[string]*tally
	diffs       []string
}

// tally is one row of a fidelity breakdown.
type tally struct{ same, total int }

func (c *tally) percent() float64 {
	if c.total == 0 {
		return 100
	}
	return 100 * float64(c.same) / float64(c.total)
}

const maxDiffs = 20000

func (f *fidelity) percent() float64 {
	return (&tally{f.same, f.total}).percent()
}

// verboseProto finds the protocol in tcpdump -v's IP and IP6 headers.
var verboseProto = regexp.MustCompile(`^(IP6?) \(.*?(?:proto|next-header) ([A-Za-z0-9-]+) \(`)

// lineProtocol names the protocol of a tcpdump line for the breakdown: its
// first word, and for IP and IP6 lines the first word after the
// addresses ("IP UDP", "IP6 Flags" for TCP, "IP 53" style words are put
// under "IP other").
func lineProtocol(line string) string {
	line = sll2Prefix.ReplaceAllString(line, "")
	word, rest, _ := strings.Cut(line, " ")
	word = strings.TrimRight(word, ",:")
	if m := verboseProto.FindStringSubmatch(line); m != nil {
		return m[1] + " " + m[2] // tcpdump -v: "IP (..., proto TCP (6), ...)"
	}
	if strings.Contains(line, ", ethertype ") && strings.Count(word, ":") == 5 {
		return "unknown ethertype"
	}
	switch word {
	case "IP", "IP6":
		_, after, ok := strings.Cut(rest, ": ")
		if !ok {
			return word
		}
		w, _, _ := strings.Cut(after, " ")
		w = strings.TrimRight(w, ",:")
		switch {
		case w == "Flags":
			return word + " TCP"
		case w == "" || strings.IndexFunc(w, func(r rune) bool { return r < 'A' || r > 'z' }) >= 0:
			return word + " other"
		}
		return word + " " + w
	case "":
		return "(empty)"
	}
	if len(word) > 24 {
		word = word[:24]
	}
	return word
}

func (f *fidelity) count(path, proto string, same bool) {
	if f.byProto == nil {
		f.byProto, f.byFile = map[string]*tally{}, map[string]*tally{}
	}
	for _, c := range []*tally{f.tally(f.byProto, proto), f.tally(f.byFile, filepath.Base(path))} {
		c.total++
		if same {
			c.same++
		}
	}
	f.total++
	if same {
		f.same++
	}
}

func (f *fidelity) tally(m map[string]*tally, key string) *tally {
	c := m[key]
	if c == nil {
		c = &tally{}
		m[key] = c
	}
	return c
}

// compareCapture summarises the packets of path with a new Summarizer built
// from opts and compares each line with what tcpdump (run with extra
// flags) printed for it.
func (f *fidelity) compareCapture(t testing.TB, path string, opts Options, extra ...string) {
	t.Helper()
	f.compareCaptureWith(t, path, opts, nil, extra...)
}

// compareCaptureWith is compareCapture with each summary passed through
// view (as the CLI passes it through decode.Quiet and decode.LinkLine
// for -q and -e) before it is compared.
func (f *fidelity) compareCaptureWith(t testing.TB, path string, opts Options, view func(p corpusPacket, summary string) string, extra ...string) {
	t.Helper()
	want := tcpdumpPackets(t, path, extra...)
	pkts := readCapture(t, path)
	s := NewSummarizerOptions(opts)
	s.InterfaceName = localInterfaceName
	for i, w := range want {
		proto := lineProtocol(w[0])
		var got []string
		if i < len(pkts) {
			p := pkts[i]
			sum := s.Summary(p.linkType, p.data, p.wireLen)
			if view != nil {
				sum = view(p, sum)
			}
			got = strings.Split(sum, "\n")
		}
		for j, wl := range w {
			g := "<no line>"
			if j < len(got) {
				g = got[j]
			}
			f.count(path, proto, g == wl)
			if g != wl {
				f.addDiff(path, i, j, g, wl)
			}
		}
	}
}

// report logs the breakdown per protocol and per file, largest gap first,
// with the command that reproduces it.
func (f *fidelity) report(t testing.TB, what, command string) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d of %d lines identical (%.1f%%), measured by\n\t%s\n", what, f.same, f.total, f.percent(), command)
	for _, part := range []struct {
		name string
		m    map[string]*tally
	}{{"protocol", f.byProto}, {"file", f.byFile}} {
		keys := make([]string, 0, len(part.m))
		for k := range part.m {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			a, c := part.m[keys[i]], part.m[keys[j]]
			if ga, gc := a.total-a.same, c.total-c.same; ga != gc {
				return ga > gc
			}
			return keys[i] < keys[j]
		})
		fmt.Fprintf(&b, "%-40s %7s %7s %7s %6s\n", "by "+part.name, "lines", "same", "differ", "%")
		for _, k := range keys {
			c := part.m[k]
			fmt.Fprintf(&b, "%-40s %7d %7d %7d %6.1f\n", k, c.total, c.same, c.total-c.same, c.percent())
		}
	}
	t.Log(b.String())
}

func (f *fidelity) addDiff(path string, i, line int, got, want string) {
	if len(f.diffs) < maxDiffs {
		f.diffs = append(f.diffs, fmt.Sprintf("%s #%d.%d\n  ours    %s\n  tcpdump %s", filepath.Base(path), i+1, line+1, got, want))
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

// TestSummaryLabCaptureFidelity runs the comparisons (plain, -S and -v) of
// TestSummaryLabFidelity on a capture that test recorded once
// (testdata/lab.pcap, kept with PRD_DECODE_LAB_PCAP), so that it also
// runs without root.
func TestSummaryLabCaptureFidelity(t *testing.T) {
	needTcpdump(t)
	for _, c := range []struct {
		opts  Options
		flags []string
	}{{Options{}, nil}, {Options{AbsoluteSeq: true}, []string{"-S"}}, {Options{Verbose: true}, []string{"-v"}}} {
		var f fidelity
		f.compareCapture(t, filepath.Join("testdata", "lab.pcap"), c.opts, c.flags...)
		f.report(t, fmt.Sprintf("testdata/lab.pcap, tcpdump -n %v", c.flags), "go test -run 'TestSummaryLabCaptureFidelity$' -v ./internal/decode/")
		if f.total < 50 || f.percent() < labFidelityMin {
			t.Errorf("fidelity %.1f%% of %d lines < %.0f%%:\n%s", f.percent(), f.total, labFidelityMin, strings.Join(f.diffs, "\n"))
		}
	}
}
