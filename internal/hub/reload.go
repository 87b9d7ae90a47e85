package hub

import (
	"crypto/tls"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/packetrecorderd/packetrecorderd/internal/api"
	"github.com/packetrecorderd/packetrecorderd/internal/daemon"
	"github.com/packetrecorderd/packetrecorderd/internal/selection"
)

// ErrReload reports a configuration the hub refused to load: the old
// one keeps running.
var ErrReload = errors.New("configuration refused, the old one keeps running")

// Reload reads the configuration file (Options.Path) again, as SIGHUP
// asks, and applies what can change while the hub serves: tokens and
// tokens_file (read again), metrics_public, limits (requests and
// connections), the TLS certificate and client CA (new handshakes take
// them), and the credentials towards the sensors (their files read
// again at the next request to each sensor). listen and postgres need a
// restart, and so does turning TLS on or off: such a change is refused
// with one warning line and the running value kept, the rest applied. A
// configuration that does not load or validate is refused with one error
// line: the old one keeps running, whole.
func (h *Hub) Reload() error {
	h.reloadMu.Lock()
	defer h.reloadMu.Unlock()
	what, stale, err := h.reload()
	// The replaced clients' idle connections are closed, out of h.mu (a
	// TLS close may wait on its peer); one under way stays open until the
	// sensor's idle timeout.
	for _, c := range stale {
		c.CloseIdleConnections()
	}
	if err != nil {
		h.opts.Log.Error("hub: reload refused: the old configuration keeps running", "err", err)
		return fmt.Errorf("%w: %w", ErrReload, err)
	}
	h.opts.Log.Info("hub: reloaded", "applied", what, "tokens", len(h.config().rules().Tokens))
	return nil
}

// reload loads the file and, when all of it can be applied, applies it;
// it says what it applied, and returns the clients it replaced.
func (h *Hub) reload() (string, map[string]*selection.Client, error) {
	if h.opts.Path == "" {
		return "", nil, errors.New("the hub was started without a configuration file")
	}
	cfg, err := LoadFile(h.opts.Path)
	if err != nil {
		return "", nil, err
	}
	old := h.config()
	kept := func(key, was, now string) {
		h.opts.Log.Warn("hub: reload: "+key+" needs a restart: the running value is kept", "running", was, "file", now)
	}
	if *cfg.Listen != *old.Listen {
		kept("listen", *old.Listen, *cfg.Listen)
		cfg.Listen = old.Listen
	}
	if cfg.Postgres != old.Postgres {
		// The connection string may hold a password: neither is logged.
		kept("postgres", "(the connection string the hub started with)", "(the file's)")
		cfg.Postgres = old.Postgres
	}
	if (cfg.TLS == nil) != (old.TLS == nil) {
		onOff := map[bool]string{true: "on", false: "off"}
		kept("turning tls on or off", onOff[old.TLS != nil], onOff[cfg.TLS != nil])
		cfg.TLS = old.TLS
		// The rules again, over the running tls block (its client CA
		// admits clients, or not).
		if err := cfg.Validate(); err != nil {
			return "", nil, err
		}
	}
	// What can fail comes first (the sensors' credentials were read by
	// Validate): nothing is applied unless all of it is.
	var tc *tls.Config
	h.mu.Lock()
	rt := h.tls
	h.mu.Unlock()
	if rt != nil && cfg.TLS != nil {
		if tc, err = daemon.ServerTLS(cfg.TLS); err != nil {
			return "", nil, err
		}
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	applied := "tokens, metrics_public, limits, sensors credentials"
	if tc != nil {
		rt.cur.Store(tc)
		applied += ", tls certificates"
	}
	if h.srv != nil {
		h.srv.SetAccess(cfg.rules().Rules())
	}
	if h.conns != nil {
		h.conns.SetLimits(connLimits(cfg))
	}
	// New clients read the sensors' token file and certificates again;
	// requests under way finish with the old ones.
	stale := h.clients
	h.cred = cfg.Sensors.Remote()
	h.clients = map[string]*selection.Client{}
	h.cfg = cfg
	return applied, stale, nil
}

// connLimits are the API's connection limits under c.
func connLimits(c *Config) api.ConnLimits {
	l := api.ConnLimits{Total: c.Limits.Connections, PerClient: c.Limits.ConnectionsPerClient}
	if l.Total == 0 {
		l.Total = api.DefaultConnections
	}
	return l
}

// reloadableTLS serves the certificate and client CA of the
// configuration in force (daemon.ServerTLS's): Reload swaps them, and
// each new handshake takes the ones in force.
type reloadableTLS struct{ cur atomic.Pointer[tls.Config] }

func newReloadableTLS(c *daemon.TLSConfig) (*reloadableTLS, error) {
	tc, err := daemon.ServerTLS(c)
	if err != nil {
		return nil, err
	}
	r := &reloadableTLS{}
	r.cur.Store(tc)
	return r, nil
}

// config is the server's TLS configuration: each handshake is answered
// by the configuration in force.
func (r *reloadableTLS) config() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetConfigForClient: func(hi *tls.ClientHelloInfo) (*tls.Config, error) {
		return r.cur.Load().GetConfigForClient(hi)
	}}
}
