-- packetrecorderd's fleet schema: what sensors ship to PostgreSQL, what the
-- hub reads. Applied by every sensor's shipper when it connects; each
-- statement is idempotent. The day partitions of prd_flows
-- (prd_flows_YYYYMMDD) are created by the shipper before it writes a day.
CREATE TABLE IF NOT EXISTS prd_sensors (
  sensor     text PRIMARY KEY,
  url        text NOT NULL,                 -- how the hub reaches this sensor's API (fleet.url)
  interfaces text[] NOT NULL DEFAULT '{}',  -- its interface names, index i = interface index i
  seen_at    timestamptz NOT NULL DEFAULT now()
);
-- flows_through_ns: every flow record and segment summary the sensor
-- queued before this time (ns since the epoch) is in PostgreSQL; set in
-- the transaction of each batch, and to now while its outbox is empty.
-- The hub asks a sensor whenever a query's window reaches past it.
ALTER TABLE prd_sensors ADD COLUMN IF NOT EXISTS flows_through_ns bigint;
CREATE TABLE IF NOT EXISTS prd_segments (
  sensor     text NOT NULL,
  interface  text NOT NULL,
  segment    text NOT NULL,                 -- the segment's file name in the sensor's store
  first_ns   bigint NOT NULL,
  last_ns    bigint NOT NULL,
  packets    bigint NOT NULL,
  bytes      bigint NOT NULL,
  closed     boolean NOT NULL DEFAULT false,
  deleted_at timestamptz,                   -- set when the sensor's retention deletes it
  PRIMARY KEY (sensor, segment)
);
-- summary: a closed segment's summary as the sensor's catalog holds it
-- (segment_summaries.sketch, an index.Sketch of the terms of its packets;
-- summary_pairs its pairs flag); NULL when the sensor has none. The hub
-- asks a sensor for packets only where a summary may hold a match, or a
-- segment has none (or is open).
ALTER TABLE prd_segments ADD COLUMN IF NOT EXISTS summary bytea;
ALTER TABLE prd_segments ADD COLUMN IF NOT EXISTS summary_pairs boolean;
-- A span of records (flow records, segment summaries of packets from
-- from_ns to until_ns) that the sensor's outbox dropped because it was
-- full: the hub names the sensor missing from flows of windows that
-- overlap it, and asks it for packets of those windows.
CREATE TABLE IF NOT EXISTS prd_gaps (
  sensor   text NOT NULL,
  from_ns  bigint NOT NULL,
  until_ns bigint NOT NULL,
  records  bigint NOT NULL,
  noted_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (sensor, from_ns, until_ns)
);
CREATE TABLE IF NOT EXISTS prd_flows (
  sensor         text NOT NULL,
  interface      text NOT NULL,
  day            date NOT NULL,             -- UTC day of first_ns: the partition key
  first_ns       bigint NOT NULL,
  last_ns        bigint NOT NULL,
  community_id   text NOT NULL,
  proto          smallint NOT NULL,
  src            inet NOT NULL, sport integer NOT NULL,   -- initiator
  dst            inet NOT NULL, dport integer NOT NULL,   -- responder
  packets_fwd    bigint NOT NULL, packets_rev bigint NOT NULL,
  bytes_fwd      bigint NOT NULL, bytes_rev   bigint NOT NULL,
  stored_packets bigint NOT NULL, stored_bytes bigint NOT NULL,
  tcp_flags      smallint NOT NULL,
  cut            boolean NOT NULL,
  ended          boolean NOT NULL,
  -- community_id leads the key so that the key's index also serves the
  -- hub's lookups by Community ID alone (no index of its own).
  PRIMARY KEY (community_id, sensor, interface, first_ns, day)
) PARTITION BY RANGE (day);
-- Migration of a database made before the key was led by community_id
-- (it was (sensor, interface, community_id, first_ns, day), with btree
-- indexes on community_id and first_ns in each partition): the key is
-- rebuilt in that order, once; each partition's community_id index is
-- dropped and its first_ns btree replaced by a BRIN index, as the
-- shipper makes new partitions.
DO $$
DECLARE
  part text;
BEGIN
  IF (SELECT array_agg(a.attname::text ORDER BY k.ord)
        FROM pg_constraint c
        CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord)
        JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
       WHERE c.conrelid = 'prd_flows'::regclass AND c.contype = 'p')
     IS DISTINCT FROM ARRAY['community_id', 'sensor', 'interface', 'first_ns', 'day'] THEN
    ALTER TABLE prd_flows DROP CONSTRAINT IF EXISTS prd_flows_pkey;
    ALTER TABLE prd_flows ADD CONSTRAINT prd_flows_pkey PRIMARY KEY (community_id, sensor, interface, first_ns, day);
    FOR part IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                 WHERE i.inhparent = 'prd_flows'::regclass LOOP
      EXECUTE format('DROP INDEX IF EXISTS %I', part || '_community_id');
      EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %I USING brin (first_ns)', part || '_first_ns_brin', part);
      EXECUTE format('DROP INDEX IF EXISTS %I', part || '_first_ns');
    END LOOP;
  END IF;
END $$;
