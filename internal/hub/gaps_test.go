package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/packetrecorderd/packetrecorderd/internal/fleet"
	"github.com/packetrecorderd/packetrecorderd/internal/selection"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// TestHubFlowsDropGap: sensor g's outbox (4 KiB) is flooded with flow
// records faster than it can take them: it drops some, counted. Once it
// has room, the gap (the drops' span of packet times and their count)
// reaches PostgreSQL (prd_gaps), and the hub's flow listing of a window
// that overlaps it names g missing, though g's shipped-through mark has
// moved past the drops; a window after it does not, nor is sensor ok,
// whose outbox took everything, ever named. Before the gaps were
// recorded, the listing was silently short of g's dropped records.
func TestHubFlowsDropGap(t *testing.T) {
	pg := testkit.StartPostgresCluster(t)
	ctx := context.Background()
	newSensor := func(name string, max int64) *fleet.Sensor {
		s, err := fleet.NewSensor(fleet.Config{Sensor: name, Postgres: pg.DSN, URL: "http://127.0.0.1:9", OutboxMax: max}, t.TempDir(), []string{"eth0"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); s.Run(cctx) }()
		t.Cleanup(func() { cancel(); <-done })
		return s
	}
	g := newSensor("g", 4096)
	ok := newSensor("ok", 0)
	// The flows are ten minutes old: from t0 to t0 + 1 s.
	t0 := time.Now().Add(-10 * time.Minute).Truncate(time.Second)
	dropped := 0
	for i := range 3000 {
		ts := t0.UnixNano() + int64(i)*int64(time.Millisecond)/3
		src := fmt.Sprintf("10.1.%d.%d", i/250, i%250+1)
		if !g.Flow(udpFlow(src, "10.2.0.1", ts, ts)) {
			dropped++
		}
		ok.Flow(udpFlow(src, "10.3.0.1", ts, ts))
	}
	if dropped == 0 || g.Stats().Dropped != uint64(dropped) {
		t.Fatalf("g dropped %d records, its stats say %d: the 4 KiB outbox should have refused some", dropped, g.Stats().Dropped)
	}
	conn, err := pgx.Connect(ctx, pg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// The gap arrives, whole, and g's mark moves on past it.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var recs, from, until, through int64
		err := conn.QueryRow(ctx, `SELECT coalesce(sum(records), 0)::bigint, coalesce(min(from_ns), 0), coalesce(max(until_ns), 0),
			(SELECT coalesce(flows_through_ns, 0) FROM prd_sensors WHERE sensor = 'g') FROM prd_gaps WHERE sensor = 'g'`).Scan(&recs, &from, &until, &through)
		if err == nil && recs == int64(dropped) && through > time.Now().Add(-2*time.Second).UnixNano() && g.Stats().OutboxRecords == 0 {
			if from < t0.UnixNano() || until > t0.Add(time.Second).UnixNano() || from > until {
				t.Fatalf("gap %d..%d: not within the flows' times %d..%d", from, until, t0.UnixNano(), t0.Add(time.Second).UnixNano())
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("prd_gaps holds %d of g's %d dropped records; g's mark %d (%v)", recs, dropped, through, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	_, hub := startTestHub(t, pg.DSN)
	listing := func(since, until time.Time) (int, map[string]string) {
		t.Helper()
		resp, body := hubGet(t, hub, "/api/v1/flows", url.Values{"since": {since.UTC().Format(time.RFC3339Nano)},
			"until": {until.UTC().Format(time.RFC3339Nano)}, "limit": {"0"}})
		lines := strings.Split(strings.TrimSpace(string(body)), "\n")
		var end struct {
			End *struct {
				Flows   int
				Missing []struct{ Sensor, Error string }
			}
		}
		if resp.StatusCode != 200 || json.Unmarshal([]byte(lines[len(lines)-1]), &end) != nil || end.End == nil {
			t.Fatalf("hub flows: %s\n%s", resp.Status, body)
		}
		missing := map[string]string{}
		for _, m := range end.End.Missing {
			missing[m.Sensor] = m.Error
		}
		return end.End.Flows, missing
	}
	n, missing := listing(t0.Add(-time.Minute), t0.Add(time.Minute))
	if want := 3000 + 3000 - dropped; n != want {
		t.Errorf("%d flows listed, want %d (ok's 3000 and g's that were not dropped)", n, want)
	}
	if len(missing) != 1 || !strings.Contains(missing["g"], "outbox was full") || !strings.Contains(missing["g"], fmt.Sprint(dropped)) {
		t.Errorf("missing %v: want g alone, its %d dropped records named", missing, dropped)
	}
	if _, missing := listing(t0.Add(2*time.Minute), t0.Add(3*time.Minute)); len(missing) != 0 {
		t.Errorf("a window after the gap: missing %v, want none", missing)
	}
}

// TestPlanSensorsGapped: a sensor whose outbox dropped records of the
// window (a prd_gaps row overlapping it) is asked for packets though its
// segments' summaries rule it out and its mark is far ahead: the rows
// of its segments may be among what was dropped. Outside the gap it is
// narrowed as any other.
func TestPlanSensorsGapped(t *testing.T) {
	c := schemaConn(t)
	ctx := context.Background()
	for _, name := range []string{"gapped", "whole"} {
		if _, err := c.Exec(ctx, `INSERT INTO prd_sensors (sensor, url, interfaces, flows_through_ns) VALUES ($1, 'http://x.invalid', '{eth0}', $2)`,
			name, sec(1e6)); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Exec(ctx, `INSERT INTO prd_segments (sensor, interface, segment, first_ns, last_ns, packets, bytes, closed, summary, summary_pairs)
			VALUES ($1, 'eth0', 'a', $2, $3, 10, 1000, true, $4, false)`, name, sec(0), sec(100), summaryOf(flowTerms(17, "192.0.2.1", 1, "192.0.2.2", 2)...)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Exec(ctx, `INSERT INTO prd_gaps (sensor, from_ns, until_ns, records) VALUES ('gapped', $1, $2, 7)`, sec(40), sec(60)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		r      store.Range
		want   []string
		gapped []string
	}{
		{"over the gap", store.Range{Since: sec(0), Until: sec(50), HasSince: true, HasUntil: true}, []string{"gapped"}, []string{"gapped"}},
		{"before the gap", store.Range{Since: sec(0), Until: sec(30), HasSince: true, HasUntil: true}, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := planSensors(ctx, c, selection.Spec{Range: tc.r, Filter: "host 10.0.0.1"}, time.Unix(0, sec(2000)))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, ch := range p.Choices {
				got = append(got, ch.Sensor.Name)
			}
			if !slices.Equal(got, tc.want) || !slices.Equal(p.Gapped, tc.gapped) {
				t.Fatalf("asked %v (gapped %v), want %v (%v)", got, p.Gapped, tc.want, tc.gapped)
			}
		})
	}
}
