// Command apibench measures the daemon's API against local reads of the
// same store, in the same run:
//
//   - the 2M-packet lab mix (bench/mkmix) streamed through GET
//     /api/v1/packets?format=pcap over loopback TLS (curl, as a client of
//     the API would), against `packetrecorder export -d STORE` to a file;
//   - with -store-gib N (default 10), the first byte of a one-second window
//     from a store of N GiB in many segments, through the API (caches
//     dropped: run as root).
//
// Run from the repository (it builds the binary and the mix, and makes its
// certificates with openssl):
//
//	go run ./bench/apibench [-dir DIR] [-runs 5] [-store-gib 10] [-packets N] [-plain]
//
// Everything it makes is removed at the end. Figures are medians.
package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/packetrecorderd/packetrecorderd/bench/internal/benchstore"
	"github.com/packetrecorderd/packetrecorderd/internal/archive"
	"github.com/packetrecorderd/packetrecorderd/internal/pcapio"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

const secret = "apibench-secret-token"

func main() {
	dir := flag.String("dir", "", "where to build the stores (default: a temporary directory under /var/tmp)")
	runs := flag.Int("runs", 5, "runs of each measurement")
	gib := flag.Int("store-gib", 10, "size of the store for the window test, GiB (0: skip it)")
	packets := flag.Int("packets", 2_000_000, "packets of the lab mix")
	plain := flag.Bool("plain", false, "serve plain HTTP (loopback) instead of TLS")
	flag.Parse()
	if *dir == "" {
		d, err := os.MkdirTemp("/var/tmp", "prd-apibench-")
		if err != nil {
			log.Fatal(err)
		}
		*dir = d
	}
	defer os.RemoveAll(*dir)
	bin := filepath.Join(*dir, "packetrecorder")
	run("go", "build", "-o", bin, "./cmd/packetrecorder")
	mix := filepath.Join(*dir, "mix.pcap")
	run("go", "run", "./bench/mkmix", "-n", strconv.Itoa(*packets), "-o", mix)
	certs(*dir)

	// 1. The lab mix: API over TLS against a local export.
	st := filepath.Join(*dir, "mix-store")
	n := fillFromPcap(st, mix)
	d := startDaemon(*dir, bin, st, *plain)
	scheme, over := "https", "TLS"
	if *plain {
		scheme, over = "http", "plain HTTP"
	}
	var local, remote, discard, goFile, goBuffered, goDiscard, firstByte []time.Duration
	var cipher string
	var fileBytes int64
	var localCPU, serverCPU, curlCPU []time.Duration
	var localSum, remoteSum [32]byte
	for r := 0; r < *runs; r++ {
		out := filepath.Join(*dir, "local.pcap")
		t0 := time.Now()
		localCPU = append(localCPU, run(bin, "export", "-d", st, "--format", "pcap", "-o", out))
		local = append(local, time.Since(t0))
		localSum = sum(out)
		if fi, err := os.Stat(out); err == nil {
			fileBytes = fi.Size()
		}
		os.Remove(out)
		out = filepath.Join(*dir, "remote.pcap")
		c0 := cpuOf(d.cmd.Process.Pid)
		t0 = time.Now()
		curlCPU = append(curlCPU, run("curl", "-sS", "--fail", "--cacert", filepath.Join(*dir, "ca.pem"), "-H", "Authorization: Bearer "+secret,
			"-o", out, scheme+"://"+d.addr+"/api/v1/packets?format=pcap"))
		remote = append(remote, time.Since(t0))
		serverCPU = append(serverCPU, cpuOf(d.cmd.Process.Pid)-c0)
		remoteSum = sum(out)
		os.Remove(out)
		// The same without curl's writing of the file: what the server
		// and the connection take.
		t0 = time.Now()
		timing, err := exec.Command("curl", "-sS", "--fail", "--cacert", filepath.Join(*dir, "ca.pem"), "-H", "Authorization: Bearer "+secret,
			"-o", "/dev/null", "-w", "%{time_appconnect} %{time_starttransfer}", scheme+"://"+d.addr+"/api/v1/packets?format=pcap").Output()
		if err != nil {
			log.Fatalf("curl: %v", err)
		}
		discard = append(discard, time.Since(t0))
		var tlsDone, fb float64
		fmt.Sscan(string(timing), &tlsDone, &fb)
		firstByte = append(firstByte, time.Duration((fb-tlsDone)*float64(time.Second)))
		// A Go client (crypto/tls, HTTP/1.1), into a file and into
		// io.Discard: curl's own cost apart.
		out = filepath.Join(*dir, "go.pcap")
		var el time.Duration
		el, cipher = goGet(*dir, scheme+"://"+d.addr+"/api/v1/packets?format=pcap", out, 0, remoteSum)
		goFile = append(goFile, el)
		el, _ = goGet(*dir, scheme+"://"+d.addr+"/api/v1/packets?format=pcap", out, 1<<20, remoteSum)
		goBuffered = append(goBuffered, el)
		el, _ = goGet(*dir, scheme+"://"+d.addr+"/api/v1/packets?format=pcap", "", 0, remoteSum)
		goDiscard = append(goDiscard, el)
	}
	fmt.Printf("%d packets of the lab mix (%d bytes as pcap): local export %v, API over loopback %s (curl) %v: the API at %.2fx the export's speed (medians of %d); same bytes: %v\n",
		n, fileBytes, median(local), over, median(remote), float64(median(local))/float64(median(remote)), *runs, localSum == remoteSum)
	// CPU time does not depend on what else the machine runs as much as
	// the wall clock does.
	fmt.Printf("CPU time (medians): export %v; API: daemon %v + curl %v\n", median(localCPU), median(serverCPU), median(curlCPU))
	fmt.Printf("API into /dev/null (curl writes no file): %v, %.2fx the export's speed; curl's first byte %v after the handshake\n", median(discard), float64(median(local))/float64(median(discard)), median(firstByte))
	fmt.Printf("Go client (%s): into a file %v, %.2fx the export's speed; through a 1 MiB buffer %v, %.2fx; into io.Discard %v, %.2fx\n", cipher,
		median(goFile), float64(median(local))/float64(median(goFile)), median(goBuffered), float64(median(local))/float64(median(goBuffered)),
		median(goDiscard), float64(median(local))/float64(median(goDiscard)))
	d.stop()
	os.RemoveAll(st)
	if *gib == 0 {
		return
	}

	// 2. A one-second window from a big store, through the API.
	st = filepath.Join(*dir, "big-store")
	span := benchstore.Fill(st, "eth0", int64(*gib)<<30, 256<<20, 0)
	d = startDaemon(*dir, bin, st, false)
	defer d.stop()
	var first, whole []time.Duration
	for r := 0; r < *runs; r++ {
		at := time.Unix(0, benchstore.Base+int64(r+1)*int64(span)/int64(*runs+2)).UTC()
		dropCaches()
		url := fmt.Sprintf("https://%s/api/v1/packets?format=pcap&interface=eth0&since=%s&until=%s", d.addr,
			at.Format(time.RFC3339Nano), at.Add(time.Second).Format(time.RFC3339Nano))
		out, err := exec.Command("curl", "-sS", "--fail", "--cacert", filepath.Join(*dir, "ca.pem"), "-H", "Authorization: Bearer "+secret,
			"-o", "/dev/null", "-w", "%{time_starttransfer} %{time_total} %{time_appconnect}", url).Output()
		if err != nil {
			log.Fatalf("curl: %v", err)
		}
		var fb, total, tls float64
		fmt.Sscan(string(out), &fb, &total, &tls)
		// The first byte after the TLS handshake is the query's own latency.
		first = append(first, time.Duration((fb-tls)*float64(time.Second)))
		whole = append(whole, time.Duration(total*float64(time.Second)))
	}
	fmt.Printf("one-second window (20,000 packets) from a %d GiB store through the API: first byte %v after the TLS handshake, whole window %v (medians of %d, caches dropped)\n",
		*gib, median(first), median(whole), *runs)
}

// goGet downloads url with a Go HTTP/1.1 client into out (a file; ""
// for io.Discard; through a buffer of buf bytes if buf > 0: else each
// write is what a read of the body gave, as curl's), checks the bytes
// when it writes a file, and returns
// the time it took and the TLS version and cipher suite negotiated.
func goGet(dir, url, out string, buf int, want [32]byte) (time.Duration, string) {
	pool := x509.NewCertPool()
	ca, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		log.Fatal(err)
	}
	pool.AppendCertsFromPEM(ca)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer c.CloseIdleConnections()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+secret)
	t0 := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var dst io.Writer = io.Discard
	var f *os.File
	if out != "" {
		if f, err = os.Create(out); err != nil {
			log.Fatal(err)
		}
		defer os.Remove(out)
		dst = f
	}
	var bw *bufio.Writer
	if buf > 0 {
		bw = bufio.NewWriterSize(dst, buf)
		dst = bw
	}
	// A plain loop, not io.Copy: *os.File's ReadFrom would choose the
	// read size itself.
	chunk := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(chunk)
		if _, werr := dst.Write(chunk[:n]); werr != nil {
			log.Fatal(werr)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
	}
	if bw != nil {
		if err := bw.Flush(); err != nil {
			log.Fatal(err)
		}
	}
	if f != nil {
		if err := f.Close(); err != nil {
			log.Fatal(err)
		}
	}
	el := time.Since(t0)
	if f != nil && sum(out) != want {
		log.Fatal("the Go client got other bytes than curl")
	}
	what := "plain HTTP"
	if resp.TLS != nil {
		what = tls.VersionName(resp.TLS.Version) + " " + tls.CipherSuiteName(resp.TLS.CipherSuite)
	}
	return el, what
}

// run runs a command to its end and returns the CPU time it took.
func run(name string, args ...string) time.Duration {
	cmd := exec.Command(name, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		log.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
}

// cpuOf is the CPU time (user and system) a running process has used.
func cpuOf(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command's name, which is in parentheses.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ = 100
}

func sum(path string) [32]byte {
	f, err := os.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	io.Copy(h, f)
	var s [32]byte
	copy(s[:], h.Sum(nil))
	return s
}

// certs makes a CA and a server certificate for 127.0.0.1.
func certs(dir string) {
	sh := func(args ...string) {
		cmd := exec.Command("openssl", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			log.Fatalf("openssl: %v\n%s", err, out)
		}
	}
	sh("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj", "/CN=apibench CA", "-keyout", "ca.key", "-out", "ca.pem")
	os.WriteFile(filepath.Join(dir, "server.ext"), []byte("subjectAltName=IP:127.0.0.1\n"), 0o600)
	sh("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "server.key", "-out", "server.csr")
	sh("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "1", "-extfile", "server.ext", "-out", "server.pem")
}

type daemon struct {
	cmd  *exec.Cmd
	addr string
}

var listenRE = regexp.MustCompile(`msg=listening addr=(\S+)`)

// startDaemon serves the store, over TLS unless plain; it records only a
// port nobody uses on lo.
func startDaemon(dir, bin, st string, plain bool) *daemon {
	cfg := filepath.Join(dir, "config.yaml")
	tls := fmt.Sprintf("tls:\n  cert: %s\n  key: %s\n", filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key"))
	if plain {
		tls = ""
	}
	os.WriteFile(cfg, []byte(fmt.Sprintf(`store: %s
interfaces:
  - name: lo
    filter: "udp port 9"
listen: 127.0.0.1:0
%stokens:
  - name: bench
    sha256: %x
    scopes: [read]
`, st, tls, sha256.Sum256([]byte(secret)))), 0o600)
	cmd := exec.Command(bin, "daemon", "--config", cfg)
	var logBuf syncBuf
	cmd.Stderr = &logBuf
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		s := logBuf.String()
		if m := listenRE.FindStringSubmatch(s); m != nil && strings.Contains(s, "msg=ready") {
			return &daemon{cmd: cmd, addr: m[1]}
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			log.Fatalf("daemon not ready:\n%s", s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (d *daemon) stop() {
	d.cmd.Process.Signal(os.Interrupt)
	d.cmd.Wait()
}

type syncBuf struct {
	b  bytes.Buffer
	mu chan struct{}
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.lock()
	defer s.unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.lock()
	defer s.unlock()
	return s.b.String()
}

func (s *syncBuf) lock() {
	if s.mu == nil {
		s.mu = make(chan struct{}, 1)
	}
	s.mu <- struct{}{}
}
func (s *syncBuf) unlock() { <-s.mu }

// fillFromPcap records a capture file's packets into a new store, in
// 256 KiB blocks and 256 MiB segments, as the daemon would have.
func fillFromPcap(st, path string) int {
	a, err := archive.Open(st, archive.Options{Create: true})
	if err != nil {
		log.Fatal(err)
	}
	a.Close()
	f, err := os.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	r, err := pcapio.NewReader(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		log.Fatal(err)
	}
	var rec *archive.Recording
	var b store.Block
	n := 0
	flush := func() {
		if b.Count == 0 {
			return
		}
		if err := rec.Append(&b); err != nil {
			log.Fatal(err)
		}
		if err := rec.Commit(); err != nil {
			log.Fatal(err)
		}
		b.Reset(b.LinkType)
	}
	for {
		p, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		if rec == nil {
			rec, err = archive.NewRecording(st, archive.RecordingConfig{Interface: "eth0", LinkType: p.LinkType, Snaplen: 65535, MaxBytes: 256 << 20})
			if err != nil {
				log.Fatal(err)
			}
			b.Reset(p.LinkType)
		}
		b.Append(p.Timestamp, p.OrigLen, p.Data)
		n++
		if len(b.Data) >= 256<<10 {
			flush()
		}
	}
	flush()
	if err := rec.Close(); err != nil {
		log.Fatal(err)
	}
	return n
}

func dropCaches() {
	exec.Command("sync").Run()
	os.WriteFile("/proc/sys/vm/drop_caches", []byte("3\n"), 0o200)
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2].Round(100 * time.Microsecond)
}
