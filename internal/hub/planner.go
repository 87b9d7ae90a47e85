package hub

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/packetrecorderd/packetrecorderd/internal/filter"
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
	// Narrowed says prd_flows narrowed the sensors (the filter named
	// addresses, ports, protocols or a Community ID).
	Narrowed bool
	// Behind are the sensors asked because the window passes their
	// shipped-through mark.
	Behind []string
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
// deleted, of the interface asked for; when the filter's plan (or the
// Community ID) narrows, only those with a flow record that can hold a
// match (a flow not ended counts as lasting on), or with a segment still
// open when the window reaches within FlowLag of now (its flows may not
// have arrived). A sensor whose shipped-through mark (less FlowLag) the
// window passes is asked whatever PostgreSQL lists of it: its outbox is
// behind, its segments and flows of the window may not be there yet. It
// never leaves out a sensor that can hold a match of what prd_flows
// describes: a flow's addresses, ports and protocol.
func planSensors(ctx context.Context, db querier, spec selection.Spec, now time.Time) (Plan, error) {
	var out Plan
	sensors, err := listSensors(ctx, db)
	if err != nil {
		return out, err
	}
	out.Sensors = sensors
	wantSensor, wantIface := splitInterface(spec.Interface)
	since, until := rangeOf(spec.Range)
	rows, err := db.Query(ctx, `SELECT sensor, interface, closed, deleted_at IS NOT NULL, min(first_ns), max(last_ns), count(*)
		FROM prd_segments
		WHERE ($1::bigint IS NULL OR last_ns >= $1) AND ($2::bigint IS NULL OR first_ns <= $2)
		GROUP BY 1, 2, 3, 4 ORDER BY 1, 2`, since, until)
	if err != nil {
		return out, fmt.Errorf("postgres: segments: %w", err)
	}
	type key struct{ sensor, iface string }
	live := map[key]bool{}
	open := map[key]bool{}
	for rows.Next() {
		var k key
		var closed, deleted bool
		var first, last int64
		var n int
		if err := rows.Scan(&k.sensor, &k.iface, &closed, &deleted, &first, &last, &n); err != nil {
			rows.Close()
			return out, fmt.Errorf("postgres: segments: %w", err)
		}
		if wantSensor != "" && k.sensor != wantSensor || wantIface != "" && k.iface != wantIface {
			continue
		}
		switch {
		case deleted:
			out.Expired = append(out.Expired, selection.Expired{Sensor: k.sensor, Interface: k.iface, FirstNS: first, LastNS: last, Segments: n})
		default:
			live[k] = true
			if !closed && (!spec.Range.HasUntil || spec.Range.Until > now.Add(-FlowLag).UnixNano()) {
				open[k] = true
			}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("postgres: segments: %w", err)
	}
	out.Expired = mergeExpired(out.Expired)

	// Which (sensor, interface) pairs prd_flows says can hold a match.
	var flowsHold map[key]bool
	plan := index.All
	if spec.Filter != "" || spec.ForcedFilter != "" {
		expr := joinFilters(spec.Filter, spec.ForcedFilter)
		if p, err := filter.Plan(expr, filter.Options{LinkType: 1}); err == nil {
			plan = p
		}
	}
	if len(spec.Windows) > 0 {
		// A Stenographer query: the union of its windows' plans.
		var plans []index.Expr
		for _, w := range spec.Windows {
			p, err := filter.Plan(joinFilters(w.Filter, spec.ForcedFilter), filter.Options{LinkType: 1})
			if err != nil || w.Filter == "" && spec.ForcedFilter == "" {
				p = index.All
			}
			plans = append(plans, p)
		}
		plan = index.Or(plans...)
	}
	cid := ""
	if spec.CommunityID != "" && spec.CommunityIDSeed == 0 {
		cid = spec.CommunityID
	}
	if index.Narrows(plan) || cid != "" {
		out.Narrowed = true
		cond, args := sqlOfPlan(plan, []any{since, until})
		sql := `SELECT DISTINCT sensor, interface FROM prd_flows
			WHERE ($1::bigint IS NULL OR last_ns >= $1 OR NOT ended) AND ($2::bigint IS NULL OR first_ns <= $2) AND (` + cond + `)`
		sql, args = dayBound(sql, args, spec.Range)
		if cid != "" {
			args = append(args, cid)
			sql += fmt.Sprintf(" AND community_id = $%d", len(args))
		}
		rows, err := db.Query(ctx, sql, args...)
		if err != nil {
			return out, fmt.Errorf("postgres: flows: %w", err)
		}
		flowsHold = map[key]bool{}
		for rows.Next() {
			var k key
			if err := rows.Scan(&k.sensor, &k.iface); err != nil {
				rows.Close()
				return out, fmt.Errorf("postgres: flows: %w", err)
			}
			flowsHold[k] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return out, fmt.Errorf("postgres: flows: %w", err)
		}
	}

	for _, s := range sensors {
		if s.behind(spec.Range, now) {
			// Its outbox is behind the window: PostgreSQL's rows of it
			// cannot say what it holds.
			if wantSensor != "" && s.Name != wantSensor || wantIface != "" && !slices.Contains(s.Interfaces, wantIface) {
				continue
			}
			out.Choices = append(out.Choices, Choice{Sensor: s, Interface: wantIface})
			out.Behind = append(out.Behind, s.Name)
			continue
		}
		var ifaces []string
		for k := range live {
			if k.sensor != s.Name {
				continue
			}
			if flowsHold != nil && !flowsHold[k] && !open[k] {
				continue
			}
			ifaces = append(ifaces, k.iface)
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

// joinFilters is expr with the forced filter ANDed on, as the sensors
// are asked.
func joinFilters(expr, forced string) string {
	switch {
	case forced == "":
		return expr
	case expr == "":
		return "(" + forced + ")"
	}
	return "(" + forced + ") and (" + expr + ")"
}
