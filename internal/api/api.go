// Package api is the daemon's HTTP interface: packets on demand
// (/api/v1/packets, and Stenographer's POST /query), the store's
// recordings, interfaces, holds and status, health and metrics. Every
// endpoint but /healthz needs credentials (a bearer token or a verified
// client certificate); every request that reads packets leaves an audit
// line. Handlers stream: packets go out as they are read, and a client
// that goes away cancels its query.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/archive"
	"github.com/packetrecorderd/packetrecorderd/internal/selection"
)

// Selector is what the API reads the store through: a selection per
// request (its forced filter, window and interface in the spec), and the
// store's recordings. The daemon passes selection.Store.
type Selector interface {
	Select(ctx context.Context, spec selection.Spec) (*selection.Selection, error)
	Recordings() ([]selection.Recording, error)
}

// FlowLister lists flows without walking packets: a hub's, from the
// flow records its sensors ship to PostgreSQL. The spec carries the
// principal's forced filter; a filter it cannot answer is a
// *selection.FilterError.
type FlowLister interface {
	ListFlows(ctx context.Context, spec selection.Spec, opts selection.FlowOptions) (selection.FlowList, error)
}

// PartialRecordings is a Selector over several sensors: their
// recordings, and the sensors that did not answer.
type PartialRecordings interface {
	RecordingsPartial(ctx context.Context) ([]selection.Recording, []selection.Missing, error)
}

// Holds are the store's holds: windows kept from retention.
type Holds interface {
	Holds() ([]archive.Hold, error)
	AddHold(since, until int64, reason string) (archive.Hold, error)
	ReleaseHold(id int64) error
}

// noStore is the Selector and Holds of a server given no store: every
// request for packets, recordings or holds is answered 404.
type noStore struct{}

func errNoStore() error { return errNotFound("this server serves no store") }

func (noStore) Select(context.Context, selection.Spec) (*selection.Selection, error) {
	return nil, errNoStore()
}
func (noStore) Recordings() ([]selection.Recording, error) { return nil, errNoStore() }
func (noStore) Holds() ([]archive.Hold, error)             { return nil, errNoStore() }
func (noStore) AddHold(int64, int64, string) (archive.Hold, error) {
	return archive.Hold{}, errNoStore()
}
func (noStore) ReleaseHold(int64) error { return errNoStore() }

// Options are what the server serves from.
type Options struct {
	// Selector selects the store's packets and lists its recordings.
	Selector Selector
	// Holds are the store's holds (GET, POST, DELETE /api/v1/holds).
	Holds Holds
	// Flows, when set, answers GET /api/v1/flows instead of a walk of
	// the Selector's packets (a hub's).
	Flows FlowLister
	// Status returns the daemon's status (GET /api/v1/status).
	Status func() any
	// Interfaces returns the configured interfaces' state (GET /api/v1/interfaces).
	Interfaces func() any
	// Health answers /healthz.
	Health http.HandlerFunc
	// Metrics answers /metrics.
	Metrics http.Handler
	// Version names the build, in pcapng section headers.
	Version string
	// Log receives audit lines and errors.
	Log *slog.Logger
	// Now is the clock (tests set it); nil means time.Now.
	Now func() time.Time
}

// Server serves the API. Its access rules can be replaced while it runs
// (SetAccess), as a reload does.
type Server struct {
	opts  Options
	guard atomic.Pointer[guard]
	mux   *http.ServeMux
}

// New returns a server with the given access rules.
func New(opts Options, a Access) *Server {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Health == nil {
		opts.Health = func(w http.ResponseWriter, r *http.Request) {
			WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		}
	}
	if opts.Metrics == nil {
		opts.Metrics = http.NotFoundHandler()
	}
	if opts.Selector == nil {
		opts.Selector = noStore{}
	}
	if opts.Holds == nil {
		opts.Holds = noStore{}
	}
	s := &Server{opts: opts}
	s.guard.Store(newGuard(a, nil))
	s.mux = s.routes()
	return s
}

// SetAccess replaces the access rules; requests already admitted finish
// under the old ones.
func (s *Server) SetAccess(a Access) { s.guard.Store(newGuard(a, s.guard.Load())) }

// ServeHTTP serves one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.opts.Health)
	mux.Handle("GET /metrics", s.metrics())
	mux.Handle("GET /api/v1/status", s.need(ScopeRead, s.handleStatus))
	mux.Handle("GET /api/v1/interfaces", s.need(ScopeRead, s.handleInterfaces))
	mux.Handle("GET /api/v1/sessions", s.need(ScopeRead, s.handleSessions))
	mux.Handle("GET /api/v1/packets", s.need(ScopeRead, s.query(s.handlePackets)))
	mux.Handle("GET /api/v1/flows", s.need(ScopeRead, s.query(s.handleFlows)))
	mux.Handle("GET /api/v1/holds", s.need(ScopeRead, s.handleHolds))
	mux.Handle("POST /api/v1/holds", s.need(ScopeAdmin, s.handleHoldAdd))
	mux.Handle("DELETE /api/v1/holds/{id}", s.need(ScopeAdmin, s.handleHoldRelease))
	mux.Handle("POST /query", s.need(ScopeRead, s.query(s.handleSteno)))
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, errNotFound("no such endpoint: %s %s", r.Method, r.URL.Path))
	})
	return mux
}

// apiError is an error with the HTTP status it is answered with.
type apiError struct {
	status     int
	msg        string
	retryAfter time.Duration
}

func (e *apiError) Error() string { return e.msg }

func errBadRequest(format string, args ...any) error {
	return &apiError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}
func errForbidden(format string, args ...any) error {
	return &apiError{status: http.StatusForbidden, msg: fmt.Sprintf(format, args...)}
}
func errNotFound(format string, args ...any) error {
	return &apiError{status: http.StatusNotFound, msg: fmt.Sprintf(format, args...)}
}

// writeError answers with err as {"error": "..."}: its own status for an
// apiError, 500 for anything else.
func writeError(w http.ResponseWriter, err error) {
	status := StatusOf(err)
	var ae *apiError
	if errors.As(err, &ae) {
		if ae.retryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(ae.retryAfter.Seconds()+0.999)))
		}
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="packetrecorder"`)
	}
	WriteJSON(w, status, map[string]string{"error": err.Error()})
}

// WriteJSON is the one place a JSON answer is encoded: the API's, and
// the daemon's own (/healthz).
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

type ctxKey struct{}

// who is the principal need admitted.
func who(r *http.Request) *principal { return r.Context().Value(ctxKey{}).(*principal) }

// handlerFunc is a handler that returns its error, answered by need.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error
