package ui

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/api"
	"github.com/packetrecorderd/packetrecorderd/internal/decode"
	"github.com/packetrecorderd/packetrecorderd/internal/flow"
	"github.com/packetrecorderd/packetrecorderd/internal/selection"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
	"github.com/packetrecorderd/packetrecorderd/internal/when"
)

// pageSize is how many rows a page shows.
const pageSize = 100

// maxPage is the furthest page asked for: page*pageSize stays far from
// overflowing.
const maxPage = 1 << 40

// query is a search's selection: the API's parameters.
type query struct {
	filter, iface string
	since, until  string // as typed
	r             store.Range
	communityID   string
	sort          string
	page          int
	err           string // what is wrong with it, shown on the form
	cid           flow.CommunityID
	hasCID        bool
}

// parseQuery reads a page's selection from its URL; mistakes are kept for
// the form, not answered as errors.
func (s *Server) parseQuery(r *http.Request) query {
	v := r.URL.Query()
	q := query{filter: strings.TrimSpace(v.Get("filter")), iface: v.Get("interface"), since: v.Get("since"), until: v.Get("until"),
		communityID: strings.TrimSpace(v.Get("community_id")), sort: v.Get("sort")}
	if q.sort == "" {
		q.sort = "start"
	}
	q.page, _ = strconv.Atoi(v.Get("page"))
	q.page = min(max(q.page, 0), maxPage)
	now := s.opts.Now()
	if q.since != "" {
		ns, err := when.ParseNS(q.since, now)
		if err != nil {
			q.err = "since: " + err.Error()
		}
		q.r.Since, q.r.HasSince = ns, err == nil
	}
	if q.until != "" {
		ns, err := when.ParseNS(q.until, now)
		if err != nil {
			q.err = "until: " + err.Error()
		}
		q.r.Until, q.r.HasUntil = ns, err == nil
	}
	if q.err == "" && q.r.HasSince && q.r.HasUntil && q.r.Since > q.r.Until {
		q.err = fmt.Sprintf("since %s is after until %s", q.since, q.until)
	}
	if len(q.filter) > 64<<10 {
		q.err = "filter is longer than 64 KiB"
	}
	if q.iface != "" && !api.ValidInterface(q.iface) {
		q.err = fmt.Sprintf("invalid interface name %q", q.iface)
	}
	if q.communityID != "" {
		c, err := flow.ParseCommunityID(q.communityID)
		if err != nil {
			q.err = "community_id: " + err.Error()
		}
		q.cid, q.hasCID = c, err == nil
	}
	return q
}

// values is q as URL parameters, with changes.
func (q query) values(set ...string) url.Values {
	v := url.Values{}
	add := func(k, x string) {
		if x != "" {
			v.Set(k, x)
		}
	}
	add("filter", q.filter)
	add("since", q.since)
	add("until", q.until)
	add("interface", q.iface)
	add("community_id", q.communityID)
	if q.sort != "start" {
		add("sort", q.sort)
	}
	for i := 0; i+1 < len(set); i += 2 {
		if set[i+1] == "" {
			v.Del(set[i])
		} else {
			v.Set(set[i], set[i+1])
		}
	}
	return v
}

func (q query) uiQuery(page string) api.UIQuery {
	return api.UIQuery{Filter: q.filter, Interface: q.iface, HasSince: q.r.HasSince, Since: q.r.Since, HasUntil: q.r.HasUntil, Until: q.r.Until, Page: page}
}

// form is what the search form shows.
type form struct {
	Filter, Since, Until, Interface, CommunityID, Sort string
	Error                                              string
	Interfaces                                         []string
}

func (s *Server) form(q query) form {
	f := form{Filter: q.filter, Since: q.since, Until: q.until, Interface: q.iface, CommunityID: q.communityID, Sort: q.sort, Error: q.err}
	if s.isDatabase() {
		return f // a database's sessions are read together
	}
	if segs, err := s.src.Segments(context.Background()); err == nil {
		for _, sg := range segs {
			if !slices.Contains(f.Interfaces, sg.Interface) {
				f.Interfaces = append(f.Interfaces, sg.Interface)
			}
		}
		slices.Sort(f.Interfaces)
	}
	return f
}

// readErr turns a selection's error into what the form shows, or a page
// error.
func readErr(err error) (string, error) {
	switch {
	case err == nil:
		return "", nil
	case errors.As(err, new(*formError)):
		return err.Error(), nil
	case api.StatusOf(err) < 500:
		return err.Error(), nil
	}
	return "", err
}

// flowRow is one flow of the flows table: the wire row and what the page
// shows of it.
type flowRow struct {
	*selection.Flow
	Src, Dst string
	Start    string
	Duration string
	Flags    string
	Link     string
}

func (s *Server) handleFlows(w http.ResponseWriter, r *http.Request, c *call) error {
	q := s.parseQuery(r)
	d := map[string]any{"Title": "Flows", "Form": s.form(q), "Fleet": s.isFleet()}
	var rows []flowRow
	var total, shownFrom int
	var sumPackets, sumBytes uint64
	if q.err == "" {
		// The flows command's engine, with p's rules on both its passes;
		// the flows up to this page's last.
		var list selection.FlowList
		limit := int64(q.page+1) * pageSize
		err := s.opts.API.Query(r.Context(), r, c.p, q.uiQuery("flows"), func(ctx context.Context) (int64, int64, error) {
			var err error
			spec := q.spec()
			spec.ForcedFilter = c.p.Filter
			list, err = s.src.ListFlows(ctx, spec, selection.FlowOptions{Sort: q.sort, Limit: limit}, opener(s.src, c.p))
			return int64(list.End.PacketsRead), int64(list.BytesRead), err
		})
		d["Missing"] = list.End.Missing
		var fe *selection.FilterError
		if errors.As(err, &fe) && !fe.Forced {
			err = &formError{err}
		}
		if errors.Is(err, selection.ErrFlowSort) {
			err = &formError{err}
		}
		msg, err := readErr(err)
		if err != nil {
			return err
		}
		d["Form"] = withErr(d["Form"].(form), msg)
		total, sumPackets, sumBytes = int(list.End.Flows), list.End.Packets, list.End.Bytes
		shownFrom = min(q.page*pageSize, total)
		for i := shownFrom; i < len(list.Flows); i++ {
			rows = append(rows, newFlowRow(&list.Flows[i], q))
		}
	}
	d["Rows"], d["Total"], d["From"], d["Packets"], d["Bytes"] = rows, total, shownFrom+1, sumPackets, sumBytes
	d["To"] = shownFrom + len(rows)
	d["Sorts"] = sortLinks(q)
	d["Prev"], d["Next"] = pager(q, "/ui/flows", total)
	d["PacketsLink"] = "/ui/packets?" + q.values("sort", "", "page", "").Encode()
	d["HoldLink"] = "/ui/holds?" + url.Values{"since": {q.since}, "until": {q.until}}.Encode()
	d["Download"] = downloadLink(q.filter, q)
	s.render(w, http.StatusOK, "flows", c, d)
	return nil
}

func withErr(f form, msg string) form {
	if msg != "" {
		f.Error = msg
	}
	return f
}

func pager(q query, path string, total int) (prev, next string) {
	if q.page > 0 {
		prev = path + "?" + q.values("page", strconv.Itoa(q.page-1)).Encode()
	}
	if (q.page+1)*pageSize < total {
		next = path + "?" + q.values("page", strconv.Itoa(q.page+1)).Encode()
	}
	return
}

type sortLink struct {
	Name, Link string
	On         bool
}

func sortLinks(q query) []sortLink {
	var out []sortLink
	for _, n := range []string{"start", "packets", "bytes", "duration"} {
		out = append(out, sortLink{Name: n, Link: "/ui/flows?" + q.values("sort", n, "page", "").Encode(), On: q.sort == n})
	}
	return out
}

// newFlowRow is f as the flows table shows it, linked to its packets.
func newFlowRow(f *selection.Flow, q query) flowRow {
	fq := query{iface: q.iface, communityID: f.CommunityID, sort: "start", since: fmtNS(f.FirstNS), until: fmtNS(f.LastNS)}
	src, dst := f.Endpoints()
	return flowRow{Flow: f, Src: src, Dst: dst, Start: fmtTime(f.FirstNS), Duration: fmt.Sprintf("%.3f s", float64(f.LastNS-f.FirstNS)/1e9),
		Flags: f.FlagLetters(), Link: "/ui/flow?" + fq.values().Encode()}
}

// packetRow is one packet of a packet list.
type packetRow struct {
	N       int64
	Time    string
	Iface   string
	Len     int
	Summary string
	Link    string
}

func (s *Server) handlePackets(w http.ResponseWriter, r *http.Request, c *call) error {
	q := s.parseQuery(r)
	d := map[string]any{"Title": "Packets", "Form": s.form(q)}
	var rows []packetRow
	more := false
	if q.err == "" {
		from := int64(q.page) * pageSize
		err := s.opts.API.Query(r.Context(), r, c.p, q.uiQuery("packets"), func(ctx context.Context) (int64, int64, error) {
			sl, err := openSelection(ctx, s.src, c.p, q)
			if err != nil {
				return 0, 0, err
			}
			defer func() { d["Missing"] = sl.missing(); sl.close() }()
			sum := decode.NewSummarizer()
			var i, b int64
			var pk flow.Packet
			err = sl.walk(ctx, from+pageSize+1, func(rec store.Record) error {
				i++
				if i <= from {
					return nil
				}
				if i > from+pageSize {
					more = true
					return store.ErrStop
				}
				b += int64(len(rec.Data))
				row := packetRow{N: i, Time: fmtTime(rec.Timestamp), Iface: sl.interfaceName(rec), Len: rec.OrigLen,
					Summary: sum.Summary(rec.LinkType, rec.Data, rec.OrigLen)}
				if flow.Extract(rec.LinkType, rec.Data, &pk) {
					id := pk.Key.ID(0)
					fq := query{iface: q.iface, communityID: id.String(), sort: "start", since: q.since, until: q.until}
					row.Link = "/ui/flow?" + fq.values().Encode()
				}
				rows = append(rows, row)
				return nil
			})
			if errors.Is(err, store.ErrStop) {
				err = nil
			}
			return int64(len(rows)), b, err
		})
		msg, err := readErr(err)
		if err != nil {
			return err
		}
		d["Form"] = withErr(d["Form"].(form), msg)
	}
	d["Rows"] = rows
	if q.page > 0 {
		d["Prev"] = "/ui/packets?" + q.values("page", strconv.Itoa(q.page-1)).Encode()
	}
	if more {
		d["Next"] = "/ui/packets?" + q.values("page", strconv.Itoa(q.page+1)).Encode()
	}
	d["FlowsLink"] = "/ui/flows?" + q.values("page", "").Encode()
	d["SizeLink"] = "/ui/size?" + q.values("page", "", "sort", "").Encode()
	d["Download"] = downloadLink(q.filter, q)
	s.render(w, http.StatusOK, "packets", c, d)
	return nil
}

// download is a link to a selection's packets and what it holds.
type download struct {
	Pcap, Pcapng string
}

func downloadLink(expr string, q query) download {
	v := url.Values{}
	if expr != "" {
		v.Set("filter", expr)
	}
	if q.since != "" {
		v.Set("since", q.since)
	}
	if q.until != "" {
		v.Set("until", q.until)
	}
	if q.iface != "" {
		v.Set("interface", q.iface)
	}
	ng := cloneValues(v)
	ng.Set("format", "pcapng")
	return download{Pcap: "/ui/download?" + v.Encode(), Pcapng: "/ui/download?" + ng.Encode()}
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, x := range v {
		out[k] = append([]string(nil), x...)
	}
	return out
}

// handleDownload streams a selection through the API's packet stream.
func (s *Server) handleDownload(w http.ResponseWriter, r *http.Request, c *call) error {
	v := r.URL.Query()
	pv := url.Values{}
	for _, k := range []string{"filter", "since", "until", "interface", "format", "limit"} {
		if x := v.Get(k); x != "" {
			pv.Set(k, x)
		}
	}
	ext := "pcap"
	if pv.Get("format") == "pcapng" {
		ext = "pcapng"
	}
	r2 := r.Clone(r.Context())
	r2.URL = &url.URL{Path: "/api/v1/packets", RawQuery: pv.Encode()}
	r2.RequestURI = r2.URL.RequestURI()
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="packets-%s.%s"`, s.opts.Now().UTC().Format("20060102T150405Z"), ext))
	s.opts.API.ServePackets(w, r2, c.p)
	return nil
}

// fmtTime is a packet time as the pages show it (UTC, microseconds).
func fmtTime(ns int64) string { return time.Unix(0, ns).UTC().Format("2006-01-02 15:04:05.000000") }

// fmtNS is a time as the forms take it back exactly.
func fmtNS(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }

var funcs = template.FuncMap{
	"bytes": fmtBytes,
	"num":   func(n any) string { return fmtNum(fmt.Sprint(n)) },
	"dict": func(kv ...any) map[string]any {
		m := map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	},
}

func fmtBytes(n any) string {
	var f float64
	switch x := n.(type) {
	case int64:
		f = float64(x)
	case uint64:
		f = float64(x)
	case int:
		f = float64(x)
	case float64:
		f = x
	}
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB"}
	i := 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f B", f)
	}
	return fmt.Sprintf("%.1f %s", f, units[i])
}

// fmtNum groups digits by thousands.
func fmtNum(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	if len(s) <= 3 || strings.ContainsAny(s, ".e") {
		if neg {
			return "-" + s
		}
		return s
	}
	var b strings.Builder
	for i, ch := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(ch)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// statusOf decodes the daemon's status (whose JSON keys are a stable
// interface) into what the overview shows.
func statusOf(v any) (*daemonStatus, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var st daemonStatus
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// handleSize is a selection's size before its download: how many packets
// and bytes the download would hold (it reads the selection, as the API's
// describe does).
func (s *Server) handleSize(w http.ResponseWriter, r *http.Request, c *call) error {
	q := s.parseQuery(r)
	d := map[string]any{"Title": "Download", "Form": s.form(q), "Download": downloadLink(q.filter, q),
		"Back": "/ui/packets?" + q.values("page", "").Encode()}
	if q.err == "" {
		var n, b int64
		err := s.opts.API.Query(r.Context(), r, c.p, q.uiQuery("size"), func(ctx context.Context) (int64, int64, error) {
			sl, err := openSelection(ctx, s.src, c.p, q)
			if err != nil {
				return 0, 0, err
			}
			defer func() { d["Missing"] = sl.missing(); sl.close() }()
			err = sl.walk(ctx, 0, func(rec store.Record) error {
				n++
				b += int64(len(rec.Data))
				return nil
			})
			return n, b, err
		})
		msg, err := readErr(err)
		if err != nil {
			return err
		}
		d["Form"] = withErr(d["Form"].(form), msg)
		if msg == "" {
			d["Packets"], d["Bytes"], d["Known"] = n, b, true
		}
	}
	s.render(w, http.StatusOK, "size", c, d)
	return nil
}
