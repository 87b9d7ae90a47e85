package hub

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/packetrecorderd/packetrecorderd/internal/daemon"
	"github.com/packetrecorderd/packetrecorderd/internal/selection"
)

// DefaultListen is the hub's address when listen is not given.
const DefaultListen = "127.0.0.1:7480"

// Config is the hub's configuration file. listen, tls, tokens and limits
// mean what they mean in the daemon's.
type Config struct {
	// Listen is the API's address (default 127.0.0.1:7480).
	Listen *string `yaml:"listen"`
	// Postgres is where the sensors ship their flow records and segment
	// summaries (a pgx connection string; the password from PGPASSFILE
	// or ~/.pgpass). Required.
	Postgres string `yaml:"postgres"`
	// Sensors is how the hub reaches the sensors: a read token they
	// accept, and/or mutual TLS.
	Sensors SensorsConfig `yaml:"sensors"`
	// TLS, Tokens, TokensFile, MetricsPublic and Limits: as the
	// daemon's (tokens_file: more tokens, a YAML list, as `packetrecorder
	// token add` writes it; metrics_public: /metrics without a token).
	TLS           *daemon.TLSConfig    `yaml:"tls"`
	Tokens        []daemon.TokenConfig `yaml:"tokens"`
	TokensFile    string               `yaml:"tokens_file"`
	MetricsPublic bool                 `yaml:"metrics_public"`
	Limits        daemon.ServerLimits  `yaml:"limits"`

	lines map[string]int
	// tokens are Tokens and tokens_file's, as Validate read them.
	tokens []daemon.TokenConfig
}

// SensorsConfig is the hub's credentials towards the sensors.
type SensorsConfig struct {
	TokenFile string `yaml:"token_file"`
	CACert    string `yaml:"cacert"`
	Cert      string `yaml:"cert"`
	Key       string `yaml:"key"`
}

// Remote is the credentials as a selection.Remote (without a server).
func (s SensorsConfig) Remote() selection.Remote {
	return selection.Remote{TokenFile: s.TokenFile, CACert: s.CACert, Cert: s.Cert, Key: s.Key}
}

// LoadFile reads and validates a hub configuration; relative paths in it
// are taken from the file's directory.
func LoadFile(path string) (*Config, error) { return daemon.LoadConfigFile(path, parse) }

// Parse decodes a configuration strictly (an unknown key is an error) and
// validates it; its paths must be absolute.
func Parse(data []byte) (*Config, error) { return parse(data, "") }

func parse(data []byte, dir string) (*Config, error) {
	var c Config
	lines, err := daemon.DecodeStrict(data, &c)
	if err != nil {
		return nil, err
	}
	c.lines = lines
	if c.Listen == nil {
		l := DefaultListen
		c.Listen = &l
	}
	var errs []error
	fix := func(key string, p *string) {
		if *p == "" || filepath.IsAbs(*p) {
			return
		}
		if dir == "" {
			errs = append(errs, c.errorf(key, "%q is a relative path: give an absolute one", *p))
			return
		}
		*p = filepath.Join(dir, *p)
	}
	fix("sensors.token_file", &c.Sensors.TokenFile)
	fix("sensors.cacert", &c.Sensors.CACert)
	fix("sensors.cert", &c.Sensors.Cert)
	fix("sensors.key", &c.Sensors.Key)
	fix("tokens_file", &c.TokensFile)
	if c.TLS != nil {
		fix("tls.cert", &c.TLS.Cert)
		fix("tls.key", &c.TLS.Key)
		fix("tls.client_ca", &c.TLS.ClientCA)
	}
	if err := c.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &c, nil
}

func (c *Config) errorf(key, format string, args ...any) error {
	return &daemon.ConfigError{Line: c.lines[key], Key: key, Msg: fmt.Sprintf(format, args...)}
}

// access is the part of the configuration the daemon shares.
func (c *Config) access() daemon.AccessConfig {
	return daemon.AccessConfig{Listen: c.Listen, TLS: c.TLS, Tokens: c.Tokens, TokensFile: c.TokensFile,
		MetricsPublic: c.MetricsPublic, Limits: c.Limits}
}

// rules are the API's access rules: the tokens of tokens and
// tokens_file, metrics_public, limits.
func (c *Config) rules() daemon.AccessConfig {
	a := c.access()
	if c.tokens != nil {
		a.Tokens = c.tokens
	}
	return a
}

// Validate returns every problem of the configuration, one line each,
// naming its key and line.
func (c *Config) Validate() error {
	var errs []error
	if c.Listen == nil {
		l := DefaultListen
		c.Listen = &l
	}
	if *c.Listen == "" {
		errs = append(errs, c.errorf("listen", "required: the hub serves only its API"))
	}
	if c.Postgres == "" {
		errs = append(errs, c.errorf("postgres", `required: the sensors' PostgreSQL ("postgres://USER@HOST/DB")`))
	} else if _, err := parsePostgres(c.Postgres); err != nil {
		errs = append(errs, c.errorf("postgres", "%v", err))
	}
	s := c.Sensors
	if s.TokenFile == "" && s.Cert == "" {
		errs = append(errs, c.errorf("sensors", "give token_file (a read token the sensors accept) or cert and key (mutual TLS)"))
	}
	if (s.Cert == "") != (s.Key == "") {
		errs = append(errs, c.errorf("sensors", "cert and key go together"))
	}
	if _, err := selection.Dial(selection.Remote{Server: "https://sensor.invalid", TokenFile: s.TokenFile, CACert: s.CACert, Cert: s.Cert, Key: s.Key}); err != nil && (s.Cert == "") == (s.Key == "") {
		errs = append(errs, c.errorf("sensors", "%v", err))
	}
	if len(c.Tokens) == 0 && c.TokensFile == "" && (c.TLS == nil || c.TLS.ClientCA == "") {
		errs = append(errs, c.errorf("tokens", "at least one token (or tokens_file, or tls.client_ca): the hub answers only those it knows"))
	}
	toks, aerrs := c.access().Check(c.lines)
	c.tokens = toks
	errs = append(errs, aerrs...)
	return errors.Join(errs...)
}
