package capture

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/packetrecorderd/packetrecorderd/internal/filter"
	"github.com/packetrecorderd/packetrecorderd/internal/netlab"
	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

var corpusFilters = filepath.Join(testkit.CorpusRoot(), "filters", "filters.tsv")

// corpusEthernetExprs returns the expressions of the corpus's EN10MB
// rows.
func corpusEthernetExprs(t *testing.T) []string {
	t.Helper()
	f, err := os.Open(corpusFilters)
	if err != nil {
		if os.Getenv("CI") != "" || os.Getenv("PRD_REQUIRE_PRIVILEGED") != "" {
			t.Fatalf("test corpus missing: %v", err)
		}
		t.Skipf("test corpus missing: %v", err)
	}
	defer f.Close()
	var exprs []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for first := true; sc.Scan(); first = false {
		fields := strings.Split(sc.Text(), "\t")
		if first || len(fields) < 2 || fields[1] != "EN10MB" {
			continue
		}
		exprs = append(exprs, fields[0])
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return exprs
}

// kernelExprs are expressions whose kernel programs use what the corpus
// has little of: ancillary loads, variable offsets, unrolled protochain.
var kernelExprs = []string{
	"vlan", "vlan 100", "vlan 100 and udp", "vlan and vlan 200 and tcp", "not vlan and host 10.0.0.1",
	"vlan or ip", "inbound", "outbound and tcp", "ifindex 3", "vlan and inbound and ifindex 2",
	"geneve and vlan and outbound", "pppoes and inbound", "vlan and geneve and ip6",
	"protochain 6", "ip6 protochain 17 or ip protochain 51", "not protochain 58 and tcp",
	"protochain 6 or protochain 17 or protochain 58", "mpls and protochain 6", "vlan and vlan and ip6 protochain 17",
}

// TestKernelAcceptsPrograms attaches to an AF_PACKET socket every kernel
// program the compiler makes for the corpus's EN10MB expressions (and a
// few more), compiled for stored packets and for a live capture, and
// requires the kernel to accept each one.
func TestKernelAcceptsPrograms(t *testing.T) {
	testkit.RequireRoot(t, "packet sockets need CAP_NET_RAW (run: sudo go test ./internal/capture/)")
	exprs := append(corpusEthernetExprs(t), kernelExprs...)
	type key struct {
		live bool
		prog string
	}
	checked := map[key]bool{}
	counts := map[bool]int{}
	compiled := map[bool]int{}
	for _, expr := range exprs {
		for _, live := range []bool{false, true} {
			p, err := filter.Compile(expr, filter.Options{LinkType: linkTypeEthernet, Live: live})
			if err != nil {
				continue
			}
			compiled[live]++
			progs := [][]bpf.RawInstruction{p.KernelInstructions()}
			if s := p.Instructions(); s != nil && !hasBackwardJump(s) {
				progs = append(progs, s)
			}
			for _, prog := range progs {
				k := key{live, fmt.Sprint(prog)}
				if checked[k] {
					continue
				}
				checked[k] = true
				if err := CheckFilter(prog); err != nil {
					t.Errorf("%q (live %v): the kernel refuses the program: %v\n%s", expr, live, err, filter.Format(prog, filter.StyleD))
					continue
				}
				counts[live]++
			}
		}
	}
	if counts[false] < 150 || counts[true] < 150 {
		t.Errorf("too few programs: %v", counts)
	}
	t.Logf("of %d expressions, %d compiled for stored packets and %d for a live capture; the kernel accepted all %d distinct programs of the first and %d of the second",
		len(exprs), compiled[false], compiled[true], counts[false], counts[true])
}

func hasBackwardJump(prog []bpf.RawInstruction) bool {
	for _, in := range prog {
		if in.Op == 0x05 && int32(in.K) < 0 {
			return true
		}
	}
	return false
}

// TestCheckFilterRefuses shows CheckFilter reports what the kernel
// refuses: libpcap's protochain loop (a backward jump) and a read of
// scratch memory never written.
func TestCheckFilterRefuses(t *testing.T) {
	testkit.RequireRoot(t, "packet sockets need CAP_NET_RAW (run: sudo go test ./internal/capture/)")
	p, err := filter.Compile("protochain 6", filter.Options{LinkType: linkTypeEthernet})
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckFilter(p.Instructions()); !errors.Is(err, unix.EINVAL) {
		t.Errorf("loop: %v, want EINVAL", err)
	}
	if err := CheckFilter(p.KernelInstructions()); err != nil {
		t.Errorf("unrolled: %v", err)
	}
	uninit := []bpf.RawInstruction{{Op: 0x60, K: 3}, {Op: 0x16}} // ld M[3]; ret a
	if err := CheckFilter(uninit); !errors.Is(err, unix.EINVAL) {
		t.Errorf("uninitialized memory: %v, want EINVAL", err)
	}
}

// startTcpdump runs tcpdump as an independent witness and waits until it
// is listening.
func startTcpdump(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	return testkit.StartWitness(t, exec.Command("tcpdump", args...))
}

// TestLiveVLANCapture sends 802.1Q-tagged UDP frames from the peer end
// of a veth lab (written on a packet socket: this kernel may lack the
// 8021q module) and captures on the host end with the live program of
// "vlan 100 and udp". Linux moves the tag into metadata before the
// socket filter runs; the capture must deliver exactly the VLAN 100
// frames, with the tag back in the frame: byte for byte the frames sent
// and what tcpdump (libpcap) delivers. The stored frames must match the
// savefile program of the same expression.
func TestLiveVLANCapture(t *testing.T) {
	if _, err := exec.LookPath("tcpdump"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("tcpdump not found on PATH")
		}
		t.Skip("tcpdump not found on PATH")
	}
	lab := netlab.New(t, "vl")
	const expr = "vlan 100 and udp"
	const n = 8
	live, err := filter.Compile(expr, filter.Options{LinkType: linkTypeEthernet, Live: true})
	if err != nil {
		t.Fatal(err)
	}
	stored, err := filter.Compile(expr, filter.Options{LinkType: linkTypeEthernet})
	if err != nil {
		t.Fatal(err)
	}
	ring, err := Open(Config{Interface: lab.HostIf, Filter: live.KernelInstructions()})
	if err != nil {
		t.Fatal(err)
	}
	defer ring.Close()
	// The savefile program in the kernel, for the log: it sees the frame
	// as the kernel shows it to the socket.
	plainRing, err := Open(Config{Interface: lab.HostIf, Filter: stored.KernelInstructions()})
	if err != nil {
		t.Fatal(err)
	}
	defer plainRing.Close()
	ref := filepath.Join(t.TempDir(), "ref.pcap")
	tcpdump := startTcpdump(t, "-i", lab.HostIf, "-w", ref, "-U", "--immediate-mode", "-n", "-c", fmt.Sprint(n), expr)

	// Untagged and VLAN 200 datagrams, which the filter must drop, mixed
	// with VLAN 100 ones (priority 5 in the TCI, which must survive).
	var want, all [][]byte
	for i := 0; i < n; i++ {
		for _, tci := range []int{-1, 200, 0xa000 | 100} {
			f := testkit.UDPFrame(lab.HostMAC, lab.PeerMAC, tci, lab.PeerIP, lab.HostIP, 9, fmt.Appendf(nil, "prd-%d-%d", tci, i))
			all = append(all, f)
			if tci&0xfff == 100 {
				want = append(want, f)
			}
		}
	}
	err = lab.InPeer(func() error {
		ifi, err := net.InterfaceByName(lab.PeerIf)
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		sa := &unix.SockaddrLinklayer{Ifindex: ifi.Index, Halen: 6}
		copy(sa.Addr[:], lab.HostMAC)
		for _, f := range all {
			if err := unix.Sendto(fd, f, 0, sa); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	var frames []Packet
	read := func(timeout time.Duration) {
		if _, err := ring.Read(timeout, func(p Packet) {
			frames = append(frames, Packet{Timestamp: p.Timestamp, OrigLen: p.OrigLen, Data: append([]byte(nil), p.Data...)})
		}); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(5 * time.Second); len(frames) < n && time.Now().Before(deadline); {
		read(100 * time.Millisecond)
	}
	read(200 * time.Millisecond) // anything more is a packet the filter should have dropped
	if len(frames) != n {
		t.Fatalf("captured %d packets, want %d", len(frames), n)
	}
	for i, f := range frames {
		if !bytes.Equal(f.Data, want[i]) || f.OrigLen != len(want[i]) {
			t.Errorf("packet %d (original length %d) is not the frame sent\n got % x\nwant % x", i, f.OrigLen, f.Data, want[i])
		}
		if !stored.Match(f.Data, f.OrigLen) {
			t.Errorf("packet %d: the savefile program of %q does not match the stored frame", i, expr)
		}
	}

	// libpcap's capture of the same traffic.
	done := make(chan error, 1)
	go func() { done <- tcpdump.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("tcpdump: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("tcpdump did not see the packets")
	}
	_, refFrames, err := netlab.ReadPcap(ref)
	if err != nil || len(refFrames) != n {
		t.Fatalf("tcpdump's capture: %d frames, %v", len(refFrames), err)
	}
	for i, f := range refFrames {
		if !bytes.Equal(f.Data, frames[i].Data) || f.OrigLen != frames[i].OrigLen {
			t.Errorf("packet %d differs from tcpdump's\nours % x\ntcpd % x", i, frames[i].Data, f.Data)
		}
	}

	seen := 0
	plainRing.Read(100*time.Millisecond, func(Packet) { seen++ })
	t.Logf("%d VLAN 100 frames of %d captured, tag back in place, identical to those sent and to tcpdump's; the savefile program in the kernel accepted %d (the kernel had moved the tag to metadata)", n, len(all), seen)
}
