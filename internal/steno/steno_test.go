package steno

import (
	"encoding/binary"
	"errors"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/filter"
)

var testNow = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

// Packets built by hand, and what Stenographer's index (stenotype/index.cc)
// records for them, decoded here independently of the package.

func be16(v int) []byte { return binary.BigEndian.AppendUint16(nil, uint16(v)) }

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func eth(typ int, payload []byte) []byte {
	return cat([]byte{2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2}, be16(typ), payload)
}

func tag(vid, typ int, payload []byte) []byte { return cat(be16(vid), be16(typ), payload) }

func mplsLabel(label int, bottom bool, payload []byte) []byte {
	v := uint32(label)<<12 | 64
	if bottom {
		v |= 1 << 8
	}
	return cat(binary.BigEndian.AppendUint32(nil, v), payload)
}

func ip4(proto byte, src, dst string, payload []byte) []byte {
	h := []byte{0x45, 0, 0, 0, 0, 0, 0, 0, 64, proto, 0, 0}
	binary.BigEndian.PutUint16(h[2:], uint16(20+len(payload)))
	return cat(h, net.ParseIP(src).To4(), net.ParseIP(dst).To4(), payload)
}

func ip6(next byte, src, dst string, payload []byte) []byte {
	h := []byte{0x60, 0, 0, 0, 0, 0, next, 64}
	binary.BigEndian.PutUint16(h[4:], uint16(len(payload)))
	return cat(h, net.ParseIP(src).To16(), net.ParseIP(dst).To16(), payload)
}

func hopByHop(next byte, payload []byte) []byte {
	return cat([]byte{next, 0, 1, 4, 0, 0, 0, 0}, payload)
}

func tcpSeg(sport, dport int) []byte {
	return cat(be16(sport), be16(dport), make([]byte, 8), []byte{0x50, 0x02}, make([]byte, 6))
}

func udpDgram(sport, dport int) []byte { return cat(be16(sport), be16(dport), be16(8), be16(0)) }

func icmpMsg() []byte { return []byte{8, 0, 0, 0, 0, 1, 0, 1} }

// facts is what the index records for a packet.
type facts struct {
	ips    []net.IP
	proto  int // -1: none
	ports  []int
	vlans  []int
	labels []int
	levels int  // VLAN tags and MPLS labels passed
	mpls   bool // an MPLS label was passed
	ext6   bool // an IPv6 extension header was passed
}

func (f facts) hasIP(s string) bool {
	want := net.ParseIP(s)
	for _, ip := range f.ips {
		if ip.Equal(want) {
			return true
		}
	}
	return false
}

func (f facts) inNet(cidr string) bool {
	_, n, _ := net.ParseCIDR(cidr)
	for _, ip := range f.ips {
		if len(ip) == len(n.IP) && n.Contains(ip) {
			return true
		}
	}
	return false
}

func has(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// index decodes a frame as stenotype's Index::Process does.
func index(b []byte) facts {
	f := facts{proto: -1}
	if len(b) < 14 {
		return f
	}
	typ := int(binary.BigEndian.Uint16(b[12:]))
	b = b[14:]
	for {
		switch typ {
		case 0x8100, 0x88a8, 0x9100, 0x9200, 0x9300:
			if len(b) < 4 {
				return f
			}
			f.vlans = append(f.vlans, int(binary.BigEndian.Uint16(b))&0xfff)
			f.levels++
			typ = int(binary.BigEndian.Uint16(b[2:]))
			b = b[4:]
			continue
		case 0x8847, 0x8848:
			for {
				if len(b) < 5 {
					return f
				}
				v := binary.BigEndian.Uint32(b)
				f.labels = append(f.labels, int(v>>12))
				f.mpls = true
				f.levels++
				b = b[4:]
				if v&(1<<8) != 0 {
					break
				}
			}
			switch b[0] >> 4 {
			case 4:
				typ = 0x0800
			case 6:
				typ = 0x86dd
			default:
				return f
			}
			continue
		case 0x0800:
			if len(b) < 20 {
				return f
			}
			f.ips = append(f.ips, net.IP(b[12:16]), net.IP(b[16:20]))
			f.proto = int(b[9])
			b = b[int(b[0]&0xf)*4:]
		case 0x86dd:
			if len(b) < 40 {
				return f
			}
			f.ips = append(f.ips, net.IP(b[8:24]), net.IP(b[24:40]))
			next := int(b[6])
			b = b[40:]
			for next == 0 || next == 43 || next == 60 {
				f.ext6 = true
				next = int(b[0])
				b = b[(int(b[1])+1)*8:]
			}
			f.proto = next
		default:
			return f
		}
		break
	}
	if (f.proto == 6 && len(b) >= 20) || (f.proto == 17 && len(b) >= 8) {
		f.ports = append(f.ports, int(binary.BigEndian.Uint16(b)), int(binary.BigEndian.Uint16(b[2:])))
	}
	return f
}

var packets = []struct {
	name string
	data []byte
}{
	{"ip4 tcp 10.0.0.1:1234 > 1.2.3.4:80", eth(0x0800, ip4(6, "10.0.0.1", "1.2.3.4", tcpSeg(1234, 80)))},
	{"ip4 udp 1.2.3.5:514 > 10.0.0.2:53", eth(0x0800, ip4(17, "1.2.3.5", "10.0.0.2", udpDgram(514, 53)))},
	{"ip4 icmp 10.0.0.1 > 8.8.8.8", eth(0x0800, ip4(1, "10.0.0.1", "8.8.8.8", icmpMsg()))},
	{"ip6 tcp [2001:db8::1]:443 > [2001:db8:1::2]:5555", eth(0x86dd, ip6(6, "2001:db8::1", "2001:db8:1::2", tcpSeg(443, 5555)))},
	{"ip6 hop-by-hop udp [fe80::1]:53 > [ff02::16]:80", eth(0x86dd, ip6(0, "fe80::1", "ff02::16", hopByHop(17, udpDgram(53, 80))))},
	{"ip6 icmp6 ::1 > ::1", eth(0x86dd, ip6(58, "::1", "::1", icmpMsg()))},
	{"vlan 100 ip4 tcp 1.2.3.4:8080 > 10.0.0.9:40000", eth(0x8100, tag(100, 0x0800, ip4(6, "1.2.3.4", "10.0.0.9", tcpSeg(8080, 40000))))},
	{"vlan 200 ip6 udp [2001:db8::1]:514 > [2001:db8::2]:514", eth(0x88a8, tag(200, 0x86dd, ip6(17, "2001:db8::1", "2001:db8::2", udpDgram(514, 514))))},
	{"mpls 1000 ip4 udp 1.2.3.4:514 > 5.6.7.8:9", eth(0x8847, mplsLabel(1000, true, ip4(17, "1.2.3.4", "5.6.7.8", udpDgram(514, 9))))},
	{"arp 1.2.3.4", eth(0x0806, cat([]byte{0, 1, 8, 0, 6, 4, 0, 1}, make([]byte, 6), net.ParseIP("1.2.3.4").To4(), make([]byte, 6), net.ParseIP("10.0.0.1").To4()))},
	{"ip4 udp 1.2.4.1:80 > 10.0.0.1:80", eth(0x0800, ip4(17, "1.2.4.1", "10.0.0.1", udpDgram(80, 80)))},
	// Two levels: the translation does not follow them (documented).
	{"qinq 100/200 ip4 tcp 1.2.3.4:80", eth(0x88a8, tag(100, 0x8100, tag(200, 0x0800, ip4(6, "1.2.3.4", "10.0.0.1", tcpSeg(80, 80)))))},
}

// stenoCases are Stenographer queries (README examples first) and their
// meaning over the index's facts.
var stenoCases = []struct {
	query string
	want  func(f facts) bool
}{
	{"host 8.8.8.8", func(f facts) bool { return f.hasIP("8.8.8.8") }},
	{"host 1.2.3.4", func(f facts) bool { return f.hasIP("1.2.3.4") }},
	{"net 1.0.0.0/8", func(f facts) bool { return f.inNet("1.0.0.0/8") }},
	{"net 1.2.3.0 mask 255.255.255.0", func(f facts) bool { return f.inNet("1.2.3.0/24") }},
	{"net 1.2.3.77/24", func(f facts) bool { return f.inNet("1.2.3.0/24") }},
	{"net 0.0.0.0/0", func(f facts) bool { return f.inNet("0.0.0.0/0") }},
	{"port 80", func(f facts) bool { return has(f.ports, 80) }},
	{"port 53", func(f facts) bool { return has(f.ports, 53) }},
	{"ip proto 6", func(f facts) bool { return f.proto == 6 }},
	{"ip proto 58", func(f facts) bool { return f.proto == 58 }},
	{"icmp", func(f facts) bool { return f.proto == 1 }},
	{"tcp", func(f facts) bool { return f.proto == 6 }},
	{"udp", func(f facts) bool { return f.proto == 17 }},
	{"(udp and port 514) or (tcp and port 8080)", func(f facts) bool {
		return f.proto == 17 && has(f.ports, 514) || f.proto == 6 && has(f.ports, 8080)
	}},
	{"host 1.2.3.4 and port 6543", func(f facts) bool { return false }},
	{"host 1.2.3.4 && port 80", func(f facts) bool { return f.hasIP("1.2.3.4") && has(f.ports, 80) }},
	{"tcp || udp && port 53", func(f facts) bool { return (f.proto == 6 || f.proto == 17) && has(f.ports, 53) }},
	{"udp and port 53 or tcp", func(f facts) bool { return f.proto == 17 && has(f.ports, 53) || f.proto == 6 }},
	{"host 2001:db8::1", func(f facts) bool { return f.hasIP("2001:db8::1") }},
	{"net 2001:db8::/32", func(f facts) bool { return f.inNet("2001:db8::/32") }},
	{"host ::ffff:1.2.3.4", func(f facts) bool { return f.hasIP("1.2.3.4") }},
	{"net fe80:: mask ffff::", func(f facts) bool { return f.inNet("fe80::/16") }},
	{"vlan 100", func(f facts) bool { return has(f.vlans, 100) }},
	{"vlan 200 and port 514", func(f facts) bool { return has(f.vlans, 200) && has(f.ports, 514) }},
	{"vlan 100 or udp", func(f facts) bool { return has(f.vlans, 100) || f.proto == 17 }},
	{"mpls 1000", func(f facts) bool { return has(f.labels, 1000) }},
	{"mpls 1000 and host 1.2.3.4 or tcp", func(f facts) bool { return has(f.labels, 1000) && f.hasIP("1.2.3.4") || f.proto == 6 }},
	{"host1.2.3.4", func(f facts) bool { return f.hasIP("1.2.3.4") }},
	{"port 080", func(f facts) bool { return has(f.ports, 80) }},
	{"(port 80)and(tcp)", func(f facts) bool { return has(f.ports, 80) && f.proto == 6 }},
	{"tcp and udp", func(f facts) bool { return false }},
	{"host 1.2.3.4 and after 3h ago", func(f facts) bool { return f.hasIP("1.2.3.4") }},
}

func compile(t *testing.T, expr string) *filter.Program {
	t.Helper()
	p, err := filter.Compile(expr, filter.Options{LinkType: filter.LinkTypeEthernet})
	if err != nil {
		t.Fatalf("compile %q: %v", expr, err)
	}
	return p
}

func TestStenographerMeaning(t *testing.T) {
	for _, tc := range stenoCases {
		q, err := Parse(tc.query, testNow)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.query, err)
			continue
		}
		if !q.Stenographer {
			t.Errorf("Parse(%q) was not read as Stenographer syntax", tc.query)
		}
		if len(q.Windows) > 1 {
			t.Errorf("Parse(%q): %d windows, want at most 1", tc.query, len(q.Windows))
			continue
		}
		match := func([]byte) bool { return false }
		if len(q.Windows) == 1 {
			p := compile(t, q.Windows[0].Filter)
			match = func(b []byte) bool { return p.Match(b, len(b)) }
		}
		for _, pkt := range packets {
			f := index(pkt.data)
			// Documented limits of the translation: one level of
			// encapsulation, MPLS only when the query names it, no
			// protocol or ports behind IPv6 extension headers.
			usesMPLS := strings.Contains(tc.query, "mpls")
			if f.levels > 1 || f.mpls && !usesMPLS || usesMPLS && len(f.vlans) > 0 ||
				f.ext6 && strings.ContainsAny(tc.query, "tu") { // port, proto, tcp, udp
				continue
			}
			if got, want := match(pkt.data), tc.want(f); got != want {
				t.Errorf("%q on %s: got %v, want %v (windows %+v)", tc.query, pkt.name, got, want, q.Windows)
			}
		}
	}
}

// TestLibpcapAccepts checks that libpcap compiles the filters made from
// Stenographer queries.
func TestLibpcapAccepts(t *testing.T) {
	if _, err := exec.LookPath("tcpdump"); err != nil {
		t.Skip("tcpdump not installed")
	}
	for _, tc := range stenoCases {
		q, err := Parse(tc.query, testNow)
		if err != nil {
			continue
		}
		for _, w := range q.Windows {
			out, err := exec.Command("tcpdump", "-y", "EN10MB", "-d", w.Filter).CombinedOutput()
			if err != nil && !strings.Contains(string(out), "expression rejects all packets") {
				t.Errorf("tcpdump -d %q: %v: %s", w.Filter, err, out)
			}
		}
	}
}

func ns(s string) int64 {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UnixNano()
}

// win is a window in test notation: "" for an open end.
type win struct{ since, until, filter string }

func toWin(w Window) win {
	var out win
	if w.HasSince {
		out.since = time.Unix(0, w.Since).UTC().Format(time.RFC3339Nano)
	}
	if w.HasUntil {
		out.until = time.Unix(0, w.Until).UTC().Format(time.RFC3339Nano)
	}
	out.filter = w.Filter
	return out
}

func TestTimes(t *testing.T) {
	const hostF = "(ip host 1.2.3.4) or (vlan and (ip host 1.2.3.4))"
	for _, tc := range []struct {
		query string
		steno bool
		want  []win
	}{
		// README forms.
		{"before 2012-11-03T11:05:00Z", true, []win{{"", "2012-11-03T11:05:00Z", ""}}},
		{"after 2012-11-03T11:05:00-07:00", true, []win{{"2012-11-03T18:05:00Z", "", ""}}},
		{"before 45m ago", true, []win{{"", "2026-12-04T11:15:00Z", ""}}},
		{"after 3h ago", true, []win{{"2026-12-04T09:00:00Z", "", ""}}},
		{"after 30m ago", true, []win{{"2026-12-04T11:30:00Z", "", ""}}},
		{"after 3hago", true, []win{{"2026-12-04T09:00:00Z", "", ""}}},
		{"after 2012-11-03T11:05:00.25Z", true, []win{{"2012-11-03T11:05:00.25Z", "", ""}}},
		{"after 3h ago and before 1h ago", true, []win{{"2026-12-04T09:00:00Z", "2026-12-04T11:00:00Z", ""}}},
		{"host 1.2.3.4 and after 3h ago and before 1h ago", true, []win{{"2026-12-04T09:00:00Z", "2026-12-04T11:00:00Z", hostF}}},
		{"(after 3h ago and before 2h ago) or (after 1h ago)", true, []win{
			{"2026-12-04T09:00:00Z", "2026-12-04T10:00:00Z", ""},
			{"2026-12-04T11:00:00Z", "", ""},
		}},
		{"host 1.2.3.4 or after 1h ago", true, []win{
			{"", "2026-12-04T10:59:59.999999999Z", hostF},
			{"2026-12-04T11:00:00Z", "", ""},
		}},
		{"after 1h ago and before 3h ago", true, nil},
		{"after 9999-01-01T00:00:00Z", true, nil},
		{"before 0001-01-01T00:00:00Z or host 1.2.3.4", true, []win{{"", "", hostF}}},
		{"after 0001-01-01T00:00:00Z", true, []win{{"", "", ""}}},
		// tcpdump syntax with time terms.
		{"udp port 53 and after 3h ago", false, []win{{"2026-12-04T09:00:00Z", "", "udp port 53"}}},
		{"after 3h ago and not port 22", false, []win{{"2026-12-04T09:00:00Z", "", "not port 22"}}},
		{"not after 1h ago && src host 1.2.3.4", false, []win{{"", "2026-12-04T10:59:59.999999999Z", "src host 1.2.3.4"}}},
		{"tcp port 80 or (udp and before 1h ago)", false, []win{
			{"", "2026-12-04T11:00:00Z", "tcp port 80 or udp"},
			{"2026-12-04T11:00:00.000000001Z", "", "tcp port 80"},
		}},
		{"not port 22 and (after 1h ago or ip6) and tcp port 80 or 443", false, []win{
			{"", "2026-12-04T10:59:59.999999999Z", "not port 22 and ip6 and tcp port 80 or 443"},
			{"2026-12-04T11:00:00Z", "", "not port 22 and tcp port 80 or 443"},
		}},
		{"udp port 53 and after 3hago", false, []win{{"2026-12-04T09:00:00Z", "", "udp port 53"}}},
		{"ip[0] & 0xf != 5 && after 1h ago", false, []win{{"2026-12-04T11:00:00Z", "", "ip[0] & 0xf != 5"}}},
		{"(tcp[tcpflags] & tcp-syn != 0) and before 2012-11-03T11:05:00Z", false, []win{{"", "2012-11-03T11:05:00Z", "(tcp[tcpflags] & tcp-syn != 0)"}}},
		{"! after 1h ago", false, []win{{"", "2026-12-04T10:59:59.999999999Z", ""}}},
		{"not port 22", false, []win{{"", "", "not port 22"}}},
	} {
		q, err := Parse(tc.query, testNow)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.query, err)
			continue
		}
		if q.Stenographer != tc.steno {
			t.Errorf("Parse(%q).Stenographer = %v, want %v", tc.query, q.Stenographer, tc.steno)
		}
		var got []win
		for _, w := range q.Windows {
			got = append(got, toWin(w))
		}
		if len(got) != len(tc.want) {
			t.Errorf("Parse(%q) = %q, want %q", tc.query, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("Parse(%q) = %q, want %q", tc.query, got, tc.want)
				break
			}
		}
	}
}

func TestBoundsInclusive(t *testing.T) {
	q, err := Parse("after 2026-01-01T00:00:00Z and before 2026-01-02T00:00:00Z or host 1.2.3.4", testNow)
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := ns("2026-01-01T00:00:00Z"), ns("2026-01-02T00:00:00Z")
	for _, tc := range []struct {
		ts     int64
		filter string
		ok     bool
	}{
		{lo - 1, "(ip host 1.2.3.4) or (vlan and (ip host 1.2.3.4))", true},
		{lo, "", true},
		{hi, "", true},
		{hi + 1, "(ip host 1.2.3.4) or (vlan and (ip host 1.2.3.4))", true},
	} {
		f, ok := q.Filter(tc.ts)
		if f != tc.filter || ok != tc.ok {
			t.Errorf("Filter(%d) = %q, %v; want %q, %v", tc.ts, f, ok, tc.filter, tc.ok)
		}
	}
	h := q.Hull()
	if h.HasSince || h.HasUntil {
		t.Errorf("Hull() = %+v, want unbounded", h)
	}

	q, err = Parse("after 2026-01-01T00:00:00Z and before 2026-01-02T00:00:00Z", testNow)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := q.Filter(lo - 1); ok {
		t.Errorf("Filter(lo-1) matched")
	}
	if _, ok := q.Filter(hi + 1); ok {
		t.Errorf("Filter(hi+1) matched")
	}
	if h := q.Hull(); !h.HasSince || !h.HasUntil || h.Since != lo || h.Until != hi {
		t.Errorf("Hull() = %+v", h)
	}
}

func TestRejected(t *testing.T) {
	for _, query := range []string{
		"",
		"   ",
		"after 2d ago",
		"after 90s ago",
		"after 1h30m ago",
		"after 1.5h ago",
		"after 3h",
		"after 2012-11-03 11:05:00",
		"after 2012-11-03T11:05:00",
		"before",
		"port 65536",
		"vlan 4096 and foo",
		"net 1.2.3.0/33",
		"net 1.2.3.0 mask 255.0.255.0",
		"net 1.2.3.0 mask ffff::",
		"host 1.2.3.4 and",
		"(host 1.2.3.4",
		"host 1.2.3.4)",
		"udp port 53 after 1h ago",
		"ip[0] & (after 1h ago)",
		strings.Repeat("(", 1000) + "tcp" + strings.Repeat(")", 1000),
		strings.Repeat("not ", 1000) + "tcp",
		strings.Repeat("after 1h ago and ", 100) + "tcp",
	} {
		_, err := Parse(query, testNow)
		if err == nil {
			t.Errorf("Parse(%q) succeeded", query)
			continue
		}
		if !errors.Is(err, ErrSyntax) {
			t.Errorf("Parse(%q) = %v, does not wrap ErrSyntax", query, err)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("Parse(%q): error has several lines: %q", query, err)
		}
	}
}
