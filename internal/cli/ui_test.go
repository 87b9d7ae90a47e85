package cli_test

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/archive"
	"github.com/packetrecorderd/packetrecorderd/internal/netlab"
)

// TestUICommand runs packetrecorder ui over a store and over a database:
// its one-time URL logs in once, the session it opens serves the
// overview and the packets, and a second use of the URL is refused.
func TestUICommand(t *testing.T) {
	if r := run(t, "ui", "-d", filepath.Join(t.TempDir(), "none.db")); r.code == 0 || !strings.Contains(r.stderr, "no such file") {
		t.Errorf("ui -d on a missing file: exit %d, %q", r.code, r.stderr)
	}
	if r := run(t, "ui", "-d", t.TempDir()); r.code == 0 || !strings.Contains(r.stderr, "is a directory but not a store") {
		t.Errorf("ui -d on a plain directory: exit %d, %q", r.code, r.stderr)
	}
	dir := filepath.Join(t.TempDir(), "store")
	a, err := archive.Open(dir, archive.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	t.Run("store", func(t *testing.T) { uiLogin(t, dir, 0) })
	db := filepath.Join(t.TempDir(), "packets.db")
	mustRun(t, "import", "-d", db, pcapFile(t, t.TempDir(), 30, 50))
	t.Run("database", func(t *testing.T) { uiLogin(t, db, 30) })
}

// uiLogin serves path with packetrecorder ui, logs in with its URL, and
// counts the packets the packets page lists.
func uiLogin(t *testing.T, path string, packets int) {
	cmd := exec.Command(binPath, "ui", "-d", path, "--listen", "127.0.0.1:0")
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
	get := func(c *http.Client, u string) (int, string) {
		resp, err := c.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(b)
	}
	if code, body := get(c, link); code != 200 || !strings.Contains(body, "<h1>Overview</h1>") {
		t.Fatalf("the login URL: %d, want the overview:\n%s", code, body)
	}
	base := link[:strings.Index(link, "/ui/")]
	if code, body := get(c, base+"/ui/packets"); code != 200 || strings.Count(body, `<td class="line">`) != packets {
		t.Errorf("the packets page: %d, %d packets, want %d", code, strings.Count(body, `<td class="line">`), packets)
	}
	if code, body := get(&http.Client{Timeout: 10 * time.Second}, link); code != http.StatusUnauthorized || !strings.Contains(body, "used already") {
		t.Errorf("the login URL a second time: %d, want 401:\n%s", code, body)
	}
}

// TestDaemonServesUI: the daemon serves the web UI on its listen address
// beside the API: / redirects to it, a token logs in, the overview shows
// the interface recording, and the packets it recorded are listed.
func TestDaemonServesUI(t *testing.T) {
	lab := netlab.New(t, "dui")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.yaml")
	writeConfig(t, cfg, fmt.Sprintf(`store: %s
interfaces:
  - name: %s
    filter: "udp dst port 9999"
listen: 127.0.0.1:0
`, filepath.Join(dir, "store"), lab.HostIf))
	d := startDaemon(t, cfg)
	defer d.stop(t, 10*time.Second)
	sent := flood(t, lab, 9999, 500, time.Second)
	time.Sleep(1500 * time.Millisecond)

	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get("http://" + d.addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/ui/" {
		t.Errorf("GET /: %s to %q, want a redirect to /ui/", resp.Status, resp.Header.Get("Location"))
	}
	resp, err = c.PostForm("http://"+d.addr+"/ui/login", url.Values{"token": {testToken}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %s", resp.Status)
	}
	page := func(p string) string {
		resp, err := c.Get("http://" + d.addr + p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %s", p, resp.Status)
		}
		return string(b)
	}
	if ov := page("/ui/"); !strings.Contains(ov, ">"+lab.HostIf+"</a></td>") || !strings.Contains(ov, `<span class="state recording">recording</span>`) {
		t.Errorf("the overview does not show %s recording:\n%s", lab.HostIf, ov)
	}
	if n := strings.Count(page("/ui/packets?filter=udp"), `<td class="line">`); n != min(sent, 100) {
		t.Errorf("the packets page lists %d packets, want %d (a page of the %d sent)", n, min(sent, 100), sent)
	}
	// The API is still there, beside it.
	if code, _ := d.get(t, "/api/v1/status"); code != 200 {
		t.Errorf("GET /api/v1/status: %d", code)
	}
}
