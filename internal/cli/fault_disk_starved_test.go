package cli_test

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/netlab"
)

// cpuSpinners starts n processes that spin on a CPU each (a shell's busy
// loop, ended by timeout(1) after d at the latest), each in a process
// group of its own, stopped by that group at the test's cleanup (killing
// timeout alone would leave its shell spinning): the busy machine of a
// sensor, or of a CI runner.
func cpuSpinners(t *testing.T, n int, d time.Duration) {
	t.Helper()
	for range n {
		cmd := exec.Command("timeout", fmt.Sprint(int(d.Seconds())), "sh", "-c", "while :; do :; done")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatalf("start a CPU spinner: %v", err)
		}
		t.Cleanup(func() {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			cmd.Wait()
		})
	}
}

// TestFaultDiskFullStarved: TestFaultDiskFullKeepsRecording's flood (two
// interfaces, 60k packets/s together, a 48 MiB filesystem, min_free 10%)
// while two processes spin on the machine's CPUs: retention's goroutine
// runs late and its passes take longer, but the writers do not grow the
// store past its floor meanwhile (they wait for a pass before a commit
// that would take the free space under half the floor), so the
// filesystem never comes near full (the kernel's statfs, every 50 ms),
// no interface stops recording, /healthz says 200 throughout, and every
// packet is stored, deleted by retention, or a counted drop.
// Before: with one spinner the free space came down to 797,696 bytes in
// one run of five; with two, to 0 bytes (an interface degraded, /healthz
// 503 "holds leave no room").
func TestFaultDiskFullStarved(t *testing.T) {
	mnt := smallDisk(t, 48)
	a, b := netlab.New(t, "dsa"), netlab.New(t, "dsb")
	st := filepath.Join(mnt, "store")
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	writeConfig(t, cfg, fmt.Sprintf(`store: %s
compression: none
segment:
  max_bytes: 2MiB
retention:
  min_free: 10%%
interfaces:
  - name: %s
    filter: "udp dst port 9999"
  - name: %s
    filter: "udp dst port 9999"
listen: 127.0.0.1:0
`, st, a.HostIf, b.HostIf))
	d := startDaemon(t, cfg)
	cpuSpinners(t, 2, 60*time.Second)
	stop := make(chan struct{})
	health := watchHealth(t, d, stop)
	var mu sync.Mutex
	sent := 0
	var wg sync.WaitGroup
	for _, lab := range []*netlab.Lab{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := flood(t, lab, 9999, 30_000, 12*time.Second)
			mu.Lock()
			sent += n
			mu.Unlock()
		}()
	}
	flooding := make(chan struct{})
	go func() { wg.Wait(); close(flooding) }()
	minFree, samples := int64(1<<62), 0
	states := map[string]bool{}
sampling:
	for i := 0; i < 20*60; i++ {
		select {
		case <-flooding:
			break sampling
		case <-time.After(50 * time.Millisecond):
		}
		minFree = min(minFree, freeBytes(t, mnt))
		samples++
		if i%4 == 0 {
			for _, it := range d.status(t).Interfaces {
				states[it.State] = true
			}
		}
	}
	time.Sleep(1500 * time.Millisecond) // the last commits
	s := d.status(t)
	close(stop)
	hs := health()
	t.Logf("%d packets sent; free space at least %d bytes over %d samples; deleted %d segments; store %d file bytes",
		sent, minFree, samples, s.Retention.DeletedSegments, s.Store.Bytes)
	if minFree < 1<<20 {
		t.Errorf("the filesystem came down to %d bytes free", minFree)
	}
	if len(states) != 1 || !states["recording"] {
		t.Errorf("interface states seen while recording: %v", states)
	}
	for _, it := range s.Interfaces {
		if it.State != "recording" || it.Drops.App != 0 {
			t.Errorf("interface %+v", it)
		}
	}
	bad := 0
	for _, h := range hs {
		if h.code != 200 {
			bad++
			if bad <= 3 {
				t.Logf("/healthz %d %s", h.code, h.body)
			}
		}
	}
	if len(hs) < 100 || bad != 0 {
		t.Errorf("/healthz: %d answers, %d not 200", len(hs), bad)
	}
	if s.Retention.DeletedSegments == 0 {
		t.Fatalf("retention deleted nothing: the test wrote too little")
	}
	d.stop(t, 5*time.Second)
	t.Logf("%s", grepLines(d.stderr.String(), "totals"))
	// Drops under load are allowed, if counted: the kernel's count of
	// what the rings could not take is part of the invariant.
	countInvariant(t, settle(t, d, s), int64(sent), 0, storeCount(t, st))
}
