package daemon

import (
	"net/http"
	"strings"

	"github.com/packetrecorderd/packetrecorderd/internal/api"
)

// handleHealthz answers 200 while every configured interface records,
// and 503 otherwise, with the reasons in the body: an interface down,
// missing, failed (a full disk: until retention has made room), starting
// or paused (retention found no room and holds forbid deleting).
func (d *Daemon) handleHealthz(w http.ResponseWriter, r *http.Request) {
	var reasons []string
	if d.paused.Load() {
		reasons = append(reasons, "paused: no room, holds forbid deleting")
	}
	for _, ir := range d.runnerListLocked() {
		st := ir.State()
		if st == StateRecording {
			continue
		}
		why := ir.cfg.Name + ": " + st
		if msg, _ := ir.lastErr.Load().(string); msg != "" {
			why += ": " + msg
		}
		reasons = append(reasons, why)
	}
	if len(reasons) > 0 {
		api.WriteJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "unhealthy: " + strings.Join(reasons, "; "),
			"reasons": reasons, "recording": d.statusLine()})
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok", "recording": d.statusLine()})
}
