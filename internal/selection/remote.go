package selection

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
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

// Remote says which daemon to ask (--server), and how to prove who we
// are: a bearer token (from TokenFile, else $PACKETRECORDER_TOKEN), the CA
// that signed the daemon's certificate, a client certificate for mutual
// TLS.
type Remote struct {
	Server, TokenFile, CACert, Cert, Key string
	// PartialOK accepts a hub's answer that lacks some sensors (the CLI's
	// --partial-ok): they are still named, but are no error.
	PartialOK bool
	// Fleet, set by a hub, asks several sensors instead of Server.
	Fleet *Fleet
}

// Client talks to one daemon's API.
type Client struct {
	base  *url.URL
	hc    *http.Client
	token string

	// shapes are a hub's recent answers of this sensor to describe
	// without a filter or window, by interface (see fleetShape).
	mu     sync.Mutex
	shapes map[string]cachedShape
}

// Dial checks r and prepares a client; it does not connect yet.
func Dial(r Remote) (*Client, error) {
	u, err := url.Parse(r.Server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("invalid --server %q: use http://HOST:PORT or https://HOST:PORT", r.Server)
	}
	if (r.Cert == "") != (r.Key == "") {
		return nil, errors.New("--cert and --key go together")
	}
	c := &Client{base: u}
	if r.TokenFile != "" {
		b, err := os.ReadFile(r.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("token file: %w", err)
		}
		c.token = strings.TrimSpace(string(b))
		if c.token == "" {
			return nil, fmt.Errorf("token file %s is empty", r.TokenFile)
		}
	} else {
		c.token = strings.TrimSpace(os.Getenv("PACKETRECORDER_TOKEN"))
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if r.CACert != "" {
		pem, err := os.ReadFile(r.CACert)
		if err != nil {
			return nil, fmt.Errorf("--cacert: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--cacert %s: no PEM certificate in it", r.CACert)
		}
	}
	if r.Cert != "" {
		cert, err := tls.LoadX509KeyPair(r.Cert, r.Key)
		if err != nil {
			return nil, fmt.Errorf("--cert/--key: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	if u.Scheme == "http" && (r.CACert != "" || r.Cert != "") {
		return nil, errors.New("--cacert, --cert and --key need an https:// --server")
	}
	// No overall timeout: a download takes as long as it takes. Connecting
	// and the answer's headers are bounded.
	tr := &http.Transport{TLSClientConfig: tc, ResponseHeaderTimeout: time.Minute, TLSHandshakeTimeout: 15 * time.Second,
		Proxy: http.ProxyFromEnvironment, ForceAttemptHTTP2: true}
	c.hc = &http.Client{Transport: tr}
	return c, nil
}

// Host is the daemon's host:port, as errors name it.
func (c *Client) Host() string { return c.base.Host }

// CloseIdleConnections closes the connections the client keeps idle
// (for a caller that drops the client: they would stay open until the
// daemon's idle timeout). Requests under way are not interrupted.
func (c *Client) CloseIdleConnections() { c.hc.CloseIdleConnections() }

// Do sends a request and returns the answer if it is a success; an error
// answer becomes an error with the daemon's one-line message.
func (c *Client) Do(ctx context.Context, method, path string, q url.Values, body io.Reader) (*http.Response, error) {
	return c.do(ctx, method, path, q, body, nil)
}

// do is Do with request headers.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body io.Reader, hdr http.Header) (*http.Response, error) {
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
	for k, v := range hdr {
		req.Header[k] = v
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

// GetJSON gets path and decodes its JSON answer into v.
func (c *Client) GetJSON(ctx context.Context, path string, q url.Values, v any) error {
	resp, err := c.Do(ctx, "GET", path, q, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("%s: bad answer: %w", c.base.Host, err)
	}
	return nil
}

// remoteSource is a selection of a daemon's store, read over its API
// (GET /api/v1/packets): the daemon selects and filters, this side reads
// the stream.
type remoteSource struct {
	c     *Client
	q     url.Values
	shape Description
	// keepalive, when set, asks the daemon for keepalive lines at that
	// interval (HeaderKeepalive); alive is called at each.
	keepalive time.Duration
	alive     func()
	ids       map[string]int // interface name -> id
	// fleet, for a hub, is the sensors asked; c is then nil.
	fleet *fleetSource
	// missing and expired are what a hub's answer (its end line) said
	// of its sensors.
	missing []Missing
	expired []Expired
}

func openRemote(ctx context.Context, spec Spec) (*remoteSource, error) {
	if spec.Server.Fleet != nil {
		return openFleet(ctx, spec)
	}
	c, err := Dial(spec.Server)
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	if spec.Filter != "" {
		q.Set("filter", spec.Filter)
	}
	if spec.Interface != "" {
		q.Set("interface", spec.Interface)
	}
	if spec.CommunityID != "" {
		q.Set("community_id", spec.CommunityID)
		q.Set("community_id_seed", strconv.Itoa(int(spec.CommunityIDSeed)))
	}
	// Times are read here, in this host's time zone, and sent exact.
	r := spec.Range
	if r.HasSince {
		q.Set("since", time.Unix(0, r.Since).UTC().Format(time.RFC3339Nano))
	}
	if r.HasUntil {
		q.Set("until", time.Unix(0, r.Until).UTC().Format(time.RFC3339Nano))
	}
	v := &remoteSource{c: c, q: q, ids: map[string]int{}}
	dq := cloneValues(q)
	dq.Set("describe", "true")
	if err := c.GetJSON(ctx, "/api/v1/packets", dq, &v.shape); err != nil {
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
func (v *remoteSource) summary() store.Session {
	name := "fleet"
	if v.c != nil {
		name = "server " + v.c.base.Host
	}
	s := store.Session{Name: name, Source: "capture", Snaplen: v.shape.Snaplen, Packets: v.shape.Packets}
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

func (v *remoteSource) interfaceNames() []string {
	var out []string
	for _, it := range v.shape.Interfaces {
		if len(out) == 0 || out[len(out)-1] != it.Name {
			out = append(out, it.Name)
		}
	}
	return out
}

func (v *remoteSource) interfaces() []store.Interface {
	out := make([]store.Interface, len(v.shape.Interfaces))
	for i, it := range v.shape.Interfaces {
		out[i] = store.Interface{ID: it.ID, Name: it.Name, LinkType: it.LinkType, Snaplen: it.Snaplen, Filter: it.Filter}
	}
	return out
}

func (v *remoteSource) interfaceName(rec store.Record) string {
	for _, it := range v.shape.Interfaces {
		if it.ID == rec.Interface {
			return it.Name
		}
	}
	return ""
}

// stream reads the selected packets (format=json with their bytes), at
// most limit (0: all): the daemon stops there.
func (v *remoteSource) stream(ctx context.Context, limit int64) stream {
	if v.fleet != nil {
		return v.fleet.stream(ctx, limit)
	}
	return func(yield func(store.Record, error) bool) {
		if err := v.read(ctx, limit, yield); err != nil {
			yield(store.Record{}, err)
		}
	}
}

func (v *remoteSource) read(ctx context.Context, limit int64, yield func(store.Record, error) bool) error {
	q := cloneValues(v.q)
	q.Set("format", "json")
	q.Set("data", "true")
	if limit > 0 {
		q.Set("limit", fmt.Sprint(limit))
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stopping early closes the stream: the daemon's query ends
	var hdr http.Header
	if v.keepalive > 0 {
		hdr = http.Header{HeaderKeepalive: {v.keepalive.String()}}
	}
	resp, err := v.c.do(ctx, "GET", "/api/v1/packets", q, nil, hdr)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	host := v.c.base.Host
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 4*store.MaxCapLen+(64<<10))
	var p PacketJSON
	var data []byte
	done := false // the walk has what it wants
	for sc.Scan() {
		line := sc.Bytes()
		if bytes.HasPrefix(line, []byte(`{"end"`)) {
			var end map[string]End
			if err := json.Unmarshal(line, &end); err != nil {
				return fmt.Errorf("%s: bad answer: %w", host, err)
			}
			if e := end["end"].Error; e != "" {
				return fmt.Errorf("%s: %s", host, e)
			}
			// What the end says replaces what describe said (non-nil:
			// a hub's stream may have got further than its describe).
			v.missing, v.expired = append([]Missing{}, end["end"].Missing...), end["end"].Expired
			return nil
		}
		if bytes.HasPrefix(line, []byte(`{"keepalive"`)) {
			if v.alive != nil {
				v.alive()
			}
			continue
		}
		if done {
			continue
		}
		p = PacketJSON{}
		if err := json.Unmarshal(line, &p); err != nil {
			return fmt.Errorf("%s: bad answer: %w", host, err)
		}
		ts, err := time.Parse(time.RFC3339Nano, p.TS)
		if err != nil {
			return fmt.Errorf("%s: bad timestamp %q", host, p.TS)
		}
		data = data[:0]
		if data, err = hex.AppendDecode(data, []byte(p.Data)); err != nil {
			return fmt.Errorf("%s: bad packet data: %w", host, err)
		}
		rec := store.Record{Number: p.N, Timestamp: ts.UnixNano(), OrigLen: p.Len, LinkType: p.LinkType, Interface: v.ids[p.Interface], Data: data}
		if !yield(rec, nil) {
			if limit <= 0 {
				return nil
			}
			// Told the limit, the daemon ends its answer by itself, at
			// most limit lines on: read on to its end line, which names
			// the sensors a hub could not reach before then. Stopping
			// here would leave the answer looking whole.
			done = true
		}
	}
	if err := sc.Err(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%s: %w", host, err)
	}
	return fmt.Errorf("%s: the answer ended early (no end line)", host)
}

func (v *remoteSource) count(ctx context.Context) (int64, error) {
	if v.fleet != nil {
		return v.fleet.count(ctx)
	}
	q := cloneValues(v.q)
	q.Set("count", "true")
	var n CountAnswer
	if err := v.c.GetJSON(ctx, "/api/v1/packets", q, &n); err != nil {
		return 0, err
	}
	v.missing, v.expired = append([]Missing{}, n.Missing...), n.Expired
	return n.Count, nil
}

// CountAnswer is GET /api/v1/packets?count=true's answer: a hub's adds
// the sensors that did not answer and what their retention deleted.
type CountAnswer struct {
	Count   int64     `json:"count"`
	Missing []Missing `json:"missing,omitempty"`
	Expired []Expired `json:"expired,omitempty"`
}
