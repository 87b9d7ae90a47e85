package filter

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/packetrecorderd/packetrecorderd/internal/index"
	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// TestSummaryPairsCorpusVerdicts: a segment summary with address-port
// pairs never leaves out a packet libpcap accepts. For every row of
// verdicts.tsv, each packet libpcap accepted, made a summary of its own
// (its terms through a block Builder, its pairs through
// Summary.AddPacketPairs), matches the expression's plan by
// MatchPaired. (A Bloom filter has no false "no", so this is the pairs'
// logic tested packet by packet.)
func TestSummaryPairsCorpusVerdicts(t *testing.T) {
	dir := requireCorpus(t)
	rows := testkit.MustReadTSV(t, filepath.Join(dir, "filters", "verdicts.tsv"))
	captures := map[string][]index.Sketch{}
	paired := map[string][]bool{}
	plans := map[string]index.Expr{}
	checked, withPairs := 0, 0
	for _, r := range rows {
		e, ok := plans[r["expr"]]
		if !ok {
			var err error
			if e, err = Plan(r["expr"], Options{}); err != nil {
				t.Errorf("%q: %v", r["expr"], err)
				continue
			}
			plans[r["expr"]] = e
		}
		sks, ok := captures[r["pcap"]]
		if !ok {
			pkts, err := readCapture(filepath.Join(dir, "pcap", r["pcap"]))
			if err != nil {
				t.Fatalf("%s: %v", r["pcap"], err)
			}
			var b index.Builder
			var s index.Summary
			for _, p := range pkts {
				b.Reset()
				s.Reset()
				s.SetPairs(true)
				b.AddPacket(p.linkType, p.data)
				s.AddPacketPairs(p.linkType, p.data)
				s.AddBlock(&b)
				sks = append(sks, index.Sketch(s.Sketch(nil)))
				paired[r["pcap"]] = append(paired[r["pcap"]], s.Paired())
			}
			captures[r["pcap"]] = sks
		}
		want, err := parseRanges(r["accepted"], len(sks))
		if err != nil {
			t.Fatal(err)
		}
		for i, sk := range sks {
			if !want[i+1] {
				continue
			}
			checked++
			if !paired[r["pcap"]][i] {
				continue
			}
			withPairs++
			if !sk.MatchPaired(e) {
				t.Errorf("%s %q on %s: libpcap accepts packet %d, its summary with pairs does not match the plan %s", r["dlt"], r["expr"], r["pcap"], i+1, e)
			}
		}
	}
	t.Logf("%d accepted packets, %d of them with their pairs: every one matches", checked, withPairs)
}

// TestSummaryPairsCorpusHostPort: for every packet of every corpus
// capture of a link type we compile for, filters made of its own
// addresses and ports ("host A and tcp port P", and the 5-tuple "host A
// and host B and port P and port Q"), wherever our compiled program (as
// libpcap's, TestCorpusVerdicts) accepts the packet, match the packet's
// own summary with pairs. The pairs of each address with each port,
// its own and its peer's, are needed for that.
func TestSummaryPairsCorpusHostPort(t *testing.T) {
	dir := requireCorpus(t)
	manifest := testkit.MustReadTSV(t, filepath.Join(dir, "pcap", "MANIFEST.tsv"))
	progs := map[string]*Program{}
	compile := func(expr string, lt uint32) *Program {
		key := fmt.Sprint(lt, expr)
		p, ok := progs[key]
		if !ok {
			p, _ = Compile(expr, Options{LinkType: lt, Netmask: tcpdumpNetmask})
			progs[key] = p
		}
		return p
	}
	proto := map[uint8]string{6: "tcp", 17: "udp", 132: "sctp"}
	var tm index.Terms
	checked := 0
	for _, m := range manifest {
		if m["libpcap_read"] != "ok" {
			continue
		}
		pkts, err := readCapture(filepath.Join(dir, "pcap", m["file"]))
		if err != nil {
			continue
		}
		for i, p := range pkts {
			if i >= 300 || internalLinkType(p.linkType) == dltNone {
				break
			}
			var b index.Builder
			var s index.Summary
			s.SetPairs(true)
			b.AddPacket(p.linkType, p.data)
			s.AddPacketPairs(p.linkType, p.data)
			s.AddBlock(&b)
			if !s.Paired() {
				continue
			}
			sk := index.Sketch(s.Sketch(nil))
			tm.Packet(p.linkType, p.data)
			var addrs []string
			var ports []index.Term
			for _, x := range tm.List {
				switch x.Kind {
				case index.KindAddr:
					addrs = append(addrs, x.Addr.String())
				case index.KindPort:
					ports = append(ports, x)
				}
			}
			var exprs []string
			for _, a := range addrs {
				for _, q := range ports {
					exprs = append(exprs, fmt.Sprintf("host %s and %s port %d", a, proto[q.Proto], q.Port))
				}
			}
			if len(addrs) >= 2 && len(ports) >= 2 {
				exprs = append(exprs, fmt.Sprintf("host %s and host %s and port %d and port %d", addrs[0], addrs[1], ports[0].Port, ports[1].Port))
			}
			for _, expr := range exprs {
				prog := compile(expr, p.linkType)
				if prog == nil || !prog.Match(p.data, p.wireLen) {
					continue
				}
				e, err := Plan(expr, Options{})
				if err != nil {
					t.Fatalf("%q: %v", expr, err)
				}
				checked++
				if !sk.MatchPaired(e) {
					t.Errorf("%s packet %d: %q accepts it, its summary with pairs does not match the plan %s", m["file"], i+1, expr, e)
				}
			}
		}
	}
	if checked < 1000 {
		t.Fatalf("only %d packet and filter pairs checked", checked)
	}
	t.Logf("%d packet and filter pairs: every one matches", checked)
}
