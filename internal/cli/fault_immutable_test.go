package cli_test

import (
	"encoding/binary"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/netlab"
	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// TestFaultImmutableSegmentLosesNothing: the segment being written, or
// its whole directory, made unwritable for 3 s (chattr +i) under 5,000
// datagrams/s costs no packet: the recorder keeps its rings open, holds
// the blocks in memory, retries, and writes them into a new segment once
// one can be made. Every datagram sent is stored (or counted as dropped:
// sent = stored + drops, nothing uncounted), the export holds each
// number once and in order, and while the directory is unwritable the
// interface is degraded, which /healthz says with a 503 and the reason.
// Before, the write error failed the recorder and the rings closed and
// reopened: ~5,300 of 30,000 datagrams were sent while no socket was
// open, counted nowhere.
func TestFaultImmutableSegmentLosesNothing(t *testing.T) {
	testkit.RequireTool(t, "chattr")
	for _, what := range []string{"segment", "directory"} {
		t.Run(what, func(t *testing.T) {
			lab := netlab.New(t, "fim"+what[:1])
			dir := t.TempDir()
			st := filepath.Join(dir, "store")
			cfg := filepath.Join(dir, "c.yaml")
			writeConfig(t, cfg, fmt.Sprintf("store: %s\nsegment:\n  max_bytes: 64MiB\nlisten: 127.0.0.1:0\ninterfaces:\n  - name: %s\n    filter: udp dst port 9999\n", st, lab.HostIf))
			d := startDaemon(t, cfg)
			done := make(chan uint64)
			go func() { done <- seqFlood(t, lab, 9999, 5_000, 6*time.Second, 0) }()
			time.Sleep(time.Second)
			target := newestSegment(t, st, lab.HostIf)
			if what == "directory" {
				target = filepath.Dir(target)
			}
			netlab.Run(t, "chattr", "+i", target)
			t.Cleanup(func() { exec.Command("chattr", "-i", target).Run() })
			degraded := ""
			for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
				if code, body := d.get(t, "/healthz"); code == http.StatusServiceUnavailable && strings.Contains(body, "degraded") {
					degraded = body
				}
			}
			netlab.Run(t, "chattr", "-i", target)
			sent := int64(<-done)
			time.Sleep(time.Second)
			if what == "directory" && degraded == "" {
				t.Error("/healthz never said degraded while the segments' directory was unwritable")
			}
			t.Logf("healthz while unwritable: %s", degraded)
			if code, body := d.get(t, "/healthz"); code != http.StatusOK {
				t.Errorf("/healthz after: %d %s", code, body)
			}
			s := d.storeStatus(t)
			stored := storeCount(t, st)
			var captured, received, drops int64
			for _, it := range s.Interfaces {
				captured += it.Packets
				received += it.Received
				drops += it.Drops.Kernel + it.Drops.App
			}
			t.Logf("sent %d, received %d, stored %d, dropped %d", sent, received, stored, drops)
			if uncounted := sent - stored - drops; uncounted != 0 || captured != stored {
				t.Errorf("sent %d, stored %d (status %d), dropped %d: %d uncounted", sent, stored, captured, drops, uncounted)
			}
			if drops != 0 {
				t.Errorf("%d packets dropped though memory held 3 s of packets easily", drops)
			}
			checkDatagrams(t, st, 0, sent)
			d.stop(t, 5*time.Second)
			d = startDaemon(t, cfg)
			d.stop(t, 5*time.Second)
			if n := storeCount(t, st); n != stored {
				t.Errorf("after a restart: %d packets, %d before", n, stored)
			}
		})
	}
}

// checkDatagrams exports the store and checks it holds the datagrams
// numbered first to first+n-1 (seqFlood), each once, in order.
func checkDatagrams(t *testing.T, st string, first uint64, n int64) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "all.pcap")
	mustRun(t, "export", "-d", st, "-o", out)
	_, frames, err := netlab.ReadPcap(out)
	if err != nil {
		t.Fatal(err)
	}
	const off = 14 + 20 + 8
	want := first
	for i, fr := range frames {
		if got := binary.BigEndian.Uint64(fr.Data[off:]); got != want {
			t.Fatalf("frame %d holds datagram %d, want %d", i, got, want)
		}
		want++
	}
	if int64(len(frames)) != n {
		t.Fatalf("exported %d datagrams, sent %d", len(frames), n)
	}
}
