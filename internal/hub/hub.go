// Package hub serves one API over a fleet of sensors: `packetrecorder
// hub`. Each request's selection (the API's own, internal/api) goes to a
// planner that asks PostgreSQL (where the sensors ship their segment
// summaries and flow records, internal/fleet's schema) which sensors can
// hold matching packets; those sensors are asked in parallel through
// their own API with the same selection (internal/selection's fleet
// source), and their streams merged by timestamp, each packet labelled
// with its sensor. Flows are listed from PostgreSQL. A sensor that does
// not answer is named in the answer (the Packetrecorder-Partial trailer,
// the end line's "missing"), never silently left out.
package hub

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/packetrecorderd/packetrecorderd/internal/api"
	"github.com/packetrecorderd/packetrecorderd/internal/selection"
)

// Options are what a Hub runs with.
type Options struct {
	Config *Config
	// Path is the configuration file Reload reads again ("": Reload
	// refuses).
	Path string
	// Log receives audit lines and errors.
	Log *slog.Logger
	// Version names the build.
	Version string
	// SensorTimeout bounds each sensor's answer and each pause in its
	// stream (0: selection.DefaultSensorTimeout).
	SensorTimeout time.Duration
}

// Hub is the fleet's API: a selector over the sensors, flows from
// PostgreSQL, the sensors' status.
type Hub struct {
	opts Options
	db   *pgPool

	reloadMu sync.Mutex // one Reload at a time
	mu       sync.Mutex
	// cfg is the configuration in force (Reload replaces it); cred the
	// credentials towards the sensors it gives.
	cfg  *Config
	cred selection.Remote
	// srv, conns and tls are what Run serves cfg with (nil before Run;
	// tls nil for plain HTTP): Reload swaps their rules.
	srv     *api.Server
	conns   *api.Listener
	tls     *reloadableTLS
	clients map[string]*selection.Client // by URL
	// known is prd_sensors as last read: while PostgreSQL is
	// unreachable, packet queries ask every sensor it lists.
	known   []Sensor
	knownAt time.Time
	// pgUp is whether PostgreSQL answered the hub's last listing.
	pgUp atomic.Bool
}

// UnavailableError is the hub's answer when PostgreSQL, which it lists
// flows and sensors from, cannot be reached: 503 with one line naming
// PostgreSQL.
type UnavailableError struct{ Err error }

func (e *UnavailableError) Error() string {
	return "postgres unreachable: " + strings.Join(strings.Fields(e.Err.Error()), " ")
}
func (e *UnavailableError) Unwrap() error { return e.Err }

// HTTPStatus is 503: the hub is there, its database is not.
func (e *UnavailableError) HTTPStatus() int { return http.StatusServiceUnavailable }

// remember keeps the sensors PostgreSQL listed.
func (h *Hub) remember(ss []Sensor) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.known, h.knownAt = slices.Clone(ss), time.Now()
	h.pgUp.Store(true)
}

// lastKnown is the sensors PostgreSQL listed last, and when (zero: never).
func (h *Hub) lastKnown() ([]Sensor, time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.known), h.knownAt
}

// New prepares a hub; it does not connect yet.
func New(opts Options) (*Hub, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	db, err := newPGPool(opts.Config.Postgres)
	if err != nil {
		return nil, err
	}
	return &Hub{opts: opts, db: db, cfg: opts.Config, cred: opts.Config.Sensors.Remote(), clients: map[string]*selection.Client{}}, nil
}

// Close releases the hub's PostgreSQL connections.
func (h *Hub) Close() { h.db.close() }

// client is the client of the sensor at url, made once.
func (h *Hub) client(url string) (*selection.Client, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c, ok := h.clients[url]; ok {
		return c, nil
	}
	r := h.cred
	r.Server = url
	if strings.HasPrefix(url, "http://") {
		// Plain HTTP (a sensor on loopback): no TLS to configure.
		r.CACert, r.Cert, r.Key = "", "", ""
	}
	c, err := selection.Dial(r)
	if err != nil {
		return nil, err
	}
	h.clients[url] = c
	return c, nil
}

// plan asks PostgreSQL which sensors can hold spec's packets.
func (h *Hub) plan(ctx context.Context, spec selection.Spec) (Plan, error) {
	var p Plan
	err := h.db.with(ctx, func(c *pgx.Conn) error {
		var err error
		p, err = planSensors(ctx, c, spec, time.Now())
		return err
	})
	if err == nil {
		h.remember(p.Sensors)
	}
	return p, err
}

// fallbackPlan is the plan while PostgreSQL is unreachable: every sensor
// it listed last (of the interface asked for) is asked; what retention
// deleted is not known.
func (h *Hub) fallbackPlan(spec selection.Spec, dbErr error) (Plan, error) {
	h.pgUp.Store(false)
	ss, at := h.lastKnown()
	if at.IsZero() {
		return Plan{}, &UnavailableError{Err: fmt.Errorf("%w (and the hub has not listed the sensors since it started)", dbErr)}
	}
	h.opts.Log.Warn("hub: PostgreSQL unreachable: asking every sensor it listed last", "sensors", len(ss), "listed_at", at.UTC().Format(time.RFC3339), "err", dbErr)
	wantSensor, wantIface := splitInterface(spec.Interface)
	var p Plan
	for _, s := range ss {
		if wantSensor != "" && s.Name != wantSensor || wantIface != "" && !slices.Contains(s.Interfaces, wantIface) {
			continue
		}
		p.Choices = append(p.Choices, Choice{Sensor: s, Interface: wantIface})
	}
	if spec.Interface != "" && len(p.Choices) == 0 {
		return p, fmt.Errorf("%w %s", selection.ErrNoSuchInterface, spec.Interface)
	}
	return p, nil
}

// fleet is the sensors to ask for spec, with their clients.
func (h *Hub) fleet(ctx context.Context, spec selection.Spec) (*selection.Fleet, error) {
	p, err := h.plan(ctx, spec)
	fallback := false
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		if p, err = h.fallbackPlan(spec, err); err != nil {
			return nil, err
		}
		fallback = true
	}
	if !fallback && spec.Interface != "" && len(p.Choices) == 0 && len(p.Expired) == 0 {
		known, err := h.knowsInterface(ctx, spec.Interface)
		if err != nil {
			return nil, err
		}
		if !known {
			return nil, fmt.Errorf("%w %s", selection.ErrNoSuchInterface, spec.Interface)
		}
	}
	fl := &selection.Fleet{Expired: p.Expired, Timeout: h.opts.SensorTimeout}
	for _, ch := range p.Choices {
		c, err := h.client(ch.Sensor.URL)
		if err != nil {
			fl.Missing = append(fl.Missing, selection.Missing{Sensor: ch.Sensor.Name, Error: err.Error()})
			continue
		}
		fl.Sensors = append(fl.Sensors, selection.FleetSensor{Name: ch.Sensor.Name, Client: c, Interface: ch.Interface})
	}
	return fl, nil
}

// knowsInterface reports whether a sensor lists the interface (IFACE, or
// SENSOR/IFACE).
func (h *Hub) knowsInterface(ctx context.Context, name string) (bool, error) {
	ss, _, err := h.sensors(ctx)
	if err != nil {
		return false, err
	}
	ws, wi := splitInterface(name)
	for _, s := range ss {
		for _, i := range s.Interfaces {
			if (ws == "" || ws == s.Name) && i == wi {
				return true, nil
			}
		}
	}
	return false, nil
}

// sensors is prd_sensors; while PostgreSQL is unreachable, the sensors
// it listed last (stale says so), or an *UnavailableError if none.
func (h *Hub) sensors(ctx context.Context) (ss []Sensor, stale error, err error) {
	err = h.db.with(ctx, func(c *pgx.Conn) error {
		var err error
		ss, err = listSensors(ctx, c)
		return err
	})
	if err == nil {
		h.remember(ss)
		return ss, nil, nil
	}
	if ctx.Err() != nil {
		return nil, nil, err
	}
	h.pgUp.Store(false)
	known, at := h.lastKnown()
	if at.IsZero() {
		return nil, nil, &UnavailableError{Err: fmt.Errorf("%w (and the hub has not listed the sensors since it started)", err)}
	}
	return known, err, nil
}

// Select opens spec's selection over the sensors that can hold it
// (api.Selector).
func (h *Hub) Select(ctx context.Context, spec selection.Spec) (*selection.Selection, error) {
	fl, err := h.fleet(ctx, spec)
	if err != nil {
		return nil, err
	}
	spec.Server = selection.Remote{Server: "fleet", Fleet: fl}
	return selection.Open(ctx, spec)
}

// Recordings are every sensor's recordings (api.Selector); see
// RecordingsPartial.
func (h *Hub) Recordings() ([]selection.Recording, error) {
	recs, _, err := h.RecordingsPartial(context.Background())
	return recs, err
}

// RecordingsPartial asks every sensor for its recordings, in parallel:
// each recording's interface is SENSOR/IFACE, its sensor named; the
// sensors that did not answer are returned as missing.
func (h *Hub) RecordingsPartial(ctx context.Context) ([]selection.Recording, []selection.Missing, error) {
	ss, _, err := h.sensors(ctx)
	if err != nil {
		return nil, nil, err
	}
	lists := make([][]selection.Recording, len(ss))
	errs := make([]error, len(ss))
	h.each(ctx, ss, func(ctx context.Context, i int, c *selection.Client) error {
		return c.GetJSON(ctx, "/api/v1/sessions", nil, &lists[i])
	}, errs)
	var out []selection.Recording
	var missing []selection.Missing
	for i, s := range ss {
		if errs[i] != nil {
			missing = append(missing, selection.Missing{Sensor: s.Name, Error: errs[i].Error()})
			continue
		}
		for _, r := range lists[i] {
			r.Sensor, r.Interface = s.Name, s.Name+"/"+r.Interface
			r.ID = len(out) + 1
			out = append(out, r)
		}
	}
	if out == nil {
		out = []selection.Recording{}
	}
	return out, missing, nil
}

// each runs fn for every sensor at once, each within the sensor timeout;
// errs[i] is sensor i's error.
func (h *Hub) each(ctx context.Context, ss []Sensor, fn func(ctx context.Context, i int, c *selection.Client) error, errs []error) {
	timeout := h.opts.SensorTimeout
	if timeout <= 0 {
		timeout = selection.DefaultSensorTimeout
	}
	var wg sync.WaitGroup
	for i, s := range ss {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := h.client(s.URL)
			if err != nil {
				errs[i] = err
				return
			}
			tctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			if err := fn(tctx, i, c); err != nil {
				if tctx.Err() != nil && ctx.Err() == nil {
					err = fmt.Errorf("no answer within %s", timeout)
				}
				errs[i] = errors.New(trimHost(c, err))
			}
		}()
	}
	wg.Wait()
}

func trimHost(c *selection.Client, err error) string {
	msg := err.Error()
	if p := c.Host() + ": "; len(msg) > len(p) && msg[:len(p)] == p {
		return msg[len(p):]
	}
	return msg
}

// SensorStatus is one sensor in the hub's status.
type SensorStatus struct {
	Sensor     string   `json:"sensor"`
	URL        string   `json:"url"`
	Interfaces []string `json:"interfaces"`
	SeenAt     string   `json:"seen_at,omitempty"`
	Reachable  bool     `json:"reachable"`
	Error      string   `json:"error,omitempty"`
	Status     any      `json:"status,omitempty"` // the sensor's own /api/v1/status
}

// Status is the hub's status: PostgreSQL, and each sensor reachable or
// why not.
type Status struct {
	Postgres string         `json:"postgres"` // "ok" or the error
	Sensors  []SensorStatus `json:"sensors"`
}

// Status asks PostgreSQL for the sensors and each sensor for its status.
func (h *Hub) Status(ctx context.Context) Status {
	st := Status{Postgres: "ok", Sensors: []SensorStatus{}}
	ss, stale, err := h.sensors(ctx)
	if err != nil {
		st.Postgres = err.Error()
		return st
	}
	if stale != nil {
		// The sensors as PostgreSQL listed them last.
		st.Postgres = (&UnavailableError{Err: stale}).Error()
	}
	answers := make([]any, len(ss))
	errs := make([]error, len(ss))
	h.each(ctx, ss, func(ctx context.Context, i int, c *selection.Client) error {
		return c.GetJSON(ctx, "/api/v1/status", nil, &answers[i])
	}, errs)
	for i, s := range ss {
		e := SensorStatus{Sensor: s.Name, URL: s.URL, Interfaces: s.Interfaces, Reachable: errs[i] == nil, Status: answers[i]}
		if errs[i] != nil {
			e.Error = errs[i].Error()
		}
		st.Sensors = append(st.Sensors, e)
	}
	return st
}

// config is the configuration in force.
func (h *Hub) config() *Config {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.cfg
}

// Server is the hub's API: the daemon's api.Server over the fleet. The
// last one made is the one Reload gives new access rules.
func (h *Hub) Server() *api.Server {
	// No reload between the reading of the rules and the registration:
	// it would update the server made before, and this one keep the
	// rules it replaced.
	h.reloadMu.Lock()
	defer h.reloadMu.Unlock()
	cfg := h.config()
	srv := api.New(api.Options{
		Selector: h,
		Flows:    h,
		Status: func() any {
			ctx, cancel := context.WithTimeout(context.Background(), 2*selection.DefaultSensorTimeout)
			defer cancel()
			return h.Status(ctx)
		},
		Version: h.opts.Version,
		Log:     h.opts.Log,
		Metrics: h.metrics(),
	}, cfg.rules().Rules())
	h.mu.Lock()
	h.srv = srv
	h.mu.Unlock()
	return srv
}

// listen opens the configured address, under the configuration's
// connection limits, and loads its TLS certificates (rt nil: plain
// HTTP); it registers both for Reload. No reload comes between the
// reading of the configuration and the registration: it would update
// nothing, and the listener keep the limits and certificates it
// replaced.
func (h *Hub) listen() (cfg *Config, conns *api.Listener, rt *reloadableTLS, err error) {
	h.reloadMu.Lock()
	defer h.reloadMu.Unlock()
	cfg = h.config()
	tcpLn, err := net.Listen("tcp", *cfg.Listen)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("listen %s: %w", *cfg.Listen, err)
	}
	conns = api.LimitListener(tcpLn, connLimits(cfg), h.opts.Log)
	if cfg.TLS != nil {
		if rt, err = newReloadableTLS(cfg.TLS); err != nil {
			conns.Close()
			return nil, nil, nil, err
		}
	}
	h.mu.Lock()
	h.conns, h.tls = conns, rt
	h.mu.Unlock()
	return cfg, conns, rt, nil
}

// Run serves the API on the configured address until ctx ends; ready,
// if not nil, is called with the address once it listens.
func (h *Hub) Run(ctx context.Context, ready func(addr string)) error {
	handler, err := h.Handler()
	if err != nil {
		return err
	}
	cfg, conns, rt, err := h.listen()
	if err != nil {
		return err
	}
	var ln net.Listener = conns
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		MaxHeaderBytes: 64 << 10, ErrorLog: slog.NewLogLogger(h.opts.Log.Handler(), slog.LevelDebug)}
	var tc *tls.Config
	if rt != nil {
		tc = rt.config()
		srv.TLSConfig = tc
	}
	serveErr := make(chan error, 1)
	go func() {
		if tc != nil {
			serveErr <- srv.ServeTLS(ln, "", "")
		} else {
			serveErr <- srv.Serve(ln)
		}
	}()
	h.opts.Log.Info("hub listening", "addr", ln.Addr().String(), "tls", tc != nil, "tokens", len(cfg.rules().Tokens))
	// The sensors' list, early: should PostgreSQL be down at the first
	// query, the hub still knows whom to ask.
	lctx, lcancel := context.WithTimeout(ctx, 5*time.Second)
	if _, _, err := h.sensors(lctx); err != nil {
		h.opts.Log.Warn("hub: PostgreSQL unreachable at start", "err", err)
	}
	lcancel()
	if ready != nil {
		ready(ln.Addr().String())
	}
	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	<-serveErr
	return nil
}
