package hub

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/packetrecorderd/packetrecorderd/internal/archive"
	"github.com/packetrecorderd/packetrecorderd/internal/index"
	"github.com/packetrecorderd/packetrecorderd/internal/selection"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

func parsePostgres(dsn string) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("invalid connection string: %w", err)
	}
	return cfg, nil
}

// querier is what the planner asks PostgreSQL through (a pool, a
// connection).
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// Sensor is a sensor as prd_sensors lists it.
type Sensor struct {
	Name       string
	URL        string
	Interfaces []string
	// ThroughNS is the sensor's shipped-through mark: every flow record
	// and segment summary it queued before this time is in PostgreSQL
	// (0: none known).
	ThroughNS int64
}

// behind says the window of spec, ending at until (or now), reaches past
// what the sensor has shipped: its mark less FlowLag (a flow's first
// record is queued within a second or two of its first packet).
func (s Sensor) behind(r store.Range, now time.Time) bool {
	end := now.UnixNano()
	if r.HasUntil {
		end = min(end, r.Until)
	}
	return s.ThroughNS == 0 || end > s.ThroughNS-int64(FlowLag)
}

// Choice is one sensor to ask, for one interface ("" for all).
type Choice struct {
	Sensor    Sensor
	Interface string
}

// Plan is the planner's answer: the sensors that can hold matching
// packets, and what retention deleted of the window.
type Plan struct {
	Choices []Choice
	Expired []selection.Expired
	// Narrowed says the segments' summaries narrowed the sensors (the
	// filter's plan narrows: it named addresses, ports or protocols).
	Narrowed bool
	// Behind are the sensors asked because the window passes their
	// shipped-through mark; Gapped those asked because their outbox
	// dropped records of the window (prd_gaps).
	Behind []string
	Gapped []string
	// Sensors are every sensor prd_sensors lists.
	Sensors []Sensor
}

// FlowLag is how long after capture a sensor's flow records may still be
// on their way to PostgreSQL (an active flow's first record is shipped
// within a second or two): a window that reaches into it asks every
// sensor still recording, whatever its flow records say.
const FlowLag = 10 * time.Second

// planSensors asks PostgreSQL which sensors can hold packets of spec:
// those with a segment overlapping the window that retention has not
// deleted, of the interface asked for, and that may hold a match: a
// closed segment whose summary (prd_segments.summary, the sensor's own
// catalog summary) says no for the plan of the request's filter with the
// forced filter ANDed on (selection.SpecPlan, as the sensor's store
// selection plans, matched as it matches: archive.SegmentSummary) is left
// out; an open segment, or one without a summary, is a candidate whenever
// it overlaps the window. A Community ID alone narrows nothing (a summary
// holds no Community IDs), whatever its seed. Nor do the flow records,
// even for a window every sensor has shipped: a packet selection keeps
// each packet whose own 5-tuple hashes to the ID, while a non-first IP
// fragment (its own ID has no ports) is counted in its first fragment's
// flow, so no record may carry that ID; records PostgreSQL refused for
// their data (SQL state class 22) are dropped with no gap to say so.
// So every sensor the other rules choose is asked, and the sensor's own
// selection applies the ID. A
// sensor whose shipped-through mark (less FlowLag) the window passes is
// asked whatever PostgreSQL lists of it (its outbox is behind), and so
// is one whose outbox dropped records of the window (prd_gaps): its
// segment rows may be among them. It never leaves out a sensor whose
// packets can match: what the summaries describe is what the sensor's
// own selection reads by.
func planSensors(ctx context.Context, db querier, spec selection.Spec, now time.Time) (Plan, error) {
	var out Plan
	sensors, err := listSensors(ctx, db)
	if err != nil {
		return out, err
	}
	out.Sensors = sensors
	wantSensor, wantIface := splitInterface(spec.Interface)
	since, until := rangeOf(spec.Range)
	plan := selection.SpecPlan(spec)
	narrows := index.Narrows(plan)
	out.Narrowed = narrows
	rows, err := db.Query(ctx, `SELECT sensor, interface, closed, deleted_at IS NOT NULL, first_ns, last_ns,
			CASE WHEN $3 AND closed AND deleted_at IS NULL THEN summary END, coalesce(summary_pairs, false)
		FROM prd_segments
		WHERE ($1::bigint IS NULL OR last_ns >= $1) AND ($2::bigint IS NULL OR first_ns <= $2)
		ORDER BY 1, 2`, since, until, narrows)
	if err != nil {
		return out, fmt.Errorf("postgres: segments: %w", err)
	}
	type key struct{ sensor, iface string }
	hold := map[key]bool{}
	for rows.Next() {
		var k key
		var closed, deleted, pairs bool
		var first, last int64
		var sum []byte
		if err := rows.Scan(&k.sensor, &k.iface, &closed, &deleted, &first, &last, &sum, &pairs); err != nil {
			rows.Close()
			return out, fmt.Errorf("postgres: segments: %w", err)
		}
		if wantSensor != "" && k.sensor != wantSensor || wantIface != "" && k.iface != wantIface {
			continue
		}
		switch {
		case deleted:
			out.Expired = append(out.Expired, selection.Expired{Sensor: k.sensor, Interface: k.iface, FirstNS: first, LastNS: last, Segments: 1})
		case hold[k]:
		default:
			hold[k] = segmentMayHold(closed, sum, pairs, plan)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("postgres: segments: %w", err)
	}
	out.Expired = mergeExpired(out.Expired)
	gapped, err := sensorsGapped(ctx, db, spec.Range)
	if err != nil {
		return out, err
	}

	for _, s := range sensors {
		if s.behind(spec.Range, now) || gapped[s.Name] {
			// Its outbox is behind the window, or dropped records of
			// it: PostgreSQL's rows of it cannot say what it holds.
			if wantSensor != "" && s.Name != wantSensor || wantIface != "" && !slices.Contains(s.Interfaces, wantIface) {
				continue
			}
			out.Choices = append(out.Choices, Choice{Sensor: s, Interface: wantIface})
			if s.behind(spec.Range, now) {
				out.Behind = append(out.Behind, s.Name)
			} else {
				out.Gapped = append(out.Gapped, s.Name)
			}
			continue
		}
		var ifaces []string
		for k, ok := range hold {
			if k.sensor == s.Name && ok {
				ifaces = append(ifaces, k.iface)
			}
		}
		if len(ifaces) == 0 {
			continue
		}
		ch := Choice{Sensor: s}
		if wantIface != "" {
			ch.Interface = wantIface
		} else if len(ifaces) == 1 && len(s.Interfaces) > 1 {
			ch.Interface = ifaces[0] // only that interface can hold a match
		}
		out.Choices = append(out.Choices, ch)
	}
	return out, nil
}

// segmentMayHold says whether a live segment of the window can hold a
// packet of plan: open, or without a usable summary, it can; closed with
// one, its summary says (archive.SegmentSummary.Match, as the sensor's
// store selection decides whether to open it).
func segmentMayHold(closed bool, sum []byte, pairs bool, plan index.Expr) bool {
	if !closed || sum == nil || !index.Narrows(plan) {
		return true
	}
	sk := index.Sketch(sum)
	if sk.Check() != nil {
		return true
	}
	return archive.SegmentSummary{Sketch: sk, Pairs: pairs}.Match(plan)
}

// sensorsGapped are the sensors whose outbox dropped records (prd_gaps)
// of packets in the window r, with what was dropped.
func sensorsGapped(ctx context.Context, db querier, r store.Range) (map[string]bool, error) {
	gaps, err := listGaps(ctx, db, r)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, g := range gaps {
		out[g.Sensor] = true
	}
	return out, nil
}

// Gap is a span of a sensor's records its full outbox dropped
// (prd_gaps).
type Gap struct {
	Sensor          string
	FromNS, UntilNS int64
	Records         int64
}

// listGaps is prd_gaps overlapping the window r, by sensor.
func listGaps(ctx context.Context, db querier, r store.Range) ([]Gap, error) {
	since, until := rangeOf(r)
	rows, err := db.Query(ctx, `SELECT sensor, min(from_ns), max(until_ns), sum(records)::bigint FROM prd_gaps
		WHERE ($1::bigint IS NULL OR until_ns >= $1) AND ($2::bigint IS NULL OR from_ns <= $2)
		GROUP BY 1 ORDER BY 1`, since, until)
	if err != nil {
		return nil, fmt.Errorf("postgres: gaps: %w", err)
	}
	defer rows.Close()
	var out []Gap
	for rows.Next() {
		var g Gap
		if err := rows.Scan(&g.Sensor, &g.FromNS, &g.UntilNS, &g.Records); err != nil {
			return nil, fmt.Errorf("postgres: gaps: %w", err)
		}
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: gaps: %w", err)
	}
	return out, nil
}

// splitInterface reads a hub's interface name: SENSOR/IFACE names one
// sensor's, IFACE that interface of every sensor.
func splitInterface(name string) (sensor, iface string) {
	if s, i, ok := strings.Cut(name, "/"); ok {
		return s, i
	}
	return "", name
}

// mergeExpired folds each sensor interface's expired segments into one
// span.
func mergeExpired(in []selection.Expired) []selection.Expired {
	var out []selection.Expired
	for _, e := range in {
		i := slices.IndexFunc(out, func(o selection.Expired) bool { return o.Sensor == e.Sensor && o.Interface == e.Interface })
		if i < 0 {
			out = append(out, e)
			continue
		}
		o := &out[i]
		o.FirstNS, o.LastNS, o.Segments = min(o.FirstNS, e.FirstNS), max(o.LastNS, e.LastNS), o.Segments+e.Segments
	}
	return out
}

// listSensors is prd_sensors, by name.
func listSensors(ctx context.Context, db querier) ([]Sensor, error) {
	rows, err := db.Query(ctx, `SELECT sensor, url, interfaces, coalesce(flows_through_ns, 0) FROM prd_sensors ORDER BY sensor`)
	if err != nil {
		return nil, fmt.Errorf("postgres: sensors: %w", err)
	}
	defer rows.Close()
	var out []Sensor
	for rows.Next() {
		var s Sensor
		if err := rows.Scan(&s.Name, &s.URL, &s.Interfaces, &s.ThroughNS); err != nil {
			return nil, fmt.Errorf("postgres: sensors: %w", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: sensors: %w", err)
	}
	return out, nil
}

// sqlOfPlan is a condition over a prd_flows row that is true when the
// flow's terms (its two addresses, its protocol, and for TCP, UDP and
// SCTP its two ports) satisfy the plan: a flow whose packets can match.
// Terms prd_flows does not record (VLAN ids, what the index cannot
// describe) are true. Values go into args, as $N.
func sqlOfPlan(e index.Expr, args []any) (string, []any) {
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	var walk func(e index.Expr) string
	walk = func(e index.Expr) string {
		switch e.Op {
		case index.OpNone:
			return "false"
		case index.OpTerm:
			t := e.Term
			switch t.Kind {
			case index.KindAddr:
				a := arg(netip.PrefixFrom(t.Addr, t.Addr.BitLen()).String())
				return "(src = " + a + "::inet OR dst = " + a + "::inet)"
			case index.KindPort:
				p, n := arg(int(t.Proto)), arg(int(t.Port))
				return "(proto = " + p + " AND (sport = " + n + " OR dport = " + n + "))"
			case index.KindProto:
				return "(proto = " + arg(int(t.Proto)) + ")"
			}
			return "true"
		case index.OpPrefix:
			a := arg(e.Prefix.Masked().String())
			return "(src <<= " + a + "::cidr OR dst <<= " + a + "::cidr)"
		case index.OpPortRange:
			p, lo, hi := arg(int(e.Term.Proto)), arg(int(e.Term.Port)), arg(int(e.PortHi))
			return "(proto = " + p + " AND (sport BETWEEN " + lo + " AND " + hi + " OR dport BETWEEN " + lo + " AND " + hi + "))"
		case index.OpAnd, index.OpOr:
			op := " AND "
			if e.Op == index.OpOr {
				op = " OR "
			}
			parts := make([]string, len(e.Args))
			for i, a := range e.Args {
				parts[i] = walk(a)
			}
			return "(" + strings.Join(parts, op) + ")"
		}
		return "true"
	}
	s := walk(e)
	return s, args
}

// rangeOf is a store range's bounds as nullable parameters.
func rangeOf(r store.Range) (since, until *int64) {
	if r.HasSince {
		since = &r.Since
	}
	if r.HasUntil {
		until = &r.Until
	}
	return since, until
}
