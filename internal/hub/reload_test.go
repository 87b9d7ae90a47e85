package hub

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key
// into dir, and returns their paths and a pool that trusts it alone.
func selfSigned(t *testing.T, dir, name string) (certPath, keyPath string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certPath, keyPath, pool
}

// TestHubReloadTLSAndAccess: a hub serving TLS with certificate A
// reloads a configuration naming certificate B and metrics_public: a
// client that trusts only B is refused before and served after (a new
// handshake), one that trusts only A the other way round; /metrics
// without a token is a 401 before and a 200 after. A reload whose
// certificate file is missing is refused (ErrReload, one error line):
// B goes on serving. Before, the hub had no Reload: certificates and
// rules were those it started with.
func TestHubReloadTLSAndAccess(t *testing.T) {
	dir := t.TempDir()
	certA, keyA, poolA := selfSigned(t, dir, "a")
	certB, keyB, poolB := selfSigned(t, dir, "b")
	token := filepath.Join(dir, "sensors-token")
	if err := os.WriteFile(token, []byte(testSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "hub.yaml")
	pgURL := "postgres://nobody@127.0.0.1:1/none?connect_timeout=1"
	write := func(cert, key string, public bool) {
		t.Helper()
		text := fmt.Sprintf(`listen: 127.0.0.1:0
postgres: "`+pgURL+`"
sensors: {token_file: %s}
tls: {cert: %s, key: %s}
metrics_public: %v
tokens: [{name: reader, sha256: %x, scopes: [read]}]
`, token, cert, key, public, sha256.Sum256([]byte(testSecret)))
		if err := os.WriteFile(path+".new", []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".new", path); err != nil {
			t.Fatal(err)
		}
	}
	write(certA, keyA, false)
	cfg, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var log testkit.SyncBuffer // the hub writes it while the test reads it
	h, err := New(Options{Config: cfg, Path: path, Log: slog.New(slog.NewTextHandler(&log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx, func(addr string) { addrc <- addr }) }()
	defer func() { cancel(); <-done }()
	var addr string
	select {
	case addr = <-addrc:
	case err := <-done:
		t.Fatalf("run: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the hub did not listen within 30 s")
	}
	get := func(pool *x509.CertPool, path string) (int, error) {
		t.Helper()
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		defer c.CloseIdleConnections()
		resp, err := c.Get("https://" + addr + path)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	check := func(when string, pool *x509.CertPool, path string, want int) {
		t.Helper()
		code, err := get(pool, path)
		switch {
		case want == 0 && err == nil:
			t.Errorf("%s: %s answered %d through a certificate the client does not trust", when, path, code)
		case want == 0 && !strings.Contains(err.Error(), "certificate"):
			t.Errorf("%s: %s: %v, want a certificate error", when, path, err)
		case want != 0 && (err != nil || code != want):
			t.Errorf("%s: %s: %d %v, want %d", when, path, code, err, want)
		}
	}
	check("before the reload", poolA, "/healthz", 200)
	check("before the reload", poolB, "/healthz", 0)
	check("before the reload", poolA, "/metrics", 401)

	write(certB, keyB, true)
	if err := h.Reload(); err != nil {
		t.Fatal(err)
	}
	check("after the reload", poolB, "/healthz", 200)
	check("after the reload", poolA, "/healthz", 0)
	check("after the reload", poolB, "/metrics", 200)
	if l := log.String(); !strings.Contains(l, "hub: reloaded") || !strings.Contains(l, "tls certificates") {
		t.Errorf("log %q: want the reload's line naming the certificates", l)
	}

	write(filepath.Join(dir, "gone.crt"), keyB, false)
	if err := h.Reload(); !errors.Is(err, ErrReload) {
		t.Fatalf("reload of a missing certificate: %v, want ErrReload", err)
	}
	check("after a refused reload", poolB, "/healthz", 200)
	check("after a refused reload", poolB, "/metrics", 200) // metrics_public: false was refused with the rest
	lines := 0
	for l := range strings.SplitSeq(log.String(), "\n") {
		if strings.Contains(l, "reload refused") {
			lines++
			if !strings.Contains(l, "gone.crt") || !strings.Contains(l, "level=ERROR") {
				t.Errorf("refusal line %q: want an error naming the missing file", l)
			}
		}
	}
	if lines != 1 {
		t.Errorf("%d refusal lines, want 1:\n%s", lines, log.String())
	}

	// Another PostgreSQL needs a restart: kept, with a warning that does
	// not show either connection string (a password may be in it).
	pgURL = "postgres://somebody:secret-pw@127.0.0.1:2/other?connect_timeout=1"
	write(certB, keyB, true)
	if err := h.Reload(); err != nil {
		t.Fatal(err)
	}
	if h.config().Postgres == pgURL {
		t.Error("the reload took the new postgres")
	}
	if l := log.String(); !strings.Contains(l, "reload: postgres needs a restart") || strings.Contains(l, "secret-pw") {
		t.Errorf("log %q: want a warning naming postgres, without its password", l)
	}
}
