package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/packetrecorderd/packetrecorderd/internal/selection"
)

// countingSelector counts the selections a server opens.
type countingSelector struct {
	selection.Store
	n atomic.Int64
}

func (c *countingSelector) Select(ctx context.Context, spec selection.Spec) (*selection.Selection, error) {
	c.n.Add(1)
	return c.Store.Select(ctx, spec)
}

// TestOneSelectionPerRequest: every request that reads packets opens the
// store once, Stenographer's query of several time windows included (it
// opened the store once for the hull and again for each window).
func TestOneSelectionPerRequest(t *testing.T) {
	dir := makeStore(t)
	ts := newTestServer(t, dir, accessOf(reader, forced))
	sel := &countingSelector{Store: selection.Store{Dir: dir}}
	ts.srv.opts.Selector = sel
	for _, q := range []string{"filter=udp&format=json", "filter=udp&count=true", "filter=udp&describe=true", "format=pcapng&limit=5"} {
		for _, secret := range []string{"r-secret", "f-secret"} {
			sel.n.Store(0)
			resp := ts.do(t, "GET", "/api/v1/packets?"+q, secret, nil)
			if body := readBody(t, resp); resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: %d %s", q, resp.StatusCode, body)
			}
			if n := sel.n.Load(); n != 1 {
				t.Errorf("GET /api/v1/packets?%s: %d selections opened, want 1", q, n)
			}
		}
	}
	sel.n.Store(0)
	query := "(after " + rfc(2990) + " and port 1003) or before " + rfc(2) + " or (after " + rfc(1000) + " and before " + rfc(1010) + ")"
	req, _ := http.NewRequest("POST", ts.URL+"/query", strings.NewReader(query))
	req.Header.Set("Authorization", "Bearer r-secret")
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(readBody(t, resp))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("steno query: %d %s", resp.StatusCode, body)
	}
	// Three windows (steno orders them by time), each with its filter.
	samePackets(t, query, readPcap(t, body), append(append(want(0, 3, nil), want(1000, 1011, nil)...), want(2990, 3000, func(i int) bool { return i%10 == 3 })...))
	if n := sel.n.Load(); n != 1 {
		t.Errorf("a Stenographer query of 3 windows opened %d selections, want 1", n)
	}
}

// TestNoStore: a server given no store (nor status) answers every
// request for its packets, recordings, holds, status or interfaces with a
// 404 and a line, never a panic.
func TestNoStore(t *testing.T) {
	s := New(Options{}, accessOf(admin))
	ts := httptest.NewServer(s)
	defer ts.Close()
	for _, c := range []struct{ method, path string }{
		{"GET", "/api/v1/packets"}, {"GET", "/api/v1/packets?count=true"}, {"GET", "/api/v1/sessions"},
		{"GET", "/api/v1/holds"}, {"DELETE", "/api/v1/holds/1"}, {"GET", "/api/v1/status"}, {"GET", "/api/v1/interfaces"},
	} {
		req, _ := http.NewRequest(c.method, ts.URL+c.path, nil)
		req.Header.Set("Authorization", "Bearer a-secret")
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", c.method, c.path, err)
		}
		if body := readBody(t, resp); resp.StatusCode != http.StatusNotFound || !strings.Contains(body, `"error"`) {
			t.Errorf("%s %s: %d %s, want 404 and an error", c.method, c.path, resp.StatusCode, body)
		}
	}
}
