package cli_test

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
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
func counters(d *daemonProc) (map[string]float64, error) {
	req, _ := http.NewRequest("GET", "http://"+d.addr+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		return nil, fmt.Errorf("/metrics: %d %v", resp.StatusCode, err)
	}
	body := string(b)
	out := map[string]float64{}
	for _, m := range counterRE.FindAllStringSubmatch(body, -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		out[m[1]] = v
	}
	return out, nil
}

// TestFaultReloadStorm: datagrams go from the lab's peer to ports 9999
// and 9998 in turn (20,000 each, numbered) while the configuration is
// reloaded 20 times in about a second, its filter toggling between
// "port 9999" and "port 9999 or 9998"; then a reload changes the
// snaplen, which restarts the interface. Both filters take every
// datagram to 9999, so all of them must be stored, each once, with no
// drop; those to 9998 are stored only while the wide filter was in
// force (some, not all). Then 20,000 more go to 9999 while five reloads
// change the snaplen, each restarting the interface: those lost while
// the rings were replaced are counted (drops, reason reload). The
// counters on /metrics, scraped every 50 ms throughout, never go back.
func TestFaultReloadStorm(t *testing.T) {
	lab := netlab.New(t, "frs")
	dir := t.TempDir()
	st := filepath.Join(dir, "store")
	cfg := filepath.Join(dir, "c.yaml")
	conf := func(expr string, snaplen int) string {
		return fmt.Sprintf("store: %s\nlisten: 127.0.0.1:0\nlimits:\n  requests_per_minute: 100000\ninterfaces:\n  - name: %s\n    filter: %q\n    snaplen: %d\n", st, lab.HostIf, expr, snaplen)
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
			now, err := counters(d)
			mu.Lock()
			if err != nil {
				decreases = append(decreases, err.Error())
				mu.Unlock()
				continue
			}
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
	before, err := counters(d)
	if err != nil {
		t.Fatal(err)
	}
	writeConfigAtomic(t, cfg, conf(narrow, 1500))
	d.cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(d.stderr.String(), "restarted=["+lab.HostIf+"]") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	after, err := counters(d)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range before {
		if after[k] < v {
			t.Errorf("after the interface restarted, %s went from %v to %v", k, v, after[k])
		}
	}
	// Restarts under traffic: what passes while the rings are replaced is
	// counted (drops, reason reload), never silently lost.
	const n2 = 20_000 // more datagrams, all to 9999
	go func() {
		udp := lab.PeerUDP()
		payload := make([]byte, 16)
		start := time.Now()
		ok := 0
		for i := range n2 {
			if i%100 == 0 {
				if w := time.Until(start.Add(time.Duration(i) * 100 * time.Microsecond)); w > 0 {
					time.Sleep(w)
				}
			}
			binary.BigEndian.PutUint64(payload, uint64(n+i))
			if _, err := udp.WriteToUDP(payload, &net.UDPAddr{IP: lab.HostIP, Port: 9999}); err != nil {
				t.Errorf("send %d: %v", n+i, err)
				break
			}
			ok++
		}
		sent <- ok
	}()
	time.Sleep(200 * time.Millisecond)
	for i := range 5 {
		writeConfigAtomic(t, cfg, conf(narrow, 1400+i%2*100))
		d.cmd.Process.Signal(syscall.SIGHUP)
		time.Sleep(250 * time.Millisecond)
	}
	if got := <-sent; got != n2 {
		t.Fatalf("sent %d of %d datagrams", got, n2)
	}
	time.Sleep(500 * time.Millisecond)
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
		t.Errorf("a counter went back, or a scrape failed: %s", e)
	}
	if len(s.Interfaces) != 1 || s.Interfaces[0].Drops.Kernel != 0 || s.Interfaces[0].Drops.App != 0 || s.Interfaces[0].State != "recording" {
		t.Errorf("interface: %+v", s.Interfaces)
	}
	if c := strings.Count(d.stderr.String(), "msg=reloaded"); c < 2 {
		t.Errorf("%d reloads took effect", c)
	}
	// Every datagram to 9999 of the filter storm, each once; some to
	// 9998, not all. (The datagrams carry their number after the UDP
	// header: bytes 42 to 49 of the frame.)
	kept := storeCount(t, st, "udp dst port 9999 and udp[8:4] = 0 and udp[12:4] < "+strconv.Itoa(n))
	if kept != n/2 {
		t.Errorf("stored %d datagrams to 9999, sent %d: %d lost across the reloads", kept, n/2, n/2-kept)
	}
	// The restarts: sent = stored + lost, and the lost are counted. The
	// count is an upper bound (the interface's own counters, read just
	// before the old rings close and just after the new ones open).
	kept2 := storeCount(t, st, "udp dst port 9999 and udp[8:4] = 0 and udp[12:4] >= "+strconv.Itoa(n))
	lost := int64(n2) - kept2
	if reload := s.Interfaces[0].Drops.Reload; lost < 0 || reload < lost || reload > lost+int64(n2)/20 {
		t.Errorf("5 restarts under traffic: %d of %d datagrams stored, %d lost; the reload drops count %d", kept2, n2, lost, reload)
	} else {
		t.Logf("5 restarts under traffic: %d datagrams lost, %d counted", lost, reload)
	}
	wideKept := storeCount(t, st, "udp dst port 9998")
	if wideKept == 0 || wideKept >= n/2 {
		t.Errorf("stored %d of %d datagrams to 9998: the filter did not toggle", wideKept, n/2)
	}
	if total := storeCount(t, st); total != kept+wideKept+kept2 {
		t.Errorf("stored %d packets, not %d + %d + %d", total, kept, wideKept, kept2)
	}
	// What the daemon counted is what it stored.
	if s.Interfaces[0].Packets != storeCount(t, st) {
		t.Errorf("status counts %d packets, the store holds %d", s.Interfaces[0].Packets, storeCount(t, st))
	}
}
