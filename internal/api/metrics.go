package api

import "net/http"

// metrics serves /metrics to principals with the metrics scope, or to
// anyone when the access rules make it public.
func (s *Server) metrics() http.Handler {
	scoped := s.need(ScopeMetrics, func(w http.ResponseWriter, r *http.Request) error {
		s.opts.Metrics.ServeHTTP(w, r)
		return nil
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.guard.Load().access.MetricsPublic {
			s.opts.Metrics.ServeHTTP(w, r)
			return
		}
		scoped.ServeHTTP(w, r)
	})
}
