package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"time"
)

// This file is what the web UI (internal/ui) shares with the API: the
// same principals, limits, forced filters, audit lines and packet
// stream. The UI holds a session instead of a bearer token; each of its
// requests is admitted here again, so that a token removed by a reload
// ends its sessions at once.

// Principal is who a UI session acts for, as the API's access rules see
// it now.
type Principal struct {
	Name      string // "token NAME" or "certificate CN"
	Scopes    []string
	Filter    string        // forced filter, ANDed onto every query
	MaxWindow time.Duration // widest window read at once (0: any)
	p         *principal
}

// May reports whether the principal holds scope.
func (p Principal) May(scope string) bool { return p.p != nil && p.p.may(scope) }

func exported(p *principal) Principal {
	return Principal{Name: p.name, Scopes: p.scopes, Filter: p.filter, MaxWindow: p.maxWindow, p: p}
}

// TokenSum is the SHA-256 of a token's secret, what a session keeps.
func TokenSum(secret string) [32]byte { return sha256.Sum256([]byte(secret)) }

// PrincipalOf returns the principal of the token whose secret hashes to
// sum, if the access rules still hold it.
func (s *Server) PrincipalOf(sum [32]byte) (Principal, bool) {
	g := s.guard.Load()
	var found *Token
	for i := range g.access.Tokens {
		t := &g.access.Tokens[i]
		if subtle.ConstantTimeCompare(sum[:], t.SHA256[:]) == 1 && found == nil {
			found = t
		}
	}
	if found == nil {
		return Principal{}, false
	}
	name := "token " + found.Name
	return exported(&principal{name: name, scopes: found.Scopes, filter: found.Filter, maxWindow: found.MaxWindow,
		limiter: g.limiterFor(name, found.Limits.or(g.access.Limits))}), true
}

// CertificatePrincipal returns the principal of the verified client
// certificate r came with, if it has one and it grants any scope.
func (s *Server) CertificatePrincipal(r *http.Request) (Principal, bool) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.PeerCertificates) == 0 {
		return Principal{}, false
	}
	g := s.guard.Load()
	if len(g.access.ClientScopes) == 0 {
		return Principal{}, false
	}
	name := "certificate " + subject(r.TLS.PeerCertificates[0])
	return exported(&principal{name: name, scopes: g.access.ClientScopes,
		limiter: g.limiterFor(name, g.access.Limits.or(Limits{}))}), true
}

// Admit takes one request from p's rate, as every API request does; a
// refusal is an error with its status (StatusOf).
func (s *Server) Admit(p Principal) error {
	if ok, wait := p.p.limiter.allow(time.Now()); !ok {
		return &apiError{status: http.StatusTooManyRequests, msg: p.Name + " is over its rate of requests", retryAfter: wait}
	}
	return nil
}

// StatusOf is the HTTP status an error of this package is answered with,
// or an error that names its own (HTTPStatus, as a hub's PostgreSQL
// unreachable does: 503); 500 for others.
func StatusOf(err error) int {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.status
	}
	var sc interface{ HTTPStatus() int }
	if errors.As(err, &sc) {
		return sc.HTTPStatus()
	}
	return http.StatusInternalServerError
}

// UIQuery is what the audit line of a UI page that reads packets says.
type UIQuery struct {
	Filter, Interface string
	HasSince          bool
	Since             int64
	HasUntil          bool
	Until             int64
	Page              string // which page read them
}

// Query runs fn, which reads packets for p, as the API runs a query:
// within p's concurrent queries and max_window, with an audit line when
// it ends. fn returns what it read.
func (s *Server) Query(ctx context.Context, r *http.Request, p Principal, q UIQuery, fn func(ctx context.Context) (packets, bytes int64, err error)) error {
	if p.MaxWindow > 0 {
		if !q.HasSince || !q.HasUntil {
			return errForbidden("%s may read at most %s at once: give since and until", p.Name, p.MaxWindow)
		}
		if w := q.Until - q.Since; w < 0 || w > int64(p.MaxWindow) {
			return errForbidden("%s may read at most %s at once; the window asked for is %s", p.Name, p.MaxWindow, fmtDuration(w))
		}
	}
	if !p.p.limiter.acquire() {
		return &apiError{status: http.StatusTooManyRequests, retryAfter: time.Second,
			msg: p.Name + " already runs its most concurrent queries (" + itoa(p.p.limiter.limits.Concurrent) + ")"}
	}
	defer p.p.limiter.release()
	start := time.Now()
	n, b, err := fn(ctx)
	result := "ok"
	if err != nil {
		result = err.Error()
	}
	since, until := "", ""
	if q.HasSince {
		since = fmtNS(q.Since)
	}
	if q.HasUntil {
		until = fmtNS(q.Until)
	}
	s.opts.Log.Info("audit", "who", p.Name, "remote", r.RemoteAddr, "method", r.Method, "path", r.URL.Path,
		"page", q.Page, "query", q.Filter, "interface", q.Interface, "since", since, "until", until,
		"packets", n, "bytes", b, "duration", time.Since(start).Round(time.Microsecond).String(), "result", result)
	return err
}

// ServePackets answers r, a GET with /api/v1/packets' parameters, as that
// endpoint answers it for p: the same selection, forced filter, limits,
// stream and audit line.
func (s *Server) ServePackets(w http.ResponseWriter, r *http.Request, p Principal) {
	ctx := context.WithValue(r.Context(), ctxKey{}, p.p)
	if err := s.query(s.handlePackets)(w, r.WithContext(ctx)); err != nil {
		writeError(w, err)
	}
}

// Status is the daemon's status (nil without one).
func (s *Server) Status() any {
	if s.opts.Status == nil {
		return nil
	}
	return s.opts.Status()
}
