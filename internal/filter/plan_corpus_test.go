package filter

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/packetrecorderd/packetrecorderd/internal/index"
	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// termSets computes each packet's terms as index.Terms reads them.
func termSets(pkts []testPacket) []index.Set {
	var tm index.Terms
	out := make([]index.Set, len(pkts))
	for i, p := range pkts {
		tm.Packet(p.linkType, p.data)
		s := index.Set{}
		s.Add(tm.List...)
		out[i] = s
	}
	return out
}

// TestPlanCorpusVerdicts is the soundness proof against libpcap itself:
// for every row of verdicts.tsv (every link type, compiled by us or
// not), every packet libpcap accepted has terms on which the plan is
// true. It reports how selective the plans are: the packets whose terms
// pass the plan against the packets that match.
func TestPlanCorpusVerdicts(t *testing.T) {
	dir := requireCorpus(t)
	rows := testkit.MustReadTSV(t, filepath.Join(dir, "filters", "verdicts.tsv"))
	captures := map[string][]testPacket{}
	sets := map[string][]index.Set{}
	plans := map[string]index.Expr{}
	var pairs, packets, accepted, passed, narrowed int
	var nPackets, nAccepted, nPassed int // plans that narrow, packets Terms describes
	for _, r := range rows {
		expr := r["expr"]
		e, ok := plans[expr]
		if !ok {
			var err error
			e, err = Plan(expr, Options{})
			if err != nil {
				t.Errorf("%q: libpcap compiles it, Plan fails: %v", expr, err)
				continue
			}
			plans[expr] = e
		}
		pkts, ok := captures[r["pcap"]]
		if !ok {
			var err error
			pkts, err = readCapture(filepath.Join(dir, "pcap", r["pcap"]))
			if err != nil {
				t.Fatalf("%s: %v", r["pcap"], err)
			}
			captures[r["pcap"]] = pkts
			sets[r["pcap"]] = termSets(pkts)
		}
		want, err := parseRanges(r["accepted"], len(pkts))
		if err != nil {
			t.Fatalf("bad accepted column %q: %v", r["accepted"], err)
		}
		pairs++
		if e.Op != index.OpAll {
			narrowed++
		}
		for i := range pkts {
			packets++
			pass := e.Eval(sets[r["pcap"]][i])
			if pass {
				passed++
			}
			if e.Op != index.OpAll && !sets[r["pcap"]][i].Has(index.Any) {
				nPackets++
				if pass {
					nPassed++
				}
				if want[i+1] {
					nAccepted++
				}
			}
			if want[i+1] {
				accepted++
				if !pass {
					t.Errorf("%s %q on %s: libpcap accepts packet %d, the plan %s rejects its terms %v",
						r["dlt"], expr, r["pcap"], i+1, e, termList(sets[r["pcap"]][i]))
				}
			}
		}
	}
	t.Logf("verdicts.tsv: %d pairs (%d with a plan that narrows), %d packets: %d accepted by libpcap (%.1f%%), %d pass the plan (%.1f%%)",
		pairs, narrowed, packets, accepted, pct(accepted, packets), passed, pct(passed, packets))
	t.Logf("verdicts.tsv, plans that narrow on packets the terms describe: %d packets: %d accepted (%.1f%%), %d pass the plan (%.1f%%)",
		nPackets, nAccepted, pct(nAccepted, nPackets), nPassed, pct(nPassed, nPackets))
}

func pct(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return 100 * float64(a) / float64(b)
}

func termList(s index.Set) string {
	var parts []string
	for t := range s {
		parts = append(parts, t.String())
	}
	return strings.Join(parts, ", ")
}

// TestPlanCorpusAllFilters crosses every expression of filters.tsv with
// every corpus capture of a link type we compile for: every packet our
// compiled program accepts (it agrees with libpcap: TestCorpusVerdicts)
// has terms on which the plan is true.
func TestPlanCorpusAllFilters(t *testing.T) {
	dir := requireCorpus(t)
	rows := testkit.MustReadTSV(t, filepath.Join(dir, "filters", "filters.tsv"))
	manifest := testkit.MustReadTSV(t, filepath.Join(dir, "pcap", "MANIFEST.tsv"))
	type capture struct {
		name string
		pkts []testPacket
		sets []index.Set
	}
	byLT := map[uint32][]capture{}
	for _, m := range manifest {
		if m["libpcap_read"] != "ok" {
			continue
		}
		pkts, err := readCapture(filepath.Join(dir, "pcap", m["file"]))
		if err != nil || len(pkts) == 0 {
			continue
		}
		lt := pkts[0].linkType
		if internalLinkType(lt) == dltNone {
			continue
		}
		same := true
		for _, p := range pkts {
			same = same && p.linkType == lt
		}
		if !same {
			continue
		}
		byLT[lt] = append(byLT[lt], capture{m["file"], pkts, termSets(pkts)})
	}
	exprs := map[string]bool{}
	for _, r := range rows {
		exprs[r["expr"]] = true
	}
	if testing.Short() {
		t.Skip("crosses every expression with every capture")
	}
	var progs, packets, accepted, passed int
	for expr := range exprs {
		e, err := Plan(expr, Options{})
		if err != nil {
			continue
		}
		for lt, caps := range byLT {
			prog, err := Compile(expr, Options{LinkType: lt, Netmask: tcpdumpNetmask})
			if err != nil {
				continue
			}
			progs++
			for _, c := range caps {
				for i, p := range c.pkts {
					packets++
					pass := e.Eval(c.sets[i])
					if pass {
						passed++
					}
					if v, _ := prog.run(p.data, uint32(p.wireLen)); v != 0 {
						accepted++
						if !pass {
							t.Errorf("%s %q on %s: packet %d accepted, the plan %s rejects its terms %v",
								LinkTypeName(lt), expr, c.name, i+1, e, termList(c.sets[i]))
						}
					}
				}
			}
		}
	}
	t.Logf("filters.tsv x captures: %d programs, %d packet runs: %d accepted (%.1f%%), %d pass the plan (%.1f%%)",
		progs, packets, accepted, pct(accepted, packets), passed, pct(passed, packets))
}
