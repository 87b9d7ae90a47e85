package filter

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// TestUnoptimizedBytecode compares the generated code with libpcap's
// unoptimized output (filters-ddd-unopt.tsv, tcpdump -O -ddd). The code
// generator mirrors gencode.c, so for every expression it compiles the
// programs should be identical instruction for instruction.
func TestUnoptimizedBytecode(t *testing.T) {
	dir := requireCorpus(t)
	rows := testkit.MustReadTSV(t, filepath.Join(dir, "filters", "filters-ddd-unopt.tsv"))
	var checked, same, unsupported int
	for _, r := range rows {
		lt, ok := corpusDLT(t, r["dlt"], true)
		if !ok {
			continue
		}
		want := parseDDD(t, r["ddd"])
		got, err := compileNoCheck(r["expr"], lt, true)
		if err != nil {
			if isNotSupported(err) {
				unsupported++
				continue
			}
			t.Errorf("%s %q: libpcap compiles it, we fail: %v", r["dlt"], r["expr"], err)
			continue
		}
		checked++
		if slices.Equal(got, want) {
			same++
			continue
		}
		t.Errorf("%s %q: bytecode differs\n got: %s\nwant: %s", r["dlt"], r["expr"], Format(got, StyleD), Format(want, StyleD))
	}
	t.Logf("unoptimized bytecode: %d compared, %d identical, %d not supported", checked, same, unsupported)
}
