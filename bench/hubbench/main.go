// Command hubbench measures a needle query through the hub across three
// sensors against the same query on the one sensor that holds it, and
// checks that the hub asked only that sensor.
//
// It starts a private PostgreSQL (testkit), three daemons with fleet:
// blocks, each recording its own network namespace's veth (netlab) with
// -flows UDP flows of -packets datagrams each, the needle (one datagram)
// on sensor s1 only, and a hub. Once the flow records are in PostgreSQL
// and older than the hub's FlowLag, it runs the needle query -runs times
// each way, alternating, over HTTP (GET /api/v1/packets?format=pcap, as
// curl would) and through the CLI (query --server), and prints the
// medians, their ratio, and the packet queries each sensor's audit log
// shows for the hub's runs. Needs root (namespaces) and PostgreSQL.
//
//	go run ./bench/hubbench [-runs 21] [-flows 200] [-packets 50]
package main

import (
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/netlab"
	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// benchTB is the testing.TB the test kits need, for a command: a failure
// ends the run (after the cleanups).
type benchTB struct {
	testing.TB
	dir      string
	cleanups []func()
}

func (b *benchTB) Helper()                           {}
func (b *benchTB) Cleanup(f func())                  { b.cleanups = append(b.cleanups, f) }
func (b *benchTB) Name() string                      { return "hubbench" }
func (b *benchTB) Logf(format string, args ...any)   { log.Printf(format, args...) }
func (b *benchTB) Errorf(format string, args ...any) { b.Fatalf(format, args...) }
func (b *benchTB) Fatal(args ...any)                 { b.Fatalf("%s", fmt.Sprint(args...)) }
func (b *benchTB) Fatalf(format string, args ...any) {
	b.cleanup()
	log.Fatalf(format, args...)
}
func (b *benchTB) Skip(args ...any) { b.Fatal(args...) }
func (b *benchTB) TempDir() string {
	d, err := os.MkdirTemp(b.dir, "t")
	if err != nil {
		b.Fatal(err)
	}
	return d
}
func (b *benchTB) cleanup() {
	for i := len(b.cleanups) - 1; i >= 0; i-- {
		b.cleanups[i]()
	}
	b.cleanups = nil
}

const (
	userSecret = "hubbench-user"
	hubSecret  = "hubbench-hub"
)

func main() {
	runs := flag.Int("runs", 21, "runs of each measurement")
	flows := flag.Int("flows", 200, "UDP flows per sensor")
	packets := flag.Int("packets", 50, "datagrams per flow")
	flag.Parse()
	dir, err := os.MkdirTemp("/var/tmp", "prd-hubbench-")
	if err != nil {
		log.Fatal(err)
	}
	t := &benchTB{dir: dir}
	t.Cleanup(func() { os.RemoveAll(dir) })
	defer t.cleanup()

	bin := filepath.Join(dir, "packetrecorder")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/packetrecorder").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	tokenStanza := func(name, secret, scopes string) string {
		return fmt.Sprintf("  - name: %s\n    sha256: %x\n    scopes: [%s]\n", name, sha256.Sum256([]byte(secret)), scopes)
	}
	// The labs and every peer socket first: a socket is made on a thread
	// that enters the peer's namespace and then exits, and PostgreSQL's
	// server dies with the thread that started it (testkit's Pdeathsig).
	var labs []*netlab.Lab
	var socks [][]*net.UDPConn
	for i := range 3 {
		lab := netlab.New(t, fmt.Sprintf("hbb%d", i))
		var ss []*net.UDPConn
		for range *flows + 1 {
			ss = append(ss, lab.PeerUDP())
		}
		labs, socks = append(labs, lab), append(socks, ss)
	}
	pg := testkit.StartPostgresCluster(t)
	var urls []string
	var logs []string
	for i, lab := range labs {
		port := freePort(t)
		url := fmt.Sprintf("http://127.0.0.1:%d", port)
		cfg := filepath.Join(dir, fmt.Sprintf("s%d.yaml", i))
		// Segments close after 2 s idle: the hub asks a sensor for a
		// window its open segments overlap, and its closed ones only
		// where their summaries may hold a match.
		write(t, cfg, fmt.Sprintf("store: %s\ninterfaces:\n  - name: %s\n    filter: udp\nsegment:\n  max_age: 2s\nlisten: 127.0.0.1:%d\ntokens:\n%s%sfleet:\n  sensor: s%d\n  postgres: \"%s\"\n  url: %s\n",
			filepath.Join(dir, fmt.Sprintf("store%d", i)), lab.HostIf, port, tokenStanza("user", userSecret, "read"),
			tokenStanza("hub", hubSecret, "read")+"    requests_per_minute: 100000\n    concurrent_queries: 64\n", i, pg.DSN, url))
		logf := filepath.Join(dir, fmt.Sprintf("s%d.log", i))
		startProc(t, bin, logf, "daemon", "--config", cfg)
		waitHTTP(t, url)
		waitLog(t, logf, "msg=ready")
		urls, logs = append(urls, url), append(logs, logf)
	}
	// Each sensor's own flows; the needle on s1 only.
	for i, lab := range labs {
		for _, c := range socks[i][:*flows] {
			for range *packets {
				c.WriteToUDP(make([]byte, 200), &net.UDPAddr{IP: lab.HostIP, Port: 9000})
			}
		}
	}
	nc := socks[1][*flows]
	needleSrc := nc.LocalAddr().(*net.UDPAddr).Port
	nc.WriteToUDP([]byte("needle"), &net.UDPAddr{IP: labs[1].HostIP, Port: 7777})
	needle := fmt.Sprintf("udp and host %s and src port %d and dst port 7777", labs[1].PeerIP, needleSrc)
	sent := time.Now()

	hubToken := filepath.Join(dir, "hub-token")
	userToken := filepath.Join(dir, "user-token")
	write(t, hubToken, hubSecret+"\n")
	write(t, userToken, userSecret+"\n")
	hubPort := freePort(t)
	hubURL := fmt.Sprintf("http://127.0.0.1:%d", hubPort)
	hubCfg := filepath.Join(dir, "hub.yaml")
	write(t, hubCfg, fmt.Sprintf("listen: 127.0.0.1:%d\npostgres: \"%s\"\nsensors:\n  token_file: %s\ntokens:\n%s",
		hubPort, pg.DSN, hubToken, tokenStanza("user", userSecret, "read")))
	startProc(t, bin, filepath.Join(dir, "hub.log"), "hub", "--config", hubCfg)
	waitHTTP(t, hubURL)

	// The flow records in PostgreSQL, and older than the hub's FlowLag.
	want := 3**flows**packets + 1
	deadline := time.Now().Add(time.Minute)
	for {
		out, _ := exec.Command(bin, "flows", "--json", "-l", "0", "--server", hubURL, "--token-file", userToken).Output()
		n := 0
		for _, l := range strings.Split(string(out), "\n") {
			var p int
			if i := strings.Index(l, `"packets":`); i >= 0 && !strings.HasPrefix(l, `{"end"`) {
				fmt.Sscan(l[i+len(`"packets":`):], &p)
			}
			n += p
		}
		if n >= want {
			break
		}
		if time.Now().After(deadline) {
			hl, _ := os.ReadFile(filepath.Join(dir, "hub.log"))
			t.Fatalf("flow records of %d packets at the hub after a minute, want %d\n%s\n%s", n, want, out, hl)
		}
		time.Sleep(500 * time.Millisecond)
	}
	for _, logf := range logs {
		waitLog(t, logf, "msg=\"segment closed\"")
	}
	time.Sleep(time.Until(sent.Add(12 * time.Second)))
	since := sent.Add(-2 * time.Minute).UTC().Format(time.RFC3339Nano)
	until := sent.Add(time.Second).UTC().Format(time.RFC3339Nano)

	httpGet := func(base string) (time.Duration, int) {
		q := url.Values{"filter": {needle}, "since": {since}, "until": {until}, "format": {"pcap"}}
		req, _ := http.NewRequest("GET", base+"/api/v1/packets?"+q.Encode(), nil)
		req.Header.Set("Authorization", "Bearer "+userSecret)
		t0 := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		took := time.Since(t0)
		if resp.StatusCode != 200 || resp.Trailer.Get("Packetrecorder-Partial") != "" {
			t.Fatalf("%s: %s %s", base, resp.Status, resp.Trailer)
		}
		return took, len(b)
	}
	cli := func(base string) time.Duration {
		t0 := time.Now()
		cmd := exec.Command(bin, "query", "--server", base, "--token-file", userToken, "--since", since, "--until", until, needle)
		var errb strings.Builder
		cmd.Stderr = &errb
		out, err := cmd.Output()
		took := time.Since(t0)
		if err != nil || strings.Count(string(out), "\n") != 1 {
			t.Fatalf("query --server %s: %v\n%s%s", base, err, out, errb.String())
		}
		return took
	}
	audits := func() []int {
		var out []int
		for _, l := range logs {
			b, _ := os.ReadFile(l)
			out = append(out, strings.Count(string(b), "path=/api/v1/packets"))
		}
		return out
	}
	// Warm both paths once.
	httpGet(urls[1])
	httpGet(hubURL)
	var hs, hh, cs, ch []time.Duration
	var hubAsked [3]int
	for range *runs {
		d, _ := httpGet(urls[1])
		hs = append(hs, d)
		before := audits()
		d, size := httpGet(hubURL)
		hh = append(hh, d)
		after := audits()
		for i := range 3 {
			hubAsked[i] += after[i] - before[i]
		}
		if size < 24+16+6 {
			t.Fatalf("the hub's answer holds no needle (%d bytes)", size)
		}
		cs = append(cs, cli(urls[1]))
		ch = append(ch, cli(hubURL))
	}
	med := func(ds []time.Duration) time.Duration { s := slices.Clone(ds); slices.Sort(s); return s[len(s)/2] }
	fmt.Printf("needle query, %d runs each, medians (%d packets per sensor, the needle on s1):\n", *runs, *flows**packets)
	fmt.Printf("  HTTP GET /api/v1/packets  sensor s1 %8s   hub %8s   ratio %.2f\n", med(hs).Round(10*time.Microsecond), med(hh).Round(10*time.Microsecond), float64(med(hh))/float64(med(hs)))
	fmt.Printf("  query --server            sensor s1 %8s   hub %8s   ratio %.2f\n", med(cs).Round(10*time.Microsecond), med(ch).Round(10*time.Microsecond), float64(med(ch))/float64(med(cs)))
	fmt.Printf("  packet queries the hub's HTTP runs made on s0, s1, s2: %d, %d, %d\n", hubAsked[0], hubAsked[1], hubAsked[2])
	if hubAsked[0] != 0 || hubAsked[2] != 0 {
		t.Fatalf("the hub asked sensors that do not hold the needle")
	}
}

func write(t *benchTB, path, text string) {
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

func freePort(t *benchTB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startProc starts the binary with its output in logf; it is stopped (by
// its PID) at the end.
func startProc(t *benchTB, bin, logf string, args ...string) {
	f, err := os.Create(logf)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		f.Close()
	})
}

// waitHTTP waits until base answers /healthz, at most 15 s.
func waitHTTP(t *benchTB, base string) {
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not answer: %v", base, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitLog waits until logf holds substr, at most 15 s.
func waitLog(t *benchTB, logf, substr string) {
	deadline := time.Now().Add(15 * time.Second)
	for {
		b, _ := os.ReadFile(logf)
		if strings.Contains(string(b), substr) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no %q:\n%s", logf, substr, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
