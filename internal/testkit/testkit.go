// Package testkit is what the test suites of several packages share:
// finding the shared corpus and reading its TSV files, requiring root or a
// tool, and running tcpdump as an independent witness. Tests only.
//
// A test that cannot run here (no root, no tcpdump, no corpus) skips with
// advice on a developer's machine, and fails where the environment says
// everything must be present: CI (CI set) or PRD_REQUIRE_PRIVILEGED=1.
package testkit

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Strict reports whether tests must not skip for want of root, tools or
// the corpus.
func Strict() bool {
	return os.Getenv("CI") != "" || os.Getenv("PRD_REQUIRE_PRIVILEGED") == "1"
}

// Missing skips the test with msg, or fails it when Strict.
func Missing(t testing.TB, msg string) {
	t.Helper()
	if Strict() {
		t.Fatalf("%s; CI and PRD_REQUIRE_PRIVILEGED=1 forbid skipping", msg)
	}
	t.Skip(msg)
}

// RequireRoot needs root; why says for what, and how to run the test.
func RequireRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		Missing(t, "needs root: "+why)
	}
}

// RequireTool needs a program on PATH.
func RequireTool(t testing.TB, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		Missing(t, name+" not installed")
	}
}

// CorpusRoot is the shared corpus: $PRD_CORPUS when set, else
// shared/corpus beside the checkout (the module's root is the nearest
// directory above the test's own, where go test runs it, that holds
// go.mod), else beside the repository it was cloned from, when that is a
// directory on this machine (a clone made elsewhere for a CI run).
func CorpusRoot() string {
	if env := os.Getenv("PRD_CORPUS"); env != "" {
		return env
	}
	dir, err := os.Getwd()
	if err != nil {
		return filepath.Join("..", "..", "..", "shared", "corpus")
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			beside := filepath.Join(filepath.Dir(d), "shared", "corpus")
			if _, err := os.Stat(beside); err != nil {
				out, gerr := exec.Command("git", "-C", d, "config", "--get", "remote.origin.url").Output()
				origin := strings.TrimSpace(string(out))
				if gerr == nil && filepath.IsAbs(origin) {
					if alt := filepath.Join(filepath.Dir(filepath.Clean(origin)), "shared", "corpus"); dirExists(alt) {
						return alt
					}
				}
			}
			return beside
		}
		if filepath.Dir(d) == d {
			return filepath.Join("..", "..", "..", "shared", "corpus")
		}
	}
}

func dirExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// Corpus returns the path of parts under the shared corpus, which must
// exist.
func Corpus(t testing.TB, parts ...string) string {
	t.Helper()
	p := filepath.Join(append([]string{CorpusRoot()}, parts...)...)
	if _, err := os.Stat(p); err != nil {
		Missing(t, fmt.Sprintf("shared corpus missing: %v", err))
	}
	return p
}

// ReadTSV reads a tab-separated file with a header line into one map per
// row, keyed by the header's names.
func ReadTSV(path string) ([]map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	var header []string
	var rows []map[string]string
	for sc.Scan() {
		fields := strings.Split(sc.Text(), "\t")
		if header == nil {
			header = fields
			continue
		}
		row := make(map[string]string, len(header))
		for i, h := range header {
			if i < len(fields) {
				row[h] = fields[i]
			}
		}
		rows = append(rows, row)
	}
	return rows, sc.Err()
}

// MustReadTSV is ReadTSV failing the test on error.
func MustReadTSV(t testing.TB, path string) []map[string]string {
	t.Helper()
	rows, err := ReadTSV(path)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// SyncBuffer is a bytes.Buffer safe for a writer goroutine and a reader
// (a process's stderr, a logger).
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// StartWitness starts a tcpdump command (possibly wrapped, as by ip netns
// exec) and waits until it is listening. It is killed when the test ends
// if it is still running; Stop ends it gracefully before that.
func StartWitness(t testing.TB, cmd *exec.Cmd) *exec.Cmd {
	t.Helper()
	var stderr SyncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(stderr.String(), "listening on"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("tcpdump did not start: %s", stderr.String())
		}
	}
	return cmd
}

// Stop ends a process the test started, by its PID (SIGINT, then SIGKILL
// after 10 s), and reaps it.
func Stop(t testing.TB, cmd *exec.Cmd) {
	t.Helper()
	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

// ChildT stands for a test's T in a child process a test started (run
// from TestMain, where there is no T): a failure prints its message and
// ends the process with status 2, which the parent test sees.
type ChildT struct{ testing.TB }

func (ChildT) Helper()                        {}
func (ChildT) Fatal(args ...any)              { fmt.Fprintln(os.Stderr, args...); os.Exit(2) }
func (ChildT) Fatalf(format string, a ...any) { fmt.Fprintf(os.Stderr, format+"\n", a...); os.Exit(2) }
