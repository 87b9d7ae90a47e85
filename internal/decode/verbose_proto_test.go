package decode

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// verboseFiles are corpus captures whose tcpdump -v lines the
// protocol decoders of verbose_*.go must reproduce, each with the share
// (floored, in percent) measured when the decoder was written. Before
// those decoders each was far below its floor.
var verboseFiles = []struct {
	file string
	min  float64
}{
	{"zeek_erspan.pcap", 99},                      // GRE flags and the inner packet on a line of its own
	{"zeek_tunnels_gre-sample.pcap", 98},          // GRE
	{"tcpdump_ppp-invalid-lengths.pcap", 100},     // IPCP options, bogus lengths
	{"libpcap_filter_pppoes.pcap", 100},           // LCP echo with trailing data
	{"tcpdump_OSPFv2_Capture_FINAL.pcapng", 100},  // OSPFv2 with MD5, LLS, every packet type
	{"tcpdump_OSPFv3_with_AH.pcap", 100},          // OSPFv3 hello and DD under AH
	{"tcpdump_OSPFv3_NBMA_adjacencies.pcap", 100}, // OSPFv3
	{"tcpdump_ospf3_auth.pcapng", 100},            // OSPFv3 LLS and authentication trailer
}

// TestVerboseProtocolFiles compares our -v lines with tcpdump -v's on
// each capture of verboseFiles, tcpdump's line count being the
// denominator.
//
//	go test -run 'TestVerboseProtocolFiles$' -v ./internal/decode/
func TestVerboseProtocolFiles(t *testing.T) {
	needTcpdump(t)
	dir := requireCorpus(t)
	for _, c := range verboseFiles {
		t.Run(c.file, func(t *testing.T) {
			var f fidelity
			f.compareCapture(t, filepath.Join(dir, c.file), Options{Verbose: true}, "-v")
			if f.total == 0 || f.percent() < c.min {
				n := min(len(f.diffs), 10)
				t.Errorf("%s: %.1f%% of %d lines identical to tcpdump -v, want >= %.0f%%; first differences:\n%s",
					c.file, f.percent(), f.total, c.min, strings.Join(f.diffs[:n], "\n"))
			}
			t.Logf("%.1f%% of %d lines", f.percent(), f.total)
		})
	}
}

// FuzzSummaryVerbose checks that no input makes the -v, -e and -q
// decoders panic, starting from the packets of verboseFiles.
func FuzzSummaryVerbose(f *testing.F) {
	for _, c := range verboseFiles {
		path := filepath.Join(corpusDir, c.file)
		if _, err := os.Stat(path); err != nil {
			continue
		}
		for i, p := range readCapture(f, path) {
			if i >= 8 {
				break
			}
			f.Add(p.linkType, p.data, p.wireLen)
		}
	}
	sums := []*Summarizer{NewSummarizerOptions(Options{Verbose: true}),
		NewSummarizerOptions(Options{Verbose: true, Link: true, Quiet: true}), NewSummarizerOptions(Options{Link: true})}
	f.Fuzz(func(t *testing.T, linkType uint32, data []byte, wireLen int) {
		for _, s := range sums {
			if got := s.Summary(linkType, data, wireLen); got == "" {
				t.Errorf("empty summary")
			}
		}
	})
}
