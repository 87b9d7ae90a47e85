package filter

import (
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/bpf"

	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// dltStats counts corpus results for one link type.
type dltStats struct {
	rows, libpcapOK, compiled, unsupported int
	pairs, agree                           int
}

// statsFor returns the stats of dlt in m, adding them on first use.
func statsFor(m map[string]*dltStats, dlt string) *dltStats {
	st := m[dlt]
	if st == nil {
		st = &dltStats{}
		m[dlt] = st
	}
	return st
}

func statsLine(m map[string]*dltStats, f func(*dltStats) string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var sb strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&sb, " %s: %s;", k, f(m[k]))
	}
	return sb.String()
}

// checkKernelRules checks a program with golang.org/x/net/bpf's
// validation (forward jumps inside the program, ends in a return) plus
// the kernel's length limit.
func checkKernelRules(t *testing.T, what string, raw []bpf.RawInstruction) {
	t.Helper()
	if len(raw) > MaxInstructions {
		t.Errorf("%s: %d instructions, more than the kernel's %d", what, len(raw), MaxInstructions)
	}
	insns, ok := bpf.Disassemble(raw)
	if !ok {
		t.Errorf("%s: program does not disassemble", what)
		return
	}
	if _, err := bpf.NewVM(insns); err != nil {
		t.Errorf("%s: x/net/bpf refuses the program: %v", what, err)
	}
}

// TestCorpusFilters compiles every filters.tsv row for a supported link
// type: where libpcap 1.10.3 fails we must fail; where it compiles we
// must compile too or say the construct is not supported.
func TestCorpusFilters(t *testing.T) {
	dir := requireCorpus(t)
	rows := testkit.MustReadTSV(t, filepath.Join(dir, "filters", "filters.tsv"))
	stats := map[string]*dltStats{}
	for _, r := range rows {
		lt, ok := corpusDLT(t, r["dlt"], r["libpcap"] == "ok")
		if !ok {
			continue
		}
		st := statsFor(stats, r["dlt"])
		st.rows++
		prog, err := Compile(r["expr"], Options{LinkType: lt, Netmask: tcpdumpNetmask})
		libpcapOK := r["libpcap"] == "ok"
		if libpcapOK {
			st.libpcapOK++
		}
		switch {
		case err == nil && !libpcapOK:
			t.Errorf("%s %q: libpcap says %q, we compile it", r["dlt"], r["expr"], r["libpcap"])
		case err != nil && libpcapOK && !isNotSupported(err):
			t.Errorf("%s %q: libpcap compiles it, we fail: %v", r["dlt"], r["expr"], err)
		case err != nil && libpcapOK:
			st.unsupported++
		case err == nil:
			st.compiled++
		}
		if err != nil {
			if !strings.HasPrefix(err.Error(), "filter: ") {
				t.Errorf("%s %q: error without prefix: %v", r["dlt"], r["expr"], err)
			}
			continue
		}
		checkKernelRules(t, r["dlt"]+" "+strconv.Quote(r["expr"]), prog.KernelInstructions())
	}
	t.Logf("filters.tsv (rows, libpcap-compiled, we compiled, not supported):%s",
		statsLine(stats, func(s *dltStats) string {
			return fmt.Sprintf("%d rows, %d/%d compiled, %d unsupported", s.rows, s.compiled, s.libpcapOK, s.unsupported)
		}))
}

// parseRanges parses verdicts.tsv's accepted column ("1-3,7", "all", "").
func parseRanges(s string, n int) (map[int]bool, error) {
	set := map[int]bool{}
	if s == "all" {
		for i := 1; i <= n; i++ {
			set[i] = true
		}
		return set, nil
	}
	if s == "" {
		return set, nil
	}
	for _, part := range strings.Split(s, ",") {
		lo, hi, found := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return nil, err
		}
		b := a
		if found {
			if b, err = strconv.Atoi(hi); err != nil {
				return nil, err
			}
		}
		for i := a; i <= b; i++ {
			set[i] = true
		}
	}
	return set, nil
}

// TestCorpusVerdicts runs every compiled expression of verdicts.tsv over
// its capture and requires exactly the packets libpcap accepted, from
// Match and from the optimized program (see optimize).
func TestCorpusVerdicts(t *testing.T) {
	dir := requireCorpus(t)
	rows := testkit.MustReadTSV(t, filepath.Join(dir, "filters", "verdicts.tsv"))
	captures := map[string][]testPacket{}
	type key struct {
		expr string
		lt   uint32
	}
	progs := map[key]*Program{}
	opts := map[key]*Program{} // the optimized savefile programs
	errs := map[key]error{}
	stats := map[string]*dltStats{}
	var pairs, agree, skipped, optPairs int
	// Kernel programs that differ from the savefile program (protochain
	// unrolled): packets within the bound, of which agreeing, beyond.
	var kPairs, kWithin, kAgree, kBeyond int
	for _, r := range rows {
		lt, ok := corpusDLT(t, r["dlt"], true)
		if !ok {
			continue
		}
		st := statsFor(stats, r["dlt"])
		k := key{r["expr"], lt}
		prog, seen := progs[k]
		err := errs[k]
		if !seen && err == nil {
			prog, err = Compile(r["expr"], Options{LinkType: lt, Netmask: tcpdumpNetmask})
			progs[k], errs[k] = prog, err
			if err == nil && !hasBackwardJump(prog.Instructions()) {
				opts[k] = newProgram(r["expr"], mustRewrite(t, r["expr"], prog.Instructions()))
			}
		}
		if err != nil {
			if !isNotSupported(err) {
				t.Errorf("%s %q: libpcap compiled it for %s, we fail: %v", r["dlt"], r["expr"], r["pcap"], err)
			}
			skipped++
			continue
		}
		pkts, ok := captures[r["pcap"]]
		if !ok {
			pkts, err = readCapture(filepath.Join(dir, "pcap", r["pcap"]))
			if err != nil {
				t.Fatalf("%s: %v", r["pcap"], err)
			}
			captures[r["pcap"]] = pkts
		}
		n, _ := strconv.Atoi(r["packets"])
		if n != len(pkts) {
			t.Fatalf("%s: read %d packets, libpcap read %d", r["pcap"], len(pkts), n)
		}
		want, err := parseRanges(r["accepted"], n)
		if err != nil {
			t.Fatalf("bad accepted column %q: %v", r["accepted"], err)
		}
		pairs++
		st.pairs++
		var wrong []int
		var kernelVM *bpf.VM
		if hasBackwardJump(prog.Instructions()) {
			d, _ := bpf.Disassemble(prog.KernelInstructions())
			if kernelVM, err = bpf.NewVM(d); err != nil {
				t.Fatalf("%q: x/net/bpf refuses the kernel program: %v", r["expr"], err)
			}
			kPairs++
		}
		for i, p := range pkts {
			v, taken := prog.run(p.data, uint32(p.wireLen))
			if (v != 0) != want[i+1] {
				wrong = append(wrong, i+1)
			}
			if opt := opts[k]; opt != nil {
				optPairs++
				if v, _ := opt.run(p.data, uint32(p.wireLen)); (v != 0) != want[i+1] {
					t.Errorf("%s %q on %s: packet %d: the optimized program disagrees with libpcap", r["dlt"], r["expr"], r["pcap"], i+1)
				}
			}
			if kernelVM == nil {
				continue
			}
			if taken > KernelProtochainHeaders {
				kBeyond++
				continue
			}
			kWithin++
			// x/net/bpf uses the captured length for "len"; protochain
			// rows in the corpus do not test it.
			if n, err := kernelVM.Run(p.data); err == nil && (n != 0) == want[i+1] {
				kAgree++
			} else {
				t.Errorf("%s %q on %s: packet %d: kernel program disagrees with libpcap", r["dlt"], r["expr"], r["pcap"], i+1)
			}
		}
		if len(wrong) == 0 {
			agree++
			st.agree++
			continue
		}
		if len(wrong) > 10 {
			wrong = wrong[:10]
		}
		t.Errorf("%s %q on %s: verdict differs from libpcap on packets %v", r["dlt"], r["expr"], r["pcap"], wrong)
	}
	t.Logf("verdicts.tsv, kernel programs of protochain (%d pairs): %d/%d packet verdicts agree with libpcap, %d packets beyond %d headers",
		kPairs, kAgree, kWithin, kBeyond, KernelProtochainHeaders)
	t.Logf("verdicts.tsv: %d pairs checked, %d agree, %d skipped (not supported);%s", pairs, agree, skipped,
		statsLine(stats, func(s *dltStats) string { return fmt.Sprintf("%d/%d", s.agree, s.pairs) }))
	t.Logf("verdicts.tsv: optimized programs agree with libpcap on %d packets", optPairs)
}
