package capture

import (
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/packetrecorderd/packetrecorderd/internal/netlab"
)

// floodUDP sends datagrams from lab's peer to its host as fast as it can
// until the returned stop is called (or 20 s, or 10 million datagrams,
// pass); stop waits for the sender.
func floodUDP(t *testing.T, lab *netlab.Lab) (stop func()) {
	t.Helper()
	udp := lab.PeerUDP()
	dst := &net.UDPAddr{IP: lab.HostIP, Port: 9}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		payload := make([]byte, 64)
		deadline := time.Now().Add(20 * time.Second)
		for i := 0; i < 10_000_000; i++ {
			select {
			case <-done:
				return
			default:
			}
			if i%1024 == 0 && time.Now().After(deadline) {
				return
			}
			udp.WriteToUDP(payload, dst) // errors (ICMP unreachable) are expected
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { close(done); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}

// TestMultiReportsDownUnderLoad: a Multi over two rings, A flooded and
// read by a slow consumer, so that a retired block of A is ready at
// every Read; B's interface goes down. Multi never has to wait, so it
// never polls: it must read B's socket error anyway, and return ENETDOWN
// with A's packets on the first Read after the down, not once A's load
// drops (before, the capture went on with B down, saying nothing).
func TestMultiReportsDownUnderLoad(t *testing.T) {
	a, b := netlab.New(t, "cla"), netlab.New(t, "clb")
	var srcs []Source
	for _, lab := range []*netlab.Lab{a, b} {
		r, err := Open(Config{Interface: lab.HostIf, Snaplen: 128, BufferSize: 1 << 20, BlockTimeout: 2 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		srcs = append(srcs, r)
	}
	m := NewMulti(srcs...)
	defer m.Close()
	stop := floodUDP(t, a)
	defer stop()

	// read is one Read of an overloaded recorder's: its consumer is
	// busy for 20 ms before each Read, longer than the kernel holds a
	// block of A (BlockTimeout, in jiffies), so a block is ready at every
	// Read and Multi never waits.
	fromA, fromB := 0, 0
	read := func() (int, error) {
		time.Sleep(20 * time.Millisecond)
		return m.Read(100*time.Millisecond, func(p Packet) {
			if p.Interface == 0 {
				fromA++
			} else {
				fromB++
			}
		})
	}
	// Before the down: A has packets at every Read.
	empty := 0
	for range 20 {
		n, err := read()
		if err != nil {
			t.Fatalf("read before the down: %v", err)
		}
		if n == 0 {
			empty++
		}
	}
	if fromA == 0 || empty > 2 {
		t.Fatalf("before the down: %d packets of A, %d of 20 reads empty: A is not flooded", fromA, empty)
	}
	netlab.Run(t, "ip", "link", "set", b.HostIf, "down")
	// The kernel set B's socket error before ip returned: the next Read
	// says so.
	start := time.Now()
	var err error
	reads, withPackets := 0, 0
	for reads < 200 && time.Since(start) < 3*time.Second {
		reads++
		var n int
		before := fromA + fromB
		n, err = read()
		if n != fromA+fromB-before {
			t.Fatalf("read %d: returned %d packets, delivered %d", reads, n, fromA+fromB-before)
		}
		if n > 0 {
			withPackets++
		}
		if err != nil {
			break
		}
	}
	if !errors.Is(err, unix.ENETDOWN) {
		t.Fatalf("B down while A is flooded: %d reads over %v (%d with packets), then %v; want ENETDOWN", reads, time.Since(start).Round(time.Millisecond), withPackets, err)
	}
	if reads != 1 || withPackets != 1 {
		t.Errorf("ENETDOWN on read %d (%d reads with packets), want the first, with A's packets", reads, withPackets)
	}
	// Read once, the error is gone: A goes on.
	for i := range 3 {
		if _, err := read(); err != nil {
			t.Fatalf("read %d after the error: %v", i+1, err)
		}
	}
}
