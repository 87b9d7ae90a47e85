package hub

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/packetrecorderd/packetrecorderd/internal/api"
	"github.com/packetrecorderd/packetrecorderd/internal/fleet"
	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// tcpProxy forwards connections to a server until cut: then it closes
// those it forwards and every new one (the server unreachable for one
// client only).
type tcpProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	cut    bool
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: target}
	t.Cleanup(func() { ln.Close(); p.setCut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			if p.cut {
				p.mu.Unlock()
				c.Close()
				continue
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				p.mu.Unlock()
				c.Close()
				continue
			}
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go func() { io.Copy(s, c); s.Close() }()
			go func() { io.Copy(c, s); c.Close() }()
		}
	}()
	return p
}

func (p *tcpProxy) setCut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// countingHandler counts the packet queries a test sensor answers.
type countingHandler struct {
	h       http.Handler
	packets atomic.Int64
}

func (c *countingHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/api/v1/packets" && r.URL.Query().Get("describe") == "" {
		c.packets.Add(1)
	}
	c.h.ServeHTTP(w, r)
}

// startShipper runs a real sensor-side shipper (internal/fleet) for
// sensor name until the test ends.
func startShipper(t *testing.T, name, dsn, sensorURL string) *fleet.Sensor {
	t.Helper()
	s, err := fleet.NewSensor(fleet.Config{Sensor: name, Postgres: dsn, URL: sensorURL}, t.TempDir(), []string{"eth0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return s
}

func udpFlow(src, dst string, first, last int64) *fleet.FlowRow {
	return &fleet.FlowRow{Interface: "eth0", FirstNS: first, LastNS: last, CommunityID: "1:" + src + dst, Proto: 17,
		Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst), SPort: 4000, DPort: 53,
		Packets: [2]uint64{1, 0}, Bytes: [2]uint64{60, 0}, StoredPackets: 1, StoredBytes: 60, Ended: true}
}

// startTestHub serves a hub over PostgreSQL at dsn, reaching the sensors
// with the test token.
func startTestHub(t *testing.T, dsn string) (*Hub, *httptest.Server) {
	t.Helper()
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(testSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse([]byte(fmt.Sprintf("postgres: %q\nsensors: {token_file: %s}\ntokens: [{name: reader, sha256: %x, scopes: [read]}]\n",
		dsn, tokenFile, sha256.Sum256([]byte(testSecret)))))
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Options{Config: cfg, SensorTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	handler, err := h.Handler() // the API and the web UI
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	return h, srv
}

func hubGet(t *testing.T, srv *httptest.Server, path string, q url.Values) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", srv.URL+path+"?"+q.Encode(), nil)
	req.Header.Set("Authorization", "Bearer "+testSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, b
}

// TestHubSensorBehind: sensor b's outbox is held back (PostgreSQL
// unreachable for it alone, through a proxy cut) after it shipped its
// first records; the flow of its needle, captured after the cut, never
// reaches PostgreSQL. A query for the needle in a window that ended
// long enough ago for the planner to trust PostgreSQL still asks b
// (the window passes its shipped-through mark) and the needle is in the
// answer; sensor a, caught up, is not asked (its segment's summary
// narrows it out).
func TestHubSensorBehind(t *testing.T) {
	pg := testkit.StartPostgresCluster(t)
	t0 := time.Now().Truncate(time.Millisecond)
	dir := t.TempDir()
	needleTS := t0.Add(2 * time.Second).UnixNano()
	aPkts := []testPacket{{ts: t0.UnixNano(), data: synthPacket(netip.MustParseAddr("10.0.1.1"), netip.MustParseAddr("10.0.1.2"), 17, 4000, 53)}}
	bPkts := []testPacket{
		{ts: t0.UnixNano(), data: synthPacket(netip.MustParseAddr("10.0.2.5"), netip.MustParseAddr("10.0.2.6"), 17, 4000, 53)},
		{ts: needleTS, data: synthPacket(netip.MustParseAddr("10.0.2.1"), netip.MustParseAddr("10.0.2.2"), 17, 4000, 53)},
	}
	var sensors []*countingHandler
	var urls []string
	for _, s := range []struct {
		name string
		pkts []testPacket
	}{{"a", aPkts}, {"b", bPkts}} {
		path := filepath.Join(dir, s.name+".pcapng")
		writeCapture(t, path, s.pkts)
		ch := &countingHandler{h: api.New(api.Options{Selector: fileSelector{path}}, testAccess())}
		srv := httptest.NewServer(ch)
		t.Cleanup(srv.Close)
		sensors, urls = append(sensors, ch), append(urls, srv.URL)
	}
	u, err := url.Parse(pg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newTCPProxy(t, u.Host)
	u.Host = proxy.ln.Addr().String()
	a := startShipper(t, "a", pg.DSN, urls[0])
	b := startShipper(t, "b", u.String(), urls[1])
	// Each segment's summary holds its packet's terms (a: 10.0.1.x, b:
	// 10.0.2.5 and .6), as the sensors' catalogs make them.
	seg := fleet.SegmentRow{Interface: "eth0", Segment: "segments/eth0/x.db", FirstNS: t0.UnixNano(), LastNS: t0.UnixNano(), Packets: 1, Bytes: 60, Closed: true,
		Summary: summaryOf(flowTerms(17, "10.0.1.1", 4000, "10.0.1.2", 53)...)}
	a.Segment(seg)
	seg.Summary = summaryOf(flowTerms(17, "10.0.2.5", 4000, "10.0.2.6", 53)...)
	a.Flow(udpFlow("10.0.1.1", "10.0.1.2", t0.UnixNano(), t0.UnixNano()))
	b.Segment(seg)
	b.Flow(udpFlow("10.0.2.5", "10.0.2.6", t0.UnixNano(), t0.UnixNano()))

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	through := func(sensor string) int64 {
		var n int64
		conn.QueryRow(ctx, `SELECT coalesce(flows_through_ns, 0) FROM prd_sensors WHERE sensor = $1`, sensor).Scan(&n)
		return n
	}
	// Both ship their first records and mark them shipped.
	deadline := time.Now().Add(20 * time.Second)
	for through("a") <= t0.UnixNano() || through("b") <= t0.UnixNano() {
		if time.Now().After(deadline) {
			t.Fatalf("shipped-through marks a %d, b %d: not past the first records at %d", through("a"), through("b"), t0.UnixNano())
		}
		time.Sleep(50 * time.Millisecond)
	}
	var flows int
	conn.QueryRow(ctx, `SELECT count(*) FROM prd_flows`).Scan(&flows)
	if flows != 2 {
		t.Fatalf("%d flows in PostgreSQL once both are marked shipped, want 2", flows)
	}
	// PostgreSQL unreachable for b: its needle's records wait in its
	// outbox.
	proxy.setCut()
	markB := through("b")
	b.Segment(fleet.SegmentRow{Interface: "eth0", Segment: "segments/eth0/y.db", FirstNS: needleTS, LastNS: needleTS, Packets: 1, Bytes: 60, Closed: true})
	b.Flow(udpFlow("10.0.2.1", "10.0.2.2", needleTS, needleTS))

	_, hub := startTestHub(t, pg.DSN)
	// Past FlowLag after the needle: the planner trusts what PostgreSQL
	// says of a sensor that is caught up.
	time.Sleep(time.Until(time.Unix(0, needleTS).Add(FlowLag + 1500*time.Millisecond)))
	if st := b.Stats(); st.OutboxRecords == 0 {
		t.Fatalf("b's outbox shipped though PostgreSQL is cut off: %+v", st)
	}
	if m := through("b"); m != markB || m >= needleTS {
		t.Fatalf("b's mark moved from %d to %d while cut off (needle at %d)", markB, m, needleTS)
	}
	if m := through("a"); m < needleTS+int64(FlowLag) {
		t.Fatalf("a's mark %d: an idle sensor's mark follows the clock", m)
	}
	before := []int64{sensors[0].packets.Load(), sensors[1].packets.Load()}
	q := url.Values{"format": {"json"}, "filter": {"udp and host 10.0.2.1"},
		"since": {t0.Add(-time.Minute).UTC().Format(time.RFC3339Nano)}, "until": {t0.Add(3 * time.Second).UTC().Format(time.RFC3339Nano)}}
	resp, body := hubGet(t, hub, "/api/v1/packets", q)
	if resp.StatusCode != 200 {
		t.Fatalf("hub: %s %s", resp.Status, body)
	}
	lines := strings.Split(strings.TrimSpace(string(body)), "\n")
	var pkt jsonLine
	if len(lines) != 2 || json.Unmarshal([]byte(lines[0]), &pkt) != nil || pkt.Sensor != "b" {
		t.Fatalf("needle through the hub with b behind:\n%s", body)
	}
	var end jsonLine
	if json.Unmarshal([]byte(lines[1]), &end) != nil || end.End == nil || len(end.End.Missing) != 0 {
		t.Fatalf("end line %s: want no sensor missing", lines[1])
	}
	if got := sensors[0].packets.Load() - before[0]; got != 0 {
		t.Errorf("a, caught up and without the needle's flow, was asked %d times", got)
	}
	if got := sensors[1].packets.Load() - before[1]; got == 0 {
		t.Errorf("b, behind, was not asked")
	}
	// The flows to now come from PostgreSQL: b's are not all there, and
	// the listing says so; a is whole.
	resp, body = hubGet(t, hub, "/api/v1/flows", url.Values{"since": {t0.Add(-time.Minute).UTC().Format(time.RFC3339Nano)}})
	lines = strings.Split(strings.TrimSpace(string(body)), "\n")
	var fend struct {
		End *struct {
			Flows   int
			Missing []struct{ Sensor, Error string }
		}
	}
	if resp.StatusCode != 200 || json.Unmarshal([]byte(lines[len(lines)-1]), &fend) != nil || fend.End == nil {
		t.Fatalf("hub flows: %s\n%s", resp.Status, body)
	}
	if fend.End.Flows != 2 || len(fend.End.Missing) != 1 || fend.End.Missing[0].Sensor != "b" || !strings.Contains(fend.End.Missing[0].Error, "outbox is behind") {
		t.Errorf("flows end %+v: want a's and b's first flows, b named missing (its outbox behind)", fend.End)
	}
}
