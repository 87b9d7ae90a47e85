package cli_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// binPath is the packetrecorder binary built once for these tests, so
// they exercise exactly what users run: flags, exit codes, signals.
var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "prd-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "packetrecorder")
	build := exec.Command("go", "build", "-o", binPath, "../../cmd/packetrecorder")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build packetrecorder: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

// run runs the binary to completion, at most a minute.
func run(t *testing.T, args ...string) result {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		<-done
		t.Fatalf("packetrecorder %s: still running after a minute", strings.Join(args, " "))
	}
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return r
}

// mustRun runs the binary and fails the test unless it exits 0.
func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	r := run(t, args...)
	if r.code != 0 {
		t.Fatalf("packetrecorder %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// background is a packetrecorder process the test started.
type background struct {
	cmd    *exec.Cmd
	stdout *bytes.Buffer
	stderr *bytes.Buffer
	lines  chan string // stdout lines as they come
	done   chan error
}

func start(t *testing.T, args ...string) *background {
	t.Helper()
	return startCmd(t, exec.Command(binPath, args...))
}

// startCmd starts cmd, a packetrecorder command perhaps wrapped (as by ip
// netns exec, which execs it in the same process).
func startCmd(t *testing.T, cmd *exec.Cmd) *background {
	t.Helper()
	pr, pw := io.Pipe()
	b := &background{cmd: cmd, stdout: new(bytes.Buffer), stderr: new(bytes.Buffer), lines: make(chan string, 100), done: make(chan error, 1)}
	cmd.Stdout = io.MultiWriter(b.stdout, pw)
	cmd.Stderr = io.MultiWriter(b.stderr, pw)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			select {
			case b.lines <- sc.Text():
			default:
			}
		}
	}()
	go func() { err := cmd.Wait(); pw.Close(); b.done <- err }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-b.done
		}
	})
	return b
}

// waitLine waits for a line of stdout or stderr containing substr.
func (b *background) waitLine(t *testing.T, substr string, timeout time.Duration) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case l := <-b.lines:
			if strings.Contains(l, substr) {
				return l
			}
		case <-deadline:
			t.Fatalf("no line with %q within %v; stdout %q stderr %q", substr, timeout, b.stdout.String(), b.stderr.String())
		}
	}
}

// wait waits for the process to exit and returns its exit code.
func (b *background) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case err := <-b.done:
		b.done <- err
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(timeout):
		t.Fatalf("still running after %v; stdout %q stderr %q", timeout, b.stdout.String(), b.stderr.String())
	}
	return -1
}

type sessionInfo struct {
	ID             int64   `json:"id"`
	Name           string  `json:"name"`
	Interface      string  `json:"interface"`
	Filter         string  `json:"filter"`
	LinkType       uint32  `json:"link_type"`
	Snaplen        uint32  `json:"snaplen"`
	StartedAt      string  `json:"started_at"`
	EndedAt        *string `json:"ended_at"`
	Packets        int64   `json:"packets"`
	Bytes          int64   `json:"bytes"`
	KernelReceived int64   `json:"kernel_received"`
	KernelDropped  int64   `json:"kernel_dropped"`
	Dropped        int64   `json:"dropped"`
	Status         string  `json:"status"`
	Notes          string  `json:"notes"`
}

func sessions(t *testing.T, db string) []sessionInfo {
	t.Helper()
	var out []sessionInfo
	if err := json.Unmarshal([]byte(mustRun(t, "sessions", "-d", db, "--json")), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

type packetInfo struct {
	N       int64  `json:"n"`
	TS      string `json:"ts"`
	CapLen  int    `json:"caplen"`
	Len     int    `json:"len"`
	Summary string `json:"summary"`
	Data    string `json:"data"`
}

func queryJSON(t *testing.T, args ...string) []packetInfo {
	t.Helper()
	out := mustRun(t, append([]string{"query", "--json"}, args...)...)
	var pkts []packetInfo
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var p packetInfo
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkts = append(pkts, p)
	}
	return pkts
}
