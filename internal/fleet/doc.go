// Package fleet is a sensor's side of a fleet: it ships the daemon's
// flow records and segment summaries to PostgreSQL, where a hub reads
// them, through a durable outbox on the sensor's own disk.
//
// Data flows in three steps, each owned by one goroutine or lock:
//
//	recorder writer goroutines --Sensor.Flow / Sensor.Segment--> records
//	    framed in memory (never blocking: a full outbox drops and counts)
//	Outbox.Run --every 50 ms--> appended to STORE/outbox/*.rec and fsync'd
//	shipper --Outbox.Next--> one transaction per batch: flows' only
//	    records (first and final) by plain COPY into their day's
//	    partition, the other flow records by COPY into a session's
//	    staging table and INSERT ... ON CONFLICT DO UPDATE into
//	    prd_flows (and upserts into prd_segments), COMMIT --> Outbox.Ack;
//	    files whose records are all acknowledged are deleted
//
// A record leaves the outbox only after PostgreSQL committed it. One
// that is shipped again (the connection broke after the commit, or the
// daemon restarted before it saved the acknowledgement) replaces its
// earlier copy: a flow's row is keyed by (sensor, interface, community
// ID, first packet's time, day), so nothing is duplicated, and an
// active flow's later records replace its earlier ones. A batch whose
// plain COPY meets a row (it was committed before) is rolled back and
// redone through the upsert.
//
// The schema (schema.sql) is this package's: the shipper applies it at
// each connection and creates prd_flows' day partitions (prd_flows_YYYYMMDD)
// before it writes a day. A partition has three indexes besides its
// key (community_id, sensor, interface, first_ns, day), which is led by
// community_id so that it serves lookups by Community ID too: btrees on
// src and on dst, and a BRIN index on first_ns (flows arrive nearly in
// time order). None of their columns changes when an active flow's row
// is updated. Retention drops whole partitions.
package fleet
