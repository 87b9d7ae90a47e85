package daemon

import (
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
