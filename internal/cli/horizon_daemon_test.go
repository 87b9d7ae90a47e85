package cli_test

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/netlab"
	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// horizonOf is what the test reads of the daemon's horizon.
type horizonOf struct {
	Reach       *float64 `json:"reach_seconds"`
	Budget      int64    `json:"budget_bytes"`
	BudgetFrom  string   `json:"budget_from"`
	Projected   *float64 `json:"projected_seconds"`
	Whole       *float64 `json:"projected_whole_seconds"`
	Compression *float64 `json:"compression_ratio"`
	Cut         *float64 `json:"cut_share"`
	Rates       []struct {
		Window     string  `json:"window"`
		Span       float64 `json:"span_seconds"`
		Seen       float64 `json:"seen_bytes_per_second"`
		Stored     float64 `json:"stored_bytes_per_second"`
		Interfaces []struct {
			Name string  `json:"name"`
			Seen float64 `json:"seen_bytes_per_second"`
		} `json:"interfaces"`
	} `json:"rates"`
}

// TestDaemonHorizon: a daemon records a known number of UDP datagrams
// of 100 zero bytes (142-byte frames on the wire); its horizon's seen
// rate times the span it covers is the stored packets times 142 bytes,
// its stored rate times the span is what the segment files grew to, the
// zeros compress, nothing is cut, the projection is the budget over the
// stored rate; the metrics say the same and parse, a real Prometheus
// scrapes them, status and the UI show them. Then with compression: none,
// the compression ratio is 1 and the budget holds as long as it would
// whole and uncompressed.
func TestDaemonHorizon(t *testing.T) {
	testkit.RequireTool(t, "promtool")
	lab := netlab.New(t, "dhz")
	dir := t.TempDir()
	st := filepath.Join(dir, "store")
	cfg := filepath.Join(dir, "c.yaml")
	writeConfig(t, cfg, fmt.Sprintf("store: %s\nretention:\n  max_bytes: 64MiB\nsegment:\n  max_bytes: 8MiB\nlisten: 127.0.0.1:0\ninterfaces:\n  - name: %s\n    filter: udp dst port 9999\n", st, lab.HostIf))
	d := startDaemon(t, cfg)
	h, packets := floodHorizon(t, d, lab)
	short, long := h.Rates[0], h.Rates[1]
	t.Logf("%d packets: seen %.0f B/s, stored %.0f B/s over %.1f s; compression %.2f, projected %.0f s, whole %.0f s",
		packets, long.Seen, long.Stored, long.Span, deref(h.Compression), deref(h.Projected), deref(h.Whole))
	if short.Window != "1m" || long.Window != "1h" || short.Span > 60 || long.Span != short.Span || long.Seen != short.Seen {
		t.Errorf("a daemon younger than a minute: both windows cover its life: %+v", h.Rates)
	}
	if len(long.Interfaces) != 1 || long.Interfaces[0].Name != lab.HostIf || long.Interfaces[0].Seen != long.Seen {
		t.Errorf("per interface: %+v", long.Interfaces)
	}
	// What the segment files take, as the filesystem says.
	var files int64
	filepath.WalkDir(filepath.Join(st, "segments"), func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() && strings.HasSuffix(p, ".db") {
			fi, err := e.Info()
			if err == nil {
				files += fi.Size()
			}
		}
		return nil
	})
	// The rate times its span gives back the bytes stored, to a
	// rounding error of the division (a CI run saw 786432 and a little
	// above 786432).
	stored := long.Stored * long.Span
	if files == 0 || stored < 0.8*float64(files) || stored > float64(files)*(1+1e-9) {
		t.Errorf("stored %.0f file bytes over %.1f s; the segment files hold %d bytes", stored, long.Span, files)
	}
	if h.Cut == nil || *h.Cut != 0 {
		t.Errorf("cut share %v: nothing was cut", h.Cut)
	}
	if h.Compression == nil || *h.Compression < 5 {
		t.Errorf("compression ratio %v: 100 zero bytes a datagram compress (zstd is the default)", h.Compression)
	}
	if h.Budget != 64<<20 || h.BudgetFrom != "max_bytes" {
		t.Errorf("budget %d from %q, want max_bytes 64 MiB", h.Budget, h.BudgetFrom)
	}
	if h.Projected == nil || math.Abs(*h.Projected-float64(64<<20)/long.Stored) > 1e-6**h.Projected {
		t.Errorf("projected %v, want 64 MiB / %.1f B/s", h.Projected, long.Stored)
	}
	if h.Whole == nil || *h.Whole >= *h.Projected {
		t.Errorf("whole and uncompressed %v: less than the projection %v, as the zeros compress", h.Whole, h.Projected)
	}
	if h.Reach == nil || *h.Reach <= 0 || *h.Reach > 30 {
		t.Errorf("reach %v s: the first packet is seconds old", h.Reach)
	}

	_, metrics := d.get(t, "/metrics")
	check := exec.Command("promtool", "check", "metrics")
	check.Stdin = strings.NewReader(metrics)
	if out, err := check.CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) != 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
	for _, want := range []string{
		fmt.Sprintf("packetrecorder_interface_seen_bytes_per_second{interface=%q,window=\"1m\"} ", lab.HostIf),
		"packetrecorder_store_stored_bytes_per_second{window=\"1h\"} ",
		"packetrecorder_store_budget_bytes 6.7108864e+07",
		"packetrecorder_store_horizon_seconds ",
		"packetrecorder_store_horizon_projected_seconds ",
		"packetrecorder_store_horizon_projected_whole_seconds ",
		"packetrecorder_store_compression_ratio ",
		"packetrecorder_store_cut_ratio 0",
	} {
		if !strings.Contains(metrics, "\n"+want) {
			t.Errorf("metrics lack %q:\n%s", want, grepLines(metrics, "horizon"))
		}
	}
	// A real Prometheus scrapes them: the budget it stores is the
	// daemon's, the projection is there.
	if got := promQuery(t, dir, d.addr, "packetrecorder_store_budget_bytes"); got != "67108864" {
		t.Errorf("Prometheus has a budget of %q bytes, want 67108864", got)
	}
	if got, err := strconv.ParseFloat(promQuery(t, dir, d.addr, "packetrecorder_store_horizon_projected_seconds"), 64); err != nil || got <= 0 {
		t.Errorf("Prometheus has a projection of %v s (%v)", got, err)
	}
	// The UI's overview reads the same horizon.
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	if resp, err := c.PostForm("http://"+d.addr+"/ui/login", url.Values{"token": {testToken}}); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	resp, err := c.Get("http://" + d.addr + "/ui/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`id="h-reach">`, `id="h-projected">`, `id="h-whole">`, `id="h-budget">64.0 MiB (retention.max_bytes)`} {
		if !strings.Contains(string(page), want) {
			t.Errorf("the overview lacks %q", want)
		}
	}
	for _, unknown := range []string{"no packet yet", "not known yet", "not measured yet"} {
		if strings.Contains(string(page), unknown) {
			t.Errorf("the overview says %q of a daemon that measured its horizon", unknown)
		}
	}
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(testToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := mustRun(t, "status", "--server", "http://"+d.addr, "--token-file", tokenFile); !strings.Contains(out, "horizon: the store reaches back ") ||
		!strings.Contains(out, "at that rate the budget holds ") {
		t.Errorf("status:\n%s", out)
	}
	d.stop(t, 2*time.Second)

	// Without compression and with nothing cut, the budget holds as
	// long whole and uncompressed: the blocks are the raw bytes seen.
	st2 := filepath.Join(dir, "store2")
	writeConfig(t, cfg, fmt.Sprintf("store: %s\ncompression: none\nretention:\n  max_bytes: 64MiB\nsegment:\n  max_bytes: 8MiB\nlisten: 127.0.0.1:0\ninterfaces:\n  - name: %s\n    filter: udp dst port 9999\n", st2, lab.HostIf))
	d = startDaemon(t, cfg)
	h, _ = floodHorizon(t, d, lab)
	if h.Compression == nil || math.Abs(*h.Compression-1) > 1e-9 || h.Cut == nil || *h.Cut != 0 || h.Projected == nil || h.Whole == nil ||
		math.Abs(*h.Whole-*h.Projected) > 1e-9**h.Projected {
		t.Errorf("compression: none: compression %v, cut %v, projected %v, whole and uncompressed %v: want 1, 0 and the same",
			deref(h.Compression), deref(h.Cut), deref(h.Projected), deref(h.Whole))
	}
	d.stop(t, 2*time.Second)

	// A cutoff that keeps nothing of a flow past 1 KiB of payload: the
	// one flow's 10,000 datagrams are seen, 11 stored (the one that
	// crosses the line whole), the rest left out.
	st3 := filepath.Join(dir, "store3")
	writeConfig(t, cfg, fmt.Sprintf("store: %s\ncutoff:\n  default: 1KiB\n  keep: none\nretention:\n  max_bytes: 64MiB\nsegment:\n  max_bytes: 8MiB\nlisten: 127.0.0.1:0\ninterfaces:\n  - name: %s\n    filter: udp dst port 9999\n", st3, lab.HostIf))
	d = startDaemon(t, cfg)
	h, kept := floodHorizon(t, d, lab)
	long = h.Rates[1]
	t.Logf("cutoff: %d packets stored; seen %.0f B/s, stored %.0f B/s; cut %.4f, projected %.0f s, whole %.0f s",
		kept, long.Seen, long.Stored, deref(h.Cut), deref(h.Projected), deref(h.Whole))
	if kept != 11 {
		t.Errorf("%d packets stored, want 11 (1 KiB of 100-byte payloads, and the one that crosses the line)", kept)
	}
	// 11 of 10,000 packets' bytes kept. The new segment's own pages
	// (some 640 KiB of 64 KiB pages) dwarf those 11 packets, yet whole the
	// 1.4 MB seen would at least double what the files take.
	if h.Cut == nil || math.Abs(*h.Cut-(1-11.0/10_000)) > 1e-9 || h.Whole == nil || h.Projected == nil || *h.Whole*2 > *h.Projected {
		t.Errorf("cut %v, want %v; whole and uncompressed %v, projected %v", deref(h.Cut), 1-11.0/10_000, deref(h.Whole), deref(h.Projected))
	}
	d.stop(t, 2*time.Second)
}

// floodHorizon sends 10,000 datagrams of 100 bytes (142-byte frames) to
// the daemon's interface and waits until its horizon has sampled them
// all: the seen bytes of the 1m window reach the packets the kernel gave
// the daemon (received less drops: stored, or left out by a cutoff)
// times 142. It gives the horizon then and the packets stored.
func floodHorizon(t *testing.T, d *daemonProc, lab *netlab.Lab) (horizonOf, int64) {
	t.Helper()
	sent := flood(t, lab, 9999, 5_000, 2*time.Second)
	const frame = 14 + 20 + 8 + 100
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, body := d.get(t, "/api/v1/status")
		var s struct {
			Interfaces []struct {
				Packets, Received int64
				Drops             struct{ Kernel, App int64 }
			} `json:"interfaces"`
			Horizon horizonOf `json:"horizon"`
		}
		if err := json.Unmarshal([]byte(body), &s); err != nil {
			t.Fatal(err)
		}
		it := s.Interfaces[0]
		h, seen := s.Horizon, it.Received-it.Drops.Kernel-it.Drops.App
		if len(h.Rates) == 2 && h.Rates[0].Span > 0 && math.Round(h.Rates[0].Seen*h.Rates[0].Span) == float64(seen*frame) && seen >= int64(sent) {
			return h, it.Packets
		}
		if time.Now().After(deadline) {
			t.Fatalf("the horizon never counted the %d packets seen (%d sent, %d stored) of %d bytes: %+v", seen, sent, it.Packets, frame, h)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func deref(f *float64) float64 {
	if f == nil {
		return math.NaN()
	}
	return *f
}

// promQuery starts Prometheus (once per test directory) scraping the
// daemon at addr every second, and gives the value of query once it has
// one.
func promQuery(t *testing.T, dir, addr, query string) string {
	t.Helper()
	testkit.RequireTool(t, "prometheus")
	promAddr := promServers[dir]
	if promAddr == "" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		promAddr = ln.Addr().String()
		ln.Close()
		pcfg := filepath.Join(dir, "prometheus.yml")
		writeConfig(t, pcfg, fmt.Sprintf("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: packetrecorder\n    authorization:\n      credentials: %s\n    static_configs:\n      - targets: ['%s']\n", testToken, addr))
		prom := exec.Command("prometheus", "--config.file="+pcfg, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"), "--web.listen-address="+promAddr)
		if err := prom.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { prom.Process.Kill(); prom.Wait() })
		promServers[dir] = promAddr
	}
	q := fmt.Sprintf("http://%s/api/v1/query?query=%s", promAddr, url.QueryEscape(query))
	deadline := time.Now().Add(30 * time.Second)
	for {
		if resp, err := http.Get(q); err == nil {
			var r struct {
				Data struct {
					Result []struct {
						Value []any `json:"value"`
					} `json:"result"`
				} `json:"data"`
			}
			json.NewDecoder(resp.Body).Decode(&r)
			resp.Body.Close()
			if len(r.Data.Result) == 1 && len(r.Data.Result[0].Value) == 2 {
				return fmt.Sprint(r.Data.Result[0].Value[1])
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus never had %s", query)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// promServers are the Prometheus servers promQuery started, by test
// directory.
var promServers = map[string]string{}
