package cli_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/netlab"
	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// smallDisk mounts a fresh ext4 filesystem of mib MiB (no blocks kept
// for root, so "full" is full for the daemon too) on a directory of the
// test's, unmounted and removed at cleanup.
func smallDisk(t *testing.T, mib int) string {
	t.Helper()
	testkit.RequireRoot(t, "mounting a small filesystem")
	testkit.RequireTool(t, "mkfs.ext4")
	testkit.RequireTool(t, "losetup")
	dir := t.TempDir()
	img, mnt := filepath.Join(dir, "disk.img"), filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(img)
	if err == nil {
		err = f.Truncate(int64(mib) << 20)
		f.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mkfs.ext4", "-q", "-m", "0", img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v %s", err, out)
	}
	if out, err := exec.Command("mount", "-o", "loop", img, mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount: %v %s", err, out)
	}
	t.Cleanup(func() {
		// Registered after t.TempDir's cleanup, so it runs before it; the
		// daemons started later are stopped before this runs.
		for i := 0; i < 50; i++ {
			if exec.Command("umount", mnt).Run() == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		exec.Command("umount", "-l", mnt).Run()
	})
	return mnt
}

// freeBytes is what the kernel says is free on the filesystem of path.
func freeBytes(t *testing.T, path string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * int64(st.Bsize)
}

// fillDisk writes a file beside the store until the filesystem has no
// byte left (fallocate, then ever smaller writes until ENOSPC).
func fillDisk(t *testing.T, mnt, name string) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(mnt, name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if free := freeBytes(t, mnt); free > 1<<20 {
		if err := syscall.Fallocate(int(f.Fd()), 0, 0, free-(1<<20)); err != nil {
			t.Fatalf("fallocate: %v", err)
		}
		f.Seek(0, 2)
	}
	// Then smaller and smaller writes: a small ext4 has 1 KiB blocks.
	for _, size := range []int{65536, 4096, 1024, 512} {
		buf := make([]byte, size)
		for i := 0; i < 1024; i++ {
			_, err := f.Write(buf)
			if err == nil {
				err = f.Sync() // allocate now, not at writeback
			}
			if err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatal(err)
				}
				break
			}
		}
	}
}

// healthSample is one look at /healthz.
type healthSample struct {
	at   time.Time
	code int
	body string
}

// watchHealth polls /healthz every 50 ms until stop is closed.
func watchHealth(t *testing.T, d *daemonProc, stop <-chan struct{}) func() []healthSample {
	var mu sync.Mutex
	var out []healthSample
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 20*120; i++ {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			resp, err := http.Get("http://" + d.addr + "/healthz")
			if err != nil {
				continue
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			mu.Lock()
			out = append(out, healthSample{time.Now(), resp.StatusCode, string(body)})
			mu.Unlock()
		}
	}()
	return func() []healthSample {
		<-done
		mu.Lock()
		defer mu.Unlock()
		return out
	}
}

// countInvariant checks, per interface and over all, that what the
// sender sent is what the kernel counted, and that the daemon accounts
// for every packet: received = stored by the recorder + kernel drops + app
// drops (counted, never silent); stored by the recorder = in the store now
// + deleted by retention (+ already there before). A status read while
// the daemon ran has a lower bound of retention's deletions: settle it
// after the stop first.
func countInvariant(t *testing.T, s daemonStatus, sent, inStoreBefore, inStoreNow int64) {
	t.Helper()
	var received, captured, drops int64
	for _, it := range s.Interfaces {
		received += it.Received
		captured += it.Packets
		drops += it.Drops.Kernel + it.Drops.App
	}
	if sent >= 0 && received != sent {
		t.Errorf("the kernel counted %d packets, the sender sent %d", received, sent)
	}
	if received != captured+drops {
		t.Errorf("received %d != stored %d + counted drops %d", received, captured, drops)
	}
	if inStoreBefore+captured != inStoreNow+s.Retention.DeletedPackets {
		t.Errorf("in the store before %d + captured %d != in the store now %d + deleted %d",
			inStoreBefore, captured, inStoreNow, s.Retention.DeletedPackets)
	}
}

// retentionDeletedRE matches the line the daemon logs for each retention
// pass that deleted segments, one per reason: the same counts its status
// adds up (retention's Action, internal/daemon/retention.go).
var retentionDeletedRE = regexp.MustCompile(`msg="retention deleted segments" .*\bsegments=(\d+) .*\bpackets=(\d+)`)

// settle gives a status read before the daemon's stop the deletions of
// the daemon's whole run, from its log once it has stopped. Retention goes
// on while the daemon runs, the stop's draining of the rings included: a
// status read before the stop counts the deletions up to then only, a
// lower bound (the packets of a segment deleted after the read were in
// the store before and are in it no more). The log has them all.
func settle(t *testing.T, d *daemonProc, s daemonStatus) daemonStatus {
	t.Helper()
	if d.cmd.ProcessState == nil {
		t.Fatal("settle: the daemon has not stopped")
	}
	var segs, packets int64
	for _, m := range retentionDeletedRE.FindAllStringSubmatch(d.stderr.String(), -1) {
		n, err1 := strconv.ParseInt(m[1], 10, 64)
		p, err2 := strconv.ParseInt(m[2], 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("retention's log line %q", m[0])
		}
		segs += n
		packets += p
	}
	if segs < s.Retention.DeletedSegments || packets < s.Retention.DeletedPackets {
		t.Errorf("the daemon's log says retention deleted %d segments (%d packets), its status before the stop %d (%d)",
			segs, packets, s.Retention.DeletedSegments, s.Retention.DeletedPackets)
	}
	if segs != s.Retention.DeletedSegments {
		t.Logf("retention deleted %d more segments (%d packets) after the status was read",
			segs-s.Retention.DeletedSegments, packets-s.Retention.DeletedPackets)
	}
	s.Retention.DeletedSegments, s.Retention.DeletedPackets = segs, packets
	return s
}

// segmentPackets counts the packets of each segment file in a store no
// daemon records into, reading each file as a database of its own: what
// is in the files, whatever the catalog or a daemon says of them.
func segmentPackets(t *testing.T, st string) map[string]int64 {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(st, "segments", "*", "*.db"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, f := range files {
		for _, ss := range sessions(t, f) {
			out[f] += storeCount(t, f, "-s", strconv.FormatInt(ss.ID, 10))
		}
	}
	return out
}

// TestFaultDiskFullKeepsRecording: two interfaces at 60k packets/s
// together into a store on a 48 MiB filesystem with min_free 10%, a
// burst before them held: the filesystem never fills (the kernel's statfs, sampled every 50 ms),
// no interface stops recording, nothing is dropped, /healthz says 200
// throughout, every packet is stored or deleted by retention, and the
// held burst is kept, packet for packet as the sender counted. Then,
// the daemon stopped, a file beside the store takes every last byte: the
// daemon starts on a disk with 0 bytes free (the store's reserve makes
// room for the catalog), retention makes room, and recording resumes.
// Before: retention failed every second ("delete segment ...: disk I/O
// error"), both interfaces failed for good, /healthz said 200, and a
// restart failed with "open store: disk I/O error".
func TestFaultDiskFullKeepsRecording(t *testing.T) {
	mnt := smallDisk(t, 48)
	a, b := netlab.New(t, "dfa"), netlab.New(t, "dfb")
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
	// A burst of evidence, held: it must outlive every deletion.
	t0 := time.Now()
	held := flood(t, a, 9999, 5_000, time.Second)
	t1 := time.Now()
	since, until := t0.Add(-100*time.Millisecond).UTC().Format(time.RFC3339Nano), t1.Add(100*time.Millisecond).UTC().Format(time.RFC3339Nano)
	mustRun(t, "hold", "-d", st, "--since", since, "--until", until, "--reason", "evidence")
	time.Sleep(300 * time.Millisecond)
	stop := make(chan struct{})
	health := watchHealth(t, d, stop)
	var mu sync.Mutex
	sent := held
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
		}
	}
	if len(hs) < 100 || bad != 0 {
		t.Errorf("/healthz: %d answers, %d not 200", len(hs), bad)
	}
	if s.Retention.DeletedSegments == 0 {
		t.Fatalf("retention deleted nothing: the test wrote too little")
	}
	d.stop(t, 5*time.Second)
	t.Logf("%s", grepLines(d.stderr.String(), "retention totals"))
	stored := storeCount(t, st)
	countInvariant(t, settle(t, d, s), int64(sent), 0, stored)
	if n := storeCount(t, st, "--since", since, "--until", until); n != int64(held) {
		t.Errorf("the held burst: %d packets kept of %d sent", n, held)
	}
	// What each segment file holds, to know what the restart's
	// retention deletes from the files themselves.
	before := segmentPackets(t, st)
	var inFiles int64
	for _, n := range before {
		inFiles += n
	}
	if inFiles != stored {
		t.Errorf("the segment files hold %d packets, the store %d", inFiles, stored)
	}

	// A disk with 0 bytes free: the daemon starts, makes room, records.
	fillDisk(t, mnt, "filler")
	if free := freeBytes(t, mnt); free != 0 {
		t.Fatalf("filled the disk, %d bytes free", free)
	}
	d = startDaemon(t, cfg)
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body := d.get(t, "/healthz")
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz %d %s after a restart on a full disk; log %s", code, body, d.stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(d.stderr.String(), "opened it with the store's reserve") {
		t.Errorf("the restart on a full disk did not say so: %s", d.stderr)
	}
	sent2 := flood(t, a, 9999, 10_000, 2*time.Second)
	time.Sleep(1500 * time.Millisecond)
	s2 := d.status(t)
	d.stop(t, 5*time.Second)
	read := s2.Retention
	s2 = settle(t, d, s2)
	t.Logf("the restart: retention deleted %d segments (%d packets), %d (%d) of them by the status read before the stop",
		s2.Retention.DeletedSegments, s2.Retention.DeletedPackets, read.DeletedSegments, read.DeletedPackets)
	// Retention deletes the oldest segments first, all of them from
	// before the restart (it deletes some five of the dozen there): the
	// files gone are what it says it deleted, packet for packet.
	var goneSegs, gonePackets int64
	for f, n := range before {
		if _, err := os.Stat(f); errors.Is(err, os.ErrNotExist) {
			goneSegs++
			gonePackets += n
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if goneSegs != s2.Retention.DeletedSegments || gonePackets != s2.Retention.DeletedPackets {
		t.Errorf("the files gone since the restart held %d segments, %d packets; retention says it deleted %d, %d",
			goneSegs, gonePackets, s2.Retention.DeletedSegments, s2.Retention.DeletedPackets)
	}
	countInvariant(t, s2, int64(sent2), stored, storeCount(t, st))
	if n := storeCount(t, st, "--since", since, "--until", until); n != int64(held) {
		t.Errorf("after the restart on a full disk, the held burst: %d packets kept of %d sent", n, held)
	}
	if s2.Retention.DeletedSegments == 0 || freeBytes(t, mnt) < 4<<20 {
		t.Errorf("retention made no room: %+v, %d bytes free", s2.Retention, freeBytes(t, mnt))
	}
}

// TestFaultDiskFullComesBack: a file beside the store takes every byte
// while the daemon records: an interface that fails for the full disk
// says so in /healthz (503, with the reason), retention makes room with
// its reserve (the catalog cannot be written at 0 bytes free), and the
// interface comes back by itself, at once (it tells retention, which
// kicks it once there is room: tens of milliseconds, where the retry
// took a second); the packets it could not store are counted.
func TestFaultDiskFullComesBack(t *testing.T) {
	mnt := smallDisk(t, 48)
	lab := netlab.New(t, "dfc")
	st := filepath.Join(mnt, "store")
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	writeConfig(t, cfg, fmt.Sprintf("store: %s\ncompression: none\nsegment:\n  max_bytes: 2MiB\nretention:\n  min_free: 10%%\nlisten: 127.0.0.1:0\ninterfaces:\n  - name: %s\n    filter: udp dst port 9999\n", st, lab.HostIf))
	d := startDaemon(t, cfg)
	stop := make(chan struct{})
	health := watchHealth(t, d, stop)
	done := make(chan int)
	go func() { done <- flood(t, lab, 9999, 20_000, 10*time.Second) }()
	time.Sleep(4 * time.Second)
	fillDisk(t, mnt, "filler")
	filledAt := time.Now()
	sent := <-done
	time.Sleep(1500 * time.Millisecond)
	s := d.status(t)
	close(stop)
	hs := health()
	if s.Interfaces[0].State != "recording" {
		t.Errorf("the interface did not come back: %+v", s.Interfaces[0])
	}
	// Every answer after the disk filled: 200, or 503 naming the
	// interface; the last ones 200.
	var unhealthy []string
	for _, h := range hs {
		if h.at.Before(filledAt) {
			continue
		}
		if h.code != 200 {
			if h.code != 503 || !strings.Contains(h.body, lab.HostIf) {
				t.Errorf("/healthz %d %s", h.code, h.body)
			}
			unhealthy = append(unhealthy, h.body)
		}
	}
	if n := len(hs); n == 0 || hs[n-1].code != 200 {
		t.Errorf("/healthz at the end: %+v", hs[max(0, n-1):])
	}
	failed := strings.Contains(d.stderr.String(), "interface failed")
	t.Logf("the interface failed: %v; /healthz unhealthy %d times; app drops %d; deleted %d segments",
		failed, len(unhealthy), s.Interfaces[0].Drops.App, s.Retention.DeletedSegments)
	t.Logf("%s", grepLines(d.stderr.String(), `msg="interface`))
	if s.Retention.DeletedSegments == 0 {
		t.Errorf("retention made no room")
	}
	d.stop(t, 5*time.Second)
	s = settle(t, d, s)
	// What the interface could not receive while it was failed (no
	// socket was open) no kernel counter saw: bounded by the time
	// /healthz said so, at 20k packets/s.
	if gap := int64(sent) - s.Interfaces[0].Received; gap < 0 || gap > int64(len(unhealthy)+10)*1000 {
		t.Errorf("the kernel counted %d packets of %d sent; /healthz was unhealthy %d times (50 ms apart)", s.Interfaces[0].Received, sent, len(unhealthy))
	}
	countInvariant(t, s, -1, 0, storeCount(t, st))
}

// TestFaultHealthzMissingInterface: /healthz is 503 while a configured
// interface does not record, and says which and why; 200 once it does.
// Before, it said 200 whatever the interfaces did.
func TestFaultHealthzMissingInterface(t *testing.T) {
	lab := netlab.New(t, "dfh")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.yaml")
	missing := "prdnone" + strconv.Itoa(os.Getpid()%10000)
	writeConfig(t, cfg, fmt.Sprintf("store: %s\nlisten: 127.0.0.1:0\ninterfaces:\n  - name: %s\n  - name: %s\n", filepath.Join(dir, "store"), lab.HostIf, missing))
	d := startDaemon(t, cfg)
	code, body := d.get(t, "/healthz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, missing+": missing") || strings.Contains(body, lab.HostIf+":") {
		t.Errorf("/healthz with %s missing: %d %s", missing, code, body)
	}
	// Without the missing interface (a reload), healthy.
	writeConfig(t, cfg, fmt.Sprintf("store: %s\nlisten: 127.0.0.1:0\ninterfaces:\n  - name: %s\n", filepath.Join(dir, "store"), lab.HostIf))
	d.cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(5 * time.Second)
	for code != 200 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		code, body = d.get(t, "/healthz")
	}
	if code != 200 || !strings.Contains(body, `"ok"`) {
		t.Errorf("/healthz with every interface recording: %d %s", code, body)
	}
	d.stop(t, 5*time.Second)
}

// duBytes is what du(1) says the store's files take, the trash (expired
// segments being freed, a few milliseconds at a time) left out.
func duBytes(t *testing.T, dir string) int64 {
	t.Helper()
	// du exits 1 when a file vanishes under it (retention deleted a
	// segment), and still prints the total of the others.
	out, err := exec.Command("du", "-s", "-B1", "--exclude=trash", dir).Output()
	f := strings.Fields(string(out))
	if len(f) == 0 {
		t.Fatalf("du: %v", err)
	}
	n, perr := strconv.ParseInt(f[0], 10, 64)
	if perr != nil {
		t.Fatalf("du: %q %v", out, err)
	}
	return n
}

// TestFaultDiskBudgetFileBytes: two interfaces at 40k packets/s together
// into a store with max_bytes 20MiB: du(1), sampled every 100 ms, never
// sees the store over 20 MiB (give or take 1 MiB), and the status's file_bytes is what du
// says. Before: the budget counted what the catalog said of the segments
// at their last commit, checked once a second, and du saw 26 MiB.
func TestFaultDiskBudgetFileBytes(t *testing.T) {
	testkit.RequireTool(t, "du")
	a, b := netlab.New(t, "dba"), netlab.New(t, "dbb")
	dir := t.TempDir()
	st := filepath.Join(dir, "store")
	cfg := filepath.Join(dir, "c.yaml")
	const budget = 20 << 20
	writeConfig(t, cfg, fmt.Sprintf(`store: %s
compression: none
segment:
  max_bytes: 4MiB
retention:
  max_bytes: 20MiB
interfaces:
  - name: %s
    filter: "udp dst port 9999"
  - name: %s
    filter: "udp dst port 9999"
listen: 127.0.0.1:0
`, st, a.HostIf, b.HostIf))
	d := startDaemon(t, cfg)
	var mu sync.Mutex
	sent := 0
	var wg sync.WaitGroup
	for _, lab := range []*netlab.Lab{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := flood(t, lab, 9999, 20_000, 8*time.Second)
			mu.Lock()
			sent += n
			mu.Unlock()
		}()
	}
	flooding := make(chan struct{})
	go func() { wg.Wait(); close(flooding) }()
	maxDu, samples := int64(0), 0
sampling:
	for i := 0; i < 10*60; i++ {
		select {
		case <-flooding:
			break sampling
		case <-time.After(100 * time.Millisecond):
		}
		maxDu = max(maxDu, duBytes(t, st))
		samples++
	}
	time.Sleep(2 * time.Second) // the last commits; retention settles
	s, x := d.status(t), d.statusExtra(t)
	du := duBytes(t, st)
	t.Logf("%d packets sent; du at most %d bytes over %d samples; now du %d, status file_bytes %d; deleted %d segments",
		sent, maxDu, samples, du, x.Store.FileBytes, s.Retention.DeletedSegments)
	// Whole segments go, at a check every 200 ms: allow 1 MiB (what
	// the interfaces write in 150 ms) over, where it was 9 MiB.
	if maxDu > budget+1<<20 {
		t.Errorf("du saw the store at %d bytes, over max_bytes %d", maxDu, budget)
	}
	if diff := x.Store.FileBytes - du; diff < -256<<10 || diff > 256<<10 {
		t.Errorf("status says %d file bytes, du %d", x.Store.FileBytes, du)
	}
	if s.Retention.DeletedSegments == 0 {
		t.Fatalf("retention deleted nothing: the test wrote too little")
	}
	d.stop(t, 5*time.Second)
	countInvariant(t, settle(t, d, s), int64(sent), 0, storeCount(t, st))
}
