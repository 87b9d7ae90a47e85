package cli_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ncruces/go-sqlite3"

	"github.com/packetrecorderd/packetrecorderd/internal/netlab"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

// TestBadInputIsOneLine runs the real binary on inputs a user gets wrong
// and requires one clear line on stderr and a non-zero exit, never a panic.
func TestBadInputIsOneLine(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	notDB := filepath.Join(dir, "notes.txt")
	os.WriteFile(notDB, []byte(strings.Repeat("not a database\n", 300)), 0o600)

	// good.db is a real database with no sessions; full.db has session 1
	// with a packet, session 2 with none and session 3 of USB frames (on
	// which libpcap compiles no protocol test).
	db, err := store.Open(good, store.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	full := filepath.Join(dir, "full.db")
	db, err = store.Open(full, store.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, lt := range []uint32{1, 1, 189} {
		s := &store.Session{LinkType: lt, Snaplen: 65535, Interface: "eth0"}
		if err := db.CreateSession(s); err != nil {
			t.Fatal(err)
		}
		if s.ID == 2 {
			continue
		}
		w, _ := db.NewWriter(s.ID)
		var b store.Block
		b.Reset(lt)
		b.Append(1e18, 60, make([]byte, 60))
		w.Append(&b)
		w.Commit()
		w.Close()
	}
	db.Close()
	fullBefore, _ := os.ReadFile(full)
	truncated := filepath.Join(dir, "truncated.db")
	os.WriteFile(truncated, fullBefore[:len(fullBefore)/3], 0o600)
	newer := filepath.Join(dir, "newer.db")
	os.WriteFile(newer, fullBefore, 0o600)
	if c, err := sqlite3.Open(newer); err == nil {
		c.Exec("PRAGMA user_version=99")
		c.Close()
	}
	garbage := filepath.Join(dir, "garbage.pcap")
	os.WriteFile(garbage, []byte(strings.Repeat("this is not a capture\n", 20)), 0o600)
	damaged := filepath.Join(dir, "damaged.pcap")
	os.WriteFile(damaged, append([]byte{0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0},
		0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 0x7f, 1, 2, 3), 0o600)
	cases := []struct {
		name string
		args []string
		want string // substring of the error line
	}{
		{"unknown interface", []string{"capture", "-i", "nosuchif0", "-d", good}, `no such interface "nosuchif0" (available: `},
		{"bad filter", []string{"capture", "-i", "lo", "-d", good, "-f", "tcp port"}, "filter:"},
		{"negative count", []string{"capture", "-i", "lo", "-d", good, "-c", "-1"}, "invalid count"},
		{"negative duration", []string{"capture", "-i", "lo", "-d", good, "-t", "-5"}, "invalid duration"},
		{"snaplen negative", []string{"capture", "-i", "lo", "-d", good, "-s", "-1"}, "invalid snaplen"},
		{"snaplen too big", []string{"capture", "-i", "lo", "-d", good, "-s", "262145"}, "invalid snaplen"},
		{"absurd buffer", []string{"capture", "-i", "lo", "-d", good, "-b", "900GB"}, "invalid buffer size"},
		{"garbage buffer", []string{"capture", "-i", "lo", "-d", good, "-b", "lots"}, "invalid size"},
		{"missing interface flag", []string{"capture", "-d", good}, `"interface" not set`},
		{"missing database", []string{"sessions", "-d", filepath.Join(dir, "absent.db")}, "no such database"},
		{"database is a directory", []string{"sessions", "-d", dir}, "is a directory"},
		{"not a database", []string{"sessions", "-d", notDB}, "not a packetrecorder database"},
		{"unknown session name", []string{"query", "-d", good, "-s", "abc"}, `no session is named "abc"`},
		{"unknown session", []string{"query", "-d", good, "-s", "42"}, "session 42: no such session"},
		{"negative speed", []string{"replay", "-d", good, "-s", "1", "--speed", "-1"}, "invalid speed"},
		{"unknown subcommand", []string{"frobnicate"}, "unknown command"},
		{"filter syntax", []string{"filter", "host"}, "filter:"},
		{"filter for a link type without protocols", []string{"query", "-d", full, "-s", "3", "--filter", "tcp"}, "filtering not implemented"},
		{"truncated database", []string{"sessions", "-d", truncated}, "database"},
		{"newer schema", []string{"sessions", "-d", newer}, "newer"},
		{"unwritable database", []string{"capture", "-i", "lo", "-d", "/proc/packets.db"}, "/proc/packets.db"},
		{"export to unwritable path", []string{"export", "-d", full, "-s", "1", "-o", "/proc/out.pcap"}, "/proc/out.pcap"},
		{"replay onto missing interface", []string{"replay", "-d", full, "-s", "1", "-i", "nosuchif0"}, `no such interface "nosuchif0"`},
		{"replay onto any", []string{"replay", "-d", full, "-s", "1", "-i", "any"}, `the "any" device only captures`},
		{"replay of an empty session", []string{"replay", "-d", full, "-s", "2", "-i", "lo"}, "session 2: session has no packets"},
		{"import of a non-capture file", []string{"import", "-d", full, garbage}, "garbage.pcap"},
		{"import of a damaged capture", []string{"import", "-d", full, damaged}, "damaged.pcap"},
		{"negative limit", []string{"query", "-d", full, "-s", "1", "-l", "-3"}, "invalid limit"},
		{"bad time", []string{"query", "-d", full, "-s", "1", "--since", "yesterday"}, "invalid --since"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := run(t, c.args...)
			if r.code == 0 {
				t.Fatalf("exit 0; stdout %q", r.stdout)
			}
			lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "packetrecorder: ") {
				t.Errorf("stderr is not one line: %q", r.stderr)
			}
			if !strings.Contains(r.stderr, c.want) {
				t.Errorf("stderr %q does not say %q", r.stderr, c.want)
			}
			if strings.Contains(r.stderr, "goroutine") || strings.Contains(r.stderr, "panic") {
				t.Errorf("stack trace: %s", r.stderr)
			}
		})
	}
	// Nothing already stored was lost or changed by the failed commands.
	if got := sessions(t, full); len(got) != 3 || got[0].Packets != 1 || got[1].Packets != 0 || got[2].Packets != 1 {
		t.Errorf("full.db after the errors: %+v", got)
	}
	// Nothing above created a database where none was asked for.
	if _, err := os.Stat(filepath.Join(dir, "absent.db")); err == nil {
		t.Error("a read-only command created a database")
	}
}

// TestInterfaceDown: capturing on or replaying onto an interface that is
// down is one clear line, not a capture that hangs.
func TestInterfaceDown(t *testing.T) {
	netlab.Require(t)
	name := fmt.Sprintf("prdd%d", os.Getpid()%100000)
	netlab.Run(t, "ip", "link", "add", name, "type", "veth", "peer", "name", name+"p")
	t.Cleanup(func() { exec.Command("ip", "link", "delete", name).Run() })
	db := filepath.Join(t.TempDir(), "down.db")
	r := run(t, "capture", "-i", name, "-d", db, "-t", "1")
	if r.code == 0 || !strings.Contains(r.stderr, "interface is down: "+name) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Errorf("capture on a down interface: exit %d, stderr %q", r.code, r.stderr)
	}
}
