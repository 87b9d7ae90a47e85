package daemon

import (
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
)

// TestDegradedWhileAnyRingFails: an interface whose store writes fail on
// one ring of two is degraded (503, the error named) until that ring's
// writes succeed again, whatever the other ring reports meanwhile; it
// used to take the last ring's report, and flapped.
func TestDegradedWhileAnyRingFails(t *testing.T) {
	l := newRetentionLab(t, "  max_bytes: 1GiB")
	d := l.d
	for _, it := range d.cfg.Interfaces {
		d.runners[it.Name] = newRunner(d, it, segmentLimits{})
	}
	r := d.runners["eth0"]
	r.setState(StateRecording, nil)
	live := []liveRing{{writeErr: new(atomic.Pointer[error])}, {writeErr: new(atomic.Pointer[error])}}
	get := func() (int, string) {
		w := httptest.NewRecorder()
		d.handleHealthz(w, httptest.NewRequest("GET", "/healthz", nil))
		return w.Code, w.Body.String()
	}
	eio := error(&writeTestErr{syscall.EIO})
	live[0].writeErr.Store(&eio)
	r.writeState(live)
	r.writeState(live) // ring 1 reports too: no error of its own
	if code, body := get(); code != 503 || !strings.Contains(body, "eth0: degraded") || !strings.Contains(body, "1 of 2 rings") {
		t.Fatalf("one ring failing: %d %s", code, body)
	}
	live[0].writeErr.Store(nil)
	r.writeState(live)
	if code, body := get(); code != 200 || r.State() != StateRecording {
		t.Fatalf("writes back: %d %s", code, body)
	}
}

type writeTestErr struct{ errno syscall.Errno }

func (e *writeTestErr) Error() string { return "commit: " + e.errno.Error() }
func (e *writeTestErr) Unwrap() error { return e.errno }
