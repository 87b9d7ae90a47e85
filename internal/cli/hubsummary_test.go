package cli_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/packetrecorderd/packetrecorderd/internal/hub"
	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// ipv4Header is a 20-byte IPv4 header of proto carrying n bytes, with
// its checksum.
func ipv4Header(src, dst net.IP, proto byte, n int) []byte {
	h := []byte{0x45, 0, 0, 0, 0, 1, 0, 0, 64, proto, 0, 0}
	binary.BigEndian.PutUint16(h[2:], uint16(20+n))
	h = append(append(h, src.To4()...), dst.To4()...)
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	binary.BigEndian.PutUint16(h[10:], ^uint16(sum))
	return h
}

// greFrame is an Ethernet frame of outer -> outerDst carrying, in GRE, a
// UDP datagram of inner -> innerDst (port 1234 to 53).
func greFrame(dstMAC, srcMAC net.HardwareAddr, outer, outerDst, inner, innerDst net.IP, payload string) []byte {
	udp := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint16(udp, 1234)
	binary.BigEndian.PutUint16(udp[2:], 53)
	binary.BigEndian.PutUint16(udp[4:], uint16(8+len(payload)))
	udp = append(udp, payload...)
	in := append(ipv4Header(inner, innerDst, 17, len(udp)), udp...)
	gre := append([]byte{0, 0, 0x08, 0x00}, in...)
	f := append(append(append([]byte{}, dstMAC...), srcMAC...), 0x08, 0x00)
	return append(append(f, ipv4Header(outer, outerDst, 47, len(gre))...), gre...)
}

// arpFrame is a broadcast ARP request: who has target, tell sender.
func arpFrame(srcMAC net.HardwareAddr, sender, target net.IP) []byte {
	f := append(append([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, srcMAC...), 0x08, 0x06)
	f = append(f, 0, 1, 0x08, 0, 6, 4, 0, 1)
	f = append(append(append(f, srcMAC...), sender.To4()...), make([]byte, 6)...)
	f = append(f, target.To4()...)
	return append(f, make([]byte, 60-len(f))...)
}

// writeClassicPcap writes frames as a pcap file (Ethernet, µs).
func writeClassicPcap(t *testing.T, path string, frames [][]byte) {
	t.Helper()
	b := []byte{0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0}
	now := time.Now()
	for i, f := range frames {
		var h [16]byte
		binary.LittleEndian.PutUint32(h[0:], uint32(now.Unix()))
		binary.LittleEndian.PutUint32(h[4:], uint32(i))
		binary.LittleEndian.PutUint32(h[8:], uint32(len(f)))
		binary.LittleEndian.PutUint32(h[12:], uint32(len(f)))
		b = append(append(b, h[:]...), f...)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestFaultHubSummaries: two sensors record what prd_flows cannot
// describe, s0 only GRE-tunnelled datagrams (its flow records, if any,
// name the inner addresses), s1 only ARP requests (no flow record at
// all). Once their segments are closed and their summaries shipped, and
// the window is older than the hub's FlowLag, a query through the hub
// for the tunnel's outer address, and for the ARP sender's address,
// asks the sensor that holds them (its audit log) and answers exactly
// what tcpdump's filter picks out of that sensor's own export. Before
// the hub narrowed by the segments' summaries, prd_flows narrowed both
// sensors out and the answers were silently empty.
func TestFaultHubSummaries(t *testing.T) {
	testkit.RequireTool(t, "tcpreplay")
	f := startHubFleetWith(t, 2, func(i int) string { return []string{"    filter: ip proto 47\n", "    filter: arp\n"}[i] },
		"segment:\n  max_age: 2s\n")
	outer, outerDst := net.IPv4(192, 0, 2, 10), net.IPv4(192, 0, 2, 20)
	sender, target := net.IPv4(198, 51, 100, 5), net.IPv4(198, 51, 100, 7)
	var gre, arp [][]byte
	for i := range 5 {
		gre = append(gre, greFrame(f.labs[0].HostMAC, f.labs[0].PeerMAC, outer, outerDst, net.IPv4(10, 77, 0, 1), net.IPv4(10, 77, 0, 2), fmt.Sprintf("tunnelled %d", i)))
		arp = append(arp, arpFrame(f.labs[1].PeerMAC, sender, target))
	}
	files := []string{filepath.Join(f.dir, "gre.pcap"), filepath.Join(f.dir, "arp.pcap")}
	writeClassicPcap(t, files[0], gre)
	writeClassicPcap(t, files[1], arp)
	sent := time.Now()
	for i, p := range files {
		if out, err := f.labs[i].PeerCommand("tcpreplay", "-q", "-i", f.labs[i].PeerIf, p).CombinedOutput(); err != nil {
			t.Fatalf("tcpreplay: %v\n%s", err, out)
		}
	}
	for i := range f.sensors {
		deadline := time.Now().Add(15 * time.Second)
		var n int
		for {
			fmt.Sscan(mustRun(t, append([]string{"query", "--count", "-c", "0"}, f.sensorArgs(i)...)...), &n)
			if n >= 5 || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if n != 5 {
			t.Fatalf("sensor s%d stores %d packets, sent 5", i, n)
		}
	}
	// Each sensor's segment closes (2 s idle) and its summary reaches
	// PostgreSQL.
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, f.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	deadline := time.Now().Add(30 * time.Second)
	for i := range f.sensors {
		for {
			var summarized, open int
			if err := conn.QueryRow(ctx, `SELECT count(*) FILTER (WHERE closed AND summary IS NOT NULL), count(*) FILTER (WHERE NOT closed)
				FROM prd_segments WHERE sensor = $1 AND packets > 0`, fmt.Sprintf("s%d", i)).Scan(&summarized, &open); err != nil {
				t.Fatal(err)
			}
			if summarized > 0 && open == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("s%d: %d segments closed with a summary in PostgreSQL, %d open", i, summarized, open)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	// Past FlowLag: the hub trusts what PostgreSQL lists of the sensors.
	time.Sleep(time.Until(sent.Add(hub.FlowLag + 2*time.Second)))
	window := []string{"--since", sent.Add(-time.Minute).UTC().Format(time.RFC3339), "--until", sent.Add(time.Second).UTC().Format(time.RFC3339Nano)}
	for _, tc := range []struct {
		sensor int
		expr   string
	}{{0, "host " + outer.String()}, {1, "host " + sender.String()}} {
		all := filepath.Join(f.dir, fmt.Sprintf("s%d-all.pcap", tc.sensor))
		mustRun(t, append([]string{"export", "-o", all}, f.sensorArgs(tc.sensor)...)...)
		out, err := exec.Command("tcpdump", "-r", all, "-tt", "-nn", tc.expr).Output()
		if err != nil {
			t.Fatalf("tcpdump -r %s %s: %v", all, tc.expr, err)
		}
		want := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(want) != 5 {
			t.Fatalf("tcpdump picks %d packets of s%d's export with %q, sent 5:\n%s", len(want), tc.sensor, tc.expr, out)
		}
		before := auditCount(f.sensors[tc.sensor])
		hubFile := filepath.Join(f.dir, fmt.Sprintf("hub-s%d.pcap", tc.sensor))
		mustRun(t, append(append(append([]string{"export", "-o", hubFile, "--format", "pcapng"}, f.hubArgs()...), window...), tc.expr)...)
		if auditCount(f.sensors[tc.sensor]) == before {
			t.Errorf("%q: the hub did not ask s%d", tc.expr, tc.sensor)
		}
		got := tcpdumpLines(t, hubFile)
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%q through the hub:\n%s\nwant (tcpdump of s%d's export):\n%s", tc.expr, strings.Join(got, "\n"), tc.sensor, strings.Join(want, "\n"))
		}
	}
}
