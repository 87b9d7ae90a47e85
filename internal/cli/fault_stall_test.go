package cli_test

import (
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/netlab"
	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// The stall tests: a steady 2,000 datagrams a second into a lab veth
// while the recorder and a tcpdump witness with its defaults (2 MiB
// ring, blocks handed over after a second) are both stopped with SIGSTOP
// for a while. The kernel keeps filling each ring meanwhile; a ring
// that rides out the stall drops nothing. tcpdump's does: ours must too,
// and store every datagram sent, which the witness stored as well.

const (
	stallRate  = 2000 // datagrams a second
	stallTotal = 6000 // 3 s of them
	stallAfter = 2000 // the stall begins after this many (1 s)
	stallPort  = 9999
	stallExpr  = "udp dst port 9999"
)

var stallSeqRE = regexp.MustCompile(`stall-(\d{6})`)

// stallTraffic sends stallTotal datagrams "stall-NNNNNN" from the lab's
// peer at stallRate, paced against the clock, and after stallAfter of
// them stops the processes with SIGSTOP for pause, sending on, then lets
// them go on with SIGCONT. It returns the numbers of the datagrams the
// peer's socket took.
func stallTraffic(t *testing.T, lab *netlab.Lab, pause time.Duration, procs ...*exec.Cmd) map[int]bool {
	t.Helper()
	udp := lab.PeerUDP()
	dst := &net.UDPAddr{IP: lab.HostIP, Port: stallPort}
	sent := make(map[int]bool, stallTotal)
	interval := time.Second / stallRate
	begin := time.Now()
	var stoppedAt time.Time
	resumed := false
	defer func() {
		// Never leave a process stopped: the test's cleanup could not
		// end it gracefully.
		if !resumed {
			for _, p := range procs {
				p.Process.Signal(syscall.SIGCONT)
			}
		}
	}()
	for i := 0; i < stallTotal; i++ {
		if d := time.Until(begin.Add(time.Duration(i) * interval)); d > time.Millisecond {
			time.Sleep(d)
		}
		if i == stallAfter {
			for _, p := range procs {
				if err := p.Process.Signal(syscall.SIGSTOP); err != nil {
					t.Fatalf("SIGSTOP %d: %v", p.Process.Pid, err)
				}
			}
			stoppedAt = time.Now()
		}
		if !stoppedAt.IsZero() && !resumed && time.Since(stoppedAt) >= pause {
			for _, p := range procs {
				if err := p.Process.Signal(syscall.SIGCONT); err != nil {
					t.Fatalf("SIGCONT %d: %v", p.Process.Pid, err)
				}
			}
			resumed = true
			t.Logf("stopped %v, datagrams %d to %d sent meanwhile", time.Since(stoppedAt).Round(time.Millisecond), stallAfter, i-1)
		}
		if _, err := udp.WriteToUDP(fmt.Appendf(nil, "stall-%06d", i), dst); err == nil {
			sent[i] = true
		}
	}
	if took := time.Since(begin); took > 2*stallTotal*interval {
		t.Logf("sending took %v, not %v: the machine is loaded", took, stallTotal*interval)
	}
	return sent
}

// stallSeqs reads the datagrams' numbers from a pcap file with tcpdump's
// reading of it: tcpdump -r prints each one's payload (-A).
func stallSeqs(t *testing.T, pcap string) map[int]int {
	t.Helper()
	out, _, err := testkit.RunTool("tcpdump", "-n", "-A", "-r", pcap, stallExpr)
	if err != nil {
		t.Fatalf("tcpdump -r %s: %v", pcap, err)
	}
	seqs := map[int]int{}
	for _, m := range stallSeqRE.FindAllStringSubmatch(out, -1) {
		n, _ := strconv.Atoi(m[1])
		seqs[n]++
	}
	return seqs
}

// startStallWitness starts tcpdump with its defaults (ring, snaplen,
// block timeout) but for -n, writing witness.pcap in dir.
func startStallWitness(t *testing.T, lab *netlab.Lab, dir string) (*exec.Cmd, string) {
	t.Helper()
	path := filepath.Join(dir, "witness.pcap")
	return testkit.StartWitness(t, exec.Command("tcpdump", "-i", lab.HostIf, "-n", "-w", path, stallExpr)), path
}

// checkStallStored checks what a recorder stored (seqs, from tcpdump's
// reading of its export) against what was sent and what the witness
// stored: each datagram sent exactly once, and none the witness has
// missing.
func checkStallStored(t *testing.T, who string, sent map[int]bool, seqs, witness map[int]int) {
	t.Helper()
	var missing, dup, witnessOnly []int
	for n := range sent {
		if seqs[n] == 0 {
			missing = append(missing, n)
		}
	}
	for n, c := range seqs {
		if c > 1 {
			dup = append(dup, n)
		}
	}
	for n := range witness {
		if seqs[n] == 0 {
			witnessOnly = append(witnessOnly, n)
		}
	}
	for _, s := range [][]int{missing, dup, witnessOnly} {
		slices.Sort(s)
	}
	t.Logf("%s: %d datagrams sent, %d stored, tcpdump stored %d", who, len(sent), len(seqs), len(witness))
	if len(missing) > 0 {
		t.Errorf("%s: %d of %d datagrams sent not stored (the first: %v)", who, len(missing), len(sent), missing[:min(10, len(missing))])
	}
	if len(dup) > 0 {
		t.Errorf("%s: %d datagrams stored more than once (the first: %v)", who, len(dup), dup[:min(10, len(dup))])
	}
	if len(witnessOnly) > 0 {
		t.Errorf("%s: %d datagrams tcpdump stored are not stored (the first: %v)", who, len(witnessOnly), witnessOnly[:min(10, len(witnessOnly))])
	}
}

// witnessDone stops the witness and returns what it stored, requiring
// that its ring dropped nothing (else the test tested nothing).
func witnessDone(t *testing.T, dump *exec.Cmd, path string, sent map[int]bool) map[int]int {
	t.Helper()
	// libpcap hands its ring's blocks over after a second, and a SIGINT
	// loses the block it has not handed over: let the last one go first.
	time.Sleep(1500 * time.Millisecond)
	testkit.Stop(t, dump)
	stderr := dump.Stderr.(*testkit.SyncBuffer).String()
	if n := kernelDrops(t, "tcpdump", stderr); n != 0 {
		t.Fatalf("tcpdump with its defaults dropped %d packets in the stall: the machine is too loaded for the comparison", n)
	}
	w := stallSeqs(t, path)
	if len(w) != len(sent) {
		t.Errorf("tcpdump stored %d datagrams of %d sent, none dropped by its kernel counters", len(w), len(sent))
	}
	return w
}

// TestFaultCaptureStall: capture with its defaults, stopped for 500 ms
// while 2,000 datagrams a second come in, drops none (its session's
// kernel counters) and stores each datagram sent, every one tcpdump with
// its defaults stored beside it, stopped the same way. Before the ring's
// geometry and block timeout were chosen from its size (10 blocks of
// 1 MiB handed over after 10 ms: 100 ms of stall at this rate), capture
// dropped about 800 of them.
func TestFaultCaptureStall(t *testing.T) {
	testkit.RequireRoot(t, "captures on a lab veth")
	testkit.RequireTool(t, "tcpdump")
	lab := netlab.New(t, "stall")
	dir := t.TempDir()
	db := filepath.Join(dir, "stall.db")
	dump, witness := startStallWitness(t, lab, dir)
	rec := start(t, "capture", "-i", lab.HostIf, "-d", db, "--compression", "none", stallExpr)
	rec.waitLine(t, "session ", 10*time.Second)

	sent := stallTraffic(t, lab, 500*time.Millisecond, rec.cmd, dump)
	time.Sleep(300 * time.Millisecond)
	rec.cmd.Process.Signal(syscall.SIGINT)
	if code := rec.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("capture exit %d: %s", code, rec.stderr)
	}
	w := witnessDone(t, dump, witness, sent)

	ss := sessions(t, db)
	if len(ss) != 1 {
		t.Fatalf("%d sessions", len(ss))
	}
	s := ss[0]
	t.Logf("session: %d stored, kernel received %d, dropped %d, status %s", s.Packets, s.KernelReceived, s.KernelDropped, s.Status)
	if s.KernelDropped != 0 {
		t.Errorf("capture's kernel ring dropped %d packets in a 500 ms stall (tcpdump's: 0)", s.KernelDropped)
	}
	if s.Status != "complete" || s.Packets != s.KernelReceived-s.KernelDropped || s.Dropped != 0 {
		t.Errorf("session: %d stored, kernel received %d dropped %d, %d not stored, status %s", s.Packets, s.KernelReceived, s.KernelDropped, s.Dropped, s.Status)
	}
	exp := filepath.Join(dir, "export.pcap")
	mustRun(t, "export", "-d", db, "-s", fmt.Sprint(s.ID), "--format", "pcap", "-o", exp)
	checkStallStored(t, "capture", sent, stallSeqs(t, exp), w)
}

// TestFaultDaemonStall: the daemon with its default ring (64 MiB per
// interface), stopped for 1 s while 2,000 datagrams a second come in,
// drops none (its status) and stores each datagram sent, every one
// tcpdump with its defaults stored beside it; /healthz answers 200 after.
// Before, the ring's 64 blocks of 1 MiB were each handed over after 10 ms:
// 640 ms of stall at this rate.
func TestFaultDaemonStall(t *testing.T) {
	testkit.RequireRoot(t, "captures on a lab veth")
	testkit.RequireTool(t, "tcpdump")
	lab := netlab.New(t, "dstall")
	d, dir, st := startStoreDaemon(t, `store: %s
compression: none
interfaces:
  - name: %s
    filter: `+stallExpr+`
listen: 127.0.0.1:0
`, lab.HostIf)
	dump, witness := startStallWitness(t, lab, dir)
	// The daemon's ring is open once its interface records.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		s := d.status(t)
		if len(s.Interfaces) == 1 && s.Interfaces[0].State == "recording" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("interface not recording: %+v", s.Interfaces)
		}
	}

	sent := stallTraffic(t, lab, time.Second, d.cmd, dump)
	time.Sleep(300 * time.Millisecond)
	w := witnessDone(t, dump, witness, sent)
	var s daemonStatus
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		s = d.status(t)
		if it := s.Interfaces[0]; it.Packets+it.Drops.Kernel+it.Drops.App >= int64(len(sent)) || time.Now().After(deadline) {
			break
		}
	}
	it := s.Interfaces[0]
	t.Logf("status: %d stored, received %d, drops %+v", it.Packets, it.Received, it.Drops)
	if it.Drops.Kernel != 0 || it.Drops.App != 0 {
		t.Errorf("the daemon dropped %d packets in its kernel ring and %d after it in a 1 s stall (tcpdump's: 0)", it.Drops.Kernel, it.Drops.App)
	}
	if it.Packets != it.Received-it.Drops.Kernel-it.Drops.App {
		t.Errorf("status: %d stored of %d received, drops %+v", it.Packets, it.Received, it.Drops)
	}
	if code, body := d.get(t, "/healthz"); code != 200 {
		t.Errorf("/healthz after the stall: %d %s", code, body)
	}
	exp := filepath.Join(dir, "export.pcap")
	mustRun(t, "export", "-d", st, "--format", "pcap", "-o", exp)
	checkStallStored(t, "daemon", sent, stallSeqs(t, exp), w)
	d.stop(t, 10*time.Second)
}
