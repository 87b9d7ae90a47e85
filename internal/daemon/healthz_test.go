package daemon

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestHealthzTellsWhichInterface: 503 while any configured interface does
// not record, naming it with its state and error; 200 once all record.
func TestHealthzTellsWhichInterface(t *testing.T) {
	l := newRetentionLab(t, "  max_bytes: 1GiB")
	d := l.d
	for _, it := range d.cfg.Interfaces {
		d.runners[it.Name] = newRunner(d, it, segmentLimits{})
	}
	r := d.runners["eth0"]
	get := func() (int, string) {
		w := httptest.NewRecorder()
		d.handleHealthz(w, httptest.NewRequest("GET", "/healthz", nil))
		return w.Code, w.Body.String()
	}
	r.setState(StateFailed, errors.New("store packets: disk full"))
	if code, body := get(); code != 503 || !strings.Contains(body, "eth0: failed: store packets: disk full") {
		t.Errorf("failed interface: %d %s", code, body)
	}
	r.setState(StateRecording, nil)
	if code, body := get(); code != 200 || !strings.Contains(body, `"ok"`) {
		t.Errorf("recording: %d %s", code, body)
	}
	d.paused.Store(true)
	if code, body := get(); code != 503 || !strings.Contains(body, "paused") {
		t.Errorf("paused: %d %s", code, body)
	}
}
