package daemon

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"sync/atomic"

	"github.com/packetrecorderd/packetrecorderd/internal/api"
	"github.com/packetrecorderd/packetrecorderd/internal/filter"
)

// TLSConfig is the listener's certificate and key (PEM files, read again
// on every reload) and, for mutual TLS, the CA that signs client
// certificates and what a client with such a certificate may do.
type TLSConfig struct {
	Cert         string   `yaml:"cert"`
	Key          string   `yaml:"key"`
	ClientCA     string   `yaml:"client_ca"`
	ClientScopes []string `yaml:"client_scopes"`
}

// TokenConfig is one bearer token: the SHA-256 of its secret (never the
// secret), its scopes, and its optional restrictions and limits.
type TokenConfig struct {
	Name      string   `yaml:"name"`
	SHA256    string   `yaml:"sha256"`
	Scopes    []string `yaml:"scopes"`
	Filter    string   `yaml:"filter"`     // ANDed onto every query
	MaxWindow Duration `yaml:"max_window"` // widest time window per query
	Limits    `yaml:",inline"`
}

// Limits bound one token (or one client certificate): packet queries at
// once, and requests per minute.
type Limits struct {
	ConcurrentQueries int `yaml:"concurrent_queries"`
	RequestsPerMinute int `yaml:"requests_per_minute"`
}

// ServerLimits are the limits: each principal's defaults, and how many
// connections the listener keeps open, in all and from one client
// address (0: api.DefaultConnections, api.DefaultConnectionsPerClient).
// Whatever is configured, the total stays below what the process's file
// descriptor limit leaves after a reserve for recording.
type ServerLimits struct {
	Limits               `yaml:",inline"`
	Connections          int `yaml:"connections"`
	ConnectionsPerClient int `yaml:"connections_per_client"`
}

var (
	tokenName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)
	hexSHA256 = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)
)

func validScopes(scopes []string) error {
	for _, s := range scopes {
		switch s {
		case api.ScopeRead, api.ScopeAdmin, api.ScopeMetrics:
		default:
			return fmt.Errorf("unknown scope %q (use read, admin, metrics)", s)
		}
	}
	return nil
}

func (l Limits) validate(c *Config, key string) []error {
	var errs []error
	if l.ConcurrentQueries < 0 || l.ConcurrentQueries > 1024 {
		errs = append(errs, c.errorf(key+".concurrent_queries", "%d: must be 1 to 1024", l.ConcurrentQueries))
	}
	if l.RequestsPerMinute < 0 || l.RequestsPerMinute > 1_000_000 {
		errs = append(errs, c.errorf(key+".requests_per_minute", "%d: must be 1 to 1000000", l.RequestsPerMinute))
	}
	return errs
}

// validateAccess checks listen, tls and tokens.
func (c *Config) validateAccess() []error {
	var errs []error
	if c.TLS != nil {
		t := c.TLS
		if t.Cert == "" || t.Key == "" {
			errs = append(errs, c.errorf("tls", "needs both cert and key"))
		} else if _, err := tls.LoadX509KeyPair(t.Cert, t.Key); err != nil {
			errs = append(errs, c.errorf("tls.cert", "%v", oneLine(err)))
		}
		if t.ClientCA != "" {
			if _, err := loadCA(t.ClientCA); err != nil {
				errs = append(errs, c.errorf("tls.client_ca", "%v", err))
			}
		} else if len(t.ClientScopes) > 0 {
			errs = append(errs, c.errorf("tls.client_scopes", "needs tls.client_ca: no client certificate is verified without it"))
		}
		if err := validScopes(t.ClientScopes); err != nil {
			errs = append(errs, c.errorf("tls.client_scopes", "%v", err))
		}
	}
	if l := *c.Listen; l != "" && c.TLS == nil && !loopback(l) {
		errs = append(errs, c.errorf("listen", "%s is not a loopback address: plain HTTP is allowed only on loopback, configure tls", l))
	}
	errs = append(errs, c.Limits.validate(c, "limits")...)
	if n := c.Limits.Connections; n < 0 || n > api.MaxConnections {
		errs = append(errs, c.errorf("limits.connections", "%d: must be 1 to %d", n, api.MaxConnections))
	}
	if n := c.Limits.ConnectionsPerClient; n < 0 || n > api.MaxConnections {
		errs = append(errs, c.errorf("limits.connections_per_client", "%d: must be 1 to %d", n, api.MaxConnections))
	}
	return append(errs, c.validateTokens()...)
}

// validateTokens checks the tokens, each naming its key and line. Those
// of tokens_file were checked when it was read (with its lines); here
// they are only compared with the others.
func (c *Config) validateTokens() []error {
	var errs []error
	seen := map[string]bool{}
	hashes := map[string]bool{}
	inline := len(c.Tokens) - c.fileTokens
	for i, t := range c.Tokens {
		if i >= inline {
			if seen[t.Name] {
				errs = append(errs, c.errorf("tokens_file", "%q is already a token", t.Name))
			}
			if hashes[t.SHA256] {
				errs = append(errs, c.errorf("tokens_file", "token %q has the same secret as another token", t.Name))
			}
			seen[t.Name], hashes[t.SHA256] = true, true
			continue
		}
		key := fmt.Sprintf("tokens.%d", i)
		if !tokenName.MatchString(t.Name) {
			errs = append(errs, c.errorf(key+".name", "%q: a name of letters, digits and ._@- (up to 64)", t.Name))
		} else if seen[t.Name] {
			errs = append(errs, c.errorf(key+".name", "%q is already a token", t.Name))
		}
		seen[t.Name] = true
		if !hexSHA256.MatchString(t.SHA256) {
			errs = append(errs, c.errorf(key+".sha256", "the hex SHA-256 of the secret (64 hex digits; 'packetrecorder token new' prints it)"))
		} else if hashes[t.SHA256] {
			errs = append(errs, c.errorf(key+".sha256", "the same secret as another token"))
		}
		hashes[t.SHA256] = true
		if len(t.Scopes) == 0 {
			errs = append(errs, c.errorf(key+".scopes", "at least one of read, admin, metrics"))
		} else if err := validScopes(t.Scopes); err != nil {
			errs = append(errs, c.errorf(key+".scopes", "%v", err))
		}
		if t.Filter != "" {
			if _, err := filter.Compile(t.Filter, filter.Options{LinkType: 1, Netmask: filter.ZeroNetmask}); err != nil {
				errs = append(errs, c.errorf(key+".filter", "%v", err))
			}
		}
		errs = append(errs, t.Limits.validate(c, key)...)
	}
	return errs
}

// loopback reports whether a listen address is on loopback only.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func loadCA(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New(path + ": no PEM certificate in it")
	}
	return pool, nil
}

func oneLine(err error) string { return fmt.Sprint(err) }

// access is the API's access rules of a configuration.
func (c *Config) access() api.Access {
	a := api.Access{MetricsPublic: c.MetricsPublic,
		Limits: api.Limits{Concurrent: c.Limits.ConcurrentQueries, PerMinute: c.Limits.RequestsPerMinute}}
	if c.TLS != nil && c.TLS.ClientCA != "" {
		a.ClientScopes = c.TLS.ClientScopes
	}
	for _, t := range c.Tokens {
		var sum [32]byte
		hex.Decode(sum[:], []byte(t.SHA256))
		a.Tokens = append(a.Tokens, api.Token{Name: t.Name, SHA256: sum, Scopes: t.Scopes, Filter: t.Filter,
			MaxWindow: t.MaxWindow.Std(), Limits: api.Limits{Concurrent: t.ConcurrentQueries, PerMinute: t.RequestsPerMinute}})
	}
	return a
}

// tlsState is the certificate and client CA in force, replaced on reload.
type tlsState struct {
	cert *tls.Certificate
	cas  *x509.CertPool
}

// tlsServer serves TLS with the certificates of the configuration in
// force: a reload that reads new files takes effect at the next handshake.
type tlsServer struct {
	state atomic.Pointer[tlsState]
}

func (t *tlsServer) load(c *TLSConfig) error {
	cert, err := tls.LoadX509KeyPair(c.Cert, c.Key)
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	st := &tlsState{cert: &cert}
	if c.ClientCA != "" {
		if st.cas, err = loadCA(c.ClientCA); err != nil {
			return fmt.Errorf("tls.client_ca: %w", err)
		}
	}
	t.state.Store(st)
	return nil
}

// serverProtos are the protocols the API offers over TLS: HTTP/1.1 only.
// Go's HTTP/2 server hands each 4 KiB of a response from the handler's
// goroutine to the connection's, and a packet download over it took the
// daemon 1.5 times the CPU of the same bytes over HTTP/1.1 (perf: task
// switches and frame copies), which made the API slower than a local
// export. The API's answers are long streams, not many small requests:
// HTTP/2's multiplexing gains nothing here.
var serverProtos = []string{"http/1.1"}

func (t *tlsServer) config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			st := t.state.Load()
			cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{*st.cert}, NextProtos: serverProtos}
			if st.cas != nil {
				cfg.ClientCAs = st.cas
				cfg.ClientAuth = tls.VerifyClientCertIfGiven
			}
			return cfg, nil
		},
	}
}
