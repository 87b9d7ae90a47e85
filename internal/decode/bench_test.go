package decode

import "testing"

// BenchmarkSummaryCorpus summarises the packets of the shared corpus in
// order, with one Summarizer, as query does.
func BenchmarkSummaryCorpus(b *testing.B) {
	var pkts []corpusPacket
	for _, f := range corpusFiles(b) {
		pkts = append(pkts, readCapture(b, f)...)
	}
	s := NewSummarizer()
	var dst []byte
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		p := pkts[i%len(pkts)]
		dst = s.AppendSummary(dst[:0], p.linkType, p.data, p.wireLen)
	}
}
