package api

import "net/http"

// handleInterfaces is GET /api/v1/interfaces: each configured interface,
// its state and counters.
func (s *Server) handleInterfaces(w http.ResponseWriter, r *http.Request) error {
	WriteJSON(w, http.StatusOK, s.opts.Interfaces())
	return nil
}
