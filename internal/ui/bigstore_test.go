package ui

import (
	"encoding/binary"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/api"
	"github.com/packetrecorderd/packetrecorderd/internal/archive"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

// BenchmarkUIBigStore times the pages on a big store: PRD_UI_BIGSTORE
// names the store directory, filled once with PRD_UI_BIGSTORE_GIB GiB
// (default 10) of 1000-byte packets in 64 MiB segments (default: a 1 GiB
// store in a temporary directory). The overview (with its timeline) and
// holds must answer within 1 s; each iteration is one overview.
//
//	PRD_UI_BIGSTORE=/var/tmp/big go test -run '^$' -bench UIBigStore -benchtime 20x ./internal/ui/
func BenchmarkUIBigStore(b *testing.B) {
	t := b
	dir := os.Getenv("PRD_UI_BIGSTORE")
	if dir == "" {
		dir = filepath.Join(b.TempDir(), "store")
		os.Setenv("PRD_UI_BIGSTORE_GIB", "1")
	}
	gib, _ := strconv.ParseFloat(os.Getenv("PRD_UI_BIGSTORE_GIB"), 64)
	if gib == 0 {
		gib = 10
	}
	if !archive.IsStore(dir) {
		start := time.Now()
		fillStore(t, dir, int64(gib*(1<<30)), 64<<20)
		t.Logf("filled %s with %.1f GiB in %s", dir, gib, time.Since(start).Round(time.Second))
	}
	var size int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			size += fi.Size()
		}
		return nil
	})
	access := api.Access{Tokens: []api.Token{{Name: "analyst", SHA256: api.TokenSum(adminSecret), Scopes: []string{api.ScopeRead}}}}
	h, _ := storeUI(t, dir, access, Options{})
	ts := httptest.NewServer(h)
	defer ts.Close()
	fx := &uiFixture{url: ts.URL}
	c := fx.client(t, adminSecret)
	for _, p := range []string{"/ui/", "/ui/", "/ui/?since=" + time.Unix(0, bigBase).UTC().Add(time.Minute).Format(time.RFC3339) + "&until=" + time.Unix(0, bigBase).UTC().Add(2*time.Minute).Format(time.RFC3339), "/ui/holds"} {
		start := time.Now()
		resp, err := c.Get(ts.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		el := time.Since(start)
		t.Logf("GET %s on %.2f GiB: %s, %d bytes, %s", p, float64(size)/(1<<30), resp.Status, n, el.Round(time.Millisecond))
		if resp.StatusCode != http.StatusOK || el > time.Second {
			t.Errorf("GET %s: %s in %s, want 200 within 1 s", p, resp.Status, el)
		}
	}
	// Searches read packets: timed, not bounded (a page of packets is
	// paged by the server; flows read their window whole).
	mid := time.Unix(0, bigBase).UTC().Add(5 * time.Minute)
	for _, p := range []string{"/ui/packets", "/ui/packets?page=50",
		"/ui/flows?since=" + mid.Format(time.RFC3339) + "&until=" + mid.Add(time.Second).Format(time.RFC3339)} {
		start := time.Now()
		resp, err := c.Get(ts.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		t.Logf("GET %s: %s in %s", p, resp.Status, time.Since(start).Round(time.Millisecond))
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		resp, err := c.Get(ts.URL + "/ui/")
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

const bigBase = int64(1_780_000_000e9)

// fillStore records bytes of 1000-byte packets, 20,000 a second, into
// segments of segBytes.
func fillStore(t testing.TB, dir string, bytes, segBytes int64) {
	a, err := archive.Open(dir, archive.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	rec, err := archive.NewRecording(dir, archive.RecordingConfig{Interface: "eth0", LinkType: 1, Snaplen: 65535, MaxBytes: segBytes})
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()
	const size, gap = 1000, int64(50_000)
	data := make([]byte, size)
	var b store.Block
	var written, i int64
	for written < bytes {
		b.Reset(1)
		for b.Count < 250 {
			binary.BigEndian.PutUint64(data[14:], uint64(i))
			b.Append(bigBase+i*gap, size, data)
			i++
		}
		if err := rec.Append(&b); err != nil {
			t.Fatal(err)
		}
		written += int64(len(b.Data))
		if i%(250*16) == 0 {
			if err := rec.Commit(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := rec.Commit(); err != nil {
		t.Fatal(err)
	}
}
