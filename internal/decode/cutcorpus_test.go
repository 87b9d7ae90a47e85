package decode

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// cutSnaplens are the lengths the corpus captures are cut to for the
// truncated-packet comparisons: an Ethernet + IPv4 + TCP header (54), a
// little more (64, 68: tcpdump's old default), and a few payload bytes
// further (96, 128, 200), as a per-flow cutoff or a snaplen leaves them.
var cutSnaplens = []int{54, 64, 68, 96, 128, 200}

// Floors at the measured figures (floored) for the cut corpus: the share of
// tcpdump's lines for the captures cut by editcap -s that our summaries of
// the same cut packets reproduce exactly.
const (
	cutCorpusFidelityMin = 96.0
	cutCorpusVerboseMin  = 97.0
)

func needEditcap(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("editcap"); err != nil {
		if errors.Is(err, exec.ErrNotFound) && os.Getenv("CI") == "" && os.Getenv("PRD_REQUIRE_PRIVILEGED") == "" {
			t.Skip("editcap not on PATH")
		}
		t.Fatal(err)
	}
}

// cutCorpus cuts every corpus capture at each of cutSnaplens with editcap
// (an independent tool) into dir and returns the cut files. A capture
// editcap cannot read is left out (libpcap refuses most of those too; the
// whole-file tests cover them).
func cutCorpus(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, path := range corpusFiles(t) {
		for _, n := range cutSnaplens {
			dst := filepath.Join(dir, fmt.Sprintf("%s.s%d.pcapng", filepath.Base(path), n))
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			err := exec.CommandContext(ctx, "editcap", "-s", strconv.Itoa(n), path, dst).Run()
			cancel()
			if err != nil {
				continue
			}
			out = append(out, dst)
		}
	}
	if len(out) < len(cutSnaplens)*100 {
		t.Fatalf("editcap cut only %d files", len(out))
	}
	return out
}

// TestSummaryCutCorpusFidelity compares every line tcpdump -n prints for
// the corpus captures cut at each of cutSnaplens (caplen < len, as the
// per-flow cutoff and a snaplen store them) with our summary of the same
// cut packets; tcpdump's line count is the denominator, as in
// TestSummaryCorpusFidelity. Set PRD_DECODE_DIFFS=/some/file to get the
// differing lines.
//
//	go test -run 'TestSummaryCutCorpusFidelity$' -v ./internal/decode/
func TestSummaryCutCorpusFidelity(t *testing.T) {
	needTcpdump(t)
	needEditcap(t)
	var f fidelity
	for _, path := range cutCorpus(t, t.TempDir()) {
		f.compareCapture(t, path, Options{})
	}
	f.writeDiffs(t)
	f.report(t, "corpus cut at 54..200 bytes, tcpdump -n", "go test -run 'TestSummaryCutCorpusFidelity$' -v ./internal/decode/")
	if f.percent() < cutCorpusFidelityMin {
		t.Errorf("cut corpus fidelity %.1f%% < %.0f%%", f.percent(), cutCorpusFidelityMin)
	}
}

// TestSummaryCutCorpusVerbose does the same for tcpdump -n -v and
// Options{Verbose: true}.
//
//	go test -run 'TestSummaryCutCorpusVerbose$' -v ./internal/decode/
func TestSummaryCutCorpusVerbose(t *testing.T) {
	needTcpdump(t)
	needEditcap(t)
	var f fidelity
	for _, path := range cutCorpus(t, t.TempDir()) {
		f.compareCapture(t, path, Options{Verbose: true}, "-v")
	}
	f.writeDiffs(t)
	f.report(t, "corpus cut at 54..200 bytes, tcpdump -n -v", "go test -run 'TestSummaryCutCorpusVerbose$' -v ./internal/decode/")
	if f.percent() < cutCorpusVerboseMin {
		t.Errorf("cut corpus -v fidelity %.1f%% < %.0f%%", f.percent(), cutCorpusVerboseMin)
	}
}

// writeCutPcap writes packets of one link type as a classic pcap file whose
// records keep wireLen as their original length (caplen < len, as a
// snaplen or the per-flow cutoff leaves them).
func writeCutPcap(t testing.TB, path string, linkType uint32, pkts [][]byte, wireLen int) {
	t.Helper()
	b := binary.LittleEndian.AppendUint32(nil, 0xa1b2c3d4)
	b = binary.LittleEndian.AppendUint16(b, 2)
	b = binary.LittleEndian.AppendUint16(b, 4)
	b = append(b, make([]byte, 8)...)
	b = binary.LittleEndian.AppendUint32(b, 262144)
	b = binary.LittleEndian.AppendUint32(b, linkType)
	for i, p := range pkts {
		b = binary.LittleEndian.AppendUint32(b, uint32(1700000000+i))
		b = binary.LittleEndian.AppendUint32(b, 0)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(p)))
		b = binary.LittleEndian.AppendUint32(b, uint32(max(wireLen, len(p))))
		b = append(b, p...)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestTruncatedCasesMatchTcpdump checks the expectations of summaryCases'
// cut packets (TestSummary gives them an original length of 74) against
// what tcpdump -n prints for them.
func TestTruncatedCasesMatchTcpdump(t *testing.T) {
	needTcpdump(t)
	var cases []summaryCase
	var pkts [][]byte
	for _, c := range summaryCases(t) {
		// (libpcap refuses a record of no bytes, so "empty" is not here.)
		if strings.HasPrefix(c.name, "truncated") && c.linkType == LinkTypeEthernet {
			cases = append(cases, c)
			pkts = append(pkts, c.data)
		}
	}
	if len(cases) < 4 {
		t.Fatalf("only %d truncated cases", len(cases))
	}
	path := filepath.Join(t.TempDir(), "cut.pcap")
	writeCutPcap(t, path, LinkTypeEthernet, pkts, 74)
	got := tcpdumpSummaries(t, path)
	for i, c := range cases {
		if i >= len(got) {
			t.Errorf("%s: tcpdump printed nothing", c.name)
			continue
		}
		if got[i] != c.want {
			t.Errorf("%s: expected %q, tcpdump %q", c.name, c.want, got[i])
		}
	}
}

// emptyPayloadPorts are the ports tcpdump 4.99 chooses a printer by that
// TestPortNamesOnEmptyPayloads checks: the printer runs on a segment's or
// datagram's data whatever it holds, captured or not.
var emptyPayloadPorts = struct{ tcp, udp []uint16 }{
	tcp: []uint16{21, 22, 23, 25, 43, 53, 80, 139, 179, 445, 554, 639, 646, 5060, 6379, 8080, 8554, 10288},
	udp: []uint16{53, 123, 5060, 5353},
}

// TestPortNamesOnEmptyPayloads sends tcpdump and Summary TCP segments and
// UDP datagrams whose 40 data bytes are zeros, whole and cut to their
// headers (as the per-flow cutoff stores them), to and from the ports
// tcpdump names a protocol by ("length 40: HTTP", ": RESP [|resp]", "
// [|ssh]"), and requires the same line.
func TestPortNamesOnEmptyPayloads(t *testing.T) {
	needTcpdump(t)
	type rec struct {
		name string
		data []byte
		wire int
	}
	var recs []rec
	add := func(name string, frame []byte, hdr int) {
		recs = append(recs, rec{name + " whole", frame, len(frame)}, rec{name + " cut", frame[:hdr], len(frame)})
	}
	zeros := gopacket.Payload(make([]byte, 40))
	for _, port := range emptyPayloadPorts.tcp {
		i := ip4(layers.IPProtocolTCP)
		tl := &layers.TCP{SrcPort: 40000, DstPort: layers.TCPPort(port), Seq: 1, Ack: 1, ACK: true, PSH: true, Window: 512}
		add(fmt.Sprintf("tcp port %d", port), build(t, eth(layers.EthernetTypeIPv4), i, tcp(t, i, tl), zeros), 14+20+20)
	}
	for _, port := range emptyPayloadPorts.udp {
		i := ip4(layers.IPProtocolUDP)
		add(fmt.Sprintf("udp port %d", port), build(t, eth(layers.EthernetTypeIPv4), i, udp(t, i, 40000, port), zeros), 14+20+8)
	}
	var b []byte
	b = binary.LittleEndian.AppendUint32(b, 0xa1b2c3d4)
	b = binary.LittleEndian.AppendUint16(b, 2)
	b = binary.LittleEndian.AppendUint16(b, 4)
	b = append(b, make([]byte, 8)...)
	b = binary.LittleEndian.AppendUint32(b, 262144)
	b = binary.LittleEndian.AppendUint32(b, LinkTypeEthernet)
	for i, r := range recs {
		b = binary.LittleEndian.AppendUint32(b, uint32(1700000000+i))
		b = binary.LittleEndian.AppendUint32(b, 0)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(r.data)))
		b = binary.LittleEndian.AppendUint32(b, uint32(r.wire))
		b = append(b, r.data...)
	}
	path := filepath.Join(t.TempDir(), "ports.pcap")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	want := tcpdumpSummaries(t, path)
	if len(want) != len(recs) {
		t.Fatalf("tcpdump printed %d lines for %d packets", len(want), len(recs))
	}
	s := NewSummarizer()
	for i, r := range recs {
		if got := s.Summary(LinkTypeEthernet, r.data, r.wire); got != want[i] {
			t.Errorf("%s:\n ours    %q\n tcpdump %q", r.name, got, want[i])
		}
	}
}
