package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/packetrecorderd/packetrecorderd/internal/fleet"
)

// The fleet block parses, with outbox_max as a size.
func TestFleetConfigParses(t *testing.T) {
	c, err := Parse([]byte(`store: /s
interfaces: [{name: eth0}]
fleet:
  sensor: dc1-uplink
  postgres: "postgres://prd@db1/fleet"
  url: https://sensor1:7474
  outbox_max: 64MiB
`))
	if err != nil {
		t.Fatal(err)
	}
	fc := c.fleetConfig()
	if fc == nil || fc.Sensor != "dc1-uplink" || fc.Postgres != "postgres://prd@db1/fleet" || fc.URL != "https://sensor1:7474" || fc.OutboxMax != 64<<20 {
		t.Fatalf("fleet: %+v", fc)
	}
	c, err = Parse([]byte("store: /s\ninterfaces: [{name: eth0}]\n"))
	if err != nil || c.fleetConfig() != nil {
		t.Fatalf("no fleet block: %v %+v", err, c.Fleet)
	}
}

// Each mistake in the fleet block is one line naming its key and line.
func TestFleetConfigErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o600)
	for _, c := range []struct{ name, block, want string }{
		{"no sensor", "  postgres: postgres://db/f\n  url: https://s:7474\n", "fleet.sensor: required"},
		{"bad sensor", "  sensor: 'a b'\n  postgres: postgres://db/f\n  url: https://s:7474\n", `line 4: fleet.sensor: "a b"`},
		{"no postgres", "  sensor: s1\n  url: https://s:7474\n", "fleet.postgres: required"},
		{"bad postgres", "  sensor: s1\n  postgres: 'postgres://db:notaport/f'\n  url: https://s:7474\n", "line 5: fleet.postgres: "},
		{"no url", "  sensor: s1\n  postgres: postgres://db/f\n", "fleet.url: required"},
		{"bad url", "  sensor: s1\n  postgres: postgres://db/f\n  url: sensor1:7474\n", `line 6: fleet.url: "sensor1:7474" is not an http:// or https:// URL`},
		{"small outbox", "  sensor: s1\n  postgres: postgres://db/f\n  url: https://s:7474\n  outbox_max: 512KiB\n", "line 7: fleet.outbox_max: at least 1MiB"},
		{"bad outbox", "  sensor: s1\n  postgres: postgres://db/f\n  url: https://s:7474\n  outbox_max: lots\n", `invalid size "lots"`},
		{"unknown key", "  sensor: s1\n  postgres: postgres://db/f\n  url: https://s:7474\n  pasword: x\n", "unknown key pasword"},
		{"missing password file", "  sensor: s1\n  postgres: postgres://db/f\n  url: https://s:7474\n  postgres_password_file: " + filepath.Join(dir, "nope") + "\n", "fleet.postgres_password_file: postgres password: open"},
		{"empty password file", "  sensor: s1\n  postgres: postgres://db/f\n  url: https://s:7474\n  postgres_password_file: " + empty + "\n", "is empty"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte("store: /s\ninterfaces: [{name: eth0}]\nfleet:\n" + c.block))
			if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("got %v, want one line with %q", err, c.want)
			}
		})
	}
}

// A relative password file is the config file's neighbour; the password
// never appears in an error.
func TestFleetPasswordFileRelative(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "pg-pass"), []byte("s3cret\n"), 0o600)
	path := filepath.Join(dir, "c.yaml")
	os.WriteFile(path, []byte("store: st\ninterfaces: [{name: eth0}]\nfleet:\n  sensor: s1\n  postgres: postgres://prd@db/f\n  url: https://s:7474\n  postgres_password_file: pg-pass\n"), 0o600)
	c, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Fleet.PasswordFile; got != filepath.Join(dir, "pg-pass") {
		t.Errorf("password file %q", got)
	}
	_, err = Parse([]byte("store: /s\ninterfaces: [{name: eth0}]\nfleet:\n  sensor: s1\n  postgres: 'postgres://prd:s3cret@db:badport/f'\n  url: https://s:7474\n"))
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error %v shows the password", err)
	}
	var _ fleet.Config = c.Fleet.Config
}
