package ui

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/packetrecorderd/packetrecorderd/internal/api"
	"github.com/packetrecorderd/packetrecorderd/internal/archive"
	"github.com/packetrecorderd/packetrecorderd/internal/pcapio"
	"github.com/packetrecorderd/packetrecorderd/internal/selection"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// t0 is the first packet's time in the test store.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type testPacket struct {
	ts   time.Time
	data []byte
}

// frame builds an Ethernet/IPv4 frame around a TCP or UDP header.
func frame(src, dst [4]byte, proto byte, l4 []byte) []byte {
	b := make([]byte, 14+20)
	copy(b[0:6], []byte{2, 0, 0, 0, 0, 2})
	copy(b[6:12], []byte{2, 0, 0, 0, 0, 1})
	b[12], b[13] = 0x08, 0x00
	ip := b[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(l4)))
	ip[8], ip[9] = 64, proto
	copy(ip[12:16], src[:])
	copy(ip[16:20], dst[:])
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
	return append(b, l4...)
}

func tcpSeg(sport, dport uint16, seq, ack uint32, flags byte, payload string) []byte {
	h := make([]byte, 20)
	binary.BigEndian.PutUint16(h[0:], sport)
	binary.BigEndian.PutUint16(h[2:], dport)
	binary.BigEndian.PutUint32(h[4:], seq)
	binary.BigEndian.PutUint32(h[8:], ack)
	h[12] = 5 << 4
	h[13] = flags
	binary.BigEndian.PutUint16(h[14:], 65535)
	return append(h, payload...)
}

func udpDgram(sport, dport uint16, payload string) []byte {
	h := make([]byte, 8)
	binary.BigEndian.PutUint16(h[0:], sport)
	binary.BigEndian.PutUint16(h[2:], dport)
	binary.BigEndian.PutUint16(h[4:], uint16(8+len(payload)))
	return append(h, payload...)
}

// testTraffic is a TCP connection whose payload holds script tags, sent
// with a segment out of order, a retransmission and an overlap, amid UDP
// traffic over ten minutes.
func testTraffic() []testPacket {
	cli, srv := [4]byte{10, 0, 0, 1}, [4]byte{10, 0, 0, 2}
	const (
		syn = 0x02
		ack = 0x10
		psh = 0x08
		fin = 0x01
	)
	req1, req2 := "GET /<script>alert(1)</script> HTTP/1.1\r\n", "Host: victim\r\n\r\n"
	resp := "HTTP/1.1 200 OK\r\nContent-Length: 29\r\n\r\n<script>alert('x')</script>\n"
	c := func(seq, ack_ uint32, f byte, p string) []byte {
		return frame(cli, srv, 6, tcpSeg(40000, 80, seq, ack_, f, p))
	}
	s := func(seq, ack_ uint32, f byte, p string) []byte {
		return frame(srv, cli, 6, tcpSeg(80, 40000, seq, ack_, f, p))
	}
	cs, ss := uint32(1000), uint32(5000)
	r1, r2 := uint32(len(req1)), uint32(len(req2))
	conn := [][]byte{
		c(cs, 0, syn, ""),
		s(ss, cs+1, syn|ack, ""),
		c(cs+1, ss+1, ack, ""),
		c(cs+1+r1, ss+1, psh|ack, req2), // the second part first
		c(cs+1, ss+1, psh|ack, req1),
		c(cs+1, ss+1, psh|ack, req1),                      // retransmitted
		c(cs+1+r1-4, ss+1, psh|ack, req1[r1-4:]+req2[:6]), // overlap
		s(ss+1, cs+1+r1+r2, psh|ack, resp[:20]),
		s(ss+21, cs+1+r1+r2, psh|ack, resp[20:]),
		s(ss+1+uint32(len(resp)), cs+1+r1+r2, fin|ack, ""),
		c(cs+1+r1+r2, ss+2+uint32(len(resp)), fin|ack, ""),
		s(ss+2+uint32(len(resp)), cs+2+r1+r2, ack, ""),
	}
	var out []testPacket
	for i := 0; i < 60; i++ {
		out = append(out, testPacket{t0.Add(time.Duration(i) * 10 * time.Second),
			frame([4]byte{10, 0, 0, 3}, [4]byte{10, 0, 0, 4}, 17, udpDgram(5353, 53, "noise"))})
	}
	for i, d := range conn {
		out = append(out, testPacket{t0.Add(5*time.Minute + time.Duration(i)*time.Millisecond + 500*time.Microsecond), d})
	}
	// In time order, as a capture has them.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].ts.Before(out[j-1].ts); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// writeFixtures writes the traffic as a pcap (for tshark and tcpdump) and
// records it into a store of several segments.
func writeFixtures(t *testing.T) (pcapPath, storeDir string) {
	dir := t.TempDir()
	pkts := testTraffic()
	pcapPath = filepath.Join(dir, "trace.pcap")
	f, err := os.Create(pcapPath)
	if err != nil {
		t.Fatal(err)
	}
	pw, err := pcapio.NewPcapWriter(f, 1, 65535, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pkts {
		if err := pw.WritePacket(pcapio.Packet{Timestamp: p.ts.UnixNano(), OrigLen: len(p.data), LinkType: 1, Data: p.data}); err != nil {
			t.Fatal(err)
		}
	}
	if err := pw.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	storeDir = filepath.Join(dir, "store")
	a, err := archive.Open(storeDir, archive.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	rec, err := archive.NewRecording(storeDir, archive.RecordingConfig{Interface: "eth0", LinkType: 1, Snaplen: 65535, MaxBytes: 8 << 10})
	if err != nil {
		t.Fatal(err)
	}
	var b store.Block
	for i := 0; i < len(pkts); i += 8 {
		b.Reset(1)
		for _, p := range pkts[i:min(i+8, len(pkts))] {
			b.Append(p.ts.UnixNano(), len(p.data), p.data)
		}
		if err := rec.Append(&b); err != nil {
			t.Fatal(err)
		}
		if err := rec.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	return pcapPath, storeDir
}

type uiFixture struct {
	url     string
	store   string
	pcap    string
	api     *api.Server
	access  api.Access
	screens string
	logs    *testkit.SyncBuffer
}

const (
	adminSecret  = "admin-secret-0123456789"
	readerSecret = "reader-secret-0123456789"
	udpSecret    = "udp-only-secret-0123456789"
)

func newUIFixture(t *testing.T) *uiFixture {
	pcapPath, dir := writeFixtures(t)
	access := api.Access{Tokens: []api.Token{
		{Name: "analyst", SHA256: api.TokenSum(adminSecret), Scopes: []string{api.ScopeRead, api.ScopeAdmin}},
		{Name: "reader", SHA256: api.TokenSum(readerSecret), Scopes: []string{api.ScopeRead}},
		{Name: "udponly", SHA256: api.TokenSum(udpSecret), Scopes: []string{api.ScopeRead}, Filter: "udp"},
	}}
	logs := &testkit.SyncBuffer{}
	srv := api.New(api.Options{Selector: selection.Store{Dir: dir}, Holds: api.StoreHolds(dir), Version: "test",
		Log: slog.New(slog.NewTextHandler(logs, nil))}, access)
	u, err := New(Options{API: srv, Store: dir, Log: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(Mount(u, srv))
	t.Cleanup(ts.Close)
	fx := &uiFixture{url: ts.URL, store: dir, pcap: pcapPath, api: srv, access: access, logs: logs}
	if d := os.Getenv("PRD_UI_SCREENSHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		fx.screens = d
		t.Logf("screenshots in %s", d)
	}
	return fx
}

// client logs in with a token outside the browser and keeps the cookie.
func (fx *uiFixture) client(t testing.TB, secret string) *http.Client {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if secret == "" {
		return c
	}
	resp, err := c.PostForm(fx.url+"/ui/login", url.Values{"token": {secret}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %s", resp.Status)
	}
	return c
}

func get(t testing.TB, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func (fx *uiFixture) holds(t *testing.T) []archive.Hold {
	a, err := archive.Open(fx.store, archive.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	h, err := a.Holds()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// browser starts headless Chromium for the test.
func browser(t *testing.T) context.Context {
	testkit.RequireTool(t, "chromium")
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

// do runs browser steps; a failure ends the test.
func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

// run runs one browser action and gives its value.
func run[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// waitURL waits until the page's address holds part, and the page has
// loaded.
func waitURL(t *testing.T, ctx context.Context, part string) {
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

func (fx *uiFixture) shot(t *testing.T, ctx context.Context, name string) {
	if fx.screens == "" {
		return
	}
	png := run(t, ctx, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(fx.screens, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// tsharkFollow is tshark's raw transcript of TCP stream n: chunks of one
// direction each (0: the first node), adjacent ones of a direction joined.
func tsharkFollow(t *testing.T, pcap string, n int) []Chunk {
	out, err := exec.Command("tshark", "-r", pcap, "-q", "-z", "follow,tcp,raw,"+strconv.Itoa(n)).Output()
	if err != nil {
		t.Fatal(err)
	}
	var chunks []Chunk
	in := false
	for _, line := range strings.Split(string(out), "\n") {
		switch {
		case strings.HasPrefix(line, "Node 1:"):
			in = true
			continue
		case strings.HasPrefix(line, "====="):
			in = false
		}
		if !in || strings.TrimSpace(line) == "" {
			continue
		}
		dir := 0
		if strings.HasPrefix(line, "\t") {
			dir = 1
		}
		b, err := hex.DecodeString(strings.TrimSpace(line))
		if err != nil {
			t.Fatalf("tshark line %q: %v", line, err)
		}
		if n := len(chunks); n > 0 && chunks[n-1].Dir == dir {
			chunks[n-1].Data = append(chunks[n-1].Data, b...)
		} else {
			chunks = append(chunks, Chunk{Dir: dir, Data: b})
		}
	}
	return chunks
}

func TestBrowserUI(t *testing.T) {
	testkit.RequireTool(t, "tshark")
	testkit.RequireTool(t, "tcpdump")
	fx := newUIFixture(t)
	ctx := browser(t)

	// No session: the login page, and nothing else.
	do(t, ctx, chromedp.Navigate(fx.url+"/ui/flows?filter=tcp"), chromedp.WaitVisible(chromedp.ID("token")))
	title, loc := run(t, ctx, chromedp.Title()), run(t, ctx, chromedp.Location())
	if !strings.Contains(loc, "/ui/login") || !strings.HasPrefix(title, "Log in") {
		t.Fatalf("without a session: at %s (%q), want the login page", loc, title)
	}
	fx.shot(t, ctx, "01-login")

	// Log in: back to the page asked for.
	do(t, ctx, chromedp.SendKeys(chromedp.ID("token"), adminSecret), chromedp.Submit(chromedp.ID("token")))
	waitURL(t, ctx, "/ui/flows")
	if loc := run(t, ctx, chromedp.Location()); !strings.Contains(loc, "/ui/flows?filter=tcp") {
		t.Errorf("after login at %s, want the flows page asked for", loc)
	}

	// The overview: the store and its timeline.
	do(t, ctx, chromedp.Navigate(fx.url+"/ui/"), chromedp.WaitVisible(chromedp.ID("timeline")))
	facts := run(t, ctx, chromedp.Text(chromedp.CSS("main")))
	if bars := run(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("#timeline rect.pk").length`)); bars != timelineBuckets {
		t.Errorf("timeline has %d bars, want %d", bars, timelineBuckets)
	}
	if !strings.Contains(facts, "2026-03-01 12:00:00 UTC") || !strings.Contains(facts, "9.8 minutes") {
		t.Errorf("overview does not say the oldest packet (2026-03-01 12:00:00 UTC) and the history (9.8 minutes):\n%s", facts)
	}
	fx.shot(t, ctx, "02-overview")

	// Brush the timeline across the TCP connection (5 min into 9 min 50 s).
	box := run(t, ctx, chromedp.Evaluate[[]float64](`(function(){var r=document.getElementById("timeline").getBoundingClientRect();return [r.left,r.top,r.width,r.height]})()`))
	x1, x2, y := box[0]+box[2]*0.45, box[0]+box[2]*0.58, box[1]+box[3]*0.3
	do(t, ctx, chromedp.DragAndDropXY(x1, y, x2, y, 8))
	since := run(t, ctx, chromedp.Value(chromedp.ID("win-since")))
	until := run(t, ctx, chromedp.Value(chromedp.ID("win-until")))
	fx.shot(t, ctx, "03-brushed")
	s, err1 := time.Parse(time.RFC3339, since)
	u, err2 := time.Parse(time.RFC3339, until)
	conn := t0.Add(5 * time.Minute)
	if err1 != nil || err2 != nil || !s.Before(conn) || !u.After(conn.Add(time.Second)) || u.Sub(s) > 2*time.Minute {
		t.Fatalf("brushed window %q to %q: want about 4:25 to 5:42 after %s, around the connection", since, until, t0)
	}
	do(t, ctx, chromedp.Click(chromedp.CSS(`#window-form button[type=submit]`)))
	waitURL(t, ctx, "/ui/flows?")
	flowsText := run(t, ctx, chromedp.Text(chromedp.CSS("table.flows")))
	if !strings.Contains(flowsText, "10.0.0.1:40000") || strings.Count(flowsText, "10.0.0.3:5353") != 1 {
		t.Errorf("the brushed window's flows: want the TCP connection and one UDP flow:\n%s", flowsText)
	}
	fx.shot(t, ctx, "04-flows")

	// A filter with a mistake: the CLI's message, with its column.
	do(t, ctx, chromedp.Navigate(fx.url+"/ui/flows?filter="+url.QueryEscape("tcp port")), chromedp.WaitVisible(chromedp.ID("form-error")))
	// The CLI says: packetrecorder: filter: syntax error at column 9 (unexpected end of expression)
	if ferr := run(t, ctx, chromedp.Text(chromedp.ID("form-error"))); ferr != "filter: syntax error at column 9 (unexpected end of expression)" {
		t.Errorf("filter error shown as %q", ferr)
	}
	fx.shot(t, ctx, "05-filter-error")

	// Search a filter; open the flow.
	do(t, ctx, chromedp.Navigate(fx.url+"/ui/flows"), chromedp.WaitVisible(chromedp.ID("filter")),
		chromedp.SendKeys(chromedp.ID("filter"), "tcp port 80"), chromedp.Submit(chromedp.ID("filter")))
	waitURL(t, ctx, "filter=tcp+port+80")
	flowsText = run(t, ctx, chromedp.Text(chromedp.CSS("table.flows")))
	if !strings.Contains(flowsText, "10.0.0.1:40000") || strings.Contains(flowsText, "5353") {
		t.Errorf("flows of tcp port 80:\n%s", flowsText)
	}
	type chunkJS struct {
		Client bool   `json:"client"`
		Hex    string `json:"hex"`
	}
	do(t, ctx, chromedp.Click(chromedp.CSS("table.flows tbody a")))
	waitURL(t, ctx, "/ui/flow?")
	chunks := run(t, ctx, chromedp.Evaluate[[]chunkJS](`Array.from(document.querySelectorAll("#transcript pre.chunk")).map(e => ({client: e.classList.contains("client"), hex: e.dataset.hex}))`))
	scripts := run(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("script").length`))
	transcript := run(t, ctx, chromedp.Text(chromedp.ID("transcript")))
	fx.shot(t, ctx, "06-flow")
	want := tsharkFollow(t, fx.pcap, 0)
	if len(chunks) != len(want) || len(want) == 0 {
		t.Fatalf("transcript has %d chunks, tshark's follow %d", len(chunks), len(want))
	}
	for i, w := range want {
		if chunks[i].Client != (w.Dir == 0) || chunks[i].Hex != hex.EncodeToString(w.Data) {
			t.Errorf("transcript chunk %d: client %v %s, tshark: node %d %x", i, chunks[i].Client, chunks[i].Hex, w.Dir, w.Data)
		}
	}
	// Attacker's bytes are text: the page runs only our script.
	if scripts != 1 || !strings.Contains(transcript, "<script>alert(1)</script>") {
		t.Errorf("a payload's <script> must show as text and not run: %d script elements; transcript %q", scripts, transcript)
	}
	do(t, ctx, chromedp.Click(chromedp.CSS(`a[href*="view=hex"]`)))
	waitURL(t, ctx, "view=hex")
	if transcript := run(t, ctx, chromedp.Text(chromedp.ID("transcript"))); !strings.Contains(transcript, "00000000  47 45 54 20 2f 3c") { // "GET /<"
		t.Errorf("hex view of the transcript: %q", transcript)
	}
	fx.shot(t, ctx, "07-flow-hex")

	// Download the flow's pcap: tcpdump reads the same packets as from the
	// capture with the same filter.
	href := run(t, ctx, chromedp.AttributeValue(chromedp.CSS(`a[href^="/ui/download"]`), "href")).Value
	c := fx.client(t, adminSecret)
	resp, body := get(t, c, fx.url+href)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != api.TypePcap {
		t.Fatalf("download %s: %s %s", href, resp.Status, body)
	}
	got := filepath.Join(t.TempDir(), "got.pcap")
	os.WriteFile(got, []byte(body), 0o600)
	hu, _ := url.Parse(href)
	gotPkts, _, err := testkit.TcpdumpPackets(got, "")
	if err != nil {
		t.Fatal(err)
	}
	wantPkts, _, err := testkit.TcpdumpPackets(fx.pcap, hu.Query().Get("filter"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(gotPkts, "\n") != strings.Join(wantPkts, "\n") || len(wantPkts) != 12 {
		t.Errorf("downloaded %d packets, tcpdump -r of the capture with %q: %d\n%s\n---\n%s", len(gotPkts), hu.Query().Get("filter"), len(wantPkts),
			strings.Join(gotPkts, "\n"), strings.Join(wantPkts, "\n"))
	}

	// Packets: tcpdump's lines, paged by the server.
	do(t, ctx, chromedp.Navigate(fx.url+"/ui/packets?filter=udp"), chromedp.WaitVisible(chromedp.CSS("table.packets")))
	if rows := run(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("table.packets tbody tr").length`)); rows != 60 {
		t.Errorf("packets page lists %d udp packets, want 60", rows)
	}
	fx.shot(t, ctx, "08-packets")
	// Its size before the download: 60 frames of 47 bytes.
	do(t, ctx, chromedp.Click(chromedp.ID("size-link")))
	waitURL(t, ctx, "/ui/size?")
	if size := run(t, ctx, chromedp.Text(chromedp.ID("size"))); !strings.Contains(size, "60 packets, 2.8 KiB") {
		t.Errorf("size of udp: %q, want 60 packets, 2.8 KiB (60 x 47 bytes)", size)
	}
	fx.shot(t, ctx, "08b-size")

	// Hold the window on screen, then release it.
	do(t, ctx, chromedp.Navigate(fx.url+"/ui/holds?since="+url.QueryEscape(since)+"&until="+url.QueryEscape(until)),
		chromedp.WaitVisible(chromedp.ID("hold-form")),
		chromedp.SendKeys(chromedp.CSS(`#hold-form input[name=reason]`), "case <b>42</b>"),
		chromedp.Submit(chromedp.CSS(`#hold-form input[name=reason]`)))
	waitURL(t, ctx, "added=")
	fx.shot(t, ctx, "09-holds")
	hs := fx.holds(t)
	if len(hs) != 1 || hs[0].Since != s.UnixNano() || hs[0].Until != u.UnixNano() || !strings.HasPrefix(hs[0].Reason, "case <b>42</b>") {
		t.Fatalf("holds after adding: %+v", hs)
	}
	if bolds := run(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("td.reason b").length`)); bolds != 0 {
		t.Errorf("a hold's reason was rendered as HTML")
	}
	do(t, ctx, chromedp.Click(chromedp.CSS(`table.holds button.danger`)))
	waitURL(t, ctx, "/ui/holds")
	do(t, ctx, chromedp.WaitNotPresent(chromedp.CSS("table.holds")))
	if hs := fx.holds(t); len(hs) != 0 {
		t.Fatalf("holds after releasing: %+v", hs)
	}
}

func TestBrowserCrossSitePost(t *testing.T) {
	fx := newUIFixture(t)
	ctx := browser(t)
	// A page of another origin posts a hold with the analyst's cookie.
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, `<form id=f method=post action="`+fx.url+`/ui/holds"><input name=since value="2026-03-01T12:00:00Z"><input name=until value="2026-03-01T12:10:00Z"><input name=reason value=evil><input name=csrf value=guess></form><script>document.getElementById("f").submit()</script>`)
	}))
	defer evil.Close()
	do(t, ctx, chromedp.Navigate(fx.url+"/ui/login"), chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), adminSecret), chromedp.Submit(chromedp.ID("token")),
		chromedp.WaitVisible(chromedp.ID("timeline")),
		chromedp.Navigate(evil.URL), chromedp.Sleep(time.Second))
	fx.shot(t, ctx, "10-cross-site")
	if hs := fx.holds(t); len(hs) != 0 {
		t.Fatalf("a cross-site post added a hold: %+v", hs)
	}
	// The same post from our own page (the session's CSRF token) works:
	// the refusal above was the check's, not a broken form.
	do(t, ctx, chromedp.Navigate(fx.url+"/ui/holds?since=2026-03-01T12:00:00Z&until=2026-03-01T12:10:00Z"),
		chromedp.WaitVisible(chromedp.ID("hold-form")), chromedp.SendKeys(chromedp.CSS(`#hold-form input[name=reason]`), "ours"),
		chromedp.Submit(chromedp.CSS(`#hold-form input[name=reason]`)), chromedp.WaitVisible(chromedp.CSS("table.holds")))
	if hs := fx.holds(t); len(hs) != 1 {
		t.Fatalf("our own post: holds %+v", hs)
	}
}

func TestUISecurity(t *testing.T) {
	fx := newUIFixture(t)
	anon := fx.client(t, "")
	// Without a session: only the login page and its CSS.
	for _, p := range []string{"/ui/", "/ui/flows", "/ui/packets?filter=tcp", "/ui/flow?community_id=1:x", "/ui/download", "/ui/size?filter=udp", "/ui/holds", "/ui/assets/ui.js", "/ui/nothing"} {
		resp, _ := get(t, anon, fx.url+p)
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/ui/login") {
			t.Errorf("GET %s without a session: %s to %q, want 303 to the login page", p, resp.Status, resp.Header.Get("Location"))
		}
	}
	resp, body := get(t, anon, fx.url+"/ui/login")
	csp := resp.Header.Get("Content-Security-Policy")
	if resp.StatusCode != 200 || !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
		t.Errorf("login page: %s, CSP %q", resp.Status, csp)
	}
	if strings.Contains(body, "<script>") || strings.Contains(body, "style=") {
		t.Errorf("inline script or style on the login page")
	}
	if resp, _ := get(t, anon, fx.url+"/ui/assets/ui.css"); resp.StatusCode != 200 {
		t.Errorf("login CSS: %s", resp.Status)
	}
	if resp, _ := get(t, anon, fx.url+"/"); resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/ui/" {
		t.Errorf("GET /: %s to %q", resp.Status, resp.Header.Get("Location"))
	}
	// A wrong token gets no cookie.
	r2, err := anon.PostForm(fx.url+"/ui/login", url.Values{"token": {"wrong"}})
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != http.StatusUnauthorized || len(r2.Cookies()) != 0 {
		t.Errorf("login with a wrong token: %s, cookies %v", r2.Status, r2.Cookies())
	}

	// The session cookie: HttpOnly, SameSite=Strict.
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	r3, err := c.PostForm(fx.url+"/ui/login", url.Values{"token": {adminSecret}})
	if err != nil {
		t.Fatal(err)
	}
	r3.Body.Close()
	if sc := r3.Header.Get("Set-Cookie"); !strings.Contains(sc, "HttpOnly") || !strings.Contains(sc, "SameSite=Strict") || !strings.Contains(sc, "Max-Age=") {
		t.Errorf("session cookie %q", sc)
	}
	// A post without the session's CSRF token is refused.
	r4, err := c.PostForm(fx.url+"/ui/holds", url.Values{"since": {"2026-03-01T12:00:00Z"}, "until": {"2026-03-01T12:01:00Z"}, "reason": {"x"}})
	if err != nil {
		t.Fatal(err)
	}
	r4.Body.Close()
	if r4.StatusCode != http.StatusForbidden || len(fx.holds(t)) != 0 {
		t.Errorf("post without CSRF token: %s, holds %v", r4.Status, fx.holds(t))
	}

	// A read token reads holds but may not add or release them.
	reader := fx.client(t, readerSecret)
	_, page := get(t, reader, fx.url+"/ui/holds")
	csrf := between(page, `name="csrf" value="`, `"`)
	if csrf == "" {
		t.Fatal("no CSRF token on the holds page")
	}
	r5, err := reader.PostForm(fx.url+"/ui/holds", url.Values{"csrf": {csrf}, "since": {"2026-03-01T12:00:00Z"}, "until": {"2026-03-01T12:01:00Z"}, "reason": {"x"}})
	if err != nil {
		t.Fatal(err)
	}
	r5.Body.Close()
	if r5.StatusCode != http.StatusForbidden || len(fx.holds(t)) != 0 {
		t.Errorf("a read token adding a hold: %s, holds %v", r5.Status, fx.holds(t))
	}
	a, err := archive.Open(fx.store, archive.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h, err := a.AddHold(t0.UnixNano(), t0.Add(time.Minute).UnixNano(), "kept")
	a.Close()
	if err != nil {
		t.Fatal(err)
	}
	r6, err := reader.PostForm(fx.url+"/ui/holds/"+strconv.FormatInt(h.ID, 10)+"/release", url.Values{"csrf": {csrf}})
	if err != nil {
		t.Fatal(err)
	}
	r6.Body.Close()
	if r6.StatusCode != http.StatusForbidden || len(fx.holds(t)) != 1 {
		t.Errorf("a read token releasing a hold: %s, holds %v", r6.Status, fx.holds(t))
	}

	// A token's forced filter holds in the UI: udp only.
	udp := fx.client(t, udpSecret)
	_, page = get(t, udp, fx.url+"/ui/flows")
	if strings.Contains(page, "10.0.0.1:40000") || !strings.Contains(page, "10.0.0.3:5353") {
		t.Errorf("a udp-only token's flows page shows the TCP connection, or not the UDP flow")
	}
	resp, body = get(t, udp, fx.url+"/ui/download?filter=tcp")
	if n, _, _ := pcapCount(body); resp.StatusCode != 200 || n != 0 {
		t.Errorf("a udp-only token downloads %d tcp packets (%s)", n, resp.Status)
	}
	if !strings.Contains(fx.logs.String(), "who=\"token udponly\"") || !strings.Contains(fx.logs.String(), "page=flows") {
		t.Errorf("no audit line for the udp token's flows page:\n%s", fx.logs.String())
	}

	// Removing a token ends its sessions.
	acc := fx.access
	acc.Tokens = acc.Tokens[1:]
	fx.api.SetAccess(acc)
	if resp, _ := get(t, c, fx.url+"/ui/"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("a removed token's session still serves: %s", resp.Status)
	}
}

func between(s, a, b string) string {
	i := strings.Index(s, a)
	if i < 0 {
		return ""
	}
	s = s[i+len(a):]
	j := strings.Index(s, b)
	if j < 0 {
		return ""
	}
	return s[:j]
}

// pcapCount counts a pcap's packets.
func pcapCount(body string) (int, bool, error) {
	r, err := pcapio.NewReader(bytes.NewReader([]byte(body)))
	if err != nil {
		return 0, false, err
	}
	n := 0
	for {
		_, err := r.Next()
		if err == io.EOF {
			return n, true, nil
		}
		if err != nil {
			return n, false, err
		}
		n++
	}
}

// TestUIPivots follows the links other tools make: a Community ID (as
// tshark computes it), and the API's filter and window.
func TestUIPivots(t *testing.T) {
	testkit.RequireTool(t, "tshark")
	fx := newUIFixture(t)
	out, err := exec.Command("tshark", "-r", fx.pcap, "--enable-protocol", "communityid", "-Y", "tcp", "-T", "fields", "-e", "communityid").Output()
	if err != nil {
		t.Fatal(err)
	}
	cid := strings.TrimSpace(strings.Split(string(out), "\n")[0])
	if !strings.HasPrefix(cid, "1:") {
		t.Fatalf("tshark's community ID: %q", out)
	}
	c := fx.client(t, adminSecret)
	_, page := get(t, c, fx.url+"/ui/flows?community_id="+url.QueryEscape(cid))
	if !strings.Contains(page, "10.0.0.1:40000") || strings.Contains(page, "10.0.0.3:5353") || !strings.Contains(page, "of 1 ") {
		t.Errorf("/ui/flows?community_id=%s does not list the one TCP flow:\n%s", cid, page)
	}
	_, page = get(t, c, fx.url+"/ui/flow?community_id="+url.QueryEscape(cid))
	if !strings.Contains(page, `id="transcript"`) || strings.Count(page, `<tr class="sel">`)+strings.Count(page, "<tr >") != 12 {
		t.Errorf("/ui/flow?community_id=%s: want its 12 packets and a transcript", cid)
	}
	_, page = get(t, c, fx.url+"/ui/packets?filter=udp&since=2026-03-01T12:01:00Z&until=2026-03-01T12:01:59Z")
	if n := strings.Count(page, `<td class="line">`); n != 6 {
		t.Errorf("/ui/packets with the API's filter, since and until: %d packets, want 6 (one each 10 s)", n)
	}
}

// TestBrowserOverviewOfDaemon: with a daemon's status, the overview shows
// each interface's state, rates and drops, the store's free space, and
// how many days fit at the write rate.
func TestBrowserOverviewOfDaemon(t *testing.T) {
	_, dir := writeFixtures(t)
	start := time.Now()
	status := func() any {
		// 1000 packets/s of 1250 bytes: 10 Mbit/s.
		el := time.Since(start).Seconds()
		return map[string]any{
			"interfaces": []any{map[string]any{"name": "eth0", "state": "recording", "filter": "not port 22",
				"packets": int64(1000 * el), "bytes": int64(1_250_000 * el),
				"drops": map[string]any{"kernel": 7, "app": 3, "reload": 0}}},
			"store": map[string]any{"file_bytes": 1 << 30, "free_bytes": 9 << 30, "keep_free_bytes": 1 << 30,
				"write_bytes_per_second": 10 << 10, "segments": 9},
			"retention": map[string]any{"blocked": true, "when_held": "pause"},
		}
	}
	access := api.Access{Tokens: []api.Token{{Name: "analyst", SHA256: api.TokenSum(adminSecret), Scopes: []string{api.ScopeRead}}}}
	srv := api.New(api.Options{Selector: selection.Store{Dir: dir}, Holds: api.StoreHolds(dir), Status: status, Log: slog.New(slog.DiscardHandler)}, access)
	u, err := New(Options{API: srv, Store: dir})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(Mount(u, srv))
	defer ts.Close()
	fx := &uiFixture{url: ts.URL, screens: os.Getenv("PRD_UI_SCREENSHOTS")}
	ctx := browser(t)
	do(t, ctx, chromedp.Navigate(ts.URL+"/ui/login"), chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), adminSecret), chromedp.Submit(chromedp.ID("token")))
	waitURL(t, ctx, "/ui/")
	do(t, ctx, chromedp.WaitVisible(chromedp.ID("timeline")))
	main := run(t, ctx, chromedp.Text(chromedp.CSS("main")))
	fx.shot(t, ctx, "11-overview-daemon")
	// (1 + 9 - 1) GiB at 10 KiB/s: 943,718 s, 10.9 days.
	for _, want := range []string{"eth0", "recording", "not port 22", "9.0 GiB", "about 10.9 days fit", "blocked by holds", "Refresh every 5 s"} {
		if !strings.Contains(main, want) {
			t.Errorf("the overview does not say %q:\n%s", want, main)
		}
	}
	cells := run(t, ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("main table tbody td")).map(e => e.textContent)`))
	if len(cells) < 8 || cells[5] != "7" || cells[6] != "3" {
		t.Fatalf("interface row %q: want kernel drops 7, app drops 3", cells)
	}
	pps, _ := strconv.ParseFloat(cells[2], 64)
	if pps < 800 || pps > 1200 || !strings.HasSuffix(cells[3], "Mbit/s") {
		t.Errorf("rates %q, %q: want about 1000 packets/s and 10 Mbit/s", cells[2], cells[3])
	}
}

// TestUIBadInput: mistakes in a page's parameters are shown on its form
// (or answered 4xx), never a failure of the server.
func TestUIBadInput(t *testing.T) {
	fx := newUIFixture(t)
	c := fx.client(t, adminSecret)
	long := strings.Repeat("a", 70<<10)
	for _, tc := range []struct{ path, want string }{
		{"/ui/flows?since=garbage", "since: "},
		{"/ui/flows?since=2026-03-02&until=2026-03-01", "is after until"},
		{"/ui/packets?interface=..%2Fx", "invalid interface name"},
		{"/ui/packets?interface=wlan9", "no packets of interface wlan9"},
		{"/ui/flows?filter=" + long, "longer than 64 KiB"},
		{"/ui/flows?community_id=2:abc", "community_id: "},
		{"/ui/flow", "a flow is named by its community_id"},
		{"/ui/flow?community_id=1%3A3k1SoWXs%2FFltHw2aBCgUTgbDQF4%3D&packet=-4&view=%3Cb%3E", "Transcript"},
		{"/ui/packets?page=-3&sort=%3Cscript%3E", "Packets"},
		{"/ui/flows?sort=%3Cscript%3E", "not an order"},
		{"/ui/flows?page=999999999999999999", "Flows"},
		{"/ui/size?filter=tcp+port", "syntax error at column 9"},
	} {
		resp, body := get(t, c, fx.url+tc.path)
		if resp.StatusCode != 200 || !strings.Contains(body, tc.want) {
			t.Errorf("GET %.80s: %s, want 200 saying %q", tc.path, resp.Status, tc.want)
		}
	}
	_, page := get(t, c, fx.url+"/ui/holds")
	csrf := between(page, `name="csrf" value="`, `"`)
	for _, tc := range []struct {
		path string
		form url.Values
		code int
	}{
		{"/ui/holds", url.Values{"since": {"nonsense"}, "until": {"now"}, "reason": {"x"}}, 400},
		{"/ui/holds", url.Values{"since": {"1h ago"}, "until": {"now"}, "reason": {" "}}, 400},
		{"/ui/holds/abc/release", nil, 400},
		{"/ui/holds/99/release", nil, 404},
	} {
		if tc.form == nil {
			tc.form = url.Values{}
		}
		tc.form.Set("csrf", csrf)
		resp, err := c.PostForm(fx.url+tc.path, tc.form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.code {
			t.Errorf("POST %s %v: %s, want %d", tc.path, tc.form, resp.Status, tc.code)
		}
	}
}
