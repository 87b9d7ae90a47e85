package testkit

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Postgres is a private PostgreSQL cluster a test started: its own data
// directory in the test's temporary directory, its own port on 127.0.0.1
// and its own unix socket directory. It is stopped (by its PID) and
// deleted when the test ends.
type Postgres struct {
	// DSN reaches the cluster over TCP on 127.0.0.1 as its superuser,
	// password included: postgres://USER:PASSWORD@127.0.0.1:PORT/postgres?sslmode=disable.
	DSN string
	// User and Password are the superuser's; Host and Port where it listens.
	User, Password string
	Host           string
	Port           int
	// SocketDir holds its unix socket; DataDir its files; LogFile the
	// server's output.
	SocketDir, DataDir, LogFile string

	t        testing.TB
	bin      string
	settings []string // more server settings, NAME=VALUE
	cred     *syscall.Credential

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// StartPostgres starts a private PostgreSQL cluster for the test and
// returns its DSN (see Postgres.DSN). It needs PostgreSQL's server
// programs (Debian's postgresql package: /usr/lib/postgresql/N/bin, or
// initdb and postgres on PATH); without them it skips, or fails under
// CI / PRD_REQUIRE_PRIVILEGED=1.
func StartPostgres(t testing.TB) (dsn string) {
	t.Helper()
	return StartPostgresCluster(t).DSN
}

// PostgresBin is the directory of PostgreSQL's server programs (initdb,
// postgres, pg_isready), or "" when none is installed.
func PostgresBin() string {
	if dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin"); len(dirs) > 0 {
		// The newest major version: numeric order, not string order.
		sort.Slice(dirs, func(i, j int) bool {
			vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
			vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
			return vi < vj
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			if _, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil {
				return dirs[i]
			}
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p)
	}
	return ""
}

// StartPostgresCluster is StartPostgres returning the cluster, for tests
// that stop and start it (Stop, Start) or need its parts.
//
// As root, PostgreSQL refuses to run: the cluster then runs as the
// postgres system user (Debian's package creates it), or as nobody, its
// directories chowned to that user.
func StartPostgresCluster(t testing.TB) *Postgres {
	t.Helper()
	bin := PostgresBin()
	if bin == "" {
		Missing(t, "PostgreSQL's server programs (initdb, postgres) not installed: apt-get install postgresql")
	}
	for _, prog := range []string{"initdb", "postgres", "pg_isready"} {
		if _, err := os.Stat(filepath.Join(bin, prog)); err != nil {
			Missing(t, fmt.Sprintf("PostgreSQL's %s not installed in %s", prog, bin))
		}
	}
	if os.Geteuid() == 0 {
		if _, _, err := pgUser(); err != nil {
			Missing(t, err.Error())
		}
	}
	p, err := LaunchPostgres(t.TempDir())
	if p != nil {
		p.t = t
		t.Cleanup(func() { p.Close() })
	}
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// LaunchPostgres starts a private cluster in base, an empty directory,
// for a program that has no test (a bench); Close stops it. Stop and
// Start are for tests only.
//
// settings are more server settings (NAME=VALUE, as postgres -c takes
// them): a bench sizes the server as a database host would be.
func LaunchPostgres(base string, settings ...string) (*Postgres, error) {
	bin := PostgresBin()
	if bin == "" {
		return nil, fmt.Errorf("PostgreSQL's server programs (initdb, postgres) not installed: apt-get install postgresql")
	}
	p := &Postgres{bin: bin, User: "prd", Password: "prd-test-secret", Host: "127.0.0.1", settings: settings}
	// The socket's path must fit sun_path (108 bytes): a short directory
	// of its own, not one under the test's long-named temporary directory.
	sock, err := os.MkdirTemp("", "prdpg")
	if err != nil {
		return nil, err
	}
	p.SocketDir = sock
	p.DataDir = filepath.Join(base, "pgdata")
	p.LogFile = filepath.Join(base, "postgres.log")
	fail := func(err error) (*Postgres, error) {
		os.RemoveAll(sock)
		return nil, err
	}
	if os.Geteuid() == 0 {
		uid, gid, err := pgUser()
		if err != nil {
			return fail(err)
		}
		p.cred = &syscall.Credential{Uid: uid, Gid: gid}
		// The user must reach its directories: the test's temporary
		// directory and its parent are root's, mode 0700.
		for _, d := range []string{filepath.Dir(base), base} {
			if err := os.Chmod(d, 0o711); err != nil {
				return fail(err)
			}
		}
		if err := os.Mkdir(p.DataDir, 0o700); err != nil {
			return fail(err)
		}
		f, err := os.OpenFile(p.LogFile, os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			return fail(err)
		}
		f.Close()
		for _, path := range []string{sock, p.DataDir, p.LogFile} {
			if err := os.Chown(path, int(uid), int(gid)); err != nil {
				return fail(err)
			}
		}
	}
	pwfile := filepath.Join(base, "pwfile")
	if err := os.WriteFile(pwfile, []byte(p.Password+"\n"), 0o600); err != nil {
		return fail(err)
	}
	if p.cred != nil {
		if err := os.Chown(pwfile, int(p.cred.Uid), int(p.cred.Gid)); err != nil {
			return fail(err)
		}
	}
	// Unix-socket connections trust the local user; TCP ones need the
	// password (scram), as a real server's would.
	initdb := p.command(filepath.Join(bin, "initdb"), "-D", p.DataDir, "-U", p.User,
		"--pwfile="+pwfile, "--auth-local=trust", "--auth-host=scram-sha-256",
		"-E", "UTF8", "--locale=C", "--no-sync")
	out, err := initdb.CombinedOutput()
	os.Remove(pwfile)
	if err != nil {
		return fail(fmt.Errorf("initdb: %w\n%s", err, out))
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		if p.Port, lastErr = freePort(); lastErr != nil {
			continue
		}
		if lastErr = p.start(); lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		return fail(fmt.Errorf("start postgres: %w", lastErr))
	}
	p.DSN = (&url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(p.User, p.Password),
		Host:     net.JoinHostPort(p.Host, strconv.Itoa(p.Port)),
		Path:     "/postgres",
		RawQuery: "sslmode=disable",
	}).String()
	return p, nil
}

// Close stops the server at once (its data is thrown away) and removes
// its socket directory.
func (p *Postgres) Close() error {
	p.kill()
	return os.RemoveAll(p.SocketDir)
}

// pgUser is the unprivileged user the cluster runs as under root.
func pgUser() (uid, gid uint32, err error) {
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		ui, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gi, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 == nil && err2 == nil {
			return uint32(ui), uint32(gi), nil
		}
	}
	return 0, 0, fmt.Errorf("no unprivileged user (postgres or nobody) to run PostgreSQL as")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (p *Postgres) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "TZ=UTC")
	cmd.Dir = filepath.Dir(p.DataDir)
	// No Pdeathsig: it fires when the OS thread that started the
	// process ends, and Go ends threads a goroutine locked (a test
	// entering a network namespace), which would kill the server midway.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	return cmd
}

// start runs the server on p.Port and waits until it accepts connections.
func (p *Postgres) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return fmt.Errorf("postgres already running (pid %d)", p.cmd.Process.Pid)
	}
	log, err := os.OpenFile(p.LogFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := p.command(filepath.Join(p.bin, "postgres"), "-D", p.DataDir,
		"-p", strconv.Itoa(p.Port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories="+p.SocketDir,
		"-c", "max_connections=50",
		"-c", "shared_buffers=64MB",
		"-c", "logging_collector=off")
	for _, set := range p.settings {
		cmd.Args = append(cmd.Args, "-c", set)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	p.cmd, p.done = cmd, done
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			p.cmd, p.done = nil, nil
			return fmt.Errorf("postgres exited at start: %s", p.logTail())
		default:
		}
		ready := exec.Command(filepath.Join(p.bin, "pg_isready"), "-q", "-h", p.SocketDir, "-p", strconv.Itoa(p.Port), "-U", p.User, "-d", "postgres")
		if ready.Run() == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.stopLocked(syscall.SIGKILL)
	return fmt.Errorf("postgres not ready in 30s: %s", p.logTail())
}

func (p *Postgres) logTail() string {
	b, _ := os.ReadFile(p.LogFile)
	s := strings.TrimSpace(string(b))
	if len(s) > 2000 {
		s = s[len(s)-2000:]
	}
	return s
}

// PID is the server's (postmaster's) process id, 0 while it is stopped.
func (p *Postgres) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Stop shuts the server down (fast shutdown: open connections are ended)
// and waits for its process to exit; the data stays, for Start.
func (p *Postgres) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil && p.t != nil {
		p.t.Fatal("postgres: Stop while not running")
	}
	p.stopLocked(syscall.SIGINT)
}

// Start starts the stopped server again on the same port and data, and
// waits until it accepts connections (failing the test if it does not).
func (p *Postgres) Start() error {
	err := p.start()
	if err != nil && p.t != nil {
		p.t.Fatalf("restart postgres: %v", err)
	}
	return err
}

// stopLocked signals the server's process (by its PID) and waits up to
// 30 s for it to exit, then kills it.
func (p *Postgres) stopLocked(sig syscall.Signal) {
	if p.cmd == nil {
		return
	}
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
	p.cmd, p.done = nil, nil
}

func (p *Postgres) kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	// Immediate shutdown: the test is over, its data is deleted next.
	p.stopLocked(syscall.SIGQUIT)
}
