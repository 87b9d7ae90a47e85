package fleet

import (
	"cmp"
	"context"
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Schema is the fleet's PostgreSQL schema (schema.sql): the sensor side
// owns it and applies it at each connection; the hub only reads it.
//
//go:embed schema.sql
var Schema string

// schemaLock is the advisory lock key under which sensors change the
// schema (tables, partitions), so that two sensors creating the same
// table at once do not collide.
const schemaLock = 0x70726466 // "prdf"

// ApplySchema creates the fleet's tables where they are missing.
func ApplySchema(ctx context.Context, conn *pgx.Conn) error {
	return locked(ctx, conn, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, Schema)
		return err
	})
}

// locked runs fn in a transaction holding the schema lock.
func locked(ctx context.Context, conn *pgx.Conn, fn func(pgx.Tx) error) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(schemaLock)); err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// PartitionName is the name of day's partition of prd_flows.
func PartitionName(day time.Time) string { return "prd_flows_" + day.UTC().Format("20060102") }

// EnsurePartition creates day's partition of prd_flows and its indexes
// where missing.
func EnsurePartition(ctx context.Context, conn *pgx.Conn, day time.Time) error {
	day = day.UTC().Truncate(24 * time.Hour)
	name := PartitionName(day)
	q := fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %[1]s PARTITION OF prd_flows FOR VALUES FROM ('%[2]s') TO ('%[3]s');
CREATE INDEX IF NOT EXISTS %[1]s_src ON %[1]s (src);
CREATE INDEX IF NOT EXISTS %[1]s_dst ON %[1]s (dst);
CREATE INDEX IF NOT EXISTS %[1]s_first_ns_brin ON %[1]s USING brin (first_ns);`,
		name, day.Format("2006-01-02"), day.AddDate(0, 0, 1).Format("2006-01-02"))
	return locked(ctx, conn, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, q)
		return err
	})
}

// FlowColumns are prd_flows' columns in the order COPY sends them
// (FlowRow.CopyValues).
var FlowColumns = []string{"sensor", "interface", "day", "first_ns", "last_ns", "community_id", "proto", "src", "sport", "dst", "dport",
	"packets_fwd", "packets_rev", "bytes_fwd", "bytes_rev", "stored_packets", "stored_bytes", "tcp_flags", "cut", "ended"}

// UpsertFlows moves a batch from the session's staging table into
// prd_flows: a record already there (an active flow's earlier record, or
// this one sent before) is replaced by one that is further on: more
// packets, or as many and ended, or as many and a later last packet. An
// older record arriving late (from a batch that committed after a newer
// one on another connection) never undoes a newer one, and one sent
// again costs no update. Rows go in key
// order, so that two connections lock shared keys in the same order.
const UpsertFlows = `INSERT INTO prd_flows SELECT * FROM prd_flows_in ORDER BY community_id, interface, first_ns
ON CONFLICT (community_id, sensor, interface, first_ns, day) DO UPDATE SET
  last_ns = excluded.last_ns, proto = excluded.proto, src = excluded.src, sport = excluded.sport,
  dst = excluded.dst, dport = excluded.dport, packets_fwd = excluded.packets_fwd, packets_rev = excluded.packets_rev,
  bytes_fwd = excluded.bytes_fwd, bytes_rev = excluded.bytes_rev, stored_packets = excluded.stored_packets,
  stored_bytes = excluded.stored_bytes, tcp_flags = excluded.tcp_flags, cut = excluded.cut, ended = excluded.ended
WHERE (excluded.packets_fwd + excluded.packets_rev, excluded.ended, excluded.last_ns)
  > (prd_flows.packets_fwd + prd_flows.packets_rev, prd_flows.ended, prd_flows.last_ns)`

const upsertSegment = `INSERT INTO prd_segments (sensor, interface, segment, first_ns, last_ns, packets, bytes, closed, deleted_at, summary, summary_pairs)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT (sensor, segment) DO UPDATE SET interface = excluded.interface, first_ns = excluded.first_ns,
  last_ns = excluded.last_ns, packets = excluded.packets, bytes = excluded.bytes,
  closed = excluded.closed OR prd_segments.closed, deleted_at = coalesce(excluded.deleted_at, prd_segments.deleted_at),
  summary = coalesce(excluded.summary, prd_segments.summary), summary_pairs = coalesce(excluded.summary_pairs, prd_segments.summary_pairs)
WHERE excluded.packets >= prd_segments.packets`

const registerSensor = `INSERT INTO prd_sensors (sensor, url, interfaces, seen_at) VALUES ($1, $2, $3, now())
ON CONFLICT (sensor) DO UPDATE SET url = excluded.url, interfaces = excluded.interfaces, seen_at = now()`

// insertGap records a span of records the outbox dropped (a batch sent
// again inserts nothing).
const insertGap = `INSERT INTO prd_gaps (sensor, from_ns, until_ns, records) VALUES ($1, $2, $3, $4)
ON CONFLICT (sensor, from_ns, until_ns) DO NOTHING`

// Backoff bounds between connection attempts.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 2 * time.Second
	// shipTimeout bounds one batch's transaction (a database that stops
	// answering without closing the connection).
	shipTimeout = 60 * time.Second
)

// job is one batch of records, in outbox order.
type job struct {
	recs []record
	done bool
	// through is a time before which every record queued is in this
	// batch or an earlier one (0: none known); mark is through when
	// every earlier batch has committed, else 0: what the batch's
	// transaction may write to prd_sensors.flows_through_ns.
	through int64
	mark    func() int64
}

// setThrough is the statement that moves the sensor's shipped-through
// mark on, never back.
const setThrough = `UPDATE prd_sensors SET flows_through_ns = GREATEST(coalesce(flows_through_ns, 0), $2) WHERE sensor = $1`

// stamp says that at time at (ns), every record queued so far had a
// sequence number up to seq.
type stamp struct {
	seq uint64
	at  int64
}

// stampNow is the outbox's last sequence number handed out, now.
func (s *Sensor) stampNow() stamp {
	at := s.markNow()
	s.out.mu.Lock()
	defer s.out.mu.Unlock()
	return stamp{seq: s.out.nextSeq - 1, at: at}
}

// maxStamps bounds the stamps the reader keeps (dropping the oldest only
// makes the mark lag).
const maxStamps = 256

// ship reads batches from the outbox and ships them on Parallel
// connections until ctx ends. Batches may commit out of order (the
// upserts never let an older record undo a newer one), but the outbox is
// acknowledged only up to the last batch before which every batch has
// committed.
func (s *Sensor) ship(ctx context.Context) {
	workers := s.Parallel
	if workers <= 0 {
		workers = DefaultParallel
	}
	maxRecs := s.BatchRecords
	if maxRecs <= 0 {
		maxRecs = 50000
	}
	jobs := make(chan *job)
	var mu sync.Mutex
	var inflight []*job // in outbox order
	complete := func(j *job) {
		mu.Lock()
		j.done = true
		var ack uint64
		for len(inflight) > 0 && inflight[0].done {
			ack = inflight[0].recs[len(inflight[0].recs)-1].seq
			inflight = inflight[1:]
		}
		mu.Unlock()
		if ack > 0 {
			s.out.Ack(ack)
		}
		s.succeeded(len(j.recs))
	}
	// markOf is j's through if every batch before it has committed.
	markOf := func(j *job) int64 {
		mu.Lock()
		defer mu.Unlock()
		for _, k := range inflight {
			if k == j {
				return j.through
			}
			if !k.done {
				return 0
			}
		}
		return 0
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.worker(ctx, jobs, complete, w == 0)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.pruneGaps(ctx) // gaps.go
	}()
	// The reader: the next batch is read while the others ship.
	defer wg.Wait()
	defer close(jobs)
	var stamps []stamp
	for {
		if len(stamps) == maxStamps {
			stamps = slices.Delete(stamps, 0, maxStamps/2)
		}
		stamps = append(stamps, s.stampNow())
		recs, err := s.out.Next(ctx, maxRecs)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			s.log.Error("fleet: read the outbox", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
		if len(recs) == 0 {
			continue
		}
		j := &job{recs: recs}
		j.mark = func() int64 { return markOf(j) }
		last := recs[len(recs)-1].seq
		n := 0
		for _, st := range stamps {
			if st.seq <= last {
				j.through = max(j.through, st.at)
				n++
			}
		}
		stamps = stamps[n:] // stamps are in order: the met ones lead
		mu.Lock()
		inflight = append(inflight, j)
		mu.Unlock()
		select {
		case jobs <- j:
		case <-ctx.Done():
			return
		}
	}
}

// DefaultParallel is how many connections ship at once by default.
const DefaultParallel = 2

// worker ships the jobs it takes on a connection of its own, each until
// it commits: it reconnects with backoff after an error. The idle worker
// moves the shipped-through mark to now each markEvery while the outbox
// is empty.
func (s *Sensor) worker(ctx context.Context, jobs <-chan *job, complete func(*job), idle bool) {
	var conn *pgx.Conn
	days := map[time.Time]bool{}
	closeConn := func() {
		if conn != nil {
			cctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			conn.Close(cctx)
			cancel()
			conn = nil
		}
	}
	defer closeConn()
	backoff := minBackoff
	seen := time.Now()
	wait := func(err error) bool {
		s.failed(err)
		closeConn()
		select {
		case <-ctx.Done():
			return false
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
		return true
	}
	// connected connects (with backoff) unless it is: false when ctx
	// ended first.
	connected := func() bool {
		for conn == nil {
			c, err := s.connect(ctx)
			if err != nil {
				if !wait(err) {
					return false
				}
				continue
			}
			conn = c
			clear(days) // partitions may have been dropped meanwhile
			s.reachable()
		}
		return true
	}
	// The sensor registers at once, and again every heartbeat while idle
	// (prd_sensors.seen_at).
	heartbeat := time.NewTicker(heartbeatEvery)
	defer heartbeat.Stop()
	var markTick <-chan time.Time
	if idle {
		t := time.NewTicker(markEvery)
		defer t.Stop()
		markTick = t.C
	}
	for {
		if !connected() {
			return
		}
		var j *job
		select {
		case j = <-jobs:
			if j == nil {
				return
			}
		case <-heartbeat.C:
			if time.Since(seen) >= heartbeatEvery {
				seen = time.Now()
				if err := s.register(ctx, conn); err != nil && ctx.Err() == nil {
					wait(err)
				}
			}
			continue
		case <-markTick:
			now := s.markNow()
			if s.out.Stats().Records == 0 {
				if _, err := conn.Exec(ctx, setThrough, s.cfg.Sensor, now); err != nil && ctx.Err() == nil {
					wait(err)
				}
			}
			continue
		}
		for {
			if !connected() {
				return
			}
			err := s.shipMarked(ctx, conn, j.recs, days, j.mark)
			if err == nil {
				backoff = minBackoff
				complete(j)
				break
			}
			if pgErr := (*pgconn.PgError)(nil); errors.As(err, &pgErr) && strings.HasPrefix(pgErr.Code, "22") {
				// PostgreSQL refuses the data itself (a data exception):
				// shipped again it would be refused again, and hold up
				// everything behind it. Dropped, counted, loudly.
				s.log.Error("fleet: PostgreSQL refused a batch's data: its records are dropped", "records", len(j.recs), "err", err)
				s.rejected.Add(uint64(len(j.recs)))
				complete(j)
				break
			}
			if ctx.Err() != nil || !wait(err) {
				return
			}
		}
		if time.Since(seen) >= heartbeatEvery {
			seen = time.Now()
			if err := s.register(ctx, conn); err != nil && ctx.Err() == nil {
				wait(err)
			}
		}
	}
}

// markEvery is how often an idle sensor's shipped-through mark moves to
// now (the hub asks a sensor whose mark the window passes).
const markEvery = time.Second

// heartbeatEvery is how often a connection renews the sensor's row
// (seen_at) while it ships or waits.
const heartbeatEvery = 10 * time.Second

// connect opens a connection, applies the schema, registers the sensor
// and makes the session's staging table.
func (s *Sensor) connect(ctx context.Context) (*pgx.Conn, error) {
	cc, err := s.cfg.connConfig()
	if err != nil {
		return nil, err
	}
	if cc.ConnectTimeout == 0 {
		cc.ConnectTimeout = 10 * time.Second
	}
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	setup := func() error {
		if err := ApplySchema(ctx, conn); err != nil {
			return fmt.Errorf("schema: %w", err)
		}
		if err := s.register(ctx, conn); err != nil {
			return err
		}
		if _, err := conn.Exec(ctx, `CREATE TEMP TABLE IF NOT EXISTS prd_flows_in (LIKE prd_flows) ON COMMIT DELETE ROWS`); err != nil {
			return fmt.Errorf("staging table: %w", err)
		}
		return nil
	}
	if err := setup(); err != nil {
		conn.Close(context.Background())
		return nil, err
	}
	return conn, nil
}

func (s *Sensor) register(ctx context.Context, conn *pgx.Conn) error {
	if _, err := conn.Exec(ctx, registerSensor, s.cfg.Sensor, s.cfg.URL, s.interfaceNames()); err != nil {
		return fmt.Errorf("register sensor: %w", err)
	}
	return nil
}

type flowKey struct {
	iface, cid string
	first      int64
}

// shipBatch commits one batch in one transaction: each flow's only
// record by plain COPY, the other flow records by COPY into the staging
// table and one upsert, segments by upserts.
func (s *Sensor) shipBatch(ctx context.Context, conn *pgx.Conn, batch []record, days map[time.Time]bool) error {
	return s.shipMarked(ctx, conn, batch, days, nil)
}

// PostgreSQL's SQLSTATEs that send a batch's plain COPY back through
// the upsert.
const (
	uniqueViolation  = "23505" // a key has a row already
	deadlockDetected = "40P01"
)

// plainFailed says err is why a batch's plain COPY must be redone
// through the upsert: a key it copied has a row already (the batch was
// committed before), or it deadlocked with another connection's batch
// (a flow's records misnamed first: the plain COPY and then the upsert
// are each in key order, the two together are not).
func plainFailed(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == uniqueViolation || pgErr.Code == deadlockDetected)
}

// shipment is a batch sorted for PostgreSQL.
type shipment struct {
	// plain are flows' only records (First and Ended, once in the
	// batch), by day and in key order: no row holds their keys unless
	// this batch was committed before, so they go by plain COPY into
	// their day's partition, without the staging table and the upsert.
	plain []*FlowRow
	// plain[plainEnds[i-1]:plainEnds[i]] are of the day plainDay[i].
	plainEnds []int
	plainDay  []time.Time
	// upsert are the other flow records: a row may hold their keys (an
	// active flow's earlier record, shipped in an earlier batch).
	upsert []*FlowRow
	segs   []*SegmentRow
	gaps   []GapRow
}

// plainDays calls fn with each day's run of plain.
func (m *shipment) plainDays(fn func(day time.Time, rows []*FlowRow) error) error {
	from := 0
	for i, end := range m.plainEnds {
		if err := fn(m.plainDay[i], m.plain[from:end]); err != nil {
			return err
		}
		from = end
	}
	return nil
}

// allUpserted moves plain's records to upsert.
func (m *shipment) allUpserted() {
	m.upsert = append(m.upsert, m.plain...)
	m.plain, m.plainEnds, m.plainDay = nil, nil, nil
}

// comparePlain orders plain records by day, then as the key's index
// (and the upsert) does: Community ID, interface, first packet.
func comparePlain(a, b *FlowRow) int {
	if c := cmp.Compare(dayNumber(a.FirstNS), dayNumber(b.FirstNS)); c != 0 {
		return c
	}
	if c := strings.Compare(a.CommunityID, b.CommunityID); c != 0 {
		return c
	}
	if c := strings.Compare(a.Interface, b.Interface); c != 0 {
		return c
	}
	return cmp.Compare(a.FirstNS, b.FirstNS)
}

// sortBatch sorts a batch's records into a shipment, making the days'
// partitions its flows need.
func sortBatch(ctx context.Context, conn *pgx.Conn, batch []record, days map[time.Time]bool) (*shipment, error) {
	// A flow's later record in the batch replaces its earlier one (one
	// upsert may not touch a row twice); a flow met twice is upserted.
	type entry struct {
		f     *FlowRow
		again bool
	}
	idx := make(map[flowKey]int, len(batch))
	flows := make([]entry, 0, len(batch))
	segIdx := map[string]int{}
	m := &shipment{}
	lastDay := int64(math.MinInt64) // the day last checked (batches are mostly of one day)
	for i := range batch {
		r := &batch[i]
		switch r.kind {
		case kindFlow:
			k := flowKey{r.flow.Interface, r.flow.CommunityID, r.flow.FirstNS}
			if j, ok := idx[k]; ok {
				flows[j] = entry{f: &r.flow, again: true}
				continue
			}
			idx[k] = len(flows)
			flows = append(flows, entry{f: &r.flow})
			if dn := dayNumber(r.flow.FirstNS); dn != lastDay {
				lastDay = dn
				if d := r.flow.Day(); !days[d] {
					if err := EnsurePartition(ctx, conn, d); err != nil {
						return nil, fmt.Errorf("partition %s: %w", PartitionName(d), err)
					}
					days[d] = true
				}
			}
		case kindSegment:
			if j, ok := segIdx[r.seg.Segment]; ok {
				old := m.segs[j]
				r.seg.Closed = r.seg.Closed || old.Closed
				if r.seg.DeletedNS == 0 {
					r.seg.DeletedNS = old.DeletedNS
				}
				if r.seg.Summary == nil {
					r.seg.Summary, r.seg.SummaryPairs = old.Summary, old.SummaryPairs
				}
				m.segs[j] = &r.seg
				continue
			}
			segIdx[r.seg.Segment] = len(m.segs)
			m.segs = append(m.segs, &r.seg)
		case kindGap:
			m.gaps = append(m.gaps, r.gap)
		}
	}
	var keys []plainKey
	for _, e := range flows {
		if e.f.First && e.f.Ended && !e.again {
			if keys == nil {
				keys = make([]plainKey, 0, len(flows))
			}
			keys = append(keys, plainKeyOf(e.f))
		} else {
			m.upsert = append(m.upsert, e.f)
		}
	}
	// In key order, as the upsert goes: the key's btree is written
	// page after page (PostgreSQL spends about a third less a record
	// than on rows in outbox order: fleetbench -statements), and two
	// connections lock keys in one order.
	slices.SortFunc(keys, func(a, b plainKey) int {
		if c := cmp.Compare(a.day, b.day); c != 0 {
			return c
		}
		if c := cmp.Compare(a.prefix, b.prefix); c != 0 {
			return c
		}
		return comparePlain(a.f, b.f)
	})
	if len(keys) > 0 {
		m.plain = make([]*FlowRow, len(keys))
		for i, k := range keys {
			m.plain[i] = k.f
			if i+1 == len(keys) || keys[i+1].day != k.day {
				m.plainEnds = append(m.plainEnds, i+1)
				m.plainDay = append(m.plainDay, k.f.Day())
			}
		}
	}
	return m, nil
}

// plainKey is what a plain record is sorted by, held together so that
// the sort mostly compares in one array, not through the records.
type plainKey struct {
	day    int64  // dayNumber of FirstNS
	prefix uint64 // the Community ID's first 8 bytes, big endian (zeros after a shorter one)
	f      *FlowRow
}

func plainKeyOf(f *FlowRow) plainKey {
	var b [8]byte
	copy(b[:], f.CommunityID)
	return plainKey{day: dayNumber(f.FirstNS), prefix: binary.BigEndian.Uint64(b[:]), f: f}
}

// shipMarked is shipBatch that also moves the sensor's shipped-through
// mark to mark() (when not 0) in the same transaction.
func (s *Sensor) shipMarked(ctx context.Context, conn *pgx.Conn, batch []record, days map[time.Time]bool, mark func() int64) error {
	ctx, cancel := context.WithTimeout(ctx, shipTimeout)
	defer cancel()
	m, err := sortBatch(ctx, conn, batch, days)
	if err != nil {
		return err
	}
	err = s.shipTx(ctx, conn, m, mark)
	if n := len(m.plain); n > 0 && plainFailed(err) {
		// A flow's only record has a row already: this batch was
		// committed before (its acknowledgement lost, or the outbox
		// replayed after a restart). The transaction is rolled back;
		// the batch is redone through the upsert, which never moves a
		// row backwards.
		s.log.Debug("fleet: a batch's plain COPY is redone through the upsert", "records", len(batch), "plain", n, "err", err)
		m.allUpserted()
		err = s.shipTx(ctx, conn, m, mark)
	}
	return err
}

// shipTx commits a shipment in one transaction.
func (s *Sensor) shipTx(ctx context.Context, conn *pgx.Conn, m *shipment, mark func() int64) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.Background())
	if err := m.plainDays(func(day time.Time, rows []*FlowRow) error {
		return s.copyFlows(ctx, tx, PartitionName(day), rows, day)
	}); err != nil {
		return err
	}
	if len(m.upsert) > 0 {
		if err := s.copyFlows(ctx, tx, "prd_flows_in", m.upsert, time.Time{}); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, UpsertFlows); err != nil {
			return fmt.Errorf("upsert flows: %w", err)
		}
	}
	if len(m.segs) > 0 {
		segs := m.segs
		sort.Slice(segs, func(i, j int) bool { return segs[i].Segment < segs[j].Segment }) // one lock order
		b := &pgx.Batch{}
		for _, g := range segs {
			var deleted any
			if g.DeletedNS != 0 {
				deleted = time.Unix(0, g.DeletedNS).UTC()
			}
			var sum, pairs any
			if g.Summary != nil {
				sum, pairs = g.Summary, g.SummaryPairs
			}
			b.Queue(upsertSegment, s.cfg.Sensor, g.Interface, g.Segment, g.FirstNS, g.LastNS, g.Packets, g.Bytes, g.Closed, deleted, sum, pairs)
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("upsert segments: %w", err)
		}
	}
	for _, g := range m.gaps {
		if _, err := tx.Exec(ctx, insertGap, s.cfg.Sensor, g.FromNS, g.UntilNS, g.Records); err != nil {
			return fmt.Errorf("record a drop gap: %w", err)
		}
	}
	if mark != nil {
		if v := mark(); v > 0 {
			if _, err := tx.Exec(ctx, setThrough, s.cfg.Sensor, v); err != nil {
				return fmt.Errorf("shipped-through mark: %w", err)
			}
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// CopyValues are f's columns (FlowColumns) as COPY sends them for
// sensor; day is f's day, or zero to compute it.
func (f *FlowRow) CopyValues(sensor string, day time.Time) []any {
	if day.IsZero() {
		day = f.Day()
	}
	return []any{sensor, f.Interface, day, f.FirstNS, f.LastNS, f.CommunityID, int16(f.Proto), f.Src, int32(f.SPort), f.Dst, int32(f.DPort),
		int64(f.Packets[0]), int64(f.Packets[1]), int64(f.Bytes[0]), int64(f.Bytes[1]), int64(f.StoredPackets), int64(f.StoredBytes),
		int16(f.TCPFlags), f.Cut, f.Ended}
}

// copyFlows copies rows into table: a day's partition of prd_flows
// (day, every row's), or the staging table (day zero: each row's own).
func (s *Sensor) copyFlows(ctx context.Context, tx pgx.Tx, table string, flows []*FlowRow, day time.Time) error {
	n, err := tx.CopyFrom(ctx, pgx.Identifier{table}, FlowColumns, pgx.CopyFromSlice(len(flows), func(i int) ([]any, error) {
		return flows[i].CopyValues(s.cfg.Sensor, day), nil
	}))
	if err != nil {
		return fmt.Errorf("copy flows: %w", err)
	}
	if n != int64(len(flows)) {
		return fmt.Errorf("copy flows: %d of %d rows", n, len(flows))
	}
	return nil
}
