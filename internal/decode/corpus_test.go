package decode

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/packetrecorderd/packetrecorderd/internal/pcapio"
	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// corpusDir holds the shared corpus's captures (see testkit.CorpusRoot).
var corpusDir = filepath.Join(testkit.CorpusRoot(), "pcap")

type corpusPacket struct {
	linkType uint32
	data     []byte
	wireLen  int
}

// requireCorpus returns the corpus directory, skipping the test when it is
// missing unless CI or PRD_REQUIRE_PRIVILEGED says it must be there.
func requireCorpus(t testing.TB) string {
	t.Helper()
	testkit.Corpus(t, "pcap", "MANIFEST.tsv")
	return corpusDir
}

func corpusFiles(t testing.TB) []string {
	dir := requireCorpus(t)
	var files []string
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if n := e.Name(); strings.HasSuffix(n, ".pcap") || strings.HasSuffix(n, ".pcapng") || strings.HasSuffix(n, ".cap") {
			files = append(files, filepath.Join(dir, n))
		}
	}
	if len(files) == 0 {
		t.Fatalf("no captures in %s", dir)
	}
	return files
}

// readCapture returns the packets of a capture file, as far as it can be
// read (container-malformed files give none or a prefix).
func readCapture(t testing.TB, path string) []corpusPacket {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r, err := pcapio.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil
	}
	var pkts []corpusPacket
	for {
		p, err := r.Next()
		if err != nil {
			return pkts
		}
		pkts = append(pkts, corpusPacket{p.LinkType, bytes.Clone(p.Data), p.OrigLen})
	}
}

// TestSummaryCorpus summarises every packet of every corpus capture, and
// every prefix of the first packets, which must not panic.
func TestSummaryCorpus(t *testing.T) {
	s := NewSummarizer()
	total := 0
	for _, f := range corpusFiles(t) {
		pkts := readCapture(t, f)
		for i, p := range pkts {
			total++
			got := s.Summary(p.linkType, p.data, p.wireLen)
			if got == "" {
				t.Errorf("%s packet %d: empty summary", filepath.Base(f), i+1)
			}
			s.Flow(p.linkType, p.data)
			if err := HexDump(io.Discard, p.data); err != nil {
				t.Fatal(err)
			}
			if i < 3 {
				for n := range len(p.data) {
					s.Summary(p.linkType, p.data[:n], p.wireLen)
				}
			}
		}
	}
	t.Logf("summarised %d packets", total)
	if total < 1000 {
		t.Errorf("only %d corpus packets read", total)
	}
}

// tcpdumpLines runs tcpdump with args on a file and returns one string per
// packet (continuation lines starting with whitespace are dropped).
func tcpdumpLines(t *testing.T, args ...string) []string {
	t.Helper()
	cmd := exec.Command("tcpdump", args...)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("tcpdump %v: %v: %s", args, err, stderr.String())
	}
	var lines []string
	sc := bufio.NewScanner(&out)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines
}

func needTcpdump(t *testing.T) {
	if _, err := exec.LookPath("tcpdump"); err != nil {
		if errors.Is(err, exec.ErrNotFound) && os.Getenv("CI") == "" {
			t.Skip("tcpdump not on PATH")
		}
		t.Fatal(err)
	}
}

var sll2Prefix = regexp.MustCompile(`^\S+\s+(In|Out|B|M|P)\s+`)

// addrPart returns the "IP a.b.c.d.p > e.f.g.h.q:" prefix of a summary line.
func addrPart(line string) string {
	if i := strings.Index(line, ": "); i >= 0 {
		return line[:i+1]
	}
	return line
}

// TestSummaryMatchesTcpdump compares the protocol and address/port part of
// our summaries with tcpdump -n on Ethernet captures of TCP/UDP/ICMP traffic.
func TestSummaryMatchesTcpdump(t *testing.T) {
	needTcpdump(t)
	dir := requireCorpus(t)
	files := []string{
		"zeek_tcp_options.pcap", "tcpdump_print-flags.pcap", "gopacket_test_dns.pcap",
		"zeek_icmp_5-pings.pcap", "zeek_http_pipelined-requests.pcap", "zeek_dns-edns-ecs.pcap",
		"zeek_ssh_ssh_kex_curve25519.pcap", "zeek_smb_smb2readwrite.pcap", "zeek_ftp_ipv6.pcap",
		"zeek_tls_tls1.2.pcap", "zeek_snap-arp.pcapng", "tcpdump_tcp_header_heapoverflow.pcap",
		"zeek_tls_irc-starttls.pcap", "zeek_tls_openjdk-25.0.2-zeek.org.pcap", "zeek_redis_set.pcap",
	}
	s := NewSummarizer()
	for _, name := range files {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name)
			var want []string
			for _, l := range tcpdumpLines(t, "-n", "-t", "-r", path) {
				if l != "" && l[0] != '\t' && l[0] != ' ' {
					want = append(want, l)
				}
			}
			pkts := readCapture(t, path)
			if len(pkts) != len(want) {
				t.Fatalf("%d packets, tcpdump printed %d lines", len(pkts), len(want))
			}
			compared := 0
			for i, p := range pkts {
				got := s.Summary(p.linkType, p.data, p.wireLen)
				// SLL2 lines start with the interface name and direction.
				w := sll2Prefix.ReplaceAllString(want[i], "")
				if strings.HasPrefix(w, "IP ") || strings.HasPrefix(w, "IP6 ") {
					compared++
					if addrPart(got) != addrPart(w) {
						t.Errorf("packet %d:\n ours    %q\n tcpdump %q", i+1, got, w)
					}
				} else if strings.HasPrefix(w, "ARP, ") && got != w {
					t.Errorf("packet %d:\n ours    %q\n tcpdump %q", i+1, got, w)
				}
			}
			if compared == 0 && !strings.Contains(name, "arp") {
				t.Errorf("no IP lines compared")
			}
		})
	}
}

// TestHexDumpMatchesTcpdump compares HexDump byte for byte with tcpdump's
// -XX output (whole frame) and -X output (without the Ethernet header).
func TestHexDumpMatchesTcpdump(t *testing.T) {
	needTcpdump(t)
	dir := requireCorpus(t)
	for _, name := range []string{"zeek_icmp_5-pings.pcap", "tcpdump_print-flags.pcap", "zeek_snap-arp.pcapng", "gopacket_test_dns.pcap"} {
		for _, flag := range []string{"-X", "-XX"} {
			if flag == "-X" && strings.Contains(name, "snap") {
				continue // -X also leaves out the LLC/SNAP header
			}
			t.Run(name+flag, func(t *testing.T) {
				path := filepath.Join(dir, name)
				pkts := readCapture(t, path)
				const n = 5
				out := tcpdumpLines(t, "-n", "-t", flag, "-c", "5", "-r", path)
				var want, got strings.Builder
				for _, l := range out {
					if strings.HasPrefix(l, "\t0x") {
						want.WriteString(l + "\n")
					}
				}
				for _, p := range pkts[:min(n, len(pkts))] {
					d := p.data
					if flag == "-X" {
						d = d[14:]
					}
					if err := HexDump(&got, d); err != nil {
						t.Fatal(err)
					}
				}
				if got.String() != want.String() {
					t.Errorf("HexDump differs from tcpdump %s:\n ours:\n%s\n tcpdump:\n%s", flag, got.String(), want.String())
				}
			})
		}
	}
}

// FuzzSummary checks that no input makes the decoders panic.
func FuzzSummary(f *testing.F) {
	if _, err := os.Stat(corpusDir); err == nil {
		ents, _ := os.ReadDir(corpusDir)
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), ".tsv") {
				continue
			}
			for i, p := range readCapture(f, filepath.Join(corpusDir, e.Name())) {
				if i >= 2 {
					break
				}
				f.Add(p.linkType, p.data, p.wireLen)
			}
		}
	}
	for _, c := range summaryCases(f) {
		f.Add(c.linkType, c.data, len(c.data))
	}
	s := NewSummarizer()
	f.Fuzz(func(t *testing.T, linkType uint32, data []byte, wireLen int) {
		got := s.Summary(linkType, data, wireLen)
		if got == "" {
			t.Errorf("empty summary")
		}
		s.Flow(linkType, data)
		_ = HexDump(io.Discard, data)
	})
}

// corpusFidelityMin is the share of the lines tcpdump -n prints for the
// corpus captures (after the time) that Summary must reproduce exactly.
const corpusFidelityMin = 96.0

// TestSummaryCorpusFidelity compares every line tcpdump -n prints for the
// corpus captures (first lines and the lines continuing them, such as the
// hex dumps of unknown protocols) with our summary of the same packet, and
// fails when fewer than corpusFidelityMin percent are identical; tcpdump's
// line count is the denominator. It logs the figure per protocol and per
// file. Set PRD_DECODE_DIFFS=/some/file to get the differing lines.
//
// The figure is reproduced with
//
//	go test -run 'TestSummaryCorpusFidelity$' -v ./internal/decode/
func TestSummaryCorpusFidelity(t *testing.T) {
	needTcpdump(t)
	var f fidelity
	for _, path := range corpusFiles(t) {
		f.compareCapture(t, path, Options{})
	}
	f.writeDiffs(t)
	f.report(t, "corpus, tcpdump -n", "go test -run 'TestSummaryCorpusFidelity$' -v ./internal/decode/")
	if f.percent() < corpusFidelityMin {
		t.Errorf("corpus fidelity %.1f%% < %.0f%%", f.percent(), corpusFidelityMin)
	}
}

// corpusVerboseMin is the share of tcpdump -v's lines for the corpus that
// Options{Verbose: true} must reproduce exactly: a floor at the measured
// figure (floored). The protocols decoded for it, and the captures each
// is checked on whole, are in verbose_proto_test.go.
const corpusVerboseMin = 97.0

// TestSummaryCorpusVerbose compares every line tcpdump -n -v prints for
// the corpus captures with Options{Verbose: true}, as
// TestSummaryCorpusFidelity does for the plain lines.
//
// The figure is reproduced with
//
//	go test -run 'TestSummaryCorpusVerbose$' -v ./internal/decode/
func TestSummaryCorpusVerbose(t *testing.T) {
	needTcpdump(t)
	var f fidelity
	for _, path := range corpusFiles(t) {
		f.compareCapture(t, path, Options{Verbose: true}, "-v")
	}
	f.writeDiffs(t)
	f.report(t, "corpus, tcpdump -n -v", "go test -run 'TestSummaryCorpusVerbose$' -v ./internal/decode/")
	if f.percent() < corpusVerboseMin {
		t.Errorf("corpus -v fidelity %.1f%% < %.0f%%", f.percent(), corpusVerboseMin)
	}
}
