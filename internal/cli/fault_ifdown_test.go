package cli_test

import (
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/netlab"
)

// The kernel tells a packet socket that its interface went down by
// setting the socket's error (ENETDOWN) and waking its waiters once. A
// ring that waits in the runtime's poller gets that wake-up as an edge:
// when the reader is not parked at that moment (walking blocks, or the
// wake-up comes together with the last blocks' wake-up), it is spent,
// and a wait that looked at the socket's error only after a wake-up
// waited, timeout after timeout, for ever. These tests stop the process
// (SIGSTOP) while a burst fills its ring and the interface goes down, so
// that both arrive as one wake-up when it goes on: the reader takes the
// blocks and must still see the error.

// downAfterBurst primes the lab's ARP with a few datagrams, stops pid,
// sends a burst into its ring, takes the interface down and lets the
// process go on.
func downAfterBurst(t *testing.T, lab *netlab.Lab, pid int) {
	t.Helper()
	flood(t, lab, 9999, 1_000, 200*time.Millisecond)
	time.Sleep(300 * time.Millisecond)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(pid, syscall.SIGCONT)
	flood(t, lab, 9999, 100_000, 100*time.Millisecond)
	time.Sleep(100 * time.Millisecond) // the kernel retires the last block
	netlab.Run(t, "ip", "link", "set", lab.HostIf, "down")
	time.Sleep(100 * time.Millisecond)
}

// checkDownExit checks the end of a capture its interface's going down
// ended: the statistics, then one line saying the network is down, a
// non-zero exit, an interrupted session whose every accepted packet is
// stored or counted, and as many packets in the store as it says; it
// returns the session.
func checkDownExit(t *testing.T, rec *background, db string) sessionInfo {
	t.Helper()
	code := rec.wait(t, 10*time.Second)
	lines := strings.Split(strings.TrimSpace(rec.stderr.String()), "\n")
	if last := lines[len(lines)-1]; code == 0 || !strings.HasPrefix(last, "packetrecorder: ") || !strings.Contains(last, "network is down") ||
		!strings.Contains(rec.stderr.String(), "packets dropped by kernel\n") {
		t.Errorf("exit %d, stderr %q: want the statistics, then one line saying the network is down", code, rec.stderr)
	}
	ss := sessions(t, db)
	if len(ss) != 1 || ss[0].Status != "interrupted" || ss[0].Packets == 0 {
		t.Fatalf("sessions: %+v", ss)
	}
	accounted(t, ss[0])
	if n := len(queryJSON(t, "-d", db, "-s", "1", "-l", "0")); int64(n) != ss[0].Packets {
		t.Errorf("session says %d packets, query returns %d", ss[0].Packets, n)
	}
	return ss[0]
}

// TestFaultCaptureDownAfterBurst: the interface goes down while the
// capture is stopped with a burst in its ring; once it goes on, it stores
// the burst and ends within seconds, saying the network is down. Before,
// it stored the burst and then waited for ever.
func TestFaultCaptureDownAfterBurst(t *testing.T) {
	lab := netlab.New(t, "fdb")
	db := filepath.Join(t.TempDir(), "d.db")
	rec := start(t, "capture", "-i", lab.HostIf, "-d", db, "-f", "udp dst port 9999", "-b", "32MB")
	rec.waitLine(t, "session ", 10*time.Second)
	downAfterBurst(t, lab, rec.cmd.Process.Pid)
	checkDownExit(t, rec, db)
}

// TestFaultCaptureOneOfTwoDown: capture -i A -i B polls both sockets;
// when B goes down its socket polls POLLERR at once, every time, until
// the error is read. The capture reads it and ends, saying the network
// is down, with what both interfaces carried stored. Before, it never
// read the error: it spun on the poll, for ever.
func TestFaultCaptureOneOfTwoDown(t *testing.T) {
	a, b := netlab.New(t, "fda"), netlab.New(t, "fdo")
	db := filepath.Join(t.TempDir(), "d.db")
	rec := start(t, "capture", "-i", a.HostIf, "-i", b.HostIf, "-d", db, "-f", "udp dst port 9999")
	rec.waitLine(t, "session ", 10*time.Second)
	flood(t, a, 9999, 1_000, 200*time.Millisecond)
	flood(t, b, 9999, 1_000, 200*time.Millisecond)
	time.Sleep(300 * time.Millisecond)
	netlab.Run(t, "ip", "link", "set", b.HostIf, "down")
	checkDownExit(t, rec, db)
}

// TestFaultDaemonDownAfterBurst: the same fault in the daemon: once the daemon goes on, the interface
// is "down" in the status and /healthz (503) within seconds, every packet
// its rings accepted is stored or counted, and the store holds what the
// status says it stored. Before, the interface stayed "recording".
func TestFaultDaemonDownAfterBurst(t *testing.T) {
	lab := netlab.New(t, "fdd")
	d, _, st := startStoreDaemon(t, "store: %s\nlisten: 127.0.0.1:0\ninterfaces:\n  - name: %s\n    filter: udp dst port 9999\n    buffer_size: 32MiB\n", lab.HostIf)
	downAfterBurst(t, lab, d.cmd.Process.Pid)
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := d.status(t)
		if len(s.Interfaces) == 1 && s.Interfaces[0].State == "down" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the interface went down 5 s ago; status: %+v", s.Interfaces)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code, body := d.get(t, "/healthz"); code != http.StatusServiceUnavailable || !strings.Contains(body, lab.HostIf+": down") {
		t.Errorf("/healthz with the interface down: %d %s", code, body)
	}
	s := d.status(t)
	it := s.Interfaces[0]
	if it.Packets == 0 || it.Received != it.Packets+it.Drops.Kernel+it.Drops.App {
		t.Errorf("the kernel accepted %d; stored %d, counted as dropped %d + %d", it.Received, it.Packets, it.Drops.Kernel, it.Drops.App)
	}
	d.stop(t, 5*time.Second)
	if n := storeCount(t, st); n != it.Packets {
		t.Errorf("status says %d packets stored, the store holds %d", it.Packets, n)
	}
	t.Logf("stored %d of %d accepted, dropped %d by the kernel, %d by the daemon", it.Packets, it.Received, it.Drops.Kernel, it.Drops.App)
}
