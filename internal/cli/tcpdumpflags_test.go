package cli_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// diffTcpdump runs tcpdump -n -r file with flags and query -r file -c 0
// with the same flags, and reports the first line that differs.
func diffTcpdump(t *testing.T, file string, flags ...string) {
	t.Helper()
	want, _, err := testkit.RunTool("tcpdump", append([]string{"-n", "-r", file}, flags...)...)
	if err != nil {
		t.Fatalf("tcpdump %v: %v", flags, err)
	}
	got := mustRun(t, append([]string{"query", "-r", file, "-c", "0", "--tcpdump"}, flags...)...)
	if got == want {
		return
	}
	gl, wl := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := range min(len(gl), len(wl)) {
		if gl[i] != wl[i] {
			t.Errorf("%s %v: line %d\n got %q\nwant %q", filepath.Base(file), flags, i+1, gl[i], wl[i])
			return
		}
	}
	t.Errorf("%s %v: %d lines, tcpdump %d", filepath.Base(file), flags, len(gl), len(wl))
}

// TestQueryTcpdumpDisplayFlags: -e, -q, -x, -xx, -A, -AA, -# and their
// combinations print what tcpdump 4.99 prints on the lab's traffic
// (Ethernet with VLAN-tagged frames, ARP, IPv4, IPv6, TCP, UDP, ICMP):
// diff against tcpdump -n -r is empty. -e -v is taken on ICMP and ARP (IPv4),
// whose -v lines are decoded in full.
func TestQueryTcpdumpDisplayFlags(t *testing.T) {
	testkit.RequireTool(t, "tcpdump")
	lab := "../decode/testdata/lab.pcap"
	for _, flags := range [][]string{
		{"-e"}, {"-q"}, {"-x"}, {"-xx"}, {"-A"}, {"-AA"}, {"-#"},
		{"-e", "-v", "icmp or arp"}, {"-q", "-tttt"}, {"-A", "-e"}, {"-xx", "-#"},
		{"-q", "-e"}, {"-e", "-XX", "-#"}, {"-ttt", "-x"}, {"-XXX", "-tt"}, {"-xxx"}, {"-AAA", "-e"},
		{"-X", "-x"}, {"-x", "-A"}, {"-e", "-q", "-#", "-ttttt"},
	} {
		diffTcpdump(t, lab, flags...)
	}
}

// TestQueryTcpdumpDeltas: on a nanosecond capture, -ttt and -ttttt are
// taken between times truncated to microseconds (as tcpdump reads them),
// and --nano prints and subtracts nanoseconds, as tcpdump --nano.
func TestQueryTcpdumpDeltas(t *testing.T) {
	testkit.RequireTool(t, "tcpdump")
	nano := testkit.Corpus(t, "pcap", "tcpdump_tcp-handshake-nano.pcap")
	for _, flags := range [][]string{{"-ttt"}, {"-ttttt"}, {"--nano"}, {"--nano", "-tt"}, {"--nano", "-ttt"}, {"--nano", "-tttt"}, {"--nano", "-ttttt"}} {
		diffTcpdump(t, nano, flags...)
	}
}

// TestQueryTcpdumpFlagErrors: tcpdump's refusals and caps.
func TestQueryTcpdumpFlagErrors(t *testing.T) {
	testkit.RequireTool(t, "tcpdump")
	lab := "../decode/testdata/lab.pcap"
	_, tdErr, _ := testkit.RunTool("tcpdump", "-n", "-r", lab, "-tttttt")
	if !strings.Contains(tdErr, "only -t, -tt, -ttt, -tttt and -ttttt are supported") {
		t.Fatalf("tcpdump -tttttt says %q", tdErr)
	}
	r := run(t, "query", "-r", lab, "-tttttt")
	if r.code == 0 || strings.TrimSpace(r.stderr) != "packetrecorder: only -t, -tt, -ttt, -tttt and -ttttt are supported" {
		t.Errorf("query -tttttt: exit %d, %q", r.code, r.stderr)
	}
}

// TestQueryFilterFile: -F takes the filter from a file ('#' comments,
// several lines) and ignores an expression after the flags, as tcpdump;
// a missing file is a one-line error.
func TestQueryFilterFile(t *testing.T) {
	testkit.RequireTool(t, "tcpdump")
	lab := "../decode/testdata/lab.pcap"
	f := filepath.Join(t.TempDir(), "filter")
	if err := os.WriteFile(f, []byte("icmp # echo\n or arp\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	want, _, err := testkit.RunTool("tcpdump", "-n", "-r", lab, "-F", f, "tcp")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(want, "\n") < 4 {
		t.Fatalf("tcpdump -F selects only %q", want)
	}
	r := run(t, "query", "-r", lab, "-c", "0", "--tcpdump", "-F", f, "tcp")
	if r.code != 0 || r.stdout != want {
		t.Errorf("query -F: exit %d\n%s\ntcpdump:\n%s", r.code, r.stdout, want)
	}
	if !strings.Contains(r.stderr, "ignored") {
		t.Errorf("query -F with an expression: no warning that it is ignored: %q", r.stderr)
	}
	r = run(t, "query", "-r", lab, "-F", filepath.Join(t.TempDir(), "none"))
	if r.code == 0 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || !strings.Contains(r.stderr, "no such file") {
		t.Errorf("query -F missing: exit %d, %q", r.code, r.stderr)
	}
}

// TestQueryLinkHeaderOnLinkTypes: -e (and -q -e) on the corpus's
// captures of other link types, and -x, -X, -A on 802.3 frames with LLC
// and SNAP headers (which tcpdump counts in the link-layer header): diff
// against tcpdump -n -r is empty.
func TestQueryLinkHeaderOnLinkTypes(t *testing.T) {
	testkit.RequireTool(t, "tcpdump")
	for _, c := range []struct {
		file  string
		flags [][]string
	}{
		{"tcpdump_LINKTYPE_RAW_ipv4.pcap", [][]string{{"-e"}}},                      // RAW
		{"tcpdump_LINKTYPE_IPV4.pcap", [][]string{{"-e"}}},                          // IPV4
		{"zeek_icmp_icmp6-mldv2.pcap", [][]string{{"-e"}}},                          // IPV6
		{"tcpdump_tcp-handshake-nano.pcap", [][]string{{"-e"}, {"-q", "-e"}}},       // LINUX_SLL
		{"zeek_tls_openjdk-25.0.2-zeek.org.pcap", [][]string{{"-e"}, {"-q", "-e"}}}, // LINUX_SLL2
		{"tcpdump_quic_handshake_truncated.pcap", [][]string{{"-e"}, {"-q", "-e"}}}, // NULL
		{"libpcap_filter_rarp_req_reply.pcapng", [][]string{{"-e"}}},
		{"zeek_vntag.pcap", [][]string{{"-e"}}},                                   // an ethertype tcpdump cannot decode: its header once                // RARP
		{"tcpdump_802.1D_spanning_tree.pcap", [][]string{{"-x"}, {"-X"}, {"-A"}}}, // 802.3 LLC
		{"zeek_snap-arp.pcapng", [][]string{{"-x"}, {"-X"}, {"-A"}}},              // 802.3 SNAP
	} {
		file := testkit.Corpus(t, "pcap", c.file)
		for _, flags := range c.flags {
			diffTcpdump(t, file, flags...)
		}
	}
}

// TestCaptureRotationErrors: -C, -G and -W refuse what tcpdump refuses,
// in its words, each in one line with a non-zero exit, before any capture
// begins; rotation without a -w file is a mistake said as such.
func TestCaptureRotationErrors(t *testing.T) {
	dir := t.TempDir()
	w := filepath.Join(dir, "trace")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-w", w, "-C", "0"}, "invalid file size 0"},
		{[]string{"-w", w, "-C", "1k"}, "invalid file size 1k"},
		{[]string{"-w", w, "-C", "0.5"}, "invalid file size 0.5"},
		{[]string{"-w", w, "-G", "-1"}, "invalid number of seconds -1"},
		{[]string{"-w", w, "-C", "1", "-W", "0"}, "invalid number of output files 0"},
		{[]string{"-C", "1"}, "give -w FILE"},
		{[]string{"-w", "-", "-G", "5"}, "give -w FILE"},
	} {
		r := run(t, append([]string{"capture", "-i", "lo"}, c.args...)...)
		if r.code == 0 || !strings.Contains(r.stderr, c.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("capture %v: exit %d, %q; want %q", c.args, r.code, r.stderr, c.want)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("files left behind: %v", ents)
	}
}

// TestReplayDisplayOnlyTcpdumpFlags: replay --display-only prints each
// packet's number and scheduled time, then what tcpdump -t prints with
// -e, -q, -x, -A: with that prefix taken off, diff against tcpdump -n -t
// -r is empty.
func TestReplayDisplayOnlyTcpdumpFlags(t *testing.T) {
	testkit.RequireTool(t, "tcpdump")
	lab := "../decode/testdata/lab.pcap"
	prefix := regexp.MustCompile(`(?m)^\d+ \+\d+\.\d{6}s `)
	for _, flags := range [][]string{{"-e"}, {"-q"}, {"-x"}, {"-A", "-e"}, {"-q", "-e", "-xx"}} {
		want, _, err := testkit.RunTool("tcpdump", append([]string{"-n", "-t", "-r", lab}, flags...)...)
		if err != nil {
			t.Fatal(err)
		}
		got := mustRun(t, append([]string{"replay", "-r", lab, "--display-only"}, flags...)...)
		if n := len(prefix.FindAllString(got, -1)); n != strings.Count(mustRun(t, "replay", "-r", lab, "--display-only"), "\n") {
			t.Errorf("%v: %d lines begin with a number and a time", flags, n)
		}
		if got = prefix.ReplaceAllString(got, ""); got != want {
			gl, wl := strings.Split(got, "\n"), strings.Split(want, "\n")
			for i := range min(len(gl), len(wl)) {
				if gl[i] != wl[i] {
					t.Errorf("%v: line %d\n got %q\nwant %q", flags, i+1, gl[i], wl[i])
					break
				}
			}
		}
	}
}
