// Package ui is the analyst's web page: what the sensor holds (the
// overview and a timeline drawn from the catalog's metadata), a search
// in tcpdump's language over a time window, a flow's packets and its
// transcript (Follow TCP Stream), pcap downloads and holds. Pages are
// rendered on the server by html/template from embedded templates; our
// own small script adds the timeline's brushing and nothing else.
//
// It is mounted under /ui/ beside the API (internal/api) and admits the
// same principals: a login with a token (or a verified client
// certificate) mints a session cookie; each request looks the token up
// again, so that removing it ends its sessions. Reads of packets go
// through the API's limits, forced filters and audit lines, downloads
// through the API's own packet stream.
package ui

import (
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/api"
	"github.com/packetrecorderd/packetrecorderd/internal/selection"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// Options are what the UI serves from.
type Options struct {
	// API is the API server whose principals, limits and packet stream
	// the UI shares.
	API *api.Server
	// Store is the store directory (or database) the API serves, when
	// Source is nil.
	Store string
	// Source is what the pages read (nil: StoreSource{Store}); a hub's
	// fleet has no store, and its missing sensors show in a banner.
	Source Source
	// Log receives errors; audit lines go through the API's logger.
	Log *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// SessionTTL is how long a session lasts (default 8h).
	SessionTTL time.Duration
	// OneTime is a login secret's SHA-256 that logs in only once (the
	// URL `packetrecorder ui` prints); zero: none.
	OneTime [32]byte
}

// Server serves the UI under /ui/.
type Server struct {
	opts  Options
	src   Source
	pages map[string]*template.Template
	mux   *http.ServeMux

	mu       sync.Mutex
	sessions map[string]*session
	usedOnce bool
	sampler  rateSampler
}

// session is one login.
type session struct {
	token   [32]byte // the token's secret's SHA-256, or zero for a certificate
	cert    string   // the certificate principal's name
	csrf    string
	expires time.Time
}

const cookieName = "packetrecorder_session"

// New returns the UI server.
func New(opts Options) (*Server, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.SessionTTL == 0 {
		opts.SessionTTL = 8 * time.Hour
	}
	s := &Server{opts: opts, src: opts.Source, sessions: map[string]*session{}, pages: map[string]*template.Template{}}
	if s.src == nil {
		s.src = StoreSource{Path: opts.Store}
	}
	base := template.New("layout.html").Funcs(funcs)
	base, err := base.ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, err
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(templateFS, n)
		if err != nil {
			return nil, err
		}
		s.pages[name] = t
	}
	s.mux = s.routes()
	return s, nil
}

// ServeHTTP serves one request under /ui/ (and / redirects there).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "+
		"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin") // no-referrer would make the browser send Origin: null on our own posts
	h.Set("Cache-Control", "no-store")
	s.mux.ServeHTTP(w, r)
}

// handler is a page that acts for a session's principal.
type handler func(w http.ResponseWriter, r *http.Request, c *call) error

// call is what a page handler knows of its request.
type call struct {
	p    api.Principal
	sess *session
	id   string
}

func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ui/", http.StatusFound)
	})
	mux.HandleFunc("GET /ui", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ui/", http.StatusFound)
	})
	mux.HandleFunc("GET /ui/login", s.handleLoginPage)
	mux.HandleFunc("POST /ui/login", s.handleLogin)
	mux.HandleFunc("GET /ui/assets/ui.css", s.asset("assets/ui.css", "text/css; charset=utf-8"))
	mux.Handle("GET /ui/assets/ui.js", s.auth(func(w http.ResponseWriter, r *http.Request, c *call) error {
		s.asset("assets/ui.js", "text/javascript; charset=utf-8")(w, r)
		return nil
	}))
	mux.Handle("POST /ui/logout", s.auth(s.handleLogout))
	mux.Handle("GET /ui/{$}", s.auth(s.handleOverview))
	mux.Handle("GET /ui/flows", s.auth(s.handleFlows))
	mux.Handle("GET /ui/packets", s.auth(s.handlePackets))
	mux.Handle("GET /ui/flow", s.auth(s.handleFlow))
	mux.Handle("GET /ui/download", s.auth(s.handleDownload))
	mux.Handle("GET /ui/size", s.auth(s.handleSize))
	mux.Handle("GET /ui/holds", s.auth(s.handleHolds))
	mux.Handle("POST /ui/holds", s.auth(s.handleHoldAdd))
	mux.Handle("POST /ui/holds/{id}/release", s.auth(s.handleHoldRelease))
	mux.HandleFunc("/ui/", func(w http.ResponseWriter, r *http.Request) {
		if _, ok := s.session(r); !ok {
			s.toLogin(w, r)
			return
		}
		http.NotFound(w, r)
	})
	return mux
}

func (s *Server) asset(name, ctype string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, err := assetFS.ReadFile(name)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", ctype)
		w.Write(b)
	}
}

// session finds the request's live session and its principal.
func (s *Server) session(r *http.Request) (*call, bool) {
	ck, err := r.Cookie(cookieName)
	if err != nil {
		return nil, false
	}
	s.mu.Lock()
	sess := s.sessions[ck.Value]
	if sess != nil && !s.opts.Now().Before(sess.expires) {
		delete(s.sessions, ck.Value)
		sess = nil
	}
	s.mu.Unlock()
	if sess == nil {
		return nil, false
	}
	var p api.Principal
	var ok bool
	if sess.cert != "" {
		// The same verified certificate, on this connection too.
		p, ok = s.opts.API.CertificatePrincipal(r)
		ok = ok && p.Name == sess.cert
	} else {
		p, ok = s.opts.API.PrincipalOf(sess.token) // gone when the token is removed
	}
	if !ok {
		s.mu.Lock()
		delete(s.sessions, ck.Value)
		s.mu.Unlock()
		return nil, false
	}
	return &call{p: p, sess: sess, id: ck.Value}, true
}

func (s *Server) toLogin(w http.ResponseWriter, r *http.Request) {
	next := r.URL.RequestURI()
	if r.Method != http.MethodGet {
		next = "/ui/"
	}
	http.Redirect(w, r, "/ui/login?next="+url.QueryEscape(next), http.StatusSeeOther)
}

// auth admits a request with a session: its principal still known, within
// its rate; a POST must carry the session's CSRF token and come from this
// origin.
func (s *Server) auth(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := s.session(r)
		if !ok {
			s.toLogin(w, r)
			return
		}
		if r.Method == http.MethodPost {
			if !sameOrigin(r) || subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(c.sess.csrf)) != 1 {
				s.opts.Log.Warn("ui request refused", "remote", r.RemoteAddr, "who", c.p.Name, "path", r.URL.Path, "why", "cross-site request")
				s.fail(w, r, c, http.StatusForbidden, "refused: this form did not come from this page (reload it and try again)")
				return
			}
		}
		if !c.p.May(api.ScopeRead) && r.URL.Path != "/ui/logout" {
			// Every page shows what the read scope covers (packets,
			// flows, status, holds), as the API's own routes ask.
			s.fail(w, r, c, http.StatusForbidden, c.p.Name+" may not read: the web page needs the read scope")
			return
		}
		if err := s.opts.API.Admit(c.p); err != nil {
			s.fail(w, r, c, api.StatusOf(err), err.Error())
			return
		}
		if err := h(w, r, c); err != nil {
			s.fail(w, r, c, api.StatusOf(err), err.Error())
		}
	})
}

// sameOrigin reports whether a state change came from our own pages: an
// Origin header, when the browser sends one, names this host; a
// Sec-Fetch-Site header says same-origin.
func sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return false
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return false
		}
	}
	return true
}

func randomID() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// fail answers an error as a page.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, c *call, status int, msg string) {
	if status >= 500 {
		s.opts.Log.Error("ui page failed", "path", r.URL.Path, "error", msg)
	}
	s.render(w, status, "error", c, map[string]any{"Title": http.StatusText(status), "Message": msg})
}

// page is what every page's template gets.
type page struct {
	Who   string
	CSRF  string
	Admin bool
	Title string
	Nav   string
	D     any
	// Missing are the sensors of a hub that could not answer the page's
	// query: a banner says the page is partial and names them.
	Missing []selection.Missing
}

func (s *Server) render(w http.ResponseWriter, status int, name string, c *call, d any) {
	pg := page{D: d, Nav: name}
	if c != nil {
		pg.Who, pg.CSRF, pg.Admin = c.p.Name, c.sess.csrf, c.p.May(api.ScopeAdmin)
	}
	if m, ok := d.(map[string]any); ok {
		if t, ok := m["Title"].(string); ok {
			pg.Title = t
		}
		if ms, ok := m["Missing"].([]selection.Missing); ok {
			pg.Missing = ms
		}
	}
	var b strings.Builder
	if err := s.pages[name].ExecuteTemplate(&b, "layout.html", pg); err != nil {
		s.opts.Log.Error("ui template", "page", name, "error", err.Error())
		http.Error(w, "template error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write([]byte(b.String()))
}

func (s *Server) handleLoginPage(w http.ResponseWriter, r *http.Request) {
	if secret := r.URL.Query().Get("secret"); secret != "" {
		// The one-time URL of `packetrecorder ui`.
		s.login(w, r, secret)
		return
	}
	_, cert := s.opts.API.CertificatePrincipal(r)
	s.render(w, http.StatusOK, "login", nil, map[string]any{"Title": "Log in", "Next": safeNext(r.URL.Query().Get("next")), "Cert": cert})
}

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		http.Error(w, "refused: cross-site login", http.StatusForbidden)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if r.PostFormValue("certificate") != "" {
		p, ok := s.opts.API.CertificatePrincipal(r)
		if !ok {
			s.render(w, http.StatusUnauthorized, "login", nil, map[string]any{"Title": "Log in", "Error": "no verified client certificate that grants any scope"})
			return
		}
		if !p.May(api.ScopeRead) {
			s.render(w, http.StatusForbidden, "login", nil, map[string]any{"Title": "Log in", "Error": p.Name + " may not read: the web page needs the read scope"})
			return
		}
		s.start(w, r, &session{cert: p.Name})
		return
	}
	s.login(w, r, r.PostFormValue("token"))
}

// login starts a session for a token's secret.
func (s *Server) login(w http.ResponseWriter, r *http.Request, secret string) {
	sum := api.TokenSum(strings.TrimSpace(secret))
	s.mu.Lock()
	once := s.opts.OneTime != [32]byte{} && subtle.ConstantTimeCompare(sum[:], s.opts.OneTime[:]) == 1
	used := once && s.usedOnce
	if once && r.Method == http.MethodGet {
		s.usedOnce = true
	}
	s.mu.Unlock()
	p, ok := s.opts.API.PrincipalOf(sum)
	if ok && !used && !p.May(api.ScopeRead) {
		s.opts.Log.Warn("ui login refused", "remote", r.RemoteAddr, "who", p.Name, "why", "no read scope")
		s.render(w, http.StatusForbidden, "login", nil, map[string]any{"Title": "Log in", "Error": p.Name + " may not read: the web page needs the read scope", "Next": safeNext(r.FormValue("next"))})
		return
	}
	if !ok || used || (r.Method == http.MethodGet && !once) {
		s.opts.Log.Warn("ui login refused", "remote", r.RemoteAddr)
		msg := "unknown token"
		if used {
			msg = "this login link was used already: log in with the token"
		}
		s.render(w, http.StatusUnauthorized, "login", nil, map[string]any{"Title": "Log in", "Error": msg, "Next": safeNext(r.FormValue("next"))})
		return
	}
	s.start(w, r, &session{token: sum})
}

func (s *Server) start(w http.ResponseWriter, r *http.Request, sess *session) {
	id := randomID()
	sess.csrf = randomID()
	sess.expires = s.opts.Now().Add(s.opts.SessionTTL)
	s.mu.Lock()
	now := s.opts.Now()
	for k, v := range s.sessions {
		if !now.Before(v.expires) {
			delete(s.sessions, k)
		}
	}
	s.sessions[id] = sess
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: id, Path: "/ui/", HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode, Expires: sess.expires, MaxAge: int(s.opts.SessionTTL.Seconds())})
	next := safeNext(r.FormValue("next"))
	if r.Method == http.MethodGet {
		next = "/ui/" // never follow a link's own next
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// safeNext keeps a redirect within the UI.
func safeNext(n string) string {
	if !strings.HasPrefix(n, "/ui/") || strings.HasPrefix(n, "//") || strings.ContainsAny(n, "\\\r\n") {
		return "/ui/"
	}
	return n
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request, c *call) error {
	s.mu.Lock()
	delete(s.sessions, c.id)
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/ui/", MaxAge: -1, HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
	return nil
}

// Mount serves u under /ui/ (and at /, which redirects there) and api
// everywhere else.
func Mount(u *Server, api http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/ui/", u)
	mux.Handle("/ui", u)
	mux.Handle("GET /{$}", u)
	mux.Handle("/", api)
	return mux
}
