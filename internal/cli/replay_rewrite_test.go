package cli_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/packetrecorderd/packetrecorderd/internal/netlab"
	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// A frame of a test capture, built with gopacket (checksums by gopacket).
type testFrame struct {
	at      time.Duration // since the capture's start
	data    []byte
	payload []byte // the transport payload
}

type frameOpts struct {
	v6       bool
	vlan     int // tag, 0 for none
	udp      bool
	sport    uint16
	dport    uint16
	payload  int
	flags    string // TCP: S A P F
	src, dst net.IP
	smac     net.HardwareAddr
	dmac     net.HardwareAddr
	seq      uint32
}

func buildFrame(t *testing.T, o frameOpts) ([]byte, []byte) {
	t.Helper()
	payload := make([]byte, o.payload)
	for i := range payload {
		payload[i] = byte(i*13 + int(o.sport) + i/256)
	}
	eth := &layers.Ethernet{SrcMAC: o.smac, DstMAC: o.dmac}
	ls := []gopacket.SerializableLayer{eth}
	et := layers.EthernetTypeIPv4
	if o.v6 {
		et = layers.EthernetTypeIPv6
	}
	if o.vlan > 0 {
		eth.EthernetType = layers.EthernetTypeDot1Q
		ls = append(ls, &layers.Dot1Q{VLANIdentifier: uint16(o.vlan), Type: et})
	} else {
		eth.EthernetType = et
	}
	proto := layers.IPProtocolTCP
	if o.udp {
		proto = layers.IPProtocolUDP
	}
	var nl gopacket.NetworkLayer
	if o.v6 {
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto, SrcIP: o.src, DstIP: o.dst}
		nl = ip
		ls = append(ls, ip)
	} else {
		ip := &layers.IPv4{Version: 4, TTL: 64, Id: o.sport, Flags: layers.IPv4DontFragment, Protocol: proto, SrcIP: o.src.To4(), DstIP: o.dst.To4()}
		nl = ip
		ls = append(ls, ip)
	}
	if o.udp {
		u := &layers.UDP{SrcPort: layers.UDPPort(o.sport), DstPort: layers.UDPPort(o.dport)}
		u.SetNetworkLayerForChecksum(nl)
		ls = append(ls, u)
	} else {
		tcp := &layers.TCP{SrcPort: layers.TCPPort(o.sport), DstPort: layers.TCPPort(o.dport), Seq: o.seq, Ack: 1, Window: 65535,
			SYN: strings.Contains(o.flags, "S"), ACK: strings.Contains(o.flags, "A"), PSH: strings.Contains(o.flags, "P"), FIN: strings.Contains(o.flags, "F")}
		tcp.SetNetworkLayerForChecksum(nl)
		ls = append(ls, tcp)
	}
	ls = append(ls, gopacket.Payload(payload))
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(buf.Bytes()), payload
}

// importFrames writes the frames to a pcap file and imports it into a new
// database, which it returns.
func importFrames(t *testing.T, dir string, frames []testFrame) string {
	t.Helper()
	path := filepath.Join(dir, "in.pcap")
	fh, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := pcapgo.NewWriterNanos(fh)
	w.WriteFileHeader(262144, layers.LinkTypeEthernet)
	start := time.Now().Add(-time.Hour)
	for _, f := range frames {
		ci := gopacket.CaptureInfo{Timestamp: start.Add(f.at), CaptureLength: len(f.data), Length: len(f.data)}
		if err := w.WritePacket(ci, f.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := fh.Close(); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "in.db")
	mustRun(t, "import", "-d", db, path)
	return db
}

// tsharkBad lists the packets of a capture that tshark finds malformed or
// with a bad IPv4, TCP or UDP checksum (reassembling IP fragments).
func tsharkBad(t *testing.T, file string) string {
	t.Helper()
	out, _, err := testkit.RunTool("tshark", "-n", "-r", file,
		"-o", "tcp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE",
		"-o", "ip.defragment:TRUE", "-o", "ipv6.defragment:TRUE",
		"-Y", "_ws.malformed or ip.checksum.status == 0 or tcp.checksum.status == 0 or udp.checksum.status == 0 or icmp.checksum.status == 0 or icmpv6.checksum.status == 0")
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	return strings.TrimSpace(out)
}

// tsharkFields prints fields of every packet, | separated.
func tsharkFields(t *testing.T, file string, fields ...string) [][]string {
	t.Helper()
	args := []string{"-n", "-r", file, "-o", "ip.defragment:TRUE", "-o", "ipv6.defragment:TRUE", "-T", "fields", "-E", "separator=|",
		"-o", "tcp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE"}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	out, _, err := testkit.RunTool("tshark", args...)
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	var rows [][]string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line != "" {
			rows = append(rows, strings.Split(line, "|"))
		}
	}
	return rows
}

type replayJSON struct {
	Packets       int64 `json:"packets"`
	Skipped       int64 `json:"skipped_oversize"`
	Split         int64 `json:"split_oversize"`
	Truncated     int64 `json:"truncated_oversize"`
	Rewritten     int64 `json:"rewritten"`
	ServerPackets int64 `json:"server_packets"`
}

func replayJSONRun(t *testing.T, args ...string) replayJSON {
	t.Helper()
	out := mustRun(t, append([]string{"replay", "--json"}, args...)...)
	var r replayJSON
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("replay --json: %v: %q", err, out)
	}
	return r
}

// farEnd captures what the lab's peer receives while fn runs. The
// snapshot length fits the largest frame: tcpdump's ring in immediate
// mode holds buffer / snaplen frames, and a burst at top speed must fit.
func farEnd(t *testing.T, lab *netlab.Lab, name string, fn func()) string {
	t.Helper()
	rx := filepath.Join(t.TempDir(), name)
	dump := testkit.StartWitness(t, lab.PeerCommand("tcpdump", "-i", lab.PeerIf, "-Q", "in", "-w", rx, "-U", "--immediate-mode", "-n", "-s", "2048", "-B", "16384", "--time-stamp-precision=nano", "ip or ip6 or vlan"))
	fn()
	time.Sleep(200 * time.Millisecond)
	testkit.Stop(t, dump)
	return rx
}

func oversizeCapture(t *testing.T, lab *netlab.Lab) []testFrame {
	v6src, v6dst := net.ParseIP("fd00:213::1"), net.ParseIP("fd00:213::2")
	specs := []frameOpts{
		{sport: 41001, payload: 20000, flags: "APF", seq: 0xfffff000},
		{sport: 41002, payload: 9000, flags: "A", vlan: 7, seq: 5},
		{sport: 41003, payload: 7000, flags: "AP", v6: true, seq: 6},
		{sport: 41004, payload: 4000, udp: true},
		{sport: 41005, payload: 3000, udp: true, v6: true},
		{sport: 41006, payload: 100, udp: true},
		{sport: 41007, payload: 100, flags: "AP", seq: 7},
	}
	var frames []testFrame
	for i, o := range specs {
		o.dport, o.smac, o.dmac = 9, lab.HostMAC, lab.PeerMAC
		o.src, o.dst = lab.HostIP, lab.PeerIP
		if o.v6 {
			o.src, o.dst = v6src, v6dst
		}
		data, payload := buildFrame(t, o)
		frames = append(frames, testFrame{at: time.Duration(i) * 20 * time.Millisecond, data: data, payload: payload})
	}
	return frames
}

// TestReplaySegment replays GRO-sized frames with --segment into a lab and
// checks, with tshark at the far end, that what arrives is what the wire
// would have carried: packets within the MTU, no malformed packet, good
// checksums, the payloads whole and in order, each frame's segments inside
// its time slot.
func TestReplaySegment(t *testing.T) {
	lab := netlab.New(t, "seg")
	testkit.RequireTool(t, "tshark")
	frames := oversizeCapture(t, lab)
	db := importFrames(t, t.TempDir(), frames)

	var res replayJSON
	rx := farEnd(t, lab, "seg.pcap", func() {
		res = replayJSONRun(t, "-d", db, "-s", "1", "-i", lab.HostIf, "--segment")
	})
	if res.Split != 5 || res.Skipped != 0 {
		t.Errorf("replay: %+v", res)
	}
	bad := tsharkBad(t, rx)
	if bad != "" {
		t.Errorf("tshark flags packets at the far end:\n%s", bad)
	}
	rows := tsharkFields(t, rx, "frame.time_epoch", "ip.len", "ipv6.plen", "tcp.srcport", "tcp.seq_raw", "tcp.flags", "tcp.payload", "udp.srcport", "udp.payload", "vlan.id")
	if int64(len(rows)) != res.Packets {
		out, _, _ := testkit.RunTool("tshark", "-n", "-r", rx)
		t.Errorf("far end got %d packets, replay sent %d:\n%s", len(rows), res.Packets, out)
	}
	type seg struct {
		seq     uint32
		flags   uint64
		payload []byte
		at      float64
	}
	tcp := map[int][]seg{}
	udp := map[int][]byte{}
	var first float64
	for i, r := range rows {
		at, _ := strconv.ParseFloat(r[0], 64)
		if i == 0 {
			first = at
		}
		if n, _ := strconv.Atoi(r[1]); n > 1500 {
			t.Errorf("packet %d: IPv4 length %d over the MTU", i+1, n)
		}
		if n, _ := strconv.Atoi(r[2]); n > 1460 {
			t.Errorf("packet %d: IPv6 payload length %d over the MTU", i+1, n)
		}
		if r[3] != "" {
			port, _ := strconv.Atoi(r[3])
			seq, _ := strconv.ParseUint(r[4], 10, 32)
			flags, _ := strconv.ParseUint(strings.TrimPrefix(r[5], "0x"), 16, 16)
			p, _ := hex.DecodeString(strings.ReplaceAll(r[6], ":", ""))
			tcp[port] = append(tcp[port], seg{uint32(seq), flags, p, at - first})
			if port == 41002 && r[9] != "7" {
				t.Errorf("packet %d: VLAN %q, want 7", i+1, r[9])
			}
		}
		if r[7] != "" && r[8] != "" { // the reassembled datagram
			port, _ := strconv.Atoi(r[7])
			udp[port], _ = hex.DecodeString(strings.ReplaceAll(r[8], ":", ""))
		}
	}
	for i, f := range frames {
		port := 41001 + i
		if port == 41004 || port == 41005 || port == 41006 {
			if !bytes.Equal(udp[port], f.payload) {
				t.Errorf("UDP %d: %d bytes reassembled at the far end, want the original %d", port, len(udp[port]), len(f.payload))
			}
			continue
		}
		segs := tcp[port]
		if len(segs) == 0 {
			t.Errorf("TCP %d: nothing at the far end", port)
			continue
		}
		var got []byte
		for k, s := range segs {
			if want := uint32(0xfffff000*(port/41001)) + uint32(len(got)); port == 41001 && s.seq != want {
				t.Errorf("TCP %d segment %d: seq %d, want %d", port, k, s.seq, want)
			}
			last := k == len(segs)-1
			if fin := s.flags&1 != 0; fin != (last && port == 41001) {
				t.Errorf("TCP %d segment %d: FIN %v", port, k, fin)
			}
			if psh := s.flags&8 != 0; psh && !last {
				t.Errorf("TCP %d segment %d: PSH before the last segment", port, k)
			}
			// Spread over the frame's slot (20 ms, to the next frame):
			// segment k of n is due k/n of the way. Never early; how late
			// depends on the machine's load, so that is not checked.
			due := f.at.Seconds() + 0.020*float64(k)/float64(len(segs))
			if s.at < due-0.001 {
				t.Errorf("TCP %d segment %d at +%.4fs, due +%.4fs", port, k, s.at, due)
			}
			got = append(got, s.payload...)
		}
		if !bytes.Equal(got, f.payload) {
			t.Errorf("TCP %d: %d payload bytes in %d segments at the far end, want the original %d", port, len(got), len(segs), len(f.payload))
		}
		if len(segs) > 1 && segs[len(segs)-1].at-segs[0].at < 0.010 {
			t.Errorf("TCP %d: segments spread over %.4fs only", port, segs[len(segs)-1].at-segs[0].at)
		}
		t.Logf("TCP %d: %d payload bytes in %d segments over %.2f ms at the far end, equal to the original: %v",
			port, len(got), len(segs), 1e3*(segs[len(segs)-1].at-segs[0].at), bytes.Equal(got, f.payload))
	}
	t.Logf("--segment: %d frames (%d over the MTU) sent as %d packets; the far end received %d, tshark flags %d", len(frames), res.Split, res.Packets, len(rows), strings.Count(bad, "\n")+btoi(bad != ""))

	// At top speed, through the transmit ring, the same packets arrive.
	split := res
	rx = farEnd(t, lab, "seg0.pcap", func() {
		res = replayJSONRun(t, "-d", db, "-s", "1", "-i", lab.HostIf, "--segment", "--speed", "0")
	})
	if bad := tsharkBad(t, rx); bad != "" || res != split {
		t.Errorf("--segment --speed 0: %+v (paced: %+v); tshark flags:\n%s", res, split, bad)
	}
	if _, got, _ := netlab.ReadPcap(rx); int64(len(got)) != split.Packets {
		t.Errorf("--segment --speed 0: the far end got %d packets, want %d", len(got), split.Packets)
	}

	// --mtu-trunc: oversized packets arrive cut to the MTU, still valid.
	rx = farEnd(t, lab, "trunc.pcap", func() {
		res = replayJSONRun(t, "-d", db, "-s", "1", "-i", lab.HostIf, "--mtu-trunc")
	})
	if res.Truncated != 5 || res.Packets != int64(len(frames)) {
		t.Errorf("replay --mtu-trunc: %+v", res)
	}
	if bad := tsharkBad(t, rx); bad != "" {
		t.Errorf("tshark flags packets at the far end:\n%s", bad)
	}
	_, got, err := netlab.ReadPcap(rx)
	if err != nil || len(got) != len(frames) {
		t.Fatalf("far end: %d frames, %v", len(got), err)
	}
	for i, g := range got {
		if max := 1514 + 4*btoi(i == 1); len(g.Data) > max {
			t.Errorf("frame %d: %d bytes after --mtu-trunc", i+1, len(g.Data))
		}
	}

	// Neither: oversized frames are skipped, as before.
	rx = farEnd(t, lab, "skip.pcap", func() {
		res = replayJSONRun(t, "-d", db, "-s", "1", "-i", lab.HostIf)
	})
	if _, got, _ := netlab.ReadPcap(rx); res.Skipped != 5 || res.Packets != 2 || len(got) != 2 {
		t.Errorf("plain replay: %+v, far end %d frames", res, len(got))
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestReplayRewriteLab rewrites addresses, ports and MACs on the way out
// and checks at the far end, with tshark, the new values and checksums.
func TestReplayRewriteLab(t *testing.T) {
	lab := netlab.New(t, "rwr")
	testkit.RequireTool(t, "tshark")
	other := net.HardwareAddr{0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee}
	var frames []testFrame
	for i, o := range []frameOpts{
		{sport: 40000, dport: 80, payload: 300, flags: "AP", src: net.ParseIP("10.9.8.7"), dst: net.ParseIP("172.16.5.4")},
		{sport: 80, dport: 40000, payload: 200, flags: "A", src: net.ParseIP("172.16.5.4"), dst: net.ParseIP("10.9.8.7")},
		{sport: 5000, dport: 443, payload: 50, udp: true, src: net.ParseIP("10.1.1.1"), dst: net.ParseIP("10.2.2.2")},
		{sport: 40000, dport: 80, payload: 100, flags: "A", v6: true, src: net.ParseIP("2001:db8:1::5"), dst: net.ParseIP("2001:db8:2::6")},
	} {
		o.smac, o.dmac = other, other
		data, payload := buildFrame(t, o)
		frames = append(frames, testFrame{at: time.Duration(i) * time.Millisecond, data: data, payload: payload})
	}
	// As captured on the way out with checksum offload: the TCP and UDP
	// checksums are wrong (only partial sums).
	frames[0].data[14+20+16] ^= 0x33
	frames[2].data[14+20+6] ^= 0x33
	db := importFrames(t, t.TempDir(), frames)
	var res replayJSON
	rx := farEnd(t, lab, "rw.pcap", func() {
		res = replayJSONRun(t, "-d", db, "-s", "1", "-i", lab.HostIf, "--fixcsum",
			"--srcmac", lab.HostMAC.String(), "--dstmac", lab.PeerMAC.String(),
			"--srcip", "10.0.0.0/8:192.168.0.0/16,2001:db8::/32:fd00:1::/48",
			"--dstip", "172.16.0.0/12:10.77.0.0/16", "--portmap", "80:8080,443:8443")
	})
	if res.Rewritten != 4 || res.Packets != 4 {
		t.Errorf("replay: %+v", res)
	}
	if bad := tsharkBad(t, rx); bad != "" {
		t.Errorf("tshark flags packets at the far end:\n%s", bad)
	}
	rows := tsharkFields(t, rx, "eth.src", "eth.dst", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "tcp.srcport", "tcp.dstport", "udp.srcport", "udp.dstport", "tcp.checksum.status", "udp.checksum.status")
	want := [][]string{
		{lab.HostMAC.String(), lab.PeerMAC.String(), "192.168.8.7", "10.77.5.4", "", "", "40000", "8080", "", "", "1", ""},
		{lab.HostMAC.String(), lab.PeerMAC.String(), "172.16.5.4", "10.9.8.7", "", "", "8080", "40000", "", "", "1", ""},
		{lab.HostMAC.String(), lab.PeerMAC.String(), "192.168.1.1", "10.2.2.2", "", "", "", "", "5000", "8443", "", "1"},
		{lab.HostMAC.String(), lab.PeerMAC.String(), "", "", "fd00:1::5", "2001:db8:2::6", "40000", "8080", "", "", "1", ""},
	}
	if !slices.EqualFunc(rows, want, slices.Equal) {
		t.Errorf("far end:\n%v\nwant\n%v", rows, want)
	}
}

// TestReplayFlagErrors: bad or conflicting values are one-line errors
// with a non-zero exit, before anything is opened.
func TestReplayFlagErrors(t *testing.T) {
	db := filepath.Join(t.TempDir(), "none.db")
	for _, args := range [][]string{
		{"--srcmac", "zz"},
		{"--dstmac", "01:02:03"},
		{"--srcip", "10.0.0.0/8"},
		{"--dstip", "10.0.0.0/8:2001:db8::/32"},
		{"--srcip", "10.0.0.0/40:10.0.0.0/8"},
		{"--portmap", "80"},
		{"--portmap", "80:70000"},
		{"--portmap", "0:1"},
		{"--segment", "--mtu-trunc"},
		{"--display-only", "--qdisc"},
		{"--display-only", "--segment"},
		{"--display-only", "-I", "lo"},
		{"-i", "lo", "-I", "lo"},
	} {
		r := run(t, append([]string{"replay", "-d", db, "-s", "1"}, args...)...)
		if r.code == 0 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || r.stderr == "" || strings.Contains(r.stderr, "panic") {
			t.Errorf("replay %s: exit %d, stderr %q", strings.Join(args, " "), r.code, r.stderr)
		}
	}
}

// TestReplayTwoInterfaces replays a capture of two conversations with -i
// and -I, each the host end of a lab: the clients' packets must reach the
// first lab's peer only, the servers' the second's.
func TestReplayTwoInterfaces(t *testing.T) {
	cl := netlab.New(t, "cli")
	sv := netlab.New(t, "srv")
	c, s := net.ParseIP("10.50.0.1"), net.ParseIP("10.60.0.2")
	mac := net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	type p struct {
		o      frameOpts
		client bool
	}
	conv := []p{
		{frameOpts{sport: 45000, dport: 80, flags: "S", src: c, dst: s}, true},
		{frameOpts{sport: 80, dport: 45000, flags: "SA", src: s, dst: c}, false},
		{frameOpts{sport: 45000, dport: 80, flags: "A", src: c, dst: s}, true},
		{frameOpts{sport: 45000, dport: 80, flags: "AP", payload: 10, src: c, dst: s}, true},
		{frameOpts{sport: 80, dport: 45000, flags: "AP", payload: 500, src: s, dst: c}, false},
		// A connection the other host opens (active FTP data): whoever
		// sends the SYN is that flow's client, whatever the ports.
		{frameOpts{sport: 20, dport: 46000, flags: "S", src: s, dst: c}, true},
		{frameOpts{sport: 46000, dport: 20, flags: "SA", src: c, dst: s}, false},
		// UDP: the lower port is the server's, even when it speaks first.
		{frameOpts{sport: 53, dport: 33000, udp: true, payload: 40, src: s, dst: c}, false},
		{frameOpts{sport: 33000, dport: 53, udp: true, payload: 20, src: c, dst: s}, true},
	}
	var frames []testFrame
	for i, x := range conv {
		x.o.smac, x.o.dmac = mac, mac
		data, payload := buildFrame(t, x.o)
		frames = append(frames, testFrame{at: time.Duration(i) * time.Millisecond, data: data, payload: payload})
	}
	db := importFrames(t, t.TempDir(), frames)
	var wantC, wantS [][]byte
	for i, x := range conv {
		if x.client {
			wantC = append(wantC, frames[i].data)
		} else {
			wantS = append(wantS, frames[i].data)
		}
	}
	for _, speed := range []string{"1", "0"} {
		var res replayJSON
		var rxServer string
		rxClient := farEnd(t, cl, "client.pcap", func() {
			rxServer = farEnd(t, sv, "server.pcap", func() {
				res = replayJSONRun(t, "-d", db, "-s", "1", "-i", cl.HostIf, "-I", sv.HostIf, "--speed", speed)
			})
		})
		if res.Packets != int64(len(conv)) || res.ServerPackets != int64(len(wantS)) {
			t.Errorf("replay --speed %s: %+v", speed, res)
		}
		for _, side := range []struct {
			name string
			file string
			want [][]byte
		}{{"client", rxClient, wantC}, {"server", rxServer, wantS}} {
			_, got, err := netlab.ReadPcap(side.file)
			if err != nil {
				t.Fatal(err)
			}
			var data [][]byte
			for _, g := range got {
				data = append(data, g.Data)
			}
			if !slices.EqualFunc(data, side.want, bytes.Equal) {
				t.Errorf("--speed %s: %s side received %d frames, want %d:\n%s", speed, side.name, len(data), len(side.want), summarize(data))
			}
		}
	}
}

func summarize(frames [][]byte) string {
	var b strings.Builder
	for _, f := range frames {
		fmt.Fprintln(&b, gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default))
	}
	return b.String()
}

// qdiscSeen replays the session and returns how many of its packets a
// tcpdump on the sending interface (-Q out) was handed by the kernel
// ("received by filter": at top speed tcpdump itself may drop some), and
// the replay's result.
func qdiscSeen(t *testing.T, lab *netlab.Lab, db string, extra ...string) (int, replayJSON) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out.pcap")
	cmd := exec.Command("tcpdump", "-i", lab.HostIf, "-Q", "out", "-B", "16384", "-w", out, "-n", "udp port 9")
	dump := testkit.StartWitness(t, cmd)
	res := replayJSONRun(t, append([]string{"-d", db, "-s", "1", "-i", lab.HostIf}, extra...)...)
	time.Sleep(200 * time.Millisecond)
	testkit.Stop(t, dump)
	m := regexp.MustCompile(`(\d+) packets? received by filter`).FindStringSubmatch(fmt.Sprint(cmd.Stderr))
	if m == nil {
		t.Fatalf("tcpdump's statistics: %s", cmd.Stderr)
	}
	n, _ := strconv.Atoi(m[1])
	return n, res
}

// TestReplayQdisc: by default frames bypass the qdisc layer, so a tcpdump
// on the sending interface does not see them; with --qdisc it does (and
// tc would apply).
func TestReplayQdisc(t *testing.T) {
	lab := netlab.New(t, "qdc")
	var frames []testFrame
	const n = 200
	for i := range n {
		data, payload := buildFrame(t, frameOpts{udp: true, sport: uint16(30000 + i), dport: 9, payload: 64,
			src: lab.HostIP, dst: lab.PeerIP, smac: lab.HostMAC, dmac: lab.PeerMAC})
		frames = append(frames, testFrame{at: time.Duration(i) * 500 * time.Microsecond, data: data, payload: payload})
	}
	db := importFrames(t, t.TempDir(), frames)
	if r := run(t, "replay", "-d", db, "-s", "1", "-i", lab.HostIf, "--qdisc", "-c", "1"); r.code != 0 && strings.Contains(r.stderr, "not supported by this build") {
		t.Skip("capture's senders cannot leave the qdisc bypass yet: " + strings.TrimSpace(r.stderr))
	}
	seen, res := qdiscSeen(t, lab, db)
	if res.Packets != n || seen != 0 {
		t.Errorf("without --qdisc: sent %d, tcpdump -Q out saw %d (want 0)", res.Packets, seen)
	}
	seen, res = qdiscSeen(t, lab, db, "--qdisc")
	if res.Packets != n || seen != n {
		t.Errorf("with --qdisc: sent %d, tcpdump -Q out saw %d (want %d)", res.Packets, seen, n)
	}
	seen, res = qdiscSeen(t, lab, db, "--qdisc", "--speed", "0")
	if res.Packets != n || seen != n {
		t.Errorf("with --qdisc --speed 0: sent %d, tcpdump -Q out saw %d (want %d)", res.Packets, seen, n)
	}
}
