package daemon

import "net/http"

// handleHealthz answers 200 while the daemon runs, with what it is
// doing; 503 while retention has paused recording for want of room.
func (d *Daemon) handleHealthz(w http.ResponseWriter, r *http.Request) {
	if d.paused.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "paused: no room, holds forbid deleting"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "recording": d.statusLine()})
}
