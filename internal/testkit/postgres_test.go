package testkit

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// psql runs a query through PostgreSQL's own client over TCP with the
// cluster's password.
func psql(t *testing.T, p *Postgres, query string) (string, error) {
	t.Helper()
	cmd := exec.Command(filepath.Join(PostgresBin(), "psql"), "-X", "-A", "-t",
		"-h", p.Host, "-p", strconv.Itoa(p.Port), "-U", p.User, "-d", "postgres", "-c", query)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+p.Password, "PGCONNECT_TIMEOUT=3")
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func TestStartPostgresStopStart(t *testing.T) {
	p := StartPostgresCluster(t)
	out, err := psql(t, p, "CREATE TABLE t (x int); INSERT INTO t VALUES (42); SELECT x FROM t")
	if err != nil || !strings.HasSuffix(out, "42") {
		t.Fatalf("psql: %v: %s", err, out)
	}
	// The password is required over TCP.
	cmd := exec.Command(filepath.Join(PostgresBin(), "psql"), "-X", "-w", "-h", p.Host, "-p", strconv.Itoa(p.Port), "-U", p.User, "-d", "postgres", "-c", "SELECT 1")
	cmd.Env = append(os.Environ(), "PGPASSWORD=", "PGPASSFILE="+filepath.Join(t.TempDir(), "none"))
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Fatalf("psql without a password connected: %s", out)
	}
	p.Stop()
	if out, err := psql(t, p, "SELECT 1"); err == nil {
		t.Fatalf("psql reached a stopped server: %s", out)
	}
	p.Start()
	out, err = psql(t, p, "SELECT x FROM t")
	if err != nil || out != "42" {
		t.Fatalf("after restart: %v: %q", err, out)
	}
	if !strings.HasPrefix(p.DSN, "postgres://prd:") || !strings.Contains(p.DSN, "@127.0.0.1:"+strconv.Itoa(p.Port)+"/postgres") {
		t.Fatalf("DSN %q", p.DSN)
	}
}
