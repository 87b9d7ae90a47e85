package daemon

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/packetrecorderd/packetrecorderd/internal/api"
	"github.com/packetrecorderd/packetrecorderd/internal/atomicfile"
	"github.com/packetrecorderd/packetrecorderd/internal/bytesize"
	"github.com/packetrecorderd/packetrecorderd/internal/capture"
	"github.com/packetrecorderd/packetrecorderd/internal/filter"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
	"github.com/packetrecorderd/packetrecorderd/internal/when"
)

// Config is the daemon's configuration file. Zero values mean the
// defaults documented on each field.
type Config struct {
	// Store is the store directory, created 0700 when missing. Required.
	Store string `yaml:"store"`
	// Segment bounds one segment: it closes at MaxBytes (default 1GiB)
	// or MaxAge (default 1h), whichever comes first.
	Segment struct {
		MaxBytes Size     `yaml:"max_bytes"`
		MaxAge   Duration `yaml:"max_age"`
	} `yaml:"segment"`
	// Retention keeps the store within MaxBytes (all interfaces
	// together), MaxAge and MinFree (bytes or a percentage of the
	// filesystem; default 5%), whichever bites first, by deleting whole
	// oldest segments. WhenHeld says what to do when holds leave no
	// room: "stop" recording (the default) or "delete" held segments too.
	Retention struct {
		MaxBytes Size     `yaml:"max_bytes"`
		MaxAge   Duration `yaml:"max_age"`
		MinFree  Free     `yaml:"min_free"`
		WhenHeld string   `yaml:"when_held"`
	} `yaml:"retention"`
	// Compression says how new segments store their blocks: "zstd" (the
	// default) compresses each block where that makes it smaller, "s2"
	// likewise with S2 (nearly zstd's saving for half its CPU, for links
	// near the machine's top speed), "none" stores them raw.
	// CompressionLevel is zstd's level, 1 (fastest, the default) to 4
	// (best).
	Compression      string `yaml:"compression"`
	CompressionLevel int    `yaml:"compression_level"`
	// Cutoff is the per-flow cutoff (cutoff.go); absent: every packet
	// is stored whole.
	Cutoff *CutoffConfig `yaml:"cutoff"`
	// Interfaces to record. At least one, each once.
	Interfaces []Interface `yaml:"interfaces"`
	// Listen is the address of status, health and metrics
	// (default 127.0.0.1:7474; "" in the file turns it off).
	Listen *string `yaml:"listen"`
	// TLS serves the API over TLS (required unless listen is loopback),
	// with mutual TLS when it names a client CA.
	TLS *TLSConfig `yaml:"tls"`
	// Tokens may use the API (Authorization: Bearer).
	Tokens []TokenConfig `yaml:"tokens"`
	// TokensFile names a file of more tokens: a YAML list of the same
	// stanzas, such as 'packetrecorder token new NAME --append FILE'
	// writes. It is read again on every reload; a missing file holds no
	// tokens (none made yet).
	TokensFile string `yaml:"tokens_file"`
	// MetricsPublic opens /metrics to unauthenticated scrapers.
	MetricsPublic bool `yaml:"metrics_public"`
	// Limits are the default limits of each token and client
	// certificate, and the bounds on connections.
	Limits ServerLimits `yaml:"limits"`
	// Fleet ships flow records and segment summaries to PostgreSQL
	// (see FleetConfig); nil: this daemon is no fleet sensor.
	Fleet *FleetConfig `yaml:"fleet"`

	lines map[string]int // key path -> line, for errors
	// fileTokens is how many of Tokens came from TokensFile (the last
	// ones).
	fileTokens int
}

// Interface is one interface to record.
type Interface struct {
	Name       string `yaml:"name"`
	Filter     string `yaml:"filter"`      // tcpdump's language
	Snaplen    int    `yaml:"snaplen"`     // default 65535
	BufferSize Size   `yaml:"buffer_size"` // kernel ring per fanout ring, default 64MiB
	Fanout     int    `yaml:"fanout"`      // rings, default 1
	Promisc    *bool  `yaml:"promisc"`     // default true
}

// Defaults filled in by Load.
const (
	DefaultSegmentBytes = 1 << 30
	DefaultSegmentAge   = time.Hour
	DefaultListen       = "127.0.0.1:7474"
	DefaultBuffer       = 64 << 20
	DefaultSnaplen      = capture.DefaultSnaplen
	DefaultMinFreePct   = 5
)

// Size is a byte count written as 65536, 512KiB, 64MB, 1GiB, 2TiB (all
// binary units).
type Size int64

// valueError is a value's mistake at its line; yamlError names its key.
// As a yaml.TypeError, decoding goes on and every mistake is reported.
func valueError(n *yaml.Node, err error) error {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %v", n.Line, err)}}
}

// UnmarshalYAML reads a size.
func (s *Size) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseSize(n.Value)
	if err != nil {
		return valueError(n, err)
	}
	*s = Size(v)
	return nil
}

// ParseSize reads sizes such as 65536, 512KB, 64MiB, 1GiB, 2TiB.
func ParseSize(text string) (int64, error) {
	n, ok := bytesize.Parse(text)
	if !ok {
		return 0, fmt.Errorf("invalid size %q (use e.g. 500GiB, 64MiB)", text)
	}
	return n, nil
}

// Duration is a time span written as 90s, 15m, 1h, 30d.
type Duration time.Duration

// Std is d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// UnmarshalYAML reads a duration.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDuration(n.Value)
	if err != nil {
		return valueError(n, err)
	}
	*d = Duration(v)
	return nil
}

// ParseDuration reads 90s, 15m, 1h, 30d (and Go's 1h30m), as the CLI's
// times do.
func ParseDuration(text string) (time.Duration, error) { return when.Duration(text) }

// Free is an amount of free space: bytes, or a percentage of the
// filesystem.
type Free struct {
	Bytes   int64
	Percent float64
	set     bool
}

// UnmarshalYAML reads 10% or a size.
func (f *Free) UnmarshalYAML(n *yaml.Node) error {
	if p, ok := strings.CutSuffix(strings.TrimSpace(n.Value), "%"); ok {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || !(v >= 0 && v < 100) { // NaN too
			return valueError(n, fmt.Errorf("invalid percentage %q (use 0%% to 99%%)", n.Value))
		}
		*f = Free{Percent: v, set: true}
		return nil
	}
	v, err := ParseSize(n.Value)
	if err != nil {
		return valueError(n, err)
	}
	*f = Free{Bytes: v, set: true}
	return nil
}

// Need is how many bytes must stay free on a filesystem of total bytes.
func (f Free) Need(total int64) int64 {
	if f.Percent > 0 {
		return int64(float64(total) * f.Percent / 100)
	}
	return f.Bytes
}

// ConfigError is one problem with the configuration, at a line of the file.
type ConfigError struct {
	Line int
	Key  string
	Msg  string
}

func (e *ConfigError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %s: %s", e.Line, e.Key, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.Key, e.Msg)
}

// LoadFile reads and validates a configuration file. Relative paths in
// it (store, tls files, tokens_file) are taken from the file's own
// directory, so the daemon never depends on its working directory.
func LoadFile(path string) (*Config, error) { return LoadConfigFile(path, parse) }

// LoadConfigFile reads the configuration file at path and hands its bytes
// and its directory (absolute, to resolve relative paths against) to
// parse; parse's error is prefixed with the file's name. The hub's
// configuration is loaded as the daemon's is.
func LoadConfigFile[C any](path string, parse func(data []byte, dir string) (C, error)) (C, error) {
	var zero C
	data, err := os.ReadFile(path)
	if err != nil {
		return zero, fmt.Errorf("config: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return zero, fmt.Errorf("config: %w", err)
	}
	c, err := parse(data, filepath.Dir(abs))
	if err != nil {
		return zero, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// DecodeStrict decodes a configuration file's data into v, strictly (an
// unknown key is an error), and returns the line of each key (key path
// -> line). Its errors are one line per mistake, naming keys rather than
// Go types; an empty file is an error.
func DecodeStrict(data []byte, v any) (map[string]int, error) {
	lines := KeyLines(data)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty file")
		}
		return nil, yamlError(err, lines)
	}
	return lines, nil
}

// Parse decodes a configuration strictly (an unknown key is an error),
// fills in the defaults and validates it. Its paths must be absolute: it
// has no file to resolve them against (LoadFile has).
func Parse(data []byte) (*Config, error) { return parse(data, "") }

// parse is Parse with relative paths resolved against dir ("" refuses
// them).
func parse(data []byte, dir string) (*Config, error) {
	var c Config
	lines, err := DecodeStrict(data, &c)
	if err != nil {
		return nil, err
	}
	c.lines = lines
	var errs []error
	errs = append(errs, c.resolvePaths(dir)...)
	errs = append(errs, c.loadTokensFile()...)
	c.applyDefaults()
	if err := c.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &c, nil
}

// resolvePaths makes the configuration's paths absolute, from dir.
func (c *Config) resolvePaths(dir string) []error {
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
	fix("store", &c.Store)
	fix("tokens_file", &c.TokensFile)
	if c.TLS != nil {
		fix("tls.cert", &c.TLS.Cert)
		fix("tls.key", &c.TLS.Key)
		fix("tls.client_ca", &c.TLS.ClientCA)
	}
	if c.Fleet != nil {
		fix("fleet.postgres_password_file", &c.Fleet.PasswordFile)
	}
	return errs
}

// loadTokensFile appends the tokens of tokens_file to Tokens. Its
// mistakes name the file and their line in it.
func (c *Config) loadTokensFile() []error {
	if c.TokensFile == "" {
		return nil
	}
	data, err := os.ReadFile(c.TokensFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil // no token made yet
	}
	if err != nil {
		return []error{c.errorf("tokens_file", "%v", err)}
	}
	var root yaml.Node
	lines := map[string]int{}
	if err := yaml.Unmarshal(data, &root); err == nil {
		indexLines(&root, "tokens", lines)
	}
	var toks []TokenConfig
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&toks); err != nil && !errors.Is(err, io.EOF) {
		return []error{fmt.Errorf("tokens_file %s: %w", c.TokensFile, yamlError(err, lines))}
	}
	// The file's tokens are checked as a configuration of their own, so
	// that their errors give the file's lines.
	fc := &Config{Tokens: toks, lines: lines}
	var errs []error
	for _, e := range fc.validateTokens() {
		errs = append(errs, fmt.Errorf("tokens_file %s: %w", c.TokensFile, e))
	}
	c.Tokens = append(c.Tokens, toks...)
	c.fileTokens = len(toks)
	return errs
}

// yamlError keeps yaml's messages ("line 3: field foo not found in type
// daemon.Config") on one line, without the Go type names, and names the
// key of a value's mistake from lines (key path -> line).
func yamlError(err error, lines map[string]int) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs := make([]string, len(te.Errors))
		for i, m := range te.Errors {
			if j := strings.Index(m, " in type "); j >= 0 {
				m = m[:j] // Go type names mean nothing to an operator
			}
			m = strings.Replace(m, "field ", "unknown key ", 1)
			m = strings.Replace(m, " not found", "", 1)
			if j := strings.Index(m, "cannot unmarshal"); j >= 0 {
				m = m[:j] + "wrong type of value"
			}
			var line int
			if _, err := fmt.Sscanf(m, "line %d: ", &line); err == nil && !strings.Contains(m, "unknown key") {
				if key := keyAt(lines, line); key != "" {
					rest := strings.TrimPrefix(m, fmt.Sprintf("line %d: ", line))
					m = fmt.Sprintf("line %d: %s: %s", line, key, rest)
				}
			}
			msgs[i] = m
		}
		return errors.New(strings.Join(msgs, "; "))
	}
	return errors.New(strings.TrimPrefix(err.Error(), "yaml: "))
}

// keyAt is the deepest key written at line ("" if none).
func keyAt(lines map[string]int, line int) string {
	best := ""
	for k, l := range lines {
		if l == line && (len(k) > len(best) || len(k) == len(best) && k < best) {
			best = k
		}
	}
	return best
}

// indexLines records the line of every key: "retention.max_bytes",
// "interfaces.1.name".
func indexLines(n *yaml.Node, prefix string, out map[string]int) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			indexLines(c, prefix, out)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i].Value
			if prefix != "" {
				key = prefix + "." + key
			}
			out[key] = n.Content[i].Line
			indexLines(n.Content[i+1], key, out)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			key := fmt.Sprintf("%s.%d", prefix, i)
			out[key] = c.Line
			indexLines(c, key, out)
		}
	}
}

func (c *Config) applyDefaults() {
	if c.Segment.MaxBytes == 0 {
		c.Segment.MaxBytes = DefaultSegmentBytes
	}
	if c.Segment.MaxAge == 0 {
		c.Segment.MaxAge = Duration(DefaultSegmentAge)
	}
	if !c.Retention.MinFree.set {
		c.Retention.MinFree = Free{Percent: DefaultMinFreePct, set: true}
	}
	if c.Retention.WhenHeld == "" {
		c.Retention.WhenHeld = "stop"
	}
	if c.Listen == nil {
		l := DefaultListen
		c.Listen = &l
	}
	for i := range c.Interfaces {
		it := &c.Interfaces[i]
		if it.Snaplen == 0 {
			it.Snaplen = DefaultSnaplen
		}
		if it.BufferSize == 0 {
			it.BufferSize = DefaultBuffer
		}
		if it.Fanout == 0 {
			it.Fanout = 1
		}
		if it.Promisc == nil {
			t := true
			it.Promisc = &t
		}
	}
}

func (c *Config) errorf(key, format string, args ...any) *ConfigError {
	return &ConfigError{Line: c.lines[key], Key: key, Msg: fmt.Sprintf(format, args...)}
}

// Validate checks the configuration and returns every problem, each
// naming its key and line.
func (c *Config) Validate() error {
	var errs []error
	if c.Store == "" {
		errs = append(errs, c.errorf("store", "required: the directory the segments go in"))
	}
	if c.Segment.MaxBytes < 1<<20 {
		errs = append(errs, c.errorf("segment.max_bytes", "at least 1MiB"))
	}
	if c.Segment.MaxAge < Duration(time.Second) {
		errs = append(errs, c.errorf("segment.max_age", "at least 1s"))
	}
	if c.Retention.MaxBytes != 0 && c.Retention.MaxBytes < 2*c.Segment.MaxBytes {
		errs = append(errs, c.errorf("retention.max_bytes", "must hold at least two segments (segment.max_bytes is %d bytes)", c.Segment.MaxBytes))
	}
	if c.Retention.MaxAge != 0 && c.Retention.MaxAge < c.Segment.MaxAge {
		errs = append(errs, c.errorf("retention.max_age", "shorter than segment.max_age: segments are deleted whole"))
	}
	switch c.Retention.WhenHeld {
	case "stop", "delete":
	default:
		errs = append(errs, c.errorf("retention.when_held", "%q: use stop or delete", c.Retention.WhenHeld))
	}
	switch c.Compression {
	case "", "zstd", "s2", "none":
	default:
		errs = append(errs, c.errorf("compression", "%q: use zstd, s2 or none", c.Compression))
	}
	if c.CompressionLevel < 0 || c.CompressionLevel > store.MaxCompressionLevel {
		errs = append(errs, c.errorf("compression_level", "%d: must be 1 to %d", c.CompressionLevel, store.MaxCompressionLevel))
	} else if c.CompressionLevel != 0 && c.Compression == "s2" {
		errs = append(errs, c.errorf("compression_level", "%d: a level is zstd's; s2 has none", c.CompressionLevel))
	}
	if len(c.Interfaces) == 0 {
		errs = append(errs, c.errorf("interfaces", "at least one interface to record"))
	}
	seen := map[string]int{}
	for i, it := range c.Interfaces {
		key := fmt.Sprintf("interfaces.%d", i)
		switch {
		case it.Name == "":
			errs = append(errs, c.errorf(key+".name", "required"))
		case strings.ContainsAny(it.Name, "/ \x00") || it.Name == "." || it.Name == "..":
			errs = append(errs, c.errorf(key+".name", "%q is not an interface name", it.Name))
		case it.Name == "any":
			errs = append(errs, c.errorf(key+".name", `"any" is not supported by the daemon: name the interfaces`))
		}
		if j, dup := seen[it.Name]; dup && it.Name != "" {
			errs = append(errs, c.errorf(key+".name", "%q is already configured at line %d", it.Name, c.lines[fmt.Sprintf("interfaces.%d.name", j)]))
		}
		seen[it.Name] = i
		if it.Snaplen < capture.MinSnaplen || it.Snaplen > capture.MaxSnaplen {
			errs = append(errs, c.errorf(key+".snaplen", "%d: must be %d to %d", it.Snaplen, capture.MinSnaplen, capture.MaxSnaplen))
		}
		if it.BufferSize < capture.MinBufferSize || it.BufferSize > capture.MaxBufferSize {
			errs = append(errs, c.errorf(key+".buffer_size", "must be %dKiB to %dGiB", capture.MinBufferSize>>10, capture.MaxBufferSize>>30))
		}
		if it.Filter != "" {
			// Checked for Ethernet here; the interface's own link type is
			// known when it is opened.
			if _, err := filter.Compile(it.Filter, filter.Options{LinkType: 1, Live: true, Netmask: filter.ZeroNetmask}); err != nil {
				errs = append(errs, c.errorf(key+".filter", "%v", err))
			}
		}
		if it.Fanout < 1 || it.Fanout > capture.MaxFanout {
			errs = append(errs, c.errorf(key+".fanout", "%d: must be 1 to %d", it.Fanout, capture.MaxFanout))
		}
	}
	errs = append(errs, c.validateCutoff()...)
	errs = append(errs, c.validateAccess()...)
	errs = append(errs, c.validateFleet()...)
	return errors.Join(errs...)
}

// SegmentAge is segment.max_age as a time.Duration.
func (c *Config) SegmentAge() time.Duration { return time.Duration(c.Segment.MaxAge) }

// BlockCompression is how new segments store their blocks.
func (c *Config) BlockCompression() store.Compression {
	return store.Compression{None: c.Compression == "none", S2: c.Compression == "s2", Level: c.CompressionLevel}
}

// CheckSummary says in one line what a valid configuration sets up: the
// interfaces, the store, the listen address and how, and the tokens.
func (c *Config) CheckSummary() string {
	names := make([]string, len(c.Interfaces))
	for i, it := range c.Interfaces {
		names[i] = it.Name
	}
	listen := "off"
	switch {
	case *c.Listen == "":
	case c.TLS != nil && c.TLS.ClientCA != "":
		listen = *c.Listen + " (TLS, client certificates)"
	case c.TLS != nil:
		listen = *c.Listen + " (TLS)"
	default:
		listen = *c.Listen + " (plain HTTP, loopback)"
	}
	tokens := strconv.Itoa(len(c.Tokens))
	if c.TokensFile != "" {
		tokens += fmt.Sprintf(" (%d from %s)", c.fileTokens, c.TokensFile)
	}
	return fmt.Sprintf("%d interfaces (%s); store %s; listen %s; tokens %s", len(c.Interfaces), strings.Join(names, ", "), c.Store, listen, tokens)
}

// AppendTokenStanza adds a token's stanza (as 'token new' prints it) to a
// tokens_file, creating it 0600. The file is replaced whole (a temporary
// file renamed over it), so the daemon never reads half a stanza; an
// existing file keeps its mode and owner (the daemon's user must read
// it); a name already in the file is refused.
func AppendTokenStanza(path, name, stanza string) error {
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("tokens file: %w", err)
	}
	mode, uid, gid := os.FileMode(0o600), -1, -1
	if fi, err := os.Stat(path); err == nil {
		mode = fi.Mode().Perm()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			uid, gid = int(st.Uid), int(st.Gid)
		}
	}
	if len(old) > 0 {
		var toks []TokenConfig
		if err := yaml.Unmarshal(old, &toks); err != nil {
			return fmt.Errorf("tokens file %s: %w", path, yamlError(err, nil))
		}
		for _, t := range toks {
			if t.Name == name {
				return fmt.Errorf("tokens file %s: %q is already a token", path, name)
			}
		}
		if old[len(old)-1] != '\n' {
			old = append(old, '\n')
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("tokens file: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(append(old, stanza...))
	if err == nil {
		err = tmp.Chmod(mode)
	}
	if err == nil && uid >= 0 && (uid != os.Getuid() || gid != os.Getgid()) {
		err = tmp.Chown(uid, gid)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = atomicfile.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("tokens file: %w", err)
	}
	return nil
}

// AccessConfig is what a daemon's configuration and the hub's share:
// listen, tls, tokens (and tokens_file), metrics_public and limits, with
// the same keys, checked and applied by the same code.
type AccessConfig struct {
	Listen        *string
	TLS           *TLSConfig
	Tokens        []TokenConfig
	TokensFile    string
	MetricsPublic bool
	Limits        ServerLimits
}

// Check reads tokens_file and checks a's keys, each error naming its key
// and its line (lines: key path -> line, as KeyLines gives them); it
// returns a's tokens with the file's appended.
func (a AccessConfig) Check(lines map[string]int) ([]TokenConfig, []error) {
	c := &Config{Listen: a.Listen, TLS: a.TLS, Tokens: a.Tokens, TokensFile: a.TokensFile, MetricsPublic: a.MetricsPublic,
		Limits: a.Limits, lines: lines}
	errs := c.loadTokensFile()
	return c.Tokens, append(errs, c.validateAccess()...)
}

// Rules are the API's access rules of a (its tokens as Check returned them).
func (a AccessConfig) Rules() api.Access {
	c := &Config{TLS: a.TLS, Tokens: a.Tokens, MetricsPublic: a.MetricsPublic, Limits: a.Limits}
	return c.access()
}

// ServerTLS is the TLS configuration a daemon serves t with: HTTP/1.1,
// client certificates verified when t names a client CA.
func ServerTLS(t *TLSConfig) (*tls.Config, error) {
	s := &tlsServer{}
	if err := s.load(t); err != nil {
		return nil, err
	}
	return s.config(), nil
}

// KeyLines is the line of each key of a YAML document ("limits.connections",
// "tokens.0.name"), for errors; DecodeStrict words a decoding error with them.
func KeyLines(data []byte) map[string]int {
	var root yaml.Node
	lines := map[string]int{}
	if err := yaml.Unmarshal(data, &root); err == nil {
		indexLines(&root, "", lines)
	}
	return lines
}
