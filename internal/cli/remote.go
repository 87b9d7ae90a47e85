package cli

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/packetrecorderd/packetrecorderd/internal/api"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
	"github.com/packetrecorderd/packetrecorderd/internal/storeview"
)

// remoteFlags say which daemon to ask, and how to prove who we are.
type remoteFlags struct {
	server, tokenFile, cacert, cert, key string
}

func (f *remoteFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.server, "server", "", "ask a daemon's API instead of a local database (e.g. https://sensor1:7474)")
	cmd.Flags().StringVar(&f.tokenFile, "token-file", "", "file holding the API token (default: $PACKETRECORDER_TOKEN)")
	cmd.Flags().StringVar(&f.cacert, "cacert", "", "with --server: CA certificate (PEM) that signed the daemon's certificate")
	cmd.Flags().StringVar(&f.cert, "cert", "", "with --server: client certificate (PEM), for mutual TLS")
	cmd.Flags().StringVar(&f.key, "key", "", "with --server: the client certificate's key (PEM)")
}

// remoteClient talks to one daemon.
type remoteClient struct {
	base  *url.URL
	hc    *http.Client
	token string
}

// dial checks the flags and prepares a client; it does not connect yet.
func (f *remoteFlags) dial() (*remoteClient, error) {
	u, err := url.Parse(f.server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("invalid --server %q: use http://HOST:PORT or https://HOST:PORT", f.server)
	}
	if (f.cert == "") != (f.key == "") {
		return nil, errors.New("--cert and --key go together")
	}
	c := &remoteClient{base: u}
	if f.tokenFile != "" {
		b, err := os.ReadFile(f.tokenFile)
		if err != nil {
			return nil, fmt.Errorf("token file: %w", err)
		}
		c.token = strings.TrimSpace(string(b))
		if c.token == "" {
			return nil, fmt.Errorf("token file %s is empty", f.tokenFile)
		}
	} else {
		c.token = strings.TrimSpace(os.Getenv("PACKETRECORDER_TOKEN"))
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if f.cacert != "" {
		pem, err := os.ReadFile(f.cacert)
		if err != nil {
			return nil, fmt.Errorf("--cacert: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--cacert %s: no PEM certificate in it", f.cacert)
		}
	}
	if f.cert != "" {
		cert, err := tls.LoadX509KeyPair(f.cert, f.key)
		if err != nil {
			return nil, fmt.Errorf("--cert/--key: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	if u.Scheme == "http" && (f.cacert != "" || f.cert != "") {
		return nil, errors.New("--cacert, --cert and --key need an https:// --server")
	}
	// No overall timeout: a download takes as long as it takes. Connecting
	// and the answer's headers are bounded.
	tr := &http.Transport{TLSClientConfig: tc, ResponseHeaderTimeout: time.Minute, TLSHandshakeTimeout: 15 * time.Second,
		Proxy: http.ProxyFromEnvironment, ForceAttemptHTTP2: true}
	c.hc = &http.Client{Transport: tr}
	return c, nil
}

// do sends a request and returns the answer if it is a success; an error
// answer becomes an error with the daemon's one-line message.
func (c *remoteClient) do(ctx context.Context, method, path string, q url.Values, body io.Reader) (*http.Response, error) {
	u := *c.base
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("%s: %w", c.base.Host, err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	var e struct {
		Error string `json:"error"`
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	msg := strings.TrimSpace(string(b))
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		msg = e.Error
	}
	if resp.StatusCode == http.StatusUnauthorized && c.token == "" {
		msg += " (set PACKETRECORDER_TOKEN or --token-file)"
	}
	return nil, fmt.Errorf("%s: %s (%s)", c.base.Host, msg, resp.Status)
}

func (c *remoteClient) getJSON(ctx context.Context, path string, q url.Values, v any) error {
	resp, err := c.do(ctx, "GET", path, q, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("%s: bad answer: %w", c.base.Host, err)
	}
	return nil
}

// remoteView is a selection of a daemon's store, read over its API.
type remoteView struct {
	c     *remoteClient
	q     url.Values
	shape api.Selection
	ids   map[string]int // interface name -> id
}

func openRemote(f *remoteFlags, s *selection, r store.Range) (*remoteView, error) {
	c, err := f.dial()
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	if s.filter != "" {
		q.Set("filter", s.filter)
	}
	if s.iface != "" {
		q.Set("interface", s.iface)
	}
	// Times are read here, in this host's time zone, and sent exact.
	if r.HasSince {
		q.Set("since", time.Unix(0, r.Since).UTC().Format(time.RFC3339Nano))
	}
	if r.HasUntil {
		q.Set("until", time.Unix(0, r.Until).UTC().Format(time.RFC3339Nano))
	}
	v := &remoteView{c: c, q: q, ids: map[string]int{}}
	dq := cloneValues(q)
	dq.Set("describe", "true")
	if err := c.getJSON(context.Background(), "/api/v1/packets", dq, &v.shape); err != nil {
		return nil, err
	}
	for _, it := range v.shape.Interfaces {
		v.ids[it.Name] = it.ID
	}
	return v, nil
}

func cloneValues(q url.Values) url.Values {
	out := url.Values{}
	for k, v := range q {
		out[k] = append([]string(nil), v...)
	}
	return out
}

// summary describes the selection as one session, as a local store's does.
func (v *remoteView) summary() store.Session {
	s := store.Session{Name: "server " + v.c.base.Host, Source: "capture", Snaplen: v.shape.Snaplen, Packets: v.shape.Packets}
	if len(v.shape.Interfaces) == 1 {
		s.Interface = v.shape.Interfaces[0].Name
	}
	if len(v.shape.LinkTypes) > 0 {
		s.LinkType = v.shape.LinkTypes[0]
	}
	if len(v.shape.Interfaces) > 0 {
		s.Filter = v.shape.Interfaces[0].Filter
	}
	return s
}

func (v *remoteView) interfaceNames() []string {
	var out []string
	for _, it := range v.shape.Interfaces {
		if len(out) == 0 || out[len(out)-1] != it.Name {
			out = append(out, it.Name)
		}
	}
	return out
}

func (v *remoteView) pcapngInterfaces() []store.Interface {
	out := make([]store.Interface, len(v.shape.Interfaces))
	for i, it := range v.shape.Interfaces {
		out[i] = store.Interface{ID: it.ID, Name: it.Name, LinkType: it.LinkType, Snaplen: it.Snaplen, Filter: it.Filter}
	}
	return out
}

func (v *remoteView) interfaceName(rec store.Record) string {
	for _, it := range v.shape.Interfaces {
		if it.ID == rec.Interface {
			return it.Name
		}
	}
	return ""
}

// walk streams the selected packets (format=json with their bytes) and
// calls fn for each, as a local store's walk does.
func (v *remoteView) walk(ctx context.Context, limit int64, fn func(store.Record) error) error {
	q := cloneValues(v.q)
	q.Set("format", "json")
	q.Set("data", "true")
	if limit > 0 {
		q.Set("limit", fmt.Sprint(limit))
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stopping early closes the stream: the daemon's query ends
	resp, err := v.c.do(ctx, "GET", "/api/v1/packets", q, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 4*store.MaxCapLen+(64<<10))
	var p storeview.PacketJSON
	var data []byte
	for sc.Scan() {
		line := sc.Bytes()
		if bytes.HasPrefix(line, []byte(`{"end"`)) {
			var end map[string]api.End
			if err := json.Unmarshal(line, &end); err != nil {
				return fmt.Errorf("%s: bad answer: %w", v.c.base.Host, err)
			}
			if e := end["end"].Error; e != "" {
				return fmt.Errorf("%s: %s", v.c.base.Host, e)
			}
			return nil
		}
		p = storeview.PacketJSON{}
		if err := json.Unmarshal(line, &p); err != nil {
			return fmt.Errorf("%s: bad answer: %w", v.c.base.Host, err)
		}
		ts, err := time.Parse(time.RFC3339Nano, p.TS)
		if err != nil {
			return fmt.Errorf("%s: bad timestamp %q", v.c.base.Host, p.TS)
		}
		data = data[:0]
		if data, err = hex.AppendDecode(data, []byte(p.Data)); err != nil {
			return fmt.Errorf("%s: bad packet data: %w", v.c.base.Host, err)
		}
		rec := store.Record{Number: p.N, Timestamp: ts.UnixNano(), OrigLen: p.Len, LinkType: p.LinkType, Interface: v.ids[p.Interface], Data: data}
		if err := fn(rec); err != nil {
			if errors.Is(err, store.ErrStop) {
				return nil
			}
			return err
		}
	}
	if err := sc.Err(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%s: %w", v.c.base.Host, err)
	}
	return fmt.Errorf("%s: the answer ended early (no end line)", v.c.base.Host)
}

func (v *remoteView) count(ctx context.Context) (int64, error) {
	q := cloneValues(v.q)
	q.Set("count", "true")
	var n map[string]int64
	if err := v.c.getJSON(ctx, "/api/v1/packets", q, &n); err != nil {
		return 0, err
	}
	return n["count"], nil
}
