package api

import "net/http"

// handleStatus is GET /api/v1/status: the daemon's status.
func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) error {
	if s.opts.Status == nil {
		return errNotFound("this server reports no status")
	}
	WriteJSON(w, http.StatusOK, s.opts.Status())
	return nil
}
