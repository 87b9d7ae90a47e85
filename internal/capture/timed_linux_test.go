package capture

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/netlab"
	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

func txPackets(t *testing.T, ifname string) int64 {
	t.Helper()
	b, err := os.ReadFile("/sys/class/net/" + ifname + "/statistics/tx_packets")
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestTimedSender sends frames one by one onto a veth and checks them
// against tcpdump at the far end: every frame arrives byte for byte, and
// the driver timestamp Stamp returns for each is the time the far end saw
// it, within the veth's own delay. Prime, called between the sends and
// a thousand times more, sends nothing: the interface's transmit counter
// moves by the real frames only.
func TestTimedSender(t *testing.T) {
	testkit.RequireTool(t, "tcpdump")
	lab := netlab.New(t, "tmd")
	s, err := OpenTimedSender(lab.HostIf)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rx := filepath.Join(t.TempDir(), "rx.pcap")
	dump := testkit.StartWitness(t, lab.PeerCommand("tcpdump", "-i", lab.PeerIf, "-w", rx, "-U", "--immediate-mode", "-n",
		"--time-stamp-precision=nano", "-s", "65535", "ether proto 0x88b5"))

	before := txPackets(t, lab.HostIf)
	const n = 20
	var sent [][]byte
	var stamps []time.Time
	for i := 0; i < n; i++ {
		// A local experimental EtherType: nothing at the far end answers
		// it, so the host sends nothing but these frames.
		f := append(append(append([]byte{}, lab.PeerMAC...), lab.HostMAC...), 0x88, 0xb5)
		f = append(f, fmt.Sprintf("timed-%02d", i)...)
		for _, size := range []int{1, len(f), 1500, s.MaxFrame(), 1 << 20} {
			s.Prime(size)
		}
		time.Sleep(time.Millisecond)
		stamp := i%5 != 4 // every fifth frame unstamped
		if err := s.Send(f, stamp); err != nil {
			t.Fatal(err)
		}
		at, ok := s.Stamp()
		if ok != stamp {
			t.Fatalf("frame %d sent with stamp=%v: Stamp reports %v", i, stamp, ok)
		}
		sent, stamps = append(sent, f), append(stamps, at)
	}
	for i := 0; i < 1000; i++ {
		s.Prime(100 + i)
	}
	if err := s.Send(make([]byte, s.MaxFrame()+1), false); !errors.Is(err, ErrFrameTooBig) {
		t.Errorf("oversize frame: %v, want ErrFrameTooBig", err)
	}
	if got := txPackets(t, lab.HostIf) - before; got != n {
		t.Errorf("the interface transmitted %d frames, want the %d sent: Prime sent something", got, n)
	}
	time.Sleep(100 * time.Millisecond)
	testkit.Stop(t, dump)

	_, got, err := netlab.ReadPcap(rx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Fatalf("far end saw %d frames, want %d", len(got), n)
	}
	for i := range got {
		if !bytes.Equal(got[i].Data, sent[i]) {
			t.Errorf("frame %d differs at the far end", i)
		}
		if stamps[i].IsZero() {
			continue
		}
		// The far end stamps the frame as the veth hands it over, a few
		// microseconds after the driver took it.
		if d := time.Duration(got[i].TS - stamps[i].UnixNano()); d < 0 || d > 200*time.Microsecond {
			t.Errorf("frame %d: far end saw it %v after its driver timestamp", i, d)
		}
	}
}
