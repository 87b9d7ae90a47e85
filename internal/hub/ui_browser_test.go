package hub

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5"

	"github.com/packetrecorderd/packetrecorderd/internal/api"
	"github.com/packetrecorderd/packetrecorderd/internal/fleet"
	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// TestBrowserHubUI: the web UI the hub serves, in Chromium, over two
// sensors running the real API (a and b, each its own traffic) and a
// third registered one that refuses connections (gone), with their
// segment summaries and flow records in a real PostgreSQL. The packets
// page shows every packet of a and b (as many as tcpdump reads of their
// captures), each on its SENSOR/IFACE interface; the flows page lists
// the flow records with their sensor; both say in a banner that gone did
// not answer. The holds page says a hub keeps none.
func TestBrowserHubUI(t *testing.T) {
	testkit.RequireTool(t, "chromium")
	testkit.RequireTool(t, "tcpdump")
	dir := t.TempDir()
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	type sensor struct {
		name   string
		net    byte
		n      int
		url    string
		expect int // tcpdump's count of its capture
	}
	sensors := []*sensor{{name: "a", net: 1, n: 7}, {name: "b", net: 2, n: 5}}
	for _, s := range sensors {
		var pkts []testPacket
		for i := range s.n {
			src := netip.AddrFrom4([4]byte{10, s.net, 0, 1})
			dst := netip.AddrFrom4([4]byte{10, s.net, 0, 2})
			pkts = append(pkts, testPacket{ts: t0.Add(time.Duration(i)*time.Second + time.Duration(s.net)*time.Millisecond).UnixNano(),
				data: synthPacket(src, dst, 17, 5000, 53)})
		}
		path := filepath.Join(dir, s.name+".pcapng")
		writeCapture(t, path, pkts)
		out, err := exec.Command("tcpdump", "-r", path, "-nn").Output()
		if err != nil {
			t.Fatal(err)
		}
		s.expect = strings.Count(string(out), "\n")
		srv := httptest.NewServer(api.New(api.Options{Selector: fileSelector{path}}, testAccess()))
		t.Cleanup(srv.Close)
		s.url = srv.URL
	}
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()

	pg := testkit.StartPostgresCluster(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := fleet.ApplySchema(ctx, conn); err != nil {
		t.Fatal(err)
	}
	if err := fleet.EnsurePartition(ctx, conn, t0); err != nil {
		t.Fatal(err)
	}
	exec1 := func(sql string, args ...any) {
		t.Helper()
		if _, err := conn.Exec(ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
	}
	caughtUp := time.Now().Add(time.Hour).UnixNano()
	for _, s := range sensors {
		exec1(`INSERT INTO prd_sensors (sensor, url, interfaces, flows_through_ns) VALUES ($1, $2, '{eth0}', $3)`, s.name, s.url, caughtUp)
		exec1(`INSERT INTO prd_segments (sensor, interface, segment, first_ns, last_ns, packets, bytes, closed) VALUES ($1, 'eth0', 'x', $2, $3, $4, 1000, true)`,
			s.name, t0.UnixNano(), t0.Add(10*time.Second).UnixNano(), s.n)
		exec1(`INSERT INTO prd_flows (sensor, interface, day, first_ns, last_ns, community_id, proto, src, sport, dst, dport,
			packets_fwd, packets_rev, bytes_fwd, bytes_rev, stored_packets, stored_bytes, tcp_flags, cut, ended)
			VALUES ($1, 'eth0', $2, $3, $4, $5, 17, $6, 5000, $7, 53, $8, 0, $9, 0, $8, $9, 0, false, true)`,
			s.name, t0, t0.UnixNano(), t0.Add(time.Duration(s.n-1)*time.Second).UnixNano(), "1:"+s.name,
			fmt.Sprintf("10.%d.0.1", s.net), fmt.Sprintf("10.%d.0.2", s.net), s.n, 42*s.n)
	}
	exec1(`INSERT INTO prd_sensors (sensor, url, interfaces) VALUES ('gone', $1, '{eth0}')`, gone.URL)

	_, hub := startTestHub(t, pg.DSN)
	bctx := hubBrowser(t)
	do := func(steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, steps...); err != nil {
			t.Fatal(err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("%s: %v", sel, err)
		}
		return v
	}
	do(chromedp.Navigate(hub.URL+"/ui/flows"), chromedp.WaitVisible(chromedp.ID("token")))
	do(chromedp.SendKeys(chromedp.ID("token"), testSecret), chromedp.Submit(chromedp.ID("token")))
	waitPage(t, bctx, "/ui/flows")

	window := url.Values{"since": {t0.Add(-time.Minute).Format(time.RFC3339)}, "until": {t0.Add(time.Minute).Format(time.RFC3339)}}
	do(chromedp.Navigate(hub.URL+"/ui/packets?"+window.Encode()), chromedp.WaitVisible(chromedp.ID("missing")))
	banner := text("#missing")
	if !strings.Contains(banner, "Partial answer") || !strings.Contains(banner, "sensor gone:") || strings.Contains(banner, "sensor a:") || strings.Contains(banner, "sensor b:") {
		t.Errorf("packets page banner %q: want gone named, a and b not", banner)
	}
	ifaces, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("table.packets tbody tr td:nth-child(3)")).map(td => td.textContent)`))
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, i := range ifaces {
		count[i]++
	}
	if count["a/eth0"] != sensors[0].expect || count["b/eth0"] != sensors[1].expect || len(count) != 2 {
		t.Errorf("packets page rows by interface %v: want a/eth0 %d and b/eth0 %d (tcpdump's counts)", count, sensors[0].expect, sensors[1].expect)
	}

	do(chromedp.Navigate(hub.URL+"/ui/flows?"+window.Encode()), chromedp.WaitVisible(chromedp.CSS("table.flows")))
	flows := text("table.flows")
	if !strings.Contains(flows, "a/eth0") || !strings.Contains(flows, "b/eth0") || !strings.Contains(flows, "10.1.0.1:5000") || !strings.Contains(flows, "10.2.0.1:5000") {
		t.Errorf("flows page: want a's and b's flow records with their sensor:\n%s", flows)
	}
	if banner := text("#missing"); !strings.Contains(banner, "sensor gone:") || !strings.Contains(banner, "not known to be shipped") {
		t.Errorf("flows page banner %q: want gone named (its records not known shipped)", banner)
	}

	do(chromedp.Navigate(hub.URL+"/ui/holds"), chromedp.WaitVisible(chromedp.CSS("main")))
	if body := text("main"); !strings.Contains(body, "a hub keeps no holds") {
		t.Errorf("holds page at the hub:\n%s", body)
	}
	do(chromedp.Navigate(hub.URL+"/ui/"), chromedp.WaitVisible(chromedp.ID("timeline")))
}

// hubBrowser starts headless Chromium for the test.
func hubBrowser(t *testing.T) context.Context {
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath("chromium"), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.NoFirstRun, chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1440, 900),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	actx, cancel2 := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancel2)
	bctx, cancel3 := chromedp.NewContext(actx)
	t.Cleanup(cancel3)
	return bctx
}

// waitPage waits until the page's address holds part and it has loaded.
func waitPage(t *testing.T, ctx context.Context, part string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		loc, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.readyState == "complete" ? location.href : ""`))
		if err == nil && strings.Contains(loc, part) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the page never reached an address with %q", part)
}
