package filter

import (
	"bufio"
	"context"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/bpf"
)

var protochainExpressions = []string{
	"protochain 6", "protochain 17", "ip protochain 6", "ip protochain 17", "ip protochain 51", "ip protochain 4",
	"ip6 protochain 6", "ip6 protochain 17", "ip6 protochain 58", "ip6 protochain 51", "ip6 protochain 44",
	"ip6 protochain 60", "ip6 protochain 59", "ip6 protochain 0", "not protochain 6", "tcp or ip6 protochain 17",
	"ip6 protochain 6 and ip6 protochain 60", "ip6 protochain 6 or ip protochain 17", "protochain \\udp",
	"mpls and protochain 6", "vlan and ip6 protochain 17", "udp port 53 and ip6 protochain 17",
}

// chainFrame builds an Ethernet frame whose IPv6 header is followed by
// extension headers of the given types (AH included), then a final
// header of protocol final.
func chainFrame(r *rand.Rand, types []byte, final byte) []byte {
	next := func(i int) byte {
		if i+1 < len(types) {
			return types[i+1]
		}
		return final
	}
	var ext []byte
	for i, typ := range types {
		switch typ {
		case ipprotoFragment:
			ext = append(ext, next(i), 0, 0, 1, 0, 0, 0, byte(r.IntN(256)))
		case ipprotoAH:
			n := 1 + r.IntN(4) // length in 4-byte units, minus 2
			h := make([]byte, (n+2)*4)
			h[0], h[1] = next(i), byte(n)
			ext = append(ext, h...)
		default:
			n := r.IntN(3) // length in 8-byte units, minus 1
			h := make([]byte, (n+1)*8)
			h[0], h[1] = next(i), byte(n)
			ext = append(ext, h...)
		}
	}
	ext = append(ext, make([]byte, 20)...) // the final header
	first := final
	if len(types) > 0 {
		first = types[0]
	}
	ip := make([]byte, 40)
	ip[0] = 0x60
	binary.BigEndian.PutUint16(ip[4:], uint16(len(ext)))
	ip[6], ip[7] = first, 64
	frame := append([]byte{2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x86, 0xdd}, ip...)
	return append(frame, ext...)
}

// ahChainFrame builds an IPv4 frame with n AH headers as libpcap's
// protochain walks them: it reads an AH's next header at X and takes
// the next X as (byte at X + 1, plus 2) * 4, from the start of the IPv4
// header (not from the AH), so the headers are laid 4 bytes apart.
func ahChainFrame(n int, final byte) []byte {
	ip := make([]byte, 20+4*n+24)
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(len(ip)))
	ip[8], ip[9] = 64, ipprotoAH
	if n == 0 {
		ip[9] = final
	}
	for j := 0; j < n; j++ {
		x := 20 + 4*j
		ip[x] = ipprotoAH
		if j == n-1 {
			ip[x] = final
		}
		ip[x+1] = byte((x+4)/4 - 2)
	}
	return append([]byte{2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00}, ip...)
}

// protochainPackets returns frames with chains from 0 to well past
// KernelProtochainHeaders headers, some truncated, plus one on which
// libpcap's loop never ends (last).
func protochainPackets() [][]byte {
	r := rand.New(rand.NewPCG(1, 2))
	exts := []byte{ipprotoHopopts, ipprotoDstopts, ipprotoRouting, ipprotoFragment}
	finals := []byte{ipprotoTCP, ipprotoUDP, ipprotoICMPv6, ipprotoNone, 4}
	var pkts [][]byte
	for k := 0; k <= KernelProtochainHeaders+8; k++ {
		for rep := 0; rep < 8; rep++ {
			types := make([]byte, k)
			for i := range types {
				types[i] = exts[r.IntN(len(exts))]
			}
			if rep >= 6 && k > 0 {
				types[r.IntN(k)] = ipprotoAH
			}
			p := chainFrame(r, types, finals[rep%len(finals)])
			pkts = append(pkts, p)
			if rep == 0 {
				pkts = append(pkts, p[:14+40+r.IntN(len(p)-54)])
			}
		}
		for _, final := range finals {
			pkts = append(pkts, ahChainFrame(k, final))
		}
		if p := ahChainFrame(k, ipprotoTCP); k > 0 {
			pkts = append(pkts, p[:len(p)-24-r.IntN(4*k)])
		}
	}
	// An AH header that leads back to itself: IHL 5 puts it at X = 20,
	// and length 3 gives X = (3 + 2) * 4 = 20 again.
	loop := ahChainFrame(1, ipprotoAH)
	loop[14+21] = 3
	return append(pkts, loop)
}

// writePcap writes Ethernet frames to a pcap file, packet i with
// timestamp i seconds.
func writePcap(t *testing.T, path string, pkts [][]byte) {
	t.Helper()
	b := []byte{0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 1, 0, 0, 0}
	for i, p := range pkts {
		b = binary.LittleEndian.AppendUint32(b, uint32(i))
		b = binary.LittleEndian.AppendUint32(b, 0)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(p)))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(p)))
		b = append(b, p...)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// tcpdumpAccepts returns the numbers of the packets of a pcap file that
// tcpdump (libpcap's pcap_offline_filter) accepts.
func tcpdumpAccepts(t *testing.T, tcpdump, path, expr string) map[int]bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, tcpdump, "-r", path, "-n", "-tt", "-q", "--", expr).Output()
	if err != nil {
		t.Fatalf("tcpdump -r %q: %v", expr, err)
	}
	got := map[int]bool{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "\t") || strings.HasPrefix(sc.Text(), " ") {
			continue // a hex dump tcpdump adds to some packets
		}
		sec, _, _ := strings.Cut(sc.Text(), ".")
		n, err := strconv.Atoi(sec)
		if err != nil {
			t.Fatalf("tcpdump output %q", sc.Text())
		}
		got[n] = true
	}
	return got
}

// runKernel runs a kernel program in x/net/bpf's VM, an interpreter
// independent of ours.
func runKernel(t *testing.T, insns []bpf.RawInstruction, pkt []byte) bool {
	t.Helper()
	d, ok := bpf.Disassemble(insns)
	if !ok {
		t.Fatal("kernel program does not disassemble")
	}
	vm, err := bpf.NewVM(d)
	if err != nil {
		t.Fatalf("x/net/bpf refuses the kernel program: %v", err)
	}
	n, err := vm.Run(pkt)
	if err != nil {
		t.Fatalf("x/net/bpf: %v", err)
	}
	return n != 0
}

// TestProtochainAgainstLibpcap checks protochain on frames with long
// chains: Match (libpcap's loop) must accept exactly what tcpdump
// accepts, and the kernel program (the loop unrolled) must agree with
// both on every packet whose chain needs at most KernelProtochainHeaders
// headers.
func TestProtochainAgainstLibpcap(t *testing.T) {
	tcpdump := requireTcpdump(t)
	all := protochainPackets()
	loop := all[len(all)-1]
	// Packets on which libpcap's loop never ends (tcpdump would hang):
	// Match runs out of its bound on them.
	var pkts [][]byte
	endless := 0
	for _, p := range all {
		ok := true
		for _, expr := range protochainExpressions {
			prog, _ := Compile(expr, Options{LinkType: LinkTypeEthernet})
			if _, taken := prog.run(p, uint32(len(p))); taken >= prog.back*(2*len(p)+2) {
				ok = false
			}
		}
		if ok {
			pkts = append(pkts, p)
		} else {
			endless++
		}
	}
	if endless == 0 {
		t.Fatal("the endless chain was not detected")
	}
	path := filepath.Join(t.TempDir(), "chains.pcap")
	writePcap(t, path, pkts)
	var within, beyond, beyondAgree, accepted int
	for _, expr := range protochainExpressions {
		prog, err := Compile(expr, Options{LinkType: LinkTypeEthernet})
		if err != nil {
			t.Fatalf("%q: %v", expr, err)
		}
		kernel := prog.KernelInstructions()
		if hasBackwardJump(kernel) || !hasBackwardJump(prog.Instructions()) {
			t.Fatalf("%q: the kernel program must be the loop unrolled", expr)
		}
		if err := validate(kernel, MaxInstructions); err != nil {
			t.Fatalf("%q: %v", expr, err)
		}
		want := tcpdumpAccepts(t, tcpdump, path, expr)
		for i, p := range pkts {
			v, taken := prog.run(p, uint32(len(p)))
			if got := v != 0; got != want[i] {
				t.Errorf("%q: packet %d: Match %v, libpcap %v", expr, i, got, want[i])
			}
			if want[i] {
				accepted++
			}
			k := runKernel(t, kernel, p)
			if taken <= KernelProtochainHeaders {
				within++
				if k != want[i] {
					t.Errorf("%q: packet %d (%d headers followed): kernel program %v, libpcap %v", expr, i, taken, k, want[i])
				}
				continue
			}
			beyond++
			if k == want[i] {
				beyondAgree++
			}
		}
		// On a chain that loops forever, Match gives up and rejects; the
		// kernel program stops at its bound (protochain false).
		v, taken := prog.run(loop, uint32(len(loop)))
		if taken == 0 {
			continue // decided before the loop
		}
		if v != 0 || taken < 2*len(loop) {
			t.Errorf("%q: endless chain: verdict %d after %d backward jumps", expr, v, taken)
		}
		if got, wantK := runKernel(t, kernel, loop), strings.HasPrefix(expr, "not "); got != wantK {
			t.Errorf("%q: endless chain: kernel program %v", expr, got)
		}
	}
	if within < 1000 || beyond < 100 || accepted < 100 {
		t.Errorf("too few cases: %d within the bound, %d beyond, %d accepted", within, beyond, accepted)
	}
	t.Logf("protochain: %d packets left out (libpcap never returns on them)", endless)
	t.Logf("protochain: %d expressions x %d packets: Match agrees with tcpdump on all; kernel program agrees on %d/%d within %d headers; beyond the bound %d/%d agree",
		len(protochainExpressions), len(pkts), within, within, KernelProtochainHeaders, beyondAgree, beyond)
}

// TestProtochainKernelSize keeps the unrolled programs within what the
// kernel takes.
func TestProtochainKernelSize(t *testing.T) {
	for _, expr := range []string{"protochain 6", "protochain 6 or protochain 17 or protochain 58", "vlan and vlan and ip6 protochain 17"} {
		p, err := Compile(expr, Options{LinkType: LinkTypeEthernet})
		if err != nil {
			t.Fatalf("%q: %v", expr, err)
		}
		t.Logf("%q: savefile program %d instructions, kernel program %d", expr, len(p.Instructions()), len(p.KernelInstructions()))
	}
}
