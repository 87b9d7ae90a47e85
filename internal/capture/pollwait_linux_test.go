package capture

import (
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/netlab"
	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// pollSyscalls are the numbers of poll(2) and ppoll(2) by architecture.
var pollSyscalls = map[string][]string{"amd64": {"7", "271"}, "arm64": {"73"}, "386": {"168", "309"}}

// threadsInPoll lists this process's threads that sit in poll(2) or
// ppoll(2), from /proc/self/task/*/syscall, whose first field is the
// number of the system call a blocked thread is in.
func threadsInPoll(t *testing.T) []string {
	t.Helper()
	paths, err := filepath.Glob("/proc/self/task/*/syscall")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // the thread exited
		}
		f := strings.Fields(string(b))
		if len(f) > 0 && slices.Contains(pollSyscalls[runtime.GOARCH], f[0]) {
			out = append(out, p+": "+strings.TrimSpace(string(b)))
		}
	}
	return out
}

// TestRingWaitsInPoller: a Read waiting for the kernel's next block parks
// its goroutine in the runtime's network poller instead of holding a
// thread in poll(2). A thread in a system call makes the runtime hand its
// P to another thread and keeps the scheduler's monitor waking every
// 20 us while packets flow: that cost the capture a quarter of its CPU
// (docs/PERFORMANCE.md). The wait still ends at its timeout on an idle
// link, and as soon as a block is handed over when packets come.
func TestRingWaitsInPoller(t *testing.T) {
	if pollSyscalls[runtime.GOARCH] == nil {
		t.Skipf("the poll system calls' numbers on %s are not known here", runtime.GOARCH)
	}
	testkit.RequireRoot(t, "packet sockets need CAP_NET_RAW")
	lab := netlab.New(t, "cpw")
	r, err := Open(Config{Interface: lab.HostIf, Snaplen: 256, BufferSize: 1 << 20, BlockTimeout: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if inPoll := threadsInPoll(t); len(inPoll) > 0 {
		t.Fatalf("before any read, threads already in poll: %v", inPoll)
	}

	// An idle link: the wait lasts its timeout, in the poller.
	type result struct {
		n       int
		err     error
		elapsed time.Duration
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		n, err := r.Read(1500*time.Millisecond, func(Packet) {})
		done <- result{n, err, time.Since(start)}
	}()
	time.Sleep(300 * time.Millisecond)
	inPoll := threadsInPoll(t)
	res := <-done
	if len(inPoll) > 0 {
		t.Errorf("while Read waited, threads in poll(2): %v", inPoll)
	}
	if res.err != nil || res.n != 0 {
		t.Fatalf("idle read: %d packets, %v", res.n, res.err)
	}
	if res.elapsed < 1400*time.Millisecond || res.elapsed > 5*time.Second {
		t.Errorf("idle read returned after %v, want its 1.5 s timeout", res.elapsed)
	}

	// A datagram sent while Read waits ends the wait with the block that
	// holds it (retired after BlockTimeout), long before the timeout.
	go func() {
		n, err := r.Read(10*time.Second, func(Packet) {})
		done <- result{n, err, time.Since(start)}
	}()
	time.Sleep(100 * time.Millisecond)
	start = time.Now()
	udp := lab.PeerUDP()
	if _, err := udp.WriteToUDP([]byte("wake"), &net.UDPAddr{IP: lab.HostIP, Port: 9999}); err != nil {
		t.Fatal(err)
	}
	res = <-done
	if res.err != nil || res.n < 1 {
		t.Fatalf("read after a datagram: %d packets, %v", res.n, res.err)
	}
	if res.elapsed > 2*time.Second {
		t.Errorf("the datagram's block reached Read after %v", res.elapsed)
	}
}
