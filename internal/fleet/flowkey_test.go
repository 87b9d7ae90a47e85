package fleet

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/packetrecorderd/packetrecorderd/internal/flow"
	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// redoCounter is a slog handler that counts the shipper's redone plain
// COPYs (its debug line) and drops every record.
type redoCounter struct{ n atomic.Int64 }

func (c *redoCounter) Enabled(context.Context, slog.Level) bool { return true }
func (c *redoCounter) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "plain COPY is redone") {
		c.n.Add(1)
	}
	return nil
}
func (c *redoCounter) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *redoCounter) WithGroup(string) slog.Handler      { return c }

// waitShippedN waits until PostgreSQL committed n records in all.
func waitShippedN(t *testing.T, s *Sensor, n uint64, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for s.Stats().Shipped < n || s.Stats().OutboxRecords != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d records not shipped within %v: %+v", n, within, s.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// An active flow's interim record is shipped; then a packet of the flow
// comes late with an earlier timestamp (out of order, from the day
// before); then the flow's next record and its end. The flow keeps one
// row in PostgreSQL, under the key of its first record, with every
// packet counted. Before, the later records were keyed by the moved
// first packet (another first_ns and day): two rows of one flow.
func TestShipOutOfOrderPacketKeepsOneRow(t *testing.T) {
	dsn := testkit.StartPostgres(t)
	s, _ := startSensor(t, Config{Sensor: "ooo", Postgres: dsn, URL: "http://ooo:1"}, t.TempDir())
	var shipped uint64
	give := func(f *flow.Flow, final bool) {
		t.Helper()
		row := FlowRowOf("eth0", f, final)
		if !s.Flow(&row) {
			t.Fatalf("record refused: %+v", s.Stats())
		}
		f.Reported = true // as the recorder does once it gave a record
		shipped++
	}
	var ended []flow.Flow
	tb, err := flow.NewTable(flow.Config{IdleTimeout: -1, Linger: -1, Emit: func(f *flow.Flow) {
		ended = append(ended, *f)
		give(f, true)
	}})
	if err != nil {
		t.Fatal(err)
	}
	midnight := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC).UnixNano()
	ms := int64(time.Millisecond)
	out := &flow.Packet{Key: flow.Key{Src: mustAddr("10.7.0.1"), Dst: mustAddr("10.7.0.2"), SrcPort: 40000, DstPort: 53, Proto: flow.ProtoUDP, HasPorts: true}}
	back := &flow.Packet{Key: out.Key.Reverse()}
	tb.Add(midnight+2*ms, out, 100)
	f := tb.Add(midnight+3*ms, back, 200)
	give(f, false)
	waitShippedN(t, s, shipped, 30*time.Second) // the interim row is committed
	f = tb.Add(midnight-1*ms, out, 100)         // late, from the day before
	give(f, false)
	tb.Add(midnight+9*ms, back, 200)
	tb.Flush()
	waitShippedN(t, s, shipped, 30*time.Second)
	if len(ended) != 1 || ended[0].FirstNS != midnight-ms {
		t.Fatalf("the table ended %+v, want one flow whose first packet is the late one", ended)
	}

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT first_ns, last_ns, day, packets_fwd, packets_rev, bytes_fwd, bytes_rev, ended FROM prd_flows WHERE sensor = 'ooo'`)
	if err != nil {
		t.Fatal(err)
	}
	type pgRow struct {
		first, last    int64
		day            time.Time
		pf, pr, bf, br int64
		ended          bool
	}
	var got []pgRow
	for rows.Next() {
		var r pgRow
		if err := rows.Scan(&r.first, &r.last, &r.day, &r.pf, &r.pr, &r.bf, &r.br, &r.ended); err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("%d rows of the flow, want 1: %+v", len(got), got)
	}
	r := got[0]
	// Two packets out (100 bytes each), two back (200 each); the key is
	// the first record's: its first packet, the day after midnight.
	if r.pf != 2 || r.pr != 2 || r.bf != 200 || r.br != 400 || !r.ended {
		t.Errorf("row: packets %d/%d bytes %d/%d ended %v; want 2/2, 200/400, ended", r.pf, r.pr, r.bf, r.br, r.ended)
	}
	if r.first != midnight+2*ms || r.last != midnight+9*ms || !r.day.Equal(time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("row: first %d last %d day %v; want %d, %d, 2026-12-07", r.first, r.last, r.day, midnight+2*ms, midnight+9*ms)
	}
}

// A reported flow's record is keyed by its KeyNS, an unreported one's by
// its first packet.
func TestFlowRowOfKeyNS(t *testing.T) {
	f := flow.Flow{Key: flow.Key{Src: mustAddr("10.0.0.1"), Dst: mustAddr("10.0.0.2"), Proto: flow.ProtoUDP}, FirstNS: 5, KeyNS: 10, LastNS: 20}
	if r := FlowRowOf("eth0", &f, false); r.FirstNS != 5 {
		t.Errorf("unreported flow: first_ns %d, want its first packet's 5", r.FirstNS)
	}
	f.Reported = true
	if r := FlowRowOf("eth0", &f, true); r.FirstNS != 10 || r.LastNS != 20 {
		t.Errorf("reported flow: first_ns %d last_ns %d, want its key's 10 and 20", r.FirstNS, r.LastNS)
	}
}
