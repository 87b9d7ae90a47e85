package cli_test

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/netlab"
)

// writeConfigAtomic writes a configuration as writeConfig does, but
// whole (renamed over the old one), so a reload never reads half of it.
func writeConfigAtomic(t *testing.T, path, text string) {
	t.Helper()
	tmp := path + ".new"
	writeConfig(t, tmp, text)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

var counterRE = regexp.MustCompile(`(?m)^(packetrecorder_(?:packets_captured|bytes_captured|packets_received|packets_dropped)_total\{[^}]*\}) (\S+)$`)

// counters reads the daemon's per-interface counters from /metrics.
func counters(t *testing.T, d *daemonProc) map[string]float64 {
	t.Helper()
	code, body := d.get(t, "/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	out := map[string]float64{}
	for _, m := range counterRE.FindAllStringSubmatch(body, -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		out[m[1]] = v
	}
	return out
}

// TestFaultReloadStorm: datagrams go from the lab's peer to ports 9999
// and 9998 in turn (20,000 each, numbered) while the configuration is
// reloaded 20 times in about a second, its filter toggling between
// "port 9999" and "port 9999 or 9998"; then a reload changes the
// snaplen, which restarts the interface. Both filters take every
// datagram to 9999, so all of them must be stored, each once, with no
// drop; those to 9998 are stored only while the wide filter was in
// force (some, not all). The counters on /metrics, scraped every 50 ms
// throughout, never go back.
func TestFaultReloadStorm(t *testing.T) {
	lab := netlab.New(t, "frs")
	dir := t.TempDir()
	st := filepath.Join(dir, "store")
	cfg := filepath.Join(dir, "c.yaml")
	conf := func(expr string, snaplen int) string {
		return fmt.Sprintf("store: %s\nlisten: 127.0.0.1:0\ninterfaces:\n  - name: %s\n    filter: %q\n    snaplen: %d\n", st, lab.HostIf, expr, snaplen)
	}
	const narrow, wide = "udp dst port 9999", "udp and (dst port 9999 or dst port 9998)"
	writeConfigAtomic(t, cfg, conf(narrow, 65535))
	d := startDaemon(t, cfg)

	// The scraper: every 50 ms, every counter at least what it was.
	stopScrape := make(chan struct{})
	var scrapeWG sync.WaitGroup
	var mu sync.Mutex
	var decreases []string
	scrapes := 0
	scrapeWG.Add(1)
	go func() {
		defer scrapeWG.Done()
		last := map[string]float64{}
		for {
			select {
			case <-stopScrape:
				return
			case <-time.After(50 * time.Millisecond):
			}
			now := counters(t, d)
			mu.Lock()
			scrapes++
			for k, v := range now {
				if v < last[k] {
					decreases = append(decreases, fmt.Sprintf("%s went from %v to %v", k, last[k], v))
				}
				last[k] = v
			}
			mu.Unlock()
		}
	}()

	const n = 40_000 // datagrams, every other one to 9999
	sent := make(chan int, 1)
	go func() {
		udp := lab.PeerUDP()
		payload := make([]byte, 16)
		start := time.Now()
		ok := 0
		for i := range n {
			if i%100 == 0 {
				// 10,000 datagrams a second, against the absolute schedule.
				if w := time.Until(start.Add(time.Duration(i) * 100 * time.Microsecond)); w > 0 {
					time.Sleep(w)
				}
			}
			binary.BigEndian.PutUint64(payload, uint64(i))
			port := 9999 - i%2
			if _, err := udp.WriteToUDP(payload, &net.UDPAddr{IP: lab.HostIP, Port: port}); err != nil {
				t.Errorf("send %d: %v", i, err)
				break
			}
			ok++
		}
		sent <- ok
	}()
	time.Sleep(500 * time.Millisecond)
	for i := range 20 {
		expr := wide
		if i%2 == 1 {
			expr = narrow
		}
		writeConfigAtomic(t, cfg, conf(expr, 65535))
		d.cmd.Process.Signal(syscall.SIGHUP)
		time.Sleep(50 * time.Millisecond)
	}
	if got := <-sent; got != n {
		t.Fatalf("sent %d of %d datagrams", got, n)
	}
	time.Sleep(500 * time.Millisecond) // the last commit
	// A change the rings cannot take in place: they restart, and the
	// counters go on from where they were.
	before := counters(t, d)
	writeConfigAtomic(t, cfg, conf(narrow, 1500))
	d.cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(d.stderr.String(), "restarted=["+lab.HostIf+"]") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	after := counters(t, d)
	for k, v := range before {
		if after[k] < v {
			t.Errorf("after the interface restarted, %s went from %v to %v", k, v, after[k])
		}
	}
	close(stopScrape)
	scrapeWG.Wait()
	s := d.status(t)
	d.stop(t, 3*time.Second)
	mu.Lock()
	defer mu.Unlock()
	if scrapes < 20 {
		t.Errorf("only %d scrapes", scrapes)
	}
	for _, e := range decreases {
		t.Errorf("a counter went back: %s", e)
	}
	if len(s.Interfaces) != 1 || s.Interfaces[0].Drops.Kernel != 0 || s.Interfaces[0].Drops.App != 0 {
		t.Errorf("interface: %+v", s.Interfaces)
	}
	if c := strings.Count(d.stderr.String(), "msg=reloaded"); c < 2 {
		t.Errorf("%d reloads took effect", c)
	}
	// Every datagram to 9999, each once; some to 9998, not all.
	kept := storeCount(t, st, "udp dst port 9999")
	if kept != n/2 {
		t.Errorf("stored %d datagrams to 9999, sent %d: %d lost across the reloads", kept, n/2, n/2-kept)
	}
	wideKept := storeCount(t, st, "udp dst port 9998")
	if wideKept == 0 || wideKept >= n/2 {
		t.Errorf("stored %d of %d datagrams to 9998: the filter did not toggle", wideKept, n/2)
	}
	if total := storeCount(t, st); total != kept+wideKept {
		t.Errorf("stored %d packets, not %d + %d", total, kept, wideKept)
	}
	// What the daemon counted is what it stored.
	if s.Interfaces[0].Packets != storeCount(t, st) {
		t.Errorf("status counts %d packets, the store holds %d", s.Interfaces[0].Packets, storeCount(t, st))
	}
}
