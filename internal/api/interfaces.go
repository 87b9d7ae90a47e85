package api

import "net/http"

// handleInterfaces is GET /api/v1/interfaces: each configured interface,
// its state and counters.
func (s *Server) handleInterfaces(w http.ResponseWriter, r *http.Request) error {
	if s.opts.Interfaces == nil {
		return errNotFound("this server reports no interfaces")
	}
	WriteJSON(w, http.StatusOK, s.opts.Interfaces())
	return nil
}
