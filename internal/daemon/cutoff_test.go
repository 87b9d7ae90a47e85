package daemon

import (
	"strings"
	"testing"

	"github.com/packetrecorderd/packetrecorderd/internal/cutoff"
)

// The example parses into its rules, in order, with keep:
// headers where a rule does not say.
func TestCutoffConfigExample(t *testing.T) {
	c, err := Parse([]byte(`store: /s
interfaces: [{name: eth0}]
cutoff:
  default: 1MiB
  rules:
    - filter: "tcp port 443"
      bytes: 20KiB
    - filter: "port 22"
      packets: 5
    - filter: "host 10.0.0.5"
      bytes: unlimited
    - filter: "udp"
      bytes: 0
      keep: none
`))
	if err != nil {
		t.Fatal(err)
	}
	cc := c.cutoffConfig()
	want := []cutoff.Rule{
		{Filter: "tcp port 443", Limit: cutoff.Limit{Bytes: 20 << 10}},
		{Filter: "port 22", Limit: cutoff.Limit{Bytes: cutoff.Unlimited, Packets: 5}},
		{Filter: "host 10.0.0.5", Limit: cutoff.Limit{Bytes: cutoff.Unlimited}},
		{Filter: "udp", Limit: cutoff.Limit{Bytes: 0, Keep: cutoff.KeepNone}},
	}
	if !cc.Enabled || cc.Default != (cutoff.Limit{Bytes: 1 << 20}) || len(cc.Rules) != len(want) {
		t.Fatalf("got %+v", cc)
	}
	for i := range want {
		if cc.Rules[i] != want[i] {
			t.Errorf("rule %d: got %+v, want %+v", i, cc.Rules[i], want[i])
		}
	}
	if c, err := Parse([]byte("store: /s\ninterfaces: [{name: eth0}]\n")); err != nil || c.cutoffConfig() != nil {
		t.Errorf("no cutoff block: %v, %v", c.cutoffConfig(), err)
	}
}

// Each mistake in the cutoff block is one line naming its key and line.
func TestCutoffConfigErrors(t *testing.T) {
	head := "store: /s\ninterfaces: [{name: eth0}]\ncutoff:\n"
	for _, c := range []struct{ name, yaml, want string }{
		{"bad default", "  default: lots\n", "line 4: cutoff.default: invalid size \"lots\""},
		{"negative", "  default: -5KiB\n", "line 4: cutoff.default: invalid size"},
		{"bad keep", "  keep: some\n", "line 4: cutoff.keep: \"some\": use headers or none"},
		{"bad rule bytes", "  rules:\n    - filter: tcp\n      bytes: many\n", "line 6: cutoff.rules.0.bytes: invalid size \"many\""},
		{"bad filter", "  rules:\n    - filter: \"tcp port\"\n      bytes: 1KiB\n", "line 5: cutoff.rules.0.filter:"},
		{"no filter", "  rules:\n    - bytes: 1KiB\n", "cutoff.rules.0.filter: required"},
		{"no limit", "  rules:\n    - filter: tcp\n", "cutoff.rules.0: give bytes"},
		{"negative packets", "  rules:\n    - filter: tcp\n      packets: -1\n", "line 6: cutoff.rules.0.packets: -1"},
		{"rule keep", "  rules:\n    - filter: tcp\n      packets: 3\n      keep: all\n", "line 7: cutoff.rules.0.keep"},
		{"unknown key", "  rules:\n    - filter: tcp\n      bites: 3\n", "line 6: unknown key bites"},
		{"table size", "  table_size: -3\n", "line 4: cutoff.table_size"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(head + c.yaml))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("more than one line: %q", err)
			}
		})
	}
}

// A reload that changes the cutoff block changes the interfaces' segment
// limits (so their rings restart with it), and the rings get the block as
// it was parsed; the same block twice changes nothing.
func TestCutoffReloadRestartsRings(t *testing.T) {
	parse := func(cut string) *Config {
		c, err := Parse([]byte("store: /s\ninterfaces: [{name: eth0}]\n" + cut))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	d := &Daemon{}
	a := parse("cutoff:\n  default: 1MiB\n  rules:\n    - filter: tcp port 443\n      bytes: 20KiB\n")
	same := parse("cutoff:\n  default: 1MiB\n  rules:\n    - filter: tcp port 443\n      bytes: 20KiB\n")
	other := parse("cutoff:\n  default: 1MiB\n  rules:\n    - filter: tcp port 443\n      bytes: 30KiB\n")
	none := parse("")
	if d.segmentLimits(a) != d.segmentLimits(same) {
		t.Error("the same cutoff block changes the limits")
	}
	if d.segmentLimits(a) == d.segmentLimits(other) || d.segmentLimits(a) == d.segmentLimits(none) {
		t.Error("a changed cutoff block leaves the limits alone: the rings would not restart")
	}
	got, want := d.segmentLimits(a).cutoffConfig(), a.cutoffConfig()
	if got == nil || got.Default != want.Default || len(got.Rules) != 1 || got.Rules[0] != want.Rules[0] || !got.Enabled {
		t.Errorf("the rings get %+v, want %+v", got, want)
	}
	if d.segmentLimits(none).cutoffConfig() != nil {
		t.Error("no cutoff block: the rings get one")
	}
}
