package filter

import (
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

func TestLinkTypeNames(t *testing.T) {
	for _, c := range []struct {
		name string
		lt   uint32
	}{
		{"EN10MB", LinkTypeEthernet}, {"en10mb", LinkTypeEthernet}, {"RAW", LinkTypeRaw},
		{"NULL", LinkTypeNull}, {"LOOP", LinkTypeLoop}, {"LINUX_SLL", LinkTypeLinuxSLL},
		{"LINUX_SLL2", LinkTypeLinuxSLL2}, {"IPV4", LinkTypeIPv4}, {"ipv6", LinkTypeIPv6},
		{"DLT_EN10MB", LinkTypeEthernet}, {"113", LinkTypeLinuxSLL}, {"147", 147},
	} {
		lt, ok := LinkTypeByName(c.name)
		if !ok || lt != c.lt {
			t.Errorf("LinkTypeByName(%q) = %d, %v; want %d", c.name, lt, ok, c.lt)
		}
	}
	if _, ok := LinkTypeByName("NOSUCH"); ok {
		t.Error("LinkTypeByName accepted NOSUCH")
	}
	for lt, want := range map[uint32]string{1: "EN10MB", 101: "RAW", 276: "LINUX_SLL2", 0: "NULL", 9999: "LINKTYPE_9999"} {
		if got := LinkTypeName(lt); got != want {
			t.Errorf("LinkTypeName(%d) = %q, want %q", lt, got, want)
		}
	}
}

func TestEmptyExpression(t *testing.T) {
	for _, expr := range []string{"", "  \t\n"} {
		p, err := Compile(expr, Options{LinkType: LinkTypeEthernet, Snaplen: 1500})
		if err != nil {
			t.Fatal(err)
		}
		insns := p.Instructions()
		if len(insns) != 1 || insns[0].Op != 0x06 || insns[0].K != 1500 {
			t.Errorf("%q: got %v, want a single ret #1500", expr, insns)
		}
		if !p.Match(nil, 0) || p.String() != expr {
			t.Errorf("%q: empty filter must accept everything", expr)
		}
	}
	p, _ := Compile("", Options{LinkType: LinkTypeRaw})
	if p.Instructions()[0].K != DefaultSnaplen {
		t.Error("default snaplen is not 262144")
	}
}

func TestErrors(t *testing.T) {
	for _, c := range []struct{ expr, want string }{
		{"port 80 prot 81", `filter: syntax error at column 9 near "prot"`},
		{"port htp", `filter: unknown port name "htp"`},
		{"vlan and inbound", `filter: "inbound"/"outbound" on this link type (only LINUX_SLL and LINUX_SLL2 record the direction) is not supported on stored packets (only a live capture, Options.Live, can test it)`},
		{"geneve and protochain 6", `filter: 'protochain' not supported with variable length headers`},
		{"tcp port", "filter: syntax error at column 9 (unexpected end of expression)"},
		{"ether host ab:cd:ef:0g:00:00", "filter: bogus ethernet address ab:cd:ef:"},
		{"udp port smtp", "filter: port 'smtp' is tcp"},
		{"ip and ip6", "filter: expression rejects all packets"},
		{"port 70000", "filter: illegal port number 70000 > 65535"},
		{"tcp[0] / 0 = 1", "filter: division by zero"},
	} {
		_, err := Compile(c.expr, Options{LinkType: LinkTypeEthernet})
		if err == nil || err.Error() != c.want {
			t.Errorf("Compile(%q) error = %v, want %q", c.expr, err, c.want)
		}
	}
	// LINKTYPE 3 (AX.25) is outside libpcap's matching range and unknown
	// to its code generator ("unknown data link type 3").
	_, err := Compile("tcp", Options{LinkType: 3})
	if err == nil || err.Error() != "filter: filtering on link type AX25 is not supported" {
		t.Errorf("unsupported link type: %v", err)
	}
}

// TestMatchBasics checks a few verdicts by hand (no external tools).
func TestMatchBasics(t *testing.T) {
	pkts := testPackets()
	syn := pkts[0] // IPv4 TCP 10.0.0.1:40000 -> 10.0.0.2:80, SYN
	cases := []struct {
		expr string
		want bool
	}{
		{"tcp port 80", true}, {"tcp port 443", false}, {"host 10.0.0.1", true},
		{"src host 10.0.0.2", false}, {"tcp[tcpflags] & tcp-syn != 0", true},
		{"net 10.0.0.0/8 and not udp", true}, {"ip6", false}, {"greater 54", true}, {"less 53", false},
	}
	for _, c := range cases {
		p, err := Compile(c.expr, Options{LinkType: LinkTypeEthernet})
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Match(syn, len(syn)); got != c.want {
			t.Errorf("%q: Match = %v, want %v", c.expr, got, c.want)
		}
		// Truncated inside the TCP header: the port load fails.
		if p.Match(syn[:36], len(syn)) && strings.Contains(c.expr, "port") {
			t.Errorf("%q: accepted a packet truncated before the ports", c.expr)
		}
	}
	// len uses the wire length.
	p, _ := Compile("greater 1000", Options{LinkType: LinkTypeEthernet})
	if !p.Match(syn, 1500) || p.Match(syn, 100) {
		t.Error("greater must test the wire length")
	}
}

// FuzzCompile: no panics, no hangs, bounded program size, every
// program passes the kernel's rules (live kernel programs its length
// limit too), and the optimized savefile program returns what the
// savefile program returns. (Run with -fuzzminimizetime 0 to avoid long
// minimization pauses on interesting inputs.)
func FuzzCompile(f *testing.F) {
	if _, err := testkit.ReadTSV(filepath.Join(corpusDir, "filters", "filters.tsv")); err == nil {
		rows, _ := testkit.ReadTSV(filepath.Join(corpusDir, "filters", "filters.tsv"))
		for _, r := range rows {
			f.Add(r["expr"])
		}
	}
	for _, e := range userExpressions {
		f.Add(e)
	}
	for _, e := range linkLayerExpressions {
		f.Add(e)
	}
	all := testPackets()
	pkts := append(all[:8:8], all[len(all)-8:]...) // whole and cut short
	wlan := wlanTestFrames()
	pkts = append(pkts, radiotapFrames(wlan[9])...)
	pkts = append(pkts, wlan[9], wlan[9][:30])
	f.Fuzz(func(t *testing.T, expr string) {
		if len(expr) > 2000 {
			return
		}
		for _, opts := range []Options{{LinkType: LinkTypeEthernet}, {LinkType: LinkTypeRaw}, {LinkType: LinkTypeLinuxSLL2},
			{LinkType: LinkTypeNull}, {LinkType: LinkTypeEthernet, Live: true}, {LinkType: LinkTypeRaw, Live: true},
			{LinkType: 127}, {LinkType: 192}, {LinkType: 123}, {LinkType: 140}} { // radiotap, PPI, SunATM, MTP2
			// Host names come from the test resolver, not the network.
			opts.Resolver = testResolver
			opts.Netmask = net.CIDRMask(24, 32)
			p, err := Compile(expr, opts)
			if err != nil {
				if !strings.HasPrefix(err.Error(), "filter: ") {
					t.Fatalf("%q: error without prefix: %v", expr, err)
				}
				continue
			}
			insns := p.KernelInstructions()
			limit := maxProgramInstructions
			if opts.Live {
				limit = MaxInstructions
			}
			if err := validate(insns, limit); err != nil {
				t.Fatalf("%q: %d instructions: %v", expr, len(insns), err)
			}
			s := p.Instructions()
			if s != nil {
				if err := validateSavefile(s); err != nil {
					t.Fatalf("%q: savefile program: %v", expr, err)
				}
			} else if !opts.Live {
				t.Fatalf("%q: no savefile program", expr)
			}
			var opt *Program
			if s != nil && !hasBackwardJump(s) {
				o, ok := rewrite(s)
				if !ok {
					t.Fatalf("%q: the optimizer refuses the savefile program", expr)
				}
				opt = newProgram(expr, o)
			}
			for _, pk := range pkts {
				m := p.Match(pk, len(pk))
				if opt != nil && opt.Match(pk, len(pk)) != m {
					t.Fatalf("%q: the optimized program disagrees on %x", expr, pk)
				}
			}
		}
	})
}

func BenchmarkMatch(b *testing.B) {
	pkts := testPackets()
	for _, expr := range []string{"tcp port 443", "host 10.0.0.1 and (port 80 or port 443)", "tcp[tcpflags] & (tcp-syn|tcp-fin) != 0", "udp and not port 53"} {
		p, err := Compile(expr, Options{LinkType: LinkTypeEthernet})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(expr, func(b *testing.B) {
			b.ReportAllocs()
			n := 0
			for i := 0; i < b.N; i++ {
				pk := pkts[i%40]
				if p.Match(pk, len(pk)) {
					n++
				}
			}
			_ = n
		})
	}
}
