package hub

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/api"
	"github.com/packetrecorderd/packetrecorderd/internal/pcapio"
	"github.com/packetrecorderd/packetrecorderd/internal/selection"
)

// fileSelector serves a capture file as a sensor's store: a test sensor
// with the real API in front.
type fileSelector struct{ path string }

func (f fileSelector) Select(ctx context.Context, spec selection.Spec) (*selection.Selection, error) {
	spec.File, spec.Interface = f.path, ""
	return selection.Open(ctx, spec)
}
func (fileSelector) Recordings() ([]selection.Recording, error) { return []selection.Recording{}, nil }

// fleetSelector is a hub's selector with a fixed fleet (no PostgreSQL).
type fleetSelector struct{ fl *selection.Fleet }

func (f fleetSelector) Select(ctx context.Context, spec selection.Spec) (*selection.Selection, error) {
	spec.Server = selection.Remote{Server: "fleet", Fleet: f.fl}
	return selection.Open(ctx, spec)
}
func (fleetSelector) Recordings() ([]selection.Recording, error) { return nil, nil }

const testSecret = "hub-test-secret"

func testAccess() api.Access {
	return api.Access{Tokens: []api.Token{{Name: "reader", SHA256: sha256.Sum256([]byte(testSecret)), Scopes: []string{api.ScopeRead}}}}
}

// testPacket is sensor k's packet i: a UDP datagram whose ports say
// which it is, at a time that interleaves the sensors.
type testPacket struct {
	ts   int64
	data []byte
}

func sensorPackets(k, n int) []testPacket {
	base := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC).UnixNano()
	var out []testPacket
	for i := range n {
		src := netip.AddrFrom4([4]byte{10, 0, byte(k), 1})
		dst := netip.AddrFrom4([4]byte{10, 0, byte(k), 2})
		out = append(out, testPacket{ts: base + int64(i*10+k)*1000, data: synthPacket(src, dst, 17, uint16(1000+i), 53)})
	}
	return out
}

func writeCapture(t *testing.T, path string, pkts []testPacket) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := pcapio.NewPcapngWriter(f, pcapio.PcapngConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.AddInterface(pcapio.Interface{LinkType: 1, Snaplen: 65535, Name: "eth0", TsResol: 9, FCSLen: -1}); err != nil {
		t.Fatal(err)
	}
	for _, p := range pkts {
		if err := w.WritePacket(pcapio.Packet{Timestamp: p.ts, OrigLen: len(p.data), LinkType: 1, Data: p.data}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
}

// breakAfter cuts a packet stream's connection after n bytes of it.
type breakAfter struct {
	h http.Handler
	n int
}

func (b breakAfter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("describe") == "true" || r.URL.Path != "/api/v1/packets" {
		b.h.ServeHTTP(w, r)
		return
	}
	b.h.ServeHTTP(&cutWriter{ResponseWriter: w, left: b.n}, r)
}

type cutWriter struct {
	http.ResponseWriter
	left int
}

func (c *cutWriter) Write(p []byte) (int, error) {
	if len(p) >= c.left {
		c.ResponseWriter.Write(p[:c.left])
		http.NewResponseController(c.ResponseWriter).Flush()
		panic(http.ErrAbortHandler) // the sensor dies mid-stream
	}
	c.left -= len(p)
	return c.ResponseWriter.Write(p)
}

func (c *cutWriter) Flush() { http.NewResponseController(c.ResponseWriter).Flush() }

type testFleet struct {
	hub      *httptest.Server
	expected []testPacket // what the sensors that answer hold, by time
	partial  []testPacket // what the broken sensor holds
}

// newTestFleet starts sensors a, b (whole), c (its stream cut after
// cutBytes; 0: whole), d (refuses connections) and a hub over them.
func newTestFleet(t *testing.T, cutBytes int) *testFleet {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(testSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tf := &testFleet{}
	// Sensor e's retention deleted what PostgreSQL still lists.
	fl := &selection.Fleet{Timeout: 10 * time.Second, Expired: []selection.Expired{{Sensor: "e", Interface: "eth0", FirstNS: 1, LastNS: 2, Segments: 1}}}
	for k, name := range []string{"a", "b", "c"} {
		pkts := sensorPackets(k+1, 300)
		path := filepath.Join(dir, name+".pcapng")
		writeCapture(t, path, pkts)
		var h http.Handler = api.New(api.Options{Selector: fileSelector{path}}, testAccess())
		if name == "c" && cutBytes > 0 {
			h = breakAfter{h: h, n: cutBytes}
			tf.partial = pkts
		} else {
			tf.expected = append(tf.expected, pkts...)
		}
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		c, err := selection.Dial(selection.Remote{Server: srv.URL, TokenFile: tokenFile})
		if err != nil {
			t.Fatal(err)
		}
		fl.Sensors = append(fl.Sensors, selection.FleetSensor{Name: name, Client: c})
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + ln.Addr().String()
	ln.Close()
	c, err := selection.Dial(selection.Remote{Server: refused, TokenFile: tokenFile})
	if err != nil {
		t.Fatal(err)
	}
	fl.Sensors = append(fl.Sensors, selection.FleetSensor{Name: "d", Client: c})
	slices.SortStableFunc(tf.expected, func(a, b testPacket) int { return int(a.ts - b.ts) })
	tf.hub = httptest.NewServer(api.New(api.Options{Selector: fleetSelector{fl}}, testAccess()))
	t.Cleanup(tf.hub.Close)
	return tf
}

func (tf *testFleet) get(t *testing.T, query string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("GET", tf.hub.URL+"/api/v1/packets?"+query, nil)
	req.Header.Set("Authorization", "Bearer "+testSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("%s: %s %s", query, resp.Status, b)
	}
	return resp
}

type jsonLine struct {
	selection.PacketJSON
	End *selection.End `json:"end"`
}

// TestFleetMergeAndPartial: the hub's answer is the answering sensors'
// packets merged by time, each named with its sensor; the refused
// sensor and the one cut mid-stream are named in the end line and the
// trailer, the cut one's packets before the cut included in order.
func TestFleetMergeAndPartial(t *testing.T) {
	tf := newTestFleet(t, 40<<10)
	resp := tf.get(t, "format=json&data=true")
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var got []jsonLine
	var end *selection.End
	for sc.Scan() {
		var l jsonLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("%q: %v", sc.Text(), err)
		}
		if l.End != nil {
			end = l.End
			break
		}
		got = append(got, l)
	}
	if end == nil {
		t.Fatal("no end line")
	}
	io.Copy(io.Discard, resp.Body)
	names := map[string]string{}
	for _, m := range end.Missing {
		names[m.Sensor] = m.Error
	}
	if _, ok := names["c"]; !ok || len(names) != 2 || !strings.Contains(names["d"], "connection refused") {
		t.Fatalf("missing = %+v, want c (cut) and d (connection refused)", end.Missing)
	}
	if len(end.Expired) != 1 || end.Expired[0].Sensor != "e" {
		t.Fatalf("expired = %+v, want e's", end.Expired)
	}
	// Every packet of a and b, and a prefix of c's, in time order.
	var fromC []string
	var rest []string
	prev := int64(0)
	for _, l := range got {
		ts, err := time.Parse(time.RFC3339Nano, l.TS)
		if err != nil {
			t.Fatal(err)
		}
		if ts.UnixNano() < prev {
			t.Fatalf("packet at %s after one at %d: not merged by time", l.TS, prev)
		}
		prev = ts.UnixNano()
		if l.Interface != l.Sensor+"/eth0" {
			t.Fatalf("packet of sensor %q on interface %q, want SENSOR/eth0", l.Sensor, l.Interface)
		}
		if l.Sensor == "c" {
			fromC = append(fromC, l.Data)
		} else {
			rest = append(rest, l.Data)
		}
	}
	if len(rest) != len(tf.expected) {
		t.Fatalf("%d packets of a and b, want %d", len(rest), len(tf.expected))
	}
	for i, p := range tf.expected {
		if rest[i] != hex.EncodeToString(p.data) {
			t.Fatalf("packet %d of a and b differs from what they hold", i)
		}
	}
	if len(fromC) == 0 || len(fromC) >= len(tf.partial) {
		t.Fatalf("%d packets of c, want some but not all %d (cut mid-stream)", len(fromC), len(tf.partial))
	}
	for i, d := range fromC {
		if d != hex.EncodeToString(tf.partial[i].data) {
			t.Fatalf("c's packet %d is not its %dth", i, i)
		}
	}
	if end.Packets != int64(len(got)) {
		t.Fatalf("end says %d packets, %d came", end.Packets, len(got))
	}

	// pcap: the same sensors named in the trailer.
	resp = tf.get(t, "format=pcapng")
	r, err := pcapio.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		if _, err := r.Next(); err != nil {
			break
		}
		n++
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	tr := resp.Trailer.Get(api.TrailerPartial)
	if !strings.Contains(tr, "c: ") || !strings.Contains(tr, "d: ") || !strings.Contains(tr, "connection refused") {
		t.Fatalf("trailer %s = %q, want c and d named", api.TrailerPartial, tr)
	}
	if n < len(tf.expected) {
		t.Fatalf("pcapng holds %d packets, fewer than a and b's %d", n, len(tf.expected))
	}
	var names2 []string
	for _, it := range r.Interfaces() {
		names2 = append(names2, it.Name)
	}
	if want := []string{"a/eth0", "b/eth0", "c/eth0"}; !slices.Equal(names2, want) {
		t.Fatalf("pcapng interfaces %q, want %q", names2, want)
	}
}

// TestFleetWhole: with every sensor answering, no trailer, no missing,
// and the count is the sum.
func TestFleetWhole(t *testing.T) {
	tf := newTestFleet(t, 0)
	resp := tf.get(t, "count=true")
	var c selection.CountAnswer
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// d refuses: named; a, b and c counted.
	if c.Count != 900 || len(c.Missing) != 1 || c.Missing[0].Sensor != "d" {
		t.Fatalf("count answer %+v, want 900 and d missing", c)
	}
	resp = tf.get(t, "format=json&filter="+urlq("udp port 1005"))
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 4 { // one packet from each of a, b, c, and the end
		t.Fatalf("filtered answer:\n%s", b)
	}
	// describe counts with the filter, on every sensor that answers.
	resp = tf.get(t, "describe=true&filter="+urlq("udp port 1005"))
	var d selection.Description
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if d.Packets != 3 || len(d.Interfaces) != 3 || len(d.Missing) != 1 || d.FirstNS != sensorPackets(1, 300)[5].ts {
		t.Fatalf("describe %+v, want 3 packets of a/eth0, b/eth0, c/eth0 from a's 6th, d missing", d)
	}
	_ = fmt.Sprint
}

func urlq(s string) string { return strings.ReplaceAll(s, " ", "+") }
