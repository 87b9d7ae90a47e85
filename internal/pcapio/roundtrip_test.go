package pcapio

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// writePcap writes pkts as a nanosecond pcap of their (single) link type.
func writePcap(t testing.TB, pkts []Packet, linkType uint32) []byte {
	t.Helper()
	var buf bytes.Buffer
	snap := uint32(262144)
	for _, p := range pkts {
		snap = max(snap, uint32(len(p.Data)))
	}
	w, err := NewPcapWriter(&buf, linkType, snap, true)
	if err != nil {
		t.Fatal(err)
	}
	writeAll(t, w, pkts)
	return buf.Bytes()
}

// writeAll writes pkts and flushes.
func writeAll(t testing.TB, w PacketWriter, pkts []Packet) {
	t.Helper()
	for i, p := range pkts {
		if err := w.WritePacket(p); err != nil {
			t.Fatalf("packet %d: %v", i+1, err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
}

// writePcapng writes pkts with one interface per interface of the source.
func writePcapng(t testing.TB, pkts []Packet, ifaces []Interface) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewPcapngWriter(&buf, PcapngConfig{Comment: "round trip", UserAppl: "pcapio test"})
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range ifaces {
		in.Snaplen = 0 // keep records longer than the source's snaplen
		in.TsResol = 9
		in.TsOffset = 0
		if _, err := w.AddInterface(in); err != nil {
			t.Fatal(err)
		}
	}
	writeAll(t, w, pkts)
	return buf.Bytes()
}

// fitsPcap reports whether all timestamps fit pcap's 32-bit seconds.
func fitsPcap(pkts []Packet) bool {
	for _, p := range pkts {
		if p.Timestamp < 0 || p.Timestamp/1e9 > 0xffffffff {
			return false
		}
	}
	return true
}

func comparePackets(t *testing.T, what string, got, want []Packet) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d packets, want %d", what, len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Timestamp != w.Timestamp || g.OrigLen != w.OrigLen || g.LinkType != w.LinkType || !bytes.Equal(g.Data, w.Data) {
			t.Fatalf("%s: packet %d differs:\n got  ts=%d orig=%d lt=%d caplen=%d\n want ts=%d orig=%d lt=%d caplen=%d",
				what, i+1, g.Timestamp, g.OrigLen, g.LinkType, len(g.Data), w.Timestamp, w.OrigLen, w.LinkType, len(w.Data))
		}
	}
}

// TestRoundTrip reads every readable corpus file, writes it as nanosecond
// pcap (single link type files) and as pcapng, and reads both back.
func TestRoundTrip(t *testing.T) {
	for _, row := range readManifest(t) {
		if row.category == "container-malformed" {
			continue
		}
		t.Run(row.file, func(t *testing.T) {
			r, pkts, err := readAllBytes(readFile(t, row.file))
			if err != nil {
				t.Fatal(err)
			}
			ifaces := r.Interfaces()
			single := true
			for _, in := range ifaces {
				single = single && in.LinkType == ifaces[0].LinkType
			}
			if single && len(ifaces) > 0 && fitsPcap(pkts) {
				_, got, err := readAllBytes(writePcap(t, pkts, ifaces[0].LinkType))
				if err != nil {
					t.Fatal(err)
				}
				comparePackets(t, "pcap", got, pkts)
			}
			r2, got, err := readAllBytes(writePcapng(t, pkts, ifaces))
			if err != nil {
				t.Fatal(err)
			}
			comparePackets(t, "pcapng", got, pkts)
			for i := range pkts {
				if got[i].Interface != pkts[i].Interface || !slices.Equal(got[i].Comments, pkts[i].Comments) || got[i].Flags != pkts[i].Flags {
					t.Fatalf("pcapng packet %d: interface/comments/flags %d %q %#x, want %d %q %#x", i+1,
						got[i].Interface, got[i].Comments, got[i].Flags, pkts[i].Interface, pkts[i].Comments, pkts[i].Flags)
				}
			}
			for i, in := range r2.Interfaces() {
				if in.Name != ifaces[i].Name || in.Description != ifaces[i].Description || in.LinkType != ifaces[i].LinkType {
					t.Errorf("interface %d: %+v, want %+v", i, in, ifaces[i])
				}
			}
		})
	}
}

// TestTcpdumpReadsOurFiles checks our written files with tcpdump: the
// per-packet output (timestamps to the nanosecond, full hex) must equal
// tcpdump's output for the original file.
func TestTcpdumpReadsOurFiles(t *testing.T) {
	if _, err := exec.LookPath("tcpdump"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip("tcpdump not on PATH")
	}
	requireCorpus(t)
	files := []string{
		"zeek_icmp_5-pings.pcap", "tcpdump_tcp-handshake-nano.pcap", "zeek_vntag.pcap", "tcpdump_isup.pcap",
		"tcpdump_pptp.pcap", "tcpdump_time_2038.pcap", "tcpdump_time_2106.pcap", "tcpdump_time_2038_overflow.pcap",
		"tcpdump_time_2106_overflow.pcapng", "zeek_redis_set.pcap", "tcpdump_esp_truncated.pcap",
		"tcpdump_ipv6-next-header-oobr-1.pcap", "zeek_tls_openjdk-25.0.2-zeek.org.pcap", "gopacket_pcapng-be_test001.pcapng",
		"gopacket_pcapng-le_test902.pcapng", "gopacket_pcapng-le_test016.pcapng", "zeek_snap-arp.pcapng",
		"tcpdump_OSPFv2_Capture_FINAL.pcapng", "libpcap_filter_slip-sliplink_print-oobr.pcap", "zeek_dns_dns-corrupt.pcap",
		"gopacket_pcapng-le_test301.pcapng", "tcpdump_empty.pcap",
		// Not tcpdump_timestamp_invalid_*.pcap: Packet.Timestamp normalizes a
		// sub-second field of 1000000 to the next second, which tcpdump
		// prints differently (see TestInvalidSubsecond).
	}
	dir := t.TempDir()
	tcpdump := func(path string) string {
		out, err := exec.Command("tcpdump", "-r", path, "-xx", "-tt", "--nano", "-n").Output()
		if err != nil {
			t.Fatalf("tcpdump -r %s: %v", path, err)
		}
		return string(out)
	}
	for _, name := range files {
		t.Run(name, func(t *testing.T) {
			r, pkts, err := readAllBytes(readFile(t, name))
			if err != nil {
				t.Fatal(err)
			}
			want := tcpdump(filepath.Join(corpusDir, name))
			if fitsPcap(pkts) {
				pcapPath := filepath.Join(dir, name+".pcap")
				if err := os.WriteFile(pcapPath, writePcap(t, pkts, r.LinkType()), 0o644); err != nil {
					t.Fatal(err)
				}
				if got := tcpdump(pcapPath); got != want {
					t.Errorf("tcpdump output differs for our pcap:\n%s", firstDiff(got, want))
				}
			}
			ngPath := filepath.Join(dir, name+".pcapng")
			if err := os.WriteFile(ngPath, writePcapng(t, pkts, r.Interfaces()), 0o644); err != nil {
				t.Fatal(err)
			}
			if got := tcpdump(ngPath); got != want {
				t.Errorf("tcpdump output differs for our pcapng:\n%s", firstDiff(got, want))
			}
		})
	}
}

func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var a, b string
		if i < len(g) {
			a = g[i]
		}
		if i < len(w) {
			b = w[i]
		}
		if a != b {
			return "line " + strconv.Itoa(i+1) + ":\n ours:     " + a + "\n original: " + b
		}
	}
	return "(equal)"
}
