package selection

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/flow"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

// FlowOptions say how ListFlows lists a selection's flows. The zero value
// lists them all, earliest first, with a table of DefaultFlowTableSize.
type FlowOptions struct {
	// Sort is the order: "start" (or ""), earliest first; "packets",
	// "bytes" or "duration", largest first. Ties go to the earlier start.
	Sort string
	// Limit is the most flows returned (0: all); FlowsEnd.Flows counts
	// them all.
	Limit int64
	// TableSize is the most flows held at once (0: DefaultFlowTableSize);
	// beyond it the least recently active is listed early and may be
	// listed again. A daemon uses its own.
	TableSize int
}

// DefaultFlowTableSize is the flow table's size when FlowOptions leave it 0.
const DefaultFlowTableSize = 1 << 20

// FlowSorts are the orders FlowOptions.Sort may name.
var FlowSorts = []string{"start", "packets", "bytes", "duration"}

// ErrFlowSort is the error of an order FlowOptions.Sort cannot name.
var ErrFlowSort = errors.New("not an order: use start, packets, bytes or duration")

// Opener opens a spec's selection: Open, or a daemon's Store.Select with
// a request's rules applied.
type Opener func(ctx context.Context, spec Spec) (*Selection, error)

// FlowList is the answer of ListFlows: the flows in order, cut at the
// limit, and the summary that ends a listing.
type FlowList struct {
	Flows []Flow
	End   FlowsEnd
	// BytesRead are the captured bytes of End.PacketsRead (not sent: a
	// local listing's cost, which the UI's audit line reports).
	BytesRead uint64
}

// ListFlows lists the flows of spec's selection, opened with open (nil:
// Open); a spec naming a daemon (Server) asks its GET /api/v1/flows.
//
// A flow is listed, counted over all its packets of the time window,
// when any of its packets matches the filter. Without a filter the
// selection is walked once; with one, twice: first with the filter for
// the packets that match, then without it (the forced filter, window,
// interface and Community ID still apply) to count the flows whole and
// keep those that hold a matching packet.
func ListFlows(ctx context.Context, spec Spec, opts FlowOptions, open Opener) (FlowList, error) {
	var out FlowList
	if opts.Limit < 0 {
		return out, fmt.Errorf("invalid limit %d: must be 0 (all) or more", opts.Limit)
	}
	order, err := flowOrder(opts.Sort)
	if err != nil {
		return out, err
	}
	if opts.TableSize < 0 {
		return out, fmt.Errorf("invalid flow table size %d: must be 1 or more", opts.TableSize)
	}
	if opts.TableSize == 0 {
		opts.TableSize = DefaultFlowTableSize
	}
	var want flow.CommunityID
	if spec.CommunityID != "" {
		if want, err = flow.ParseCommunityID(spec.CommunityID); err != nil {
			return out, &FilterError{Err: fmt.Errorf("community id %q: %w", spec.CommunityID, err)}
		}
	}
	if spec.Server.Server != "" {
		if spec.DatabaseSet || spec.File != "" || spec.Sessions != "" {
			// A contradiction: Open words it.
			sl, err := Open(ctx, spec)
			if err != nil {
				return out, err
			}
			sl.Close()
			return out, errors.New("--server selects a daemon's store: -d, -s and -r select elsewhere")
		}
		return remoteFlows(ctx, spec, opts)
	}
	if open == nil {
		open = Open
	}
	var matches map[matchID]bool
	if spec.Filter != "" {
		if spec.File == "-" {
			return out, errors.New("flows with a filter reads the capture twice: give a file, not standard input")
		}
		if matches, err = matchingPackets(ctx, spec, open); err != nil {
			return out, err
		}
	}
	all := spec
	all.Filter = ""
	sl, err := open(ctx, all)
	if err != nil {
		return out, err
	}
	defer sl.Close()

	end := &out.End
	kept := make([]flow.Flow, 0, 64)
	cuts, err := sl.flowCuts()
	if err != nil {
		return out, err
	}
	keep := func(f *flow.Flow) {
		if !want.IsZero() && f.CommunityID != want {
			return
		}
		if matches != nil && !f.Marked {
			return
		}
		addCuts(f, cuts)
		end.Flows++
		end.Packets += f.TotalPackets()
		end.Bytes += f.TotalBytes()
		kept = append(kept, *f)
		// Only the first Limit flows of the order are returned: keep a
		// bounded number, sorting and cutting as they come.
		if opts.Limit > 0 && int64(len(kept)) >= 2*opts.Limit+1024 {
			slices.SortFunc(kept, func(x, y flow.Flow) int { return order(&x, &y) })
			kept = kept[:opts.Limit]
		}
	}
	table, err := flow.NewTable(flow.Config{Size: opts.TableSize, IdleTimeout: -1, Linger: -1, Seed: spec.CommunityIDSeed, Emit: keep})
	if err != nil {
		return out, err
	}
	var p flow.Packet
	err = sl.Walk(ctx, 0, func(rec store.Record) error {
		end.PacketsRead++
		out.BytesRead += uint64(len(rec.Data))
		if !flow.Extract(rec.LinkType, rec.Data, &p) {
			end.OtherPackets++
			return nil
		}
		f, d := table.AddDir(rec.Timestamp, &p, rec.OrigLen)
		f.StoredPackets[d]++
		f.StoredBytes[d] += uint64(len(rec.Data))
		if matches[matchID{rec.Timestamp, p.Key}] {
			f.Marked = true // a packet the filter selects: the flow is listed
		}
		return nil
	})
	if err != nil {
		return out, err
	}
	table.Flush()
	end.Evicted = table.Stats().Evicted
	slices.SortFunc(kept, func(x, y flow.Flow) int { return order(&x, &y) })
	if opts.Limit > 0 && int64(len(kept)) > opts.Limit {
		kept = kept[:opts.Limit]
	}
	end.Shown = int64(len(kept))
	out.Flows = make([]Flow, len(kept))
	for i := range kept {
		out.Flows[i] = NewFlow(&kept[i])
	}
	return out, nil
}

// flowCuts are the flows a recorder's cutoff recorded (store.FlowCut) in
// the selection's sessions or segments, by Community ID: none for a file
// or what was written without a cutoff.
func (sl *Selection) flowCuts() (map[string][]store.FlowCut, error) {
	// A flow's row is written again as it grows, in each segment it
	// reaches: the one that counted the most packets is the latest.
	type id struct {
		iface int
		cid   string
		first int64
	}
	latest := map[id]store.FlowCut{}
	add := func(cs []store.FlowCut) {
		for _, c := range cs {
			k := id{c.Interface, c.CommunityID, c.FirstNS}
			if o, ok := latest[k]; !ok || c.Packets[0]+c.Packets[1] > o.Packets[0]+o.Packets[1] {
				latest[k] = c
			}
		}
	}
	switch {
	case sl.db != nil:
		for _, s := range sl.db.sessions {
			cs, err := sl.db.db.FlowCuts(s.ID)
			if err != nil {
				return nil, fmt.Errorf("session %d: cut flows: %w", s.ID, err)
			}
			add(cs)
		}
	case sl.st != nil:
		// A store's segments each record the cut flows that ended while
		// they were open.
		for _, rc := range sl.st.recordings {
			for _, seg := range rc.segs {
				err := sl.st.inSegment(rc, seg, func(db *store.DB, session int64) error {
					cs, err := db.FlowCuts(session)
					add(cs)
					return err
				})
				if err != nil {
					return nil, fmt.Errorf("cut flows: %w", err)
				}
			}
		}
	}
	if len(latest) == 0 {
		return nil, nil
	}
	out := map[string][]store.FlowCut{}
	for _, c := range latest {
		out[c.CommunityID] = append(out[c.CommunityID], c)
	}
	return out, nil
}

// addCuts marks f cut when a recorder cut a flow of its key that began
// within f's span, and adds to f's seen counts the packets the cutoff did
// not store (keep: none) and their wire bytes.
func addCuts(f *flow.Flow, cuts map[string][]store.FlowCut) {
	if cuts == nil {
		return
	}
	for _, c := range cuts[f.CommunityID.String()] {
		if c.FirstNS < f.FirstNS || c.FirstNS > f.LastNS {
			continue
		}
		f.Cut = true
		// The recorder's initiator is the listing's unless the first
		// packets were cut: then the directions are swapped.
		i, j := 0, 1
		if c.Src != f.Key.Src.String() || c.SrcPort != f.Key.SrcPort {
			i, j = 1, 0
		}
		f.Packets[0] += c.Packets[i] - min(c.Packets[i], c.StoredPackets[i])
		f.Packets[1] += c.Packets[j] - min(c.Packets[j], c.StoredPackets[j])
		f.Bytes[0] += c.UnstoredBytes[i]
		f.Bytes[1] += c.UnstoredBytes[j]
		f.LastNS = max(f.LastNS, c.LastNS)
	}
}

// hasPorts tells whether f's key has ports (ICMP: type and code): TCP,
// UDP and SCTP flows do unless seen only as later fragments, which carry
// none (both ports 0 then).
func (f *Flow) hasPorts() bool {
	switch f.IPProto {
	case flow.ProtoICMP, flow.ProtoICMPv6:
		return true
	case flow.ProtoTCP, flow.ProtoUDP, flow.ProtoSCTP:
		return f.Sport != 0 || f.Dport != 0
	}
	return false
}

// Endpoints are f's initiator and responder as addr:port ([v6]:port), or
// the addresses alone when its key has no ports. ICMP's "ports" are the
// first message's type and code: FlagLetters shows them.
func (f *Flow) Endpoints() (src, dst string) {
	ports := f.hasPorts() && f.IPProto != flow.ProtoICMP && f.IPProto != flow.ProtoICMPv6
	endpoint := func(addr string, port uint16) string {
		a, err := netip.ParseAddr(addr)
		if !ports || err != nil {
			return addr
		}
		return netip.AddrPortFrom(a, port).String()
	}
	return endpoint(f.Src, f.Sport), endpoint(f.Dst, f.Dport)
}

// FlagLetters are the TCP flags seen as tcpdump names them (S F R P U E
// W, "." for ACK; "none" when none); for ICMP the first message's type
// and code; "-" for other protocols.
func (f *Flow) FlagLetters() string {
	switch {
	case f.IPProto == flow.ProtoICMP || f.IPProto == flow.ProtoICMPv6:
		return fmt.Sprintf("type %d code %d", f.Sport, f.Dport)
	case f.IPProto != flow.ProtoTCP:
		return "-"
	}
	var b []byte
	for _, x := range []struct {
		bit    uint8
		letter byte
	}{{flow.SYN, 'S'}, {flow.FIN, 'F'}, {flow.RST, 'R'}, {flow.PSH, 'P'}, {flow.URG, 'U'}, {flow.ECE, 'E'}, {flow.CWR, 'W'}, {flow.ACK, '.'}} {
		if f.TCPFlags&x.bit != 0 {
			b = append(b, x.letter)
		}
	}
	if len(b) == 0 {
		return "none"
	}
	return string(b)
}

// flowOrder orders flows for FlowOptions.Sort; ties go to the earlier
// start, then to the lower 5-tuple, so that an order is total.
func flowOrder(sortBy string) (func(a, b *flow.Flow) int, error) {
	start := func(a, b *flow.Flow) int {
		return cmp.Or(cmp.Compare(a.FirstNS, b.FirstNS), cmp.Compare(a.LastNS, b.LastNS),
			a.Key.Src.Compare(b.Key.Src), cmp.Compare(a.Key.SrcPort, b.Key.SrcPort),
			a.Key.Dst.Compare(b.Key.Dst), cmp.Compare(a.Key.DstPort, b.Key.DstPort), cmp.Compare(a.Key.Proto, b.Key.Proto))
	}
	switch sortBy {
	case "start", "":
		return start, nil
	case "packets":
		return func(a, b *flow.Flow) int { return cmp.Or(cmp.Compare(b.TotalPackets(), a.TotalPackets()), start(a, b)) }, nil
	case "bytes":
		return func(a, b *flow.Flow) int { return cmp.Or(cmp.Compare(b.TotalBytes(), a.TotalBytes()), start(a, b)) }, nil
	case "duration":
		return func(a, b *flow.Flow) int {
			return cmp.Or(cmp.Compare(b.LastNS-b.FirstNS, a.LastNS-a.FirstNS), start(a, b))
		}, nil
	}
	return nil, fmt.Errorf("invalid sort %q: %w", sortBy, ErrFlowSort)
}

// matchID names a packet: its time and its own key (before fragments
// are joined to their flows).
type matchID struct {
	ts  int64
	key flow.Key
}

// matchingPackets walks spec's selection with its filter and returns the
// packets that match.
func matchingPackets(ctx context.Context, spec Spec, open Opener) (map[matchID]bool, error) {
	sl, err := open(ctx, spec)
	if err != nil {
		return nil, err
	}
	defer sl.Close()
	m := map[matchID]bool{}
	var p flow.Packet
	err = sl.Walk(ctx, 0, func(rec store.Record) error {
		if flow.Extract(rec.LinkType, rec.Data, &p) {
			m[matchID{rec.Timestamp, p.Key}] = true
		}
		return nil
	})
	return m, err
}

// FlowsQuery is the query of GET /api/v1/flows for spec and opts: the
// packets endpoint's selection parameters, sort and limit.
func FlowsQuery(spec Spec, opts FlowOptions) url.Values {
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
	// Times are read on the client, in its time zone, and sent exact.
	if r := spec.Range; r.HasSince {
		q.Set("since", time.Unix(0, r.Since).UTC().Format(time.RFC3339Nano))
	}
	if r := spec.Range; r.HasUntil {
		q.Set("until", time.Unix(0, r.Until).UTC().Format(time.RFC3339Nano))
	}
	if opts.Sort != "" {
		q.Set("sort", opts.Sort)
	}
	q.Set("limit", strconv.FormatInt(opts.Limit, 10))
	return q
}

// remoteFlows asks spec's daemon for the flows (GET /api/v1/flows): the
// daemon selects, counts and sorts.
func remoteFlows(ctx context.Context, spec Spec, opts FlowOptions) (FlowList, error) {
	var out FlowList
	c, err := Dial(spec.Server)
	if err != nil {
		return out, err
	}
	resp, err := c.Do(ctx, "GET", "/api/v1/flows", FlowsQuery(spec, opts), nil)
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	host := c.Host()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if bytes.HasPrefix(line, []byte(`{"end"`)) {
			var end map[string]FlowsEnd
			if err := json.Unmarshal(line, &end); err != nil {
				return out, fmt.Errorf("%s: bad answer: %w", host, err)
			}
			out.End = end["end"]
			if out.End.Shown != int64(len(out.Flows)) {
				return out, fmt.Errorf("%s: bad answer: %d flows sent, the end says %d", host, len(out.Flows), out.End.Shown)
			}
			return out, nil
		}
		var f Flow
		if err := json.Unmarshal(line, &f); err != nil {
			return out, fmt.Errorf("%s: bad answer: %w", host, err)
		}
		out.Flows = append(out.Flows, f)
	}
	if err := sc.Err(); err != nil {
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		return out, fmt.Errorf("%s: %w", host, err)
	}
	return out, fmt.Errorf("%s: the answer ended early (no end line)", host)
}
