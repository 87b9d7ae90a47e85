package hub

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/jackc/pgx/v5"

	"github.com/packetrecorderd/packetrecorderd/internal/filter"
	"github.com/packetrecorderd/packetrecorderd/internal/flow"
	"github.com/packetrecorderd/packetrecorderd/internal/index"
	"github.com/packetrecorderd/packetrecorderd/internal/selection"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

// flowWords are the words of a filter the flow records can answer
// exactly: addresses, networks, ports and protocols, either way or by
// direction, combined with and, or, not.
var flowWords = map[string]bool{"host": true, "net": true, "mask": true, "port": true, "portrange": true, "src": true,
	"dst": true, "tcp": true, "udp": true, "sctp": true, "icmp": true, "icmp6": true, "ip": true, "ip6": true,
	"proto": true, "and": true, "or": true, "not": true}

// errFlowFilter is the error of a filter the flow records cannot answer.
var errFlowFilter = errors.New("the hub lists flows from their records, which answer host, net, port, portrange and protocol terms")

// checkFlowFilter refuses a filter with a term the flow records cannot
// answer (len, tcp flags, payload bytes, vlan, ether, ...): a flow's
// answer would be a guess.
func checkFlowFilter(expr string) error {
	fields := strings.FieldsFunc(expr, func(r rune) bool {
		return unicode.IsSpace(r) || r == '(' || r == ')' || r == '!' || r == '&' || r == '|'
	})
	for i, w := range fields {
		lw := strings.ToLower(w)
		switch {
		case flowWords[lw]:
		case strings.ContainsAny(w, "[]<>="):
			return fmt.Errorf("%w: %q reads bytes of the packets (ask GET /api/v1/packets)", errFlowFilter, w)
		case w[0] >= '0' && w[0] <= '9', strings.Contains(w, ":"), strings.HasPrefix(w, "\\"):
			// a number, an address, a prefix, an escaped protocol name
		case i > 0 && (strings.EqualFold(fields[i-1], "host") || strings.EqualFold(fields[i-1], "port") ||
			strings.EqualFold(fields[i-1], "portrange") || strings.EqualFold(fields[i-1], "proto")):
			// a host, service or protocol name
		default:
			return fmt.Errorf("%w: not %q", errFlowFilter, w)
		}
	}
	return nil
}

// flowRow is one prd_flows row.
type flowRow struct {
	sensor, iface, cid        string
	proto                     int16
	src, dst                  netip.Addr
	sport, dport              int32
	first, last               int64
	pktFwd, pktRev            int64
	bytesFwd, bytesRev        int64
	tcpFlags                  int16
	storedPackets, storedByte int64
}

// ListFlows lists the flow records of the sensors in spec's window from
// PostgreSQL (api.FlowLister): a flow is listed when a packet of it, in
// either direction it was seen, matches the filter (the forced one ANDed
// on); each flow with its sensor and interface, sorted and cut at the
// limit. The counts are the records' (all of the flow's packets, not
// only those in the window). A Community ID of seed 0 (the records') is
// looked up by the key's index; of another seed, every row of the window
// that the filter's terms let through is read, streamed, and hashed with
// that seed (rowID): the window bounds the work, as it bounds the other
// listings.
func (h *Hub) ListFlows(ctx context.Context, spec selection.Spec, opts selection.FlowOptions) (selection.FlowList, error) {
	var out selection.FlowList
	expr, err := filter.And(spec.ForcedFilter, spec.Filter)
	if err != nil {
		return out, &selection.FilterError{Err: err}
	}
	var prog *filter.Program
	plan := index.All
	if expr != "" {
		for _, e := range []struct {
			expr   string
			forced bool
		}{{spec.Filter, false}, {spec.ForcedFilter, true}} {
			if e.expr == "" {
				continue
			}
			if err := checkFlowFilter(e.expr); err != nil {
				return out, &selection.FilterError{Forced: e.forced, Err: err}
			}
		}
		p, pl, err := filter.CompilePlan(ctx, expr, filter.Options{LinkType: 1, Netmask: filter.ZeroNetmask})
		if err != nil && !errors.Is(err, filter.ErrRejectsAll) {
			return out, &selection.FilterError{Err: err}
		}
		if err != nil {
			return emptyFlows(), nil
		}
		prog, plan = p, pl
	}
	// A Community ID of another seed than the records' (0) is not in
	// PostgreSQL: each row of the window (and of the filter's terms) is
	// hashed with that seed as it is read, and kept when it gives the ID.
	var seeded flow.CommunityID
	if spec.CommunityID != "" && spec.CommunityIDSeed != 0 {
		cid, err := flow.ParseCommunityID(spec.CommunityID)
		if err != nil {
			return out, &selection.FilterError{Err: fmt.Errorf("community id: %w", err)}
		}
		seeded = cid
	}
	sql, args := flowsQuery(spec, plan)
	// With a limit, the flows kept are bounded by it, not by the table:
	// every matching row counts in the totals, and the kept ones are
	// sorted and cut whenever they reach twice the limit. The sort is
	// stable, so this keeps exactly the first flows a sort of all would.
	var flows []selection.Flow
	var total int64
	keep := func(f *flowRow) {
		fl := selection.Flow{CommunityID: f.cid, Proto: flow.ProtoName(uint8(f.proto)), IPProto: uint8(f.proto),
			Src: f.src.String(), Sport: uint16(f.sport), Dst: f.dst.String(), Dport: uint16(f.dport),
			FirstNS: f.first, LastNS: f.last, Packets: uint64(f.pktFwd + f.pktRev), Bytes: uint64(f.bytesFwd + f.bytesRev),
			SrcPackets: uint64(f.pktFwd), SrcBytes: uint64(f.bytesFwd), DstPackets: uint64(f.pktRev), DstBytes: uint64(f.bytesRev),
			TCPFlags: uint8(f.tcpFlags), Sensor: f.sensor, Interface: f.iface}
		total++
		out.End.Packets += fl.Packets
		out.End.Bytes += fl.Bytes
		flows = append(flows, fl)
		if opts.Limit > 0 && int64(len(flows)) >= 2*opts.Limit {
			sortFlows(flows, opts.Sort)
			flows = flows[:opts.Limit]
		}
	}
	var sensors []Sensor
	var gaps []Gap
	err = h.db.with(ctx, func(c *pgx.Conn) error {
		// Again from the start if the pool retries on a fresh connection.
		flows, total, out.End.Packets, out.End.Bytes = flows[:0], 0, 0, 0
		var err error
		if sensors, err = listSensors(ctx, c); err != nil {
			return err
		}
		if gaps, err = listGaps(ctx, c, spec.Range); err != nil {
			return err
		}
		rs, err := c.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		defer rs.Close()
		for rs.Next() {
			var f flowRow
			if err := rs.Scan(&f.sensor, &f.iface, &f.cid, &f.proto, &f.src, &f.dst, &f.sport, &f.dport, &f.first, &f.last,
				&f.pktFwd, &f.pktRev, &f.bytesFwd, &f.bytesRev, &f.tcpFlags, &f.storedPackets, &f.storedByte); err != nil {
				return err
			}
			if !seeded.IsZero() && rowID(&f, spec.CommunityIDSeed) != seeded {
				continue
			}
			if prog == nil || flowMatches(prog, &f) {
				keep(&f)
			}
		}
		return rs.Err()
	})
	if err != nil {
		if ctx.Err() == nil && unreachable(err) {
			return out, &UnavailableError{Err: fmt.Errorf("the hub lists flows from it: %w", err)}
		}
		return out, fmt.Errorf("postgres: flows: %w", err)
	}
	h.remember(sensors)
	out.End.Missing = flowsGapped(flowsBehind(sensors, spec, time.Now()), sensors, gaps, spec)
	sortFlows(flows, opts.Sort)
	out.End.Flows = total
	if opts.Limit > 0 && int64(len(flows)) > opts.Limit {
		flows = flows[:opts.Limit]
	}
	out.End.Shown = int64(len(flows))
	out.End.PacketsRead = out.End.Packets
	out.Flows = flows
	if out.Flows == nil {
		out.Flows = []selection.Flow{}
	}
	return out, nil
}

// flowsQuery is the SELECT of spec's flow records whose terms can
// satisfy plan: in the window (a flow that began before it and ended in
// it or later included), of the Community ID and interface asked for,
// from the day partitions up to the window's end's only.
func flowsQuery(spec selection.Spec, plan index.Expr) (string, []any) {
	since, until := rangeOf(spec.Range)
	cond, args := sqlOfPlan(plan, []any{since, until})
	sql := `SELECT sensor, interface, community_id, proto, src, dst, sport, dport, first_ns, last_ns,
		packets_fwd, packets_rev, bytes_fwd, bytes_rev, tcp_flags, stored_packets, stored_bytes
		FROM prd_flows
		WHERE ($1::bigint IS NULL OR last_ns >= $1) AND ($2::bigint IS NULL OR first_ns <= $2) AND (` + cond + `)`
	sql, args = dayBound(sql, args, spec.Range)
	if spec.CommunityID != "" && spec.CommunityIDSeed == 0 {
		args = append(args, spec.CommunityID)
		sql += fmt.Sprintf(" AND community_id = $%d", len(args))
	}
	if ws, wi := splitInterface(spec.Interface); wi != "" {
		args = append(args, wi)
		sql += fmt.Sprintf(" AND interface = $%d", len(args))
		if ws != "" {
			args = append(args, ws)
			sql += fmt.Sprintf(" AND sensor = $%d", len(args))
		}
	}
	return sql, args
}

// dayBound adds the partition key's bound to a prd_flows query: a flow
// in a window began by its end, so its day (first_ns's UTC day) is the
// end's or earlier, and PostgreSQL reads only those day partitions. No
// bound below: a flow has no longest life (a connection open for days
// keeps its first day), so the window's start says nothing of its day.
func dayBound(sql string, args []any, r store.Range) (string, []any) {
	if !r.HasUntil {
		return sql, args
	}
	t := time.Unix(0, r.Until).UTC()
	args = append(args, time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC))
	return sql + fmt.Sprintf(" AND day <= $%d::date", len(args)), args
}

// flowsBehind are the sensors (of the interface asked for) whose
// shipped-through mark is more than FlowLag before the window's end:
// their flow records of the window may not all be in PostgreSQL.
func flowsBehind(ss []Sensor, spec selection.Spec, now time.Time) []selection.Missing {
	end := now.UnixNano()
	if spec.Range.HasUntil {
		end = min(end, spec.Range.Until)
	}
	ws, wi := splitInterface(spec.Interface)
	var out []selection.Missing
	for _, s := range ss {
		if ws != "" && s.Name != ws || wi != "" && !slices.Contains(s.Interfaces, wi) {
			continue
		}
		if end <= s.ThroughNS+int64(FlowLag) {
			continue
		}
		why := "its flow records are not known to be shipped (it never marked them)"
		if s.ThroughNS > 0 {
			why = "its flow records are shipped only through " + time.Unix(0, s.ThroughNS).UTC().Format(time.RFC3339) + " (its outbox is behind)"
		}
		out = append(out, selection.Missing{Sensor: s.Name, Error: why})
	}
	return out
}

// flowsGapped adds to missing the sensors (of the interface asked for)
// whose full outbox dropped records of the window (prd_gaps): PostgreSQL
// lacks some of their flow records there, whatever their mark says.
func flowsGapped(missing []selection.Missing, ss []Sensor, gaps []Gap, spec selection.Spec) []selection.Missing {
	ws, wi := splitInterface(spec.Interface)
	for _, g := range gaps {
		i := slices.IndexFunc(ss, func(s Sensor) bool { return s.Name == g.Sensor })
		if i >= 0 && (ws != "" && g.Sensor != ws || wi != "" && !slices.Contains(ss[i].Interfaces, wi)) {
			continue
		}
		if ws != "" && g.Sensor != ws || slices.ContainsFunc(missing, func(m selection.Missing) bool { return m.Sensor == g.Sensor }) {
			continue
		}
		missing = append(missing, selection.Missing{Sensor: g.Sensor, Error: fmt.Sprintf("its fleet outbox was full: %d flow records and segment summaries of %s to %s were dropped",
			g.Records, time.Unix(0, g.FromNS).UTC().Format(time.RFC3339), time.Unix(0, g.UntilNS).UTC().Format(time.RFC3339))})
	}
	return missing
}

func emptyFlows() selection.FlowList { return selection.FlowList{Flows: []selection.Flow{}} }

// sortFlows orders flows as a daemon's listing does: by start, or the
// largest packets, bytes or duration first; ties by start, sensor.
func sortFlows(fs []selection.Flow, by string) {
	key := func(f *selection.Flow) int64 {
		switch by {
		case "packets":
			return -int64(f.Packets)
		case "bytes":
			return -int64(f.Bytes)
		case "duration":
			return -(f.LastNS - f.FirstNS)
		}
		return f.FirstNS
	}
	slices.SortStableFunc(fs, func(a, b selection.Flow) int {
		if ka, kb := key(&a), key(&b); ka != kb {
			if ka < kb {
				return -1
			}
			return 1
		}
		if a.FirstNS != b.FirstNS {
			if a.FirstNS < b.FirstNS {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Sensor, b.Sensor)
	})
}

// rowID is the Community ID, with seed, of a row's flow: its 5-tuple
// hashed as the sensor's flow table hashed it for the row's own ID (seed
// 0), so that the two agree. A TCP, UDP, SCTP, ICMP or ICMPv6 row holds
// ports 0 both when its packets had none to read (a header cut short, a
// fragment without its first) and when they were 0: its stored ID says
// which. A row whose stored ID neither gives (not written by a sensor)
// is hashed with the ports its protocol has.
func rowID(f *flowRow, seed uint16) flow.CommunityID {
	k := flow.Key{Src: f.src, Dst: f.dst, Proto: uint8(f.proto), SrcPort: uint16(f.sport), DstPort: uint16(f.dport)}
	switch k.Proto {
	case flow.ProtoTCP, flow.ProtoUDP, flow.ProtoSCTP, flow.ProtoICMP, flow.ProtoICMPv6:
		k.HasPorts = true
	}
	if k.HasPorts && k.SrcPort == 0 && k.DstPort == 0 && k.ID(0).String() != f.cid {
		portless := k
		portless.HasPorts = false
		if portless.ID(0).String() == f.cid {
			k = portless
		}
	}
	return k.ID(seed)
}

// flowMatches runs the filter over a packet of each direction the flow
// was seen in, made of its addresses, protocol and ports: the flow
// matches when one of them does. Exact for the terms checkFlowFilter
// lets through.
func flowMatches(p *filter.Program, f *flowRow) bool {
	if f.pktFwd > 0 || f.pktRev == 0 {
		if pkt := synthPacket(f.src, f.dst, uint8(f.proto), uint16(f.sport), uint16(f.dport)); p.Match(pkt, len(pkt)) {
			return true
		}
	}
	if f.pktRev > 0 {
		if pkt := synthPacket(f.dst, f.src, uint8(f.proto), uint16(f.dport), uint16(f.sport)); p.Match(pkt, len(pkt)) {
			return true
		}
	}
	return false
}

// synthPacket is an Ethernet frame from src to dst of the protocol, with
// the ports (ICMP: type and code) in a transport header.
func synthPacket(src, dst netip.Addr, proto uint8, sport, dport uint16) []byte {
	src, dst = src.Unmap(), dst.Unmap()
	b := make([]byte, 14, 14+40+20)
	b[0], b[6] = 0x02, 0x02
	var l4 []byte
	switch proto {
	case 6:
		l4 = make([]byte, 20)
		l4[12] = 5 << 4
	case 17:
		l4 = make([]byte, 8)
		binary.BigEndian.PutUint16(l4[4:], 8)
	case 132:
		l4 = make([]byte, 12)
	case 1, 58:
		l4 = make([]byte, 8)
		l4[0], l4[1] = byte(sport), byte(dport)
	default:
		l4 = make([]byte, 8)
	}
	if proto == 6 || proto == 17 || proto == 132 {
		binary.BigEndian.PutUint16(l4[0:], sport)
		binary.BigEndian.PutUint16(l4[2:], dport)
	}
	if src.Is4() {
		binary.BigEndian.PutUint16(b[12:], 0x0800)
		ip := make([]byte, 20)
		ip[0] = 0x45
		binary.BigEndian.PutUint16(ip[2:], uint16(20+len(l4)))
		ip[8], ip[9] = 64, proto
		s4, d4 := src.As4(), dst.As4()
		copy(ip[12:], s4[:])
		copy(ip[16:], d4[:])
		b = append(append(b, ip...), l4...)
		return b
	}
	binary.BigEndian.PutUint16(b[12:], 0x86dd)
	ip := make([]byte, 40)
	ip[0] = 0x60
	binary.BigEndian.PutUint16(ip[4:], uint16(len(l4)))
	ip[6], ip[7] = proto, 64
	s16, d16 := src.As16(), dst.As16()
	copy(ip[8:], s16[:])
	copy(ip[24:], d16[:])
	return append(append(b, ip...), l4...)
}
