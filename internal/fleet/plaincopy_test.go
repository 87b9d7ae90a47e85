package fleet

import (
	"context"
	"encoding/hex"
	"fmt"
	"math"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/packetrecorderd/packetrecorderd/internal/flow"
	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// plainDay0 and plainDay1 are two UTC days: flows of a batch land in
// both partitions.
var (
	plainDay0 = time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	plainDay1 = plainDay0.AddDate(0, 0, 1)
)

// onlyFlow is flow i's only record (first and final): i packets
// forward, one back, on day0 for even i, day1 for odd.
func onlyFlow(i int) FlowRow {
	day := plainDay0
	if i%2 == 1 {
		day = plainDay1
	}
	first := day.Add(time.Duration(i) * time.Millisecond).UnixNano()
	return FlowRow{Interface: "eth0", FirstNS: first, LastNS: first + 1000, CommunityID: fmt.Sprintf("1:only%d", i), Proto: 17,
		Src: mustAddr("10.0.0.1"), Dst: mustAddr("10.0.0.2"), SPort: uint16(i), DPort: 53, Packets: [2]uint64{uint64(i), 1},
		Bytes: [2]uint64{uint64(100 * i), 100}, Ended: true, First: true}
}

func flowRecords(rows ...FlowRow) []record {
	out := make([]record, len(rows))
	for i := range rows {
		out[i] = record{seq: uint64(i + 1), kind: kindFlow, flow: rows[i]}
	}
	return out
}

// flowState is a row of prd_flows as the tests check it.
type flowState struct {
	fwd, rev int64
	ended    bool
}

// flowRows reads a sensor's rows of prd_flows by Community ID; a key
// held twice fails the test.
func flowRows(t *testing.T, conn *pgx.Conn, sensor string) map[string]flowState {
	t.Helper()
	rows, err := conn.Query(context.Background(), `SELECT community_id, packets_fwd, packets_rev, ended FROM prd_flows WHERE sensor = $1`, sensor)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]flowState{}
	for rows.Next() {
		var id string
		var f flowState
		if err := rows.Scan(&id, &f.fwd, &f.rev, &f.ended); err != nil {
			t.Fatal(err)
		}
		if _, ok := out[id]; ok {
			t.Errorf("flow %s has two rows", id)
		}
		out[id] = f
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// plainSensor is a sensor named name on a new cluster, and n
// connections of its own (connect: schema, staging table).
func plainSensor(t *testing.T, name string, n int) (*Sensor, []*pgx.Conn) {
	t.Helper()
	dsn := testkit.StartPostgres(t)
	s, err := NewSensor(Config{Sensor: name, Postgres: dsn, URL: "http://" + name + ":1"}, t.TempDir(), []string{"eth0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var conns []*pgx.Conn
	for range n {
		c, err := s.connect(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(context.Background()) })
		conns = append(conns, c)
	}
	return s, conns
}

// A flow's only record (first and final, once in the batch) goes by
// plain COPY; every other flow record through the upsert: an interim
// record, a final one after an interim one, a record without the first
// bit (queued by an older build), a flow met twice in the batch.
func TestSortBatchPlainOnlyForOnlyRecords(t *testing.T) {
	only := onlyFlow(2)
	interim := onlyFlow(4)
	interim.Ended = false
	after := onlyFlow(6)
	after.First = false
	twice1, twice2 := onlyFlow(8), onlyFlow(8)
	twice2.Packets[0]++
	old, err := decodeFlow(encodeFlow(nil, &FlowRow{Interface: "eth0", FirstNS: 1, LastNS: 2, CommunityID: "1:o", Src: mustAddr("10.0.0.1"), Dst: mustAddr("10.0.0.2"), Ended: true}))
	if err != nil {
		t.Fatal(err)
	}
	// Only records of two days, out of order: copied day by day, each
	// day's in key order (bytes of the Community ID).
	batch := flowRecords(onlyFlow(13), only, interim, onlyFlow(3), after, twice1, old, twice2, onlyFlow(20))
	days := map[time.Time]bool{plainDay0: true, plainDay1: true, old.Day(): true} // no partition to make: no connection
	m, err := sortBatch(context.Background(), nil, batch, days)
	if err != nil {
		t.Fatal(err)
	}
	var runs []string
	m.plainDays(func(day time.Time, rows []*FlowRow) error {
		run := day.Format("2006-01-02")
		for _, f := range rows {
			run += " " + f.CommunityID
		}
		runs = append(runs, run)
		return nil
	})
	if got, want := fmt.Sprint(runs), "[2026-12-06 1:only2 1:only20 2026-12-07 1:only13 1:only3]"; got != want {
		t.Errorf("plain COPY %s, want %s", got, want)
	}
	var ids []string
	for _, f := range m.upsert {
		ids = append(ids, fmt.Sprintf("%s/%d", f.CommunityID, f.Packets[0]))
	}
	if got, want := fmt.Sprint(ids), fmt.Sprintf("[%s/4 %s/6 %s/9 1:o/0]", interim.CommunityID, after.CommunityID, twice1.CommunityID); got != want {
		t.Errorf("upserted %s, want %s (the flow met twice by its later record)", got, want)
	}
}

// A batch of only records sent twice (a commit whose acknowledgement was
// lost, an outbox replayed after a restart): its plain COPY meets its own
// rows (a unique violation, SQLSTATE 23505), is rolled back and redone
// through the upsert, and each flow keeps one row; a row already further
// on than the batch's record (more packets) is not moved back.
func TestPlainCopyBatchSentTwice(t *testing.T) {
	s, conns := plainSensor(t, "twice", 1)
	conn := conns[0]
	ctx := context.Background()
	days := map[time.Time]bool{}
	var rows []FlowRow
	for i := range 2000 {
		rows = append(rows, onlyFlow(i))
	}
	if err := s.shipBatch(ctx, conn, flowRecords(rows...), days); err != nil {
		t.Fatal(err)
	}
	// The plain path copies into the partitions: sent again as it is,
	// the copy meets the rows (an upsert would not).
	m, err := sortBatch(ctx, conn, flowRecords(rows...), days)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.shipTx(ctx, conn, m, nil); !plainFailed(err) {
		t.Fatalf("the batch's plain COPY sent again: %v, want a unique violation", err)
	}
	// A later record of flow 7 (as if it had gone on): further on.
	further := onlyFlow(7)
	further.First, further.Packets[0] = false, 70
	if err := s.shipBatch(ctx, conn, flowRecords(further), days); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := s.shipBatch(ctx, conn, flowRecords(rows...), days); err != nil {
			t.Fatalf("the batch sent again: %v", err)
		}
	}
	got := flowRows(t, conn, "twice")
	if len(got) != len(rows) {
		t.Errorf("%d rows, want %d", len(got), len(rows))
	}
	for i, r := range rows {
		want := flowState{fwd: int64(i), rev: 1, ended: true}
		if i == 7 {
			want.fwd = 70
		}
		if g := got[r.CommunityID]; g != want {
			t.Errorf("flow %s: %+v, want %+v", r.CommunityID, g, want)
		}
	}
	var parts int
	conn.QueryRow(ctx, `SELECT count(DISTINCT tableoid) FROM prd_flows WHERE sensor = 'twice'`).Scan(&parts)
	if parts != 2 {
		t.Errorf("rows in %d partitions, want 2 (two days)", parts)
	}
}

// oldFlowRecord is a flow record's payload as the outbox held it before
// the first bit (encodeFlow at commit bb24285): eth0, first_ns
// 1765065600000000007, last 900 ns later, "1:old", UDP 10.0.0.1:7 to
// 10.0.0.2:53, packets 9 and 2, bytes 900 and 200, stored 11 and 1100,
// ended.
const oldFlowRecord = "04657468308e8098d4f7f3e2fe30880e05313a6f6c6411040a000001040a0000020007003509028407c8010bcc080002"

// An outbox written by an older build holds records without the first
// bit: they decode as maybe shipped before and are upserted, so an old
// final record replaces the interim row an earlier batch left.
func TestOldRecordWithoutFirstBitUpserted(t *testing.T) {
	payload, err := hex.DecodeString(oldFlowRecord)
	if err != nil {
		t.Fatal(err)
	}
	o, err := OpenOutbox(filepath.Join(t.TempDir(), OutboxDir), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	runOutbox(t, o)
	if !o.appendRecord(kindFlow, payload) {
		t.Fatal("refused")
	}
	recs := nextAll(t, o, 1)
	f := recs[0].flow
	want := FlowRow{Interface: "eth0", FirstNS: 1765065600000000007, LastNS: 1765065600000000907, CommunityID: "1:old", Proto: 17,
		Src: mustAddr("10.0.0.1"), Dst: mustAddr("10.0.0.2"), SPort: 7, DPort: 53, Packets: [2]uint64{9, 2}, Bytes: [2]uint64{900, 200},
		StoredPackets: 11, StoredBytes: 1100, Ended: true}
	if f != want {
		t.Fatalf("decoded %+v\nwant    %+v", f, want)
	}
	// The bit is the flags byte's 4: the record is otherwise the same.
	if b := encodeFlow(nil, &want); hex.EncodeToString(b) != oldFlowRecord {
		t.Errorf("encoded without the first bit: %x, want the old record", b)
	}
	first := want
	first.First = true
	b := encodeFlow(nil, &first)
	if b[len(b)-1] != payload[len(payload)-1]|4 || string(b[:len(b)-1]) != string(payload[:len(payload)-1]) {
		t.Errorf("encoded with the first bit: %x", b)
	}
	if g, err := decodeFlow(b); err != nil || g != first {
		t.Errorf("decoded with the first bit: %+v %v", g, err)
	}
	s, conns := plainSensor(t, "old", 1)
	ctx := context.Background()
	days := map[time.Time]bool{}
	interim := want
	interim.First, interim.Ended, interim.Packets = true, false, [2]uint64{4, 1}
	if err := s.shipBatch(ctx, conns[0], flowRecords(interim), days); err != nil {
		t.Fatal(err)
	}
	m, err := sortBatch(ctx, conns[0], recs, days)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.plain) != 0 || len(m.upsert) != 1 {
		t.Errorf("the old record: %d plain, %d upserted; want it upserted", len(m.plain), len(m.upsert))
	}
	if err := s.shipBatch(ctx, conns[0], recs, days); err != nil {
		t.Fatal(err)
	}
	if got := flowRows(t, conns[0], "old"); len(got) != 1 || got["1:old"] != (flowState{9, 2, true}) {
		t.Errorf("rows %+v, want 1:old with 9 and 2 packets, ended", got)
	}
}

// A flow's first (interim) and later records mixed with only records, in
// one batch and across batches on two connections, in either commit
// order and at once: one row a flow, holding its final record.
func TestFirstAndInterimRecordsMixed(t *testing.T) {
	s, conns := plainSensor(t, "mixed", 2)
	ctx := context.Background()
	daysOf := []map[time.Time]bool{{}, {}}
	// active is flow i's interim record (First, half its packets) and
	// its final one (not first).
	active := func(i int) (interim, final FlowRow) {
		final = onlyFlow(i)
		final.First = false
		interim = onlyFlow(i)
		interim.Ended, interim.Packets = false, [2]uint64{uint64(i) / 2, 0}
		return interim, final
	}
	want := map[string]flowState{}
	only := func(from, n int) []FlowRow {
		var out []FlowRow
		for i := from; i < from+n; i++ {
			out = append(out, onlyFlow(i))
			want[onlyFlow(i).CommunityID] = flowState{int64(i), 1, true}
		}
		return out
	}
	note := func(f FlowRow) { want[f.CommunityID] = flowState{int64(f.Packets[0]), int64(f.Packets[1]), true} }

	// One batch: an interim record and its final one among only records.
	i1, f1 := active(100_001)
	note(f1)
	batch := append(only(0, 300), i1)
	batch = append(batch, only(300, 300)...)
	batch = append(batch, f1)
	if err := s.shipBatch(ctx, conns[0], flowRecords(batch...), daysOf[0]); err != nil {
		t.Fatal(err)
	}
	// Two batches on two connections, the later committed first.
	i2, f2 := active(100_003)
	note(f2)
	early := append(only(1000, 500), i2)
	late := append(only(2000, 500), f2)
	if err := s.shipBatch(ctx, conns[1], flowRecords(late...), daysOf[1]); err != nil {
		t.Fatal(err)
	}
	if err := s.shipBatch(ctx, conns[0], flowRecords(early...), daysOf[0]); err != nil {
		t.Fatal(err)
	}
	// Rounds of two batches at once, each holding interim records whose
	// final records are in the other, and only records; then both again.
	for r := range 5 {
		var a, b []FlowRow
		for k := range 50 {
			ia, fa := active(200_000 + r*1000 + 2*k)
			ib, fb := active(200_000 + r*1000 + 2*k + 1)
			note(fa)
			note(fb)
			a = append(a, ia, fb)
			b = append(b, ib, fa)
		}
		a = append(a, only(10_000+r*2000, 1000)...)
		b = append(b, only(11_000+r*2000, 1000)...)
		for range 2 {
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for c, rows := range [][]FlowRow{a, b} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[c] = s.shipBatch(ctx, conns[c], flowRecords(rows...), daysOf[c])
				}()
			}
			wg.Wait()
			for c, err := range errs {
				if err != nil {
					t.Fatalf("round %d, connection %d: %v", r, c, err)
				}
			}
		}
	}
	got := flowRows(t, conns[0], "mixed")
	if len(got) != len(want) {
		t.Errorf("%d rows, want %d", len(got), len(want))
	}
	for id, w := range want {
		if g, ok := got[id]; !ok || g != w {
			t.Errorf("flow %s: %+v (there %v), want %+v", id, g, ok, w)
		}
	}
}

// Records wrongly marked first (each flow's only record, twice, in two
// batches shipped at once in opposite orders) make the two plain COPYs
// meet: the one that loses (a unique violation, or a deadlock PostgreSQL
// breaks) is redone through the upsert, and each flow has one row with
// the record further on.
func TestPlainCopyCollisionOnTwoConnections(t *testing.T) {
	s, conns := plainSensor(t, "collide", 2)
	ctx := context.Background()
	var a, b []FlowRow
	for i := range 3000 {
		a = append(a, onlyFlow(i))
		f := onlyFlow(2999 - i)
		f.Packets[1] = 2 // further on
		b = append(b, f)
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for c, rows := range [][]FlowRow{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[c] = s.shipBatch(ctx, conns[c], flowRecords(rows...), map[time.Time]bool{})
		}()
	}
	wg.Wait()
	for c, err := range errs {
		if err != nil {
			t.Fatalf("connection %d: %v", c, err)
		}
	}
	got := flowRows(t, conns[0], "collide")
	if len(got) != len(a) {
		t.Errorf("%d rows, want %d", len(got), len(a))
	}
	for i, f := range a {
		if g, w := got[f.CommunityID], (flowState{int64(i), 2, true}); g != w {
			t.Errorf("flow %s: %+v, want %+v", f.CommunityID, g, w)
		}
	}
}

// A flow's day is the UTC calendar day of its first packet, as
// time.Date names it, on both sides of midnight and of the epoch.
func TestFlowRowDay(t *testing.T) {
	const day = int64(24 * time.Hour)
	for _, ns := range []int64{0, 1, -1, day - 1, day, -day, -day - 1, -day + 1, 1765065600000000007, 1765065600000000000 - 1, math.MaxInt64, math.MinInt64} {
		u := time.Unix(0, ns).UTC()
		want := time.Date(u.Year(), u.Month(), u.Day(), 0, 0, 0, 0, time.UTC)
		f := FlowRow{FirstNS: ns}
		if got := f.Day(); !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("first_ns %d: day %v, want %v", ns, got, want)
		}
	}
}

// A flow's record is its first unless the recorder gave one before.
func TestFlowRowOfFirst(t *testing.T) {
	f := flow.Flow{Key: flow.Key{Src: mustAddr("10.0.0.1"), Dst: mustAddr("10.0.0.2"), Proto: flow.ProtoUDP}}
	if r := FlowRowOf("eth0", &f, false); !r.First || r.Ended {
		t.Errorf("a new flow's interim record: first %v, ended %v; want first", r.First, r.Ended)
	}
	f.Reported = true
	if r := FlowRowOf("eth0", &f, true); r.First || !r.Ended {
		t.Errorf("a reported flow's final record: first %v, ended %v; want not first", r.First, r.Ended)
	}
}
