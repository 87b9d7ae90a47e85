package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/packetrecorderd/packetrecorderd/internal/fleet"
)

// statements times, in PostgreSQL's own backend (the CPU time of the
// connection's server process, /proc/PID/stat), what one flow record
// costs on each way in: n records a variant, in batches of batch rows,
// one transaction each, into a table of their own (new keys).
//
//   - copy-partition: plain COPY into the day's partition (the only
//     record's path)
//   - the same in key order (each batch's rows sorted by Community ID)
//   - copy-parent: plain COPY into prd_flows, routed to the partition
//   - staged-upsert: COPY into the staging table, then the upsert (every
//     record's path before; still the path of active flows' records)
//   - the same plain COPY with synchronous_commit off
//   - plain COPY into a table like a partition with fewer indexes: none,
//     the key only, the key and src/dst, all four (the marginal cost of
//     each index); the key only led by first_ns (rows come nearly in
//     time order: inserts at the index's right edge); and the key only with its text columns in an ICU
//     collation (a database whose default collation is not C: the
//     private cluster's is C)
func statements(dsn string, n, batch int) error {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if err := fleet.ApplySchema(ctx, conn); err != nil {
		return err
	}
	var pid int
	if err := conn.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, `SET temp_buffers = '64MB'; SET work_mem = '64MB';
		CREATE TEMP TABLE prd_flows_in (LIKE prd_flows) ON COMMIT DELETE ROWS`); err != nil {
		return err
	}
	day := 0
	// fresh is a new day partition (its own keys) and its rows.
	fresh := func() (string, []fleet.FlowRow) {
		day++
		d := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, day)
		if err := fleet.EnsurePartition(ctx, conn, d); err != nil {
			panic(err)
		}
		rs := rows(n)
		off := d.UnixNano() - rs[0].FirstNS + int64(time.Hour)
		for i := range rs {
			rs[i].FirstNS += off
			rs[i].LastNS += off
		}
		return fleet.PartitionName(d), rs
	}
	copyRows := func(table string, rs []fleet.FlowRow) error {
		_, err := conn.CopyFrom(ctx, pgx.Identifier{table}, fleet.FlowColumns, pgx.CopyFromSlice(len(rs), func(i int) ([]any, error) {
			return rs[i].CopyValues("bench", time.Time{}), nil
		}))
		return err
	}
	run := func(name string, rs []fleet.FlowRow, each func(tx []fleet.FlowRow) error) error {
		c0, t0 := backendCPU(pid), time.Now()
		for i := 0; i < len(rs); i += batch {
			if _, err := conn.Exec(ctx, "BEGIN"); err != nil {
				return err
			}
			if err := each(rs[i:min(i+batch, len(rs))]); err != nil {
				conn.Exec(ctx, "ROLLBACK")
				return fmt.Errorf("%s: %w", name, err)
			}
			if _, err := conn.Exec(ctx, "COMMIT"); err != nil {
				return err
			}
		}
		cpu, took := backendCPU(pid)-c0, time.Since(t0)
		fmt.Printf("statements: %-40s %6.2f µs a record of the backend's CPU, %6.0f records/s\n", name, float64(cpu.Microseconds())/float64(len(rs)), float64(len(rs))/took.Seconds())
		return nil
	}
	part, rs := fresh()
	if err := run("copy-partition (4 indexes)", rs, func(b []fleet.FlowRow) error { return copyRows(part, b) }); err != nil {
		return err
	}
	part, rs = fresh()
	for i := 0; i < len(rs); i += batch {
		slices.SortFunc(rs[i:min(i+batch, len(rs))], func(a, b fleet.FlowRow) int { return strings.Compare(a.CommunityID, b.CommunityID) })
	}
	if err := run("copy-partition, in key order", rs, func(b []fleet.FlowRow) error { return copyRows(part, b) }); err != nil {
		return err
	}
	_, rs = fresh()
	if err := run("copy-parent (routed)", rs, func(b []fleet.FlowRow) error { return copyRows("prd_flows", b) }); err != nil {
		return err
	}
	_, rs = fresh()
	if err := run("staged-upsert (before)", rs, func(b []fleet.FlowRow) error {
		if err := copyRows("prd_flows_in", b); err != nil {
			return err
		}
		_, err := conn.Exec(ctx, fleet.UpsertFlows)
		return err
	}); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, `SET synchronous_commit = off`); err != nil {
		return err
	}
	part, rs = fresh()
	if err := run("copy-partition, synchronous_commit off", rs, func(b []fleet.FlowRow) error { return copyRows(part, b) }); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, `RESET synchronous_commit`); err != nil {
		return err
	}
	for _, v := range []struct{ name, ddl string }{
		{"copy, no index", ``},
		{"copy, the key only", `ALTER TABLE fb_t ADD PRIMARY KEY (community_id, sensor, interface, first_ns, day)`},
		{"copy, the key only, led by first_ns", `ALTER TABLE fb_t ADD PRIMARY KEY (first_ns, community_id, sensor, interface, day)`},
		{"copy, the key only, ICU collation", `ALTER TABLE fb_t ALTER COLUMN community_id TYPE text COLLATE "und-x-icu", ALTER COLUMN sensor TYPE text COLLATE "und-x-icu",
			ALTER COLUMN interface TYPE text COLLATE "und-x-icu"; ALTER TABLE fb_t ADD PRIMARY KEY (community_id, sensor, interface, first_ns, day)`},
		{"copy, the key + src + dst", `ALTER TABLE fb_t ADD PRIMARY KEY (community_id, sensor, interface, first_ns, day);
			CREATE INDEX ON fb_t (src); CREATE INDEX ON fb_t (dst)`},
		{"copy, the key + src + dst + BRIN", `ALTER TABLE fb_t ADD PRIMARY KEY (community_id, sensor, interface, first_ns, day);
			CREATE INDEX ON fb_t (src); CREATE INDEX ON fb_t (dst); CREATE INDEX ON fb_t USING brin (first_ns)`},
	} {
		if _, err := conn.Exec(ctx, `DROP TABLE IF EXISTS fb_t; CREATE TABLE fb_t (LIKE prd_flows); `+v.ddl); err != nil {
			return err
		}
		_, rs = fresh()
		if err := run(v.name, rs, func(b []fleet.FlowRow) error { return copyRows("fb_t", b) }); err != nil {
			return err
		}
	}
	_, err = conn.Exec(ctx, `DROP TABLE IF EXISTS fb_t`)
	return err
}

// backendCPU is a process's CPU time, user and system.
func backendCPU(pid int) time.Duration {
	_, cpu, _ := procStat(pid)
	return cpu
}
