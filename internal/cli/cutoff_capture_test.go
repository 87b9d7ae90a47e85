package cli_test

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/netlab"
)

// TestCaptureCutoff: capture --cutoff 1KiB stores one UDP flow's first
// packets whole and the rest cut to their 42 bytes of headers, the
// original lengths kept; by the rule, with 300 bytes of payload each,
// packets 1-4 carried 0, 300, 600 and 900 bytes before them (under 1024)
// and packet 5 on carried 1200 or more: 4 whole, 36 cut. --cutoff-keep
// none stores the 4 and counts the 36. The summary says so.
func TestCaptureCutoff(t *testing.T) {
	lab := netlab.New(t, "ccu")
	dir := t.TempDir()
	for _, keep := range []string{"headers", "none"} {
		db := filepath.Join(dir, keep+".db")
		rec := start(t, "capture", "-i", lab.HostIf, "-c", "40", "-d", db, "--cutoff", "1KiB", "--cutoff-keep", keep, "udp dst port 9995")
		rec.waitLine(t, "session ", 10*time.Second)
		time.Sleep(300 * time.Millisecond)
		udp := lab.PeerUDP()
		for range 40 {
			if _, err := udp.WriteToUDP(make([]byte, 300), &net.UDPAddr{IP: lab.HostIP, Port: 9995}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Millisecond)
		}
		udp.Close()
		if code := rec.wait(t, 30*time.Second); code != 0 {
			t.Fatalf("capture exit %d: %s", code, rec.stderr)
		}
		if want := "cutoff (1024 bytes, " + keep + " kept): 36 packets cut"; !strings.Contains(rec.stderr.String(), want) {
			t.Errorf("%s: summary %q, want %q", keep, rec.stderr, want)
		}
		pkts := queryJSON(t, "-d", db, "-s", "1", "-l", "0")
		whole, cut := 0, 0
		for _, p := range pkts {
			switch {
			case p.CapLen == p.Len && p.Len == 14+20+8+300:
				whole++
			case p.CapLen == 42 && p.Len == 14+20+8+300:
				cut++
			default:
				t.Errorf("%s: packet %+v", keep, p)
			}
		}
		wantCut := 36
		if keep == "none" {
			wantCut = 0
		}
		if whole != 4 || cut != wantCut {
			t.Errorf("%s: %d whole, %d cut stored; want 4, %d", keep, whole, cut, wantCut)
		}
	}
}
