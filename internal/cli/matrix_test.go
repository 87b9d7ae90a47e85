package cli_test

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// TestMatrix is the differential test of packet selection. Its inputs are
// every corpus capture libpcap reads, the pcap ones converted with editcap
// -F pcapng, and mergecap merges (by time and -a; of one link type and of
// several; several interfaces). Each is imported, and for a sample of
// filters and time windows, query --count, replay --display-only and
// export must select exactly the packets that the independent tools
// select on the original files:
//
//   - filters: tcpdump (libpcap 1.10.3) on the original files, or the
//     verdicts libpcap recorded in filters/verdicts.tsv for the filters
//     taken from there. libpcap compiles a filter for the file's link
//     type, so a merged packet is judged by the program of its own file.
//     A filter libpcap refuses for a link type must be refused.
//   - times: tshark's frame.time_epoch of each packet (tcpdump's printed
//     time where Wireshark reads the file otherwise, or not at all); a
//     window selects the packets whose time is in [since, until].
//   - exports: tcpdump's text (-xx -tt --nano -n -S) of the export must
//     equal its text of the same packets in the original files; exports
//     with several link types, which libpcap cannot read, are compared
//     packet by packet with the merge as tshark reads both.
//
// Files with invalid sub-second fields (tcpdump_timestamp_invalid_* and a
// few fuzzed files) have no windows: the importer carries those fields
// into the seconds, and libpcap and Wireshark print them each their own
// way. Their exports are compared without the time.
//
// The test must stay fast: the CLI runs in this process (cli.Main, all
// that main does; a process start costs more than most calls), and the
// witnesses run in few invocations: tshark once for all files (pcapng
// files joined are one file of several sections), tcpdump once per filter
// and link type (mergecap -a joins the files of a link type), and once
// per input for its exports.
func TestMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: imports every corpus capture and runs the witnesses over them")
	}
	requireCorpus(t)
	for _, tool := range []string{"tcpdump", "tshark", "editcap", "mergecap"} {
		testkit.RequireTool(t, tool)
	}
	began := time.Now()
	m := &matrix{dir: t.TempDir(), workers: min(runtime.NumCPU(), 4),
		skipped: map[string]int{}, unsupported: map[string]int{}}

	if err := m.loadSources(t); err != nil {
		t.Fatal(err)
	}
	if err := m.witnessPackets(); err != nil {
		t.Fatal(err)
	}
	if err := m.witnessTimes(); err != nil {
		t.Fatal(err)
	}
	if err := m.witnessFilters(); err != nil {
		t.Fatal(err)
	}
	if err := m.buildInputs(); err != nil {
		t.Fatal(err)
	}
	if err := m.mapPackets(); err != nil {
		t.Fatal(err)
	}
	witnessed := time.Since(began)
	m.parallel(len(m.inputs), func(i int) { m.check(m.inputs[i]) })
	m.checkTsharkExports()
	t.Logf("witnesses %v, checks %v", witnessed.Round(time.Millisecond), (time.Since(began) - witnessed).Round(time.Millisecond))
	m.report(t)
}

// matrixFilters are tried on every source; tcpdump decides which compile
// for its link type. A filter libpcap refuses must be refused by us too.
var matrixFilters = []string{"", "ip", "not udp", "tcp", "icmp or icmp6", "port 53", "ip6", "vlan", "tcp[13] & 2 != 0"}

const (
	// verdictFilters is how many filters of filters/verdicts.tsv that
	// select some but not all packets of a file are added to its sample.
	verdictFilters = 3
	// maxReported disagreements are printed in full; the rest are counted.
	maxReported = 50
)

// Derived sources: copies of corpus files moved in time by editcap -t so
// that their first packet falls the given time after the first packet of
// another file, whose packets they then interleave with in a merge.
var matrixShifted = []struct {
	file, into string
	after      time.Duration
}{
	{"zeek_workshop_2011_browse.pcap", "zeek_wikipedia.pcap", time.Second},
	{"tcpdump_bgp-4byte-asn.pcap", "zeek_wikipedia.pcap", 3 * time.Second},
	{"zeek_tls_irc-starttls.pcap", "zeek_wikipedia.pcap", 500 * time.Millisecond},
	{"zeek_redis_set.pcap", "zeek_wikipedia.pcap", 2 * time.Second},
}

// Merges, of single-interface pcap sources (corpus files or the shifted
// copies, named "FILE+"). By time, mergecap -I none keeps one interface
// per file, so a merged packet's interface names its file; -a keeps the
// files in order, and merges identical interfaces into one, so the
// backwards jump is inside one interface.
var matrixMerges = []struct {
	name  string
	args  []string // mergecap's options
	files []string
}{
	{"mergecap -I none (by time): 3 EN10MB files interleaved", []string{"-I", "none"},
		[]string{"zeek_wikipedia.pcap", "zeek_workshop_2011_browse.pcap+", "tcpdump_bgp-4byte-asn.pcap+"}},
	{"mergecap -a: 2 EN10MB files whose times interleave", []string{"-a"},
		[]string{"zeek_wikipedia.pcap", "zeek_workshop_2011_browse.pcap+"}},
	{"mergecap -a -F pcap: 2 EN10MB files whose times interleave", []string{"-a", "-F", "pcap"},
		[]string{"zeek_workshop_2011_browse.pcap+", "zeek_wikipedia.pcap"}},
	{"mergecap -I none (by time): EN10MB, LINUX_SLL, NULL interleaved, and RAW", []string{"-I", "none"},
		[]string{"zeek_wikipedia.pcap", "zeek_tls_irc-starttls.pcap+", "zeek_redis_set.pcap+", "zeek_rotation.pcap"}},
	{"mergecap -a: NULL, LINUX_SLL, EN10MB, RAW (times jump back)", []string{"-a"},
		[]string{"zeek_redis_set.pcap", "zeek_tls_irc-starttls.pcap", "zeek_wikipedia.pcap", "zeek_rotation.pcap"}},
}

// matrix holds the sources, the inputs made of them and the results.
type matrix struct {
	dir     string
	workers int
	sources []*source          // corpus files, conversions that differ, shifted copies
	byName  map[string]*source // by file name; shifted copies end in "+"
	inputs  []*input

	mu       sync.Mutex
	checks   int
	combos   int
	windows  int
	filters  int
	product  int // sum over inputs of filters x windows
	bad      []disagreement
	notes    []string       // witness inconsistencies (not failures of ours)
	tsharkEx []tsharkExport // exports left for tshark
	skipped  map[string]int // filters not checked on merges, by reason
	// unsupported counts the checks our compiler refused with "filtering
	// on link type X is not supported", by link type.
	unsupported map[string]int
}

var unsupportedRE = regexp.MustCompile(`filtering on link type (\S+) is not supported`)

func unsupportedLinkType(got string) (string, bool) {
	if m := unsupportedRE.FindStringSubmatch(got); m != nil {
		return m[1], true
	}
	return "", false
}

// disagreement is one check where we differ from the witnesses.
type disagreement struct {
	cause string // input kind and check
	msg   string
}

// source is a capture file as the witnesses see it.
type source struct {
	name, path  string
	dlt         string            // libpcap's DLT name, from the manifest
	pcapng      bool              // already pcapng: not converted
	filters     []string          // the sample tried on it
	recorded    map[string]string // filter -> packets libpcap accepts, from verdicts.tsv
	alone       bool              // not concatenated with others of its link type
	pkts        []wpkt
	verdicts    map[string]*verdict   // by filter
	badTime     bool                  // no times to window by: invalid sub-second fields, or none printed
	conv        string                // its editcap -F pcapng conversion, if any
	convSrc     *source               // the conversion, if tcpdump prints it otherwise
	convRefused bool                  // libpcap refuses the conversion: no input
	frames      []testkit.TsharkFrame // tshark's view of it (or of its conversion)
}

// wpkt is one packet of a source.
type wpkt struct {
	ts   int64  // ns since the epoch
	tsOK bool   // tcpdump printed its time (not "[Invalid header...]")
	text string // tcpdump's lines for it, unfiltered
}

// verdict is what libpcap does with a filter on a source.
type verdict struct {
	refused string   // tcpdump's error, if it cannot compile the filter
	text    []string // per packet: tcpdump's lines for it, "" if rejected
}

// input is a file we import.
type input struct {
	id         int
	name, kind string // kind: corpus, pcapng, merge
	path       string
	srcs       []*source
	pkts       []ref
	multiLink  bool                  // several link types: libpcap cannot read the export
	appended   bool                  // mergecap -a: its files one after the other
	light      bool                  // a conversion: fewer checks
	frames     []testkit.TsharkFrame // tshark's view of a merge
}

// ref is an input's packet: packet i of source src, at time ts.
type ref struct {
	src *source
	i   int
	ts  int64
}

// tsharkExport is an export with several link types, compared after all
// inputs through one tshark run.
type tsharkExport struct {
	in   *input
	f    string
	w    window
	path string
	want []int // the input's packet numbers it must hold
}

// loadSources lists the corpus files libpcap reads and picks their filters.
func (m *matrix) loadSources(t *testing.T) error {
	// The partial verdicts of each file, one filter per distinct result.
	partial := map[string][]string{} // file -> filters
	recorded := map[string]string{}  // file, filter -> "packets:accepted"
	seen := map[string]bool{}
	for _, r := range testkit.MustReadTSV(t, filepath.Join(corpusDir, "filters", "verdicts.tsv")) {
		file, acc := r["pcap"], r["accepted"]
		if acc == "" || acc == "all" || seen[file+"\t"+acc] {
			continue
		}
		seen[file+"\t"+acc] = true
		partial[file] = append(partial[file], r["expr"])
		recorded[file+"\t"+r["expr"]] = r["packets"] + ":" + acc
	}
	m.byName = map[string]*source{}
	for _, row := range manifest(t) {
		if row["libpcap_read"] != "ok" {
			continue
		}
		s := &source{
			name:     row["file"],
			path:     filepath.Join(corpusDir, "pcap", row["file"]),
			dlt:      strings.Fields(row["linktype"] + " ? ?")[1],
			pcapng:   strings.HasPrefix(row["format"], "pcapng"),
			filters:  slices.Clone(matrixFilters),
			recorded: map[string]string{},
		}
		// Sub-second fields of a second or more (tcpdump_timestamp_invalid_*
		// and a few fuzzed files): the importer carries them into the
		// seconds, libpcap and Wireshark print them each their own way, so
		// these files get no windows and their exports are compared
		// without the time.
		s.badTime = hasInvalidFraction(t, s.path)
		// A few of the file's partial verdicts, spread over the list.
		if p := partial[s.name]; len(p) > 0 {
			for k := range min(verdictFilters, len(p)) {
				f := p[k*(len(p)-1)/max(verdictFilters-1, 1)]
				if !slices.Contains(s.filters, f) {
					s.filters = append(s.filters, f)
					s.recorded[f] = recorded[s.name+"\t"+f]
				}
			}
		}
		m.sources = append(m.sources, s)
		m.byName[s.name] = s
	}
	if len(m.sources) < 150 {
		return fmt.Errorf("only %d corpus captures libpcap reads", len(m.sources))
	}
	return nil
}

// witnessPackets prints every source with tcpdump, makes the shifted
// copies, and converts the pcap sources to pcapng.
func (m *matrix) witnessPackets() error {
	errs := make([]error, len(m.sources))
	m.parallel(len(m.sources), func(i int) { errs[i] = m.sources[i].witnessPackets() })
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := m.shiftSources(); err != nil {
		return err
	}
	errs = make([]error, len(m.sources))
	m.parallel(len(m.sources), func(i int) {
		if s := m.sources[i]; !s.pcapng {
			errs[i] = m.convert(s, filepath.Join(m.dir, fmt.Sprintf("conv-%03d.pcapng", i)))
		}
	})
	for _, s := range slices.Clone(m.sources) {
		if s.convSrc != nil {
			m.sources = append(m.sources, s.convSrc)
		}
	}
	return errors.Join(errs...)
}

// witnessPackets reads the source with tcpdump: every packet's text and
// time. -S (absolute TCP sequence numbers) keeps a packet's text
// independent of the packets before it, which filters and windows remove.
func (s *source) witnessPackets() error {
	all, refused, err := testkit.TcpdumpPackets(s.path, "")
	if err != nil || refused != "" {
		return fmt.Errorf("%s: tcpdump: %v %s", s.name, err, refused)
	}
	s.pkts = make([]wpkt, len(all))
	for i, b := range all {
		s.pkts[i].text = b
		s.pkts[i].ts, s.pkts[i].tsOK = testkit.ParseEpoch(testkit.PacketTime(b))
	}
	s.verdicts = map[string]*verdict{"": {text: all}}
	return nil
}

// shiftSources makes the shifted copies the merges use.
func (m *matrix) shiftSources() error {
	for k, sh := range matrixShifted {
		orig, into := m.byName[sh.file], m.byName[sh.into]
		if orig == nil || into == nil || len(orig.pkts) == 0 || len(into.pkts) == 0 {
			return fmt.Errorf("shift %s into %s: not in the corpus", sh.file, sh.into)
		}
		// Whole microseconds: the files are microsecond pcap.
		delta := (into.pkts[0].ts + sh.after.Nanoseconds() - orig.pkts[0].ts) / 1000 * 1000
		s := &source{
			name:    sh.file + "+",
			path:    filepath.Join(m.dir, fmt.Sprintf("shifted-%d.pcap", k)),
			dlt:     orig.dlt,
			filters: slices.Clone(matrixFilters),
		}
		if _, stderr, err := testkit.RunTool("editcap", "-t", secondsText(delta), orig.path, s.path); err != nil {
			return fmt.Errorf("editcap -t: %s", stderr)
		}
		if err := s.witnessPackets(); err != nil {
			return err
		}
		m.sources = append(m.sources, s)
		m.byName[s.name] = s
	}
	return nil
}

// convert writes the source as pcapng with editcap. When tcpdump prints
// the conversion otherwise than the original (editcap changed a link type
// or a time), the conversion is witnessed as a source of its own.
func (m *matrix) convert(s *source, conv string) error {
	if _, stderr, err := testkit.RunTool("editcap", "-F", "pcapng", s.path, conv); err != nil {
		// Link types Wireshark does not know (DSA tags, MFR, ...).
		m.note("%s: editcap cannot convert it: %s", s.name, firstLine(stderr))
		return nil
	}
	s.conv = conv
	got, _, err := testkit.TcpdumpPackets(conv, "")
	if err != nil {
		// Packets longer than the snaplen editcap gave the interface:
		// tshark reads it, but it is no input without its witness.
		msg := err.Error()
		m.note("%s: libpcap refuses its editcap -F pcapng conversion (%s): not imported", s.name, msg[strings.LastIndex(msg, ": ")+2:])
		s.convRefused = true
		return nil
	}
	if slices.Equal(got, s.verdicts[""].text) {
		return nil
	}
	m.note("%s: tcpdump prints its editcap -F pcapng conversion differently: witnessed on its own", s.name)
	s.convSrc = &source{name: s.name + " (editcap -F pcapng)", path: conv, dlt: s.dlt, pcapng: true, filters: s.filters, alone: true}
	return s.convSrc.witnessPackets()
}

// witnessFilters finds which packets of each source its filters select:
//   - the filters of matrixFilters with one tcpdump run per link type
//     over all the sources of that link type (mergecap -a), each source
//     taking its own packets' verdicts; a source that tcpdump prints
//     otherwise there than alone (a snaplen that cut its packets, a
//     time Wireshark reads otherwise), or whose packets tshark counts
//     otherwise, runs them alone;
//   - the filters from verdicts.tsv: libpcap's recorded verdicts on the
//     file, each packet's text that of the unfiltered run (-S makes them
//     the same);
//   - everything else with tcpdump on the source alone.
func (m *matrix) witnessFilters() error {
	groups := map[string][]*source{}
	for _, s := range m.sources {
		// Wireshark's tools concatenate: they must read the same packets.
		if !s.alone && !s.badTime && len(s.pkts) > 0 && len(s.frames) == len(s.pkts) {
			groups[s.dlt] = append(groups[s.dlt], s)
		}
	}
	var jobs [][]*source
	for _, g := range groups {
		if len(g) > 1 {
			jobs = append(jobs, g)
		}
	}
	errs := make([]error, len(jobs))
	m.parallel(len(jobs), func(i int) {
		errs[i] = m.witnessGroup(jobs[i], filepath.Join(m.dir, fmt.Sprintf("group-%d.pcap", i)))
	})
	if err := errors.Join(errs...); err != nil {
		return err
	}
	// The rest, one tcpdump run per source and filter, the runs in
	// parallel and the verdicts recorded in order.
	type run struct {
		s       *source
		f       string
		got     []string
		refused string
	}
	var runs []*run
	for _, s := range m.sources {
		for _, f := range s.filters[1:] {
			if s.verdicts[f] != nil {
				continue
			}
			if rec := s.recorded[f]; rec != "" && s.fromRecord(f, rec) {
				continue
			}
			runs = append(runs, &run{s: s, f: f})
		}
	}
	errs = make([]error, len(runs))
	m.parallel(len(runs), func(i int) {
		runs[i].got, runs[i].refused, errs[i] = testkit.TcpdumpPackets(runs[i].s.path, runs[i].f)
	})
	for _, r := range runs {
		errs = append(errs, r.s.setVerdict(r.f, r.got, r.refused))
	}
	return errors.Join(errs...)
}

// witnessGroup runs the filters of matrixFilters over the sources of one
// link type concatenated.
func (m *matrix) witnessGroup(group []*source, path string) error {
	if group = concatenable(group, path); len(group) < 2 {
		return nil
	}
	all, _, err := testkit.TcpdumpPackets(path, "")
	if err != nil {
		return err
	}
	// owner[i] is the source of the concatenation's packet i, -1 for a
	// source that tcpdump prints otherwise alone.
	owner := make([]int, 0, len(all))
	valid := make([]bool, len(group))
	for k, s := range group {
		start, own := len(owner), s.verdicts[""].text
		valid[k] = start+len(own) <= len(all) && slices.Equal(all[start:start+len(own)], own)
		o := k
		if !valid[k] {
			o = -1
		}
		for range own {
			owner = append(owner, o)
		}
	}
	if len(owner) != len(all) {
		m.note("%s and %d more: mergecap concatenates %d packets, tcpdump reads %d alone: filters run on each", group[0].name, len(group)-1, len(all), len(owner))
		return nil
	}
	keys := make([]string, len(all))
	for i, b := range all {
		keys[i] = testkit.PacketKey(b)
	}
	for _, f := range matrixFilters[1:] {
		got, refused, err := testkit.TcpdumpPackets(path, f)
		if err != nil {
			return err
		}
		each := make([][]string, len(group))
		j := 0
		for _, b := range got {
			for j < len(keys) && keys[j] != testkit.PacketKey(b) {
				j++
			}
			if j == len(keys) {
				return fmt.Errorf("%s: tcpdump %q printed a packet its unfiltered run did not: %s", path, f, firstLine(b))
			}
			if owner[j] >= 0 {
				each[owner[j]] = append(each[owner[j]], b)
			}
			j++
		}
		for k, s := range group {
			if valid[k] {
				if err := s.setVerdict(f, each[k], refused); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// concatenable concatenates the sources into path as one nanosecond pcap
// file, leaving out those mergecap cannot write so (pcapng blocks pcap
// cannot hold): it halves the group until each half can be written.
func concatenable(group []*source, path string) []*source {
	concatenate := func(g []*source) error {
		args := []string{"-a", "-F", "nsecpcap", "-w", path}
		for _, s := range g {
			args = append(args, s.path)
		}
		_, _, err := testkit.RunTool("mergecap", args...)
		return err
	}
	if concatenate(group) == nil {
		return group
	}
	if len(group) == 1 {
		return nil
	}
	h := len(group) / 2
	ok := append(concatenable(group[:h], path), concatenable(group[h:], path)...)
	if len(ok) == 0 || concatenate(ok) != nil {
		return nil
	}
	return ok
}

// setVerdict records what tcpdump printed with a filter: the packets it
// accepted (a subsequence of the unfiltered run), or its refusal.
func (s *source) setVerdict(f string, got []string, refused string) error {
	v := &verdict{refused: refused}
	if refused == "" {
		v.text = make([]string, len(s.pkts))
		j := 0
		for _, b := range got {
			for j < len(s.pkts) && testkit.PacketKey(s.pkts[j].text) != testkit.PacketKey(b) {
				j++
			}
			if j == len(s.pkts) {
				return fmt.Errorf("%s: tcpdump %q printed a packet its unfiltered run did not: %s", s.name, f, firstLine(b))
			}
			v.text[j] = b
			j++
		}
	}
	s.verdicts[f] = v
	return nil
}

// fromRecord takes a filter's verdict from verdicts.tsv ("packets:ranges"),
// if the file has as many packets as tcpdump reads.
func (s *source) fromRecord(f, rec string) bool {
	n, ranges, _ := strings.Cut(rec, ":")
	if n != fmt.Sprint(len(s.pkts)) {
		return false
	}
	v := &verdict{text: make([]string, len(s.pkts))}
	for _, r := range strings.Split(ranges, ",") {
		lo, hi, isRange := strings.Cut(r, "-")
		a, err1 := strconv.Atoi(lo)
		b, err2 := strconv.Atoi(cmp.Or(hi, lo))
		if err1 != nil || err2 != nil || (isRange && hi == "") || a < 1 || b > len(s.pkts) || a > b {
			return false
		}
		for i := a - 1; i < b; i++ {
			v.text[i] = s.pkts[i].text
		}
	}
	s.verdicts[f] = v
	return true
}

// buildInputs lists what is imported: the corpus files, their pcapng
// conversions and the merges.
func (m *matrix) buildInputs() error {
	for _, s := range m.sources {
		if !strings.HasPrefix(s.path, corpusDir) {
			continue
		}
		m.inputs = append(m.inputs, &input{name: s.name, kind: "corpus", path: s.path, srcs: []*source{s}})
		if s.conv != "" && !s.convRefused {
			m.inputs = append(m.inputs, &input{name: s.name + " (editcap -F pcapng)", kind: "pcapng", path: s.conv,
				srcs: []*source{cmp.Or(s.convSrc, s)}, light: true})
		}
	}
	for k, mg := range matrixMerges {
		in := &input{name: mg.name, kind: "merge", appended: slices.Contains(mg.args, "-a"),
			path: filepath.Join(m.dir, fmt.Sprintf("merge-%d.pcapng", k))}
		if slices.Contains(mg.args, "pcap") {
			in.path = strings.TrimSuffix(in.path, "ng")
		}
		args := append(slices.Clone(mg.args), "-w", in.path)
		for _, f := range mg.files {
			s := m.byName[f]
			if s == nil {
				return fmt.Errorf("%s: no source %s", mg.name, f)
			}
			in.srcs = append(in.srcs, s)
			in.multiLink = in.multiLink || s.dlt != in.srcs[0].dlt
			args = append(args, s.path)
		}
		if _, stderr, err := testkit.RunTool("mergecap", args...); err != nil {
			return fmt.Errorf("%s: mergecap: %s", mg.name, stderr)
		}
		m.inputs = append(m.inputs, in)
	}
	for i, in := range m.inputs {
		in.id = i
	}
	return nil
}

// witnessTimes reads every packet's time with one tshark run over the
// pcapng files (the pcapng originals and the conversions of the others)
// concatenated: each is one pcapng section.
func (m *matrix) witnessTimes() error {
	var files []string
	var owners []func([]testkit.TsharkFrame)
	for _, s := range m.sources {
		switch {
		case s.pcapng:
			files = append(files, s.path)
		case s.conv != "" && s.convSrc == nil:
			files = append(files, s.conv) // the same packets, times included
		default:
			continue
		}
		owners = append(owners, func(f []testkit.TsharkFrame) { s.frames = f })
	}
	sections, err := testkit.TsharkFrames(filepath.Join(m.dir, "sources.pcapng"), files)
	if err != nil {
		// The sources after the one it stopped on keep tcpdump's times.
		m.note("%v", err)
	}
	for k, own := range owners {
		own(sections[k])
	}
	for _, s := range m.sources {
		m.adoptTsharkTimes(s)
	}
	return nil
}

// adoptTsharkTimes takes tshark's times for the source's packets where
// tshark reads the same packets as tcpdump, else keeps tcpdump's.
func (m *matrix) adoptTsharkTimes(s *source) {
	why := ""
	switch {
	case s.frames == nil && s.convSrc != nil:
		why = "its pcapng conversion differs"
	case s.frames == nil:
		why = "tshark reads no packet of it"
	case len(s.frames) != len(s.pkts):
		why = fmt.Sprintf("tshark reads %d packets, tcpdump %d", len(s.frames), len(s.pkts))
	case slices.ContainsFunc(s.frames, func(f testkit.TsharkFrame) bool { return f.Time == "" }):
		why = "tshark gives simple packet blocks no time"
	}
	if why != "" {
		if len(s.pkts) > 0 {
			m.note("%s: times from tcpdump: %s", s.name, why)
		}
		if slices.ContainsFunc(s.pkts, func(p wpkt) bool { return !p.tsOK }) && !s.badTime {
			m.note("%s: tcpdump prints no time for some packet (an invalid header): no windows", s.name)
			s.badTime = true
		}
		return
	}
	for i, f := range s.frames {
		ts, ok := testkit.ParseEpoch(f.Time)
		if !ok {
			s.badTime = true
			continue
		}
		if p := s.pkts[i]; p.tsOK && ts != p.ts && !s.badTime {
			m.note("%s: packet %d: tshark's time %s, tcpdump's %s", s.name, i+1, f.Time, testkit.PacketTime(p.text))
		}
		s.pkts[i].ts = ts
	}
}

// mapPackets gives each input its packets: a file's own; for a merge
// with -a, its files' one after the other; for a merge by time, each
// merged packet's file (its interface, mergecap -I none) in that file's
// order, as tshark reads the merge.
func (m *matrix) mapPackets() error {
	var merges []*input
	var files []string
	for _, in := range m.inputs {
		if in.kind == "merge" && strings.HasSuffix(in.path, ".pcapng") {
			merges = append(merges, in)
			files = append(files, in.path)
		}
	}
	sections, err := testkit.TsharkFrames(filepath.Join(m.dir, "merges.pcapng"), files)
	if err != nil {
		return err
	}
	for k, in := range merges {
		in.frames = sections[k]
	}
	for _, in := range m.inputs {
		if in.kind != "merge" || in.appended {
			for _, s := range in.srcs {
				for i, p := range s.pkts {
					in.pkts = append(in.pkts, ref{s, i, p.ts})
				}
			}
		} else {
			next := make([]int, len(in.srcs))
			for n, f := range in.frames {
				k := f.Interface
				if k < 0 || k >= len(in.srcs) || next[k] >= len(in.srcs[k].pkts) {
					return fmt.Errorf("%s: tshark's packet %d (interface %d) is none of its files'", in.name, n+1, k)
				}
				s := in.srcs[k]
				in.pkts = append(in.pkts, ref{s, next[k], s.pkts[next[k]].ts})
				next[k]++
			}
		}
		if in.kind == "merge" {
			if err := in.checkMerge(); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkMerge checks that the merge holds its files' packets as mapped:
// tshark's count and times, or tcpdump's text of a pcap merge.
func (in *input) checkMerge() error {
	n := 0
	for _, s := range in.srcs {
		n += len(s.pkts)
	}
	if in.frames == nil {
		got, _, err := testkit.TcpdumpPackets(in.path, "")
		if err != nil {
			return err
		}
		if len(got) != n || len(in.pkts) != n {
			return fmt.Errorf("%s: tcpdump reads %d packets, its files hold %d", in.name, len(got), n)
		}
		for i, r := range in.pkts {
			if got[i] != r.src.pkts[r.i].text {
				return fmt.Errorf("%s: tcpdump prints packet %d otherwise than %s prints its packet %d", in.name, i+1, r.src.name, r.i+1)
			}
		}
		return nil
	}
	if len(in.frames) != n || len(in.pkts) != n {
		return fmt.Errorf("%s: tshark reads %d packets, its files hold %d", in.name, len(in.frames), n)
	}
	for i, f := range in.frames {
		if ts, ok := testkit.ParseEpoch(f.Time); !ok || ts != in.pkts[i].ts {
			r := in.pkts[i]
			return fmt.Errorf("%s: packet %d at %s, packet %d of %s at %d ns", in.name, i+1, f.Time, r.i+1, r.src.name, r.ts)
		}
	}
	return nil
}

// window is a time range, as --since and --until give it.
type window struct {
	name               string
	since, until       int64
	hasSince, hasUntil bool
}

func (w window) contains(ts int64) bool {
	return (!w.hasSince || ts >= w.since) && (!w.hasUntil || ts <= w.until)
}

func (w window) args() []string {
	var a []string
	if w.hasSince {
		a = append(a, "--since", rfc3339(w.since))
	}
	if w.hasUntil {
		a = append(a, "--until", rfc3339(w.until))
	}
	return a
}

func (w window) String() string {
	if !w.hasSince && !w.hasUntil {
		return w.name
	}
	return w.name + " " + strings.Join(w.args(), " ")
}

func rfc3339(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }

// windows derives the input's windows from its packets' times: none
// ("all"), the whole span, from the first packet to a middle one, one cut
// in the middle (since between two packets, until on one), each bound
// alone, an empty window between two packets, up to the epoch when there
// are packets on both sides of it, and for the largest backwards jump
// (packet i+1 earlier than packet i) from the time of i+1 to the time of i,
// and each half of that. Inputs with invalid sub-second fields get only
// the unbounded window.
func (in *input) windows() []window {
	ws := []window{{name: "all"}}
	for _, r := range in.pkts {
		if r.src.badTime {
			return ws
		}
	}
	n := len(in.pkts)
	if n == 0 {
		return ws
	}
	ts := make([]int64, n)
	for i, r := range in.pkts {
		ts[i] = r.ts
	}
	u := slices.Clone(ts)
	slices.Sort(u)
	u = slices.Compact(u)
	between := func(k int) int64 { // a time between u[k-1] and u[k], else u[k]
		if k > 0 && u[k]-u[k-1] >= 2 {
			return u[k-1] + (u[k]-u[k-1])/2
		}
		return u[k]
	}
	span := func(name string, a, b int64) window {
		return window{name: name, since: min(a, b), until: max(a, b), hasSince: true, hasUntil: true}
	}
	ws = append(ws,
		span("span", u[0], u[len(u)-1]),
		span("head", ts[0], ts[(n-1)/2]),
		span("middle", between(len(u)/3), u[2*(len(u)-1)/3]),
		window{name: "since", since: u[len(u)/2], hasSince: true},
		window{name: "until", until: u[len(u)/2], hasUntil: true},
	)
	for d := range 2 * len(u) { // the gap nearest the middle
		off := (d + 1) / 2 // 0, 1, -1, 2, -2, ...
		if d%2 == 0 {
			off = -off
		}
		if k := len(u)/2 + off; k >= 0 && k+1 < len(u) && u[k+1]-u[k] >= 3 {
			ws = append(ws, span("gap", u[k]+1, u[k+1]-1))
			break
		}
	}
	if u[0] <= 0 && u[len(u)-1] > 0 {
		ws = append(ws, window{name: "until-epoch", until: 0, hasUntil: true})
	}
	j := -1
	for i := 0; i+1 < n; i++ {
		if ts[i+1] < ts[i] && (j < 0 || ts[i]-ts[i+1] > ts[j]-ts[j+1]) {
			j = i
		}
	}
	if j >= 0 {
		lo, hi := ts[j+1], ts[j]
		mid := lo + (hi-lo)/2
		ws = append(ws, span("jump", lo, hi), span("jump-early", lo, mid), span("jump-late", mid+1, hi))
	}
	// The same bounds twice are one window.
	var out []window
	seen := map[string]bool{}
	for _, w := range ws {
		if key := strings.Join(w.args(), " "); !seen[key] {
			seen[key] = true
			out = append(out, w)
		}
	}
	return out
}

// filterStatus says whether tcpdump compiles f for the input's files:
// "" when it does for all, its error when for none, "mixed" otherwise.
func (in *input) filterStatus(f string) string {
	var refused []string
	for _, s := range in.srcs {
		if r := s.verdicts[f].refused; r != "" {
			refused = append(refused, r)
		}
	}
	switch len(refused) {
	case 0:
		return ""
	case len(in.srcs):
		return refused[0]
	}
	return "mixed"
}

// expect is what a filter and a window select: packet numbers of the
// input (1-based) and tcpdump's text for each.
func (in *input) expect(f string, w window) (nums []int, text []string) {
	for n, r := range in.pkts {
		t := r.src.verdicts[f].text[r.i]
		if t != "" && w.contains(r.ts) {
			nums = append(nums, n+1)
			text = append(text, t)
		}
	}
	return nums, text
}

// check imports the input and runs its sample of filters and windows.
func (m *matrix) check(in *input) {
	db := filepath.Join(m.dir, fmt.Sprintf("input-%03d.db", in.id))
	out, stderr, code := inProcess("import", "-d", db, in.path)
	f := strings.Fields(out)
	if code != 0 || len(f) < 4 || f[0] != "session" {
		m.disagree(in, "import", "", window{name: "-"}, "a session", fmt.Sprintf("exit %d: %s", code, strings.TrimSpace(stderr)))
		return
	}
	sess := strings.TrimSuffix(f[1], ":")
	m.compare(in, "import", "", window{name: "-"}, fmt.Sprint(len(in.pkts)), f[3])

	windows := in.windows()
	var filters []string
	for _, s := range in.srcs {
		for _, f := range s.filters {
			if slices.Contains(filters, f) || (len(in.srcs) > 1 && !slices.Contains(matrixFilters, f)) {
				continue
			}
			switch st := in.filterStatus(f); st {
			case "":
				filters = append(filters, f)
			case "mixed":
				// tcpdump compiles it for some of the files only:
				// there is no one answer to compare with.
				m.skip("filter compiles for some of a merge's link types only")
			default:
				m.checkRefused(in, db, sess, f, st)
			}
		}
	}
	m.mu.Lock()
	m.windows += len(windows)
	m.filters += len(filters)
	m.product += len(windows) * len(filters)
	m.mu.Unlock()

	// The sample, each pair checked with query --count and replay
	// --display-only, and some exported:
	//   - every filter over all packets; exported unfiltered, and on
	//     corpus files when the filter selects some packets but not all;
	//   - every window unfiltered (on conversions, whose windows are their
	//     original's, the span, the middle and those across the
	//     backwards jump); on corpus files those across the jump exported;
	//   - on corpus files and merges, each filter that selects some
	//     packets but not all with one of the other windows in turn, and
	//     with each window across the backwards jump.
	// Merges export everything.
	type combo struct {
		f      string
		w      window
		export bool
	}
	partial := func(f string) bool {
		n, _ := in.expect(f, windows[0])
		return len(n) > 0 && len(n) < len(in.pkts)
	}
	merge := in.kind == "merge"
	var bounded, jumps []window
	for _, w := range windows[1:] {
		if strings.HasPrefix(w.name, "jump") {
			jumps = append(jumps, w)
		} else {
			bounded = append(bounded, w)
		}
	}
	var combos []combo
	for _, f := range filters {
		combos = append(combos, combo{f, windows[0], f == "" || merge || (!in.light && partial(f))})
	}
	for _, w := range bounded {
		if !in.light || w.name == "span" || w.name == "middle" {
			combos = append(combos, combo{"", w, merge})
		}
	}
	for _, w := range jumps {
		combos = append(combos, combo{"", w, !in.light})
	}
	if !in.light {
		i := 0
		for _, f := range filters {
			if f == "" || !partial(f) {
				continue
			}
			if len(bounded) > 0 {
				combos = append(combos, combo{f, bounded[i%len(bounded)], merge})
				i++
			}
			for _, w := range jumps {
				combos = append(combos, combo{f, w, merge})
			}
		}
	}
	var exps []*export
	for k, c := range combos {
		if e := m.checkSelection(in, db, sess, c.f, c.w, c.export, k); e != nil {
			exps = append(exps, e)
		}
	}
	m.checkExports(in, exps)
	m.mu.Lock()
	m.combos += len(combos)
	m.mu.Unlock()
}

// checkRefused: a filter libpcap refuses for the input must be refused.
// libpcap 1.10.3's optimizer refuses some filters that can never match
// ("expression rejects all packets"); selecting nothing is right too.
func (m *matrix) checkRefused(in *input, db, sess, f, reason string) {
	out, _, code := inProcess("query", "-d", db, "-s", sess, "--count", "--filter", f)
	got := fmt.Sprintf("exit %d, %s", code, strings.TrimSpace(out))
	ok := code != 0 || (strings.Contains(reason, "rejects all packets") && strings.TrimSpace(out) == "0")
	m.record(in, "refuse", f, window{name: "all"}, ok, "refused as tcpdump refuses it ("+reason+")", got)
}

// checkSelection compares query --count and replay --display-only with
// what the witnesses select and, if export, exports it for checkExports.
func (m *matrix) checkSelection(in *input, db, sess, f string, w window, exported bool, k int) *export {
	nums, text := in.expect(f, w)
	sel := append([]string{"-d", db, "-s", sess}, w.args()...)
	if f != "" {
		sel = append(sel, "--filter", f)
	}

	out, stderr, code := inProcess(append([]string{"query", "--count"}, sel...)...)
	if code != 0 {
		out = fmt.Sprintf("exit %d: %s", code, strings.TrimSpace(stderr))
	}
	m.compare(in, "query --count", f, w, fmt.Sprint(len(nums)), strings.TrimSpace(out))

	// An empty session is refused by replay, by design.
	if len(in.pkts) > 0 {
		out, stderr, code = inProcess(append([]string{"replay", "--display-only"}, sel...)...)
		got := strings.TrimSpace(stderr)
		if code == 0 {
			got = replayNumbers(out)
		}
		m.compare(in, "replay --display-only", f, w, numberList(nums), got)
	}

	if !exported {
		return nil
	}
	path := filepath.Join(m.dir, fmt.Sprintf("input-%03d-export-%d", in.id, k))
	if _, stderr, code := inProcess(append([]string{"export", "-o", path}, sel...)...); code != 0 {
		m.disagree(in, "export", f, w, numberList(nums), strings.TrimSpace(stderr))
		return nil
	}
	return &export{f: f, w: w, path: path, nums: nums, text: text}
}

// export is an export file waiting for its witness.
type export struct {
	f    string
	w    window
	path string
	nums []int    // the input's packets it must hold
	text []string // tcpdump's text of them
}

// checkExports compares the input's exports with what tcpdump prints of
// the same packets in the original files. The classic pcap ones with the
// same file header are read by one tcpdump run, their records one after
// the other behind that header (tcpdump -V would do, but it reads the
// files after the first one at microsecond precision); exports with
// several link types wait for tshark.
func (m *matrix) checkExports(in *input, exps []*export) {
	if in.multiLink {
		m.mu.Lock()
		defer m.mu.Unlock()
		for _, e := range exps {
			m.tsharkEx = append(m.tsharkEx, tsharkExport{in: in, f: e.f, w: e.w, path: e.path, want: e.nums})
		}
		return
	}
	var batch []*export
	var counts []int
	var header, records []byte
	for _, e := range exps {
		h, recs, n, ok := pcapRecords(e.path)
		if !ok || (header != nil && !bytes.Equal(h, header)) {
			m.checkExport(in, e, nil)
			continue
		}
		header, records = h, append(records, recs...)
		batch, counts = append(batch, e), append(counts, n)
	}
	if len(batch) == 0 {
		return
	}
	path := filepath.Join(m.dir, fmt.Sprintf("input-%03d-exports.pcap", in.id))
	got, err := []string(nil), os.WriteFile(path, append(header, records...), 0o600)
	if err == nil {
		got, _, err = testkit.TcpdumpPackets(path, "")
	}
	if err != nil || len(got) != sum(counts) {
		// One of them is not what tcpdump reads: each on its own.
		for _, e := range batch {
			m.checkExport(in, e, nil)
		}
		return
	}
	for k, e := range batch {
		m.checkExport(in, e, got[:counts[k]])
		got = got[counts[k]:]
	}
}

// checkExport compares one export with what tcpdump prints of the same
// packets in the original files; got is tcpdump's text of the export, nil
// to run tcpdump on it.
func (m *matrix) checkExport(in *input, e *export, got []string) {
	if got == nil {
		var refused string
		var err error
		if got, refused, err = testkit.TcpdumpPackets(e.path, ""); err != nil || refused != "" {
			m.disagree(in, "export", e.f, e.w, "a file tcpdump reads", fmt.Sprintf("%v %s", err, refused))
			return
		}
	}
	if want, have, ok := sameText(e.text, got, in.srcs[0].badTime); !ok {
		m.disagree(in, "export", e.f, e.w, fmt.Sprintf("%s; first difference: %s", numberList(e.nums), want), fmt.Sprintf("%d packets; %s", len(got), have))
		return
	}
	m.record(in, "export", e.f, e.w, true, "", "")
}

// pcapRecords splits a classic pcap file into its header and its
// records, and counts them; ok is false for anything else.
func pcapRecords(path string) (header, records []byte, n int, ok bool) {
	b, err := os.ReadFile(path)
	if err != nil || len(b) < 24 {
		return nil, nil, 0, false
	}
	var bo binary.ByteOrder
	switch binary.LittleEndian.Uint32(b) {
	case 0xa1b2c3d4, 0xa1b23c4d:
		bo = binary.LittleEndian
	case 0xd4c3b2a1, 0x4d3cb2a1:
		bo = binary.BigEndian
	default:
		return nil, nil, 0, false
	}
	off := 24
	for ; off+16 <= len(b); n++ {
		off += 16 + int(bo.Uint32(b[off+8:]))
	}
	return b[:24], b[24:], n, off == len(b)
}

func sum(xs []int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}

// sameText compares tcpdump's text of the expected packets with its text
// of the export, and describes the first difference.
func sameText(want, got []string, ignoreTime bool) (w, g string, same bool) {
	for i := range max(len(want), len(got)) {
		switch {
		case i >= len(got):
			return fmt.Sprintf("packet %d %q", i+1, firstLine(want[i])), "none", false
		case i >= len(want):
			return "none", fmt.Sprintf("packet %d %q", i+1, firstLine(got[i])), false
		}
		wl, gl := strings.Split(want[i], "\n"), strings.Split(got[i], "\n")
		if ignoreTime {
			// Invalid sub-second fields are carried into the seconds on
			// import; tcpdump prints the field as the original has it.
			wl[0], gl[0] = afterTime(wl[0]), afterTime(gl[0])
		}
		for j := range max(len(wl), len(gl)) {
			if j >= len(wl) || j >= len(gl) || wl[j] != gl[j] {
				return fmt.Sprintf("packet %d line %d %q", i+1, j+1, lineAt(wl, j)), fmt.Sprintf("%q", lineAt(gl, j)), false
			}
		}
	}
	return "", "", true
}

func lineAt(lines []string, j int) string {
	if j < len(lines) {
		return lines[j]
	}
	return "<none>"
}

// checkTsharkExports compares the exports with several link types, which
// libpcap cannot read, with the merged inputs packet by packet, both as
// tshark reads them: time, lengths, link type and bytes.
func (m *matrix) checkTsharkExports() {
	if len(m.tsharkEx) == 0 {
		return
	}
	var files []string
	section := map[*input]int{} // the merge's own section
	for _, e := range m.tsharkEx {
		if _, ok := section[e.in]; !ok {
			section[e.in] = len(files)
			files = append(files, e.in.path)
		}
	}
	for _, e := range m.tsharkEx {
		files = append(files, e.path)
	}
	sections, err := testkit.TsharkPackets(filepath.Join(m.dir, "exports.pcapng"), files)
	for k, e := range m.tsharkEx {
		if err != nil {
			m.disagree(e.in, "export (tshark)", e.f, e.w, "an export tshark reads", err.Error())
			continue
		}
		orig, got := sections[section[e.in]], sections[len(section)+k]
		want, have := numberList(e.want), fmt.Sprintf("%d packets", len(got))
		if len(got) == len(e.want) {
			want, have = "", ""
			for i := range got {
				if w := orig[e.want[i]-1]; got[i] != w {
					want, have = fmt.Sprintf("packet %d (the input's %d) %s", i+1, e.want[i], clip(w)), clip(got[i])
					break
				}
			}
		}
		m.compare(e.in, "export (tshark)", e.f, e.w, want, have)
	}
}

// clip shortens a long text for a message.
func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

// describe names a check: input, filter, window.
func describe(in *input, check, f string, w window) string {
	return fmt.Sprintf("%s [%s]: filter %q, window %s: %s", in.name, in.kind, f, w, check)
}

func (m *matrix) compare(in *input, check, f string, w window, want, got string) {
	m.record(in, check, f, w, want == got, want, got)
}

func (m *matrix) disagree(in *input, check, f string, w window, want, got string) {
	m.record(in, check, f, w, false, want, got)
}

func (m *matrix) record(in *input, check, f string, w window, ok bool, want, got string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.checks++
	if ok {
		return
	}
	// Our compiler filters every link type of the corpus that libpcap
	// filters (802.11, radiotap, PPP, HDLC, ...): a refusal of a link
	// type is counted, logged and a disagreement.
	if lt, found := unsupportedLinkType(got); found {
		m.unsupported[lt]++
	}
	m.bad = append(m.bad, disagreement{in.kind + " / " + check, fmt.Sprintf("%s: want %s, got %s", describe(in, check, f, w), want, got)})
}

func (m *matrix) skip(reason string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.skipped[reason]++
}

// note records a witness inconsistency: logged, not a failure of ours.
func (m *matrix) note(format string, args ...any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.notes = append(m.notes, fmt.Sprintf(format, args...))
}

// report logs the matrix and fails with the first disagreements.
func (m *matrix) report(t *testing.T) {
	kinds := map[string]int{}
	for _, in := range m.inputs {
		kinds[in.kind]++
	}
	for _, n := range m.notes {
		t.Logf("witness: %s", n)
	}
	for reason, n := range m.skipped {
		t.Logf("not checked: %d (%s)", n, reason)
	}
	if len(m.unsupported) > 0 {
		var parts []string
		total := 0
		for lt, n := range m.unsupported {
			parts = append(parts, fmt.Sprintf("%s %d", lt, n))
			total += n
		}
		slices.Sort(parts)
		t.Errorf("refused by our compiler, where libpcap filters: %d checks on link types %s", total, strings.Join(parts, ", "))
	}
	t.Logf("matrix: %d inputs (%d corpus files, %d pcapng conversions, %d merges), %d filters and %d windows in all, %d (input, filter, window) triples; %d of them checked, %d checks",
		len(m.inputs), kinds["corpus"], kinds["pcapng"], kinds["merge"], m.filters, m.windows, m.product, m.combos, m.checks)
	if len(m.bad) == 0 {
		return
	}
	slices.SortFunc(m.bad, func(a, b disagreement) int { return cmp.Or(cmp.Compare(a.cause, b.cause), cmp.Compare(a.msg, b.msg)) })
	byCause := map[string][]string{}
	var causes, summary []string
	for _, d := range m.bad {
		if byCause[d.cause] == nil {
			causes = append(causes, d.cause)
		}
		byCause[d.cause] = append(byCause[d.cause], d.msg)
	}
	for _, c := range causes {
		summary = append(summary, fmt.Sprintf("%5d %s", len(byCause[c]), c))
	}
	t.Errorf("%d of %d checks disagree with tcpdump/tshark; by input kind and check:\n%s", len(m.bad), m.checks, strings.Join(summary, "\n"))
	// The first disagreements of each cause in turn, so that every cause
	// shows among those reported.
	reported := 0
	for round := 0; reported < min(len(m.bad), maxReported); round++ {
		for _, c := range causes {
			if round < len(byCause[c]) && reported < maxReported {
				t.Error(byCause[c][round])
				reported++
			}
		}
	}
	if len(m.bad) > reported {
		t.Errorf("... and %d more", len(m.bad)-reported)
	}
}

// parallel runs fn(0..n-1) on the matrix's workers.
func (m *matrix) parallel(n int, fn func(int)) {
	next := make(chan int)
	var wg sync.WaitGroup
	for range m.workers {
		wg.Go(func() {
			for i := range next {
				fn(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

// secondsText is ns as editcap -t reads it: "-12.000345000".
func secondsText(ns int64) string {
	sign := ""
	if ns < 0 {
		sign, ns = "-", -ns
	}
	return fmt.Sprintf("%s%d.%09d", sign, ns/1e9, ns%1e9)
}

// replayNumbers is the packet numbers replay --display-only printed, one
// per line ("N +0.000123s summary"). A summary's own further lines, as
// tcpdump prints them (the hex dump of an unknown ethertype, tab-indented;
// the frame inside VXLAN, on a line of its own), do not start with a
// number and a time.
var replayLine = regexp.MustCompile(`^[0-9]+ [+-]`)

func replayNumbers(out string) string {
	var nums []int
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" || nums != nil && !replayLine.MatchString(line) {
			continue
		}
		first, _, _ := strings.Cut(line, " ")
		n, err := strconv.Atoi(first)
		if err != nil {
			return fmt.Sprintf("unexpected line %q", line)
		}
		nums = append(nums, n)
	}
	return numberList(nums)
}

// numberList writes packet numbers as their count and ranges, as
// verdicts.tsv does: "4 packets: 1-3,7" (at most 20 ranges).
func numberList(nums []int) string {
	if len(nums) == 0 {
		return "no packets"
	}
	var parts []string
	for i := 0; i < len(nums); {
		j := i
		for j+1 < len(nums) && nums[j+1] == nums[j]+1 {
			j++
		}
		switch {
		case len(parts) == 20:
			parts = append(parts, "...")
			i = len(nums)
			continue
		case j > i:
			parts = append(parts, fmt.Sprintf("%d-%d", nums[i], nums[j]))
		default:
			parts = append(parts, fmt.Sprint(nums[i]))
		}
		i = j + 1
	}
	return fmt.Sprintf("%d packets: %s", len(nums), strings.Join(parts, ","))
}

func firstLine(s string) string { l, _, _ := strings.Cut(strings.TrimSpace(s), "\n"); return l }
