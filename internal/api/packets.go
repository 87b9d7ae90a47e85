package api

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/packetrecorderd/packetrecorderd/internal/decode"
	"github.com/packetrecorderd/packetrecorderd/internal/filter"
	"github.com/packetrecorderd/packetrecorderd/internal/pcapio"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
	"github.com/packetrecorderd/packetrecorderd/internal/storeview"
	"github.com/packetrecorderd/packetrecorderd/internal/when"
)

// Content types of the packet formats.
const (
	TypePcap   = "application/vnd.tcpdump.pcap"
	TypePcapng = "application/x-pcapng"
	TypeNDJSON = "application/x-ndjson"
)

// Trailers of a packet stream: how many packets went out, and whether
// the limit cut the selection short; an error that ended it early.
const (
	TrailerPackets   = "Packetrecorder-Packets"
	TrailerTruncated = "Packetrecorder-Truncated"
	TrailerError     = "Packetrecorder-Error"
)

// MaxLimit is the largest limit a query may ask for.
const MaxLimit = 1 << 40

// packetQuery is one selection of packets and the form to send them in.
type packetQuery struct {
	filter string // the client's expression
	iface  string
	r      store.Range
	limit  int64 // 0: all
	format string
	data   bool // json: with the packets' bytes
	count  bool // only their number
	// describe asks for the selection's shape (link types, interfaces,
	// time span) instead of its packets.
	describe bool
	// limitBytes stops the stream before the packet that would take it
	// past this many bytes of packet data (0: no limit).
	limitBytes int64
}

// parsePacketQuery reads the parameters of GET /api/v1/packets.
func (s *Server) parsePacketQuery(r *http.Request) (packetQuery, error) {
	v := r.URL.Query()
	known := map[string]bool{"filter": true, "since": true, "until": true, "interface": true, "limit": true, "format": true, "data": true, "count": true, "describe": true}
	for k := range v {
		if !known[k] {
			return packetQuery{}, errBadRequest("unknown parameter %q (use filter, since, until, interface, limit, format, data, count, describe)", k)
		}
		if len(v[k]) > 1 {
			return packetQuery{}, errBadRequest("parameter %q given %d times", k, len(v[k]))
		}
	}
	q := packetQuery{filter: v.Get("filter"), iface: v.Get("interface"), format: v.Get("format")}
	if len(q.filter) > 64<<10 {
		return q, errBadRequest("filter is longer than 64 KiB")
	}
	if q.iface != "" && (strings.ContainsAny(q.iface, "/\\\x00") || q.iface == "." || q.iface == ".." || len(q.iface) > 64) {
		return q, errBadRequest("invalid interface name %q", q.iface)
	}
	now := s.opts.Now()
	for _, b := range []struct {
		name string
		ns   *int64
		has  *bool
	}{{"since", &q.r.Since, &q.r.HasSince}, {"until", &q.r.Until, &q.r.HasUntil}} {
		text := v.Get(b.name)
		if text == "" {
			continue
		}
		ns, err := when.ParseNS(text, now)
		if err != nil {
			return q, errBadRequest("%s: %v", b.name, err)
		}
		*b.ns, *b.has = ns, true
	}
	if q.r.HasSince && q.r.HasUntil && q.r.Since > q.r.Until {
		return q, errBadRequest("since %s is after until %s", v.Get("since"), v.Get("until"))
	}
	if l := v.Get("limit"); l != "" {
		n, err := strconv.ParseInt(l, 10, 64)
		if err != nil || n < 0 || n > MaxLimit {
			return q, errBadRequest("invalid limit %q: 0 (all) to %d", l, int64(MaxLimit))
		}
		q.limit = n
	}
	switch q.format {
	case "":
		q.format = "pcap"
	case "pcap", "pcapng", "json":
	default:
		return q, errBadRequest("invalid format %q: use pcap, pcapng or json", q.format)
	}
	var err error
	if q.data, err = boolParam(v.Get("data"), "data"); err != nil {
		return q, err
	}
	if q.count, err = boolParam(v.Get("count"), "count"); err != nil {
		return q, err
	}
	if q.describe, err = boolParam(v.Get("describe"), "describe"); err != nil {
		return q, err
	}
	return q, nil
}

func boolParam(text, name string) (bool, error) {
	if text == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(text)
	if err != nil {
		return false, errBadRequest("invalid %s %q: use true or false", name, text)
	}
	return b, nil
}

// handlePackets is GET /api/v1/packets.
func (s *Server) handlePackets(w http.ResponseWriter, r *http.Request) error {
	q, err := s.parsePacketQuery(r)
	if err != nil {
		return err
	}
	return s.serveQuery(w, r, q)
}

// open opens the selection of q for the request's principal: its forced
// filter ANDed on, its time window checked.
func (s *Server) open(r *http.Request, q packetQuery) (*storeview.View, error) {
	p := who(r)
	if p.maxWindow > 0 {
		if !q.r.HasSince || !q.r.HasUntil {
			return nil, errForbidden("%s may read at most %s at once: give since and until", p.name, p.maxWindow)
		}
		if w := q.r.Until - q.r.Since; w < 0 || w > int64(p.maxWindow) {
			return nil, errForbidden("%s may read at most %s at once; the window asked for is %s", p.name, p.maxWindow,
				fmtDuration(q.r.Until-q.r.Since))
		}
	}
	v, err := storeview.Open(s.opts.Store, q.iface, q.r, "")
	if err != nil {
		if errors.Is(err, storeview.ErrNoSuchInterface) {
			return nil, errNotFound("%v", err)
		}
		return nil, err
	}
	if q.filter != "" {
		// The client's own expression first, so that its mistakes are
		// reported as the CLI reports them.
		if _, err := storeview.CompileFilterMask(q.filter, v.LinkTypes(), 1, v.Netmask()); err != nil {
			v.Close()
			return nil, errBadRequest("%v", err)
		}
	}
	expr := q.filter
	if p.filter != "" {
		expr = "(" + p.filter + ")"
		if q.filter != "" {
			expr += " and (" + q.filter + ")"
		}
	}
	if expr != "" {
		v.Filter, err = storeview.CompileFilterMask(expr, v.LinkTypes(), 1, v.Netmask())
		if err != nil && p.filter != "" && errors.Is(err, filter.ErrRejectsAll) {
			// The token's filter and the client's contradict: nothing
			// passes both, which is an empty answer.
			v.Filter, err = storeview.MatchNothing(), nil
		}
		if err != nil {
			v.Close()
			return nil, fmt.Errorf("the filter of %s: %w", p.name, err)
		}
	}
	return v, nil
}

// serveQuery streams the packets of q in its format.
func (s *Server) serveQuery(w http.ResponseWriter, r *http.Request, q packetQuery) error {
	auditQuery(r, q.filter, q.format, q.r)
	a := auditOf(r)
	a.iface, a.count, a.describe = q.iface, q.count, q.describe
	v, err := s.open(r, q)
	if err != nil {
		return err
	}
	defer v.Close()
	ctx := r.Context()
	if q.describe {
		sel, err := describe(ctx, v, q)
		if err != nil {
			return err
		}
		auditOf(r).packets = sel.Packets
		writeJSON(w, http.StatusOK, sel)
		return nil
	}
	if q.count {
		var n int64
		if v.Filter == nil && q.limit == 0 {
			n, err = v.Count()
		} else {
			err = v.Walk(ctx, q.limit, func(store.Record) error { n++; return nil })
		}
		if err != nil {
			return err
		}
		auditOf(r).packets = n
		writeJSON(w, http.StatusOK, map[string]int64{"count": n})
		return nil
	}
	st, err := s.newStream(w, v, q)
	if err != nil {
		return err
	}
	return s.stream(ctx, w, r, q, st, v.Walk)
}

// walker walks a selection's packets (View.Walk, or several in turn).
type walker func(ctx context.Context, limit int64, fn func(store.Record) error) error

// packetSink writes packets in one format.
type packetSink interface {
	write(rec store.Record) error
	// end writes what follows the packets (the JSON summary line).
	end(n int64, truncated bool, err error) error
}

func (s *Server) newStream(w http.ResponseWriter, v *storeview.View, q packetQuery) (packetSink, error) {
	sum := v.Summary()
	lts := v.LinkTypes()
	bw := bufio.NewWriterSize(w, 64<<10)
	switch q.format {
	case "pcap":
		lt := sum.LinkType
		if len(lts) > 1 {
			return nil, errBadRequest("the selection holds %d link types: pcap holds one, use format=pcapng", len(lts))
		}
		if len(lts) == 1 {
			lt = lts[0]
		}
		first, last := v.Span()
		if first < 0 || last/1e9 > math.MaxUint32 {
			return nil, errBadRequest("the selection has timestamps outside pcap's range (1970-2106): use format=pcapng")
		}
		snap := sum.Snaplen
		if snap == 0 {
			snap = store.MaxCapLen
		}
		setStreamHeaders(w, TypePcap)
		pw, err := pcapio.NewPcapWriter(bw, lt, snap, true)
		if err != nil {
			return nil, err
		}
		return &fileSink{w: pw, bw: bw, rw: w}, nil
	case "pcapng":
		setStreamHeaders(w, TypePcapng)
		host, _ := os.Hostname()
		pw, err := pcapio.NewPcapngWriter(bw, pcapio.PcapngConfig{OS: runtime.GOOS, UserAppl: "packetrecorder " + s.opts.Version + " on " + host})
		if err != nil {
			return nil, err
		}
		idx := map[int]int{}
		for _, it := range v.PcapngInterfaces() {
			i, err := pw.AddInterface(pcapio.Interface{LinkType: it.LinkType, Snaplen: it.Snaplen, Name: it.Name, Filter: it.Filter, TsResol: 9, FCSLen: -1})
			if err != nil {
				return nil, err
			}
			idx[it.ID] = i
		}
		return &fileSink{w: pw, bw: bw, rw: w, ifIndex: idx}, nil
	default:
		setStreamHeaders(w, TypeNDJSON)
		sink := &jsonSink{bw: bw, rw: w, enc: json.NewEncoder(bw), sum: decode.NewSummarizer(), data: q.data, v: v}
		return sink, nil
	}
}

func setStreamHeaders(w http.ResponseWriter, ctype string) {
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Trailer", TrailerPackets+", "+TrailerTruncated+", "+TrailerError)
}

// stream walks the selection into the sink, flushing the first packets at
// once and the rest as the buffer fills, and ends with the trailers.
func (s *Server) stream(ctx context.Context, w http.ResponseWriter, r *http.Request, q packetQuery, sink packetSink, walk walker) error {
	a := auditOf(r)
	rc := http.NewResponseController(w)
	var n, bytes int64
	truncated := false
	limit := q.limit
	if limit > 0 {
		limit++ // one more, to tell whether the limit cut it short
	}
	err := walk(ctx, limit, func(rec store.Record) error {
		if q.limit > 0 && n == q.limit || q.limitBytes > 0 && bytes+int64(len(rec.Data)) > q.limitBytes {
			truncated = true
			return store.ErrStop
		}
		if err := sink.write(rec); err != nil {
			return err
		}
		n++
		bytes += int64(len(rec.Data))
		if n == 1 {
			return flush(sink, rc) // the first byte goes out at once
		}
		return nil
	})
	a.packets, a.bytes, a.truncated = n, bytes, truncated
	if err != nil && ctx.Err() != nil {
		a.err = ctx.Err()
		return nil // the client went away: nobody to tell
	}
	if err != nil {
		a.err = err
		s.opts.Log.Error("query failed", "who", who(r).name, "error", err.Error())
	}
	if eerr := sink.end(n, truncated, err); eerr != nil {
		return nil // the client went away while the end was written
	}
	h := w.Header()
	h.Set(TrailerPackets, strconv.FormatInt(n, 10))
	h.Set(TrailerTruncated, strconv.FormatBool(truncated))
	if err != nil {
		h.Set(TrailerError, oneLine(err.Error()))
	}
	return nil
}

func flush(sink packetSink, rc *http.ResponseController) error {
	var bw *bufio.Writer
	switch s := sink.(type) {
	case *fileSink:
		bw = s.bw
		if f, ok := s.w.(interface{ Flush() error }); ok {
			if err := f.Flush(); err != nil {
				return err
			}
		}
	case *jsonSink:
		bw = s.bw
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	return nil
}

// fileSink writes pcap or pcapng.
type fileSink struct {
	w       pcapio.PacketWriter
	bw      *bufio.Writer
	rw      io.Writer
	ifIndex map[int]int
}

func (f *fileSink) write(rec store.Record) error {
	return f.w.WritePacket(pcapio.Packet{Timestamp: rec.Timestamp, OrigLen: rec.OrigLen, LinkType: rec.LinkType,
		Interface: f.ifIndex[rec.Interface], Data: rec.Data})
}

func (f *fileSink) end(int64, bool, error) error {
	if err := f.w.Flush(); err != nil {
		return err
	}
	return f.bw.Flush()
}

// jsonSink writes one JSON object per packet, as query --json prints
// them, then a line with the count.
type jsonSink struct {
	bw   *bufio.Writer
	rw   io.Writer
	enc  *json.Encoder
	sum  *decode.Summarizer
	data bool
	v    *storeview.View
}

func (j *jsonSink) write(rec store.Record) error {
	p := storeview.NewPacketJSON(rec, j.sum.Summary(rec.LinkType, rec.Data, rec.OrigLen), j.v.InterfaceName(rec))
	if j.data {
		p.Data = hex.EncodeToString(rec.Data)
	}
	return j.enc.Encode(p)
}

// End is the last line of a JSON packet stream.
type End struct {
	Packets   int64  `json:"packets"`
	Truncated bool   `json:"truncated"`
	Error     string `json:"error,omitempty"`
}

func (j *jsonSink) end(n int64, truncated bool, err error) error {
	e := End{Packets: n, Truncated: truncated}
	if err != nil {
		e.Error = oneLine(err.Error())
	}
	if err := j.enc.Encode(map[string]End{"end": e}); err != nil {
		return err
	}
	return j.bw.Flush()
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// Selection describes a selection without its packets: what a client
// needs to choose a file format (GET /api/v1/packets?describe=true).
type Selection struct {
	LinkTypes  []uint32         `json:"link_types"`
	Interfaces []SelectionIface `json:"interfaces"`
	// FirstNS and LastNS bound the selected packets' timestamps: exactly
	// when a filter applies; without one, the selected segments' span
	// within the window. Both 0 when nothing is selected.
	FirstNS int64  `json:"first_ns"`
	LastNS  int64  `json:"last_ns"`
	Snaplen uint32 `json:"snaplen"`
	// Packets is how many packets the same query would stream: the
	// window, the interface, the token's filter and the client's, and
	// the limit all apply.
	Packets int64 `json:"packets"`
}

// SelectionIface is one recording of a selection, by the id of its
// packets' interface.
type SelectionIface struct {
	ID       int    `json:"id"`
	Name     string `json:"name"`
	LinkType uint32 `json:"link_type"`
	Snaplen  uint32 `json:"snaplen"`
	Filter   string `json:"filter"`
}

// describe is the shape of q's selection. It counts what the query would
// stream, never the segments' whole contents: those may hold packets
// outside the window, or that the principal's filter hides.
func describe(ctx context.Context, v *storeview.View, q packetQuery) (Selection, error) {
	sum := v.Summary()
	sel := Selection{LinkTypes: v.LinkTypes(), Interfaces: []SelectionIface{}, Snaplen: sum.Snaplen}
	if sel.LinkTypes == nil {
		sel.LinkTypes = []uint32{}
	}
	if v.Filter == nil {
		n, err := v.Count()
		if err != nil {
			return sel, err
		}
		if q.limit > 0 {
			n = min(n, q.limit)
		}
		sel.Packets = n
		if n > 0 {
			sel.FirstNS, sel.LastNS = v.Span()
			if q.r.HasSince {
				sel.FirstNS = max(sel.FirstNS, q.r.Since)
			}
			if q.r.HasUntil {
				sel.LastNS = min(sel.LastNS, q.r.Until)
			}
		}
	} else {
		first, last := int64(math.MaxInt64), int64(math.MinInt64)
		err := v.Walk(ctx, q.limit, func(rec store.Record) error {
			sel.Packets++
			first, last = min(first, rec.Timestamp), max(last, rec.Timestamp)
			return nil
		})
		if err != nil {
			return sel, err
		}
		if sel.Packets > 0 {
			sel.FirstNS, sel.LastNS = first, last
		}
	}
	for _, it := range v.PcapngInterfaces() {
		sel.Interfaces = append(sel.Interfaces, SelectionIface{ID: it.ID, Name: it.Name, LinkType: it.LinkType, Snaplen: it.Snaplen, Filter: it.Filter})
	}
	return sel, nil
}

// auditQuery notes what a query asks for in its audit line.
func auditQuery(r *http.Request, query, format string, rg store.Range) {
	a := auditOf(r)
	a.query, a.format = query, format
	if rg.HasSince {
		a.since = fmtNS(rg.Since)
	}
	if rg.HasUntil {
		a.until = fmtNS(rg.Until)
	}
}
