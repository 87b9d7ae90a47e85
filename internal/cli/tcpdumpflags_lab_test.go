//go:build linux

package cli_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/netlab"
	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// TestCaptureListsInterfacesAsTcpdump: capture -D, run in a lab's
// namespace (a veth up, another pair down, lo down), prints tcpdump -D's
// lines in its order and numbering, libpcap's other capture sources
// (bluetooth, nflog, nfqueue, dbus), which packetrecorder cannot capture
// on, left out.
func TestCaptureListsInterfacesAsTcpdump(t *testing.T) {
	testkit.RequireTool(t, "tcpdump")
	lab := netlab.New(t, "tfD")
	down := "tfd" + strconv.Itoa(os.Getpid()%100000)
	netlab.Run(t, "ip", "-n", lab.NS, "link", "add", down+"a", "type", "veth", "peer", "name", down+"b")
	netlab.Run(t, "ip", "-n", lab.NS, "link", "set", down+"a", "up")
	want := ""
	n := 0
	for _, l := range strings.Split(strings.TrimSpace(netlab.Run(t, "ip", "netns", "exec", lab.NS, "tcpdump", "-D")), "\n") {
		_, rest, _ := strings.Cut(l, ".")
		name, _, _ := strings.Cut(rest, " ")
		if strings.HasPrefix(name, "bluetooth") || strings.HasPrefix(name, "nf") || strings.HasPrefix(name, "dbus-") || strings.HasPrefix(name, "usbmon") {
			continue
		}
		n++
		want += strconv.Itoa(n) + "." + rest + "\n"
	}
	if !strings.Contains(want, down+"b [none, Disconnected]") || !strings.Contains(want, lab.PeerIf+" [Up, Running, Connected]") {
		t.Fatalf("the lab is not as meant: tcpdump -D:\n%s", want)
	}
	got := netlab.Run(t, "ip", "netns", "exec", lab.NS, binPath, "capture", "-D")
	if got != want {
		t.Errorf("capture -D:\n%s\ntcpdump -D:\n%s", got, want)
	}
}

// TestCaptureRotatesAsTcpdump: capture -w NAME -C 1 (and -C 1 -W 3) on a
// lab's veth writes the files tcpdump -w NAME -C 1 (-W 3) writes of the
// same packets: the same names (NAME, NAME1, NAME2...; NAME0-NAME2 as a
// ring), each read by capinfos and tcpdump -r with the same packets.
//
// The claim holds for the packets both captured: a packet one side drops
// shifts every file after it. Both are ready before the ping begins (so
// the first file begins with its first request), both have an ample ring
// and both must report 0 packets dropped by the kernel; a run in which
// either dropped (a process stalled past its ring on a loaded machine) is
// done again, at most rotateAttempts times in all. Our ring hands a partly
// filled 1 MiB block to user space after 10 ms, so at this ping's 1,000
// packets a second it holds about 10 ms of packets a block: the default
// 10 blocks (-b 10MB) ride out a stall of about 100 ms, where tcpdump's
// default (-B 2048: 8 blocks of 256 KiB, handed over after 1 s) rides out
// about 1.4 s. Here ours has 128 blocks (-b 128MiB, about 1.3 s) and
// tcpdump the same bytes (-B 131072).
func TestCaptureRotatesAsTcpdump(t *testing.T) {
	testkit.RequireTool(t, "tcpdump")
	testkit.RequireTool(t, "capinfos")
	lab := netlab.New(t, "tfC")
	first := regexp.MustCompile(`^IP ` + regexp.QuoteMeta(lab.PeerIP.String()+" > "+lab.HostIP.String()) + `: ICMP echo request, id \d+, seq 1, length 1408\n`)
	for _, rot := range [][]string{{"-C", "1"}, {"-C", "1", "-W", "3"}} {
		var ours, theirs string
		for attempt := 1; ; attempt++ {
			var drops string
			ours, theirs, drops = rotateBesideTcpdump(t, lab, rot)
			if drops == "" {
				break
			}
			if attempt == rotateAttempts {
				t.Fatalf("%v: packets dropped in each of %d runs, the last: %s", rot, attempt, drops)
			}
			t.Logf("%v: run %d: %s: once more", rot, attempt, drops)
		}
		names := func(dir string) []string {
			ents, _ := os.ReadDir(dir)
			var out []string
			for _, e := range ents {
				out = append(out, e.Name())
			}
			return out
		}
		gotNames, wantNames := names(ours), names(theirs)
		if !slices.Equal(gotNames, wantNames) || len(wantNames) < 3 {
			t.Fatalf("%v: files %v, tcpdump's %v", rot, gotNames, wantNames)
		}
		for _, name := range wantNames {
			want, _, err := testkit.RunTool("tcpdump", "-n", "-t", "-r", filepath.Join(theirs, name))
			if err != nil {
				t.Fatal(err)
			}
			got, _, err := testkit.RunTool("tcpdump", "-n", "-t", "-r", filepath.Join(ours, name))
			if err != nil {
				t.Fatalf("%v: tcpdump -r %s: %v", rot, name, err)
			}
			if got != want {
				t.Errorf("%v: %s has %d packets, tcpdump's %d: %s", rot, name, strings.Count(got, "\n"), strings.Count(want, "\n"), firstDifference(got, want))
			}
			if name == "trace" && !first.MatchString(want) {
				t.Errorf("%v: tcpdump's first file does not begin with the ping's first request: %.200q", rot, want)
			}
			if _, _, err := testkit.RunTool("capinfos", filepath.Join(ours, name)); err != nil {
				t.Errorf("capinfos %s: %v", name, err)
			}
		}
	}
}

// rotateAttempts bounds the runs of TestCaptureRotatesAsTcpdump.
const rotateAttempts = 3

// rotateBesideTcpdump runs capture -w and tcpdump -w with rotation flags
// rot on lab's host veth, both with -c 3000 icmp, while ping sends them
// 1,550 echo requests of 1,400 bytes 2 ms apart, and returns the
// directories of their files, ours and tcpdump's. drops is "" when both
// say 0 packets were dropped by the kernel, else both sides' counts.
func rotateBesideTcpdump(t *testing.T, lab *netlab.Lab, rot []string) (ours, theirs, drops string) {
	t.Helper()
	ours, theirs = t.TempDir(), t.TempDir()
	const count = 3000 // 1442-byte frames: 686 to a 1,000,000-byte file
	td := testkit.StartWitness(t, exec.Command("tcpdump", append([]string{"-i", lab.HostIf, "-Z", "root", "-B", "131072", "-c", strconv.Itoa(count), "-w", filepath.Join(theirs, "trace"), "icmp"}, rot...)...))
	pr := start(t, append([]string{"capture", "-i", lab.HostIf, "-b", "128MiB", "-c", strconv.Itoa(count), "-w", filepath.Join(ours, "trace"), "icmp"}, rot...)...)
	pr.waitLine(t, "capturing on", 10*time.Second)
	ping := lab.PeerCommand("ping", "-q", "-i", "0.002", "-s", "1400", "-c", strconv.Itoa(count/2+50), lab.HostIP.String())
	if out, err := ping.CombinedOutput(); err != nil {
		t.Fatalf("ping: %v\n%s", err, out)
	}
	// Each stops by itself after count packets, unless it dropped more
	// than the ping's 100 spare: SIGINT then ends it with its statistics.
	tdDone := make(chan error, 1)
	go func() { tdDone <- td.Wait() }()
	ourErr, ourStopped := endAfter(pr.cmd, pr.done, 20*time.Second)
	theirErr, theirStopped := endAfter(td, tdDone, 20*time.Second)
	if strings.Contains(pr.stderr.String(), "not written") {
		t.Fatalf("capture %v: %s", rot, pr.stderr)
	}
	ourDrops, theirDrops := kernelDrops(t, "capture", pr.stderr.String()), kernelDrops(t, "tcpdump", fmt.Sprint(td.Stderr))
	if ourDrops != 0 || theirDrops != 0 {
		return ours, theirs, fmt.Sprintf("capture dropped %d, tcpdump %d", ourDrops, theirDrops)
	}
	switch {
	case ourStopped:
		t.Fatalf("capture %v did not stop after %d packets: %s", rot, count, pr.stderr)
	case ourErr != nil:
		t.Fatalf("capture %v: %v: %s", rot, ourErr, pr.stderr)
	case theirStopped:
		t.Fatalf("tcpdump %v did not stop after %d packets: %s", rot, count, td.Stderr)
	case theirErr != nil:
		t.Fatalf("tcpdump %v: %v: %s", rot, theirErr, td.Stderr)
	}
	return ours, theirs, ""
}

// endAfter waits up to d for cmd, which done reports the end of, to exit
// by itself; then it interrupts it (SIGINT, SIGKILL 10 s later) and says
// so (stopped).
func endAfter(cmd *exec.Cmd, done <-chan error, d time.Duration) (err error, stopped bool) {
	select {
	case err := <-done:
		return err, false
	case <-time.After(d):
	}
	cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-done:
		return err, true
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		return <-done, true
	}
}

// droppedByKernel is the statistics line tcpdump and capture end with.
var droppedByKernel = regexp.MustCompile(`(?m)^(\d+) packets? dropped by kernel$`)

// kernelDrops is the count of who's "N packets dropped by kernel" line.
func kernelDrops(t *testing.T, who, stderr string) int {
	t.Helper()
	m := droppedByKernel.FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("%s: no \"dropped by kernel\" line: %q", who, stderr)
	}
	n, err := strconv.Atoi(m[1])
	if err != nil {
		t.Fatalf("%s: %q: %v", who, m[0], err)
	}
	return n
}

// firstDifference shows where two tcpdump -r listings part: the line
// number and the next lines of each.
func firstDifference(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	i := 0
	for i < len(g) && i < len(w) && g[i] == w[i] {
		i++
	}
	return fmt.Sprintf("from line %d, ours %q, tcpdump's %q", i+1, g[i:min(i+3, len(g))], w[i:min(i+3, len(w))])
}

// TestCaptureRotatesByTime: capture -w 'NAME-%H%M%S' -G 1 -W 3 names
// each file by strftime at its start, as tcpdump does, and stops by
// itself after the third ("Maximum file limit reached: 3", exit 0), as
// tcpdump run beside it does; every file reads back.
func TestCaptureRotatesByTime(t *testing.T) {
	testkit.RequireTool(t, "tcpdump")
	lab := netlab.New(t, "tfG")
	ours, theirs := t.TempDir(), t.TempDir()
	td := testkit.StartWitness(t, exec.Command("tcpdump", "-i", lab.HostIf, "-Z", "root", "-G", "1", "-W", "3", "-w", filepath.Join(theirs, "t-%H%M%S"), "icmp"))
	pr := start(t, "capture", "-i", lab.HostIf, "-G", "1", "-W", "3", "-w", filepath.Join(ours, "t-%H%M%S"), "icmp")
	pr.waitLine(t, "capturing on", 10*time.Second)
	began := time.Now()
	ping := lab.PeerCommand("ping", "-q", "-i", "0.05", "-w", "6", lab.HostIP.String())
	ping.Run() // ends when the time is up: its exit status says nothing
	if code := pr.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("capture -G 1 -W 3: exit %d: %s", code, pr.stderr)
	}
	if !strings.Contains(pr.stderr.String(), "Maximum file limit reached: 3") {
		t.Errorf("capture -G -W: stderr %q", pr.stderr)
	}
	tdDone := make(chan error, 1)
	go func() { tdDone <- td.Wait() }()
	if err, stopped := endAfter(td, tdDone, 10*time.Second); err != nil || stopped {
		t.Fatalf("tcpdump -G 1 -W 3: %v (interrupted: %v): %s", err, stopped, td.Stderr)
	}
	pattern := regexp.MustCompile(`^t-\d{6}$`)
	list := func(dir string) []string {
		ents, _ := os.ReadDir(dir)
		var out []string
		for _, e := range ents {
			out = append(out, e.Name())
		}
		return out
	}
	got, want := list(ours), list(theirs)
	if len(got) != len(want) || len(want) != 3 {
		t.Fatalf("files %v, tcpdump's %v", got, want)
	}
	for _, name := range got {
		if !pattern.MatchString(name) {
			t.Errorf("file %q is not named by strftime t-%%H%%M%%S", name)
			continue
		}
		at, _ := time.ParseInLocation("150405", name[2:], time.Local)
		sec := at.Hour()*3600 + at.Minute()*60 + at.Second()
		b := began.Add(-15 * time.Second)
		if d := (sec - (b.Hour()*3600 + b.Minute()*60 + b.Second()) + 86400) % 86400; d > 40 {
			t.Errorf("file %q is not named after a time of the run (began %s)", name, began.Format("150405"))
		}
		if _, _, err := testkit.RunTool("tcpdump", "-n", "-r", filepath.Join(ours, name)); err != nil {
			t.Errorf("tcpdump -r %s: %v", name, err)
		}
	}
}

// TestCaptureFileLimitWithDatabase: capture -d DB -w NAME -G 1 -W 2 ends
// by itself once its second file is done, as at Ctrl-C: the database
// takes every packet the kernel accepted, none is counted as not stored,
// the session's count is what the database holds, and the summary line
// says as much. (The packets of the transaction the limit came in were
// counted as "not stored (write error)" while the database held them,
// and those still on their way were dropped.)
func TestCaptureFileLimitWithDatabase(t *testing.T) {
	lab := netlab.New(t, "tfW")
	dir := t.TempDir()
	db := filepath.Join(dir, "w.db")
	pr := start(t, "capture", "-i", lab.HostIf, "-d", db, "-G", "1", "-W", "2", "-w", filepath.Join(dir, "w-%H%M%S"), "icmp")
	pr.waitLine(t, "capturing on", 10*time.Second)
	ping := lab.PeerCommand("ping", "-q", "-i", "0.02", "-w", "5", lab.HostIP.String())
	ping.Run() // ends when the time is up: its exit status says nothing
	if code := pr.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("capture -d -G 1 -W 2: exit %d: %s", code, pr.stderr)
	}
	if !strings.Contains(pr.stderr.String(), "Maximum file limit reached: 2") {
		t.Fatalf("capture -d -G -W: stderr %q", pr.stderr)
	}
	ss := sessions(t, db)
	if len(ss) != 1 {
		t.Fatalf("%d sessions", len(ss))
	}
	s := ss[0]
	accounted(t, s)
	if s.Dropped != 0 || strings.Contains(pr.stderr.String(), "not stored") {
		t.Errorf("%d packets counted as not stored: %s", s.Dropped, pr.stderr)
	}
	held, err := strconv.ParseInt(strings.TrimSpace(mustRun(t, "query", "--count", "-d", db, "-s", strconv.FormatInt(s.ID, 10))), 10, 64)
	if err != nil || held != s.Packets || held == 0 {
		t.Errorf("the database holds %d packets (%v), the session says %d", held, err, s.Packets)
	}
	if want := fmt.Sprintf("%d packets stored", s.Packets); !strings.Contains(pr.stderr.String(), want) {
		t.Errorf("stderr %q lacks %q", pr.stderr, want)
	}
}

// promiscuity is the kernel's count of promiscuous-mode users of an
// interface (ip -d link's "promiscuity N").
func promiscuity(t *testing.T, iface string) int {
	t.Helper()
	m := regexp.MustCompile(`promiscuity (\d+)`).FindStringSubmatch(netlab.Run(t, "ip", "-d", "link", "show", iface))
	if m == nil {
		t.Fatalf("ip -d link show %s: no promiscuity", iface)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// TestCaptureNoPromiscAndFilterFile: capture -p leaves the interface out
// of promiscuous mode (the kernel's promiscuity count stays as it was,
// where a capture without -p raises it), and -F FILE's filter is the one
// compiled: of a lab's ping and UDP, only the UDP is kept, as tcpdump -F
// selects.
func TestCaptureNoPromiscAndFilterFile(t *testing.T) {
	testkit.RequireTool(t, "tcpdump")
	lab := netlab.New(t, "tfP")
	dir := t.TempDir()
	ffile := filepath.Join(dir, "filter")
	if err := os.WriteFile(ffile, []byte("# the lab's UDP only\nudp\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	before := promiscuity(t, lab.HostIf)
	for _, c := range []struct {
		args  []string
		raise int
	}{{[]string{"-p"}, 0}, {nil, 1}} {
		out := filepath.Join(dir, "p"+strconv.Itoa(c.raise)+".pcap")
		pr := start(t, append([]string{"capture", "-i", lab.HostIf, "-w", out, "-F", ffile, "-c", "3"}, c.args...)...)
		pr.waitLine(t, "capturing on", 10*time.Second)
		if got := promiscuity(t, lab.HostIf); got != before+c.raise {
			t.Errorf("capture %v: promiscuity %d, was %d", c.args, got, before)
		}
		if out, err := lab.PeerCommand("ping", "-c", "2", "-i", "0.05", "-W", "1", lab.HostIP.String()).CombinedOutput(); err != nil {
			t.Fatalf("ping: %v\n%s", err, out)
		}
		conn := lab.PeerUDP()
		for i := 0; i < 3; i++ {
			conn.WriteTo([]byte("hello"), &net.UDPAddr{IP: lab.HostIP, Port: 9})
		}
		if code := pr.wait(t, 20*time.Second); code != 0 {
			t.Fatalf("capture %v: exit %d: %s", c.args, code, pr.stderr)
		}
		all, _, err := testkit.RunTool("tcpdump", "-n", "-r", out)
		if err != nil {
			t.Fatal(err)
		}
		udp, _, _ := testkit.RunTool("tcpdump", "-n", "-r", out, "-F", ffile)
		if strings.Count(all, "\n") != 3 || udp != all {
			t.Errorf("capture -F: kept\n%s\nof which tcpdump -F selects\n%s", all, udp)
		}
	}
}
