package cli_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
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

// TestFaultDaemonCutoffUnderLoad: the daemon records with a cutoff
// (default 4KiB with headers kept; udp dst port 9997 unlimited; udp dst
// port 9996 2KiB, keep none) while 20,000 datagrams of 16 flows arrive at
// 10,000 a second. No packet is lost: what tcpdump saw on the interface
// is stored, cut or whole, or counted as cut and not stored, and nothing
// is dropped; the export is exactly what the rules make of tcpdump's
// packets (computed here from them: Ethernet + IPv4 + UDP headers kept
// once a flow's UDP payload before the packet reaches the limit), and
// status counts the cut packets and flows.
func TestFaultDaemonCutoffUnderLoad(t *testing.T) {
	testkit.RequireTool(t, "tcpdump")
	lab := netlab.New(t, "dct")
	d, dir, st := startStoreDaemon(t, `store: %s
compression: none
segment:
  max_bytes: 1MiB
interfaces:
  - name: %s
    filter: "udp dst portrange 9990-9999"
listen: 127.0.0.1:0
cutoff:
  default: 4KiB
  rules:
    - filter: "udp dst port 9997"
      bytes: unlimited
    - filter: "udp dst port 9996"
      bytes: 2KiB
      keep: none
`, lab.HostIf)
	witness := filepath.Join(dir, "witness.pcap")
	dump := testkit.StartWitness(t, exec.Command("tcpdump", tcpdumpArgs(lab.HostIf, witness, "udp dst portrange 9990-9999", "-B", "65536")...))
	time.Sleep(time.Second) // tcpdump's socket is open
	socks := []*net.UDPConn{lab.PeerUDP(), lab.PeerUDP()}
	const total, rate = 20_000, 10_000
	start := time.Now()
	for i := 0; i < total; i++ {
		if i%100 == 0 {
			if w := time.Until(start.Add(time.Duration(i) * time.Second / rate)); w > 0 {
				time.Sleep(w)
			}
		}
		dst := &net.UDPAddr{IP: lab.HostIP, Port: 9990 + i%8}
		payload := bytes.Repeat([]byte{byte(i)}, 100+i%400)
		binary.BigEndian.PutUint32(payload, uint32(i))
		socks[(i/8)%2].WriteToUDP(payload, dst)
	}
	time.Sleep(1500 * time.Millisecond) // committed, counted, seen by tcpdump
	testkit.Stop(t, dump)
	code, body := d.get(t, "/api/v1/status")
	var s struct {
		Interfaces []struct {
			Packets  int64 `json:"packets"`
			Received int64 `json:"received"`
			Drops    struct {
				Kernel, App int64
			} `json:"drops"`
			Cutoff *struct {
				Truncated int64 `json:"truncated_packets"`
				NotStored int64 `json:"not_stored_packets"`
				FlowsCut  int64 `json:"flows_cut"`
				Flows     int64 `json:"flows"`
			} `json:"cutoff"`
		} `json:"interfaces"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &s) != nil || len(s.Interfaces) != 1 || s.Interfaces[0].Cutoff == nil {
		t.Fatalf("status: %d %s", code, body)
	}
	mcode, metrics := d.get(t, "/metrics")
	d.stop(t, 5*time.Second)
	_, seen, err := netlab.ReadPcap(witness)
	if err != nil {
		t.Fatal(err)
	}
	// What the rules make of tcpdump's packets.
	type counts struct{ seen, seenBytes, stored, storedBytes int }
	perFlow := map[string]*counts{} // by "src:sport dst:dport"
	carried := map[string]int{}
	var want []netlab.Frame
	trunc, dropped := 0, 0
	cutFlows := map[string]bool{}
	for _, f := range seen {
		ip := f.Data[14:]
		key := fmt.Sprintf("%x", append(append([]byte{}, ip[12:20]...), ip[20:24]...))
		dport := int(binary.BigEndian.Uint16(ip[22:]))
		limit, none := 4096, false
		switch dport {
		case 9997:
			limit = -1
		case 9996:
			limit, none = 2048, true
		}
		payload := int(binary.BigEndian.Uint16(ip[24:])) - 8
		cut := limit >= 0 && carried[key] >= limit
		carried[key] += payload
		name := fmt.Sprintf("%s:%d %s:%d", net.IP(ip[12:16]), binary.BigEndian.Uint16(ip[20:]), net.IP(ip[16:20]), dport)
		c := perFlow[name]
		if c == nil {
			c = &counts{}
			perFlow[name] = c
		}
		c.seen++
		c.seenBytes += f.OrigLen
		if !(cut && none) {
			c.stored++
			c.storedBytes += len(f.Data)
			if cut {
				c.storedBytes -= len(f.Data) - (14 + 20 + 8)
			}
		}
		switch {
		case cut && none:
			dropped++
			cutFlows[key] = true
			continue
		case cut:
			trunc++
			cutFlows[key] = true
			f.Data = f.Data[:14+20+8]
		}
		want = append(want, f)
	}
	if trunc == 0 || dropped == 0 || len(want) == len(seen) {
		t.Fatalf("the load cut %d and dropped %d of %d: it tests nothing", trunc, dropped, len(seen))
	}
	is := s.Interfaces[0]
	if is.Drops.Kernel != 0 || is.Drops.App != 0 {
		t.Errorf("drops: %+v", is.Drops)
	}
	if is.Received != int64(len(seen)) || is.Packets+is.Cutoff.NotStored != is.Received {
		t.Errorf("tcpdump saw %d; the daemon received %d, stored %d, cut and did not store %d", len(seen), is.Received, is.Packets, is.Cutoff.NotStored)
	}
	if is.Cutoff.Truncated != int64(trunc) || is.Cutoff.NotStored != int64(dropped) || is.Cutoff.FlowsCut != int64(len(cutFlows)) {
		t.Errorf("status cutoff %+v; want %d truncated, %d not stored, %d flows cut", *is.Cutoff, trunc, dropped, len(cutFlows))
	}
	// flows over the store: seen as tcpdump saw them, the keep: none
	// flows' cut packets from the segments' flow_cuts; stored as the
	// rules keep them.
	raw := mustRun(t, "flows", "--json", "-d", st, "-l", "0")
	listed := 0
	for _, line := range bytes.Split(bytes.TrimSpace([]byte(raw)), []byte("\n")) {
		var f struct {
			Src, Dst       string
			Sport, Dport   int
			Packets, Bytes int
			StoredPackets  int `json:"stored_packets"`
			StoredBytes    int `json:"stored_bytes"`
			Cut            bool
		}
		if err := json.Unmarshal(line, &f); err != nil {
			t.Fatal(err)
		}
		if f.Src == "" {
			continue
		}
		listed++
		name := fmt.Sprintf("%s:%d %s:%d", f.Src, f.Sport, f.Dst, f.Dport)
		c := perFlow[name]
		if c == nil {
			t.Errorf("flow %s was not seen by tcpdump", name)
			continue
		}
		if f.Packets != c.seen || f.Bytes != c.seenBytes || f.StoredPackets != c.stored || f.StoredBytes != c.storedBytes || f.Cut != (c.stored < c.seen || c.storedBytes < c.seenBytes) {
			t.Errorf("flow %s: seen %d packets %d bytes, stored %d (%d bytes), cut %v; tcpdump saw %d, %d, the rules store %d (%d bytes)",
				name, f.Packets, f.Bytes, f.StoredPackets, f.StoredBytes, f.Cut, c.seen, c.seenBytes, c.stored, c.storedBytes)
		}
	}
	if listed != len(perFlow) {
		t.Errorf("flows lists %d flows, tcpdump saw %d", listed, len(perFlow))
	}
	for _, m := range []string{
		fmt.Sprintf("packetrecorder_cutoff_packets_total{interface=%q,kept=\"headers\"} %d\n", lab.HostIf, trunc),
		fmt.Sprintf("packetrecorder_cutoff_packets_total{interface=%q,kept=\"none\"} %d\n", lab.HostIf, dropped),
		fmt.Sprintf("packetrecorder_cutoff_flows_cut_total{interface=%q} %d\n", lab.HostIf, len(cutFlows)),
		fmt.Sprintf("packetrecorder_cutoff_flows_evicted_total{interface=%q} 0\n", lab.HostIf),
	} {
		if mcode != 200 || !strings.Contains(metrics, m) {
			t.Errorf("metrics (%d) lack %q", mcode, m)
		}
	}
	out := filepath.Join(dir, "export.pcap")
	mustRun(t, "export", "-d", st, "-o", out)
	_, got, err := netlab.ReadPcap(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("the store exports %d packets, the rules keep %d of tcpdump's %d", len(got), len(want), len(seen))
	}
	for i := range got {
		if !bytes.Equal(got[i].Data, want[i].Data) || got[i].OrigLen != want[i].OrigLen {
			t.Fatalf("packet %d: %d of %d bytes stored, want %d of %d", i+1, len(got[i].Data), got[i].OrigLen, len(want[i].Data), want[i].OrigLen)
		}
	}
}
