package filter

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/packetrecorderd/packetrecorderd/internal/index"
	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// TestPlanExprs pins what each construct plans into, from pcap-filter(7)
// and the fields libpcap's programs test.
func TestPlanExprs(t *testing.T) {
	ports80 := "(port 80/6 or port 80/17 or port 80/132)"
	cases := []struct{ expr, want string }{
		{"", "all"},
		{"host 10.0.0.1", "addr 10.0.0.1"},
		{"src host 10.0.0.1 and dst port 80", "(addr 10.0.0.1 and " + ports80 + ")"},
		{"arp host 10.0.0.1 or rarp src host 10.0.0.2", "(addr 10.0.0.1 or addr 10.0.0.2)"},
		{"tcp port 80", "port 80/6"},
		{"udp dst port 53 or sctp port 9", "(port 53/17 or port 9/132)"},
		{"portrange 1-1023", "(ports 1-1023/6 or ports 1-1023/17 or ports 1-1023/132)"},
		{"tcp portrange 2000-1000", "ports 1000-2000/6"},
		{"not host 10.0.0.1", "all"},
		{"not not host 10.0.0.1", "addr 10.0.0.1"},
		{"not (not host 10.0.0.1 or not tcp port 80)", "(addr 10.0.0.1 and port 80/6)"},
		{"not (host 10.0.0.1 and port 80)", "all"},
		{"host 10.0.0.1 or len > 100", "all"},
		{"host 10.0.0.1 and len > 100", "addr 10.0.0.1"},
		// An abbreviated address is a network, a bare number an address.
		{"host 10.1", "net 10.1.0.0/16"},
		{"net 10", "net 10.0.0.0/8"},
		{"net 172.16.0.0/12", "net 172.16.0.0/12"},
		{"host 10", "addr 0.0.0.10"},
		// A mask with holes is widened to its leading ones.
		{"net 10.0.0.0 mask 255.0.255.0", "net 10.0.0.0/8"},
		{"ip6 host ::ffff:1.2.3.4", "addr ::ffff:1.2.3.4"},
		{"net 2001:db8::/32", "net 2001:db8::/32"},
		{"tcp or udp or icmp or icmp6", "(proto 6 or proto 17 or proto 1 or proto 58)"},
		{"ip proto 47 or ip6 proto 50 or proto 51", "(proto 47 or proto 50 or proto 51)"},
		{"tcp[13] & 2 != 0", "proto 6"},
		{"icmp6[icmp6type] == icmp6-echo", "proto 58"},
		{"ip[9] == 6 or len > 10", "all"},
		{"vlan 10", "vlan 10"},
		{"vlan 10 or vlan 20", "(vlan 10 or vlan 20)"},
		{"vlan and host 1.2.3.4", "addr 1.2.3.4"},
		{"vlan or host 1.2.3.4", "all"},
		{"vlan and vlan and vlan and vlan and host 1.2.3.4", "addr 1.2.3.4"},
		{"vlan and vlan and vlan and vlan and vlan and host 1.2.3.4", "all"},
		{"mpls and host 1.2.3.4", "addr 1.2.3.4"},
		{"mpls 100 and mpls and tcp port 80", "port 80/6"},
		{"mpls or host 1.2.3.4", "all"},
		{"(mpls or tcp) and host 1.2.3.4", "all"},
		{"host 1.2.3.4 and mpls", "addr 1.2.3.4"},
		{"not mpls and host 1.2.3.4", "all"},
		{"pppoes and tcp port 80", "port 80/6"},
		{"pppoes 3 and host 1.2.3.4", "addr 1.2.3.4"},
		{"geneve and host 1.2.3.4", "addr 1.2.3.4"},
		{"geneve or host 1.2.3.4", "all"},
		{"mpls and geneve and host 1.2.3.4", "all"},
		{"ether host 00:01:02:03:04:05 or broadcast or multicast", "all"},
		{"ip protochain 6", "all"},
		{"ip or ip6 or arp", "all"},
		{"ip and udp", "proto 17"},
		{"host sundown", "all"},
	}
	for _, c := range cases {
		e, err := Plan(c.expr, Options{})
		if err != nil {
			t.Errorf("%q: %v", c.expr, err)
			continue
		}
		if got := e.String(); got != c.want {
			t.Errorf("%q: plan %s, want %s", c.expr, got, c.want)
		}
	}
	if _, err := Plan("host (", Options{}); err == nil {
		t.Error("a syntax error gives no error")
	}
}

type fixedResolver map[string][]net.IP

func (r fixedResolver) LookupIP(_ context.Context, _, host string) ([]net.IP, error) {
	if ips, ok := r[host]; ok {
		return ips, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// TestCompilePlanNames: a host name narrows to the addresses the program
// tests, resolved once.
func TestCompilePlanNames(t *testing.T) {
	r := fixedResolver{"db": {net.ParseIP("10.9.9.9"), net.ParseIP("2001:db8::9")}}
	prog, e, err := CompilePlan(context.Background(), "host db and tcp port 5432", Options{LinkType: LinkTypeEthernet, Resolver: r})
	if err != nil || prog == nil {
		t.Fatal(err)
	}
	if got, want := e.String(), "((addr 10.9.9.9 or addr 2001:db8::9) and port 5432/6)"; got != want {
		t.Errorf("plan %s, want %s", got, want)
	}
	if _, _, err := CompilePlan(context.Background(), "host nosuch", Options{LinkType: LinkTypeEthernet, Resolver: r}); err == nil {
		t.Error("an unknown host compiles")
	}
}

// Frames for the tricky cases.
func frameEther(et uint16, payload ...byte) []byte {
	b := []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, byte(et >> 8), byte(et)}
	return append(b, payload...)
}

func frameIPv4(proto byte, src, dst string, payload ...byte) []byte {
	n := 20 + len(payload)
	h := []byte{0x45, 0, byte(n >> 8), byte(n), 0, 1, 0, 0, 64, proto, 0, 0}
	h = append(h, net.ParseIP(src).To4()...)
	h = append(h, net.ParseIP(dst).To4()...)
	return append(h, payload...)
}

func frameIPv6(nh byte, src, dst string, payload ...byte) []byte {
	h := []byte{0x60, 0, 0, 0, byte(len(payload) >> 8), byte(len(payload)), nh, 64}
	h = append(h, net.ParseIP(src).To16()...)
	h = append(h, net.ParseIP(dst).To16()...)
	return append(h, payload...)
}

func frameL4(sp, dp uint16, rest ...byte) []byte {
	b := []byte{byte(sp >> 8), byte(sp), byte(dp >> 8), byte(dp), 0, 0, 0, 0, 0, 0, 0, 0, 0x50, 0x12, 0, 0, 0, 0, 0, 0}
	return append(b, rest...)
}

// trickyFrames are Ethernet frames where libpcap's reading of fields is
// easy to get wrong.
func trickyFrames() [][]byte {
	tcp := frameIPv4(6, "10.0.0.1", "10.0.0.2", frameL4(1234, 80)...)
	udp := frameIPv4(17, "10.0.0.1", "10.0.0.2", frameL4(5353, 53)...)
	frag := frameIPv4(17, "10.0.0.3", "10.0.0.4", frameL4(9, 53)...)
	frag[6], frag[7] = 0x00, 0x20
	// Total length 0x8100 and IP id 20: read after one "vlan" shift
	// this untagged frame has a VLAN TPID and VLAN id 20.
	odd := frameIPv4(6, "10.0.0.5", "10.0.0.6", frameL4(1, 2)...)
	odd[2], odd[3], odd[4], odd[5] = 0x81, 0x00, 0x00, 20
	// Read as if behind an MPLS label (an "mpls" in an "or" moves the
	// offsets without being true): bottom-of-stack bit in the total
	// length's high byte, version 4 in the IP id, the "source address"
	// 10.0.0.5 in the TCP ports.
	mplsOdd := frameIPv4(6, "10.0.0.7", "10.0.0.8", frameL4(0x0a00, 0x0005)...)
	mplsOdd[2] |= 1
	mplsOdd[4] = 0x45
	// Read as if behind a PPPoE header: PPP protocol 0x0021 (IPv4) in
	// the fragment field, the "source address" 10.0.0.6 in the ports of
	// this later fragment.
	pppOdd := frameIPv4(6, "10.0.0.7", "10.0.0.8", frameL4(0x0a00, 0x0006)...)
	pppOdd[6], pppOdd[7] = 0x00, 0x21
	inner := frameEther(0x0800, frameIPv4(6, "192.168.7.1", "192.168.7.2", frameL4(5000, 22)...)...)
	gen := append([]byte{0, 0, 0x65, 0x58, 0, 0, 7, 0}, inner...)
	v6frag := frameIPv6(44, "2001:db8::1", "::ffff:10.0.0.9", append([]byte{6, 0, 0, 1, 0, 0, 0, 1}, frameL4(443, 40000)...)...)
	return [][]byte{
		frameEther(0x0800, tcp...),
		frameEther(0x0806, 0, 1, 8, 0, 6, 4, 0, 1, 0, 1, 2, 3, 4, 5, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2),
		frameEther(0x8100, append([]byte{0, 10, 0x08, 0x00}, tcp...)...),
		frameEther(0x88a8, append([]byte{0, 100, 0x81, 0x00, 0, 200, 0x08, 0x00}, udp...)...),
		frameEther(0x0800, frag...),
		frameEther(0x0800, odd...),
		frameEther(0x86dd, frameIPv6(6, "::ffff:10.0.0.9", "2001:db8::2", frameL4(443, 40000)...)...),
		frameEther(0x86dd, v6frag...),
		frameEther(0x0800, tcp[:16]...),
		frameEther(0x8847, append([]byte{0, 0x64, 0x00, 64, 0, 0xc8, 0x01, 64}, udp...)...),
		frameEther(0x8864, append([]byte{0x11, 0, 0, 3, 0, byte(2 + len(tcp)), 0, 0x21}, tcp...)...),
		frameEther(0x0800, frameIPv4(17, "10.1.1.1", "10.1.1.2", frameL4(40000, 6081, gen...)...)...),
		frameEther(0x8100, append([]byte{0, 30, 0x88, 0x47, 0, 0x64, 0x01, 64}, tcp...)...),
		frameEther(0x0800, mplsOdd...),
		frameEther(0x0800, pppOdd...),
	}
}

// trickyFilters use the values of trickyFrames.
var trickyFilters = []string{
	"host 10.0.0.1", "src host 10.0.0.1", "dst host 10.0.0.2", "arp host 10.0.0.2", "ip host 10.0.0.1",
	"tcp port 80", "port 53", "udp port 53", "portrange 50-60", "tcp portrange 1-1023",
	"vlan 10", "vlan 10 or vlan 20", "vlan 200", "vlan and vlan 200", "vlan and tcp port 80", "vlan or tcp port 80",
	"vlan 100 and vlan 200 and udp port 53", "vlan and host 10.0.0.1", "vlan or host 10.0.0.5",
	"ip6 host ::ffff:10.0.0.9", "host ::ffff:10.0.0.9", "ip6 and tcp", "tcp", "udp", "ip6 proto 6", "port 443",
	"net 10.0.0.0/24", "net 10.1", "host 10.0", "not host 10.0.0.1", "not not host 10.0.0.1",
	"mpls and udp port 53", "mpls and mpls and host 10.0.0.1", "mpls 6 and mpls 12 and udp",
	"pppoes and tcp port 80", "pppoes 3 and host 10.0.0.2", "geneve and tcp port 22", "geneve and host 192.168.7.2",
	"geneve 7 and host 192.168.7.1", "vlan 30 and mpls and tcp port 80", "vlan and mpls and host 10.0.0.2",
	"tcp[13] & 2 != 0", "udp[0:2] = 5353", "ip[9] = 17 and udp port 53",
	"host 10.0.0.3 and udp", "udp port 9",
	"mpls or host 10.0.0.5", "pppoes or host 10.0.0.6", "tcp or mpls and host 10.0.0.5",
	"(udp and mpls) or host 10.0.0.5", "(udp and pppoes) or host 10.0.0.6", "not (not udp or not mpls) or host 10.0.0.5",
}

// TestPlanTrickyFrames: tcpdump (libpcap) says which frames each filter
// accepts; each such frame's terms pass the plan, and our program
// accepts the same frames.
func TestPlanTrickyFrames(t *testing.T) {
	testkit.RequireTool(t, "tcpdump")
	frames := trickyFrames()
	path := filepath.Join(t.TempDir(), "tricky.pcap")
	writeTestPcap(t, path, frames)
	var tm index.Terms
	sets := make([]index.Set, len(frames))
	for i, f := range frames {
		tm.Packet(LinkTypeEthernet, f)
		sets[i] = index.Set{}
		sets[i].Add(tm.List...)
	}
	for _, expr := range trickyFilters {
		out, err := exec.Command("tcpdump", "-r", path, "-nn", "-tt", expr).Output()
		if err != nil {
			t.Fatalf("tcpdump %q: %v", expr, err)
		}
		accepted := map[int]bool{}
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) == 0 {
				continue
			}
			sec, _, _ := strings.Cut(f[0], ".")
			n, err := strconv.Atoi(sec)
			if err != nil {
				t.Fatalf("tcpdump line %q", sc.Text())
			}
			accepted[n] = true
		}
		prog, err := Compile(expr, Options{LinkType: LinkTypeEthernet})
		if err != nil {
			t.Fatalf("%q: %v", expr, err)
		}
		e, err := Plan(expr, Options{})
		if err != nil {
			t.Fatalf("%q: %v", expr, err)
		}
		for i, f := range frames {
			want := accepted[i+1]
			if got := prog.Match(f, len(f)); got != want {
				t.Errorf("%q frame %d: we accept %v, tcpdump %v", expr, i+1, got, want)
			}
			if want && !e.Eval(sets[i]) {
				t.Errorf("%q frame %d: tcpdump accepts it, the plan %s rejects its terms %s", expr, i+1, e, termList(sets[i]))
			}
		}
	}
}

// writeTestPcap writes frames as an Ethernet pcap, frame i at second i+1.
func writeTestPcap(t *testing.T, path string, frames [][]byte) {
	t.Helper()
	var b bytes.Buffer
	hdr := make([]byte, 24)
	binary.LittleEndian.PutUint32(hdr[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 65535)
	binary.LittleEndian.PutUint32(hdr[20:], 1)
	b.Write(hdr)
	for i, f := range frames {
		rec := make([]byte, 16)
		binary.LittleEndian.PutUint32(rec[0:], uint32(i+1))
		binary.LittleEndian.PutUint32(rec[8:], uint32(len(f)))
		binary.LittleEndian.PutUint32(rec[12:], uint32(len(f)))
		b.Write(rec)
		b.Write(f)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// randomFilter builds a filter from index terms (hosts, nets, ports,
// port ranges, protocols, VLAN ids) with and/or/not and parentheses,
// mixing in keywords that move offsets or narrow nothing.
func randomFilter(r *rand.Rand, addrs []string, ports []int, depth int) string {
	if depth <= 0 || r.Intn(3) == 0 {
		a := addrs[r.Intn(len(addrs))]
		p := ports[r.Intn(len(ports))]
		switch r.Intn(20) {
		case 0:
			return "host " + a
		case 1:
			return "src host " + a
		case 2:
			return "dst host " + a
		case 3:
			if strings.Contains(a, ":") {
				return "net " + a + "/64"
			}
			return "net " + a + "/24"
		case 4:
			return fmt.Sprintf("port %d", p)
		case 5:
			return fmt.Sprintf("tcp port %d", p)
		case 6:
			return fmt.Sprintf("udp dst port %d", p)
		case 7:
			return fmt.Sprintf("portrange %d-%d", p, p+r.Intn(100))
		case 8:
			return []string{"tcp", "udp", "icmp", "icmp6", "sctp", "igmp", "ip proto 47", "ip6 proto 58"}[r.Intn(8)]
		case 9:
			return fmt.Sprintf("vlan %d", []int{0, 1, 10, 20, 100, 200, 4095}[r.Intn(7)])
		case 10:
			return []string{"vlan", "mpls", "pppoes", "geneve"}[r.Intn(4)]
		case 11:
			return []string{"len > 100", "tcp[13] & 2 != 0", "ip", "ip6", "arp", "ether broadcast"}[r.Intn(6)]
		case 12:
			return "arp host " + a
		}
		if strings.Contains(a, ":") {
			return "ip6 host " + a
		}
		return "ip host " + a
	}
	switch r.Intn(4) {
	case 0:
		return "not " + randomFilter(r, addrs, ports, depth-1)
	case 1:
		return "(" + randomFilter(r, addrs, ports, depth-1) + " or " + randomFilter(r, addrs, ports, depth-1) + ")"
	}
	return "(" + randomFilter(r, addrs, ports, depth-1) + " and " + randomFilter(r, addrs, ports, depth-1) + ")"
}

// TestPlanRandomFilters: random filters from the values of the corpus
// packets, against our compiled program (which agrees with libpcap:
// TestCorpusVerdicts) on every packet of every capture we compile for.
func TestPlanRandomFilters(t *testing.T) {
	dir := requireCorpus(t)
	manifest := testkit.MustReadTSV(t, filepath.Join(dir, "pcap", "MANIFEST.tsv"))
	type pkt struct {
		lt   uint32
		data []byte
		wire int
		set  index.Set
	}
	var pkts []pkt
	addrSeen := map[string]bool{}
	portSeen := map[int]bool{}
	var tm index.Terms
	for _, m := range manifest {
		if m["libpcap_read"] != "ok" {
			continue
		}
		ps, err := readCapture(filepath.Join(dir, "pcap", m["file"]))
		if err != nil {
			continue
		}
		for _, p := range ps {
			if internalLinkType(p.linkType) == dltNone {
				continue
			}
			tm.Packet(p.linkType, p.data)
			s := index.Set{}
			s.Add(tm.List...)
			for _, term := range tm.List {
				switch term.Kind {
				case index.KindAddr:
					addrSeen[term.Addr.String()] = true
				case index.KindPort:
					portSeen[int(term.Port)] = true
				}
			}
			pkts = append(pkts, pkt{p.linkType, p.data, p.wireLen, s})
		}
	}
	var addrs []string
	for a := range addrSeen {
		addrs = append(addrs, a)
	}
	var ports []int
	for p := range portSeen {
		ports = append(ports, p)
	}
	// Sorted, so that the seed picks the same filters every run.
	sortStrings(addrs)
	sortInts(ports)
	r := rand.New(rand.NewSource(19))
	n := 400
	if testing.Short() {
		n = 50
	}
	var compiled, narrowing, runs, acc, passed int
	progs := map[uint32]*Program{}
	for i := 0; i < n; i++ {
		expr := randomFilter(r, addrs, ports, 4)
		e, err := Plan(expr, Options{})
		if err != nil {
			t.Fatalf("%q: %v", expr, err)
		}
		clear(progs)
		ok := false
		for _, p := range pkts {
			prog, seen := progs[p.lt]
			if !seen {
				prog, _ = Compile(expr, Options{LinkType: p.lt})
				progs[p.lt] = prog
				if prog != nil {
					ok = true
				}
			}
			if prog == nil {
				continue
			}
			runs++
			pass := e.Eval(p.set)
			if pass {
				passed++
			}
			if prog.Match(p.data, p.wire) {
				acc++
				if !pass {
					t.Errorf("%q: a %s packet is accepted, the plan %s rejects its terms %s", expr, LinkTypeName(p.lt), e, termList(p.set))
				}
			}
		}
		if ok {
			compiled++
			if e.Op != index.OpAll {
				narrowing++
			}
		}
	}
	t.Logf("%d random filters (%d compile, %d plans narrow), %d packet runs: %d accepted (%.1f%%), %d pass the plan (%.1f%%)",
		n, compiled, narrowing, runs, acc, pct(acc, runs), passed, pct(passed, runs))
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func sortInts(s []int) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// FuzzPlan: Plan never panics, and on the tricky frames every frame the
// compiled program accepts has terms on which the plan is true (so it
// never claims OpNone for a filter that accepts one of them).
func FuzzPlan(f *testing.F) {
	for _, s := range trickyFilters {
		f.Add(s)
	}
	for _, s := range []string{"not (vlan or mpls) and host 10.0.0.1", "geneve and vlan and host 10.0.0.1",
		"pppoes and mpls and host 10.0.0.1", "vlan 10 and (vlan 20 or vlan) and tcp", "((((host 10.0.0.1))))"} {
		f.Add(s)
	}
	frames := trickyFrames()
	var tm index.Terms
	sets := make([]index.Set, len(frames))
	for i, fr := range frames {
		tm.Packet(LinkTypeEthernet, fr)
		sets[i] = index.Set{}
		sets[i].Add(tm.List...)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		if len(expr) > 300 {
			return
		}
		e, err := Plan(expr, Options{})
		// No DNS: a name is unknown at once.
		prog, cerr := Compile(expr, Options{LinkType: LinkTypeEthernet, Resolver: fixedResolver{}})
		if cerr != nil {
			return
		}
		if err != nil {
			t.Fatalf("%q compiles, Plan fails: %v", expr, err)
		}
		for i, fr := range frames {
			if prog.Match(fr, len(fr)) && !e.Eval(sets[i]) {
				t.Fatalf("%q: frame %d accepted, the plan %s rejects its terms %s", expr, i+1, e, termList(sets[i]))
			}
		}
	})
}

// FuzzPlanFrames: on any bytes, for every tricky filter, a frame the
// compiled program accepts has terms on which the plan is true.
func FuzzPlanFrames(f *testing.F) {
	for _, fr := range trickyFrames() {
		f.Add(fr)
	}
	type planned struct {
		prog *Program
		e    index.Expr
	}
	var ps []planned
	for _, expr := range trickyFilters {
		prog, err := Compile(expr, Options{LinkType: LinkTypeEthernet})
		if err != nil {
			f.Fatal(err)
		}
		e, _ := Plan(expr, Options{})
		ps = append(ps, planned{prog, e})
	}
	f.Fuzz(func(t *testing.T, fr []byte) {
		var tm index.Terms
		tm.Packet(LinkTypeEthernet, fr)
		s := index.Set{}
		s.Add(tm.List...)
		for i, p := range ps {
			if p.prog.Match(fr, len(fr)) && !p.e.Eval(s) {
				t.Fatalf("%q: accepted, the plan %s rejects the terms %s", trickyFilters[i], p.e, termList(s))
			}
		}
	})
}

// stackFrame builds an Ethernet frame from a random stack of VLAN tags,
// MPLS labels, PPPoE and Geneve around an IPv4 or IPv6 packet, with
// values from small pools so that random filters match some.
func stackFrame(r *rand.Rand, depth int) []byte {
	addrs4 := []string{"10.0.0.1", "10.0.0.2", "10.0.1.1"}
	addrs6 := []string{"2001:db8::1", "::ffff:10.0.0.1"}
	l4 := frameL4(uint16([]int{22, 53, 80, 6081}[r.Intn(4)]), uint16([]int{22, 53, 80, 443}[r.Intn(4)]))
	proto := []byte{6, 17, 132, 1}[r.Intn(4)]
	var payload []byte
	var et uint16
	if r.Intn(3) == 0 {
		payload, et = frameIPv6(proto, addrs6[r.Intn(2)], addrs6[r.Intn(2)], l4...), 0x86dd
	} else {
		payload, et = frameIPv4(proto, addrs4[r.Intn(3)], addrs4[r.Intn(3)], l4...), 0x0800
		if r.Intn(8) == 0 {
			payload[6] = 0x01 // a later fragment
		}
	}
	if r.Intn(6) == 0 {
		payload, et = []byte{0, 1, 8, 0, 6, 4, 0, 1, 0, 1, 2, 3, 4, 5, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2}, 0x0806
	}
	for d := 0; d < depth; d++ {
		switch r.Intn(5) {
		case 0, 1:
			vid := []byte{10, 20, 30}[r.Intn(3)]
			payload = append([]byte{0, vid, byte(et >> 8), byte(et)}, payload...)
			et = []uint16{0x8100, 0x88a8, 0x9100}[r.Intn(3)]
		case 2:
			if et != 0x0800 && et != 0x86dd {
				continue
			}
			n := 1 + r.Intn(3)
			var labels []byte
			for i := 0; i < n; i++ {
				s := byte(0)
				if i == n-1 {
					s = 1
				}
				labels = append(labels, 0, byte(10*(i+1)), s, 64)
			}
			payload, et = append(labels, payload...), 0x8847
		case 3:
			ppp := map[uint16]uint16{0x0800: 0x21, 0x86dd: 0x57, 0x8847: 0x281}[et]
			if ppp == 0 {
				continue
			}
			payload = append([]byte{0x11, 0, 0, 3, 0, 0, byte(ppp >> 8), byte(ppp)}, payload...)
			et = 0x8864
		case 4:
			inner := frameEther(et, payload...)
			g := append([]byte{0, 0, 0x65, 0x58, 0, 0, 7, 0}, inner...)
			payload, et = frameIPv4(17, "10.9.9.9", "10.9.9.8", frameL4(40000, 6081, g...)...), 0x0800
		}
	}
	f := frameEther(et, payload...)
	if r.Intn(5) == 0 {
		f = f[:r.Intn(len(f))]
	}
	return f
}

// stackFilter is a random filter over stackFrame's values, with the
// keywords that move offsets anywhere in it.
func stackFilter(r *rand.Rand, depth int) string {
	if depth <= 0 || r.Intn(3) == 0 {
		switch r.Intn(14) {
		case 0:
			return []string{"vlan", "vlan 10", "vlan 20", "vlan 30"}[r.Intn(4)]
		case 1:
			return []string{"mpls", "mpls 10", "mpls 20"}[r.Intn(3)]
		case 2:
			return []string{"pppoes", "pppoes 3"}[r.Intn(2)]
		case 3:
			return []string{"geneve", "geneve 7"}[r.Intn(2)]
		case 4, 5, 6:
			return "host " + []string{"10.0.0.1", "10.0.0.2", "10.0.1.1", "2001:db8::1", "::ffff:10.0.0.1", "10.9.9.9"}[r.Intn(6)]
		case 7:
			return "net " + []string{"10.0.0.0/24", "10.0.0.0/8", "2001:db8::/32"}[r.Intn(3)]
		case 8, 9:
			return []string{"", "tcp ", "udp ", "sctp "}[r.Intn(4)] + "port " + []string{"22", "53", "80", "443"}[r.Intn(4)]
		case 10:
			return []string{"tcp", "udp", "icmp", "sctp", "ip6 proto 6"}[r.Intn(5)]
		case 11:
			return []string{"tcp[13] & 2 != 0", "udp[2:2] = 53", "ip", "ip6", "arp"}[r.Intn(5)]
		case 12:
			return "portrange " + []string{"20-60", "400-500"}[r.Intn(2)]
		}
		return "arp host 10.0.0.2"
	}
	switch r.Intn(4) {
	case 0:
		return "not " + stackFilter(r, depth-1)
	case 1:
		return "(" + stackFilter(r, depth-1) + " or " + stackFilter(r, depth-1) + ")"
	}
	return "(" + stackFilter(r, depth-1) + " and " + stackFilter(r, depth-1) + ")"
}

// TestPlanRandomStacks: random encapsulation stacks against random
// filters that move offsets with vlan, mpls, pppoes and geneve in and,
// or and not: every frame the compiled program accepts passes the plan.
func TestPlanRandomStacks(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	nf, nx := 600, 600
	if testing.Short() {
		nf, nx = 100, 100
	}
	frames := make([][]byte, nf)
	sets := make([]index.Set, nf)
	var tm index.Terms
	for i := range frames {
		frames[i] = stackFrame(r, r.Intn(5))
		tm.Packet(LinkTypeEthernet, frames[i])
		sets[i] = index.Set{}
		sets[i].Add(tm.List...)
	}
	// The same frames on the other link types Terms reads: the
	// Ethernet header replaced by theirs.
	type framed struct {
		lt   uint32
		data []byte
		set  index.Set
	}
	var all []framed
	for i, f := range frames {
		all = append(all, framed{LinkTypeEthernet, f, sets[i]})
		if len(f) < 14 {
			continue
		}
		et, pl := f[12:14], f[14:]
		sll := append(append(make([]byte, 14), et...), pl...)
		sll2 := append(append(append([]byte{}, et...), make([]byte, 18)...), pl...)
		chdlc := append(append([]byte{0x0f, 0x00}, et...), pl...)
		ppp := binary.BigEndian.Uint16(et)
		switch ppp {
		case 0x0800:
			ppp = 0x21
		case 0x86dd:
			ppp = 0x57
		case 0x8847:
			ppp = 0x281
		}
		pppFrame := append([]byte{0xff, 0x03, byte(ppp >> 8), byte(ppp)}, pl...)
		fddi := append(append(append(make([]byte, 13), 0xaa, 0xaa, 0x03, 0, 0, 0), et...), pl...)
		others := []framed{{LinkTypeLinuxSLL, sll, nil}, {LinkTypeLinuxSLL2, sll2, nil}, {104, chdlc, nil},
			{9, pppFrame, nil}, {50, pppFrame, nil}, {166, pppFrame, nil}, {51, append([]byte{0x11, 0, 0, 1}, pppFrame...), nil},
			{10, fddi, nil}}
		switch binary.BigEndian.Uint16(et) {
		case 0x0800:
			slip := append(append([]byte{0x45}, make([]byte, 15)...), pl...)
			ipnet := append(append([]byte{1, 2}, make([]byte, 22)...), pl...)
			others = append(others, framed{8, slip, nil}, framed{226, ipnet, nil})
			others = append(others, framed{LinkTypeRaw, pl, nil}, framed{LinkTypeIPv4, pl, nil},
				framed{LinkTypeNull, append([]byte{2, 0, 0, 0}, pl...), nil}, framed{LinkTypeLoop, append([]byte{0, 0, 0, 2}, pl...), nil})
		case 0x86dd:
			others = append(others, framed{LinkTypeRaw, pl, nil}, framed{LinkTypeIPv6, pl, nil},
				framed{LinkTypeNull, append([]byte{24, 0, 0, 0}, pl...), nil}, framed{LinkTypeLoop, append([]byte{0, 0, 0, 30}, pl...), nil})
		}
		for _, o := range others {
			tm.Packet(o.lt, o.data)
			o.set = index.Set{}
			o.set.Add(tm.List...)
			all = append(all, o)
		}
	}
	var compiled, narrowing, acc, passed, runs int
	progs := map[uint32]*Program{}
	for i := 0; i < nx; i++ {
		expr := stackFilter(r, 4)
		e, err := Plan(expr, Options{})
		if err != nil {
			t.Fatalf("%q: %v", expr, err)
		}
		clear(progs)
		for _, lt := range []uint32{LinkTypeEthernet, LinkTypeLinuxSLL, LinkTypeLinuxSLL2, LinkTypeRaw, LinkTypeIPv4, LinkTypeIPv6, LinkTypeNull, LinkTypeLoop, 9, 104, 50, 166, 51, 10, 8, 226} {
			if prog, err := Compile(expr, Options{LinkType: lt}); err == nil {
				progs[lt] = prog
				compiled++
				if e.Op != index.OpAll {
					narrowing++
				}
			}
		}
		for _, f := range all {
			prog := progs[f.lt]
			if prog == nil {
				continue
			}
			runs++
			pass := e.Eval(f.set)
			if pass {
				passed++
			}
			if prog.Match(f.data, len(f.data)) {
				acc++
				if !pass {
					t.Errorf("%q: %s frame %x accepted, the plan %s rejects its terms %s", expr, LinkTypeName(f.lt), f.data, e, termList(f.set))
				}
			}
		}
	}
	t.Logf("%d programs compiled (%d plans narrow), %d frame runs: %d accepted (%.1f%%), %d pass the plan (%.1f%%)",
		compiled, narrowing, runs, acc, pct(acc, runs), passed, pct(passed, runs))
}

// TestAnd: a forced filter ANDed with a request's bounds it whatever the
// request says: an expression that would close the forced filter's
// parenthesis ("(forced) and (ip) or (ip)") is refused, since it does not
// parse on its own; a whole one is wrapped, and the joined program keeps
// only what both select (checked on packets against each program alone).
func TestAnd(t *testing.T) {
	const forced = "udp dst port 1003"
	for _, escape := range []string{"ip) or (ip", "ip)) or ((ip", "udp) or (not udp", ")", "("} {
		if got, err := And(forced, escape); err == nil {
			t.Errorf("And(%q, %q) = %q, want a syntax error", forced, escape, got)
		}
	}
	for _, c := range []struct{ forced, expr, want string }{
		{"", "ip or arp", "ip or arp"},
		{forced, "", "(" + forced + ")"},
		{forced, "ip or arp", "(" + forced + ") and (ip or arp)"},
		{forced, "(ip) or (arp)", "(" + forced + ") and ((ip) or (arp))"},
	} {
		if got, err := And(c.forced, c.expr); err != nil || got != c.want {
			t.Errorf("And(%q, %q) = %q, %v; want %q", c.forced, c.expr, got, err, c.want)
		}
	}
	full, err := And(forced, "(ip) or (arp)")
	if err != nil {
		t.Fatal(err)
	}
	both, errB := Compile(full, Options{LinkType: 1})
	f, errF := Compile(forced, Options{LinkType: 1})
	e, errE := Compile("(ip) or (arp)", Options{LinkType: 1})
	if errB != nil || errF != nil || errE != nil {
		t.Fatal(errB, errF, errE)
	}
	for _, port := range []uint16{1003, 1004} {
		pkt := udpFrame(port)
		if got, want := both.Match(pkt, len(pkt)), f.Match(pkt, len(pkt)) && e.Match(pkt, len(pkt)); got != want {
			t.Errorf("udp dst port %d: joined program %v, forced and request %v", port, got, want)
		}
	}
}

// udpFrame is an Ethernet/IPv4/UDP frame to dport.
func udpFrame(dport uint16) []byte {
	b := make([]byte, 14+20+8)
	b[12], b[13] = 0x08, 0x00
	b[14] = 0x45
	b[14+3] = 28
	b[14+8] = 64
	b[14+9] = 17
	copy(b[14+12:], []byte{10, 0, 0, 1, 10, 0, 0, 2})
	b[34+2], b[34+3] = byte(dport>>8), byte(dport)
	b[34+5] = 8
	return b
}
