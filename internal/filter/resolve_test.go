package filter

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// tcpdumpNetmask is the netmask tcpdump passes to pcap_compile for -r
// and -y (and for -i when it cannot look the interface's up): 0, so that
// "ip broadcast" tests for a destination of 0.0.0.0 or 255.255.255.255.
var tcpdumpNetmask = net.IPv4Mask(0, 0, 0, 0)

// fakeResolver answers from a map; a name it lacks does not exist.
type fakeResolver map[string][]string

func (r fakeResolver) LookupIP(_ context.Context, network, host string) ([]net.IP, error) {
	if network != "ip" {
		return nil, errors.New("unexpected network " + network)
	}
	addrs, ok := r[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	var ips []net.IP
	for _, a := range addrs {
		ips = append(ips, net.ParseIP(a))
	}
	return ips, nil
}

var testResolver = fakeResolver{
	"both":   {"10.0.0.1", "2001:db8::1"},
	"v6":     {"2001:db8::2"},
	"v4":     {"10.0.0.2"},
	"twice":  {"10.0.0.1", "10.0.0.9", "10.0.0.1"},
	"gw":     {"10.0.0.1"},
	"router": {"192.168.1.9"},
}

// withNameFiles points /etc/networks and /etc/ethers at test files for
// the duration of t.
func withNameFiles(t *testing.T, networks, ethers string) {
	t.Helper()
	dir := t.TempDir()
	n, e := filepath.Join(dir, "networks"), filepath.Join(dir, "ethers")
	if err := os.WriteFile(n, []byte(networks), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e, []byte(ethers), 0o644); err != nil {
		t.Fatal(err)
	}
	oldN, oldE := networksPath, ethersPath
	networksPath, ethersPath = n, e
	t.Cleanup(func() { networksPath, ethersPath = oldN, oldE })
}

const testNetworks = `# comment
default		0.0.0.0
loopback	127.0.0.0
link-local	169.254.0.0
lan		192.168	home  # alias
ten		10
hexnet		0x0a.0x01
`

const testEthers = `# MAC name
00:11:22:33:44:55 gw
0:1:2:a:b:c	Short
66:77:88:99:aa:bb router  # comment
zz:zz:zz:zz:zz:zz bad
`

// TestNames checks that a name compiles to exactly the program of the
// addresses it stands for, as libpcap's gen_scode builds it: one host
// test per address in the resolver's order, or-ed; with a protocol
// qualifier only the addresses of that family; on link types without a
// link-layer type field, "ip" for IPv4 and "ip6" for IPv6 addresses.
func TestNames(t *testing.T) {
	withNameFiles(t, testNetworks, testEthers)
	cases := []struct {
		lt         uint32
		expr, same string
	}{
		{LinkTypeEthernet, "host both", "host 10.0.0.1 or host 2001:db8::1"},
		{LinkTypeEthernet, "src host both", "src host 10.0.0.1 or src host 2001:db8::1"},
		{LinkTypeEthernet, "dst host both and tcp", "(dst host 10.0.0.1 or dst host 2001:db8::1) and tcp"},
		{LinkTypeEthernet, "ip host both", "ip host 10.0.0.1"},
		{LinkTypeEthernet, "ip6 host both", "ip6 host 2001:db8::1"},
		{LinkTypeEthernet, "arp host v4", "arp host 10.0.0.2"},
		{LinkTypeEthernet, "host v6", "host 2001:db8::2"},
		{LinkTypeEthernet, "host twice", "host 10.0.0.1 or host 10.0.0.9"},
		{LinkTypeEthernet, "not host v4", "not host 10.0.0.2"},
		{LinkTypeEthernet, "host both or v4", "host 10.0.0.1 or host 2001:db8::1 or host 10.0.0.2"},
		{LinkTypeRaw, "host both", "ip host 10.0.0.1 or ip6 host 2001:db8::1"},
		{LinkTypeRaw, "src both", "ip src host 10.0.0.1 or ip6 src host 2001:db8::1"},
		{LinkTypeLinuxSLL, "host both", "host 10.0.0.1 or host 2001:db8::1"},
		{LinkTypeEthernet, "net loopback", "net 127.0.0.0/32"},
		{LinkTypeEthernet, "net LoopBack", "net 127.0.0.0/32"},
		{LinkTypeEthernet, "net link-local", "net 169.254.0.0/32"},
		{LinkTypeEthernet, "net lan", "net 192.168.0.0/16"},
		{LinkTypeEthernet, "src net home", "src net 192.168.0.0/16"},
		{LinkTypeEthernet, "net ten", "net 10.0.0.0/8"},
		{LinkTypeEthernet, "ip net hexnet", "ip net 10.1.0.0/16"},
		{LinkTypeEthernet, "ether host gw", "ether host 00:11:22:33:44:55"},
		{LinkTypeEthernet, "ether src GW", "ether src 00:11:22:33:44:55"},
		{LinkTypeEthernet, "ether dst short", "ether dst 00:01:02:0a:0b:0c"},
		{LinkTypeEthernet, "ether host router or gw", "ether host 66:77:88:99:aa:bb or ether host 00:11:22:33:44:55"},
	}
	for _, c := range cases {
		got, err := Compile(c.expr, Options{LinkType: c.lt, Resolver: testResolver})
		if err != nil {
			t.Errorf("%s %q: %v", LinkTypeName(c.lt), c.expr, err)
			continue
		}
		want, err := Compile(c.same, Options{LinkType: c.lt})
		if err != nil {
			t.Fatalf("%q: %v", c.same, err)
		}
		if !slices.Equal(got.Instructions(), want.Instructions()) {
			t.Errorf("%s %q:\n%s\nwant (as %q):\n%s", LinkTypeName(c.lt), c.expr,
				Format(got.Instructions(), StyleD), c.same, Format(want.Instructions(), StyleD))
		}
	}
}

// TestNameErrors checks libpcap's errors for names it cannot use.
func TestNameErrors(t *testing.T) {
	withNameFiles(t, testNetworks, testEthers)
	cases := []struct {
		lt         uint32
		expr, want string
	}{
		{LinkTypeEthernet, "host nosuch", "filter: unknown host 'nosuch'"},
		{LinkTypeEthernet, "src host nosuch or tcp", "filter: unknown host 'nosuch'"},
		{LinkTypeEthernet, "ip6 host v4", "filter: unknown host 'v4' for specified address family"},
		{LinkTypeEthernet, "ip host v6", "filter: unknown host 'v6' for specified address family"},
		{LinkTypeEthernet, "tcp host both", "filter: 'tcp' modifier applied to host"},
		// Only "ip" skips IPv6 addresses: "arp host" of one fails.
		{LinkTypeEthernet, "arp host both", "filter: 'arp' modifier applied to ip6 host"},
		{LinkTypeEthernet, "decnet host gw", "filter: decnet name support not included, 'gw' cannot be translated"},
		{LinkTypeEthernet, "net nosuch", "filter: unknown network 'nosuch'"},
		{LinkTypeEthernet, "net default", "filter: unknown network 'default'"},
		{LinkTypeEthernet, "ether host nosuch", "filter: unknown ether host 'nosuch'"},
		{LinkTypeEthernet, "ether host bad", "filter: unknown ether host 'bad'"},
		{LinkTypeRaw, "ether host gw", "filter: only ethernet/FDDI/token ring/802.11/ATM LANE/Fibre Channel supports link-level host name"},
		// libpcap built with IPv6 support (Debian's 1.10.3) refuses
		// "gateway" whatever the name.
		{LinkTypeEthernet, "gateway gw", "filter: 'gateway' not supported in this configuration"},
		{LinkTypeEthernet, "gateway nosuch", "filter: 'gateway' not supported in this configuration"},
	}
	for _, c := range cases {
		_, err := Compile(c.expr, Options{LinkType: c.lt, Resolver: testResolver})
		if err == nil || err.Error() != c.want {
			t.Errorf("%s %q: error %v, want %q", LinkTypeName(c.lt), c.expr, err, c.want)
		}
	}

	// A missing file has no names.
	networksPath, ethersPath = filepath.Join(t.TempDir(), "none"), filepath.Join(t.TempDir(), "none")
	for expr, want := range map[string]string{
		"net loopback": "filter: unknown network 'loopback'",
		"ether src gw": "filter: unknown ether host 'gw'",
	} {
		if _, err := Compile(expr, Options{LinkType: LinkTypeEthernet}); err == nil || err.Error() != want {
			t.Errorf("%q without the file: error %v, want %q", expr, err, want)
		}
	}

	// A resolver failure other than "no such host" stays reachable.
	cause := errors.New("i/o timeout")
	_, err := Compile("host x", Options{LinkType: LinkTypeEthernet, Resolver: failingResolver{cause}})
	if !errors.Is(err, cause) || !strings.HasPrefix(err.Error(), "filter: unknown host 'x'") {
		t.Errorf("resolver failure: error %v, want one wrapping %v", err, cause)
	}
}

type failingResolver struct{ err error }

func (r failingResolver) LookupIP(context.Context, string, string) ([]net.IP, error) {
	return nil, r.err
}

// countingResolver counts lookups.
type countingResolver struct {
	fakeResolver
	n int
}

func (r *countingResolver) LookupIP(ctx context.Context, network, host string) ([]net.IP, error) {
	r.n++
	return r.fakeResolver.LookupIP(ctx, network, host)
}

// TestNamesResolvedOnce checks that a name is looked up once per
// Compile, though a live compile generates two programs.
func TestNamesResolvedOnce(t *testing.T) {
	r := &countingResolver{fakeResolver: testResolver}
	if _, err := Compile("host both or src host both", Options{LinkType: LinkTypeEthernet, Live: true, Resolver: r}); err != nil {
		t.Fatal(err)
	}
	if r.n != 1 {
		t.Errorf("%d lookups, want 1", r.n)
	}
}

// ipv4Frame is an Ethernet frame carrying an IPv4 UDP header from src to
// dst.
func ipv4Frame(src, dst [4]byte) []byte {
	p := make([]byte, 14+20+8)
	copy(p, []byte{0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x08, 0x00})
	ip := p[14:]
	ip[0], ip[8], ip[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(ip[2:], 28)
	copy(ip[12:], src[:])
	copy(ip[16:], dst[:])
	return p
}

// TestIPBroadcast checks "ip broadcast" from gen_broadcast's definition:
// an IPv4 packet whose destination's host part (the bits outside the
// netmask) is all zeros or all ones.
func TestIPBroadcast(t *testing.T) {
	src := [4]byte{10, 0, 0, 1}
	cases := []struct {
		mask net.IPMask
		dst  [4]byte
		want bool
	}{
		{net.CIDRMask(24, 32), [4]byte{10, 0, 0, 255}, true},
		{net.CIDRMask(24, 32), [4]byte{10, 0, 0, 0}, true},
		{net.CIDRMask(24, 32), [4]byte{192, 168, 7, 255}, true}, // any network
		{net.CIDRMask(24, 32), [4]byte{255, 255, 255, 255}, true},
		{net.CIDRMask(24, 32), [4]byte{10, 0, 0, 5}, false},
		{net.CIDRMask(24, 32), [4]byte{10, 0, 1, 254}, false},
		{net.CIDRMask(16, 32), [4]byte{10, 0, 0, 255}, false},
		{net.CIDRMask(16, 32), [4]byte{10, 0, 255, 255}, true},
		{net.CIDRMask(16, 32), [4]byte{10, 7, 0, 0}, true},
		{net.CIDRMask(0, 32), [4]byte{255, 255, 255, 255}, true},
		{net.CIDRMask(0, 32), [4]byte{0, 0, 0, 0}, true},
		{net.CIDRMask(0, 32), [4]byte{10, 0, 0, 255}, false},
		{net.CIDRMask(31, 32), [4]byte{10, 0, 0, 3}, true},
		{net.CIDRMask(31, 32), [4]byte{10, 0, 0, 2}, true}, // host part is one bit
	}
	for _, c := range cases {
		for _, expr := range []string{"ip broadcast", "udp and ip broadcast"} {
			p, err := Compile(expr, Options{LinkType: LinkTypeEthernet, Netmask: c.mask})
			if err != nil {
				t.Fatalf("%q with netmask %s: %v", expr, c.mask, err)
			}
			pkt := ipv4Frame(src, c.dst)
			if got := p.Match(pkt, len(pkt)); got != c.want {
				t.Errorf("%q with netmask %s, dst %v: Match = %v, want %v", expr, c.mask, net.IP(c.dst[:]), got, c.want)
			}
			// Not an IPv4 packet: an ARP frame with the same bytes.
			pkt[12], pkt[13] = 0x08, 0x06
			if p.Match(pkt, len(pkt)) {
				t.Errorf("%q with netmask %s accepts an ARP frame", expr, c.mask)
			}
		}
	}

	want := "filter: netmask not known, so 'ip broadcast' not supported"
	for _, m := range []net.IPMask{nil, net.CIDRMask(32, 32)} {
		for _, expr := range []string{"ip broadcast", "tcp or ip broadcast"} {
			_, err := Compile(expr, Options{LinkType: LinkTypeEthernet, Netmask: m})
			if err == nil || err.Error() != want {
				t.Errorf("%q with netmask %v: error %v, want %q", expr, m, err, want)
			}
		}
	}
	if _, err := Compile("ip broadcast", Options{LinkType: LinkTypeEthernet, Netmask: net.CIDRMask(64, 128)}); err == nil {
		t.Error("an IPv6 netmask is accepted")
	}
	// The netmask changes nothing else.
	a, _ := Compile("ether broadcast", Options{LinkType: LinkTypeEthernet})
	b, _ := Compile("ether broadcast", Options{LinkType: LinkTypeEthernet, Netmask: net.CIDRMask(24, 32)})
	if a == nil || b == nil || !slices.Equal(a.Instructions(), b.Instructions()) {
		t.Error("the netmask changes \"ether broadcast\"")
	}
}

// TestNamesMatchTcpdump compiles names of this machine (localhost in
// /etc/hosts, loopback in /etc/networks) with tcpdump and with the
// default resolver and the real files: the same program when the name
// has one address, the same verdicts always.
func TestNamesMatchTcpdump(t *testing.T) {
	tcpdump := requireTcpdump(t)
	if _, err := net.DefaultResolver.LookupIP(context.Background(), "ip", "localhost"); err != nil {
		t.Skipf("localhost does not resolve here: %v", err)
	}
	exprs := []string{
		"host localhost", "src host localhost", "dst host localhost and udp",
		"ip host localhost", "not host localhost", "host localhost or host 10.0.0.9",
		"ip6 host localhost", "tcp host localhost", "gateway localhost", "decnet host localhost",
		"ether host localhost", "ether src localhost and tcp",
	}
	if _, err := os.Stat("/etc/networks"); err == nil {
		exprs = append(exprs, "net loopback", "src net loopback", "net link-local", "net default", "net no-such-network-name")
	}
	pkts := testPackets()
	lo, ten := [4]byte{127, 0, 0, 1}, [4]byte{10, 0, 0, 9}
	for _, p := range [][]byte{ipv4Frame(lo, ten), ipv4Frame(ten, lo), ipv4Frame(lo, lo), ipv4Frame([4]byte{127, 0, 0, 0}, ten)} {
		pkts = append(pkts, p, p[:30], p[:33])
	}
	var compared int
	for _, expr := range exprs {
		out, ok := tcpdumpOutput(t, tcpdump, "EN10MB", expr, "-O", "-ddd")
		prog, err := Compile(expr, Options{LinkType: LinkTypeEthernet})
		if !ok || err != nil {
			if ok != (err == nil) {
				t.Errorf("%q: tcpdump compiles it: %v; our error: %v", expr, ok, err)
				continue
			}
			// Both fail: with libpcap's message.
			msg, _ := exec.Command(tcpdump, "-y", "EN10MB", "-d", "--", expr).CombinedOutput()
			if want := strings.TrimPrefix(err.Error(), "filter: "); !strings.Contains(string(msg), "tcpdump: "+want) {
				t.Errorf("%q: our error %q, tcpdump says %q", expr, err, msg)
			}
			continue
		}
		want := parseDDDText(t, out)
		ref := newProgram(expr, want)
		if addrs, _ := net.DefaultResolver.LookupIP(context.Background(), "ip", "localhost"); len(addrs) == 1 {
			if !slices.Equal(prog.Instructions(), want) {
				t.Errorf("%q:\n%s\ntcpdump -O:\n%s", expr, Format(prog.Instructions(), StyleD), Format(want, StyleD))
			}
		}
		for i, p := range pkts {
			w, _ := ref.run(p, uint32(len(p)))
			if got := prog.Match(p, len(p)); got != (w != 0) {
				t.Errorf("%q: packet %d (%d bytes): Match = %v, libpcap = %v", expr, i, len(p), got, w != 0)
			}
		}
		compared++
	}
	if compared < 5 {
		t.Errorf("only %d expressions compiled by both", compared)
	}
	t.Logf("%d name expressions agree with tcpdump", compared)
}

// TestIPBroadcastMatchesLibpcap compares "ip broadcast" with libpcap
// 1.10.3's unoptimized code for given netmasks, which tcpdump cannot be
// made to use here (it passes 0 unless the interface reports its mask):
// recorded with pcap_compile(pcap_open_dead(DLT, 262144), expr, 0,
// netmask) through Python's ctypes, in the corpus's one-line -ddd form.
func TestIPBroadcastMatchesLibpcap(t *testing.T) {
	cases := []struct {
		lt      uint32
		netmask uint32
		expr    string
		want    string
	}{
		{LinkTypeEthernet, 0, "ip broadcast", "8,40 0 0 12,21 0 5 2048,32 0 0 30,21 2 0 0,32 0 0 30,21 0 1 4294967295,6 0 0 262144,6 0 0 0"},
		{LinkTypeEthernet, 0xffffff00, "ip broadcast", "10,40 0 0 12,21 0 7 2048,32 0 0 30,84 0 0 255,21 3 0 0,32 0 0 30,84 0 0 255,21 0 1 255,6 0 0 262144,6 0 0 0"},
		{LinkTypeEthernet, 0xffff0000, "ip broadcast", "10,40 0 0 12,21 0 7 2048,32 0 0 30,84 0 0 65535,21 3 0 0,32 0 0 30,84 0 0 65535,21 0 1 65535,6 0 0 262144,6 0 0 0"},
		{LinkTypeEthernet, 0xfffffffe, "ip broadcast", "10,40 0 0 12,21 0 7 2048,32 0 0 30,84 0 0 1,21 3 0 0,32 0 0 30,84 0 0 1,21 0 1 1,6 0 0 262144,6 0 0 0"},
		{LinkTypeEthernet, 0x00ff00ff, "ip broadcast", "10,40 0 0 12,21 0 7 2048,32 0 0 30,84 0 0 4278255360,21 3 0 0,32 0 0 30,84 0 0 4278255360,21 0 1 4278255360,6 0 0 262144,6 0 0 0"},
		{LinkTypeEthernet, 0xffffff00, "tcp or ip broadcast", "22,40 0 0 12,21 0 2 2048,48 0 0 23,21 16 0 6,40 0 0 12,21 0 6 34525,48 0 0 20,21 12 0 6,48 0 0 20,21 0 2 44,48 0 0 54,21 8 0 6,40 0 0 12,21 0 7 2048,32 0 0 30,84 0 0 255,21 3 0 0,32 0 0 30,84 0 0 255,21 0 1 255,6 0 0 262144,6 0 0 0"},
		{LinkTypeIPv4, 0xfffffffc, "ip broadcast", "10,0 0 0 0,21 0 7 0,32 0 0 16,84 0 0 3,21 3 0 0,32 0 0 16,84 0 0 3,21 0 1 3,6 0 0 262144,6 0 0 0"},
		{LinkTypeEthernet, 0xfffffffc, "ip broadcast and udp", "22,40 0 0 12,21 0 19 2048,32 0 0 30,84 0 0 3,21 3 0 0,32 0 0 30,84 0 0 3,21 0 13 3,40 0 0 12,21 0 2 2048,48 0 0 23,21 8 0 17,40 0 0 12,21 0 7 34525,48 0 0 20,21 4 0 17,48 0 0 20,21 0 3 44,48 0 0 54,21 0 1 17,6 0 0 262144,6 0 0 0"},
		{LinkTypeRaw, 0xffffff00, "ip broadcast", "11,48 0 0 0,84 0 0 240,21 0 7 64,32 0 0 16,84 0 0 255,21 3 0 0,32 0 0 16,84 0 0 255,21 0 1 255,6 0 0 262144,6 0 0 0"},
		{LinkTypeLinuxSLL, 0xffffff00, "ip broadcast", "10,40 0 0 14,21 0 7 2048,32 0 0 32,84 0 0 255,21 3 0 0,32 0 0 32,84 0 0 255,21 0 1 255,6 0 0 262144,6 0 0 0"},
	}
	for _, c := range cases {
		tree, err := parse(c.expr)
		if err != nil {
			t.Fatal(err)
		}
		g := newGen(internalLinkType(c.lt), DefaultSnaplen)
		g.emulateOpt, g.deadHandle = false, true
		g.netmask, g.hasNetmask = c.netmask, true
		got, err := g.run(tree)
		if err != nil {
			t.Errorf("%s %q netmask %#x: %v", LinkTypeName(c.lt), c.expr, c.netmask, err)
			continue
		}
		if want := parseDDD(t, c.want); !slices.Equal(got, want) {
			t.Errorf("%s %q netmask %#x:\n%s\nlibpcap:\n%s", LinkTypeName(c.lt), c.expr, c.netmask,
				Format(got, StyleD), Format(want, StyleD))
		}
		// Compile (which tests it on packets) accepts the same mask.
		m := net.IPv4Mask(byte(c.netmask>>24), byte(c.netmask>>16), byte(c.netmask>>8), byte(c.netmask))
		if _, err := Compile(c.expr, Options{LinkType: c.lt, Netmask: m}); err != nil {
			t.Errorf("Compile(%q) with netmask %s: %v", c.expr, m, err)
		}
	}
}

// TestCompileContext checks that a cancelled context stops lookups with
// an error errors.Is can match.
func TestCompileContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := CompileContext(ctx, "host example", Options{LinkType: LinkTypeEthernet, Resolver: ctxResolver{}})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want one matching context.Canceled", err)
	}
	// Without names the context is not consulted.
	if _, err := CompileContext(ctx, "tcp port 80", Options{LinkType: LinkTypeEthernet}); err != nil {
		t.Error(err)
	}
}

// ctxResolver fails with the context's error, as net.Resolver does.
type ctxResolver struct{}

func (ctxResolver) LookupIP(ctx context.Context, _, host string) ([]net.IP, error) {
	if err := ctx.Err(); err != nil {
		return nil, &net.DNSError{Err: err.Error(), Name: host, IsTimeout: true, UnwrapErr: err}
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}
