package filter

import (
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/bpf"
)

// linkLayerDLTs are the link types of linklayer.go that "tcpdump -y"
// takes, with the bare 802.11 and radiotap ones first.
var linkLayerDLTs = []string{
	"IEEE802_11", "IEEE802_11_RADIO", "PPI", "IEEE802_11_RADIO_AVS", "PRISM_HEADER",
	"PPP", "PPP_SERIAL", "PPP_PPPD", "PPP_ETHER", "PPP_BSDOS", "C_HDLC", "FRELAY",
	"SLIP", "SLIP_BSDOS", "FDDI", "IEEE802", "ARCNET", "ARCNET_LINUX", "ATM_RFC1483",
	"ATM_CLIP", "SUNATM", "IP_OVER_FC", "IPNET", "JUNIPER_ETHER", "JUNIPER_MONITOR",
	"JUNIPER_MFR", "JUNIPER_PPPOE", "JUNIPER_ATM1", "BACNET_MS_TP", "MTP2", "MTP2_WITH_PHDR",
	"ERF", "LTALK", "APPLE_IP_OVER_IEEE1394", "SYMANTEC_FIREWALL", "DSA_TAG_BRCM", "USB_LINUX", "PFLOG",
	"ENC", "NETANALYZER", "NETANALYZER_TRANSPARENT",
}

// linkLayerExpressions exercise the link-layer code: 802.11 addresses,
// types and directions, radio headers, LLC/SNAP, SunATM and SS7 fields,
// and the usual protocol tests over each link-layer header.
var linkLayerExpressions = []string{
	"", "ip", "ip6", "arp", "rarp", "tcp", "udp port 53", "tcp port 80 or tcp port 443",
	"host 10.0.0.1", "src net 10.0.0.0/8", "ip6 host 2001:db8::1", "icmp6", "ip proto 50",
	"ip[100] * 0 = 0", "tcp[13] & 2 != 0", "ip multicast", "ip6 multicast", "len > 100", "less 60",
	"link[0] = 1", "link[1:2] & 0x3ff = 3", "byte 1 = 2", "radio[0] = 0", "radio[2:2] > 20",
	"wlan host 00:11:22:33:44:55", "wlan src 00:11:22:33:44:55", "wlan dst 00:11:22:33:44:55",
	"wlan src and dst 00:11:22:33:44:55", "wlan addr1 00:11:22:33:44:55", "wlan addr2 00:11:22:33:44:55",
	"wlan addr3 00:11:22:33:44:55", "wlan addr4 00:11:22:33:44:55", "wlan ra 00:11:22:33:44:55",
	"wlan ta 00:11:22:33:44:55", "ether host 00:11:22:33:44:55", "ether src 00:11:22:33:44:55",
	"fddi dst 00:11:22:33:44:55", "tr src 00:11:22:33:44:55", "link host $0a", "link src $ff",
	"broadcast", "multicast", "ether broadcast", "not broadcast and not multicast",
	"type mgt", "type ctl", "type data", "type management subtype beacon", "type mgt subtype probe-req",
	"type ctl subtype ack", "type data subtype qos-data", "type data subtype null", "subtype beacon",
	"subtype qos", "subtype rts", "wlan type mgt and wlan subtype deauth", "type 8", "type 0x0c",
	"type 1", "type 8 subtype 0x80", "type 8 subtype 1", "type foo", "type mgt subtype ack", "subtype foo",
	"dir nods", "dir tods", "dir fromds", "dir dstods", "dir 3", "dir sideways", "type mgt or dir tods",
	"llc", "llc i", "llc u", "llc s", "llc ui", "llc rr", "iso", "isis", "clnp", "esis", "l1", "csnp",
	"stp", "ipx", "netbeui", "atalk", "aarp", "decnet", "decnet host 1.2", "ether proto 0x88cc",
	"vlan", "vlan 10 and ip", "mpls", "mpls 100 and ip", "pppoed", "pppoes and ip", "pppoes 3",
	"inbound", "outbound", "ifindex 2",
	"lane", "lane and ip", "lane and ether host 00:11:22:33:44:55", "llc and ip", "metac", "bcc", "sc",
	"ilmic", "oamf4ec", "oamf4sc", "oam", "oamf4", "connectmsg", "metaconnect", "vpi 1", "vci 5",
	"vpi > 3", "vci != 7", "vpi (1 or 2 or 3)", "vpi 1 and vci 5 and ip",
	"fisu", "lssu", "lsu", "msu", "hfisu", "hlssu", "hmsu", "sio 3", "sio > 3", "sio != 0xa5",
	"opc 0x3b35", "dpc (1 or 2)", "sls <= 4", "hsio 2", "hopc 9000", "hdpc >= 0x0ab5", "hsls < 9",
	"sio 256", "dpc 16384",
	"protochain 6", "geneve and ip", "ip and not ip6", "tcp and udp",
	"on eth0", "ifname em0 and tcp", "ifname abcdefghijklmnop", "rset main", "ruleset x and ip6",
	"rnr 5", "srnr 7", "reason congestion", "reason 3", "reason bogus", "action pass", "action block",
	"action bogus", "rulenum 1 or subrulenum 2",
}

// TestLinkLayerMatchesTcpdump compiles every link-layer expression for
// every link type of linklayer.go and requires what tcpdump -O -ddd -y
// (libpcap 1.10.3, optimizer off) gives: the same error or success and,
// for a program, the same instructions. tcpdump -y compiles for a dead
// handle, as for a live capture, so "inbound", "outbound" and "ifindex"
// compile there where our savefile programs refuse them ("not
// supported").
func TestLinkLayerMatchesTcpdump(t *testing.T) {
	tcpdump := requireTcpdump(t)
	if testing.Short() {
		t.Skip("slow: runs tcpdump for every expression and link type")
	}
	var same, errorsAgree, unsupported int
	for _, dlt := range linkLayerDLTs {
		lt, ok := LinkTypeByName(dlt)
		if !ok || internalLinkType(lt) == dltNone {
			t.Errorf("%s: not a link type this package compiles for", dlt)
			continue
		}
		for _, expr := range linkLayerExpressions {
			out, ok := tcpdumpOutput(t, tcpdump, dlt, expr, "-O", "-ddd")
			got, err := compileNoCheck(expr, lt, true)
			if !bothCompiled(t, dlt+" "+expr, "tcpdump -O", "generate code", ok, err, &errorsAgree, &unsupported) {
				continue
			}
			want := parseDDDText(t, out)
			if !slices.Equal(got, want) {
				t.Errorf("%s %q: code differs from tcpdump -O\n got: %s\nwant: %s", dlt, expr, Format(got, StyleD), Format(want, StyleD))
				continue
			}
			same++
		}
	}
	t.Logf("%d programs identical to tcpdump -O -ddd, %d expressions refused by both, %d not supported on stored packets", same, errorsAgree, unsupported)
}

// TestLinkLayerDifferential runs Match and libpcap's optimized program
// (tcpdump -ddd -y) over 802.11 frames, bare and behind radiotap
// headers with and without TSFT and data padding, whole and truncated:
// the two must accept the same frames. It checks the run-time offset
// code (radiotap length, QoS, Atheros padding), which bytecode equality
// cannot show works.
func TestLinkLayerDifferential(t *testing.T) {
	tcpdump := requireTcpdump(t)
	bare := wlanTestFrames()
	var radio [][]byte
	for _, f := range bare {
		radio = append(radio, radiotapFrames(f)...)
	}
	exprs := []string{
		"", "ip", "ip6", "arp", "tcp", "udp port 53", "tcp port 80", "host 10.0.0.1", "ip[100] * 0 = 0",
		"wlan host 00:11:22:33:44:55", "wlan src 00:11:22:33:44:55", "wlan dst 66:77:88:99:aa:bb",
		"wlan addr2 00:11:22:33:44:55", "wlan ta 00:11:22:33:44:55", "wlan ra 66:77:88:99:aa:bb",
		"wlan addr4 00:11:22:33:44:55", "broadcast", "multicast", "type mgt subtype beacon",
		"type data subtype qos-data", "dir fromds", "llc", "radio[4:4] & 2 != 0", "vlan and ip",
	}
	var compared, frames int
	for _, c := range []struct {
		dlt  string
		pkts [][]byte
	}{{"IEEE802_11", bare}, {"IEEE802_11_RADIO", radio}} {
		lt, _ := LinkTypeByName(c.dlt)
		var pkts [][]byte
		for _, p := range c.pkts {
			pkts = append(pkts, p)
			for cut := 10; cut < len(p); cut += 7 {
				pkts = append(pkts, p[:cut])
			}
		}
		for _, expr := range exprs {
			out, ok := tcpdumpOutput(t, tcpdump, c.dlt, expr, "-ddd")
			prog, err := Compile(expr, Options{LinkType: lt})
			if !ok || err != nil {
				if ok != (err == nil) {
					t.Errorf("%s %q: tcpdump compiles it: %v, we: %v", c.dlt, expr, ok, err)
				}
				continue
			}
			ref := newProgram(expr, parseDDDText(t, out))
			if d, okd := bpf.Disassemble(prog.KernelInstructions()); !okd {
				t.Errorf("%s %q: kernel program does not disassemble", c.dlt, expr)
			} else if _, err := bpf.NewVM(d); err != nil {
				t.Errorf("%s %q: x/net/bpf refuses the kernel program: %v", c.dlt, expr, err)
			}
			compared++
			accepted := 0
			for i, p := range pkts {
				want, _ := ref.run(p, uint32(len(p)))
				if got := prog.Match(p, len(p)); got != (want != 0) {
					t.Errorf("%s %q: packet %d (%d bytes): Match = %v, libpcap = %v", c.dlt, expr, i, len(p), got, want != 0)
				}
				if want != 0 {
					accepted++
				}
			}
			if expr != "" && accepted == len(pkts) {
				t.Errorf("%s %q accepts every test frame: the frames do not exercise it", c.dlt, expr)
			}
		}
		frames += len(pkts)
	}
	t.Logf("%d programs compared with libpcap's over %d frames", compared, frames)
}

// wlanTestFrames builds 802.11 frames: data frames in each direction,
// with and without QoS, carrying IPv4/TCP, IPv4/UDP DNS, IPv6 and ARP
// under LLC/SNAP; management (beacon) and control (ACK, RTS) frames.
func wlanTestFrames() [][]byte {
	a := []byte{0x00, 0x11, 0x22, 0x33, 0x44, 0x55}
	b := []byte{0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb}
	bc := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	mc := []byte{0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb}
	snap := func(etype uint16, payload []byte) []byte {
		return append([]byte{0xaa, 0xaa, 0x03, 0, 0, 0, byte(etype >> 8), byte(etype)}, payload...)
	}
	ipv4 := func(proto byte, sport, dport uint16) []byte {
		h := make([]byte, 40)
		h[0], h[9] = 0x45, proto
		copy(h[12:], []byte{10, 0, 0, 1})
		copy(h[16:], []byte{10, 0, 0, 2})
		h[20], h[21], h[22], h[23] = byte(sport>>8), byte(sport), byte(dport>>8), byte(dport)
		return h
	}
	ipv6 := make([]byte, 48)
	ipv6[0], ipv6[6] = 0x60, 17
	// header: frame control (2), duration (2), addr1, addr2, addr3,
	// sequence (2), addr4 when both DS bits are set, QoS (2).
	hdr := func(fc0, fc1 byte, a1, a2, a3, a4 []byte, qos bool) []byte {
		h := []byte{fc0, fc1, 0, 0}
		h = append(append(append(h, a1...), a2...), a3...)
		h = append(h, 0, 0)
		if fc1&3 == 3 {
			h = append(h, a4...)
		}
		if qos {
			h = append(h, 0, 0)
		}
		return h
	}
	var out [][]byte
	payloads := [][]byte{snap(0x0800, ipv4(6, 40000, 80)), snap(0x0800, ipv4(17, 5353, 53)), snap(0x86dd, ipv6), snap(0x0806, make([]byte, 28))}
	for _, fc1 := range []byte{0, 1, 2, 3} {
		for _, qos := range []bool{false, true} {
			fc0 := byte(0x08)
			if qos {
				fc0 = 0x88
			}
			for i, pl := range payloads {
				dst := b
				switch i {
				case 1:
					dst = bc
				case 2:
					dst = mc
				}
				out = append(out, append(hdr(fc0, fc1, dst, a, b, a, qos), pl...))
				out = append(out, append(hdr(fc0, fc1, a, b, dst, b, qos), pl...))
			}
		}
	}
	out = append(out, append(hdr(0x80, 0, bc, a, a, nil, false), make([]byte, 12)...))        // beacon
	out = append(out, []byte{0xd4, 0, 0, 0, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55})              // ACK
	out = append(out, append([]byte{0xb4, 0, 0, 0}, append(append([]byte{}, b...), a...)...)) // RTS
	return out
}

// radiotapFrames puts f behind radiotap headers: flags only, TSFT and
// flags, each with and without the data-padding flag (the 802.11 header
// then padded to 4 bytes), and one with an extended presence bitmap.
func radiotapFrames(f []byte) [][]byte {
	pad := func(f []byte) []byte {
		hl := 24
		if f[1]&3 == 3 {
			hl += 6
		}
		if f[0]&0x8c == 0x88 {
			hl += 2
		}
		if f[0]&0x0c != 0x08 || hl%4 == 0 || len(f) < hl {
			return f
		}
		n := (hl + 3) &^ 3
		p := append(append([]byte{}, f[:hl]...), make([]byte, n-hl)...)
		return append(p, f[hl:]...)
	}
	var out [][]byte
	for _, padded := range []bool{false, true} {
		flags := byte(0)
		body := f
		if padded {
			flags, body = 0x20, pad(f)
		}
		// version, pad, length (LE), present (LE)
		h1 := []byte{0, 0, 9, 0, 0x02, 0, 0, 0, flags}
		h2 := []byte{0, 0, 17, 0, 0x03, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, flags}
		out = append(out, append(h1, body...), append(h2, body...))
	}
	ext := []byte{0, 0, 13, 0, 0x02, 0, 0, 0x80, 0, 0, 0, 0, 0x20}
	out = append(out, append(ext, f...))
	return out
}

// TestParse80211Errors checks the errors of 802.11 type, subtype and
// direction names, which libpcap's grammar reports.
func TestParse80211Errors(t *testing.T) {
	lt, _ := LinkTypeByName("IEEE802_11")
	for expr, want := range map[string]string{
		"type foo":                  `unknown 802.11 type name "foo"`,
		"type 3":                    "invalid 802.11 type value 0x03",
		"type mgt subtype ack":      `unknown 802.11 subtype name "ack"`,
		"type data subtype 3":       "invalid 802.11 subtype value 0x03",
		"subtype foo":               "unknown 802.11 type name",
		"dir sideways":              "unknown 802.11 direction",
		"type 0x0c subtype beacon":  "unknown 802.11 type",
		"wlan addr1 1:2:3:4:5:6 or": "syntax error",
	} {
		_, err := Compile(expr, Options{LinkType: lt})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one with %q", expr, err, want)
		}
	}
	if _, err := Compile("type mgt", Options{LinkType: LinkTypeEthernet}); err == nil || !strings.Contains(err.Error(), "supported only on 802.11") {
		t.Errorf("type mgt on Ethernet: %v", err)
	}
}
