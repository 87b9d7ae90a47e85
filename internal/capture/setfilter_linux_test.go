package capture

import (
	"encoding/binary"
	"errors"
	"net"
	"testing"
	"time"

	"golang.org/x/net/bpf"

	"github.com/packetrecorderd/packetrecorderd/internal/filter"
	"github.com/packetrecorderd/packetrecorderd/internal/netlab"
	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// TestSetFilterMissesNothing: while datagrams go to two ports, the ring's
// filter is swapped again and again between one that takes port 9999 only and
// one that takes both, at every read. Every datagram to 9999 arrives (both programs take
// it, and the swap is atomic), each exactly once, and the ring still holds
// its place; after Stop, SetFilter is refused and nothing more is
// admitted.
func TestSetFilterMissesNothing(t *testing.T) {
	testkit.RequireRoot(t, "packet sockets need CAP_NET_RAW")
	lab := netlab.New(t, "csf")
	compile := func(expr string) []bpf.RawInstruction {
		p, err := filter.Compile(expr, filter.Options{LinkType: linkTypeEthernet, Snaplen: 256, Live: true, Netmask: filter.ZeroNetmask})
		if err != nil {
			t.Fatal(err)
		}
		return p.KernelInstructions()
	}
	narrow, wide := compile("udp dst port 9999"), compile("udp and (dst port 9999 or dst port 9998)")
	r, err := Open(Config{Interface: lab.HostIf, Snaplen: 256, Filter: narrow, BufferSize: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	const n = 20000
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		udp := lab.PeerUDP()
		payload := make([]byte, 8)
		for i := range n {
			binary.BigEndian.PutUint64(payload, uint64(i))
			port := 9999
			if i%2 == 1 {
				port = 9998
			}
			udp.WriteToUDP(payload, &net.UDPAddr{IP: lab.HostIP, Port: port})
			if i%100 == 99 {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	got := map[uint64]int{}
	var odd int
	read := func() {
		r.Read(10*time.Millisecond, func(p Packet) {
			if len(p.Data) < 14+20+8+8 {
				return
			}
			seq := binary.BigEndian.Uint64(p.Data[14+20+8:])
			if seq%2 == 0 {
				got[seq]++
			} else {
				odd++
			}
		})
	}
	swaps := 0
	for done := false; !done; {
		select {
		case <-sent:
			done = true
		default:
		}
		prog := narrow
		if swaps%2 == 0 {
			prog = wide
		}
		if err := r.SetFilter(prog); err != nil {
			t.Fatal(err)
		}
		swaps++
		read()
	}
	// The last block is handed over when full or at the ring's block
	// timeout (up to MaxBlockTimeout): read until every datagram to 9999
	// came, or for twice that timeout and a second.
	for deadline := time.Now().Add(2*MaxBlockTimeout + time.Second); len(got) < n/2 && time.Now().Before(deadline); {
		read()
	}
	for range 5 {
		read() // duplicates, if any
	}
	st, _ := r.Stats()
	if st.Dropped != 0 {
		t.Fatalf("the ring dropped %d packets: the test proves nothing", st.Dropped)
	}
	for i := uint64(0); i < n; i += 2 {
		if got[i] != 1 {
			t.Errorf("datagram %d to port 9999 arrived %d times over %d swaps", i, got[i], swaps)
			break
		}
	}
	if odd == 0 || odd == n/2 {
		t.Errorf("%d of %d datagrams to 9998 kept: the swaps did not take effect", odd, n/2)
	}
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := r.SetFilter(wide); !errors.Is(err, ErrStopped) {
		t.Errorf("SetFilter after Stop: %v, want ErrStopped", err)
	}
	t.Logf("%d swaps; %d of %d datagrams to 9998 kept", swaps, odd, n/2)
}
