package hub

import (
	"context"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/packetrecorderd/packetrecorderd/internal/filter"
	"github.com/packetrecorderd/packetrecorderd/internal/index"
	"github.com/packetrecorderd/packetrecorderd/internal/selection"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// schemaConn connects to a fresh PostgreSQL with the fleet schema (the
// sensors' own file) and a partition for the test's day.
func schemaConn(t *testing.T) *pgx.Conn {
	t.Helper()
	dsn := testkit.StartPostgres(t)
	ctx := context.Background()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	schemaOn(t, c)
	return c
}

// schemaOn applies the fleet schema (the sensors' own file) and a
// partition for the test's day.
func schemaOn(t *testing.T, c *pgx.Conn) {
	t.Helper()
	ctx := context.Background()
	schema, err := os.ReadFile("../fleet/schema.sql")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, string(schema)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, `CREATE TABLE IF NOT EXISTS prd_flows_20261207 PARTITION OF prd_flows FOR VALUES FROM ('2026-12-07') TO ('2026-12-08')`); err != nil {
		t.Fatal(err)
	}
}

var day0 = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC).UnixNano()

func sec(n int64) int64 { return day0 + n*1e9 }

func insertFlow(t *testing.T, c *pgx.Conn, sensor, iface, cid string, proto int, src string, sport int, dst string, dport int, first, last int64) {
	t.Helper()
	_, err := c.Exec(context.Background(), `INSERT INTO prd_flows (sensor, interface, day, first_ns, last_ns, community_id, proto,
		src, sport, dst, dport, packets_fwd, packets_rev, bytes_fwd, bytes_rev, stored_packets, stored_bytes, tcp_flags, cut, ended)
		VALUES ($1, $2, '2026-12-07', $3, $4, $5, $6, $7, $8, $9, $10, 3, 2, 300, 200, 5, 500, 0, false, true)`,
		sensor, iface, first, last, cid, proto, src, sport, dst, dport)
	if err != nil {
		t.Fatal(err)
	}
}

// TestPlanSensorsRows: the planner over PostgreSQL rows. Sensors s1, s2,
// s3 each record eth0 (s3 also eth1) from second 0 to 100; s4's only
// segment was deleted by its retention; s5's segments end before the
// window. Flow records: s1 has 10.0.0.1 <-> 10.0.0.2 udp 53, s2 has
// 10.9.0.1 <-> 10.9.0.2 tcp 443, s3's eth0 segment is still open (no
// flows shipped yet), its eth1 closed with 10.0.0.1 tcp 22.
func TestPlanSensorsRows(t *testing.T) {
	c := schemaConn(t)
	ctx := context.Background()
	for _, s := range []struct {
		name   string
		ifaces []string
	}{{"s1", []string{"eth0"}}, {"s2", []string{"eth0"}}, {"s3", []string{"eth0", "eth1"}}, {"s4", []string{"eth0"}}, {"s5", []string{"eth0"}}} {
		if _, err := c.Exec(ctx, `INSERT INTO prd_sensors (sensor, url, interfaces) VALUES ($1, $2, $3)`,
			s.name, "http://"+s.name+".invalid:7474", s.ifaces); err != nil {
			t.Fatal(err)
		}
	}
	// Every sensor has shipped all it queued until long after the
	// windows (TestPlanSensorsBehind: one that has not).
	if _, err := c.Exec(ctx, `UPDATE prd_sensors SET flows_through_ns = $1`, sec(1e6)); err != nil {
		t.Fatal(err)
	}
	seg := func(sensor, iface, name string, first, last int64, closed, deleted bool, summary []byte) {
		t.Helper()
		q := `INSERT INTO prd_segments (sensor, interface, segment, first_ns, last_ns, packets, bytes, closed, deleted_at, summary, summary_pairs)
			VALUES ($1, $2, $3, $4, $5, 10, 1000, $6, CASE WHEN $7::boolean THEN now() END, $8, false)`
		if _, err := c.Exec(ctx, q, sensor, iface, name, first, last, closed, deleted, summary); err != nil {
			t.Fatal(err)
		}
	}
	// The closed segments' summaries hold the terms of their flows' packets.
	seg("s1", "eth0", "a", sec(0), sec(100), true, false, summaryOf(flowTerms(17, "10.0.0.1", 5353, "10.0.0.2", 53)...))
	seg("s2", "eth0", "a", sec(0), sec(100), true, false, summaryOf(flowTerms(6, "10.9.0.1", 40000, "10.9.0.2", 443)...))
	seg("s3", "eth0", "a", sec(0), sec(100), false, false, nil)
	seg("s3", "eth1", "b", sec(0), sec(100), true, false, summaryOf(flowTerms(6, "10.0.0.1", 40001, "10.0.0.3", 22)...))
	seg("s4", "eth0", "a", sec(0), sec(100), true, true, nil)
	seg("s5", "eth0", "a", sec(-200), sec(-100), true, false, nil)
	insertFlow(t, c, "s1", "eth0", "1:aaa", 17, "10.0.0.1", 5353, "10.0.0.2", 53, sec(10), sec(20))
	insertFlow(t, c, "s2", "eth0", "1:bbb", 6, "10.9.0.1", 40000, "10.9.0.2", 443, sec(10), sec(20))
	insertFlow(t, c, "s3", "eth1", "1:ccc", 6, "10.0.0.1", 40001, "10.0.0.3", 22, sec(10), sec(20))
	// s2's flow was still active at its last record.
	if _, err := c.Exec(ctx, `UPDATE prd_flows SET ended = false WHERE community_id = '1:bbb'`); err != nil {
		t.Fatal(err)
	}

	window := store.Range{Since: sec(0), Until: sec(50), HasSince: true, HasUntil: true}
	for _, tc := range []struct {
		name   string
		spec   selection.Spec
		want   []string // sensor or sensor:interface asked
		narrow bool
	}{
		{"window", selection.Spec{Range: window}, []string{"s1", "s2", "s3"}, false},
		{"host", selection.Spec{Range: window, Filter: "host 10.0.0.1"}, []string{"s1", "s3"}, true},
		{"host and port", selection.Spec{Range: window, Filter: "host 10.0.0.1 and udp port 53"}, []string{"s1", "s3:eth0"}, true},
		// An open segment is asked whenever it overlaps, however old.
		{"host and port, later", selection.Spec{Range: window, Filter: "host 10.0.0.1 and udp port 53"}, []string{"s1", "s3:eth0"}, true},
		{"host, later", selection.Spec{Range: window, Filter: "host 10.0.0.1"}, []string{"s1", "s3"}, true},
		{"later window", selection.Spec{Range: store.Range{Since: sec(60), Until: sec(70), HasSince: true, HasUntil: true},
			Filter: "host 10.9.0.2"}, []string{"s2", "s3:eth0"}, true},
		// A sketch cannot rule a /16 out: s3's eth1 (tcp) may hold it.
		{"forced", selection.Spec{Range: window, Filter: "tcp", ForcedFilter: "net 10.9.0.0/16"}, []string{"s2", "s3"}, true},
		{"forced host", selection.Spec{Range: window, Filter: "tcp", ForcedFilter: "host 10.9.0.1"}, []string{"s2", "s3:eth0"}, true},
		{"or", selection.Spec{Range: window, Filter: "port 443 or port 53"}, []string{"s1", "s2", "s3:eth0"}, true},
		{"not narrows nothing", selection.Spec{Range: window, Filter: "not host 10.0.0.1"}, []string{"s1", "s2", "s3"}, false},
		{"len narrows nothing", selection.Spec{Range: window, Filter: "len > 100"}, []string{"s1", "s2", "s3"}, false},
		// A summary holds no Community ID: every sensor of the window.
		{"community id", selection.Spec{Range: window, CommunityID: "1:bbb"}, []string{"s1", "s2", "s3"}, false},
		{"community id and host", selection.Spec{Range: window, CommunityID: "1:bbb", Filter: "host 10.9.0.2"}, []string{"s2", "s3:eth0"}, true},
		{"interface", selection.Spec{Range: window, Interface: "eth1"}, []string{"s3:eth1"}, false},
		{"sensor/interface", selection.Spec{Range: window, Interface: "s2/eth0"}, []string{"s2:eth0"}, false},
		{"before the window", selection.Spec{Range: store.Range{Until: sec(-150), HasUntil: true}}, []string{"s5"}, false},
		// A summary is the whole segment's: s1's may hold 10.0.0.2 in
		// the window, whatever its flow rows' times.
		{"flow outside the window", selection.Spec{Range: store.Range{Since: sec(30), Until: sec(50), HasSince: true, HasUntil: true},
			Filter: "host 10.0.0.2"}, []string{"s1", "s3:eth0"}, true},
		{"no summary holds it", selection.Spec{Range: window, Filter: "host 192.0.2.77"}, []string{"s3:eth0"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Unix(0, sec(55))
			// Asked an hour later, s3's open segment's flows have arrived.
			if strings.HasSuffix(tc.name, "later") || tc.name == "later window" {
				now = now.Add(time.Hour)
			}
			p, err := planSensors(ctx, c, tc.spec, now)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, ch := range p.Choices {
				s := ch.Sensor.Name
				if ch.Interface != "" {
					s += ":" + ch.Interface
				}
				got = append(got, s)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("asked %v, want %v", got, tc.want)
			}
			if p.Narrowed != tc.narrow {
				t.Fatalf("narrowed %v, want %v", p.Narrowed, tc.narrow)
			}
			// s4's deleted segment overlaps every window from second 0.
			hasS4 := slices.ContainsFunc(p.Expired, func(e selection.Expired) bool { return e.Sensor == "s4" })
			if want := tc.spec.Interface == "" && (!tc.spec.Range.HasUntil || tc.spec.Range.Until >= sec(0)); hasS4 != want {
				t.Fatalf("expired %+v: s4 listed %v, want %v", p.Expired, hasS4, want)
			}
		})
	}
}

// TestSQLOfPlanIsSound: for flows whose terms satisfy the plan (Eval),
// the SQL condition is true too (checked by PostgreSQL over the rows).
func TestSQLOfPlanIsSound(t *testing.T) {
	c := schemaConn(t)
	ctx := context.Background()
	flows := []struct {
		proto int
		src   string
		sport int
		dst   string
		dport int
	}{
		{17, "10.0.0.1", 5353, "10.0.0.2", 53}, {6, "10.9.0.1", 40000, "10.9.0.2", 443}, {1, "192.168.1.1", 8, "192.168.1.2", 0},
		{6, "2001:db8::1", 1234, "2001:db8::2", 80}, {132, "10.1.1.1", 2905, "10.1.1.2", 2905},
	}
	for i, f := range flows {
		insertFlow(t, c, "s", "eth0", strings.Repeat("x", i+1), f.proto, f.src, f.sport, f.dst, f.dport, sec(int64(i)), sec(int64(i)+1))
	}
	for _, expr := range []string{"host 10.0.0.1", "udp port 53", "tcp", "net 10.0.0.0/8", "portrange 1-1000", "ip6 and tcp port 80",
		"icmp", "sctp port 2905", "host 10.0.0.1 or port 443", "tcp and not port 80", "net 2001:db8::/32", "src host 10.9.0.2",
		"host 10.0.0.1 and host 10.9.0.1", "udp portrange 50-60"} {
		p, err := filter.Plan(expr, filter.Options{LinkType: 1})
		if err != nil {
			t.Fatal(err)
		}
		cond, args := sqlOfPlan(p, nil)
		rows, err := c.Query(ctx, "SELECT community_id FROM prd_flows WHERE "+cond, args...)
		if err != nil {
			t.Fatalf("%s: %s: %v", expr, cond, err)
		}
		got := map[string]bool{}
		for rows.Next() {
			var id string
			rows.Scan(&id)
			got[id] = true
		}
		rows.Close()
		for i, f := range flows {
			// The terms a packet of the flow carries: its addresses, its
			// protocol, and for TCP, UDP and SCTP its ports.
			ts := terms{index.AddrTerm(mustAddr(f.src)), index.AddrTerm(mustAddr(f.dst)), index.ProtoTerm(uint8(f.proto))}
			if f.proto == 6 || f.proto == 17 || f.proto == 132 {
				ts = append(ts, index.PortTerm(uint8(f.proto), uint16(f.sport)), index.PortTerm(uint8(f.proto), uint16(f.dport)))
			}
			if p.Eval(ts) && !got[strings.Repeat("x", i+1)] {
				t.Errorf("%s: flow %v can hold a match, the SQL (%s) leaves it out", expr, f, cond)
			}
		}
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

// terms is an exact index.TermSet.
type terms []index.Term

func (ts terms) Has(t index.Term) bool { return slices.Contains(ts, t) }
func (ts terms) HasPrefix(p netip.Prefix) bool {
	return slices.ContainsFunc(ts, func(t index.Term) bool { return t.Kind == index.KindAddr && p.Contains(t.Addr) })
}
func (ts terms) HasPortRange(proto uint8, lo, hi uint16) bool {
	return slices.ContainsFunc(ts, func(t index.Term) bool {
		return t.Kind == index.KindPort && t.Proto == proto && t.Port >= lo && t.Port <= hi
	})
}

// TestPlanSensorsBehind: a sensor whose outbox is behind (its
// shipped-through mark, less FlowLag, before the window's end) is asked
// though PostgreSQL has no flow of it that matches, nor a segment in the
// window; one never marked is asked too; one caught up is left out.
func TestPlanSensorsBehind(t *testing.T) {
	c := schemaConn(t)
	ctx := context.Background()
	for _, s := range []struct {
		name    string
		through any
	}{{"caught-up", sec(2000)}, {"behind", sec(30)}, {"unmarked", nil}} {
		if _, err := c.Exec(ctx, `INSERT INTO prd_sensors (sensor, url, interfaces, flows_through_ns) VALUES ($1, $2, '{eth0}', $3)`,
			s.name, "http://"+s.name+".invalid:7474", s.through); err != nil {
			t.Fatal(err)
		}
		// Each has shipped a segment up to second 25 whose summary does
		// not hold 10.0.0.1.
		if _, err := c.Exec(ctx, `INSERT INTO prd_segments (sensor, interface, segment, first_ns, last_ns, packets, bytes, closed, summary, summary_pairs)
			VALUES ($1, 'eth0', 'a', $2, $3, 10, 1000, true, $4, false)`, s.name, sec(0), sec(25), summaryOf(flowTerms(17, "192.0.2.1", 1, "192.0.2.2", 2)...)); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Unix(0, sec(2000))
	for _, tc := range []struct {
		name  string
		r     store.Range
		iface string
		want  []string
	}{
		// behind's mark less FlowLag is second 20: a window to 50 passes it.
		{"past the mark", store.Range{Since: sec(0), Until: sec(50), HasSince: true, HasUntil: true}, "", []string{"behind", "unmarked"}},
		{"within the mark", store.Range{Since: sec(0), Until: sec(15), HasSince: true, HasUntil: true}, "", []string{"unmarked"}},
		{"after the segments", store.Range{Since: sec(40), Until: sec(1500), HasSince: true, HasUntil: true}, "", []string{"behind", "unmarked"}},
		{"another interface", store.Range{Since: sec(40), Until: sec(1500), HasSince: true, HasUntil: true}, "eth1", nil},
		// A window to now passes every mark: whatever was queued in the
		// last FlowLag may be on its way.
		{"to now", store.Range{Since: sec(40), HasSince: true}, "", []string{"behind", "caught-up", "unmarked"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := planSensors(ctx, c, selection.Spec{Range: tc.r, Filter: "host 10.0.0.1", Interface: tc.iface}, now)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, ch := range p.Choices {
				got = append(got, ch.Sensor.Name)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("asked %v, want %v", got, tc.want)
			}
		})
	}
}

// TestFlowsQueryPrunesDays: PostgreSQL's plan of a flow listing reads
// only the day partitions up to the window's end's (EXPLAIN names the
// partitions it scans), and the rows are the same as without the bound.
func TestFlowsQueryPrunesDays(t *testing.T) {
	c := schemaConn(t)
	ctx := context.Background()
	for _, d := range []string{"20261208", "20261209"} {
		day := d[:4] + "-" + d[4:6] + "-" + d[6:]
		if _, err := c.Exec(ctx, `CREATE TABLE prd_flows_`+d+` PARTITION OF prd_flows FOR VALUES FROM ('`+day+`') TO ('`+day+`'::date + 1)`); err != nil {
			t.Fatal(err)
		}
	}
	insertFlow(t, c, "s1", "eth0", "1:aaa", 17, "10.0.0.1", 5353, "10.0.0.2", 53, sec(10), sec(20))
	nextDay := day0 + int64(24*time.Hour)
	for _, tc := range []struct {
		name    string
		r       store.Range
		scanned []string
	}{
		{"the first day", store.Range{Since: sec(0), Until: sec(50), HasSince: true, HasUntil: true}, []string{"prd_flows_20261207"}},
		{"into the next", store.Range{Since: sec(0), Until: nextDay, HasSince: true, HasUntil: true}, []string{"prd_flows_20261207", "prd_flows_20261208"}},
		{"no end", store.Range{Since: sec(0), HasSince: true}, []string{"prd_flows_20261207", "prd_flows_20261208", "prd_flows_20261209"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sql, args := flowsQuery(selection.Spec{Range: tc.r}, index.All)
			rows, err := c.Query(ctx, "EXPLAIN "+sql, args...)
			if err != nil {
				t.Fatal(err)
			}
			var plan strings.Builder
			for rows.Next() {
				var line string
				rows.Scan(&line)
				plan.WriteString(line + "\n")
			}
			rows.Close()
			for _, p := range []string{"prd_flows_20261207", "prd_flows_20261208", "prd_flows_20261209"} {
				if want := slices.Contains(tc.scanned, p); strings.Contains(plan.String(), p) != want {
					t.Errorf("plan scans %s: %v, want %v\n%s", p, !want, want, plan.String())
				}
			}
			var n int
			rows, err = c.Query(ctx, sql, args...)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				n++
			}
			rows.Close()
			if n != 1 {
				t.Errorf("%d rows, want the one flow", n)
			}
		})
	}
}

// flowTerms are the block index's terms of a flow's packets: its two
// addresses, its protocol and its two ports.
func flowTerms(proto uint8, src string, sport uint16, dst string, dport uint16) []index.Term {
	return []index.Term{{Kind: index.KindAddr, Addr: netip.MustParseAddr(src)}, {Kind: index.KindAddr, Addr: netip.MustParseAddr(dst)},
		{Kind: index.KindProto, Proto: proto}, {Kind: index.KindPort, Proto: proto, Port: sport}, {Kind: index.KindPort, Proto: proto, Port: dport}}
}

// summaryOf is a segment summary (as a sensor's catalog holds it) of one
// block of the terms.
func summaryOf(ts ...index.Term) []byte {
	var b index.Builder
	for _, t := range ts {
		b.Add(t)
	}
	var s index.Summary
	s.AddBlock(&b)
	return s.Sketch(nil)
}
