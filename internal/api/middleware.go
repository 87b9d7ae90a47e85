package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

// need admits a request whose principal holds scope, within its rate,
// and answers the handler's error if it returns one before writing.
func (s *Server) need(scope string, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g := s.guard.Load()
		p, err := g.authenticate(r)
		if err != nil {
			s.opts.Log.Warn("request refused", "remote", r.RemoteAddr, "path", r.URL.Path, "why", err.Error())
			writeError(w, &apiError{status: http.StatusUnauthorized, msg: err.Error()})
			return
		}
		if !p.may(scope) {
			s.opts.Log.Warn("request refused", "remote", r.RemoteAddr, "who", p.name, "path", r.URL.Path, "why", "no "+scope+" scope")
			writeError(w, errForbidden("%s may not do this: it needs the %s scope", p.name, scope))
			return
		}
		if ok, wait := p.limiter.allow(time.Now()); !ok {
			writeError(w, &apiError{status: http.StatusTooManyRequests, msg: p.name + " is over its rate of requests", retryAfter: wait})
			return
		}
		ctx := context.WithValue(r.Context(), ctxKey{}, p)
		if err := h(w, r.WithContext(ctx)); err != nil {
			writeError(w, err)
		}
	})
}

// audit is what the audit line of a query says; the handler fills it in.
type audit struct {
	query           string
	iface           string
	since, until    string
	format          string
	count, describe bool // only the number, or the shape, was asked for
	packets, bytes  int64
	truncated       bool
	err             error
	// plan is what the walk read of the store: blocks read of those in
	// its window, segments the catalog skipped (see store.PlanStats).
	plan store.PlanStats
}

type auditKey struct{}

func auditOf(r *http.Request) *audit { return r.Context().Value(auditKey{}).(*audit) }

// query runs a packet query: within the principal's concurrent queries,
// with an audit line when it ends, however it ends.
func (s *Server) query(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		p := who(r)
		if !p.limiter.acquire() {
			return &apiError{status: http.StatusTooManyRequests, retryAfter: time.Second,
				msg: p.name + " already runs its most concurrent queries (" + itoa(p.limiter.limits.Concurrent) + ")"}
		}
		defer p.limiter.release()
		a := &audit{}
		start := time.Now()
		err := h(w, r.WithContext(context.WithValue(r.Context(), auditKey{}, a)))
		if a.err == nil {
			a.err = err
		}
		result := "ok"
		switch {
		case a.err == nil:
		case errors.Is(a.err, context.Canceled) || r.Context().Err() != nil:
			result = "client went away"
		default:
			result = a.err.Error()
		}
		s.opts.Log.Info("audit", "who", p.name, "remote", r.RemoteAddr, "method", r.Method, "path", r.URL.Path,
			"query", a.query, "interface", a.iface, "since", a.since, "until", a.until, "format", a.format,
			"count", a.count, "describe", a.describe,
			"packets", a.packets, "bytes", a.bytes, "truncated", a.truncated,
			"blocks_read", a.plan.Read, "blocks", a.plan.Blocks, "segments_skipped", a.plan.SegmentsSkipped, "segments", a.plan.Segments,
			"duration", time.Since(start).Round(time.Microsecond).String(), "result", result)
		return err
	}
}
