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
	"sync"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/decode"
	"github.com/packetrecorderd/packetrecorderd/internal/flow"
	"github.com/packetrecorderd/packetrecorderd/internal/pcapio"
	"github.com/packetrecorderd/packetrecorderd/internal/selection"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
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
	// TrailerPartial, in a hub's answer only, names each sensor that did
	// not answer and why ("dc2-uplink: connection refused; ..."): the
	// packets of the others are all there.
	TrailerPartial = "Packetrecorder-Partial"
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
	// windows, when set, are read in turn (Stenographer's query); r is
	// their hull.
	windows []selection.Window
	// communityID and cidSeed select one flow's packets.
	communityID string
	cidSeed     uint16
	// keepalive, asked for with selection.HeaderKeepalive on a JSON
	// stream, is how long the stream may go without a line: a walk that
	// finds nothing for longer writes a keepalive line instead.
	keepalive time.Duration
}

// parsePacketQuery reads the parameters of GET /api/v1/packets.
func (s *Server) parsePacketQuery(r *http.Request) (packetQuery, error) {
	v := r.URL.Query()
	known := map[string]bool{"filter": true, "since": true, "until": true, "interface": true, "limit": true, "format": true, "data": true, "count": true, "describe": true, "community_id": true, "community_id_seed": true}
	for k := range v {
		if !known[k] {
			return packetQuery{}, errBadRequest("unknown parameter %q (use filter, since, until, interface, limit, format, data, count, describe, community_id, community_id_seed)", k)
		}
		if len(v[k]) > 1 {
			return packetQuery{}, errBadRequest("parameter %q given %d times", k, len(v[k]))
		}
	}
	q := packetQuery{filter: v.Get("filter"), iface: v.Get("interface"), format: v.Get("format"), communityID: v.Get("community_id")}
	if q.communityID != "" {
		if _, err := flow.ParseCommunityID(q.communityID); err != nil {
			return q, errBadRequest("community_id %q: %v", q.communityID, err)
		}
	}
	if seed := v.Get("community_id_seed"); seed != "" {
		n, err := strconv.ParseUint(seed, 10, 16)
		if err != nil {
			return q, errBadRequest("invalid community_id_seed %q: 0 to 65535", seed)
		}
		q.cidSeed = uint16(n)
	}
	if len(q.filter) > 64<<10 {
		return q, errBadRequest("filter is longer than 64 KiB")
	}
	if q.iface != "" && !ValidInterface(q.iface) {
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
	if v := r.Header.Get(selection.HeaderKeepalive); v != "" && q.format == "json" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second || d > time.Minute {
			return errBadRequest("invalid %s %q: a duration of 1s to 1m", selection.HeaderKeepalive, v)
		}
		q.keepalive = d
	}
	return s.serveQuery(w, r, q)
}

// open opens the selection of q for the request's principal: its forced
// filter ANDed on (the filter compiled once), its time window checked.
func (s *Server) open(r *http.Request, q packetQuery) (*selection.Selection, error) {
	p := who(r)
	if err := p.checkWindow(q.r); err != nil {
		return nil, err
	}
	spec := selection.Spec{Interface: q.iface, Range: q.r, Windows: q.windows, Filter: q.filter, ForcedFilter: p.filter,
		CommunityID: q.communityID, CommunityIDSeed: q.cidSeed}
	if q.count || q.describe {
		spec.Limit = q.limit // a stream asks for one more, to tell truncation
	}
	sl, err := s.opts.Selector.Select(r.Context(), spec)
	var fe *selection.FilterError
	switch {
	case err == nil:
		return sl, nil
	case errors.Is(err, selection.ErrNoSuchInterface):
		return nil, errNotFound("%v", err)
	case errors.As(err, &fe) && fe.Forced:
		return nil, fmt.Errorf("the filter of %s: %w", p.name, fe.Err)
	case errors.As(err, &fe):
		return nil, errBadRequest("%v", err)
	}
	return nil, err
}

// checkWindow refuses a window wider than the principal's max_window.
func (p *principal) checkWindow(rg store.Range) error {
	if p.maxWindow > 0 {
		if !rg.HasSince || !rg.HasUntil {
			return errForbidden("%s may read at most %s at once: give since and until", p.name, p.maxWindow)
		}
		if w := rg.Until - rg.Since; w < 0 || w > int64(p.maxWindow) {
			return errForbidden("%s may read at most %s at once; the window asked for is %s", p.name, p.maxWindow,
				fmtDuration(rg.Until-rg.Since))
		}
	}
	return nil
}

// serveQuery streams the packets of q in its format.
func (s *Server) serveQuery(w http.ResponseWriter, r *http.Request, q packetQuery) error {
	auditQuery(r, q.filter, q.format, q.r)
	a := auditOf(r)
	a.iface, a.count, a.describe = q.iface, q.count, q.describe
	sl, err := s.open(r, q)
	if err != nil {
		return err
	}
	defer sl.Close()
	ctx := r.Context()
	if q.describe {
		d, fleet, err := sl.DescribeFleet(ctx)
		if !fleet {
			d, err = sl.Describe(ctx)
		}
		if err != nil {
			return err
		}
		auditOf(r).packets = d.Packets
		WriteJSON(w, http.StatusOK, d)
		return nil
	}
	if q.count {
		n, err := sl.Count(ctx)
		if err != nil {
			return err
		}
		auditOf(r).packets = n
		WriteJSON(w, http.StatusOK, selection.CountAnswer{Count: n, Missing: sl.Missing(), Expired: sl.Expired()})
		return nil
	}
	st, err := s.newStream(w, sl, q)
	if err != nil {
		return err
	}
	err = s.stream(ctx, w, r, q, st, sl)
	auditOf(r).plan = sl.PlanStats()
	return err
}

// walker walks a selection's packets (Selection.Walk).
type walker func(ctx context.Context, limit int64, fn func(store.Record) error) error

// packetSink writes packets in one format.
type packetSink interface {
	write(rec store.Record) error
	// end writes what follows the packets (the JSON summary line).
	end(n int64, truncated bool, err error) error
}

func (s *Server) newStream(w http.ResponseWriter, sl *selection.Selection, q packetQuery) (packetSink, error) {
	sum := sl.Summary()
	lts, _, first, last, err := sl.Shape()
	if err != nil {
		return nil, err
	}
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
		ifaces, err := sl.Interfaces()
		if err != nil {
			return nil, err
		}
		for _, it := range ifaces {
			i, err := pw.AddInterface(pcapio.Interface{LinkType: it.LinkType, Snaplen: it.Snaplen, Name: it.Name, Filter: it.Filter, TsResol: 9, FCSLen: -1})
			if err != nil {
				return nil, err
			}
			idx[it.ID] = i
		}
		return &fileSink{w: pw, bw: bw, rw: w, ifIndex: idx}, nil
	default:
		setStreamHeaders(w, TypeNDJSON)
		sink := &jsonSink{bw: bw, rw: w, enc: json.NewEncoder(bw), sum: decode.NewSummarizer(), data: q.data, sl: sl}
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
func (s *Server) stream(ctx context.Context, w http.ResponseWriter, r *http.Request, q packetQuery, sink packetSink, sl *selection.Selection) error {
	if js, ok := sink.(*jsonSink); ok && q.keepalive > 0 {
		ka := &aliveSink{jsonSink: js, rc: http.NewResponseController(w), last: time.Now()}
		stop := ka.run(q.keepalive)
		defer stop()
		sink = ka
	}
	walk := walker(sl.Walk)
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
	if missing := sl.Missing(); len(missing) > 0 {
		// Not declared before the body (a daemon's answers keep their
		// headers): Go's server sends a prefixed trailer all the same.
		h.Set(http.TrailerPrefix+TrailerPartial, PartialText(missing))
	}
	return nil
}

// PartialText is the Packetrecorder-Partial trailer of the missing
// sensors: "NAME: WHY" each, separated by "; ".
func PartialText(missing []selection.Missing) string {
	parts := make([]string, len(missing))
	for i, m := range missing {
		parts[i] = oneLine(m.Sensor + ": " + m.Error)
	}
	return strings.Join(parts, "; ")
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
	case *aliveSink:
		s.mu.Lock()
		defer s.mu.Unlock()
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
	sl   *selection.Selection
}

func (j *jsonSink) write(rec store.Record) error {
	p := selection.NewPacketJSON(rec, j.sum.Summary(rec.LinkType, rec.Data, rec.OrigLen), j.sl.InterfaceName(rec))
	p.Sensor = j.sl.Sensor(rec)
	if j.data {
		p.Data = hex.EncodeToString(rec.Data)
	}
	return j.enc.Encode(p)
}

func (j *jsonSink) end(n int64, truncated bool, err error) error {
	e := selection.End{Packets: n, Truncated: truncated, Missing: j.sl.Missing(), Expired: j.sl.Expired()}
	if err != nil {
		e.Error = oneLine(err.Error())
	}
	if err := j.enc.Encode(map[string]selection.End{"end": e}); err != nil {
		return err
	}
	return j.bw.Flush()
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

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

// ValidInterface reports whether name may select an interface: a name
// the kernel could give one (no '/', '\\' or NUL, not "." or "..", at
// most 64 bytes), or a hub's SENSOR/IFACE, each part such a name.
func ValidInterface(name string) bool {
	if sensor, iface, hub := strings.Cut(name, "/"); hub {
		return validNamePart(sensor) && validNamePart(iface)
	}
	return validNamePart(name)
}

func validNamePart(s string) bool {
	return s != "" && s != "." && s != ".." && len(s) <= 64 && !strings.ContainsAny(s, "/\\\x00")
}

// aliveSink is a JSON stream that writes a keepalive line
// ({"keepalive":true}) whenever it has written nothing for the interval
// its client asked for (selection.HeaderKeepalive): a hub reading a
// sensor's sparse answer over a long window tells a walk that finds
// little from a sensor that stopped answering.
type aliveSink struct {
	*jsonSink
	rc   *http.ResponseController
	mu   sync.Mutex // the stream's writes, the walk's and the keepalives'
	last time.Time
	done bool
}

func (a *aliveSink) write(rec store.Record) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.last = time.Now()
	return a.jsonSink.write(rec)
}

func (a *aliveSink) end(n int64, truncated bool, err error) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.done = true
	return a.jsonSink.end(n, truncated, err)
}

// run writes the keepalives until stop.
func (a *aliveSink) run(every time.Duration) (stop func()) {
	quit := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(every / 4)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
			}
			a.mu.Lock()
			if !a.done && time.Since(a.last) >= every {
				a.last = time.Now()
				_, err := a.bw.WriteString(keepaliveLine)
				if err == nil {
					err = a.bw.Flush()
				}
				if err == nil {
					err = a.rc.Flush()
				}
				if err != nil {
					a.done = true // the client went away: the walk finds out
				}
			}
			a.mu.Unlock()
		}
	}()
	return func() {
		close(quit)
		<-finished
	}
}

const keepaliveLine = `{"keepalive":true}` + "\n"
