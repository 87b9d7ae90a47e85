package cli_test

import (
	"bytes"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/netlab"
	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// TestDaemonCompressionUnderLoad: the daemon records with zstd blocks
// (compression: zstd), and again with S2 blocks (compression: s2), while
// 20,000 datagrams of
// varied, compressible payloads arrive at 10,000 a second; every packet is
// stored (none dropped), its segments hold compressed blocks (sqlite3), and
// the export of the store is byte for byte what tcpdump saw on the same
// interface, in the same order.
func TestDaemonCompressionUnderLoad(t *testing.T) {
	testkit.RequireTool(t, "tcpdump")
	testkit.RequireTool(t, "sqlite3")
	t.Run("zstd", func(t *testing.T) { daemonCompressionUnderLoad(t, "dzc", "compression: zstd\ncompression_level: 1", 1) })
	t.Run("s2", func(t *testing.T) { daemonCompressionUnderLoad(t, "dzs", "compression: s2", 2) })
}

func daemonCompressionUnderLoad(t *testing.T, labName, compression string, encoding int) {
	lab := netlab.New(t, labName)
	dir := t.TempDir()
	st := filepath.Join(dir, "store")
	cfg := filepath.Join(dir, "c.yaml")
	writeConfig(t, cfg, fmt.Sprintf(`store: %s
%s
segment:
  max_bytes: 1MiB
interfaces:
  - name: %s
    filter: "udp dst port 9998"
listen: 127.0.0.1:0
`, st, compression, lab.HostIf))
	d := startDaemon(t, cfg)
	witness := filepath.Join(dir, "witness.pcap")
	dump := testkit.StartWitness(t, exec.Command("tcpdump", tcpdumpArgs(lab.HostIf, witness, "udp dst port 9998", "-B", "65536")...))
	time.Sleep(time.Second) // tcpdump's socket is open
	udp := lab.PeerUDP()
	dst := &net.UDPAddr{IP: lab.HostIP, Port: 9998}
	const total, rate = 20_000, 10_000
	start := time.Now()
	sent := 0
	for i := 0; i < total; i++ {
		if i%100 == 0 {
			if w := time.Until(start.Add(time.Duration(i) * time.Second / rate)); w > 0 {
				time.Sleep(w)
			}
		}
		payload := fmt.Sprintf("seq=%08d GET /files/%d.txt HTTP/1.1\r\nHost: lab.example\r\n%s", i, i%977, strings.Repeat("x-pad: compressible\r\n", 1+i%20))
		if _, err := udp.WriteToUDP([]byte(payload), dst); err == nil {
			sent++
		}
	}
	time.Sleep(time.Second) // committed, and seen by tcpdump
	testkit.Stop(t, dump)
	s := d.status(t)
	if len(s.Interfaces) != 1 || s.Interfaces[0].Drops.Kernel != 0 || s.Interfaces[0].Drops.App != 0 {
		t.Errorf("interfaces: %+v", s.Interfaces)
	}
	d.stop(t, 5*time.Second)
	_, want, err := netlab.ReadPcap(witness)
	if err != nil {
		t.Fatal(err)
	}
	if len(want) != sent {
		t.Fatalf("tcpdump saw %d of the %d datagrams sent (the daemon captured %d)", len(want), sent, s.Interfaces[0].Packets)
	}
	out := filepath.Join(dir, "export.pcap")
	mustRun(t, "export", "-d", st, "-o", out)
	_, got, err := netlab.ReadPcap(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) || int64(len(got)) != s.Interfaces[0].Packets {
		t.Fatalf("the store exports %d packets, tcpdump saw %d, the daemon captured %d", len(got), len(want), s.Interfaces[0].Packets)
	}
	for i := range got {
		if !bytes.Equal(got[i].Data, want[i].Data) || got[i].OrigLen != want[i].OrigLen {
			t.Fatalf("packet %d differs from tcpdump's", i+1)
		}
	}
	segs, _ := filepath.Glob(filepath.Join(st, "segments", lab.HostIf, "*.db"))
	compressed, segments := 0, 0
	for _, seg := range segs {
		segments++
		if n := sqlite3Out(t, seg, fmt.Sprintf("SELECT count(*) FROM blocks WHERE encoding = %d", encoding)); n != "0" {
			compressed++
		}
	}
	if segments == 0 || compressed != segments {
		t.Errorf("%d of %d segments hold compressed blocks: want all", compressed, segments)
	}
}
