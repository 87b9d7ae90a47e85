package cli_test

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/netlab"
	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// testCerts makes, with openssl, a CA, a server certificate for
// 127.0.0.1 and a client certificate (CN analyst1), both signed by the CA,
// and a second CA the daemon does not trust with a client certificate of
// its own.
type testCerts struct {
	dir                                   string
	ca, serverCert, serverKey             string
	clientCert, clientKey                 string
	strangerCA, strangerCert, strangerKey string
}

func makeCerts(t *testing.T) testCerts {
	t.Helper()
	testkit.RequireTool(t, "openssl")
	dir := t.TempDir()
	c := testCerts{dir: dir}
	p := func(name string) string { return filepath.Join(dir, name) }
	sh := func(args ...string) {
		t.Helper()
		cmd := exec.Command("openssl", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	for _, ca := range []string{"ca", "stranger-ca"} {
		sh("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
			"-subj", "/CN=packetrecorder test "+ca, "-keyout", ca+".key", "-out", ca+".pem")
	}
	os.WriteFile(p("server.ext"), []byte("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"), 0o600)
	os.WriteFile(p("client.ext"), []byte("extendedKeyUsage=clientAuth\n"), 0o600)
	for _, leaf := range []struct{ name, cn, ca, ext string }{
		{"server", "127.0.0.1", "ca", "server.ext"}, {"client", "analyst1", "ca", "client.ext"}, {"stranger", "mallory", "stranger-ca", "client.ext"},
	} {
		sh("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN="+leaf.cn,
			"-keyout", leaf.name+".key", "-out", leaf.name+".csr")
		sh("x509", "-req", "-in", leaf.name+".csr", "-CA", leaf.ca+".pem", "-CAkey", leaf.ca+".key", "-CAcreateserial",
			"-days", "2", "-extfile", leaf.ext, "-out", leaf.name+".pem")
	}
	c.ca, c.serverCert, c.serverKey = p("ca.pem"), p("server.pem"), p("server.key")
	c.clientCert, c.clientKey = p("client.pem"), p("client.key")
	c.strangerCA, c.strangerCert, c.strangerKey = p("stranger-ca.pem"), p("stranger.pem"), p("stranger.key")
	return c
}

func tokenLine(name, secret, scopes, extra string) string {
	return fmt.Sprintf("  - name: %s\n    sha256: %x\n    scopes: [%s]\n%s", name, sha256.Sum256([]byte(secret)), scopes, extra)
}

// TestAPIAndRemoteCLI: a daemon records over TLS with tokens and client
// certificates; the CLI with --server prints what it prints on the local
// store, for every selection; export over the API writes the same pcap
// bytes; each way of failing authentication is refused; every packet
// query leaves an audit line.
func TestAPIAndRemoteCLI(t *testing.T) {
	lab := netlab.New(t, "api")
	certs := makeCerts(t)
	dir := t.TempDir()
	// A token made by token new: its secret, shown once, and its stanza.
	made := mustRun(t, "token", "new", "ops", "--scopes", "read,metrics")
	var opsSecret, opsStanza string
	for _, l := range strings.Split(made, "\n") {
		switch {
		case strings.HasPrefix(l, "# prd_"):
			opsSecret = strings.TrimPrefix(l, "# ")
		case strings.HasPrefix(l, "  "):
			opsStanza += l + "\n"
		}
	}
	if opsSecret == "" || !strings.Contains(opsStanza, fmt.Sprintf("sha256: %x", sha256.Sum256([]byte(opsSecret)))) || !strings.Contains(opsStanza, "scopes: [read, metrics]") {
		t.Fatalf("token new printed:\n%s", made)
	}
	st := filepath.Join(dir, "store")
	cfg := filepath.Join(dir, "c.yaml")
	writeConfig(t, cfg, fmt.Sprintf(`store: %s
segment:
  max_bytes: 1MiB
interfaces:
  - name: %s
    filter: udp
listen: 127.0.0.1:0
tls:
  cert: %s
  key: %s
  client_ca: %s
  client_scopes: [read]
tokens:
%s%s%s%s`, st, lab.HostIf, certs.serverCert, certs.serverKey, certs.ca, opsStanza,
		tokenLine("analyst", "analyst-secret", "read, admin", ""),
		tokenLine("scoped", "scoped-secret", "read", "    filter: \"udp dst port 9998\"\n"),
		tokenLine("narrow", "narrow-secret", "read", "    max_window: 1s\n")))
	d := startDaemon(t, cfg)
	server := "https://" + d.addr
	tokenFile := filepath.Join(dir, "token")
	os.WriteFile(tokenFile, []byte("analyst-secret\n"), 0o600)

	t0 := time.Now()
	done := make(chan int, 2)
	go func() { done <- flood(t, lab, 9999, 4000, time.Second) }()
	go func() { done <- flood(t, lab, 9998, 2000, time.Second) }()
	sent := <-done + <-done
	time.Sleep(1500 * time.Millisecond)
	if n := storeCount(t, st); n < int64(sent)*99/100 {
		t.Fatalf("the store holds %d of %d packets", n, sent)
	}
	remote := []string{"--server", server, "--cacert", certs.ca, "--token-file", tokenFile}
	mid := t0.Add(500 * time.Millisecond).UTC().Format(time.RFC3339Nano)
	later := t0.Add(700 * time.Millisecond).Local().Format("2006-01-02 15:04:05.000000000")
	for _, args := range [][]string{
		{"query", "-l", "20"},
		{"query", "-l", "0", "--filter", "udp dst port 9998"},
		{"query", "-l", "0", "--since", mid, "--until", later},
		{"query", "-l", "0", "--json", "--show-data", "--since", mid, "--until", later},
		{"query", "--count"},
		{"query", "--count", "--filter", "udp dst port 9999", "--since", mid},
		{"query", "-l", "3", "--show-data", "--interface", lab.HostIf},
		{"sessions"},
		{"sessions", "--json"},
	} {
		local := mustRun(t, append(args, "-d", st)...)
		got := mustRun(t, append(args, remote...)...)
		if got != local {
			t.Errorf("%v: --server prints\n%.600s\nlocally\n%.600s", args, got, local)
		}
	}
	// export: the same pcap, byte for byte, and tcpdump reads it.
	lp, rp := filepath.Join(dir, "local.pcap"), filepath.Join(dir, "remote.pcap")
	mustRun(t, "export", "-d", st, "--filter", "udp dst port 9998", "-o", lp)
	mustRun(t, append([]string{"export", "--filter", "udp dst port 9998", "-o", rp}, remote...)...)
	lb, _ := os.ReadFile(lp)
	rb, _ := os.ReadFile(rp)
	if len(lb) < 1000 || !bytes.Equal(lb, rb) {
		t.Errorf("export over the API: %d bytes, locally %d, equal %v", len(rb), len(lb), bytes.Equal(lb, rb))
	}
	if pkts, _, err := testkit.TcpdumpPackets(rp, ""); err != nil || len(pkts) < 1900 {
		t.Errorf("tcpdump reads %d packets of the remote export: %v", len(pkts), err)
	}
	// PACKETRECORDER_TOKEN instead of a file; status over the API.
	t.Setenv("PACKETRECORDER_TOKEN", "analyst-secret")
	if out := mustRun(t, "status", "--server", server, "--cacert", certs.ca); !strings.Contains(out, lab.HostIf) || !strings.Contains(out, "recording") {
		t.Errorf("status: %s", out)
	}
	// The forced filter: whatever is asked, only port 9998 comes back.
	os.WriteFile(tokenFile, []byte("scoped-secret"), 0o600)
	t.Setenv("PACKETRECORDER_TOKEN", "")
	if got, want := mustRun(t, append([]string{"query", "--count"}, remote...)...), mustRun(t, "query", "--count", "-d", st, "--filter", "udp dst port 9998"); got != want {
		t.Errorf("scoped token counts %s, want %s", got, want)
	}
	if got := mustRun(t, append([]string{"query", "--count", "--filter", "udp dst port 9999"}, remote...)...); strings.TrimSpace(got) != "0" {
		t.Errorf("scoped token asking for port 9999 counts %s", got)
	}
	// Refusals, each one line and a non-zero exit.
	os.WriteFile(tokenFile, []byte("narrow-secret"), 0o600)
	for _, c := range []struct {
		args []string
		says string
	}{
		{append([]string{"query", "--count"}, remote...), "at most 1s"},
		{[]string{"query", "--server", server, "--cacert", certs.ca, "--token-file", filepath.Join(dir, "missing")}, "token file"},
		{[]string{"query", "--server", server, "--cacert", certs.ca}, "PACKETRECORDER_TOKEN"},
		{[]string{"query", "--server", server}, "certificate"},
		{[]string{"query", "--server", "http://" + d.addr, "--token-file", tokenFile}, "400"},
		{[]string{"query", "--server", server, "--cacert", certs.ca, "--cert", certs.strangerCert, "--key", certs.strangerKey}, "certificate"},
		{[]string{"query", "-d", st, "--server", server}, "give one of them"},
		{[]string{"hold", "-d", st}, "--since"},
	} {
		r := run(t, c.args...)
		if r.code == 0 || !strings.Contains(r.stderr, c.says) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q; want a one-line error saying %q", c.args, r.code, r.stderr, c.says)
		}
	}
	// Mutual TLS: the client certificate alone reads (client_scopes: read).
	if got, want := mustRun(t, "query", "--count", "--server", server, "--cacert", certs.ca, "--cert", certs.clientCert, "--key", certs.clientKey),
		mustRun(t, "query", "--count", "-d", st); got != want {
		t.Errorf("mTLS count %s, want %s", got, want)
	}
	// Holds over the API need admin: the analyst has it, the certificate not.
	cl := tlsClient(t, certs, true)
	req, _ := http.NewRequest("POST", server+"/api/v1/holds", strings.NewReader(`{"since":"10m ago","until":"now","reason":"case 7"}`))
	if resp, err := cl.Do(req); err != nil || resp.StatusCode != 403 {
		t.Errorf("hold with a client certificate: %v %v", resp, err)
	}
	req, _ = http.NewRequest("POST", server+"/api/v1/holds", strings.NewReader(`{"since":"10m ago","until":"now","reason":"case 7"}`))
	req.Header.Set("Authorization", "Bearer analyst-secret")
	if resp, err := tlsClient(t, certs, false).Do(req); err != nil || resp.StatusCode != 201 {
		t.Errorf("hold with the analyst's token: %v %v", resp, err)
	} else if out := mustRun(t, "hold", "list", "-d", st); !strings.Contains(out, "case 7 (by token analyst)") {
		t.Errorf("hold list: %s", out)
	}
	// /healthz needs nothing; /metrics needs the metrics scope.
	if resp, err := tlsClient(t, certs, false).Get(server + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Errorf("/healthz: %v %v", resp, err)
	}
	if resp, err := cl.Get(server + "/metrics"); err != nil || resp.StatusCode != 403 {
		t.Errorf("/metrics with read scope only: %v %v", resp, err)
	}
	req, _ = http.NewRequest("GET", server+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+opsSecret)
	if resp, err := tlsClient(t, certs, false).Do(req); err != nil || resp.StatusCode != 200 {
		t.Errorf("/metrics with token new's token: %v %v", resp, err)
	}
	// replay --server: the schedule of a sensor's packets, as locally.
	os.WriteFile(tokenFile, []byte("analyst-secret"), 0o600)
	if got, want := mustRun(t, append([]string{"replay", "--display-only", "--speed", "0", "--filter", "udp dst port 9998"}, remote...)...),
		mustRun(t, "replay", "--display-only", "--speed", "0", "--filter", "udp dst port 9998", "-d", st); got != want || len(want) == 0 {
		t.Errorf("replay --server --display-only differs from the local store's (%d and %d bytes)", len(got), len(want))
	}
	// A renewed certificate is served after SIGHUP, without a restart.
	before := peerSerial(t, d.addr, certs)
	renewCert(t, certs)
	d.cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(10 * time.Second)
	for peerSerial(t, d.addr, certs) == before {
		if time.Now().After(deadline) {
			t.Fatal("the renewed certificate is not served after SIGHUP")
		}
		time.Sleep(50 * time.Millisecond)
	}
	d.stop(t, 2*time.Second)
	audit := d.stderr.String()
	for _, want := range []string{`who="token analyst"`, `who="token scoped"`, `who="certificate analyst1"`, `msg="request refused"`} {
		if !strings.Contains(audit, want) {
			t.Errorf("daemon log lacks %s", want)
		}
	}
	if n := strings.Count(audit, "msg=audit"); n < 15 {
		t.Errorf("%d audit lines", n)
	}
}

// pool holds the test CA, which signed the daemon's certificate.
func (c testCerts) pool(t *testing.T) *x509.CertPool {
	t.Helper()
	pem, err := os.ReadFile(c.ca)
	pool := x509.NewCertPool()
	if err != nil || !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("test CA %s: %v", c.ca, err)
	}
	return pool
}

func tlsClient(t *testing.T, c testCerts, withCert bool) *http.Client {
	t.Helper()
	tc := &tls.Config{RootCAs: c.pool(t)}
	if withCert {
		cert, err := tls.LoadX509KeyPair(c.clientCert, c.clientKey)
		if err != nil {
			t.Fatal(err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: tc}, Timeout: 30 * time.Second}
}

// TestStenoreadAgainstTheDaemon: Debian's stenoread, pointed at the daemon
// by its config file, gets over mutual TLS the packets our own export of
// the same selection holds: tcpdump prints the same lines for both.
func TestStenoreadAgainstTheDaemon(t *testing.T) {
	for _, tool := range []string{"stenoread", "stenocurl", "jq", "curl", "tcpdump"} {
		testkit.RequireTool(t, tool)
	}
	lab := netlab.New(t, "steno")
	certs := makeCerts(t)
	dir := t.TempDir()
	st := filepath.Join(dir, "store")
	cfg := filepath.Join(dir, "c.yaml")
	writeConfig(t, cfg, fmt.Sprintf(`store: %s
interfaces:
  - name: %s
    filter: udp
listen: 127.0.0.1:0
tls:
  cert: %s
  key: %s
  client_ca: %s
  client_scopes: [read]
`, st, lab.HostIf, certs.serverCert, certs.serverKey, certs.ca))
	d := startDaemon(t, cfg)
	// Stenographer's client configuration: Host, Port, CertPath holding
	// client_cert.pem, client_key.pem and ca_cert.pem.
	certDir := filepath.Join(dir, "steno-certs")
	os.Mkdir(certDir, 0o700)
	for src, dst := range map[string]string{certs.clientCert: "client_cert.pem", certs.clientKey: "client_key.pem", certs.ca: "ca_cert.pem"} {
		b, _ := os.ReadFile(src)
		os.WriteFile(filepath.Join(certDir, dst), b, 0o600)
	}
	_, port, _ := strings.Cut(d.addr, ":")
	stenoCfg := filepath.Join(dir, "steno.json")
	os.WriteFile(stenoCfg, []byte(fmt.Sprintf(`{"Host": "127.0.0.1", "Port": %s, "CertPath": %q}`, port, certDir)), 0o600)
	t.Setenv("STENOGRAPHER_CONFIG", stenoCfg)

	t0 := time.Now()
	done := make(chan int, 2)
	go func() { done <- flood(t, lab, 9999, 3000, time.Second) }()
	go func() { done <- flood(t, lab, 53, 500, time.Second) }()
	<-done
	<-done
	time.Sleep(1500 * time.Millisecond)
	peer, host := lab.PeerIP.String(), lab.HostIP.String()
	// Stenographer ignores a network's host bits; tcpdump refuses them.
	network := lab.HostIP.Mask(net.CIDRMask(24, 32)).String() + "/24"
	t1, t2 := t0.Add(300*time.Millisecond).UTC(), t0.Add(600*time.Millisecond).UTC()
	// RFC 3339 as Stenographer reads it: whole seconds or fractions.
	rfc := func(ts time.Time) string { return ts.Format(time.RFC3339Nano) }
	cases := []struct {
		steno  string
		limit  []string
		export []string
	}{
		{"host " + peer + " and port 9999 and after 5m ago", nil, []string{"--filter", "host " + peer + " and port 9999"}},
		{"after " + rfc(t1) + " and before " + rfc(t2) + " and udp", nil, []string{"--since", rfc(t1), "--until", rfc(t2), "--filter", "udp"}},
		{"(port 53 or port 9999) and net " + host + "/24 && ip proto 17", nil, []string{"--filter", "(port 53 or port 9999) and net " + network + " and ip proto 17"}},
		// Beyond Stenographer: tcpdump's language with time terms.
		{"udp dst port 53 and not src host " + host + " and after " + rfc(t1), nil, []string{"--since", rfc(t1), "--filter", "udp dst port 53 and not src host " + host}},
		{"port 9999", []string{"--limit-packets", "7"}, []string{"-c", "7", "--filter", "port 9999"}},
	}
	for _, c := range cases {
		args := append(append([]string{}, c.limit...), c.steno, "-n", "-tt")
		cmd := exec.Command("stenoread", args...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Errorf("stenoread %q: %v\n%s", c.steno, err, errb.String())
			continue
		}
		pcap := filepath.Join(dir, "want.pcap")
		mustRun(t, append([]string{"export", "-d", st, "--format", "pcap", "-o", pcap}, c.export...)...)
		want, _, err := testkit.RunTool("tcpdump", "-n", "-tt", "-r", pcap)
		if err != nil {
			t.Fatal(err)
		}
		if out.String() != want || len(want) == 0 {
			t.Errorf("stenoread %q printed %d lines, our export of the same selection %d:\n%.400s\n---\n%.400s",
				c.steno, strings.Count(out.String(), "\n"), strings.Count(want, "\n"), out.String(), want)
		}
	}
	d.stop(t, 2*time.Second)
	if !strings.Contains(d.stderr.String(), `who="certificate analyst1"`) {
		t.Error("no audit line names stenoread's certificate")
	}
}

// peerSerial is the serial number of the certificate the daemon serves.
func peerSerial(t *testing.T, addr string, c testCerts) string {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: c.pool(t)})
	if err != nil {
		t.Fatalf("TLS to the daemon: %v", err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

// renewCert writes a new server certificate (same name, same CA, a new
// serial) over the one the daemon's configuration names.
func renewCert(t *testing.T, c testCerts) {
	t.Helper()
	cmd := exec.Command("openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
		"-days", "2", "-extfile", "server.ext", "-out", "server-new.pem")
	cmd.Dir = c.dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("openssl: %v %s", err, out)
	}
	if err := os.Rename(filepath.Join(c.dir, "server-new.pem"), c.serverCert); err != nil {
		t.Fatal(err)
	}
}
