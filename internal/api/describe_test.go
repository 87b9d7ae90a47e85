package api

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/packetrecorderd/packetrecorderd/internal/selection"
)

// TestDescribeIsTheSelection: describe=true reports the packets of the
// selection the same query would stream (its window, interface and the
// token's forced filter), never the whole segments it lies in: a token
// must not learn how many packets it may not see. The counts come from
// how the test store was built (packet i at base + i ms, UDP to port
// 1000 + i%10).
func TestDescribeIsTheSelection(t *testing.T) {
	dir := makeStore(t)
	ts := newTestServer(t, dir, accessOf(reader, forced))
	cases := []struct {
		name, query, secret string
		packets             int64
		first, last         int // packet numbers of the span; -1: empty
	}{
		{"all", "", "r-secret", testPackets, 0, testPackets - 1},
		{"window", "since=" + rfc(1000) + "&until=" + rfc(1999), "r-secret", 1000, 1000, 1999},
		{"window and interface", "interface=eth0&since=" + rfc(10) + "&until=" + rfc(19), "r-secret", 10, 10, 19},
		{"forced filter", "", "f-secret", testPackets / 10, 3, testPackets - 7},
		{"forced filter and window", "since=" + rfc(0) + "&until=" + rfc(99), "f-secret", 10, 3, 93},
		{"own filter", "filter=" + url.QueryEscape("src host 10.0.0.2") + "&since=" + rfc(0) + "&until=" + rfc(99), "r-secret", 50, 1, 99},
		{"contradiction", "filter=" + url.QueryEscape("src host 10.0.0.1"), "f-secret", 0, -1, -1},
	}
	for _, c := range cases {
		resp := ts.do(t, "GET", "/api/v1/packets?describe=true&"+c.query, c.secret, nil)
		body := readBody(t, resp)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %d %s", c.name, resp.StatusCode, body)
			continue
		}
		var sel selection.Description
		if err := json.Unmarshal([]byte(body), &sel); err != nil {
			t.Fatalf("%s: %v: %s", c.name, err, body)
		}
		if sel.Packets != c.packets {
			t.Errorf("%s: describe says %d packets, the selection has %d", c.name, sel.Packets, c.packets)
		}
		wantFirst, wantLast := int64(0), int64(0)
		if c.first >= 0 {
			wantFirst = base.UnixNano() + int64(c.first)*1e6
			wantLast = base.UnixNano() + int64(c.last)*1e6
		}
		if sel.FirstNS != wantFirst || sel.LastNS != wantLast {
			t.Errorf("%s: span %d..%d, want %d..%d", c.name, sel.FirstNS, sel.LastNS, wantFirst, wantLast)
		}
		// What describe says agrees with what count says.
		resp = ts.do(t, "GET", "/api/v1/packets?count=true&"+c.query, c.secret, nil)
		var n map[string]int64
		if err := json.Unmarshal([]byte(readBody(t, resp)), &n); err != nil || n["count"] != c.packets {
			t.Errorf("%s: count says %v, want %d", c.name, n, c.packets)
		}
	}
}

// TestBearerSchemeAnyCase: the authentication scheme is case-insensitive
// (RFC 7235 section 2.1): "bearer", "BEARER" and "Bearer" are one scheme.
func TestBearerSchemeAnyCase(t *testing.T) {
	dir := makeStore(t)
	ts := newTestServer(t, dir, accessOf(reader))
	for _, h := range []string{"Bearer r-secret", "bearer r-secret", "BEARER r-secret", "bEaReR   r-secret"} {
		req, _ := http.NewRequest("GET", ts.URL+"/api/v1/status", nil)
		req.Header.Set("Authorization", h)
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if readBody(t, resp); resp.StatusCode != 200 {
			t.Errorf("Authorization: %s: %d, want 200", h, resp.StatusCode)
		}
	}
	for _, h := range []string{"Basic r-secret", "Bearerr-secret", "r-secret"} {
		req, _ := http.NewRequest("GET", ts.URL+"/api/v1/status", nil)
		req.Header.Set("Authorization", h)
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if readBody(t, resp); resp.StatusCode != 401 {
			t.Errorf("Authorization: %s: %d, want 401", h, resp.StatusCode)
		}
	}
}

// TestAuditLineSaysWhatWasAsked: a query's audit line names its
// interface, whether it only counted or described, and the packets it
// gave.
func TestAuditLineSaysWhatWasAsked(t *testing.T) {
	dir := makeStore(t)
	ts := newTestServer(t, dir, accessOf(reader))
	for _, q := range []string{"interface=eth0&count=true&since=" + rfc(0) + "&until=" + rfc(9),
		"interface=eth0&describe=true&since=" + rfc(0) + "&until=" + rfc(19)} {
		if resp := ts.do(t, "GET", "/api/v1/packets?"+q, "r-secret", nil); readBody(t, resp) == "" || resp.StatusCode != 200 {
			t.Fatalf("%s: %d", q, resp.StatusCode)
		}
	}
	lines := strings.Split(strings.TrimSpace(ts.audit.String()), "\n")
	var audits []string
	for _, l := range lines {
		if strings.Contains(l, "msg=audit") {
			audits = append(audits, l)
		}
	}
	if len(audits) != 2 {
		t.Fatalf("%d audit lines, want 2:\n%s", len(audits), ts.audit.String())
	}
	for i, want := range [][]string{{"interface=eth0", "count=true", "describe=false", "packets=10 "},
		{"interface=eth0", "count=false", "describe=true", "packets=20 "}} {
		for _, w := range want {
			if !strings.Contains(audits[i], w) {
				t.Errorf("audit line %d lacks %q: %s", i, w, audits[i])
			}
		}
	}
}
