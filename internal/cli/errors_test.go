package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

// TestBadInputIsOneLine runs the real binary on inputs a user gets wrong
// and requires one clear line on stderr and a non-zero exit, never a panic.
func TestBadInputIsOneLine(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	notDB := filepath.Join(dir, "notes.txt")
	os.WriteFile(notDB, []byte(strings.Repeat("not a database\n", 300)), 0o600)

	cases := []struct {
		name string
		args []string
		want string // substring of the error line
	}{
		{"unknown interface", []string{"capture", "-i", "nosuchif0", "-d", good}, `no such interface "nosuchif0" (available: `},
		{"bad filter", []string{"capture", "-i", "lo", "-d", good, "-f", "tcp port"}, "filter:"},
		{"negative count", []string{"capture", "-i", "lo", "-d", good, "-c", "-1"}, "invalid count"},
		{"negative duration", []string{"capture", "-i", "lo", "-d", good, "-t", "-5"}, "invalid duration"},
		{"snaplen zero", []string{"capture", "-i", "lo", "-d", good, "-s", "0"}, "invalid snaplen"},
		{"snaplen too big", []string{"capture", "-i", "lo", "-d", good, "-s", "262145"}, "invalid snaplen"},
		{"absurd buffer", []string{"capture", "-i", "lo", "-d", good, "-b", "900GB"}, "invalid buffer size"},
		{"garbage buffer", []string{"capture", "-i", "lo", "-d", good, "-b", "lots"}, "invalid size"},
		{"missing interface flag", []string{"capture", "-d", good}, `"interface" not set`},
		{"missing database", []string{"sessions", "-d", filepath.Join(dir, "absent.db")}, "no such database"},
		{"database is a directory", []string{"sessions", "-d", dir}, "is a directory"},
		{"not a database", []string{"sessions", "-d", notDB}, "not a packetrecorder database"},
		{"non-numeric session", []string{"query", "-d", good, "-s", "abc"}, `invalid session id "abc"`},
		{"unknown session", []string{"query", "-d", good, "-s", "42"}, "session 42: no such session"},
		{"negative speed", []string{"replay", "-d", good, "-s", "1", "--speed", "-1"}, "invalid speed"},
		{"unknown subcommand", []string{"frobnicate"}, "unknown command"},
		{"filter syntax", []string{"filter", "host"}, "filter:"},
	}
	// good.db is a real database with no sessions.
	db, err := store.Open(good, store.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
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
	// Nothing above created a database where none was asked for.
	if _, err := os.Stat(filepath.Join(dir, "absent.db")); err == nil {
		t.Error("a read-only command created a database")
	}
}
