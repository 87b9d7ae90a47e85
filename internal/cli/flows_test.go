package cli_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/archive"
	"github.com/packetrecorderd/packetrecorderd/internal/netlab"
	"github.com/packetrecorderd/packetrecorderd/internal/pcapio"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// flowLine is one line of flows --json.
type flowLine struct {
	CommunityID string `json:"community_id"`
	Proto       string `json:"proto"`
	Src         string `json:"src"`
	Sport       int    `json:"sport"`
	Dst         string `json:"dst"`
	Dport       int    `json:"dport"`
	FirstNS     int64  `json:"first_ns"`
	LastNS      int64  `json:"last_ns"`
	Packets     int    `json:"packets"`
	Bytes       int    `json:"bytes"`
	SrcPackets  int    `json:"src_packets"`
	SrcBytes    int    `json:"src_bytes"`
	DstPackets  int    `json:"dst_packets"`
	DstBytes    int    `json:"dst_bytes"`
	TCPFlags    int    `json:"tcp_flags"`
	End         *struct {
		Flows int `json:"flows"`
		Shown int `json:"shown"`
	} `json:"end"`
}

// flowsJSON runs flows --json and returns its flows and its end line.
func flowsJSON(t *testing.T, args ...string) ([]flowLine, flowLine) {
	t.Helper()
	out := mustRun(t, append([]string{"flows", "--json"}, args...)...)
	var flows []flowLine
	var end flowLine
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var f flowLine
		if err := json.Unmarshal([]byte(line), &f); err != nil {
			t.Fatalf("flows %v: %q: %v", args, line, err)
		}
		if f.End != nil {
			end = f
			continue
		}
		if end.End != nil {
			t.Fatalf("flows %v: a flow after the end line", args)
		}
		flows = append(flows, f)
	}
	if end.End == nil {
		t.Fatalf("flows %v: no end line", args)
	}
	if end.End.Shown != len(flows) {
		t.Errorf("flows %v: end says %d shown, %d printed", args, end.End.Shown, len(flows))
	}
	return flows, end
}

// tsharkConvs are tshark's TCP and UDP conversations of a file, one per
// 5-tuple by convKey: tshark 4.0 splits a 5-tuple by its stream index
// (SNMP gets a row per direction, a reused TCP 5-tuple a row per
// connection), flows lists one row per 5-tuple.
func tsharkConvs(t *testing.T, path string) map[string]*testkit.TsharkConv {
	t.Helper()
	rows, err := testkit.TsharkConversations(path)
	if err != nil {
		t.Fatal(err)
	}
	rows, _ = testkit.MergeConversations(rows)
	convs := map[string]*testkit.TsharkConv{}
	for i := range rows {
		convs[rows[i].Key()] = &rows[i]
	}
	return convs
}

func convKey(proto, a, b string) string {
	if a > b {
		a, b = b, a
	}
	return proto + " " + a + " " + b
}

// compareFlows checks flows' TCP and UDP rows against tshark's
// conversations: the same 5-tuples, packets and bytes each way.
func compareFlows(t *testing.T, what string, flows []flowLine, convs map[string]*testkit.TsharkConv) {
	t.Helper()
	seen := map[string]bool{}
	for _, f := range flows {
		if f.Proto != "tcp" && f.Proto != "udp" {
			continue
		}
		a, b := fmt.Sprintf("%s:%d", f.Src, f.Sport), fmt.Sprintf("%s:%d", f.Dst, f.Dport)
		k := convKey(f.Proto, a, b)
		seen[k] = true
		c := convs[k]
		if c == nil {
			t.Errorf("%s: flow %s %s -> %s is not one of tshark's conversations", what, f.Proto, a, b)
			continue
		}
		pAB, pBA, bAB, bBA := f.SrcPackets, f.DstPackets, f.SrcBytes, f.DstBytes
		if a != c.A { // the initiator is not the first packet's sender
			pAB, pBA, bAB, bBA = pBA, pAB, bBA, bAB
		}
		if pAB != c.FramesAB || pBA != c.FramesBA {
			t.Errorf("%s: %s %s <-> %s: packets %d/%d, tshark %d/%d", what, f.Proto, c.A, c.B, pAB, pBA, c.FramesAB, c.FramesBA)
		}
		if c.BytesAB != "" && testkit.TsharkBytes(uint64(bAB)) != c.BytesAB || c.BytesBA != "" && testkit.TsharkBytes(uint64(bBA)) != c.BytesBA {
			t.Errorf("%s: %s %s <-> %s: bytes %d/%d, tshark %s/%s", what, f.Proto, c.A, c.B, bAB, bBA, c.BytesAB, c.BytesBA)
		}
		if f.Packets != f.SrcPackets+f.DstPackets || f.Bytes != f.SrcBytes+f.DstBytes || f.LastNS < f.FirstNS {
			t.Errorf("%s: %+v does not add up", what, f)
		}
	}
	for k := range convs {
		if !seen[k] {
			t.Errorf("%s: tshark's conversation %s is not listed", what, k)
		}
	}
}

// tsharkFrames are a file's packets as tshark dissects them: the
// innermost 5-tuple fields, the SYN flag, the frame length and the
// Community ID.
type tsharkFrame struct {
	tuple string // "tcp a:p b:q", unordered; "" for other packets
	syn   bool
	len   int
	cid   string
}

func tsharkFramesOf(t *testing.T, path string) []tsharkFrame {
	t.Helper()
	out, err := exec.Command("tshark", "-r", path, "--enable-protocol", "communityid", "-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE",
		"-T", "fields", "-E", "separator=/t", "-E", "occurrence=l",
		"-e", "frame.len", "-e", "ip.src", "-e", "ip.dst", "-e", "ipv6.src", "-e", "ipv6.dst",
		"-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "udp.srcport", "-e", "udp.dstport", "-e", "tcp.flags.syn", "-e", "communityid").Output()
	if err != nil {
		t.Fatalf("tshark %s: %v", path, err)
	}
	var frames []tsharkFrame
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		if line == "" {
			continue // no packets
		}
		f := strings.Split(line, "\t")
		if len(f) != 11 {
			t.Fatalf("tshark: %q", line)
		}
		fr := tsharkFrame{syn: f[9] == "1" || f[9] == "True", cid: f[10]}
		fr.len, _ = strconv.Atoi(f[0])
		src, dst := f[1]+f[3], f[2]+f[4]
		switch {
		case f[5] != "":
			fr.tuple = convKey("tcp", src+":"+f[5], dst+":"+f[6])
		case f[7] != "":
			fr.tuple = convKey("udp", src+":"+f[7], dst+":"+f[8])
		}
		frames = append(frames, fr)
	}
	return frames
}

// TestFlowsAgainstTshark: flows over corpus files, read with -r and
// imported into a database, lists tshark's TCP and UDP conversations
// with tshark's packet and byte counts each way; a filter lists the
// flows any of whose packets match, counted whole; --community-id picks
// the flow of tshark's Community ID, with exactly tshark's packets and
// bytes; -l says how many it left out.
func TestFlowsAgainstTshark(t *testing.T) {
	testkit.RequireTool(t, "tshark")
	testkit.RequireTool(t, "tcpdump")
	dir := testkit.Corpus(t, "pcap")
	tmp := t.TempDir()
	db := filepath.Join(tmp, "flows.db")
	files := []string{
		"zeek_http_bro.org.pcap",                // Ethernet, TCP
		"zeek_wikipedia.pcap",                   // Ethernet, TCP, UDP, ARP
		"zeek_tls_openjdk-25.0.2-zeek.org.pcap", // LINUX_SLL2
		"zeek_tls_irc-starttls.pcap",            // LINUX_SLL
		"zeek_redis_set.pcap",                   // NULL
		"zeek_rotation.pcap",                    // raw IP
		"zeek_vlan-qinqinq.pcap",                // three VLAN tags
		"zeek_tunnels_6in4.pcap",                // IPv6 in IPv4: the inner flow
		"zeek_snmp_snmpv1_get.pcap",             // tshark splits these by direction
	}
	for i, name := range files {
		path := filepath.Join(dir, name)
		convs := tsharkConvs(t, path)
		if len(convs) == 0 {
			t.Fatalf("%s: tshark lists no conversation", name)
		}
		direct, end := flowsJSON(t, "-r", path, "-l", "0")
		compareFlows(t, name+" (-r)", direct, convs)
		if end.End.Flows != len(direct) {
			t.Errorf("%s: end says %d flows, %d listed with -l 0", name, end.End.Flows, len(direct))
		}

		// The same packets imported: the same flows, to the byte.
		mustRun(t, "import", "-d", db, path)
		stored, _ := flowsJSON(t, "-d", db, "-s", strconv.Itoa(i+1), "-l", "0")
		if a, b := fmt.Sprint(stored), fmt.Sprint(direct); a != b {
			t.Errorf("%s: flows of the imported session differ from -r:\n%s\n%s", name, a, b)
		}

		frames := tsharkFramesOf(t, path)
		// A filter that matches some packets of a flow lists the flow
		// whole: the flows of the packets tcpdump selects with it (libpcap
		// decides what the filter means: with three VLAN tags and no
		// "vlan", "tcp" matches nothing), as tshark dissects them.
		syn := filepath.Join(tmp, "syn.pcap")
		if out, err := exec.Command("tcpdump", "-r", path, "-w", syn, "tcp[tcpflags] & tcp-syn != 0").CombinedOutput(); err != nil {
			t.Fatalf("tcpdump: %v: %s", err, out)
		}
		withSYN := map[string]bool{}
		for _, fr := range tsharkFramesOf(t, syn) {
			if fr.tuple != "" {
				withSYN[fr.tuple] = true
			}
		}
		synFlows, _ := flowsJSON(t, "-r", path, "-l", "0", "tcp[tcpflags] & tcp-syn != 0")
		got := map[string]bool{}
		for _, f := range synFlows {
			k := convKey(f.Proto, fmt.Sprintf("%s:%d", f.Src, f.Sport), fmt.Sprintf("%s:%d", f.Dst, f.Dport))
			got[k] = true
			for _, d := range direct {
				if d.CommunityID == f.CommunityID && fmt.Sprint(d) != fmt.Sprint(f) {
					t.Errorf("%s: filtered flow %+v is not counted whole (%+v)", name, f, d)
				}
			}
		}
		if a, b := sortedKeys(got), sortedKeys(withSYN); a != b {
			t.Errorf("%s: flows with a SYN: %s, tshark %s", name, a, b)
		}
		// The same filter over the database.
		if stored, _ := flowsJSON(t, "-d", db, "-s", strconv.Itoa(i+1), "-l", "0", "tcp[tcpflags] & tcp-syn != 0"); fmt.Sprint(stored) != fmt.Sprint(synFlows) {
			t.Errorf("%s: filtered flows of the session differ from -r", name)
		}

		// --community-id: tshark's most frequent ID names one flow, of
		// exactly tshark's packets and bytes with that ID.
		count, bytes := map[string]int{}, map[string]int{}
		for _, fr := range frames {
			if fr.cid != "" && fr.tuple != "" {
				count[fr.cid]++
				bytes[fr.cid] += fr.len
			}
		}
		top := ""
		for cid, n := range count {
			if n > count[top] || n == count[top] && cid < top {
				top = cid
			}
		}
		one, _ := flowsJSON(t, "-r", path, "--community-id", top)
		if len(one) != 1 || one[0].CommunityID != top || one[0].Packets != count[top] || one[0].Bytes != bytes[top] {
			t.Errorf("%s: --community-id %s: %+v, tshark %d packets %d bytes", name, top, one, count[top], bytes[top])
		}
		if one, _ := flowsJSON(t, "-d", db, "-s", strconv.Itoa(i+1), "--community-id", top); len(one) != 1 || one[0].Packets != count[top] {
			t.Errorf("%s: --community-id %s over the database: %+v", name, top, one)
		}
	}

	// -l: the default shows 20 and says how many there are.
	wiki := filepath.Join(dir, "zeek_wikipedia.pcap")
	all, _ := flowsJSON(t, "-r", wiki, "-l", "0")
	r := run(t, "flows", "-r", wiki)
	if r.code != 0 || strings.Count(r.stdout, "\n") != 21 || !strings.Contains(r.stderr, fmt.Sprintf("20 of %d flows; -l 0 for all", len(all))) {
		t.Errorf("default limit: exit %d, %d lines, stderr %q (want 20 of %d)", r.code, strings.Count(r.stdout, "\n"), r.stderr, len(all))
	}
	// --sort: the orders asked for.
	for _, c := range []struct {
		by  string
		key func(f flowLine) int64
	}{
		{"packets", func(f flowLine) int64 { return -int64(f.Packets) }},
		{"bytes", func(f flowLine) int64 { return -int64(f.Bytes) }},
		{"duration", func(f flowLine) int64 { return f.FirstNS - f.LastNS }},
		{"start", func(f flowLine) int64 { return f.FirstNS }},
	} {
		sorted, _ := flowsJSON(t, "-r", wiki, "-l", "5", "--sort", c.by)
		if !sort.SliceIsSorted(sorted, func(i, j int) bool { return c.key(sorted[i]) < c.key(sorted[j]) }) || len(sorted) != 5 {
			t.Errorf("--sort %s: %+v", c.by, sorted)
		}
		want := append([]flowLine(nil), all...)
		sort.SliceStable(want, func(i, j int) bool { return c.key(want[i]) < c.key(want[j]) })
		if c.key(sorted[0]) != c.key(want[0]) {
			t.Errorf("--sort %s: first %+v, want %+v", c.by, sorted[0], want[0])
		}
	}
	// The table for people has a row per flow and tshark-style columns.
	table := mustRun(t, "flows", "-r", filepath.Join(dir, "zeek_http_bro.org.pcap"), "-l", "0")
	if lines := strings.Split(strings.TrimSpace(table), "\n"); len(lines) != 14 || !strings.Contains(lines[0], "INITIATOR") ||
		!strings.Contains(table, "10.0.2.15:55079") || !strings.Contains(table, "192.150.187.43:80") {
		t.Errorf("table:\n%s", table)
	}
	// Mistakes are one-line errors.
	for _, c := range []struct {
		args []string
		says string
	}{
		{[]string{"flows", "-r", wiki, "--sort", "size"}, "invalid --sort"},
		{[]string{"flows", "-r", wiki, "--community-id", "1:nope"}, "not a version 1 community id"},
		{[]string{"flows", "-r", wiki, "-l", "-1"}, "invalid limit"},
		{[]string{"flows", "-r", "-", "tcp"}, "standard input"},
		{[]string{"flows", "-r", wiki, "tcp", "and"}, "filter"},
	} {
		r := run(t, c.args...)
		if r.code == 0 || !strings.Contains(r.stderr, c.says) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q, want one line with %q", c.args, r.code, r.stderr, c.says)
		}
	}
}

func sortedKeys(m map[string]bool) string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

// corpusStore records the capture src as interface eth9 of a new store
// directory dir, in segments of 8 KiB, and returns its packets' times.
func corpusStore(t *testing.T, dir, src string) []int64 {
	t.Helper()
	a, err := archive.Open(dir, archive.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rd, err := pcapio.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := archive.NewRecording(dir, archive.RecordingConfig{Interface: "eth9", LinkType: rd.LinkType(), Snaplen: 65535, MaxBytes: 8 << 10})
	if err != nil {
		t.Fatal(err)
	}
	var times []int64
	var b store.Block
	for {
		b.Reset(rd.LinkType())
		for b.Count < 7 {
			p, err := rd.Next()
			if err != nil {
				break
			}
			b.Append(p.Timestamp, p.OrigLen, p.Data)
			times = append(times, p.Timestamp)
		}
		if b.Count == 0 {
			break
		}
		if err := rec.Append(&b); err != nil {
			t.Fatal(err)
		}
		if err := rec.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	return times
}

// TestFlowsOverAStore: a corpus capture recorded into a store directory
// of small segments gives, with -d STORE, the flows -r gives; with
// --since and --until, the conversations tshark counts in the same
// window cut out by editcap (both bounds inclusive here: the upper one is
// half a microsecond past a packet, which editcap's -B excludes).
func TestFlowsOverAStore(t *testing.T) {
	testkit.RequireTool(t, "tshark")
	testkit.RequireTool(t, "editcap")
	src := filepath.Join(testkit.Corpus(t, "pcap"), "zeek_wikipedia.pcap")
	dir := filepath.Join(t.TempDir(), "store")
	times := corpusStore(t, dir, src)

	direct, _ := flowsJSON(t, "-r", src, "-l", "0")
	stored, _ := flowsJSON(t, "-d", dir, "-l", "0")
	if fmt.Sprint(stored) != fmt.Sprint(direct) {
		t.Errorf("flows of the store differ from -r:\n%v\n%v", stored, direct)
	}
	if one, _ := flowsJSON(t, "-d", dir, "--interface", "eth9", "-l", "0", "udp"); len(one) == 0 {
		t.Error("no udp flow on eth9")
	}

	lo, hi := times[len(times)/4], times[3*len(times)/4]
	epoch := func(ns int64) string { return fmt.Sprintf("%d.%09d", ns/1e9, ns%1e9) }
	cut := filepath.Join(t.TempDir(), "window.pcap")
	if out, err := exec.Command("editcap", "-A", epoch(lo), "-B", epoch(hi+500), src, cut).CombinedOutput(); err != nil {
		t.Fatalf("editcap: %v %s", err, out)
	}
	window, _ := flowsJSON(t, "-d", dir, "--since", epoch(lo), "--until", epoch(hi), "-l", "0")
	compareFlows(t, "store window", window, tsharkConvs(t, cut))
	if len(window) == 0 || len(window) >= len(direct) {
		t.Errorf("the window holds %d flows of %d", len(window), len(direct))
	}
}

// TestFlowsOfFragments: a later IP fragment is listed in its packet's
// flow, as tshark counts it after reassembly, and a filter that selects
// only later fragments (which carry no ports) lists the flows they belong
// to: tshark's Community IDs of the frames those fragments are
// reassembled in, each with tshark's packets after reassembly.
func TestFlowsOfFragments(t *testing.T) {
	testkit.RequireTool(t, "tshark")
	path := filepath.Join(testkit.Corpus(t, "pcap"), "zeek_dns-edns-ecs.pcap")
	out, err := exec.Command("tshark", "-2", "-r", path, "--enable-protocol", "communityid", "-T", "fields", "-E", "separator=/t",
		"-e", "communityid", "-e", "ip.reassembled_in", "-e", "ip.frag_offset").Output()
	if err != nil {
		t.Fatal(err)
	}
	var cids []string
	var into []int
	var later []bool
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 3 {
			t.Fatalf("tshark: %q", line)
		}
		cids = append(cids, f[0])
		r, err := strconv.Atoi(f[1])
		if err != nil {
			r = len(cids)
		}
		into = append(into, r-1)
		off, _ := strconv.Atoi(f[2])
		later = append(later, off > 0)
	}
	packets := map[string]int{} // per flow, after reassembly
	wantFrag := map[string]bool{}
	for i := range cids {
		cid := cids[into[i]]
		packets[cid]++
		if later[i] {
			wantFrag[cid] = true
		}
	}
	if len(wantFrag) == 0 {
		t.Fatal("no fragments in the file")
	}
	all, _ := flowsJSON(t, "-r", path, "-l", "0")
	for _, f := range all {
		if n, ok := packets[f.CommunityID]; !ok || n != f.Packets {
			t.Errorf("flow %s %s:%d -> %s:%d: %d packets, tshark after reassembly %d", f.CommunityID, f.Src, f.Sport, f.Dst, f.Dport, f.Packets, n)
		}
	}
	frag, _ := flowsJSON(t, "-r", path, "-l", "0", "ip[6:2] & 0x1fff != 0")
	got := map[string]bool{}
	for _, f := range frag {
		got[f.CommunityID] = true
		if f.Proto != "udp" || f.Sport == 0 || f.Packets != packets[f.CommunityID] {
			t.Errorf("fragments' flow %+v: want its 5-tuple, %d packets", f, packets[f.CommunityID])
		}
	}
	if a, b := sortedKeys(got), sortedKeys(wantFrag); a != b {
		t.Errorf("flows with later fragments: %s, tshark %s", a, b)
	}
}

// TestFlowsOverTheAPI: flows --server asks the daemon's GET
// /api/v1/flows (its audit lines say so; no packet goes over the wire)
// and prints, for the daemon's store, what flows prints for the same
// store read locally, with and without a filter, a window and a
// Community ID; a window's flows over the API are the conversations
// tshark -z conv counts in the same window cut out by editcap.
func TestFlowsOverTheAPI(t *testing.T) {
	testkit.RequireRoot(t, "the daemon records an interface of a network namespace lab")
	testkit.RequireTool(t, "tshark")
	testkit.RequireTool(t, "editcap")
	lab := netlab.New(t, "flw")
	dir := t.TempDir()
	st := filepath.Join(dir, "store")
	src := filepath.Join(testkit.Corpus(t, "pcap"), "zeek_wikipedia.pcap")
	times := corpusStore(t, st, src)
	cfg := filepath.Join(dir, "c.yaml")
	writeConfig(t, cfg, fmt.Sprintf("store: %s\nlisten: 127.0.0.1:0\ninterfaces:\n  - name: %s\n    filter: udp dst port 1\n", st, lab.HostIf))
	d := startDaemon(t, cfg)
	defer d.stop(t, 5*time.Second)
	t.Setenv("PACKETRECORDER_TOKEN", testToken)
	all, _ := flowsJSON(t, "-d", st, "--interface", "eth9", "-l", "0")
	if len(all) < 10 {
		t.Fatalf("%d flows in the store", len(all))
	}
	lo, hi := times[len(times)/4], times[3*len(times)/4]
	epoch := func(ns int64) string { return fmt.Sprintf("%d.%09d", ns/1e9, ns%1e9) }
	for _, args := range [][]string{
		{"flows", "--interface", "eth9", "-l", "0", "--json"},
		{"flows", "--interface", "eth9", "--sort", "bytes", "-l", "5"},
		{"flows", "--interface", "eth9", "-l", "0"},
		{"flows", "--interface", "eth9", "-l", "0", "--json", "udp"},
		{"flows", "--interface", "eth9", "--sort", "duration", "-l", "3", "--since", epoch(lo), "--until", epoch(hi), "tcp"},
		{"flows", "--interface", "eth9", "--json", "--community-id", all[len(all)/2].CommunityID},
	} {
		local := run(t, append(args, "-d", st)...)
		remote := run(t, append(args, "--server", "http://"+d.addr)...)
		if local.code != 0 || local.stdout != remote.stdout || local.stderr != remote.stderr || remote.code != 0 || len(local.stdout) < 100 {
			t.Errorf("%v: --server prints (exit %d)\n%.600s%s\nlocally (exit %d)\n%.600s%s", args, remote.code, remote.stdout, remote.stderr,
				local.code, local.stdout, local.stderr)
		}
	}
	if bad := run(t, "flows", "--interface", "eth9", "--sort", "size", "--server", "http://"+d.addr); bad.code == 0 || !strings.Contains(bad.stderr, "invalid --sort") {
		t.Errorf("--sort size over the API: exit %d, %q", bad.code, bad.stderr)
	}

	cut := filepath.Join(t.TempDir(), "window.pcap")
	if out, err := exec.Command("editcap", "-A", epoch(lo), "-B", epoch(hi+500), src, cut).CombinedOutput(); err != nil {
		t.Fatalf("editcap: %v %s", err, out)
	}
	window, _ := flowsJSON(t, "--server", "http://"+d.addr, "--interface", "eth9", "--since", epoch(lo), "--until", epoch(hi), "-l", "0")
	compareFlows(t, "store window over the API", window, tsharkConvs(t, cut))
	if len(window) == 0 || len(window) >= len(all) {
		t.Errorf("the window holds %d flows of %d", len(window), len(all))
	}

	var flowsAudits int
	for _, l := range strings.Split(d.stderr.String(), "\n") {
		switch {
		case strings.Contains(l, "msg=audit") && strings.Contains(l, "path=/api/v1/flows"):
			flowsAudits++
		case strings.Contains(l, "msg=audit") && strings.Contains(l, "path=/api/v1/packets"):
			t.Errorf("flows --server read packets: %s", l)
		}
	}
	if flowsAudits != 7 {
		t.Errorf("%d audit lines of /api/v1/flows, want 7 (one per flows --server)", flowsAudits)
	}
}
