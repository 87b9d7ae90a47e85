package cli_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/packetrecorderd/packetrecorderd/internal/index/synth"
	"github.com/packetrecorderd/packetrecorderd/internal/pcapio"
	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// TestQueryIsPlanned: a filter over an imported database is planned
// through the block index: a sparse connection's packets are exactly
// tcpdump's on the same pcap while only a few blocks are read; a broad
// filter and one the planner cannot reason about read what they must, and
// give tcpdump's packets too.
func TestQueryIsPlanned(t *testing.T) {
	testkit.RequireTool(t, "tcpdump")
	dir := t.TempDir()
	mix := synth.Generate(synth.Config{Seed: 7, Flows: 3000, Packets: 120000})
	pcap := filepath.Join(dir, "mix.pcap")
	f, err := os.Create(pcap)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pcapio.NewPcapWriter(f, 1, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	var frame []byte
	for _, p := range mix.Packets {
		frame = mix.Frame(frame[:0], p)
		if err := w.WritePacket(pcapio.Packet{Timestamp: p.TS, OrigLen: len(frame), Data: frame, LinkType: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	db := filepath.Join(dir, "mix.db")
	mustRun(t, "import", "-d", db, pcap)

	// The sparsest flows with at least 3 packets: needles.
	var needles []synth.Flow
	for _, fl := range mix.Flows {
		if fl.Packets >= 3 && fl.Packets <= 6 {
			needles = append(needles, fl)
		}
		if len(needles) == 3 {
			break
		}
	}
	if len(needles) == 0 {
		t.Fatal("the mix has no sparse flow")
	}
	blocksRead := regexp.MustCompile(`blocks read: (\d+) of (\d+)`)
	explain := func(expr string) (read, total int) {
		t.Helper()
		out := mustRun(t, "query", "-d", db, "-s", "1", "--explain", expr)
		m := blocksRead.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("query --explain %q: no blocks line in\n%s", expr, out)
		}
		read, _ = strconv.Atoi(m[1])
		total, _ = strconv.Atoi(m[2])
		return read, total
	}
	same := func(expr string) int {
		t.Helper()
		want, refused, err := testkit.TcpdumpPackets(pcap, expr)
		if err != nil || refused != "" {
			t.Fatalf("tcpdump -r %q: %v %s", expr, err, refused)
		}
		out := filepath.Join(dir, "out.pcap")
		mustRun(t, "export", "-d", db, "-s", "1", "-o", out, "--filter", expr)
		got, _, err := testkit.TcpdumpPackets(out, "")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("%q: export has %d packets, tcpdump -r %d (or others)", expr, len(got), len(want))
		}
		n := strings.TrimSpace(mustRun(t, "query", "-d", db, "-s", "1", "--count", expr))
		if n != strconv.Itoa(len(want)) {
			t.Fatalf("%q: query --count says %s, tcpdump -r %d", expr, n, len(want))
		}
		return len(want)
	}
	for _, fl := range needles {
		proto := "tcp"
		if fl.Proto == 17 {
			proto = "udp"
		}
		for _, expr := range []string{
			fmt.Sprintf("%s and host %s and host %s and port %d and port %d", proto, fl.Client, fl.Server, fl.CPort, fl.SPort),
			fmt.Sprintf("host %s and port %d", fl.Client, fl.CPort),
		} {
			if n := same(expr); n != fl.Packets {
				t.Fatalf("%q: %d packets, the mix made %d", expr, n, fl.Packets)
			}
			read, total := explain(expr)
			if total < 50 || read*10 > total {
				t.Errorf("%q: read %d of %d blocks; a sparse connection should need under a tenth", expr, read, total)
			}
			t.Logf("%q: %d packets, %d of %d blocks read", expr, fl.Packets, read, total)
		}
	}
	// --community-id selects a flow's packets (the ID as tshark computes
	// it), in query and export, alone and with a filter.
	testkit.RequireTool(t, "tshark")
	fl := needles[0]
	tuple := fmt.Sprintf("host %s and host %s and port %d and port %d", fl.Client, fl.Server, fl.CPort, fl.SPort)
	// tshark dissects every packet it reads: given the whole mix it can
	// take minutes on a loaded machine, so it reads the flow's packets,
	// which tcpdump cuts out first.
	flowPcap := filepath.Join(dir, "flow.pcap")
	if _, stderr, err := testkit.RunTool("tcpdump", "-r", pcap, "-w", flowPcap, tuple); err != nil {
		t.Fatalf("tcpdump -w %s: %v: %s", tuple, err, stderr)
	}
	ids, _, err := testkit.RunTool("tshark", "-r", flowPcap, "--enable-protocol", "communityid", "-T", "fields", "-e", "communityid", "-Y",
		fmt.Sprintf("ip%s.addr == %s and ip%s.addr == %s", map[bool]string{true: "", false: "v6"}[fl.Client.Is4()], fl.Client, map[bool]string{true: "", false: "v6"}[fl.Client.Is4()], fl.Server))
	if err != nil {
		t.Fatal(err)
	}
	cid := strings.TrimSpace(strings.SplitN(ids, "\n", 2)[0])
	if !strings.HasPrefix(cid, "1:") {
		t.Fatalf("tshark gave no community id for %s: %q", tuple, ids)
	}
	want, _, _ := testkit.TcpdumpPackets(pcap, tuple)
	for _, args := range [][]string{
		{"--community-id", cid},
		{"--community-id", cid, "tcp or udp"},
	} {
		n := strings.TrimSpace(mustRun(t, append([]string{"query", "-d", db, "-s", "1", "--count"}, args...)...))
		if n != strconv.Itoa(len(want)) {
			t.Errorf("query --count %v: %s packets, tcpdump -r %q has %d", args, n, tuple, len(want))
		}
		out := filepath.Join(dir, "flow.pcap")
		mustRun(t, append([]string{"export", "-d", db, "-s", "1", "-o", out}, args...)...)
		got, _, err := testkit.TcpdumpPackets(out, "")
		if err != nil || strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("export %v: %d packets, tcpdump -r %q %d (%v)", args, len(got), tuple, len(want), err)
		}
	}
	if r := run(t, "query", "-d", db, "-s", "1", "--community-id", "1:nonsense"); r.code == 0 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Errorf("a bad community id: exit %d, stderr %q; want one line and a failure", r.code, r.stderr)
	}

	// A broad filter and one the index cannot narrow: still exact.
	same("tcp")
	same("len > 600")
	out := mustRun(t, "query", "-d", db, "-s", "1", "--explain", "len > 600")
	if !strings.Contains(out, "plan: all") && !strings.Contains(out, "no block was planned") {
		t.Errorf("len > 600 planned to something narrower than every block:\n%s", out)
	}
}
