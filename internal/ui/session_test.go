package ui

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/api"
	"github.com/packetrecorderd/packetrecorderd/internal/selection"
)

// storeUI is the page and the API over the store in dir for access, with
// the page's options o (its API and store set here).
func storeUI(t testing.TB, dir string, access api.Access, o Options) (http.Handler, *api.Server) {
	t.Helper()
	srv := api.New(api.Options{Selector: selection.Store{Dir: dir}, Holds: api.StoreHolds(dir), Log: slog.New(slog.DiscardHandler)}, access)
	o.API, o.Store = srv, dir
	u, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return Mount(u, srv), srv
}

// TestSessionExpires: a session ends at its TTL, by the injected clock.
func TestSessionExpires(t *testing.T) {
	_, dir := writeFixtures(t)
	var mu sync.Mutex
	now := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	access := api.Access{Tokens: []api.Token{{Name: "analyst", SHA256: api.TokenSum(adminSecret), Scopes: []string{api.ScopeRead}}}}
	h, _ := storeUI(t, dir, access, Options{Now: clock, SessionTTL: time.Hour})
	ts := httptest.NewServer(h)
	defer ts.Close()
	fx := &uiFixture{url: ts.URL}
	c := fx.client(t, adminSecret)
	if resp, _ := get(t, c, ts.URL+"/ui/holds"); resp.StatusCode != 200 {
		t.Fatalf("within the session: %s", resp.Status)
	}
	mu.Lock()
	now = now.Add(time.Hour)
	mu.Unlock()
	if resp, _ := get(t, c, ts.URL+"/ui/holds"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("after the session's hour: %s, want the login page", resp.Status)
	}
}

// TestCertificateLogin: a verified client certificate logs in; its cookie
// is Secure, and serves only on a connection with the same certificate.
func TestCertificateLogin(t *testing.T) {
	_, dir := writeFixtures(t)
	ca, caKey := newCert(t, "test CA", nil, nil, true)
	srvCert, srvKey := newCert(t, "127.0.0.1", ca, caKey, false)
	cliCert, cliKey := newCert(t, "alice", ca, caKey, false)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	access := api.Access{ClientScopes: []string{api.ScopeRead}}
	h, _ := storeUI(t, dir, access, Options{})
	ts := httptest.NewUnstartedServer(h)
	ts.TLS = &tls.Config{ClientCAs: pool, ClientAuth: tls.VerifyClientCertIfGiven,
		Certificates: []tls.Certificate{{Certificate: [][]byte{srvCert.Raw}, PrivateKey: srvKey}}}
	ts.StartTLS()
	defer ts.Close()
	client := func(withCert bool, jar http.CookieJar) *http.Client {
		cfg := &tls.Config{RootCAs: pool}
		if withCert {
			cfg.Certificates = []tls.Certificate{{Certificate: [][]byte{cliCert.Raw}, PrivateKey: cliKey}}
		}
		return &http.Client{Jar: jar, Transport: &http.Transport{TLSClientConfig: cfg},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	jar, _ := cookiejar.New(nil)
	c := client(true, jar)
	if _, page := get(t, c, ts.URL+"/ui/login"); !strings.Contains(page, "client certificate") {
		t.Errorf("the login page does not offer the certificate")
	}
	resp, err := c.PostForm(ts.URL+"/ui/login", url.Values{"certificate": {"1"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	sc := resp.Header.Get("Set-Cookie")
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(sc, "Secure") || !strings.Contains(sc, "HttpOnly") {
		t.Fatalf("certificate login: %s, cookie %q", resp.Status, sc)
	}
	if resp, page := get(t, c, ts.URL+"/ui/holds"); resp.StatusCode != 200 || !strings.Contains(page, "certificate alice") {
		t.Errorf("with the certificate's session: %s", resp.Status)
	}
	// The cookie alone, on a connection without the certificate: refused.
	if resp, _ := get(t, client(false, jar), ts.URL+"/ui/holds"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the session's cookie without the certificate: %s, want the login page", resp.Status)
	}
	// Without a certificate, no certificate login.
	resp, err = client(false, nil).PostForm(ts.URL+"/ui/login", url.Values{"certificate": {"1"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("certificate login without one: %s", resp.Status)
	}
}

func newCert(t *testing.T, cn string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, isCA bool) (*x509.Certificate, *ecdsa.PrivateKey) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: isCA,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	if ip := net.ParseIP(cn); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}

// TestReadScopeRequired: the page shows what the read scope covers, as
// the API's routes ask: a token with only the metrics or the admin scope
// cannot log in, and a session whose token loses the read scope (the
// access rules reloaded) is refused every page, the pcap download too.
// Any known token used to get every page.
func TestReadScopeRequired(t *testing.T) {
	_, dir := writeFixtures(t)
	const reader, metrics, admin = "reader-secret", "metrics-secret", "admin-secret"
	access := api.Access{Tokens: []api.Token{
		{Name: "reader", SHA256: api.TokenSum(reader), Scopes: []string{api.ScopeRead}},
		{Name: "scraper", SHA256: api.TokenSum(metrics), Scopes: []string{api.ScopeMetrics}},
		{Name: "keeper", SHA256: api.TokenSum(admin), Scopes: []string{api.ScopeAdmin}},
	}}
	h, srv := storeUI(t, dir, access, Options{})
	ts := httptest.NewServer(h)
	defer ts.Close()
	for _, secret := range []string{metrics, admin} {
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.PostForm(ts.URL+"/ui/login", url.Values{"token": {secret}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) != 0 {
			t.Errorf("login with %s: %s, cookies %v; want 403 and no session", secret, resp.Status, resp.Cookies())
		}
	}
	fx := &uiFixture{url: ts.URL}
	c := fx.client(t, reader)
	if resp, _ := get(t, c, ts.URL+"/ui/download?format=pcap"); resp.StatusCode != 200 {
		t.Fatalf("the reader's download: %s", resp.Status)
	}
	access.Tokens[0].Scopes = []string{api.ScopeMetrics}
	srv.SetAccess(access)
	for _, page := range []string{"/ui/", "/ui/flows", "/ui/packets", "/ui/download?format=pcap", "/ui/holds"} {
		if resp, body := get(t, c, ts.URL+page); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "read scope") {
			t.Errorf("%s after the token lost the read scope: %s %.200s", page, resp.Status, body)
		}
	}
}
