package fleet

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// oldSchema is prd_flows as the fleet made it before its key was led by
// community_id, with a day partition and its indexes.
const oldSchema = `CREATE TABLE prd_flows (
  sensor text NOT NULL, interface text NOT NULL, day date NOT NULL, first_ns bigint NOT NULL, last_ns bigint NOT NULL,
  community_id text NOT NULL, proto smallint NOT NULL, src inet NOT NULL, sport integer NOT NULL, dst inet NOT NULL, dport integer NOT NULL,
  packets_fwd bigint NOT NULL, packets_rev bigint NOT NULL, bytes_fwd bigint NOT NULL, bytes_rev bigint NOT NULL,
  stored_packets bigint NOT NULL, stored_bytes bigint NOT NULL, tcp_flags smallint NOT NULL, cut boolean NOT NULL, ended boolean NOT NULL,
  PRIMARY KEY (sensor, interface, community_id, first_ns, day)
) PARTITION BY RANGE (day);
CREATE TABLE prd_flows_19700101 PARTITION OF prd_flows FOR VALUES FROM ('1970-01-01') TO ('1970-01-02');
CREATE INDEX prd_flows_19700101_community_id ON prd_flows_19700101 (community_id);
CREATE INDEX prd_flows_19700101_src ON prd_flows_19700101 (src);
CREATE INDEX prd_flows_19700101_dst ON prd_flows_19700101 (dst);
CREATE INDEX prd_flows_19700101_first_ns ON prd_flows_19700101 (first_ns);
INSERT INTO prd_flows VALUES ('old', 'eth0', '1970-01-01', 7, 12, '1:7', 17, '10.0.0.1', 7, '10.0.0.2', 53, 5, 0, 0, 0, 0, 0, 0, false, false);`

// A database made with the old key is migrated when a sensor connects:
// the key led by community_id, the partitions' community_id indexes
// gone, the rows kept and upserted as before; and connecting again
// changes nothing.
func TestSchemaMigratesFlowKey(t *testing.T) {
	dsn := testkit.StartPostgres(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, oldSchema); err != nil {
		t.Fatal(err)
	}
	s, err := NewSensor(Config{Sensor: "old", Postgres: dsn, URL: "http://o:1"}, t.TempDir(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		sc, err := s.connect(ctx)
		if err != nil {
			t.Fatalf("connect %d: %v", i, err)
		}
		final := testFlow(7)
		final.Interface, final.Packets = "eth0", [2]uint64{9, 0}
		if err := s.shipBatch(ctx, sc, []record{{kind: kindFlow, flow: final}}, map[time.Time]bool{}); err != nil {
			t.Fatalf("ship %d: %v", i, err)
		}
		sc.Close(ctx)
	}
	var key string
	if err := conn.QueryRow(ctx, `SELECT string_agg(a.attname, ',' ORDER BY k.ord) FROM pg_constraint c
		CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord)
		JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
		WHERE c.conrelid = 'prd_flows_19700101'::regclass AND c.contype = 'p'`).Scan(&key); err != nil {
		t.Fatal(err)
	}
	if want := "community_id,sensor,interface,first_ns,day"; key != want {
		t.Errorf("the partition's key is (%s), want (%s)", key, want)
	}
	var idx []string
	rows, err := conn.Query(ctx, `SELECT indexname FROM pg_indexes WHERE tablename = 'prd_flows_19700101' ORDER BY indexname`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		rows.Scan(&n)
		idx = append(idx, n)
	}
	if want := "prd_flows_19700101_dst,prd_flows_19700101_first_ns_brin,prd_flows_19700101_pkey,prd_flows_19700101_src"; strings.Join(idx, ",") != want {
		t.Errorf("the partition's indexes are %s, want %s", strings.Join(idx, ","), want)
	}
	var n, packets int64
	if err := conn.QueryRow(ctx, `SELECT count(*), max(packets_fwd) FROM prd_flows WHERE community_id = '1:7'`).Scan(&n, &packets); err != nil || n != 1 || packets != 9 {
		t.Errorf("rows of 1:7: %d, %d packets (%v); want the old row, upserted to 9 packets", n, packets, err)
	}
}

// The hub's queries of prd_flows (internal/hub: ListFlows, the planner's
// narrowing) each find their rows through an index of the day
// partitions: a Community ID through the primary key, an address or a
// network through the src and dst indexes, a time window through the
// BRIN index on first_ns. The conditions are theirs, as they send them.
func TestHubQueriesUseIndexes(t *testing.T) {
	dsn := testkit.StartPostgres(t)
	ctx := context.Background()
	s, err := NewSensor(Config{Sensor: "idx", Postgres: dsn, URL: "http://i:1"}, t.TempDir(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := s.connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// 100,000 flows of one day, 1 ms apart, from 10.1.x.y.
	day := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	if err := EnsurePartition(ctx, conn, day); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO prd_flows SELECT 'idx', 'eth0', '2026-12-07', $1::bigint + i::bigint * 1000000, $1::bigint + i::bigint * 1000000 + 500,
		'1:' || md5(i::text), 17, ('10.1.0.0'::inet + i), 1024 + i % 50000, '192.0.2.1'::inet + i % 200, 53, 1, 1, 74, 190, 2, 264, 0, false, true
		FROM generate_series(0, 99999) i`, day.UnixNano()); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `ANALYZE prd_flows`); err != nil {
		t.Fatal(err)
	}
	t0 := day.UnixNano()
	window := fmt.Sprintf("last_ns >= %d AND first_ns <= %d", t0+1000*1000000, t0+1010*1000000)
	for _, q := range []struct {
		where string
		index string // in the plan
	}{
		{"community_id = '1:" + "c4ca4238a0b923820dcc509a6f75849b" + "'", "prd_flows_20261207_pkey"},
		{"(src = '10.1.1.1/32'::inet OR dst = '10.1.1.1/32'::inet)", "prd_flows_20261207_dst"},
		{"(src = '10.1.1.1/32'::inet OR dst = '10.1.1.1/32'::inet)", "prd_flows_20261207_src"},
		{"(src <<= '10.1.2.0/24'::cidr OR dst <<= '10.1.2.0/24'::cidr)", "prd_flows_20261207_src"},
		{window, "prd_flows_20261207_first_ns_brin"},
		{window + " AND community_id = '1:c4ca4238a0b923820dcc509a6f75849b'", "prd_flows_20261207_pkey"},
	} {
		var plan []string
		rows, err := conn.Query(ctx, "EXPLAIN SELECT sensor, interface, community_id, proto, src, dst, sport, dport, first_ns, last_ns FROM prd_flows WHERE "+q.where)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var line string
			rows.Scan(&line)
			plan = append(plan, line)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if p := strings.Join(plan, "\n"); !strings.Contains(p, " on "+q.index) && !strings.Contains(p, " using "+q.index) {
			t.Errorf("WHERE %s: the plan uses no %s:\n%s", q.where, q.index, p)
		}
	}
}

// A shipping connection keeps a batch's staging table and the upsert's
// sort in memory (64MB each), unless the connection string sets them.
func TestShipConnectionMemory(t *testing.T) {
	dsn := testkit.StartPostgres(t)
	ctx := context.Background()
	for i, c := range []struct{ dsn, temp, work string }{
		{dsn, "64MB", "64MB"},
		{dsn + "&work_mem=16MB", "64MB", "16MB"},
	} {
		s, err := NewSensor(Config{Sensor: "mem", Postgres: c.dsn, URL: "http://m:1"}, t.TempDir(), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		conn, err := s.connect(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var temp, work string
		if err := conn.QueryRow(ctx, `SELECT current_setting('temp_buffers'), current_setting('work_mem')`).Scan(&temp, &work); err != nil {
			t.Fatal(err)
		}
		conn.Close(ctx)
		if temp != c.temp || work != c.work {
			t.Errorf("connection %d: temp_buffers %s, work_mem %s; want %s, %s", i, temp, work, c.temp, c.work)
		}
	}
}
