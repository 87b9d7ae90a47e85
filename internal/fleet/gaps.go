package fleet

import (
	"context"
	"fmt"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// Drop gaps: when the outbox is full, the records it refuses are lost to
// PostgreSQL. So that no reader mistakes what arrived for the whole, the
// sensor remembers the span of packet times the dropped records covered
// and, once the outbox has room again, queues one gap record (kindGap)
// that the shipper inserts into prd_gaps. Until that record is queued,
// the shipped-through mark stays before the first drop: the hub goes on
// asking the sensor (its outbox is behind) rather than trusting rows
// that lack what was dropped.

// gapState is the Sensor's record of a drop gap not yet queued.
type gapState struct {
	gapMu  sync.Mutex
	gap    GapRow
	gapAt  atomic.Int64 // wall time (ns) of the gap's first drop, 0: none pending
	gapOwe atomic.Bool  // a gap waits to be queued
}

// noteGap counts a record of packet times [from, until] that the outbox
// refused.
func (s *Sensor) noteGap(from, until int64) {
	s.gapMu.Lock()
	defer s.gapMu.Unlock()
	if s.gap.Records == 0 {
		s.gap = GapRow{FromNS: from, UntilNS: until}
		s.gapAt.Store(time.Now().UnixNano())
	}
	s.gap.FromNS, s.gap.UntilNS = min(s.gap.FromNS, from), max(s.gap.UntilNS, until)
	s.gap.Records++
	s.gapOwe.Store(true)
}

// flushGap queues the pending gap's record when the outbox takes it.
func (s *Sensor) flushGap() {
	if !s.gapOwe.Load() {
		return
	}
	s.gapMu.Lock()
	defer s.gapMu.Unlock()
	if s.gap.Records == 0 {
		return
	}
	if !s.out.appendRecord(kindGap, encodeGap(nil, &s.gap)) {
		return // still full: the gap grows on
	}
	s.gap = GapRow{}
	s.gapAt.Store(0)
	s.gapOwe.Store(false)
}

// markNow is the time the shipped-through mark may say now: never past a
// drop whose gap record is not yet queued.
func (s *Sensor) markNow() int64 {
	now := time.Now().UnixNano()
	if at := s.gapAt.Load(); at != 0 {
		return min(now, at-1)
	}
	return now
}

// Pruning: prd_gaps would grow by a row each time the outbox fills, for
// ever. A gap is deleted once no reader can need it (PruneGaps); each
// sensor prunes its own, while its outbox is empty.

// PruneGaps deletes the drop gaps of sensor that no reader of the fleet
// can need any more, and says how many it deleted. A gap serves the hub
// twice: a flow listing of a window that overlaps it names the sensor
// missing (flow records of the gap's packet times never reached
// prd_flows), and a packet query of such a window asks the sensor
// whatever prd_segments says (the rows of its segments, or their later
// extents, may be among what was dropped). So a gap goes only when both
// are moot:
//
//   - No flow it lost could be listed: a record dropped for a flow began
//     by the gap's until_ns, so the flow's day partition is until_ns's
//     day or an earlier one; once every such partition is gone (the
//     oldest partition of prd_flows, by its lower bound, begins after
//     until_ns), the lost flow would be gone too, had it been shipped,
//     and no listing of the gap's window can hold a flow of its packet
//     times. While nothing drops partitions (nothing in packetrecorderd
//     does: an operator's DROP TABLE does), no gap goes: the flows of its
//     window stay listed, and their listing must go on naming the sensor.
//     A DEFAULT partition, or a bound that does not read as a day, keeps
//     every gap; so does a prd_flows with no partition.
//   - The sensor can hold no packet of it that its rows do not describe:
//     none of its segments that holds packets and is not deleted begins
//     by until_ns (such a segment's row may stop short of what it holds),
//     and its retention has deleted a segment with packets that begins
//     after until_ns (retention deletes the oldest data first, so the
//     segments of the gap's time were deleted with or before it, and the
//     sensor shipped their deletion).
//
// What this leaves: a segment of the gap's time that the sensor still
// keeps out of retention's order (a hold, or one still open on a quiet
// interface) and of which the full outbox dropped every record, from its
// opening to its closing: PostgreSQL never heard of it, and once the gap
// goes the hub no longer asks the sensor for that window's packets.
func PruneGaps(ctx context.Context, conn *pgx.Conn, sensor string) (int64, error) {
	oldest, ok, err := oldestPartition(ctx, conn)
	if err != nil || !ok {
		return 0, err
	}
	tag, err := conn.Exec(ctx, `DELETE FROM prd_gaps g WHERE g.sensor = $1 AND g.until_ns < $2
		AND NOT EXISTS (SELECT 1 FROM prd_segments s WHERE s.sensor = $1 AND s.packets > 0 AND s.deleted_at IS NULL AND s.first_ns <= g.until_ns)
		AND EXISTS (SELECT 1 FROM prd_segments s WHERE s.sensor = $1 AND s.packets > 0 AND s.deleted_at IS NOT NULL AND s.first_ns > g.until_ns)`,
		sensor, oldest.UnixNano())
	if err != nil {
		return 0, fmt.Errorf("prune drop gaps: %w", err)
	}
	return tag.RowsAffected(), nil
}

// partitionFrom reads the lower bound of a day partition of prd_flows.
var partitionFrom = regexp.MustCompile(`^FOR VALUES FROM \('(\d{4}-\d{2}-\d{2})'\) TO `)

// oldestPartition is the start of prd_flows' oldest day partition (ok
// false: none, or one whose bound is not a day).
func oldestPartition(ctx context.Context, conn *pgx.Conn) (time.Time, bool, error) {
	rows, err := conn.Query(ctx, `SELECT pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'prd_flows'::regclass`)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("prd_flows partitions: %w", err)
	}
	bounds, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return time.Time{}, false, fmt.Errorf("prd_flows partitions: %w", err)
	}
	var oldest time.Time
	for _, b := range bounds {
		m := partitionFrom.FindStringSubmatch(b)
		if m == nil {
			return time.Time{}, false, nil // DEFAULT, or not ours: it may hold any day
		}
		day, err := time.Parse("2006-01-02", m[1])
		if err != nil {
			return time.Time{}, false, nil
		}
		if oldest.IsZero() || day.Before(oldest) {
			oldest = day
		}
	}
	return oldest, !oldest.IsZero(), nil
}

// Pruning's schedule: a turn soon after the shipper starts, then every
// pruneGapsEvery; within a turn, the outbox is looked at every
// pruneGapsPoll.
const (
	pruneGapsPoll  = 2 * time.Second
	pruneGapsEvery = 10 * time.Minute
)

// pruneGaps prunes the sensor's drop gaps (PruneGaps) on a connection of
// its own, until ctx ends. Each turn waits until every record queued
// when it began is in PostgreSQL (the segments' deletions among them),
// so that the rows say at least what the sensor said then. A failure
// waits for the next turn: the shipper reports an unreachable
// PostgreSQL.
func (s *Sensor) pruneGaps(ctx context.Context) {
	t := time.NewTimer(pruneGapsPoll)
	defer t.Stop()
	var wait uint64 // the last record of the turn's start; 0: no turn begun
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.out.mu.Lock()
		last, acked := s.out.nextSeq-1, s.out.acked
		s.out.mu.Unlock()
		if wait == 0 {
			wait = max(last, 1)
		}
		if acked < wait && last >= wait {
			t.Reset(pruneGapsPoll)
			continue
		}
		wait = 0
		t.Reset(pruneGapsEvery)
		n, err := s.pruneGapsOnce(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.Debug("fleet: prune drop gaps", "err", err)
		}
		if n > 0 {
			s.log.Info("fleet: deleted drop gaps no reader needs any more", "gaps", n)
		}
	}
}

func (s *Sensor) pruneGapsOnce(ctx context.Context) (int64, error) {
	cc, err := s.cfg.connConfig()
	if err != nil {
		return 0, err
	}
	if cc.ConnectTimeout == 0 {
		cc.ConnectTimeout = 10 * time.Second
	}
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return 0, fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.Background())
	return PruneGaps(ctx, conn, s.cfg.Sensor)
}
