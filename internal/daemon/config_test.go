package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const goodConfig = `store: /var/lib/packetrecorder
segment:
  max_bytes: 1GiB
  max_age: 1h
retention:
  max_bytes: 500GiB
  max_age: 30d
  min_free: 10%
interfaces:
  - name: eth0
    filter: "not port 22"
    snaplen: 65535
    buffer_size: 256MiB
    fanout: 2
  - name: eth1
listen: 127.0.0.1:7474
`

func TestConfigParsesTheDocumentedExample(t *testing.T) {
	c, err := Parse([]byte(goodConfig))
	if err != nil {
		t.Fatal(err)
	}
	if c.Segment.MaxBytes != 1<<30 || c.SegmentAge() != time.Hour || c.Retention.MaxBytes != 500<<30 ||
		time.Duration(c.Retention.MaxAge) != 30*24*time.Hour || c.Retention.MinFree.Percent != 10 {
		t.Errorf("limits: %+v %+v", c.Segment, c.Retention)
	}
	if len(c.Interfaces) != 2 || c.Interfaces[0].BufferSize != 256<<20 || c.Interfaces[0].Fanout != 2 ||
		c.Interfaces[1].Snaplen != DefaultSnaplen || c.Interfaces[1].Fanout != 1 || !*c.Interfaces[1].Promisc {
		t.Errorf("interfaces: %+v", c.Interfaces)
	}
	if *c.Listen != "127.0.0.1:7474" || c.Retention.WhenHeld != "stop" {
		t.Errorf("listen %q, when_held %q", *c.Listen, c.Retention.WhenHeld)
	}
	if got := c.Retention.MinFree.Need(1000); got != 100 {
		t.Errorf("10%% of 1000 bytes = %d", got)
	}
}

// Every mistake is an error naming the key and its line; nothing starts.
func TestConfigErrorsNameKeyAndLine(t *testing.T) {
	for _, c := range []struct {
		name, yaml, want string
	}{
		{"unknown key", "store: /s\nretention:\n  max_byte: 1GiB\ninterfaces: [{name: eth0}]\n", "line 3: unknown key max_byte"},
		{"unknown interface key", "store: /s\ninterfaces:\n  - name: eth0\n    filtr: udp\n", "line 4: unknown key filtr"},
		{"bad size", "store: /s\nsegment:\n  max_bytes: lots\ninterfaces: [{name: eth0}]\n", "invalid size \"lots\""},
		{"bad duration", "store: /s\nretention:\n  max_age: 30 days\ninterfaces: [{name: eth0}]\n", "invalid duration \"30 days\""},
		{"bad percentage", "store: /s\nretention:\n  min_free: 120%\ninterfaces: [{name: eth0}]\n", "invalid percentage"},
		{"duplicate interface", "store: /s\ninterfaces:\n  - name: eth0\n  - name: eth1\n  - name: eth0\n", "line 5: interfaces.2.name: \"eth0\" is already configured at line 3"},
		{"duplicate key", "store: /s\nstore: /t\ninterfaces: [{name: eth0}]\n", "already defined at line 1"},
		{"no store", "interfaces: [{name: eth0}]\n", "store: required"},
		{"no interfaces", "store: /s\n", "interfaces: at least one"},
		{"snaplen", "store: /s\ninterfaces:\n  - name: eth0\n    snaplen: 0x100000\n", "line 4: interfaces.0.snaplen: 1048576: must be 1 to 262144"},
		{"fanout", "store: /s\ninterfaces:\n  - name: eth0\n    fanout: 100\n", "line 4: interfaces.0.fanout"},
		{"tiny retention", "store: /s\nsegment:\n  max_bytes: 1GiB\nretention:\n  max_bytes: 1GiB\ninterfaces: [{name: eth0}]\n", "line 5: retention.max_bytes: must hold at least two segments"},
		{"when_held", "store: /s\nretention:\n  when_held: panic\ninterfaces: [{name: eth0}]\n", "line 3: retention.when_held"},
		{"path in a name", "store: /s\ninterfaces:\n  - name: ../etc\n", "is not an interface name"},
		{"bad filter", "store: /s\ninterfaces:\n  - name: eth0\n    filter: \"tcp port\"\n", "line 4: interfaces.0.filter"},
		{"not yaml", "store: [\n", "line"},
		{"plain HTTP off loopback", "store: /s\nlisten: 0.0.0.0:7474\ninterfaces: [{name: eth0}]\n", "line 2: listen: 0.0.0.0:7474 is not a loopback address"},
		{"plain HTTP on all addresses", "store: /s\nlisten: \":7474\"\ninterfaces: [{name: eth0}]\n", "is not a loopback address"},
		{"tls without key", "store: /s\ntls:\n  cert: /nonexistent.pem\ninterfaces: [{name: eth0}]\n", "tls: needs both cert and key"},
		{"tls unreadable", "store: /s\ntls:\n  cert: /nonexistent.pem\n  key: /nonexistent.key\ninterfaces: [{name: eth0}]\n", "tls.cert"},
		{"client scopes without CA", "store: /s\nlisten: 127.0.0.1:1\ntls:\n  cert: /n.pem\n  key: /n.key\n  client_scopes: [read]\ninterfaces: [{name: eth0}]\n", "needs tls.client_ca"},
		{"token secret in clear", "store: /s\ntokens:\n  - name: a\n    sha256: hunter2\n    scopes: [read]\ninterfaces: [{name: eth0}]\n", "line 4: tokens.0.sha256"},
		{"token scope", "store: /s\ntokens:\n  - name: a\n    sha256: " + strings.Repeat("ab", 32) + "\n    scopes: [root]\ninterfaces: [{name: eth0}]\n", "unknown scope \"root\""},
		{"token without scope", "store: /s\ntokens:\n  - name: a\n    sha256: " + strings.Repeat("ab", 32) + "\ninterfaces: [{name: eth0}]\n", "tokens.0.scopes"},
		{"token names", "store: /s\ntokens:\n  - name: a\n    sha256: " + strings.Repeat("ab", 32) + "\n    scopes: [read]\n  - name: a\n    sha256: " + strings.Repeat("cd", 32) + "\n    scopes: [read]\ninterfaces: [{name: eth0}]\n", "\"a\" is already a token"},
		{"token filter", "store: /s\ntokens:\n  - name: a\n    sha256: " + strings.Repeat("ab", 32) + "\n    scopes: [read]\n    filter: \"port\"\ninterfaces: [{name: eth0}]\n", "tokens.0.filter"},
		{"limits", "store: /s\nlimits:\n  concurrent_queries: -1\ninterfaces: [{name: eth0}]\n", "limits.concurrent_queries"},
		{"empty", "", "empty file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.yaml))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want an error containing %q", err, c.want)
			}
			if err != nil && strings.Contains(err.Error(), "daemon.") {
				t.Errorf("error names a Go type: %v", err)
			}
		})
	}
}

func TestSizesAndDurations(t *testing.T) {
	for in, want := range map[string]int64{"65536": 65536, "512KiB": 512 << 10, "64MB": 64 << 20, "1GiB": 1 << 30, "2TiB": 2 << 40, "1.5G": 3 << 29} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for in, want := range map[string]time.Duration{"90s": 90 * time.Second, "15m": 15 * time.Minute, "1h": time.Hour, "30d": 30 * 24 * time.Hour, "1h30m": 90 * time.Minute} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"-5s", "d", "5 y", "1e9999d"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) accepted", bad)
		}
	}
}

// A value's mistake names its key and line, as every other mistake does.
func TestConfigValueErrorsNameKeyAndLine(t *testing.T) {
	for _, c := range []struct{ name, yaml, want string }{
		{"segment age in words", "store: /s\nsegment:\n  max_age: 1 minute\ninterfaces: [{name: eth0}]\n", "line 3: segment.max_age: invalid duration \"1 minute\""},
		{"retention age", "store: /s\nretention:\n  max_age: 30 days\ninterfaces: [{name: eth0}]\n", "line 3: retention.max_age: invalid duration"},
		{"size", "store: /s\nsegment:\n  max_bytes: lots\ninterfaces: [{name: eth0}]\n", "line 3: segment.max_bytes: invalid size \"lots\""},
		{"buffer", "store: /s\ninterfaces:\n  - name: eth0\n    buffer_size: huge\n", "line 4: interfaces.0.buffer_size: invalid size"},
		{"percentage", "store: /s\nretention:\n  min_free: 120%\ninterfaces: [{name: eth0}]\n", "line 3: retention.min_free: invalid percentage"},
		// NaN passes every comparison: min_free was silently off, a size
		// the most negative int64.
		{"NaN percentage", "store: /s\nretention:\n  min_free: nan%\ninterfaces: [{name: eth0}]\n", "line 3: retention.min_free: invalid percentage"},
		{"NaN size", "store: /s\nsegment:\n  max_bytes: nan\ninterfaces: [{name: eth0}]\n", "line 3: segment.max_bytes: invalid size \"nan\""},
		{"NaN size with a unit", "store: /s\nretention:\n  max_bytes: NaN GiB\ninterfaces: [{name: eth0}]\n", "line 3: retention.max_bytes: invalid size"},
		{"token window", "store: /s\ntokens:\n  - name: a\n    sha256: " + strings.Repeat("ab", 32) + "\n    scopes: [read]\n    max_window: soon\ninterfaces: [{name: eth0}]\n", "line 6: tokens.0.max_window: invalid duration"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.yaml))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
	// Two mistakes: both reported.
	_, err := Parse([]byte("store: /s\nsegment:\n  max_age: 1 minute\n  max_bytes: lots\ninterfaces: [{name: eth0}]\n"))
	if err == nil || !strings.Contains(err.Error(), "line 3: segment.max_age") || !strings.Contains(err.Error(), "line 4: segment.max_bytes") {
		t.Errorf("two mistakes: %v", err)
	}
}

// A relative path is taken from the configuration file's directory, never
// from the daemon's working directory; without a file it is refused.
func TestConfigRelativePaths(t *testing.T) {
	if _, err := Parse([]byte("store: data\ninterfaces: [{name: eth0}]\n")); err == nil || !strings.Contains(err.Error(), "line 1: store: \"data\" is a relative path") {
		t.Errorf("a relative store without a file: %v", err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(path, []byte("store: data\ntokens_file: tokens.yaml\ninterfaces: [{name: eth0}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// From another working directory.
	t.Chdir(t.TempDir())
	c, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Store != filepath.Join(dir, "data") || c.TokensFile != filepath.Join(dir, "tokens.yaml") {
		t.Errorf("store %q, tokens_file %q: want them in %s", c.Store, c.TokensFile, dir)
	}
}

// tokens_file holds stanzas as 'token new' prints them; a missing file
// holds none; its mistakes name the file and their line; a token in both
// places is refused.
func TestConfigTokensFile(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.yaml")
	toks := filepath.Join(dir, "tokens.yaml")
	os.WriteFile(cfg, []byte("store: /s\ntokens_file: tokens.yaml\ninterfaces: [{name: eth0}]\n"), 0o600)
	c, err := LoadFile(cfg)
	if err != nil || len(c.Tokens) != 0 {
		t.Fatalf("no tokens file yet: %v %v", c, err)
	}
	stanza := func(name, hex string) string {
		return "# The secret, shown once.\n  - name: " + name + "\n    sha256: " + hex + "\n    scopes: [read]\n"
	}
	os.WriteFile(toks, []byte(stanza("a", strings.Repeat("ab", 32))+stanza("b", strings.Repeat("cd", 32))), 0o600)
	c, err = LoadFile(cfg)
	if err != nil || len(c.Tokens) != 2 || c.Tokens[1].Name != "b" {
		t.Fatalf("two tokens: %+v %v", c, err)
	}
	if len(c.access().Tokens) != 2 {
		t.Errorf("the file's tokens do not reach the API")
	}
	if s := c.CheckSummary(); !strings.Contains(s, "tokens 2 (2 from "+toks+")") {
		t.Errorf("check summary: %s", s)
	}
	os.WriteFile(toks, []byte(stanza("a", strings.Repeat("ab", 32))+stanza("b", "hunter2")), 0o600)
	if _, err := LoadFile(cfg); err == nil || !strings.Contains(err.Error(), "tokens_file "+toks+": line 7: tokens.1.sha256") {
		t.Errorf("a bad token in the file: %v", err)
	}
	os.WriteFile(toks, []byte(stanza("a", strings.Repeat("ab", 32))), 0o600)
	os.WriteFile(cfg, []byte("store: /s\ntokens_file: tokens.yaml\ntokens:\n  - name: a\n    sha256: "+strings.Repeat("ef", 32)+"\n    scopes: [read]\ninterfaces: [{name: eth0}]\n"), 0o600)
	if _, err := LoadFile(cfg); err == nil || !strings.Contains(err.Error(), "line 2: tokens_file: \"a\" is already a token") {
		t.Errorf("a name in both: %v", err)
	}
}

// The shipped configuration is valid and its API usable: it names a
// tokens file, and its comments say how to fill it.
func TestDistConfigHasAWayToTokens(t *testing.T) {
	text, err := os.ReadFile("../../dist/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	if c.TokensFile == "" || !strings.Contains(string(text), "token new") || !strings.Contains(string(text), c.TokensFile) {
		t.Errorf("dist/config.yaml names no tokens file, or not how to write one")
	}
}

func TestConnBudget(t *testing.T) {
	// 1024 descriptors, 2 rings: 1024 - (64 + 32) = 928 beyond the
	// reserve, half of them for connections.
	if got := connBudget(1024, 2); got != 464 {
		t.Errorf("connBudget(1024, 2) = %d, want 464", got)
	}
	if got := connBudget(50, 1); got != 1 {
		t.Errorf("connBudget(50, 1) = %d, want 1", got)
	}
}

// daemon --check's line says what was checked: the interfaces, the store,
// the listen address and how it is served, the tokens.
func TestCheckSummary(t *testing.T) {
	c, err := Parse([]byte(goodConfig + testTokens(2)))
	if err != nil {
		t.Fatal(err)
	}
	want := "2 interfaces (eth0, eth1); store /var/lib/packetrecorder; listen 127.0.0.1:7474 (plain HTTP, loopback); tokens 2"
	if got := c.CheckSummary(); got != want {
		t.Errorf("check summary:\n got %s\nwant %s", got, want)
	}
	c, err = Parse([]byte("store: /s\nlisten: \"\"\ninterfaces: [{name: eth0}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.CheckSummary(); !strings.Contains(got, "listen off; tokens 0") {
		t.Errorf("no listener: %s", got)
	}
}

func testTokens(n int) string {
	s := "tokens:\n"
	for i := range n {
		s += fmt.Sprintf("  - name: t%d\n    sha256: %064x\n    scopes: [read]\n", i, i+1)
	}
	return s
}

// token new --append: the stanza lands in the file whole, after what was
// there; an existing file keeps its mode (and owner); a name twice is
// refused and leaves the file as it was.
func TestAppendTokenStanza(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.yaml")
	st := func(name string, b byte) string {
		return "  - name: " + name + "\n    sha256: " + strings.Repeat(fmt.Sprintf("%02x", b), 32) + "\n    scopes: [read]\n"
	}
	if err := AppendTokenStanza(path, "a", st("a", 1)); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("a new tokens file: %v %v", fi, err)
	}
	os.Chmod(path, 0o640)
	if err := AppendTokenStanza(path, "b", st("b", 2)); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v after an append, want the file's own 0640", fi.Mode().Perm())
	}
	before, _ := os.ReadFile(path)
	if err := AppendTokenStanza(path, "a", st("a", 3)); err == nil || !strings.Contains(err.Error(), `"a" is already a token`) {
		t.Errorf("a name twice: %v", err)
	}
	after, _ := os.ReadFile(path)
	if string(after) != string(before) || string(after) != st("a", 1)+st("b", 2) {
		t.Errorf("tokens file:\n%s", after)
	}
	os.WriteFile(filepath.Join(filepath.Dir(path), "c.yaml"), []byte("store: /s\ntokens_file: tokens.yaml\ninterfaces: [{name: eth0}]\n"), 0o600)
	if c, err := LoadFile(filepath.Join(filepath.Dir(path), "c.yaml")); err != nil || len(c.Tokens) != 2 {
		t.Errorf("the daemon reads it: %v", err)
	}
}
