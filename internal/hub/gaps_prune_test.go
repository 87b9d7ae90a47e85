package hub

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/packetrecorderd/packetrecorderd/internal/fleet"
	"github.com/packetrecorderd/packetrecorderd/internal/selection"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// TestPruneGaps: drop gaps (prd_gaps) against a real PostgreSQL are
// deleted only when neither a flow listing nor a packet query can need
// them (fleet.PruneGaps). Sensor g has a gap on each of December 5, 6
// and 7, flows partitions for the three days, segments deleted on the
// 5th and 6th and one live on the 7th (and an empty open one).
//
// While every partition stands nothing goes, and the hub's listing of
// the 5th's window names g missing. Once the 5th's partition is dropped
// the 5th's gap goes (with a DEFAULT partition, nothing); the listing of
// that window no longer names g, the 6th's still does. With the 6th's
// partition dropped too, its gap stays while no segment beginning after
// it is deleted (g's retention has not passed it), then while a segment
// of its time is live (a hold keeps it); it goes once that segment is
// deleted. The shipper of sensor h prunes h's gaps by itself. The 7th's gap, whose
// partition stands, and sensor h's gaps, stay throughout.
func TestPruneGaps(t *testing.T) {
	pg := testkit.StartPostgresCluster(t)
	ctx := context.Background()
	c, err := pgx.Connect(ctx, pg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	schemaOn(t, c) // and the 7th's partition
	at := func(day, hour, min int) int64 {
		return time.Date(2026, 12, day, hour, min, 0, 0, time.UTC).UnixNano()
	}
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := c.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	for _, d := range []int{5, 6} {
		if err := fleet.EnsurePartition(ctx, c, time.Date(2026, 12, d, 0, 0, 0, 0, time.UTC)); err != nil {
			t.Fatal(err)
		}
	}
	exec(`INSERT INTO prd_sensors (sensor, url, interfaces, flows_through_ns) VALUES ('g', 'http://g.invalid', '{eth0}', $1), ('h', 'http://h.invalid', '{eth0}', $1)`,
		time.Now().UnixNano())
	for _, s := range []string{"g", "h"} {
		for _, d := range []int{5, 6, 7} {
			exec(`INSERT INTO prd_gaps (sensor, from_ns, until_ns, records) VALUES ($1, $2, $3, 5)`, s, at(d, 10, 0), at(d, 10, 1))
		}
	}
	segment := func(sensor, name string, first, last int64, packets int, deleted bool) {
		t.Helper()
		var del any
		if deleted {
			del = time.Now()
		}
		exec(`INSERT INTO prd_segments (sensor, interface, segment, first_ns, last_ns, packets, bytes, closed, deleted_at)
			VALUES ($1, 'eth0', $2, $3, $4, $5, 1000, $6, $7)
			ON CONFLICT (sensor, segment) DO UPDATE SET deleted_at = excluded.deleted_at`, sensor, name, first, last, packets, packets > 0, del)
	}
	segment("g", "d5", at(5, 9, 0), at(5, 12, 0), 10, true)
	segment("g", "d6", at(6, 9, 0), at(6, 12, 0), 10, true)
	segment("g", "l7", at(7, 9, 0), at(7, 12, 0), 10, false)
	segment("g", "open", 0, 0, 0, false) // opened ahead, empty: it holds no packets
	// h's retention deleted everything; its gaps are not g's to prune.
	segment("h", "d7", at(7, 11, 0), at(7, 12, 0), 10, true)

	gaps := func(sensor string) []int {
		t.Helper()
		rows, err := c.Query(ctx, `SELECT extract(day FROM to_timestamp(until_ns / 1e9) AT TIME ZONE 'UTC')::int FROM prd_gaps WHERE sensor = $1 ORDER BY 1`, sensor)
		if err != nil {
			t.Fatal(err)
		}
		days, err := pgx.CollectRows(rows, pgx.RowTo[int])
		if err != nil {
			t.Fatal(err)
		}
		return days
	}
	prune := func(what string, want []int) {
		t.Helper()
		before := len(gaps("g"))
		n, err := fleet.PruneGaps(ctx, c, "g")
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if got := gaps("g"); !slices.Equal(got, want) || int(n) != before-len(want) {
			t.Fatalf("%s: g's gaps are of days %v (%d deleted), want %v", what, got, n, want)
		}
	}
	h, err := New(Options{Config: &Config{Postgres: pg.DSN}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	namesG := func(day int) bool {
		t.Helper()
		l, err := h.ListFlows(ctx, selection.Spec{Interface: "g/eth0",
			Range: store.Range{Since: at(day, 9, 0), Until: at(day, 11, 0), HasSince: true, HasUntil: true}}, selection.FlowOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return slices.ContainsFunc(l.End.Missing, func(m selection.Missing) bool { return m.Sensor == "g" })
	}

	prune("every partition standing", []int{5, 6, 7})
	if !namesG(5) {
		t.Fatal("a listing of the 5th's window does not name g, whose gap it overlaps")
	}
	exec(`DROP TABLE prd_flows_20261205`)
	exec(`CREATE TABLE prd_flows_default PARTITION OF prd_flows DEFAULT`)
	prune("a DEFAULT partition", []int{5, 6, 7})
	exec(`DROP TABLE prd_flows_default`)
	prune("the 5th's partition dropped", []int{6, 7})
	if namesG(5) || !namesG(6) {
		t.Fatalf("after the 5th's gap went: the 5th's listing names g %v (want false), the 6th's %v (want true)", namesG(5), namesG(6))
	}
	exec(`DROP TABLE prd_flows_20261206`)
	prune("no segment after the 6th's gap deleted", []int{6, 7})
	segment("g", "held6", at(6, 8, 0), at(6, 9, 0), 10, false)
	segment("g", "d7", at(7, 13, 0), at(7, 14, 0), 10, true)
	prune("a held segment of the 6th live", []int{6, 7})
	segment("g", "held6", at(6, 8, 0), at(6, 9, 0), 10, true)
	prune("the held segment deleted", []int{7})
	if got := gaps("h"); !slices.Equal(got, []int{5, 6, 7}) {
		t.Fatalf("h's gaps are of days %v: pruning g's touched them", got)
	}

	// The shipper prunes its sensor's gaps by itself, once it has
	// shipped what it queued: h's 5th and 6th go (its 7th's partition
	// stands).
	startShipper(t, "h", pg.DSN, "http://h.invalid")
	for deadline := time.Now().Add(30 * time.Second); !slices.Equal(gaps("h"), []int{7}); {
		if time.Now().After(deadline) {
			t.Fatalf("h's gaps are of days %v after 30 s of its shipper, want [7]", gaps("h"))
		}
		time.Sleep(200 * time.Millisecond)
	}
}
