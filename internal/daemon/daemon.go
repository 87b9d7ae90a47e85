// Package daemon records several interfaces continuously into a store
// directory within a disk budget, and serves its status, health and
// metrics over HTTP.
//
// One run group owns every long-lived goroutine: an ifaceRunner per
// configured interface (its fanout rings, each recorded by the recorder
// into an archive.Recording that rolls segments over), the retention loop
// (which reads the catalog and the filesystem's free space and deletes whole
// oldest segments, never holding a lock a writer needs), and the HTTP
// server. Run returns when its context ends, after every ring is drained
// and every segment closed. SIGHUP (Reload) builds the new configuration
// beside the old, validates it, then applies the difference: interfaces
// whose settings did not change keep their rings.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/api"
	"github.com/packetrecorderd/packetrecorderd/internal/archive"
)

// Daemon is a running recorder.
type Daemon struct {
	path     string // the configuration file
	storeDir string
	log      *slog.Logger
	version  string

	mu      sync.Mutex // guards cfg and runners
	cfg     *Config
	runners map[string]*ifaceRunner

	ret     *retention
	horizon *horizon // how far back the store reaches (horizon.go)
	metrics *metrics
	notify  *notifier
	started time.Time
	paused  atomic.Bool // retention found no room and holds forbid deleting

	api    *api.Server
	tls    *tlsServer    // nil: plain HTTP (loopback only)
	conns  *api.Listener // bounds the API's connections
	nofile uint64        // RLIMIT_NOFILE in force

	reloadsOK, reloadsFailed atomic.Int64
	httpAddr                 atomic.Value // string, the address the server listens on

	fleetState   // the fleet's outbox and shipper, with a fleet block
	summaryState // the builder of missing segment summaries (summarize.go)
}

// New loads the configuration. version names the build in logs and
// metrics.
func New(path string, log *slog.Logger, version string) (*Daemon, error) {
	cfg, err := LoadFile(path)
	if err != nil {
		return nil, err
	}
	d := &Daemon{path: path, storeDir: cfg.Store, log: log, version: version, cfg: cfg,
		runners: map[string]*ifaceRunner{}, notify: newNotifier(), started: time.Now(), horizon: newHorizon()}
	d.httpAddr.Store("")
	return d, nil
}

// Addr is the address the HTTP server listens on ("" before it does).
func (d *Daemon) Addr() string { return d.httpAddr.Load().(string) }

func (d *Daemon) segmentLimits(c *Config) segmentLimits {
	return segmentLimits{maxBytes: int64(c.Segment.MaxBytes), maxAge: c.SegmentAge(), compression: c.BlockCompression(), cutoff: c.cutoffKey()}
}

// Run records until ctx ends or the HTTP server fails; hup delivers
// reload requests.
func (d *Daemon) Run(ctx context.Context, hup <-chan struct{}) error {
	d.nofile = raiseNoFile(d.log)
	a, released, err := archive.OpenRoomy(d.storeDir, archive.Options{Create: true, Lock: true, Logger: d.log})
	if err != nil {
		return err
	}
	if released {
		d.log.Warn("the store's disk is full: opened it with the store's reserve; retention makes room")
	}
	defer a.Close()
	d.ret = newRetention(d, a)
	d.metrics = newMetrics(d)

	var srv *http.Server
	serveErr := make(chan error, 1)
	if addr := *d.cfg.Listen; addr != "" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("listen %s: %w", addr, err)
		}
		d.httpAddr.Store(ln.Addr().String())
		d.conns = api.LimitListener(ln, d.connLimits(d.cfg), d.log)
		ln = d.conns
		d.api = d.newAPI()
		handler, err := d.handler()
		if err != nil {
			ln.Close()
			return err
		}
		// No write timeout: a download takes as long as it takes (the
		// client's going away cancels it); slow request headers and
		// bodies are cut off, and idle connections closed.
		srv = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
			MaxHeaderBytes: 64 << 10, ErrorLog: slog.NewLogLogger(d.log.Handler(), slog.LevelDebug)}
		if d.cfg.TLS != nil {
			d.tls = &tlsServer{}
			if err := d.tls.load(d.cfg.TLS); err != nil {
				ln.Close()
				return err
			}
			srv.TLSConfig = d.tls.config()
			go func() { serveErr <- srv.ServeTLS(ln, "", "") }()
		} else {
			go func() { serveErr <- srv.Serve(ln) }()
		}
		lim := d.conns.Limits()
		d.log.Info("listening", "addr", ln.Addr().String(), "tls", d.cfg.TLS != nil, "tokens", len(d.cfg.Tokens),
			"connections", lim.Total, "connections_per_client", lim.PerClient, "nofile", d.nofile)
	}

	// Fleet shipping starts first: retention's deletes are reported too.
	if err := d.startFleet(); err != nil {
		if srv != nil {
			srv.Close()
		}
		return err
	}
	// Retention runs once before recording starts, then in its loop.
	d.ret.run()
	retCtx, stopRet := context.WithCancel(context.Background())
	retDone := make(chan struct{})
	go func() {
		defer close(retDone)
		d.ret.loop(retCtx)
	}()
	horizonDone := make(chan struct{})
	go func() {
		defer close(horizonDone)
		d.horizonLoop(retCtx)
	}()

	d.mu.Lock()
	for _, it := range d.cfg.Interfaces {
		r := newRunner(d, it, d.segmentLimits(d.cfg))
		d.runners[it.Name] = r
		r.start()
	}
	runners := d.runnerList()
	d.mu.Unlock()
	for _, r := range runners {
		select {
		case <-r.opened:
		case <-ctx.Done():
		}
	}
	d.notify.send("READY=1", "STATUS=recording "+d.statusLine())
	d.log.Info("ready", "interfaces", len(runners), "store", d.storeDir)
	// Segments closed without a summary get theirs in the background.
	stopSums, sumsDone := d.startSummarizer(ctx)

	var watchdog <-chan time.Time
	if d.notify.watchdog > 0 {
		t := time.NewTicker(d.notify.watchdog / 2)
		defer t.Stop()
		watchdog = t.C
	}
	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err := <-serveErr:
			runErr = fmt.Errorf("http: %w", err)
			break loop
		case <-hup:
			d.Reload()
		case <-watchdog:
			if d.alive(d.notify.watchdog) {
				d.notify.send("WATCHDOG=1")
			}
		}
	}
	d.notify.send("STOPPING=1")
	stopSums()
	d.log.Info("stopping: draining every ring")
	for _, r := range d.runnerListLocked() {
		r.stop()
	}
	// Retention stops before the fleet: a segment it deletes meanwhile
	// is a record for the outbox, which must still take it.
	stopRet()
	<-retDone
	d.stopFleet() // after the recordings and retention: their last records are queued
	<-horizonDone
	<-sumsDone
	d.logTotals()
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		srv.Shutdown(sctx)
		cancel()
	}
	d.log.Info("stopped")
	return runErr
}

func (d *Daemon) runnerList() []*ifaceRunner {
	out := make([]*ifaceRunner, 0, len(d.runners))
	for _, it := range d.cfg.Interfaces {
		if r := d.runners[it.Name]; r != nil {
			out = append(out, r)
		}
	}
	return out
}

func (d *Daemon) runnerListLocked() []*ifaceRunner {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.runnerList()
}

// alive reports whether every interface showed a sign of life within
// the watchdog interval: recording loops beat every second, idle or not;
// down interfaces beat at each retry.
func (d *Daemon) alive(within time.Duration) bool {
	now := time.Now().UnixNano()
	for _, r := range d.runnerListLocked() {
		if now-r.beat.Load() > int64(within) {
			d.log.Error("watchdog: an interface's loop is stuck; not pinging systemd", "interface", r.cfg.Name)
			return false
		}
	}
	return true
}

// logTotals logs, once every recording and retention have stopped, what
// the daemon did since it started: per interface what the kernel accepted,
// what was stored and what was dropped, and what retention deleted. Read
// at the stop, these are final, where a status read while the daemon runs
// is a lower bound of each.
func (d *Daemon) logTotals() {
	st := d.status()
	for _, it := range st.Interfaces {
		d.log.Info("interface totals", "interface", it.Name, "received", it.Received, "stored", it.Packets, "bytes", it.Bytes,
			"kernel_drops", it.Drops.Kernel, "app_drops", it.Drops.App, "reload_drops", it.Drops.Reload)
	}
	r := st.Retention
	d.log.Info("retention totals", "segments", r.DeletedSegments, "packets", r.DeletedPackets, "bytes", r.DeletedBytes,
		"held_segments", r.DeletedHeldSegments, "held_packets", r.DeletedHeldPackets, "held_bytes", r.DeletedHeldBytes,
		"writer_waits", d.ret.roomWaits.Load(), "writer_wait_ms", d.ret.roomWaitNS.Load()/1e6,
		"writer_wait_max_ms", d.ret.roomMaxNS.Load()/1e6, "writer_wait_timeouts", d.ret.roomTimeouts.Load(),
		"pass_max_ms", d.ret.passMaxNS.Load()/1e6, "look_gap_max_ms", d.ret.gapMaxNS.Load()/1e6)
}

func (d *Daemon) statusLine() string {
	n := 0
	for _, r := range d.runnerListLocked() {
		if r.State() == StateRecording {
			n++
		}
	}
	return fmt.Sprintf("%d of %d interfaces", n, len(d.runnerListLocked()))
}

// ErrReload reports a configuration the daemon refused to load.
var ErrReload = errors.New("configuration refused, the old one keeps running")

// Reload reads the configuration file again and applies the difference.
// A configuration that does not load or validate is refused, logged and
// counted; the old one keeps running.
func (d *Daemon) Reload() error {
	d.notify.send("RELOADING=1")
	defer d.notify.send("READY=1")
	err := d.reload()
	if err != nil {
		d.reloadsFailed.Add(1)
		d.log.Error("reload refused: the old configuration keeps running", "err", err)
		return fmt.Errorf("%w: %w", ErrReload, err)
	}
	d.reloadsOK.Add(1)
	return nil
}

func (d *Daemon) reload() error {
	cfg, err := LoadFile(d.path)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	old := d.cfg
	if cfg.Store != old.Store {
		return fmt.Errorf("store: changing the store directory (%s to %s) needs a restart", old.Store, cfg.Store)
	}
	if *cfg.Listen != *old.Listen {
		return fmt.Errorf("listen: changing the address (%s to %s) needs a restart", *old.Listen, *cfg.Listen)
	}
	if (cfg.TLS == nil) != (old.TLS == nil) {
		return errors.New("tls: turning TLS on or off needs a restart")
	}
	// A new filter must compile for the interface's own link type (the
	// configuration checked it for Ethernet): refused here, before
	// anything changes, the interface keeps recording with the old one,
	// where it would have been restarted to fail every second.
	for i, it := range cfg.Interfaces {
		if r := d.runners[it.Name]; r != nil && it.Filter != r.Filter() {
			if err := r.checkFilter(it.Filter); err != nil {
				return fmt.Errorf("interfaces.%d.filter: %w", i, err)
			}
		}
	}
	if err := d.reloadFleet(old, cfg); err != nil {
		return err
	}
	if d.tls != nil {
		// New certificate files take effect at the next handshake.
		if err := d.tls.load(cfg.TLS); err != nil {
			return err
		}
	}
	if d.api != nil {
		d.api.SetAccess(cfg.access())
	}
	if d.conns != nil {
		d.conns.SetLimits(d.connLimits(cfg))
	}
	want := map[string]Interface{}
	for _, it := range cfg.Interfaces {
		want[it.Name] = it
	}
	segChanged := d.segmentLimits(cfg) != d.segmentLimits(old)
	var added, removed, changed []string
	var refiltered []string
	for name, r := range d.runners {
		it, keep := want[name]
		if !keep {
			r.stop()
			delete(d.runners, name)
			removed = append(removed, name)
			continue
		}
		same := r.cfg
		same.Filter = it.Filter
		if !segChanged && reflect.DeepEqual(it, same) {
			if it.Filter == r.Filter() {
				continue // unchanged
			}
			// Only the filter changed: it is swapped on the open rings,
			// which keep recording (no packet unseen, no counter reset).
			err := r.setFilter(it.Filter)
			if err == nil {
				refiltered = append(refiltered, name)
				continue
			}
			d.log.Warn("filter could not be swapped in place: restarting the interface", "interface", name, "err", err)
		}
		// Other settings need new rings. Packets that arrive between the
		// old rings' last and the new rings' first are not seen: they are
		// counted (dropped, reason "reload"); the counters go on from the
		// old runner's.
		r.stop()
		nr := newRunner(d, it, d.segmentLimits(cfg))
		nr.carryOver(r)
		d.runners[name] = nr
		nr.start()
		changed = append(changed, name)
	}
	for _, it := range cfg.Interfaces {
		if d.runners[it.Name] == nil {
			r := newRunner(d, it, d.segmentLimits(cfg))
			d.runners[it.Name] = r
			r.start()
			added = append(added, it.Name)
		}
	}
	d.cfg = cfg
	d.log.Info("reloaded", "added", added, "removed", removed, "restarted", changed, "filter_swapped", refiltered)
	return nil
}

// config returns the configuration in force.
func (d *Daemon) config() *Config {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfg
}

// setPaused pauses or resumes every recording (retention with no room).
func (d *Daemon) setPaused(p bool) {
	if d.paused.Swap(p) == p {
		return
	}
	if !p {
		d.log.Info("room again: recording resumes")
	}
	for _, r := range d.runnerListLocked() {
		r.kick()
	}
}

// Descriptors kept for recording, whatever the API's clients do: a
// base (the catalog, logs, the runtime) and, per ring, its socket, its
// segment's database, journal and spill file, with room for a roll-over
// (the next segment opens before the last closes).
const (
	reserveBase    = 64
	reservePerRing = 16
)

// connBudget is how many connections the API may keep open with nofile
// descriptors while rings record: half of what the reserve leaves, the
// other half for what their queries open (a catalog and segments each).
func connBudget(nofile uint64, rings int) int {
	reserve := uint64(reserveBase + reservePerRing*rings)
	if nofile <= reserve+2 {
		return 1
	}
	return int(min((nofile-reserve)/2, api.MaxConnections))
}

// connLimits are the API's connection limits under c: the configured
// ones (or the defaults), within the descriptor budget.
func (d *Daemon) connLimits(c *Config) api.ConnLimits {
	rings := 0
	for _, it := range c.Interfaces {
		rings += it.Fanout
	}
	budget := connBudget(d.nofile, rings)
	l := api.ConnLimits{Total: c.Limits.Connections, PerClient: c.Limits.ConnectionsPerClient}
	if l.Total == 0 {
		l.Total = api.DefaultConnections
	}
	if l.Total > budget {
		d.log.Warn("fewer API connections than configured: the rest of the file descriptors are kept for recording",
			"connections", budget, "configured", l.Total, "nofile", d.nofile)
		l.Total = budget
	}
	return l
}
