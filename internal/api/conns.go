package api

import (
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Bounds on the connections a Listener keeps open.
const (
	// DefaultConnections is how many connections may be open at once.
	DefaultConnections = 1024
	// DefaultConnectionsPerClient is how many of them one client address
	// may hold.
	DefaultConnectionsPerClient = 64
	// MaxConnections is the most either may be configured to.
	MaxConnections = 65536
)

// ConnLimits bound a Listener's open connections: in all, and from one
// client address (zero fields: the defaults).
type ConnLimits struct {
	Total, PerClient int
}

func (l ConnLimits) withDefaults() ConnLimits {
	if l.Total <= 0 {
		l.Total = DefaultConnections
	}
	if l.PerClient <= 0 {
		l.PerClient = DefaultConnectionsPerClient
	}
	l.PerClient = min(l.PerClient, l.Total)
	return l
}

// Listener admits connections within its limits and closes the others as
// soon as they are accepted, so that clients that open connections and
// never use them cannot take the file descriptors the recording needs,
// nor every slot of the server. Its limits can change while it runs.
type Listener struct {
	net.Listener
	log *slog.Logger

	mu        sync.Mutex
	limits    ConnLimits
	open      int
	perClient map[string]int

	refused     atomic.Int64
	lastWarning atomic.Int64 // unix ns of the last log line about refusals
}

// LimitListener bounds the connections ln accepts.
func LimitListener(ln net.Listener, l ConnLimits, log *slog.Logger) *Listener {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Listener{Listener: ln, log: log, limits: l.withDefaults(), perClient: map[string]int{}}
}

// SetLimits changes the limits; connections already open stay.
func (l *Listener) SetLimits(lim ConnLimits) {
	l.mu.Lock()
	l.limits = lim.withDefaults()
	l.mu.Unlock()
}

// Limits are the limits in force.
func (l *Listener) Limits() ConnLimits {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.limits
}

// Refused counts the connections closed for being over a limit.
func (l *Listener) Refused() int64 { return l.refused.Load() }

// Open is how many admitted connections are open.
func (l *Listener) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open
}

// Accept returns the next connection within the limits; those over a
// limit are closed (with a reset, so they hold nothing in TIME_WAIT).
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		host := clientHost(c.RemoteAddr())
		l.mu.Lock()
		over := ""
		switch {
		case l.open >= l.limits.Total:
			over = "connections"
		case l.perClient[host] >= l.limits.PerClient:
			over = "connections_per_client"
		default:
			l.open++
			l.perClient[host]++
		}
		l.mu.Unlock()
		if over == "" {
			return &limitedConn{Conn: c, l: l, host: host}, nil
		}
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
		c.Close()
		n := l.refused.Add(1)
		now := time.Now().UnixNano()
		if last := l.lastWarning.Load(); now-last > int64(10*time.Second) && l.lastWarning.CompareAndSwap(last, now) {
			l.log.Warn("connection refused: over the limit", "limit", "limits."+over, "client", host, "refused_so_far", n)
		}
	}
}

func (l *Listener) release(host string) {
	l.mu.Lock()
	l.open--
	if l.perClient[host]--; l.perClient[host] <= 0 {
		delete(l.perClient, host)
	}
	l.mu.Unlock()
}

func clientHost(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// limitedConn gives its slot back when it closes (once, however often
// it is closed).
type limitedConn struct {
	net.Conn
	l    *Listener
	host string
	once sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.host) })
	return err
}
