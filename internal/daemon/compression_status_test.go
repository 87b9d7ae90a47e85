package daemon

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/packetrecorderd/packetrecorderd/internal/cutoff"
	"github.com/packetrecorderd/packetrecorderd/internal/recorder"
	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// TestCompressionSkippedStatusAndMetrics: the blocks a recorder stored
// raw because it fell behind (its finished rings' and a running ring's
// progress, added up) show in /api/v1/status as the interface's
// compression_skipped_blocks and as
// packetrecorder_compression_skipped_blocks_total, which promtool reads.
func TestCompressionSkippedStatusAndMetrics(t *testing.T) {
	testkit.RequireTool(t, "promtool")
	l := newRetentionLab(t, "  max_bytes: 1GiB")
	d := l.d
	for _, it := range d.cfg.Interfaces {
		d.runners[it.Name] = newRunner(d, it, segmentLimits{})
	}
	r := d.runners["eth0"]
	r.setState(StateRecording, nil)
	r.total.compressionSkipped.Add(3) // rings that finished before
	live := liveRing{new(atomic.Int64), new(atomic.Int64), new(atomic.Int64), new(atomic.Int64), new(atomic.Pointer[error]), new(atomic.Pointer[cutoff.Stats]), new(atomic.Int64)}
	live.note(recorder.Progress{Stored: 100, Bytes: 6400, Received: 100, CompressionSkipped: 4})
	r.liveMu.Lock()
	r.live = []liveRing{live}
	r.liveMu.Unlock()

	b, err := json.Marshal(d.status())
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Interfaces []map[string]any `json:"interfaces"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Interfaces) != 1 || st.Interfaces[0]["compression_skipped_blocks"] != float64(3+4) {
		t.Fatalf("status interfaces: %s", b)
	}

	srv := httptest.NewServer(promhttp.HandlerFor(newMetrics(d).reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	text := string(body)
	check := exec.Command("promtool", "check", "metrics")
	check.Stdin = strings.NewReader(text)
	if out, err := check.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
	want := `packetrecorder_compression_skipped_blocks_total{interface="eth0"} 7`
	if !strings.Contains(text, "\n"+want+"\n") {
		t.Errorf("metrics lack %q:\n%s", want, text)
	}
	if !strings.Contains(text, "# TYPE packetrecorder_compression_skipped_blocks_total counter\n") {
		t.Error("packetrecorder_compression_skipped_blocks_total is not a counter")
	}
}

// TestCarryOverKeepsEveryCounter: a reload that replaces an interface's
// runner carries every counter over, so that no Prometheus counter goes
// back: the packet counts, and the compression-skipped blocks and the
// cutoff's counts, which started again at 0.
func TestCarryOverKeepsEveryCounter(t *testing.T) {
	l := newRetentionLab(t, "  max_bytes: 1GiB")
	d := l.d
	it := d.cfg.Interfaces[0]
	old := newRunner(d, it, segmentLimits{})
	old.total.stored.Add(10)
	old.total.compressionSkipped.Add(3)
	old.total.cut.add(cutoff.Stats{TruncPackets: 5, DropPackets: 2, CutBytes: 700, Flows: 4, FlowsCut: 1, Evicted: 1})
	r := newRunner(d, it, segmentLimits{})
	r.carryOver(old)
	if s := r.snapshot(); s.Stored != 10 || s.CompressionSkipped != 3 {
		t.Errorf("after the reload: %+v", s)
	}
	want := CutoffStatus{TruncatedPackets: 5, NotStored: 2, CutBytes: 700, Flows: 4, FlowsCut: 1, Evicted: 1}
	if c := r.cutoffStatus(); c == nil || *c != want {
		t.Errorf("cutoff after the reload: %+v, want %+v", c, want)
	}
}
