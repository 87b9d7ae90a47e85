package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/archive"
	"github.com/packetrecorderd/packetrecorderd/internal/netlab"
)

// TestRecordingFailureCountsRingPackets: a run opens its rings before
// its recordings, so that the rings hold what comes while the catalog is
// repaired; when a recording cannot be made, the packets the rings
// accepted meanwhile are counted as not stored. They used to vanish from
// the interface's totals: received, stored and dropped all left them out.
func TestRecordingFailureCountsRingPackets(t *testing.T) {
	lab := netlab.New(t, "dUR")
	l := newRetentionLab(t, "  max_bytes: 1GiB")
	promisc := false
	it := Interface{Name: lab.HostIf, Filter: "udp dst port 9999", Promisc: &promisc, Snaplen: 65535, BufferSize: 4 << 20}
	r := newRunner(l.d, it, segmentLimits{})
	failed := errors.New("catalog busy")
	newRecording = func(dir string, cfg archive.RecordingConfig) (*archive.Recording, error) {
		time.Sleep(400 * time.Millisecond) // a repair taking its time
		return nil, failed
	}
	t.Cleanup(func() { newRecording = archive.NewRecording })

	conn := lab.PeerUDP()
	to := &net.UDPAddr{IP: lab.HostIP, Port: 9999}
	sent := make(chan int)
	go func() {
		n := 0
		for deadline := time.Now().Add(300 * time.Millisecond); time.Now().Before(deadline) && n < 3000; n++ {
			if _, err := conn.WriteTo([]byte(fmt.Sprint(n)), to); err != nil {
				break
			}
			time.Sleep(200 * time.Microsecond)
		}
		sent <- n
	}()
	if err := r.runOnce(context.Background()); !errors.Is(err, failed) {
		t.Fatalf("runOnce: %v, want the recording's error", err)
	}
	n := <-sent
	s := r.snapshot()
	if s.Received == 0 || s.Received > int64(n) {
		t.Fatalf("the rings accepted %d of %d datagrams sent while the recording was made", s.Received, n)
	}
	if s.Stored != 0 || s.KernelDropped+s.AppDropped != s.Received {
		t.Errorf("received %d, stored %d, dropped %d (kernel) + %d (not stored): want every packet counted as not stored",
			s.Received, s.Stored, s.KernelDropped, s.AppDropped)
	}
}
