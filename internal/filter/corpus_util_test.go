package filter

import (
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/bpf"

	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// corpusDir is the shared test corpus (see testkit.CorpusRoot).
var corpusDir = testkit.CorpusRoot()

// requireCorpus returns the corpus path, skipping the test when it is
// absent unless CI or PRD_REQUIRE_PRIVILEGED is set (then it fails).
func requireCorpus(t testing.TB) string {
	t.Helper()
	testkit.Corpus(t, "filters", "filters.tsv")
	return corpusDir
}

// parseDDD decodes the corpus's one-line -ddd form ("n,code jt jf k,...").
func parseDDD(t testing.TB, s string) []bpf.RawInstruction {
	t.Helper()
	parts := strings.Split(s, ",")
	n, err := strconv.Atoi(parts[0])
	if err != nil || n != len(parts)-1 {
		t.Fatalf("bad ddd %q", s)
	}
	out := make([]bpf.RawInstruction, n)
	for i, p := range parts[1:] {
		f := strings.Fields(p)
		if len(f) != 4 {
			t.Fatalf("bad ddd insn %q", p)
		}
		v := make([]uint64, 4)
		for j := range f {
			v[j], err = strconv.ParseUint(f[j], 10, 32)
			if err != nil {
				t.Fatalf("bad ddd insn %q", p)
			}
		}
		out[i] = bpf.RawInstruction{Op: uint16(v[0]), Jt: uint8(v[1]), Jf: uint8(v[2]), K: uint32(v[3])}
	}
	return out
}

// supportedDLT maps a corpus DLT name to a link type this package
// compiles for.
func supportedDLT(name string) (uint32, bool) {
	lt, ok := LinkTypeByName(name)
	if !ok || internalLinkType(lt) == dltNone {
		return 0, false
	}
	return lt, true
}

// corpusDLT is supportedDLT for a corpus row: a link type that libpcap
// compiled the row for (libpcapOK) and that this package refuses is an
// error of the test.
func corpusDLT(t testing.TB, name string, libpcapOK bool) (uint32, bool) {
	t.Helper()
	lt, ok := supportedDLT(name)
	if !ok && libpcapOK {
		t.Errorf("link type %s: libpcap filters it, this package refuses it", name)
	}
	return lt, ok
}

// compileNoCheck compiles without the rejects-everything check, giving
// the program libpcap emits with its optimizer off.
func compileNoCheck(expr string, lt uint32, deadHandle bool) ([]bpf.RawInstruction, error) {
	tree, err := parse(expr)
	if err != nil {
		return nil, err
	}
	if tree == nil {
		return []bpf.RawInstruction{{Op: clsRET | srcK, K: DefaultSnaplen}}, nil
	}
	return generateUnchecked(tree, internalLinkType(lt), DefaultSnaplen, deadHandle)
}

func isNotSupported(err error) bool {
	return err != nil && strings.Contains(err.Error(), "is not supported")
}

func hasBackwardJump(insns []bpf.RawInstruction) bool {
	for _, in := range insns {
		if in.Op == clsJMP|jmpJA && int32(in.K) < 0 {
			return true
		}
	}
	return false
}
