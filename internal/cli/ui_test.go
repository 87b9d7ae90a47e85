package cli_test

import (
	"bufio"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/archive"
)

// TestUICommand runs packetrecorder ui over a store: its one-time URL logs
// in once, the session it opens serves the overview, and a second use of
// the URL is refused.
func TestUICommand(t *testing.T) {
	if r := run(t, "ui"); r.code == 0 || !strings.Contains(r.stderr, "give -d STORE") {
		t.Errorf("ui without -d: exit %d, %q", r.code, r.stderr)
	}
	if r := run(t, "ui", "-d", t.TempDir()); r.code == 0 || !strings.Contains(r.stderr, "is not a store directory") {
		t.Errorf("ui -d on a plain directory: exit %d, %q", r.code, r.stderr)
	}
	dir := filepath.Join(t.TempDir(), "store")
	a, err := archive.Open(dir, archive.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	cmd := exec.Command(binPath, "ui", "-d", dir, "--listen", "127.0.0.1:0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}()
	lines := make(chan string, 8)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var link string
	for link == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("ui ended before printing its URL")
			}
			if i := strings.Index(l, "http://"); i >= 0 && strings.Contains(l, "secret=") {
				link = strings.TrimSpace(l[i:])
			}
		case <-time.After(30 * time.Second):
			t.Fatal("ui printed no login URL within 30 s")
		}
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	resp, err := c.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "<h1>Overview</h1>") {
		t.Fatalf("the login URL: %s, want the overview:\n%s", resp.Status, body)
	}
	other := &http.Client{Timeout: 10 * time.Second}
	resp, err = other.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), "used already") {
		t.Errorf("the login URL a second time: %s, want 401:\n%s", resp.Status, body)
	}
}
