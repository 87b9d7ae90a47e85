//go:build linux

package decode

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/dns/dnsmessage"

	"github.com/packetrecorderd/packetrecorderd/internal/capture"
	"github.com/packetrecorderd/packetrecorderd/internal/netlab"
	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// labVLAN is the 802.1Q id of the lab's tagged frames.
const labVLAN = 7

// labCapture records realistic traffic in a fresh network lab with tcpdump
// and returns the capture file: ARP, ICMP echo, UDP, DNS queries and
// answers, NTP, DHCP, a TCP connection refused, an HTTP request and
// response over TCP, a TLS ClientHello, IPv6 with neighbour discovery,
// MLD and ICMPv6 echo: real traffic between the test's namespace and the
// lab's, sent by sockets and ping, nothing built by hand below the UDP or
// TCP payload. Only the 802.1Q-tagged frames are built in Go (see
// labVLANFrames).
func labCapture(t *testing.T) string {
	t.Helper()
	testkit.RequireTool(t, "tcpdump")
	testkit.RequireTool(t, "ping")
	testkit.RequireRoot(t, "builds a network namespace lab and captures on it")
	lab := netlab.New(t, "dec")

	// IPv6 (netlab turns it off) on the link, with addresses from a
	// random unique-local /48 so parallel tests differ.
	var r [5]byte
	rand.Read(r[:])
	ula := fmt.Sprintf("fd%02x:%02x%02x:%02x%02x", r[0], r[1], r[2], r[3], r[4])
	inPeer := func(args ...string) { netlab.Run(t, "ip", append([]string{"netns", "exec", lab.NS}, args...)...) }
	netlab.Run(t, "sysctl", "-qw", "net.ipv6.conf."+lab.HostIf+".disable_ipv6=0")
	inPeer("sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=0")
	inPeer("sysctl", "-qw", "net.ipv6.conf."+lab.PeerIf+".disable_ipv6=0")

	path := filepath.Join(t.TempDir(), "lab.pcap")
	// Captured at the peer's end: frames sent through the recorder's
	// packet socket (labVLANFrames) bypass the sender's own taps.
	dump := testkit.StartWitness(t, lab.PeerCommand("tcpdump", "-i", lab.PeerIf, "-n", "-U", "--immediate-mode", "-s", "0", "-w", path))

	// Addresses come up after the capture started, so their DAD-less
	// neighbour discovery and MLD reports are in it.
	host6, peer6 := ula+":1::1", ula+":1::2"
	netlab.Run(t, "ip", "-6", "addr", "add", host6+"/64", "dev", lab.HostIf, "nodad")
	inPeer("ip", "-6", "addr", "add", peer6+"/64", "dev", lab.PeerIf, "nodad")

	peerIP := lab.PeerIP.String()
	// ARP and ICMP echo.
	netlab.Run(t, "ping", "-c", "2", "-i", "0.2", "-W", "2", peerIP)
	// ICMPv6 neighbour discovery and echo.
	netlab.Run(t, "ping", "-6", "-c", "2", "-i", "0.2", "-W", "2", peer6)
	labVLANFrames(t, lab)

	labUDPExchange(t, lab)
	labDNS(t, lab)
	labNTP(t, lab)
	labDHCP(t, lab)
	labHTTP(t, lab)
	labTLS(t, lab)
	// A connection refused: SYN, RST.
	if c, err := net.DialTimeout("tcp4", net.JoinHostPort(peerIP, "81"), 2*time.Second); err == nil {
		c.Close()
		t.Fatal("port 81 of the lab accepted a connection")
	}

	time.Sleep(200 * time.Millisecond)
	testkit.Stop(t, dump)
	return path
}

// peerServe runs serve in a goroutine on a socket listening in the peer
// namespace and waits for it when the test ends.
func peerServe[C io.Closer](t *testing.T, lab *netlab.Lab, listen func() (C, error), serve func(C)) {
	t.Helper()
	var c C
	if err := lab.InPeer(func() (err error) { c, err = listen(); return err }); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); serve(c) }()
	t.Cleanup(func() { c.Close(); <-done })
}

// udpServe answers each datagram that arrives at the peer's port with what
// reply returns for it (nothing when it returns nil).
func udpServe(t *testing.T, lab *netlab.Lab, port int, reply func([]byte) []byte) {
	peerServe(t, lab, func() (*net.UDPConn, error) {
		return net.ListenUDP("udp4", &net.UDPAddr{IP: lab.PeerIP, Port: port})
	}, func(c *net.UDPConn) {
		buf := make([]byte, 2048)
		for {
			n, from, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			if r := reply(buf[:n]); r != nil {
				c.WriteToUDP(r, from)
			}
		}
	})
}

// udpAsk sends each request to the peer's port and waits for one answer.
func udpAsk(t *testing.T, lab *netlab.Lab, port int, reqs ...[]byte) {
	t.Helper()
	c, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: lab.PeerIP, Port: port})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 2048)
	for _, req := range reqs {
		if _, err := c.Write(req); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Read(buf); err != nil {
			t.Fatalf("no answer from the lab's port %d: %v", port, err)
		}
	}
}

// labVLANFrames sends 802.1Q-tagged frames from the host's end of the lab
// link. This kernel may lack 802.1Q support (no "ip link add type vlan"),
// so these frames are built in Go and sent through a packet socket: ARP,
// ICMP echo, a DNS query and ICMPv6 neighbour solicitation and echo, all
// on VLAN labVLAN. The peer drops them; the capture has them as sent.
func labVLANFrames(t *testing.T, lab *netlab.Lab) {
	tx, err := capture.OpenSender(lab.HostIf)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	vlanEth := func(et layers.EthernetType, dst net.HardwareAddr) []gopacket.SerializableLayer {
		return []gopacket.SerializableLayer{
			&layers.Ethernet{SrcMAC: lab.HostMAC, DstMAC: dst, EthernetType: layers.EthernetTypeDot1Q},
			&layers.Dot1Q{VLANIdentifier: labVLAN, Priority: 3, Type: et},
		}
	}
	src4, dst4 := net.IP{192, 0, 2, 1}, net.IP{192, 0, 2, 2}
	src6, dst6 := net.ParseIP("2001:db8:7::1"), net.ParseIP("2001:db8:7::2")
	bcast := net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	var frames [][]byte
	add := func(ls ...gopacket.SerializableLayer) { frames = append(frames, build(t, ls...)) }

	add(append(vlanEth(layers.EthernetTypeARP, bcast), &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
		HwAddressSize: 6, ProtAddressSize: 4, Operation: 1, SourceHwAddress: lab.HostMAC, SourceProtAddress: src4,
		DstHwAddress: make(net.HardwareAddr, 6), DstProtAddress: dst4})...)
	i4 := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Flags: layers.IPv4DontFragment, Protocol: layers.IPProtocolICMPv4, SrcIP: src4, DstIP: dst4}
	add(append(vlanEth(layers.EthernetTypeIPv4, lab.PeerMAC), i4,
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 77, Seq: 1}, payload(56))...)
	u4 := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: src4, DstIP: dst4}
	q := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 4242, RecursionDesired: true})
	q.StartQuestions()
	q.Question(dnsmessage.Question{Name: dnsmessage.MustNewName("vlan.example.com."), Type: dnsmessage.TypeAAAA, Class: dnsmessage.ClassINET})
	qb, err := q.Finish()
	if err != nil {
		t.Fatal(err)
	}
	add(append(vlanEth(layers.EthernetTypeIPv4, lab.PeerMAC), u4, udp(t, u4, 40000, 53), gopacket.Payload(qb))...)
	i6 := &layers.IPv6{Version: 6, HopLimit: 255, NextHeader: layers.IPProtocolICMPv6, SrcIP: src6, DstIP: net.ParseIP("ff02::1:ff00:2")}
	ns := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(135, 0)}
	ns.SetNetworkLayerForChecksum(i6)
	add(append(vlanEth(layers.EthernetTypeIPv6, net.HardwareAddr{0x33, 0x33, 0xff, 0, 0, 2}), i6, ns,
		&layers.ICMPv6NeighborSolicitation{TargetAddress: dst6, Options: layers.ICMPv6Options{{Type: layers.ICMPv6OptSourceAddress, Data: lab.HostMAC}}})...)
	e6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolICMPv6, SrcIP: src6, DstIP: dst6}
	echo := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(128, 0)}
	echo.SetNetworkLayerForChecksum(e6)
	add(append(vlanEth(layers.EthernetTypeIPv6, lab.PeerMAC), e6, echo, &layers.ICMPv6Echo{Identifier: 77, SeqNumber: 1}, payload(56))...)

	for _, f := range frames {
		if err := tx.Queue(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Flush(); err != nil {
		t.Fatal(err)
	}
}

func labUDPExchange(t *testing.T, lab *netlab.Lab) {
	udpServe(t, lab, 9999, func(b []byte) []byte { return append([]byte("echo: "), b...) })
	udpAsk(t, lab, 9999, []byte("hello, lab"), make([]byte, 300))
}

// labDNS runs a small DNS server in the peer that answers A and AAAA
// queries for host0.example.com (and a CNAME to it), NXDOMAIN otherwise.
func labDNS(t *testing.T, lab *netlab.Lab) {
	udpServe(t, lab, 53, func(b []byte) []byte {
		var p dnsmessage.Parser
		h, err := p.Start(b)
		if err != nil {
			return nil
		}
		q, err := p.Question()
		if err != nil {
			return nil
		}
		bld := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, RecursionDesired: h.RecursionDesired, RecursionAvailable: true})
		bld.EnableCompression()
		bld.StartQuestions()
		bld.Question(q)
		bld.StartAnswers()
		target := dnsmessage.MustNewName("host0.example.com.")
		rh := func(name dnsmessage.Name, typ dnsmessage.Type) dnsmessage.ResourceHeader {
			return dnsmessage.ResourceHeader{Name: name, Type: typ, Class: dnsmessage.ClassINET, TTL: 300}
		}
		switch q.Name.String() {
		case "www.example.com.":
			bld.CNAMEResource(rh(q.Name, dnsmessage.TypeCNAME), dnsmessage.CNAMEResource{CNAME: target})
			bld.AResource(rh(target, dnsmessage.TypeA), dnsmessage.AResource{A: [4]byte{10, 0, 0, 1}})
		case "host0.example.com.":
			switch q.Type {
			case dnsmessage.TypeA:
				bld.AResource(rh(q.Name, q.Type), dnsmessage.AResource{A: [4]byte{10, 0, 0, 1}})
				bld.AResource(rh(q.Name, q.Type), dnsmessage.AResource{A: [4]byte{10, 0, 0, 2}})
			case dnsmessage.TypeAAAA:
				bld.AAAAResource(rh(q.Name, q.Type), dnsmessage.AAAAResource{AAAA: [16]byte{0x20, 0x01, 0x0d, 0xb8, 15: 1}})
			case dnsmessage.TypeMX:
				bld.MXResource(rh(q.Name, q.Type), dnsmessage.MXResource{Pref: 10, MX: dnsmessage.MustNewName("mail.example.com.")})
			case dnsmessage.TypeTXT:
				bld.TXTResource(rh(q.Name, q.Type), dnsmessage.TXTResource{TXT: []string{"v=spf1 -all"}})
			}
		case "1.0.0.10.in-addr.arpa.":
			bld.PTRResource(rh(q.Name, q.Type), dnsmessage.PTRResource{PTR: target})
		default:
			bld = dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, RCode: dnsmessage.RCodeNameError, Authoritative: true})
			bld.StartQuestions()
			bld.Question(q)
		}
		out, err := bld.Finish()
		if err != nil {
			return nil
		}
		return out
	})
	query := func(id uint16, name string, typ dnsmessage.Type) []byte {
		bld := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: id, RecursionDesired: true})
		bld.StartQuestions()
		bld.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(name), Type: typ, Class: dnsmessage.ClassINET})
		out, err := bld.Finish()
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	udpAsk(t, lab, 53,
		query(1000, "host0.example.com.", dnsmessage.TypeA),
		query(1001, "host0.example.com.", dnsmessage.TypeAAAA),
		query(1002, "www.example.com.", dnsmessage.TypeA),
		query(1003, "1.0.0.10.in-addr.arpa.", dnsmessage.TypePTR),
		query(1004, "host0.example.com.", dnsmessage.TypeMX),
		query(1005, "host0.example.com.", dnsmessage.TypeTXT),
		query(1006, "nowhere.example.com.", dnsmessage.TypeA))
}

// labNTP sends an NTPv4 client request to a peer that answers as a server.
func labNTP(t *testing.T, lab *netlab.Lab) {
	udpServe(t, lab, 123, func(b []byte) []byte {
		if len(b) < 48 {
			return nil
		}
		r := make([]byte, 48)
		r[0] = 4<<3 | 4 // v4, server
		r[1] = 2        // stratum
		copy(r[24:32], b[40:48])
		return r
	})
	req := make([]byte, 48)
	req[0] = 4<<3 | 3 // v4, client
	binary.BigEndian.PutUint32(req[40:], uint32(time.Now().Unix()+2208988800))
	udpAsk(t, lab, 123, req)
}

// labDHCP renews a lease the way DHCP clients do once they have one: the
// peer (client, port 68) unicasts a DHCPREQUEST to the host (server, port
// 67), which answers with a DHCPACK.
func labDHCP(t *testing.T, lab *netlab.Lab) {
	srv, err := net.ListenUDP("udp4", &net.UDPAddr{IP: lab.HostIP, Port: 67})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	var cli *net.UDPConn
	if err := lab.InPeer(func() (err error) {
		cli, err = net.ListenUDP("udp4", &net.UDPAddr{IP: lab.PeerIP, Port: 68})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	msg := func(op, typ byte, ciaddr, yiaddr net.IP) []byte {
		b := make([]byte, 240, 300)
		b[0], b[1], b[2] = op, 1, 6
		binary.BigEndian.PutUint32(b[4:], 0x3903f326)
		copy(b[12:16], ciaddr.To4())
		copy(b[16:20], yiaddr.To4())
		copy(b[28:34], lab.PeerMAC)
		copy(b[236:], []byte{99, 130, 83, 99})
		b = append(b, 53, 1, typ)
		if op == 2 {
			b = append(b, 54, 4)
			b = append(b, lab.HostIP.To4()...)
			b = append(b, 51, 4, 0, 0, 0x0e, 0x10)
		} else {
			b = append(b, 55, 3, 1, 3, 6)
		}
		return append(b, 255)
	}
	if _, err := cli.WriteToUDP(msg(1, 3, lab.PeerIP, nil), &net.UDPAddr{IP: lab.HostIP, Port: 67}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	srv.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, _, err := srv.ReadFromUDP(buf); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.WriteToUDP(msg(2, 5, lab.PeerIP, lab.PeerIP), &net.UDPAddr{IP: lab.PeerIP, Port: 68}); err != nil {
		t.Fatal(err)
	}
	cli.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, _, err := cli.ReadFromUDP(buf); err != nil {
		t.Fatal(err)
	}
}

// labHTTP fetches a page from an HTTP server in the peer, on port 80.
func labHTTP(t *testing.T, lab *netlab.Lab) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, strings.Repeat("packetrecorderd lab page\n", 100))
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	peerServe(t, lab, func() (net.Listener, error) {
		return net.Listen("tcp4", net.JoinHostPort(lab.PeerIP.String(), "80"))
	}, func(l net.Listener) {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			t.Error(err)
		}
	})
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for _, p := range []string{"/", "/index.html"} {
		resp, err := client.Get("http://" + lab.PeerIP.String() + p)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

// labTLS sends a TLS ClientHello to port 443 of the peer, whose server
// reads it and closes the connection.
func labTLS(t *testing.T, lab *netlab.Lab) {
	peerServe(t, lab, func() (net.Listener, error) {
		return net.Listen("tcp4", net.JoinHostPort(lab.PeerIP.String(), "443"))
	}, func(l net.Listener) {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			c.Read(make([]byte, 4096))
			c.Close()
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d := tls.Dialer{Config: &tls.Config{ServerName: "lab.example"}}
	if c, err := d.DialContext(ctx, "tcp4", net.JoinHostPort(lab.PeerIP.String(), "443")); err == nil {
		c.Close()
		t.Fatal("TLS handshake with a server that only closes succeeded")
	}
}

// TestSummaryLabFidelity compares our summaries of the lab's realistic
// traffic with tcpdump -n (and with tcpdump -S for absolute sequence
// numbers, and with tcpdump -v, every line it prints) and fails below
// labFidelityMin percent identical lines.
//
// The figures are reproduced (as root) with
//
//	PRD_REQUIRE_PRIVILEGED=1 go test -run 'TestSummaryLabFidelity$' -v ./internal/decode/
func TestSummaryLabFidelity(t *testing.T) {
	path := labCapture(t)
	want := tcpdumpSummaries(t, path)
	all := strings.Join(want, "\n")
	for _, s := range []string{
		"ARP, Request who-has", "ARP, Reply", "ICMP echo request", "ICMP echo reply",
		"UDP, length 10", "1000+ A? host0.example.com. (35)", "1000 2/0/0 A 10.0.0.1, A 10.0.0.2",
		"NXDomain", "NTPv4, Client, length 48", "NTPv4, Server, length 48",
		"BOOTP/DHCP, Request from", "BOOTP/DHCP, Reply", "Flags [S.], seq", "ack 1, win",
		"HTTP: GET / HTTP/1.1", "HTTP: HTTP/1.1 200 OK", ".443: Flags [P.], seq 1:",
		"ICMP6, neighbor solicitation", "ICMP6, neighbor advertisement", "ICMP6, echo request", "Flags [R.]",
	} {
		if !strings.Contains(all, s) {
			t.Errorf("the lab's capture lacks %q (tcpdump printed:\n%s)", s, all)
		}
	}
	_, frames, err := netlab.ReadPcap(path)
	if err != nil {
		t.Fatal(err)
	}
	tagged := 0
	for _, f := range frames {
		if len(f.Data) > 14 && binary.BigEndian.Uint16(f.Data[12:]) == 0x8100 {
			tagged++
		}
	}
	if tagged == 0 {
		t.Error("no 802.1Q-tagged frame in the lab's capture")
	}

	for _, c := range []struct {
		name  string
		opts  Options
		flags []string
		min   float64
	}{
		{"tcpdump -n", Options{}, nil, labFidelityMin},
		{"tcpdump -n -S", Options{AbsoluteSeq: true}, []string{"-S"}, labFidelityMin},
		// Every line tcpdump -v prints, continuation lines included.
		{"tcpdump -n -v", Options{Verbose: true}, []string{"-v"}, labFidelityMin},
	} {
		var f fidelity
		f.compareCapture(t, path, c.opts, c.flags...)
		f.report(t, fmt.Sprintf("lab, %s (%d frames 802.1Q-tagged)", c.name, tagged), "PRD_REQUIRE_PRIVILEGED=1 go test -run 'TestSummaryLabFidelity$' -v ./internal/decode/")
		if f.percent() < c.min {
			t.Errorf("lab fidelity against %s %.1f%% < %.0f%%:\n%s", c.name, f.percent(), labFidelityMin, strings.Join(f.diffs, "\n"))
		}
	}
	if keep := os.Getenv("PRD_DECODE_LAB_PCAP"); keep != "" {
		b, _ := os.ReadFile(path)
		os.WriteFile(keep, b, 0o644)
	}
}
