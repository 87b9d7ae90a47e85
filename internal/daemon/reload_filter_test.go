package daemon

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/packetrecorderd/packetrecorderd/internal/capture"
	"github.com/packetrecorderd/packetrecorderd/internal/netlab"
)

// TestReloadRefusesFilterForLinkType: a reload's new filter must compile
// for the interface's own link type, not only for Ethernet as the
// configuration checks it: on a tun device (raw IP), "ether host ..." is
// refused, naming the key, and the interface keeps its runner and its
// filter; a filter it can take is swapped in. The refused one used to be
// accepted, and the interface restarted to fail every second.
func TestReloadRefusesFilterForLinkType(t *testing.T) {
	netlab.Require(t)
	b := make([]byte, 3)
	rand.Read(b)
	tun := "prdRF" + hex.EncodeToString(b)
	netlab.Run(t, "ip", "tuntap", "add", "dev", tun, "mode", "tun")
	t.Cleanup(func() { netlab.Run(t, "ip", "link", "del", tun) })
	dir := t.TempDir()
	path := filepath.Join(dir, "c.yaml")
	write := func(filter string) {
		t.Helper()
		c := fmt.Sprintf("store: %s\nlisten: 127.0.0.1:0\ninterfaces:\n  - name: %s\n    filter: %q\n", filepath.Join(dir, "store"), tun, filter)
		if err := os.WriteFile(path, []byte(c), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("ip")
	cfg, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d := &Daemon{path: path, cfg: cfg, log: slog.New(slog.DiscardHandler), runners: map[string]*ifaceRunner{}, notify: &notifier{}}
	r := newRunner(d, cfg.Interfaces[0], d.segmentLimits(cfg))
	setup, err := capture.NewLive(capture.LiveConfig{Interface: tun})
	if err != nil {
		t.Fatal(err)
	}
	r.setup = setup // as while its rings are open
	d.runners[tun] = r

	write("ether host aa:bb:cc:dd:ee:ff")
	err = d.Reload()
	if !errors.Is(err, ErrReload) || !strings.Contains(err.Error(), "interfaces.0.filter") {
		t.Fatalf("reload with an Ethernet filter on a tun device: %v", err)
	}
	if d.runners[tun] != r || r.Filter() != "ip" || d.cfg.Interfaces[0].Filter != "ip" {
		t.Errorf("after the refused reload: runner replaced %v, filter %q, configured %q", d.runners[tun] != r, r.Filter(), d.cfg.Interfaces[0].Filter)
	}
	write("udp")
	if err := d.Reload(); err != nil {
		t.Fatalf("reload with a filter the tun device takes: %v", err)
	}
	if d.runners[tun] != r || r.Filter() != "udp" {
		t.Errorf("after the reload: runner replaced %v, filter %q", d.runners[tun] != r, r.Filter())
	}
}
