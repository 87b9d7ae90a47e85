package api

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/selection"
	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// FuzzPacketQuery: any query string is either refused with a 400 or
// gives a selection that keeps the promises the handler relies on, and
// the filter compiler never panics on what a client sends.
func FuzzPacketQuery(f *testing.F) {
	testkit.NoDNS(f) // a filter's host names are resolved
	for _, seed := range []string{
		"", "filter=udp+port+53&since=2026-12-04T10:00:00Z&until=2026-12-04T10:00:01Z&limit=10&format=pcapng",
		"limit=-1", "limit=1e9", "since=5m+ago&until=now", "since=1764849600.5", "format=json&data=true&count=true",
		"interface=..%2F..", "filter=tcp[13]%26%3D2", "since=2026-12-02+01:08:13&until=2026-12-02+01:08:13.999999999",
		"filter=%28%28%28%28", "a=1&a=2", "describe=yes", "%zz",
	} {
		f.Add(seed)
	}
	s := New(Options{Now: func() time.Time { return time.Unix(1764849600, 0) }}, Access{})
	f.Fuzz(func(t *testing.T, raw string) {
		r := httptest.NewRequest("GET", "/api/v1/packets", nil)
		r.URL.RawQuery = raw
		q, err := s.parsePacketQuery(r)
		if err != nil {
			ae, ok := err.(*apiError)
			if !ok || ae.status != 400 || strings.Contains(ae.msg, "\n") {
				t.Fatalf("%q: refused with %v", raw, err)
			}
			return
		}
		if q.limit < 0 || q.limit > MaxLimit {
			t.Fatalf("%q: limit %d", raw, q.limit)
		}
		if q.r.HasSince && q.r.HasUntil && q.r.Since > q.r.Until {
			t.Fatalf("%q: inverted window accepted", raw)
		}
		switch q.format {
		case "pcap", "pcapng", "json":
		default:
			t.Fatalf("%q: format %q", raw, q.format)
		}
		for _, part := range strings.Split(q.iface, "/") {
			if q.iface != "" && (part == "" || part == "." || part == ".." || strings.ContainsAny(part, "\\\x00")) || strings.Count(q.iface, "/") > 1 {
				t.Fatalf("%q: interface %q", raw, q.iface)
			}
		}
		if q.filter != "" {
			selection.CompileFilter(q.filter, []uint32{1, 113, 276}, 1)
		}
	})
}
