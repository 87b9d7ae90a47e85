package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/archive"
	"github.com/packetrecorderd/packetrecorderd/internal/pcapio"
	"github.com/packetrecorderd/packetrecorderd/internal/selection"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// base is the time of the first test packet; packet i (0-based) is at
// base + i ms, UDP to port 1000 + i%10, from 10.0.0.(1 + i%2).
var base = time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)

const testPackets = 3000

func frame(i int) []byte {
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	return testkit.UDPFrame(mac, mac, -1, net.IPv4(10, 0, 0, byte(1+i%2)), net.IPv4(10, 0, 1, 1), 1000+i%10, []byte(fmt.Sprintf("packet %06d", i)))
}

// makeStore records testPackets packets on eth0 in small segments.
func makeStore(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "store")
	a, err := archive.Open(dir, archive.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	r, err := archive.NewRecording(dir, archive.RecordingConfig{Interface: "eth0", LinkType: 1, Snaplen: 65535, MaxBytes: 128 << 10})
	if err != nil {
		t.Fatal(err)
	}
	var b store.Block
	for i := 0; i < testPackets; {
		b.Reset(1)
		for j := 0; j < 100 && i < testPackets; j++ {
			f := frame(i)
			b.Append(base.Add(time.Duration(i)*time.Millisecond).UnixNano(), len(f), f)
			i++
		}
		if err := r.Append(&b); err != nil {
			t.Fatal(err)
		}
		if err := r.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

type tokenSpec struct {
	name, secret string
	scopes       []string
	filter       string
	window       time.Duration
	limits       Limits
}

func accessOf(specs ...tokenSpec) Access {
	var a Access
	for _, s := range specs {
		a.Tokens = append(a.Tokens, Token{Name: s.name, SHA256: sha256.Sum256([]byte(s.secret)), Scopes: s.scopes,
			Filter: s.filter, MaxWindow: s.window, Limits: s.limits})
	}
	return a
}

var (
	reader = tokenSpec{name: "reader", secret: "r-secret", scopes: []string{ScopeRead}}
	admin  = tokenSpec{name: "admin", secret: "a-secret", scopes: []string{ScopeRead, ScopeAdmin}}
	scrape = tokenSpec{name: "scraper", secret: "m-secret", scopes: []string{ScopeMetrics}}
	forced = tokenSpec{name: "forced", secret: "f-secret", scopes: []string{ScopeRead}, filter: "udp dst port 1003"}
	narrow = tokenSpec{name: "narrow", secret: "n-secret", scopes: []string{ScopeRead}, window: time.Second}
)

type testServer struct {
	*httptest.Server
	srv   *Server
	audit *testkit.SyncBuffer
}

func newTestServer(t testing.TB, dir string, a Access) *testServer {
	t.Helper()
	return newOptionsServer(t, Options{Selector: selection.Store{Dir: dir}, Holds: StoreHolds(dir), Version: "test",
		Status:     func() any { return map[string]string{"state": "ok"} },
		Interfaces: func() any { return []string{"eth0"} },
		Health:     func(w http.ResponseWriter, r *http.Request) { WriteJSON(w, 200, map[string]string{"status": "ok"}) },
		Metrics: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "# TYPE x counter\nx 1\n")
		}),
		Now: func() time.Time { return base.Add(time.Hour) },
	}, a)
}

// newOptionsServer serves the API with opts (a hub's selector or flow
// lister) for access a, its log in the audit buffer.
func newOptionsServer(t testing.TB, opts Options, a Access) *testServer {
	t.Helper()
	buf := &testkit.SyncBuffer{}
	opts.Log = slog.New(slog.NewTextHandler(buf, nil))
	s := New(opts, a)
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return &testServer{Server: ts, srv: s, audit: buf}
}

func (ts *testServer) do(t testing.TB, method, path, secret string, body io.Reader) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if secret != "" {
		req.Header.Set("Authorization", "Bearer "+secret)
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func readBody(t testing.TB, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func rfc(i int) string { return base.Add(time.Duration(i) * time.Millisecond).Format(time.RFC3339Nano) }

// TestAuthentication: every endpoint but /healthz needs credentials; each
// scope opens only its endpoints; metrics can be made public.
func TestAuthentication(t *testing.T) {
	dir := makeStore(t)
	ts := newTestServer(t, dir, accessOf(reader, admin, scrape))
	cases := []struct {
		method, path, secret string
		want                 int
	}{
		{"GET", "/healthz", "", 200},
		{"GET", "/api/v1/status", "", 401},
		{"GET", "/api/v1/status", "wrong", 401},
		{"GET", "/api/v1/status", "r-secret", 200},
		{"GET", "/api/v1/status", "m-secret", 403},
		{"GET", "/api/v1/sessions", "r-secret", 200},
		{"GET", "/api/v1/interfaces", "r-secret", 200},
		{"GET", "/api/v1/packets", "", 401},
		{"GET", "/api/v1/packets?limit=1", "r-secret", 200},
		{"GET", "/api/v1/holds", "r-secret", 200},
		{"GET", "/metrics", "", 401},
		{"GET", "/metrics", "r-secret", 403},
		{"GET", "/metrics", "m-secret", 200},
		{"DELETE", "/api/v1/holds/1", "r-secret", 403},
		{"GET", "/nowhere", "r-secret", 404},
		{"PUT", "/api/v1/packets", "r-secret", 405},
	}
	for _, c := range cases {
		resp := ts.do(t, c.method, c.path, c.secret, nil)
		body := readBody(t, resp)
		if resp.StatusCode != c.want {
			t.Errorf("%s %s with %q: %d, want %d: %s", c.method, c.path, c.secret, resp.StatusCode, c.want, body)
		}
		if resp.StatusCode == 401 && resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s %s: 401 without WWW-Authenticate", c.method, c.path)
		}
	}
	// Basic authentication is not a bearer token.
	req, _ := http.NewRequest("GET", ts.URL+"/api/v1/status", nil)
	req.SetBasicAuth("reader", "r-secret")
	resp, _ := ts.Client().Do(req)
	if readBody(t, resp); resp.StatusCode != 401 {
		t.Errorf("basic auth: %d", resp.StatusCode)
	}
	a := accessOf(reader)
	a.MetricsPublic = true
	ts.srv.SetAccess(a)
	if resp := ts.do(t, "GET", "/metrics", "", nil); readBody(t, resp) == "" || resp.StatusCode != 200 {
		t.Errorf("public metrics: %d", resp.StatusCode)
	}
	// A token removed by a reload is refused at once.
	if resp := ts.do(t, "GET", "/api/v1/status", "a-secret", nil); readBody(t, resp) == "" || resp.StatusCode != 401 {
		t.Errorf("removed token: %d", resp.StatusCode)
	}
}

// want is the test packets i in [from, to) that keep says to keep.
func want(from, to int, keep func(i int) bool) [][]byte {
	var out [][]byte
	for i := from; i < to; i++ {
		if keep == nil || keep(i) {
			out = append(out, frame(i))
		}
	}
	return out
}

func readPcap(t testing.TB, body []byte) [][]byte {
	t.Helper()
	r, err := pcapio.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("not a capture: %v", err)
	}
	var out [][]byte
	for {
		p, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, append([]byte(nil), p.Data...))
	}
	return out
}

func samePackets(t *testing.T, what string, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d packets, want %d", what, len(got), len(want))
		return
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("%s: packet %d differs", what, i)
			return
		}
	}
}

// TestPacketsSelections: each format, through each selection (window,
// filter, limit), gives exactly the packets that the window and the
// filter's meaning select, with the trailers saying how many.
func TestPacketsSelections(t *testing.T) {
	dir := makeStore(t)
	ts := newTestServer(t, dir, accessOf(reader, forced))
	cases := []struct {
		name, query string
		secret      string
		want        [][]byte
		truncated   bool
	}{
		{"all", "", "r-secret", want(0, testPackets, nil), false},
		{"window", "since=" + rfc(1000) + "&until=" + rfc(1999), "r-secret", want(1000, 2000, nil), false},
		{"filter", "filter=" + url.QueryEscape("udp dst port 1003 or (src host 10.0.0.2 and udp dst port 1005)"), "r-secret",
			want(0, testPackets, func(i int) bool { return i%10 == 3 || i%10 == 5 }), false},
		{"filter+window+limit", "filter=" + url.QueryEscape("src host 10.0.0.1") + "&since=" + rfc(500) + "&until=" + rfc(2500) + "&limit=7", "r-secret",
			want(500, 514, func(i int) bool { return i%2 == 0 }), true},
		{"limit exactly", "since=" + rfc(10) + "&until=" + rfc(14) + "&limit=5", "r-secret", want(10, 15, nil), false},
		{"forced filter", "since=" + rfc(0) + "&until=" + rfc(99), "f-secret", want(0, 100, func(i int) bool { return i%10 == 3 }), false},
		{"forced and own", "filter=" + url.QueryEscape("src host 10.0.0.1"), "f-secret", nil, false},
		{"forced and own, some", "filter=" + url.QueryEscape("src host 10.0.0.2") + "&until=" + rfc(99), "f-secret", want(0, 100, func(i int) bool { return i%10 == 3 }), false},
		{"interface", "interface=eth0&since=" + rfc(7) + "&until=" + rfc(7), "r-secret", want(7, 8, nil), false},
	}
	for _, c := range cases {
		for _, format := range []string{"pcap", "pcapng", "json"} {
			resp := ts.do(t, "GET", "/api/v1/packets?format="+format+"&data=true&"+strings.TrimPrefix(c.query, "&"), c.secret, nil)
			if format == "json" {
				resp = ts.do(t, "GET", "/api/v1/packets?format=json&data=true&"+c.query, c.secret, nil)
			}
			body := []byte(readBody(t, resp))
			what := c.name + " " + format
			if resp.StatusCode != 200 {
				t.Errorf("%s: %d %s", what, resp.StatusCode, body)
				continue
			}
			ctype := map[string]string{"pcap": TypePcap, "pcapng": TypePcapng, "json": TypeNDJSON}[format]
			if got := resp.Header.Get("Content-Type"); got != ctype {
				t.Errorf("%s: content type %q", what, got)
			}
			var got [][]byte
			if format == "json" {
				lines := bytes.Split(bytes.TrimSpace(body), []byte("\n"))
				for _, l := range lines[:len(lines)-1] {
					var p selection.PacketJSON
					if err := json.Unmarshal(l, &p); err != nil {
						t.Fatalf("%s: %v: %s", what, err, l)
					}
					d := make([]byte, len(p.Data)/2)
					fmt.Sscanf(p.Data, "%x", &d)
					got = append(got, d)
				}
				var end map[string]selection.End
				if err := json.Unmarshal(lines[len(lines)-1], &end); err != nil || end["end"].Packets != int64(len(got)) || end["end"].Truncated != c.truncated {
					t.Errorf("%s: last line %s", what, lines[len(lines)-1])
				}
			} else {
				got = readPcap(t, body)
				if resp.Trailer.Get(TrailerPackets) != fmt.Sprint(len(c.want)) || resp.Trailer.Get(TrailerTruncated) != fmt.Sprint(c.truncated) {
					t.Errorf("%s: trailers %v", what, resp.Trailer)
				}
			}
			samePackets(t, what, got, c.want)
		}
	}
	// A request's filter that would close the forced filter's parenthesis
	// ("(forced) and (ip) or (ip)") is refused, on every endpoint that
	// selects, not run: the forced token's bound holds.
	for _, path := range []string{"/api/v1/packets?format=json&filter=", "/api/v1/packets?count=true&filter=", "/api/v1/flows?filter="} {
		for _, escape := range []string{"ip) or (ip", "ip)) or ((ip", "udp) or (not udp"} {
			resp := ts.do(t, "GET", path+url.QueryEscape(escape), "f-secret", nil)
			if body := readBody(t, resp); resp.StatusCode != 400 {
				t.Errorf("%s%q with a forced filter: %d %.200s, want 400", path, escape, resp.StatusCode, body)
			}
		}
	}
	// count=true counts what the same selection streams.
	resp := ts.do(t, "GET", "/api/v1/packets?count=true&filter="+url.QueryEscape("udp dst port 1003"), "r-secret", nil)
	var n map[string]int64
	if json.Unmarshal([]byte(readBody(t, resp)), &n); n["count"] != testPackets/10 {
		t.Errorf("count: %v", n)
	}
	if a := ts.audit.String(); !strings.Contains(a, "msg=audit who=\"token forced\"") || !strings.Contains(a, "packets=100") {
		t.Errorf("audit log lacks the forced token's query:\n%s", a)
	}
}

// TestBadInput: malformed parameters are a 400 with one line saying what
// is wrong (a filter's error as the CLI prints it); a window too wide for
// the token is a 403; bodies are bounded.
func TestBadInput(t *testing.T) {
	dir := makeStore(t)
	ts := newTestServer(t, dir, accessOf(reader, admin, narrow))
	cases := []struct {
		path, secret string
		want         int
		says         string
	}{
		{"/api/v1/packets?filter=" + url.QueryEscape("tcp port"), "r-secret", 400, "syntax error"},
		{"/api/v1/packets?filter=" + url.QueryEscape("udp port 99999"), "r-secret", 400, "port"},
		{"/api/v1/packets?limit=-1", "r-secret", 400, "invalid limit"},
		{"/api/v1/packets?limit=99999999999999999999", "r-secret", 400, "invalid limit"},
		{"/api/v1/packets?since=" + rfc(5) + "&until=" + rfc(4), "r-secret", 400, "is after"},
		{"/api/v1/packets?since=yesterday", "r-secret", 400, "invalid time"},
		{"/api/v1/packets?format=csv", "r-secret", 400, "invalid format"},
		{"/api/v1/packets?interface=" + url.QueryEscape("../../etc"), "r-secret", 400, "invalid interface"},
		{"/api/v1/packets?interface=eth9", "r-secret", 404, "eth9"},
		// A hub's SENSOR/IFACE is a name (not one this daemon has); a
		// path of more parts, or with ".." in it, is not.
		{"/api/v1/packets?interface=" + url.QueryEscape("s1/eth9"), "r-secret", 404, "s1/eth9"},
		{"/api/v1/packets?interface=" + url.QueryEscape("s1/eth0/x"), "r-secret", 400, "invalid interface"},
		{"/api/v1/packets?interface=" + url.QueryEscape("s1/.."), "r-secret", 400, "invalid interface"},
		{"/api/v1/packets?interface=" + url.QueryEscape("/eth0"), "r-secret", 400, "invalid interface"},
		{"/api/v1/packets?bogus=1", "r-secret", 400, "unknown parameter"},
		{"/api/v1/packets?limit=1&limit=2", "r-secret", 400, "2 times"},
		{"/api/v1/packets", "n-secret", 403, "at most 1s"},
		{"/api/v1/packets?since=" + rfc(0) + "&until=" + rfc(1001), "n-secret", 403, "at most 1s"},
		{"/api/v1/packets?since=" + rfc(0) + "&until=" + rfc(1000), "n-secret", 200, ""},
		{"/api/v1/holds/..%2f..%2fx", "a-secret", 400, "invalid hold id"},
		{"/api/v1/holds/x", "a-secret", 0, ""},
	}
	for _, c := range cases {
		method := "GET"
		if strings.HasPrefix(c.path, "/api/v1/holds/") {
			method = "DELETE"
		}
		resp := ts.do(t, method, c.path, c.secret, nil)
		body := readBody(t, resp)
		if c.want == 0 {
			if resp.StatusCode < 400 || resp.StatusCode >= 500 {
				t.Errorf("%s: %d, want a 4xx", c.path, resp.StatusCode)
			}
			continue
		}
		if resp.StatusCode != c.want || !strings.Contains(body, c.says) {
			t.Errorf("%s: %d %s; want %d saying %q", c.path, resp.StatusCode, body, c.want, c.says)
		}
		if c.want >= 400 {
			var e map[string]string
			if json.Unmarshal([]byte(body), &e) != nil || e["error"] == "" || strings.Contains(e["error"], "\n") {
				t.Errorf("%s: error is not one JSON line: %q", c.path, body)
			}
		}
	}
	// A 1 GB body is cut off at 64 KiB, before it is read whole.
	big := io.LimitReader(zeros{}, 1<<30)
	resp := ts.do(t, "POST", "/api/v1/holds", "a-secret", big)
	if readBody(t, resp); resp.StatusCode != 413 && resp.StatusCode != 400 {
		t.Errorf("1 GB hold body: %d", resp.StatusCode)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	return len(p), nil
}

// TestHolds: a hold added over the API is listed, then released.
func TestHolds(t *testing.T) {
	dir := makeStore(t)
	ts := newTestServer(t, dir, accessOf(admin))
	body := fmt.Sprintf(`{"since": %q, "until": %q, "reason": "case 42"}`, rfc(0), rfc(10))
	resp := ts.do(t, "POST", "/api/v1/holds", "a-secret", strings.NewReader(body))
	var h HoldJSON
	if err := json.Unmarshal([]byte(readBody(t, resp)), &h); err != nil || resp.StatusCode != 201 || h.ID == 0 ||
		!h.Since.Equal(base) || !strings.Contains(h.Reason, "case 42") || !strings.Contains(h.Reason, "token admin") {
		t.Fatalf("add hold: %d %+v %v", resp.StatusCode, h, err)
	}
	ar, err := archive.Open(dir, archive.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	holds, _ := ar.Holds()
	ar.Close()
	if len(holds) != 1 || holds[0].Since != base.UnixNano() || holds[0].Until != base.Add(10*time.Millisecond).UnixNano() {
		t.Errorf("the store's holds: %+v", holds)
	}
	resp = ts.do(t, "DELETE", fmt.Sprintf("/api/v1/holds/%d", h.ID), "a-secret", nil)
	if readBody(t, resp); resp.StatusCode != 204 {
		t.Errorf("release: %d", resp.StatusCode)
	}
	resp = ts.do(t, "DELETE", fmt.Sprintf("/api/v1/holds/%d", h.ID), "a-secret", nil)
	if readBody(t, resp); resp.StatusCode != 404 {
		t.Errorf("release again: %d", resp.StatusCode)
	}
	for _, bad := range []string{`{"since": "x", "until": "y", "reason": "r"}`, `{"since": "now", "until": "now"}`, `{"since": "now", "until": "5m ago", "reason": "r"}`, `{"oops": 1}`, `[`} {
		resp := ts.do(t, "POST", "/api/v1/holds", "a-secret", strings.NewReader(bad))
		if readBody(t, resp); resp.StatusCode != 400 {
			t.Errorf("hold %s: %d", bad, resp.StatusCode)
		}
	}
}

// TestLimits: requests over a token's rate, and queries over its
// concurrency, get 429 with Retry-After; other tokens are unaffected.
func TestLimits(t *testing.T) {
	dir := makeStore(t)
	slow := tokenSpec{name: "slow", secret: "s-secret", scopes: []string{ScopeRead}, limits: Limits{Concurrent: 1, PerMinute: 60}}
	ts := newTestServer(t, dir, accessOf(slow, reader))
	// The burst is a tenth of a minute's budget: 6 requests.
	var codes []int
	for i := 0; i < 8; i++ {
		resp := ts.do(t, "GET", "/api/v1/status", "s-secret", nil)
		readBody(t, resp)
		codes = append(codes, resp.StatusCode)
		if resp.StatusCode == 429 && resp.Header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
	}
	if fmt.Sprint(codes) != "[200 200 200 200 200 200 429 429]" {
		t.Errorf("codes over the rate: %v", codes)
	}
	if resp := ts.do(t, "GET", "/api/v1/status", "r-secret", nil); readBody(t, resp) == "" || resp.StatusCode != 200 {
		t.Errorf("another token: %d", resp.StatusCode)
	}
	// One query at a time: hold one open (unread), the next is refused.
	ts.srv.SetAccess(accessOf(tokenSpec{name: "one", secret: "o-secret", scopes: []string{ScopeRead}, limits: Limits{Concurrent: 1, PerMinute: 6000}}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL+"/api/v1/packets", nil)
	req.Header.Set("Authorization", "Bearer o-secret")
	first, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp := ts.do(t, "GET", "/api/v1/packets?limit=1", "o-secret", nil)
	if readBody(t, resp); resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("second concurrent query: %d", resp.StatusCode)
	}
	io.Copy(io.Discard, first.Body)
	first.Body.Close()
	resp = ts.do(t, "GET", "/api/v1/packets?limit=1", "o-secret", nil)
	if readBody(t, resp); resp.StatusCode != 200 {
		t.Errorf("after the first ended: %d", resp.StatusCode)
	}
}

// TestClientGoesAway: a client that stops reading and closes its
// connection mid-stream ends its query (the slot is free again, the audit
// line says so).
func TestClientGoesAway(t *testing.T) {
	dir := makeStore(t)
	ts := newTestServer(t, dir, accessOf(tokenSpec{name: "one", secret: "o-secret", scopes: []string{ScopeRead}, limits: Limits{Concurrent: 1, PerMinute: 6000}}))
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL+"/api/v1/packets?format=json&data=true", nil)
	req.Header.Set("Authorization", "Bearer o-secret")
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		t.Fatal(err)
	}
	cancel()
	resp.Body.Close()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(ts.audit.String(), `result="client went away"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no audit line of the abandoned query:\n%s", ts.audit.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	resp2 := ts.do(t, "GET", "/api/v1/packets?limit=1", "o-secret", nil)
	if readBody(t, resp2); resp2.StatusCode != 200 {
		t.Errorf("slot not freed: %d", resp2.StatusCode)
	}
}

// TestStenoQuery: Stenographer's POST /query selects as the query says,
// bounded by its limit headers; bad queries, bad headers and huge bodies
// are refused with a 4xx.
func TestStenoQuery(t *testing.T) {
	dir := makeStore(t)
	ts := newTestServer(t, dir, accessOf(reader))
	post := func(body string, hdr map[string]string) *http.Response {
		req, _ := http.NewRequest("POST", ts.URL+"/query", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer r-secret")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	cases := []struct {
		query string
		hdr   map[string]string
		want  [][]byte
	}{
		{"port 1003 and after " + rfc(1000) + " and before " + rfc(1999), nil, want(1000, 2000, func(i int) bool { return i%10 == 3 })},
		{"host 10.0.0.2 && (port 1005 || port 1007)", map[string]string{HeaderStenoLimitPackets: "4"}, want(0, 18, func(i int) bool { return i%10 == 5 || i%10 == 7 })},
		{"udp and not port 1000 and before " + rfc(9), nil, want(1, 10, nil)},
		{"after " + rfc(2990) + " or before " + rfc(2), nil, append(want(0, 3, nil), want(2990, 3000, nil)...)},
		{"host 10.0.0.9", nil, nil},
		// Queries that match nothing (no window left): an empty answer,
		// as Stenographer gives; they used to read the whole store.
		{"tcp and udp", nil, nil},
		{"after " + rfc(2000) + " and before " + rfc(1000), nil, nil},
		{"port 1003 and after " + rfc(2000) + " and before " + rfc(1000), nil, nil},
	}
	for _, c := range cases {
		resp := post(c.query, c.hdr)
		body := []byte(readBody(t, resp))
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != TypePcap {
			t.Errorf("%q: %d %s", c.query, resp.StatusCode, body)
			continue
		}
		samePackets(t, c.query, readPcap(t, body), c.want)
	}
	// Steno-Limit-Bytes counts packet bytes: 5 packets fit in 5 x len.
	resp := post("port 1003", map[string]string{HeaderStenoLimitBytes: fmt.Sprint(5*len(frame(3)) + 1)})
	if got := readPcap(t, []byte(readBody(t, resp))); len(got) != 5 {
		t.Errorf("byte limit: %d packets", len(got))
	}
	for _, c := range []struct {
		body string
		hdr  map[string]string
		want int
	}{
		{"host", nil, 400},
		{"", nil, 400},
		{"port 80 and after yesterday", nil, 400},
		{"port 80", map[string]string{HeaderStenoLimitPackets: "-3"}, 400},
		{"port 80", map[string]string{HeaderStenoLimitBytes: "lots"}, 400},
		{strings.Repeat("(", 70000), nil, 413},
	} {
		resp := post(c.body, c.hdr)
		if body := readBody(t, resp); resp.StatusCode != c.want || strings.Count(strings.TrimSpace(body), "\n") > 2 {
			t.Errorf("%.40q: %d %s, want %d", c.body, resp.StatusCode, body, c.want)
		}
	}
}
