package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Scopes a token or a client certificate may hold.
const (
	ScopeRead    = "read"    // packets, sessions, interfaces, status
	ScopeAdmin   = "admin"   // holds (and, later, deletions)
	ScopeMetrics = "metrics" // /metrics
)

// Access is who may do what: the tokens, what a verified client
// certificate may do, and the limits of each.
type Access struct {
	Tokens []Token
	// ClientScopes are the scopes of a client that presents a
	// certificate the client CA signed (mutual TLS); none means such a
	// certificate grants nothing.
	ClientScopes []string
	// MetricsPublic opens /metrics to unauthenticated scrapers.
	MetricsPublic bool
	// Limits apply to each token (and each certificate subject) alone.
	Limits Limits
}

// Token is a bearer token: its name, the SHA-256 of its secret, its
// scopes, and optionally a filter ANDed onto every query it makes and the
// widest time window it may read at once.
type Token struct {
	Name      string
	SHA256    [32]byte
	Scopes    []string
	Filter    string
	MaxWindow time.Duration
	Limits    Limits // zero fields: Access.Limits
}

// Limits bound what one principal does at once and per minute.
type Limits struct {
	// Concurrent is how many packet queries may run at once (default 4).
	Concurrent int
	// PerMinute is how many requests may start per minute (default 600),
	// in bursts of up to a tenth of that.
	PerMinute int
}

// Defaults of Limits.
const (
	DefaultConcurrent = 4
	DefaultPerMinute  = 600
)

func (l Limits) or(d Limits) Limits {
	if l.Concurrent == 0 {
		l.Concurrent = d.Concurrent
	}
	if l.PerMinute == 0 {
		l.PerMinute = d.PerMinute
	}
	if l.Concurrent == 0 {
		l.Concurrent = DefaultConcurrent
	}
	if l.PerMinute == 0 {
		l.PerMinute = DefaultPerMinute
	}
	return l
}

// principal is who made a request, once authenticated.
type principal struct {
	name      string // "token NAME" or "certificate CN"
	scopes    []string
	filter    string
	maxWindow time.Duration
	limiter   *limiter
}

func (p *principal) may(scope string) bool {
	for _, s := range p.scopes {
		if s == scope {
			return true
		}
	}
	return false
}

// guard authenticates requests against one Access. A reload builds a new
// guard; limiters of principals that stay are carried over.
type guard struct {
	access  Access
	mu      sync.Mutex
	limiter map[string]*limiter
}

func newGuard(a Access, old *guard) *guard {
	g := &guard{access: a, limiter: map[string]*limiter{}}
	if old != nil {
		old.mu.Lock()
		for k, v := range old.limiter {
			g.limiter[k] = v
		}
		old.mu.Unlock()
	}
	return g
}

func (g *guard) limiterFor(name string, l Limits) *limiter {
	g.mu.Lock()
	defer g.mu.Unlock()
	lim := g.limiter[name]
	if lim == nil || lim.limits != l {
		lim = newLimiter(l)
		g.limiter[name] = lim
	}
	return lim
}

// errNoCredentials and errBadCredentials are the two ways to fail
// authentication; they are answered alike (401), and logged apart.
type authError struct{ msg string }

func (e *authError) Error() string { return e.msg }

// authenticate finds the principal of a request: a bearer token, else a
// verified client certificate.
func (g *guard) authenticate(r *http.Request) (*principal, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		// The scheme is case-insensitive (RFC 7235 section 2.1), and
		// one or more spaces separate it from the token.
		scheme, secret, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return nil, &authError{"use Authorization: Bearer TOKEN"}
		}
		sum := sha256.Sum256([]byte(strings.TrimSpace(secret)))
		// Compare with every token, in constant time, so that timing
		// says nothing of which token or how much of it matched.
		var found *Token
		for i := range g.access.Tokens {
			t := &g.access.Tokens[i]
			if subtle.ConstantTimeCompare(sum[:], t.SHA256[:]) == 1 && found == nil {
				found = t
			}
		}
		if found == nil {
			return nil, &authError{"unknown token"}
		}
		name := "token " + found.Name
		return &principal{name: name, scopes: found.Scopes, filter: found.Filter, maxWindow: found.MaxWindow,
			limiter: g.limiterFor(name, found.Limits.or(g.access.Limits))}, nil
	}
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.PeerCertificates) > 0 {
		name := "certificate " + subject(r.TLS.PeerCertificates[0])
		return &principal{name: name, scopes: g.access.ClientScopes,
			limiter: g.limiterFor(name, g.access.Limits.or(Limits{}))}, nil
	}
	return nil, &authError{"credentials required: Authorization: Bearer TOKEN, or a client certificate"}
}

func subject(c *x509.Certificate) string {
	if c.Subject.CommonName != "" {
		return c.Subject.CommonName
	}
	return c.Subject.String()
}

// limiter holds one principal's running queries and its request budget
// (a token bucket refilled at PerMinute).
type limiter struct {
	limits  Limits
	running chan struct{}
	mu      sync.Mutex
	tokens  float64
	last    time.Time
}

func newLimiter(l Limits) *limiter {
	return &limiter{limits: l, running: make(chan struct{}, l.Concurrent), tokens: burst(l), last: time.Now()}
}

func burst(l Limits) float64 { return max(1, float64(l.PerMinute)/10) }

// allow takes one request from the budget, or says how long until one is
// there.
func (l *limiter) allow(now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	rate := float64(l.limits.PerMinute) / 60 // per second
	l.tokens = min(burst(l.limits), l.tokens+now.Sub(l.last).Seconds()*rate)
	l.last = now
	if l.tokens >= 1 {
		l.tokens--
		return true, 0
	}
	wait := time.Duration((1 - l.tokens) / rate * float64(time.Second))
	return false, wait
}

// acquire takes a query slot without waiting; release gives it back.
func (l *limiter) acquire() bool {
	select {
	case l.running <- struct{}{}:
		return true
	default:
		return false
	}
}

func (l *limiter) release() { <-l.running }
