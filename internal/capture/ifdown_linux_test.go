package capture

import (
	"errors"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/packetrecorderd/packetrecorderd/internal/netlab"
)

// readUntilError reads src with the recorder's 100 ms timeout until a
// Read fails or limit passes, and returns how many Reads it took and the
// error (nil at the limit).
func readUntilError(src Source, limit time.Duration, fn func(Packet)) (reads int, err error) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) && reads < 1000 {
		reads++
		if _, err := src.Read(100*time.Millisecond, fn); err != nil {
			return reads, err
		}
	}
	return reads, nil
}

// TestRingReportsDownRaisedWhileNotWaiting: the kernel tells a packet
// socket its interface went down by setting the socket's error to
// ENETDOWN (af_packet's notifier) and waking its waiters once. When no
// Read waits at that moment, that wake-up is spent: the runtime's poller
// notes it for the descriptor, and the next wait forgets it as it begins.
// The error itself stays on the socket until read; Read must look at it
// before it waits, or it waits, timeout after timeout, for a block that
// never comes (a capture that never ends on a down interface).
//
// A ring the poller refused waits in poll(2), which reports the error
// as POLLERR as long as it is there: the same Reads must say ENETDOWN.
func TestRingReportsDownRaisedWhileNotWaiting(t *testing.T) {
	for _, inPoller := range []bool{true, false} {
		name := map[bool]string{true: "poller", false: "poll(2)"}[inPoller]
		t.Run(name, func(t *testing.T) {
			lab := netlab.New(t, "cdi")
			r, err := Open(Config{Interface: lab.HostIf, Snaplen: 256, BufferSize: 1 << 20, BlockTimeout: 5 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if r.raw == nil {
				t.Fatal("the runtime's poller refused the packet socket")
			}
			if !inPoller {
				r.file.Close()
				r.file, r.raw = nil, nil
			}
			if _, err := r.Read(10*time.Millisecond, func(Packet) {}); err != nil {
				t.Fatalf("read before the interface went down: %v", err)
			}
			netlab.Run(t, "ip", "link", "set", lab.HostIf, "down")
			// Idle meanwhile, the runtime polls and takes the wake-up,
			// with nobody waiting for it.
			time.Sleep(50 * time.Millisecond)
			start := time.Now()
			reads, err := readUntilError(r, 2*time.Second, func(Packet) {})
			if !errors.Is(err, unix.ENETDOWN) {
				t.Fatalf("after the interface went down, %d reads over %v: %v; want ENETDOWN", reads, time.Since(start).Round(time.Millisecond), err)
			}
			if reads != 1 {
				t.Errorf("ENETDOWN came on read %d, want the first", reads)
			}
		})
	}
}

// TestRingReportsDownWhileDraining: the interface goes down while Read
// walks a block (inside its callback). Every packet the kernel had
// accepted is still delivered, once, and a later Read says ENETDOWN.
// The kernel's counters are the reference: PACKET_STATISTICS counts what
// passed the filter, and we sent that many datagrams.
func TestRingReportsDownWhileDraining(t *testing.T) {
	lab := netlab.New(t, "cdd")
	setup, err := NewLive(LiveConfig{Interface: lab.HostIf, Snaplen: 256, BufferSize: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	prog, err := setup.Compile("udp dst port 9999")
	if err != nil {
		t.Fatal(err)
	}
	rings, err := setup.Open(prog)
	if err != nil {
		t.Fatal(err)
	}
	r := rings[0]
	defer r.Close()
	udp := lab.PeerUDP()
	dst := &net.UDPAddr{IP: lab.HostIP, Port: 9999}
	send := func(n int) {
		for i := 0; i < n; i++ {
			if _, err := udp.WriteToUDP([]byte("drain"), dst); err != nil {
				t.Fatal(err)
			}
		}
	}
	send(1) // resolves the host's address: later datagrams wait for no ARP
	time.Sleep(200 * time.Millisecond)
	const more = 300
	send(more)
	time.Sleep(100 * time.Millisecond) // the kernel retires the block after 10 ms

	delivered := 0
	fn := func(Packet) {
		if delivered == 0 {
			netlab.Run(t, "ip", "link", "set", lab.HostIf, "down")
		}
		delivered++
	}
	reads, err := readUntilError(r, 2*time.Second, fn)
	if !errors.Is(err, unix.ENETDOWN) {
		t.Fatalf("the interface went down during a read: %d reads, %d packets, then %v; want ENETDOWN", reads, delivered, err)
	}
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	var st Stats
	for {
		if st, err = r.Stats(); err != nil {
			t.Fatal(err)
		}
		if r.Seen() >= st.Received-st.Dropped || time.Now().After(deadline) {
			break
		}
		if _, err := r.Read(5*time.Millisecond, fn); err != nil {
			t.Fatalf("drain after the error: %v", err)
		}
	}
	if st.Received != 1+more || st.Dropped != 0 || delivered != 1+more || r.Seen() != uint64(delivered) {
		t.Errorf("sent %d; kernel accepted %d, dropped %d; delivered %d, walked %d", 1+more, st.Received, st.Dropped, delivered, r.Seen())
	}
}

// TestMultiReportsDown: a Multi (capture -i A -i B) polls its rings'
// sockets; once one interface is down its socket polls POLLERR at once,
// every time, until the error is read. Multi reads the error and returns
// it, rather than finding no block and spinning on a poll that never
// waits again.
func TestMultiReportsDown(t *testing.T) {
	a, b := netlab.New(t, "cma"), netlab.New(t, "cmb")
	var srcs []Source
	for _, lab := range []*netlab.Lab{a, b} {
		r, err := Open(Config{Interface: lab.HostIf, Snaplen: 256, BufferSize: 1 << 20, BlockTimeout: 5 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		srcs = append(srcs, r)
	}
	m := NewMulti(srcs...)
	defer m.Close()
	netlab.Run(t, "ip", "link", "set", b.HostIf, "down")
	reads, err := readUntilError(m, 2*time.Second, func(Packet) {})
	if !errors.Is(err, unix.ENETDOWN) {
		t.Fatalf("one of two interfaces down: %d reads, then %v; want ENETDOWN", reads, err)
	}
	// Read once, the error is gone from the socket: the next wait lasts
	// its timeout instead of returning at once.
	start := time.Now()
	if n, err := m.Read(200*time.Millisecond, func(Packet) {}); err != nil || n != 0 {
		t.Fatalf("read after the error: %d packets, %v", n, err)
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("a read after the error returned in %v, want its 200 ms timeout", d)
	}
}
