package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/selection"
)

// getFlows asks GET /api/v1/flows?query and returns its flows and end
// object, failing unless it is a 200 of NDJSON ending in one end object.
func getFlows(t *testing.T, ts *testServer, query, secret string) ([]selection.Flow, selection.FlowsEnd) {
	t.Helper()
	resp := ts.do(t, "GET", "/api/v1/flows?"+query, secret, nil)
	body := readBody(t, resp)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != TypeNDJSON {
		t.Fatalf("%s: %d %s %s", query, resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	lines := strings.Split(strings.TrimSpace(body), "\n")
	var flows []selection.Flow
	for _, l := range lines[:len(lines)-1] {
		var f selection.Flow
		if err := json.Unmarshal([]byte(l), &f); err != nil || f.CommunityID == "" {
			t.Fatalf("%s: line %q: %v", query, l, err)
		}
		flows = append(flows, f)
	}
	var end map[string]*selection.FlowsEnd
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &end); err != nil || end["end"] == nil {
		t.Fatalf("%s: last line %q: %v", query, lines[len(lines)-1], err)
	}
	if e := end["end"]; e.Shown != int64(len(flows)) {
		t.Errorf("%s: end says %d shown, %d sent", query, e.Shown, len(flows))
	}
	return flows, *end["end"]
}

// testFlow is the flow of the test store's packets to UDP port 1000+k
// (from 10.0.0.(1+k%2), port 40000), packets i = k, k+10, ... within
// [from, to), from first principles: a packet i is at base + i ms and
// takes 55 bytes on the wire (14 Ethernet, 20 IP, 8 UDP, 13 payload).
func testFlow(k, from, to int) (src string, packets, firstNS, lastNS int64) {
	first := from + (k-from%10+10)%10
	last := to - 1 - (to-1-k+10)%10
	src = "10.0.0.1"
	if k%2 == 1 {
		src = "10.0.0.2"
	}
	at := func(i int) int64 { return base.Add(time.Duration(i) * time.Millisecond).UnixNano() }
	return src, int64((last-first)/10 + 1), at(first), at(last)
}

// TestFlowsSelections: GET /api/v1/flows lists the flows of the packets
// endpoint's selections, each counted over all its packets of the window
// that the token may read, listed when any of them matches the filter;
// sorted and cut at the limit; ended by the end object.
func TestFlowsSelections(t *testing.T) {
	dir := makeStore(t)
	// The early token reads only packets 0-999: the payload's third
	// digit ("packet 000123": udp[17]) is '0'.
	early := tokenSpec{name: "early", secret: "e-secret", scopes: []string{ScopeRead}, filter: "udp[17:1] = 0x30"}
	ts := newTestServer(t, dir, accessOf(reader, forced, early, narrow))
	check := func(what string, got []selection.Flow, ks []int, from, to int) {
		t.Helper()
		if len(got) != len(ks) {
			t.Errorf("%s: %d flows, want %d: %+v", what, len(got), len(ks), got)
			return
		}
		for i, k := range ks {
			src, n, first, last := testFlow(k, from, to)
			f := got[i]
			if f.Proto != "udp" || f.IPProto != 17 || f.Src != src || f.Sport != 40000 || f.Dst != "10.0.1.1" || f.Dport != uint16(1000+k) ||
				f.Packets != uint64(n) || f.SrcPackets != uint64(n) || f.DstPackets != 0 || f.Bytes != uint64(55*n) || f.SrcBytes != f.Bytes ||
				f.FirstNS != first || f.LastNS != last || f.TCPFlags != 0 || !strings.HasPrefix(f.CommunityID, "1:") {
				t.Errorf("%s: flow %d is %+v, want %s:40000 -> 10.0.1.1:%d, %d packets, %d..%d", what, i, f, src, 1000+k, n, first, last)
			}
		}
	}
	all := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}

	flows, end := getFlows(t, ts, "", "r-secret")
	check("all", flows, all, 0, testPackets)
	if !reflect.DeepEqual(end, selection.FlowsEnd{Flows: 10, Shown: 10, Packets: testPackets, Bytes: 55 * testPackets, PacketsRead: testPackets}) {
		t.Errorf("all: end %+v", end)
	}
	flows, _ = getFlows(t, ts, "interface=eth0&since="+url.QueryEscape(rfc(1000))+"&until="+url.QueryEscape(rfc(1999)), "r-secret")
	check("window", flows, all, 1000, 2000)

	// Packet 1234 alone matches; its flow (port 1004) is listed whole.
	flows, end = getFlows(t, ts, "filter="+url.QueryEscape("udp[17:4] = 0x31323334"), "r-secret")
	check("one packet's flow", flows, []int{4}, 0, testPackets)
	if end.Flows != 1 || end.Packets != testPackets/10 || end.PacketsRead != testPackets {
		t.Errorf("one packet's flow: end %+v", end)
	}

	// The forced filter narrows the flows: the forced token sees flow
	// 1003 alone; the early token every flow's first 1000 ms only, its
	// packet 1234 not at all.
	flows, _ = getFlows(t, ts, "", "f-secret")
	check("forced", flows, []int{3}, 0, testPackets)
	flows, _ = getFlows(t, ts, "filter="+url.QueryEscape("src host 10.0.0.1"), "f-secret")
	check("forced and own", flows, nil, 0, testPackets)
	flows, end = getFlows(t, ts, "filter="+url.QueryEscape("udp dst port 1003"), "e-secret")
	check("early, port 1003", flows, []int{3}, 0, 1000)
	if end.PacketsRead != 1000 {
		t.Errorf("early: %d packets read, want the 1000 it may read", end.PacketsRead)
	}
	flows, _ = getFlows(t, ts, "filter="+url.QueryEscape("udp[17:4] = 0x31323334"), "e-secret")
	check("early, packet 1234", flows, nil, 0, testPackets)

	// Sorts and the limit: from packet 5 on, flows 0-4 have 299 packets
	// and flows 5-9 300, and last 10 ms less.
	since := "since=" + url.QueryEscape(rfc(5))
	for _, c := range []struct {
		q  string
		ks []int
	}{
		{"&sort=packets&limit=3", []int{5, 6, 7}},
		{"&sort=bytes&limit=2", []int{5, 6}},
		{"&sort=duration&limit=6", []int{5, 6, 7, 8, 9, 0}},
		{"&sort=start&limit=4", []int{5, 6, 7, 8}},
		{"&limit=0", []int{5, 6, 7, 8, 9, 0, 1, 2, 3, 4}},
	} {
		flows, end = getFlows(t, ts, since+c.q, "r-secret")
		check(c.q, flows, c.ks, 5, testPackets)
		if end.Flows != 10 || end.Shown != int64(len(c.ks)) || end.Packets != testPackets-5 {
			t.Errorf("%s: end %+v", c.q, end)
		}
	}

	// One Community ID: that flow alone.
	flows, _ = getFlows(t, ts, "", "r-secret")
	cid := flows[7].CommunityID
	got, _ := getFlows(t, ts, "community_id="+url.QueryEscape(cid), "r-secret")
	check("community id", got, []int{7}, 0, testPackets)
	if got, _ := getFlows(t, ts, "community_id="+url.QueryEscape(cid)+"&community_id_seed=1", "r-secret"); len(got) != 0 {
		t.Errorf("another seed: %+v", got)
	}

	// The narrow token's window applies.
	if flows, _ := getFlows(t, ts, "since="+url.QueryEscape(rfc(0))+"&until="+url.QueryEscape(rfc(999)), "n-secret"); len(flows) != 10 {
		t.Errorf("narrow token in its window: %d flows", len(flows))
	}

	var audits []string
	for _, l := range strings.Split(ts.audit.String(), "\n") {
		if strings.Contains(l, "msg=audit") && strings.Contains(l, "path=/api/v1/flows") {
			audits = append(audits, l)
		}
	}
	if len(audits) == 0 || !strings.Contains(audits[0], `who="token reader"`) || !strings.Contains(audits[0], "format=flows") ||
		!strings.Contains(strings.Join(audits, "\n"), `query="udp dst port 1003"`) {
		t.Errorf("audit lines:\n%s", strings.Join(audits, "\n"))
	}
}

// TestFlowsBadInput: mistakes get a 4xx with one line saying what is
// wrong; a token without the read scope, or reading past its window, is
// refused.
func TestFlowsBadInput(t *testing.T) {
	dir := makeStore(t)
	ts := newTestServer(t, dir, accessOf(reader, scrape, narrow))
	for _, c := range []struct {
		query, secret string
		status        int
		says          string
	}{
		{"sort=size", "r-secret", 400, "invalid sort"},
		{"limit=-1", "r-secret", 400, "invalid limit"},
		{"limit=many", "r-secret", 400, "invalid limit"},
		{"format=pcap", "r-secret", 400, "unknown parameter"},
		{"sort=bytes&sort=packets", "r-secret", 400, "given 2 times"},
		{"filter=" + url.QueryEscape("udp and"), "r-secret", 400, "filter"},
		{"community_id=1:nope", "r-secret", 400, "community_id"},
		{"community_id_seed=70000", "r-secret", 400, "community_id_seed"},
		{"since=" + url.QueryEscape(rfc(10)) + "&until=" + url.QueryEscape(rfc(5)), "r-secret", 400, "after until"},
		{"since=yesterdayish", "r-secret", 400, "since"},
		{"interface=../x", "r-secret", 400, "interface"},
		{"interface=eth7", "r-secret", 404, "eth7"},
		{"", "n-secret", 403, "at most"},
		{"", "m-secret", 403, "scope"},
		{"", "", 401, ""},
	} {
		resp := ts.do(t, "GET", "/api/v1/flows?"+c.query, c.secret, nil)
		body := readBody(t, resp)
		var e map[string]string
		if resp.StatusCode != c.status || json.Unmarshal([]byte(body), &e) != nil || !strings.Contains(e["error"], c.says) || strings.Contains(e["error"], "\n") {
			t.Errorf("%q as %q: %d %s, want %d with %q", c.query, c.secret, resp.StatusCode, body, c.status, c.says)
		}
	}
}

// missingFlows is a hub's flow lister whose answer lacks a sensor.
type missingFlows struct{}

func (missingFlows) ListFlows(context.Context, selection.Spec, selection.FlowOptions) (selection.FlowList, error) {
	return selection.FlowList{Flows: []selection.Flow{{CommunityID: "1:x", Proto: "udp"}},
		End: selection.FlowsEnd{Flows: 1, Shown: 1, Missing: []selection.Missing{{Sensor: "s3", Error: "its records are 10m behind"}}}}, nil
}

// TestFlowsPartialTrailer: a hub's flows that lack a sensor say so as
// its packets do, in the Packetrecorder-Partial trailer as well as in the
// end line (the end line alone said it).
func TestFlowsPartialTrailer(t *testing.T) {
	ts := newOptionsServer(t, Options{Selector: noStore{}, Flows: missingFlows{}}, accessOf(reader))
	resp := ts.do(t, "GET", "/api/v1/flows", "r-secret", nil)
	body := readBody(t, resp)
	if resp.StatusCode != 200 || !strings.Contains(body, `"sensor":"s3"`) {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if got := resp.Trailer.Get(TrailerPartial); !strings.Contains(got, "s3: its records are 10m behind") {
		t.Errorf("trailer %q, want s3 named", got)
	}
}

// downFleet selects from a fleet whose only sensor could not be asked.
type downFleet struct{}

func (downFleet) Select(ctx context.Context, spec selection.Spec) (*selection.Selection, error) {
	spec.Server = selection.Remote{Server: "fleet", Fleet: &selection.Fleet{Missing: []selection.Missing{{Sensor: "s1", Error: "connection refused"}}}}
	return selection.Open(ctx, spec)
}

func (downFleet) Recordings() ([]selection.Recording, error) { return nil, nil }

// TestEmptyPartialAnswerHasTrailer: a fleet's answer with no packet at
// all, its sensors all down, still carries Packetrecorder-Partial, in
// every format: a pcap has no end line, and one that short went with a
// length and no trailer, looking like a whole answer of nothing.
func TestEmptyPartialAnswerHasTrailer(t *testing.T) {
	ts := newOptionsServer(t, Options{Selector: downFleet{}}, accessOf(reader))
	for _, format := range []string{"pcap", "pcapng", "json"} {
		resp := ts.do(t, "GET", "/api/v1/packets?format="+format, "r-secret", nil)
		body := readBody(t, resp)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", format, resp.StatusCode, body)
		}
		if got := resp.Trailer.Get(TrailerPartial); !strings.Contains(got, "s1: connection refused") {
			t.Errorf("%s: trailer %q, want s1 named", format, got)
		}
	}
}

// slowFleet selects from a fleet of one sensor that walks 2.5 s before
// its one packet.
type slowFleet struct{ c *selection.Client }

func (f slowFleet) Select(ctx context.Context, spec selection.Spec) (*selection.Selection, error) {
	spec.Server = selection.Remote{Server: "fleet", Fleet: &selection.Fleet{Timeout: 10 * time.Second, Sensors: []selection.FleetSensor{{Name: "s", Client: f.c}}}}
	return selection.Open(ctx, spec)
}

func (slowFleet) Recordings() ([]selection.Recording, error) { return nil, nil }

// TestKeepaliveLines: a JSON stream asked for keepalives (a hub asking
// its sensors, HeaderKeepalive) writes {"keepalive":true} while the walk
// finds nothing for longer than asked, and then the packets and the end
// line as ever; one not asked for writes none; a bad interval is a 400.
func TestKeepaliveLines(t *testing.T) {
	sensor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("describe") == "true" {
			json.NewEncoder(w).Encode(selection.Description{LinkTypes: []uint32{1}, Interfaces: []selection.DescriptionInterface{{ID: 0, Name: "eth0", LinkType: 1}}, Packets: 1})
			return
		}
		time.Sleep(2500 * time.Millisecond)
		enc := json.NewEncoder(w)
		enc.Encode(selection.PacketJSON{N: 1, TS: time.Unix(1_700_000_000, 0).UTC().Format(time.RFC3339Nano), CapLen: 2, Len: 2, LinkType: 1, Data: "abcd", Interface: "eth0"})
		enc.Encode(map[string]selection.End{"end": {Packets: 1}})
	}))
	defer sensor.Close()
	c, err := selection.Dial(selection.Remote{Server: sensor.URL})
	if err != nil {
		t.Fatal(err)
	}
	ts := newOptionsServer(t, Options{Selector: slowFleet{c}}, accessOf(reader))
	get := func(keepalive string) (int, string) {
		req, _ := http.NewRequest("GET", ts.URL+"/api/v1/packets?format=json", nil)
		req.Header.Set("Authorization", "Bearer r-secret")
		if keepalive != "" {
			req.Header.Set(selection.HeaderKeepalive, keepalive)
		}
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := get("1s")
	lines := strings.Split(strings.TrimSpace(body), "\n")
	alive := strings.Count(body, `{"keepalive":true}`)
	if code != 200 || alive < 1 || alive > 3 || !strings.HasPrefix(lines[len(lines)-1], `{"end":{"packets":1`) || !strings.Contains(lines[len(lines)-2], `"n":1`) {
		t.Errorf("asked for keepalives every 1s over a 2.5 s walk: %d, %d keepalives:\n%s", code, alive, body)
	}
	if code, body := get(""); code != 200 || strings.Contains(body, "keepalive") {
		t.Errorf("not asked: %d %s", code, body)
	}
	for _, bad := range []string{"0s", "500ms", "5m", "soon"} {
		if code, body := get(bad); code != 400 || !strings.Contains(body, selection.HeaderKeepalive) {
			t.Errorf("%s %q: %d %s, want 400", selection.HeaderKeepalive, bad, code, body)
		}
	}
}
