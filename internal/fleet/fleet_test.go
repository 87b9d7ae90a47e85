package fleet

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/packetrecorderd/packetrecorderd/internal/flow"
	"github.com/packetrecorderd/packetrecorderd/internal/pcapio"
	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// writeUDPPcap writes a classic pcap of nflows UDP flows (10.2.x.y:40000
// to 10.9.0.1:PORT), perFlow datagrams each, interleaved, 10 µs apart
// from start.
func writeUDPPcap(t *testing.T, path string, nflows, perFlow int, start time.Time) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	hdr := make([]byte, 24)
	binary.LittleEndian.PutUint32(hdr[0:], 0xa1b23c4d) // nanosecond pcap
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 65535)
	binary.LittleEndian.PutUint32(hdr[20:], 1)
	f.Write(hdr)
	dst := net.IP{10, 9, 0, 1}
	mac1, mac2 := net.HardwareAddr{2, 0, 0, 0, 0, 1}, net.HardwareAddr{2, 0, 0, 0, 0, 2}
	ts := start.UnixNano()
	payload := make([]byte, 32)
	for r := 0; r < perFlow; r++ {
		for i := 0; i < nflows; i++ {
			src := net.IP{10, 2, byte(i / 250), byte(i%250 + 1)}
			fr := testkit.UDPFrame(mac1, mac2, -1, src, dst, 1000+i%7, payload)
			rec := make([]byte, 16)
			binary.LittleEndian.PutUint32(rec[0:], uint32(ts/1e9))
			binary.LittleEndian.PutUint32(rec[4:], uint32(ts%1e9))
			binary.LittleEndian.PutUint32(rec[8:], uint32(len(fr)))
			binary.LittleEndian.PutUint32(rec[12:], uint32(len(fr)))
			f.Write(rec)
			f.Write(fr)
			ts += 10_000
		}
	}
}

// tsharkConv is tshark's -z conv,udp and conv,tcp of a file: frames per
// conversation, keyed "A B" (A the first packet's source).
func tsharkConv(t *testing.T, path string) map[string]int {
	t.Helper()
	rows, err := testkit.TsharkConversations(path)
	if err != nil {
		t.Fatal(err)
	}
	convs := map[string]int{}
	for _, r := range rows {
		convs[r.A+" "+r.B] += r.Frames
	}
	return convs
}

// drive reads a pcap through a flow table as the recorder's writer
// does, handing the sensor every flow's final record and, every
// updateEvery packets, the record of the flow a packet updated (an
// active flow's record, which its final record replaces), and marking
// the flow Reported once it gave one, as the recorder does: a flow's
// later records are not its first, and only a flow's only record goes
// by plain COPY. It returns how many flow records were accepted and
// refused.
func drive(t *testing.T, s *Sensor, path string, updateEvery int) (accepted, refused int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapio.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	count := func(ok bool) {
		if ok {
			accepted++
		} else {
			refused++
		}
	}
	tb, err := flow.NewTable(flow.Config{IdleTimeout: -1, Linger: -1, Emit: func(fl *flow.Flow) {
		row := FlowRowOf("eth0", fl, true)
		count(s.Flow(&row))
		fl.Reported = true
	}})
	if err != nil {
		t.Fatal(err)
	}
	for n := 1; ; n++ {
		p, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var pk flow.Packet
		if !flow.Extract(p.LinkType, p.Data, &pk) {
			continue
		}
		fl := tb.Add(p.Timestamp, &pk, p.OrigLen)
		if updateEvery > 0 && n%updateEvery == 0 {
			row := FlowRowOf("eth0", fl, false)
			count(s.Flow(&row))
			fl.Reported = true
		}
	}
	tb.Flush()
	return accepted, refused
}

type pgFlow struct {
	key     string
	packets int64
	ended   bool
}

func queryFlows(t *testing.T, dsn, sensor string) []pgFlow {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT host(src) || ':' || sport || ' ' || host(dst) || ':' || dport, packets_fwd + packets_rev, ended
		FROM prd_flows WHERE sensor = $1`, sensor)
	if err != nil {
		t.Fatal(err)
	}
	var out []pgFlow
	for rows.Next() {
		var f pgFlow
		if err := rows.Scan(&f.key, &f.packets, &f.ended); err != nil {
			t.Fatal(err)
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkExactlyOnce compares PostgreSQL's rows with tshark's
// conversations: one row each, with tshark's frame count, ended.
func checkExactlyOnce(t *testing.T, dsn, sensor string, want map[string]int) {
	t.Helper()
	got := queryFlows(t, dsn, sensor)
	if len(got) != len(want) {
		t.Errorf("%d flow rows in PostgreSQL, tshark sees %d conversations", len(got), len(want))
	}
	seen := map[string]bool{}
	for _, f := range got {
		if seen[f.key] {
			t.Errorf("flow %s twice", f.key)
		}
		seen[f.key] = true
		if n, ok := want[f.key]; !ok {
			t.Errorf("flow %s is not tshark's", f.key)
		} else if int64(n) != f.packets || !f.ended {
			t.Errorf("flow %s: %d packets (ended %v), tshark %d", f.key, f.packets, f.ended, n)
		}
	}
}

// waitShipped waits until the outbox holds no record PostgreSQL has not
// committed.
func waitShipped(t *testing.T, s *Sensor, within time.Duration) Stats {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		st := s.Stats()
		if st.OutboxRecords == 0 && st.Shipped > 0 {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox not shipped within %v: %+v", within, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func startSensor(t *testing.T, cfg Config, dir string) (*Sensor, func()) {
	t.Helper()
	return startSensorWith(t, cfg, dir, nil)
}

// startSensorWith is startSensor that lets setup (when not nil) set the
// sensor's fields before it runs.
func startSensorWith(t *testing.T, cfg Config, dir string, setup func(*Sensor)) (*Sensor, func()) {
	t.Helper()
	s, err := NewSensor(cfg, dir, []string{"eth0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		setup(s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.Run(ctx)
	}()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	return s, stop
}

// TestShipExactlyOnce: flows read through a flow table, with active
// flows' updates among them, arrive in PostgreSQL once each with
// tshark's frame counts; the sensor's row and segments are there. No
// batch's plain COPY meets a row and is redone: only a flow's only
// record goes by it (TestPlainCopyBatchSentTwice redoes one on purpose).
func TestShipExactlyOnce(t *testing.T) {
	testkit.RequireTool(t, "tshark")
	dsn := testkit.StartPostgres(t)
	dir := t.TempDir()
	pcap := filepath.Join(dir, "udp.pcap")
	writeUDPPcap(t, pcap, 3000, 5, time.Date(2026, 12, 6, 23, 59, 59, 985_000_000, time.UTC)) // two days
	want := tsharkConv(t, pcap)
	if len(want) != 3000 {
		t.Fatalf("tshark sees %d conversations, want 3000", len(want))
	}
	cfg := Config{Sensor: "s1", Postgres: dsn, URL: "https://s1:7474"}
	// Small batches: a flow's interim records and its final one are
	// shipped in different batches.
	redone := &redoCounter{}
	s, _ := startSensorWith(t, cfg, dir, func(s *Sensor) { s.log, s.BatchRecords = slog.New(redone), 400 })
	accepted, refused := drive(t, s, pcap, 7)
	s.Segment(SegmentRow{Interface: "eth0", Segment: "segments/eth0/a-r0.db", FirstNS: 1, LastNS: 2, Packets: 10, Bytes: 100})
	s.Segment(SegmentRow{Interface: "eth0", Segment: "segments/eth0/a-r0.db", FirstNS: 1, LastNS: 3, Packets: 20, Bytes: 200, Closed: true})
	s.Segment(SegmentRow{Interface: "eth0", Segment: "segments/eth0/a-r0.db", FirstNS: 1, LastNS: 3, Packets: 20, Bytes: 200, Closed: true, DeletedNS: time.Now().UnixNano()})
	if refused != 0 || accepted < 3000 {
		t.Fatalf("accepted %d, refused %d", accepted, refused)
	}
	st := waitShipped(t, s, 30*time.Second)
	if st.Dropped != 0 || st.Shipped != uint64(accepted+2) {
		t.Errorf("stats %+v, want %d shipped (the open segment's summary replaced by its closing)", st, accepted+2)
	}
	checkExactlyOnce(t, dsn, "s1", want)
	if n := redone.n.Load(); n != 0 {
		t.Errorf("%d batches' plain COPY redone through the upsert, want none", n)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var url string
	var ifaces []string
	if err := conn.QueryRow(ctx, `SELECT url, interfaces FROM prd_sensors WHERE sensor = 's1'`).Scan(&url, &ifaces); err != nil || url != cfg.URL || len(ifaces) != 1 || ifaces[0] != "eth0" {
		t.Errorf("sensor row: %v %q %v", err, url, ifaces)
	}
	var packets int64
	var closed, deleted bool
	if err := conn.QueryRow(ctx, `SELECT packets, closed, deleted_at IS NOT NULL FROM prd_segments WHERE sensor = 's1'`).Scan(&packets, &closed, &deleted); err != nil || packets != 20 || !closed || !deleted {
		t.Errorf("segment row: %v %d %v %v", err, packets, closed, deleted)
	}
	var parts int
	conn.QueryRow(ctx, `SELECT count(*) FROM pg_inherits WHERE inhparent = 'prd_flows'::regclass`).Scan(&parts)
	if parts != 2 {
		t.Errorf("%d partitions of prd_flows, want 2 (two days)", parts)
	}
	for _, name := range []string{"prd_flows_20261206", "prd_flows_20261207"} {
		var n int
		conn.QueryRow(ctx, `SELECT count(*) FROM pg_indexes WHERE tablename = $1`, name).Scan(&n)
		if n != 4 { // the primary key (led by community_id), src, dst, and BRIN on first_ns
			t.Errorf("%s has %d indexes, want 4", name, n)
		}
	}
	// The outbox's files are gone once acknowledged.
	deadline := time.Now().Add(5 * time.Second)
	for {
		files, _ := filepath.Glob(filepath.Join(dir, OutboxDir, "*"+recSuffix))
		if len(files) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("outbox files left: %v", files)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// downFor is how long the database-down tests keep PostgreSQL stopped:
// PRD_FLEET_DOWN (a Go duration; issue #22 asks for 30s), else 5 s.
func downFor(t *testing.T) time.Duration {
	if v := os.Getenv("PRD_FLEET_DOWN"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("PRD_FLEET_DOWN: %v", err)
		}
		return d
	}
	return 5 * time.Second
}

// TestFaultPostgresDown: PostgreSQL stops while flows keep coming, and
// the sensor restarts meanwhile (its outbox reopened from disk); once
// PostgreSQL is back every flow arrives once.
func TestFaultPostgresDown(t *testing.T) {
	testkit.RequireTool(t, "tshark")
	pg := testkit.StartPostgresCluster(t)
	dir := t.TempDir()
	p1, p2 := filepath.Join(dir, "a.pcap"), filepath.Join(dir, "b.pcap")
	start := time.Now().Add(-time.Hour)
	writeUDPPcap(t, p1, 2000, 3, start)
	writeUDPPcap(t, p2, 2000, 3, start.Add(time.Minute)) // the same addresses, later: other flows
	want := tsharkConv(t, p1)
	for k, v := range tsharkConv(t, p2) {
		want[k+" later"] = v
	}
	cfg := Config{Sensor: "down", Postgres: pg.DSN, URL: "http://down:7474"}
	s, stop := startSensor(t, cfg, dir)
	drive(t, s, p1, 5)
	waitShipped(t, s, 30*time.Second)
	pg.Stop()
	down := time.Now()
	accepted, _ := drive(t, s, p2, 3)
	deadline := time.Now().Add(10 * time.Second)
	for s.Stats().LastError == "" && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	st := s.Stats()
	if st.LastError == "" || st.Connected || st.OutboxRecords < int64(accepted) {
		t.Errorf("while PostgreSQL is down: %+v (accepted %d)", st, accepted)
	}
	// The sensor restarts with its outbox on disk.
	stop()
	s, _ = startSensor(t, cfg, dir)
	if n := s.Stats().OutboxRecords; n < int64(accepted) {
		t.Errorf("the reopened outbox holds %d records, want %d", n, accepted)
	}
	time.Sleep(time.Until(down.Add(downFor(t))))
	pg.Start()
	t.Logf("PostgreSQL down for %v", time.Since(down).Round(time.Millisecond))
	waitShipped(t, s, 60*time.Second)
	got := queryFlows(t, pg.DSN, "down")
	// The two files' flows share their addresses: tell them apart by
	// their times.
	if len(got) != len(want) {
		t.Errorf("%d rows, want %d (tshark's conversations of both files)", len(got), len(want))
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var dups, notEnded int
	conn.QueryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM prd_flows GROUP BY src, sport, dst, dport, first_ns HAVING count(*) > 1) d`).Scan(&dups)
	conn.QueryRow(ctx, `SELECT count(*) FROM prd_flows WHERE NOT ended OR packets_fwd <> 3`).Scan(&notEnded)
	if dups != 0 || notEnded != 0 {
		t.Errorf("%d duplicated flows, %d not ended or not 3 packets (tshark: 3 each)", dups, notEnded)
	}
	for k, v := range want {
		if v != 3 {
			t.Errorf("tshark: %s has %d frames", k, v)
			break
		}
	}
}

// TestOutboxFull: with PostgreSQL unreachable, a small outbox fills: the
// records beyond it are refused and counted (never blocking), its size
// stays within the bound; once PostgreSQL is back, every accepted flow
// arrives and the outbox has room again.
func TestOutboxFull(t *testing.T) {
	pg := testkit.StartPostgresCluster(t)
	pg.Stop()
	dir := t.TempDir()
	cfg := Config{Sensor: "full", Postgres: pg.DSN, URL: "http://full:7474", OutboxMax: MinOutboxMax}
	s, _ := startSensor(t, cfg, dir)
	var accepted int
	var refused int
	begin := time.Now()
	for i := 0; i < 40000; i++ {
		row := FlowRow{Interface: "eth0", FirstNS: time.Now().UnixNano(), LastNS: time.Now().UnixNano(), CommunityID: fmt.Sprintf("1:%040d", i),
			Proto: 17, Src: mustAddr("10.0.0.1"), Dst: mustAddr("10.0.0.2"), SPort: uint16(i), DPort: 53, Packets: [2]uint64{1, 1}, Bytes: [2]uint64{80, 120}, Ended: true}
		if s.Flow(&row) {
			accepted++
		} else {
			refused++
		}
	}
	if d := time.Since(begin); d > 2*time.Second {
		t.Errorf("40000 records took %v: appending must not wait", d)
	}
	time.Sleep(200 * time.Millisecond)
	st := s.Stats()
	if refused == 0 || st.Dropped != uint64(refused) || st.OutboxBytes > MinOutboxMax || st.OutboxRecords != int64(accepted) {
		t.Fatalf("accepted %d refused %d: stats %+v", accepted, refused, st)
	}
	pg.Start()
	st = waitShipped(t, s, 60*time.Second)
	var n int
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	conn.QueryRow(ctx, `SELECT count(*) FROM prd_flows WHERE sensor = 'full'`).Scan(&n)
	if n != accepted {
		t.Errorf("%d rows, %d accepted", n, accepted)
	}
	// Room again once shipped.
	time.Sleep(1500 * time.Millisecond)
	row := FlowRow{Interface: "eth0", FirstNS: 1, LastNS: 1, CommunityID: "1:x", Proto: 17, Src: mustAddr("10.0.0.1"), Dst: mustAddr("10.0.0.2")}
	if !s.Flow(&row) {
		t.Errorf("outbox still full after shipping: %+v", s.Stats())
	}
}

// A record PostgreSQL refuses (a NUL in a text column: a data
// exception) does not hold up the records behind it forever: its batch
// is dropped and counted, and the next ones arrive. A flow without
// addresses is refused at once.
func TestPoisonBatchDropped(t *testing.T) {
	dsn := testkit.StartPostgres(t)
	s, _ := startSensor(t, Config{Sensor: "poison", Postgres: dsn, URL: "http://p:1"}, t.TempDir())
	bad := testFlow(1)
	bad.Interface = "eth\x000"
	if !s.Flow(&bad) {
		t.Fatal("refused before shipping")
	}
	deadline := time.Now().Add(20 * time.Second)
	for s.Stats().Dropped == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the refused batch is still retried: %+v", s.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
	good := testFlow(2)
	s.Flow(&good)
	noAddr := testFlow(3)
	noAddr.Src = netip.Addr{}
	if s.Flow(&noAddr) {
		t.Error("a flow without a source address was taken")
	}
	waitShipped(t, s, 20*time.Second)
	if got := queryFlows(t, dsn, "poison"); len(got) != 1 || got[0].key != "10.0.0.1:2 10.0.0.2:53" {
		t.Errorf("rows %+v, want the good flow", got)
	}
	if st := s.Stats(); st.Dropped != 2 {
		t.Errorf("dropped %d, want 2", st.Dropped)
	}
}

// A sensor registers as soon as it reaches PostgreSQL, before it has a
// record to ship (the hub lists it), with its interfaces in order.
func TestSensorRegistersAtStart(t *testing.T) {
	dsn := testkit.StartPostgres(t)
	s, err := NewSensor(Config{Sensor: "idle", Postgres: dsn, URL: "https://idle:7474"}, t.TempDir(), []string{"eth1", "eth0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	deadline := time.Now().Add(10 * time.Second)
	for {
		var url string
		var ifaces []string
		err := conn.QueryRow(context.Background(), `SELECT url, interfaces FROM prd_sensors WHERE sensor = 'idle'`).Scan(&url, &ifaces)
		if err == nil {
			if url != "https://idle:7474" || strings.Join(ifaces, ",") != "eth1,eth0" {
				t.Errorf("registered %q %v", url, ifaces)
			}
			if !s.Stats().Connected {
				t.Errorf("status: %+v", s.Stats())
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not registered within 10 s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Batches on two connections may commit out of order: an active flow's
// older record arriving after its newer one, or after its final one,
// leaves the row as the newer record made it.
func TestOlderRecordNeverUndoesNewer(t *testing.T) {
	dsn := testkit.StartPostgres(t)
	s, err := NewSensor(Config{Sensor: "order", Postgres: dsn, URL: "http://o:1"}, t.TempDir(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	conn, err := s.connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	days := map[time.Time]bool{}
	rec := func(packets uint64, ended bool) []record {
		f := testFlow(7)
		f.Packets = [2]uint64{packets, 0}
		f.LastNS = f.FirstNS + int64(packets)
		f.Ended = ended
		return []record{{kind: kindFlow, flow: f}}
	}
	row := func() (int64, bool) {
		var n int64
		var ended bool
		if err := conn.QueryRow(ctx, `SELECT packets_fwd, ended FROM prd_flows WHERE sensor = 'order'`).Scan(&n, &ended); err != nil {
			t.Fatal(err)
		}
		return n, ended
	}
	for _, step := range []struct {
		packets   uint64
		ended     bool
		wantN     int64
		wantEnded bool
	}{
		{5, false, 5, false},
		{3, false, 5, false}, // older, late
		{9, true, 9, true},   // final
		{9, false, 9, true},  // the update before the final, as many packets
		{7, false, 9, true},
		{9, true, 9, true}, // the final again
	} {
		if err := s.shipBatch(ctx, conn, rec(step.packets, step.ended), days); err != nil {
			t.Fatal(err)
		}
		if n, ended := row(); n != step.wantN || ended != step.wantEnded {
			t.Fatalf("after a record of %d packets (ended %v): row %d packets, ended %v; want %d, %v", step.packets, step.ended, n, ended, step.wantN, step.wantEnded)
		}
	}
}
