package api

import "net/http"

// handleSessions is GET /api/v1/sessions: the store's recordings, as
// `sessions -d STORE --json` lists them.
func (s *Server) handleSessions(w http.ResponseWriter, r *http.Request) error {
	if pr, ok := s.opts.Selector.(PartialRecordings); ok {
		recs, missing, err := pr.RecordingsPartial(r.Context())
		if err != nil {
			return err
		}
		if len(missing) > 0 {
			w.Header().Set(TrailerPartial, PartialText(missing))
		}
		WriteJSON(w, http.StatusOK, recs)
		return nil
	}
	recs, err := s.opts.Selector.Recordings()
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, recs)
	return nil
}
