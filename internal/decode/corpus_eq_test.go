package decode

import "testing"

// corpusLinkLevelMin and corpusQuietMin are the shares of tcpdump -e's
// and tcpdump -q's lines for the corpus that LinkLine and Quiet (over
// Summary, as the CLI composes them) must reproduce: floors at the
// measured figures.
const (
	corpusLinkLevelMin = 95.0
	corpusQuietMin     = 96.0
)

// TestSummaryCorpusLinkLevel compares every line tcpdump -n -e prints for
// the corpus captures with LinkLine over our summary, as
// TestSummaryCorpusFidelity does for the plain lines.
//
//	go test -run 'TestSummaryCorpusLinkLevel$' -v ./internal/decode/
func TestSummaryCorpusLinkLevel(t *testing.T) {
	needTcpdump(t)
	var f fidelity
	for _, path := range corpusFiles(t) {
		f.compareCaptureWith(t, path, Options{Link: true}, func(p corpusPacket, sum string) string {
			return LinkLine(p.linkType, p.data, p.wireLen, sum, false)
		}, "-e")
	}
	f.writeDiffs(t)
	f.report(t, "corpus, tcpdump -n -e", "go test -run 'TestSummaryCorpusLinkLevel$' -v ./internal/decode/")
	if f.percent() < corpusLinkLevelMin {
		t.Errorf("corpus -e fidelity %.1f%% < %.0f%%", f.percent(), corpusLinkLevelMin)
	}
}

// TestSummaryCorpusQuiet does the same for tcpdump -n -q and Quiet.
//
//	go test -run 'TestSummaryCorpusQuiet$' -v ./internal/decode/
func TestSummaryCorpusQuiet(t *testing.T) {
	needTcpdump(t)
	var f fidelity
	for _, path := range corpusFiles(t) {
		f.compareCaptureWith(t, path, Options{Quiet: true}, func(p corpusPacket, sum string) string {
			return Quiet(p.linkType, p.data, sum)
		}, "-q")
	}
	f.writeDiffs(t)
	f.report(t, "corpus, tcpdump -n -q", "go test -run 'TestSummaryCorpusQuiet$' -v ./internal/decode/")
	if f.percent() < corpusQuietMin {
		t.Errorf("corpus -q fidelity %.1f%% < %.0f%%", f.percent(), corpusQuietMin)
	}
}

// corpusLinkQuietMin is the floor for tcpdump -e -q's lines, composed as
// the CLI composes them: Quiet, then LinkLine.
const corpusLinkQuietMin = 96.0

// TestSummaryCorpusLinkLevelQuiet does the same for tcpdump -n -e -q.
//
//	go test -run 'TestSummaryCorpusLinkLevelQuiet$' -v ./internal/decode/
func TestSummaryCorpusLinkLevelQuiet(t *testing.T) {
	needTcpdump(t)
	var f fidelity
	for _, path := range corpusFiles(t) {
		f.compareCaptureWith(t, path, Options{Link: true, Quiet: true}, func(p corpusPacket, sum string) string {
			return LinkLine(p.linkType, p.data, p.wireLen, Quiet(p.linkType, p.data, sum), true)
		}, "-e", "-q")
	}
	f.writeDiffs(t)
	f.report(t, "corpus, tcpdump -n -e -q", "go test -run 'TestSummaryCorpusLinkLevelQuiet$' -v ./internal/decode/")
	if f.percent() < corpusLinkQuietMin {
		t.Errorf("corpus -e -q fidelity %.1f%% < %.0f%%", f.percent(), corpusLinkQuietMin)
	}
}
