package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/packetrecorderd/packetrecorderd/internal/archive"
	"github.com/packetrecorderd/packetrecorderd/internal/fleet"
	"github.com/packetrecorderd/packetrecorderd/internal/recorder"
)

// FleetConfig is the configuration's fleet block: this sensor's flow
// records and segment summaries go to PostgreSQL (package fleet).
//
//	fleet:
//	  sensor: dc1-uplink                  # unique in the fleet
//	  postgres: "postgres://prd@db1/fleet"
//	  url: https://sensor1:7474           # how the hub reaches this API
//	  postgres_password_file: /etc/packetrecorder/pg-password  # else PGPASSFILE
//	  outbox_max: 256MiB                  # the outbox's bound on the store's disk
type FleetConfig struct {
	fleet.Config `yaml:",inline"`
	OutboxMax    Size `yaml:"outbox_max"`
}

// validateFleet checks the fleet block, each mistake naming its key.
func (c *Config) validateFleet() []error {
	if c.Fleet == nil {
		return nil
	}
	fc := c.Fleet.Config
	fc.OutboxMax = int64(c.Fleet.OutboxMax)
	var errs []error
	for _, p := range fc.Problems() {
		errs = append(errs, c.errorf("fleet."+p.Key, "%s", p.Msg))
	}
	return errs
}

// fleetConfig is the fleet package's configuration, nil without a fleet
// block.
func (c *Config) fleetConfig() *fleet.Config {
	if c.Fleet == nil {
		return nil
	}
	fc := c.Fleet.Config
	fc.OutboxMax = int64(c.Fleet.OutboxMax)
	return &fc
}

// fleetRun is the daemon's fleet shipping: the sensor and its run.
type fleetRun struct {
	s    *fleet.Sensor
	stop context.CancelFunc
	done chan struct{}
	// closed are segments just closed, whose summaries the summaries
	// goroutine reads from the catalog and queues with their rows.
	closed chan archive.Segment
	// stopSums ends the summaries goroutine once it has queued what
	// waits (the recordings have stopped: the catalog has it all);
	// sumsDone is closed when it has.
	stopSums context.CancelFunc
	sumsDone chan struct{}
}

// startFleet opens the outbox and starts shipping, when the
// configuration has a fleet block.
func (d *Daemon) startFleet() error {
	fc := d.cfg.fleetConfig()
	if fc == nil {
		return nil
	}
	s, err := fleet.NewSensor(*fc, d.storeDir, d.fleetInterfaces(d.cfg), d.log.With("fleet", fc.Sensor))
	if err != nil {
		return fmt.Errorf("fleet: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	sumCtx, stopSums := context.WithCancel(context.Background())
	f := &fleetRun{s: s, stop: cancel, done: make(chan struct{}), closed: make(chan archive.Segment, 256),
		stopSums: stopSums, sumsDone: make(chan struct{})}
	go func() {
		defer close(f.sumsDone)
		fleetSummaries(sumCtx, d.storeDir, s, f.closed, d.log)
	}()
	go func() {
		defer close(f.done)
		s.Run(ctx)
	}()
	d.fleetMu.Lock()
	d.fleet = f
	d.fleetMu.Unlock()
	d.log.Info("fleet: shipping flow records", "sensor", fc.Sensor, "outbox_max", s.Stats().OutboxMax)
	return nil
}

// stopFleet ends shipping, after the recordings have stopped (their last
// flow records are in the outbox): what is not shipped waits there for
// the next start.
func (d *Daemon) stopFleet() {
	d.fleetMu.Lock()
	f := d.fleet
	d.fleetMu.Unlock()
	if f == nil {
		return
	}
	// The last segments' summaries go to the outbox before it stops.
	f.stopSums()
	<-f.sumsDone
	f.stop()
	<-f.done
}

func (d *Daemon) fleetSensor() *fleet.Sensor {
	d.fleetMu.Lock()
	defer d.fleetMu.Unlock()
	if d.fleet == nil {
		return nil
	}
	return d.fleet.s
}

func (d *Daemon) fleetInterfaces(c *Config) []string {
	names := make([]string, len(c.Interfaces))
	for i, it := range c.Interfaces {
		names[i] = it.Name
	}
	return names
}

// fleetFlows is the recorder's Flows callback of the interface iface,
// nil without a fleet: each record goes to the outbox.
func (d *Daemon) fleetFlows(iface string) func(recorder.FlowRecord) {
	s := d.fleetSensor()
	if s == nil {
		return nil
	}
	return func(r recorder.FlowRecord) {
		row := fleet.FlowRowOf(iface, r.Flow, r.Final)
		s.Flow(&row)
	}
}

// fleetSegment is a recording's Catalogued callback, nil without a fleet.
func (d *Daemon) fleetSegment() func(archive.Segment) {
	s := d.fleetSensor()
	if s == nil {
		return nil
	}
	d.fleetMu.Lock()
	closed := d.fleet.closed
	d.fleetMu.Unlock()
	return func(g archive.Segment) {
		s.Segment(segmentRow(g, 0))
		if g.Closed {
			select {
			case closed <- g: // its summary follows, once the catalog has it
			default: // the row stands without one: the hub asks the sensor whenever it overlaps
			}
		}
	}
}

// fleetSummaries queues each closed segment's row again with its
// summary, as the catalog holds it (segment_summaries): the recording
// writes the summary in the transaction that closes the segment, right
// after its Catalogued callback, so it is read a few times until it is
// there. A segment without one keeps its row without a summary (the
// hub then asks this sensor whenever the segment overlaps a window).
func fleetSummaries(ctx context.Context, dir string, s *fleet.Sensor, closed <-chan archive.Segment, log *slog.Logger) {
	var a *archive.Archive // its own: an Archive is one goroutine's
	defer func() {
		if a != nil {
			a.Close()
		}
	}()
	for {
		var g archive.Segment
		select {
		case g = <-closed:
		case <-ctx.Done():
			// Stopping: the recordings have stopped, and the catalog
			// holds the summaries of the segments they closed.
			select {
			case g = <-closed:
			default:
				return
			}
		}
		if a == nil {
			var err error
			if a, err = archive.Open(dir, archive.Options{ReadOnly: true, Logger: log}); err != nil {
				log.Warn("fleet: open the catalog for segment summaries", "err", err)
				a = nil
				continue
			}
		}
		for try := 0; try < summaryTries; try++ {
			sum, err := a.SummaryBlob(g)
			if err == nil {
				row := segmentRow(g, 0)
				row.Summary, row.SummaryPairs = sum.Sketch, sum.Pairs
				s.Segment(row)
				break
			}
			if ctx.Err() != nil {
				break // stopping: one look each
			}
			time.Sleep(summaryWait)
		}
	}
}

// How often, and how far apart, a closed segment's summary is looked
// for in the catalog.
const (
	summaryTries = 10
	summaryWait  = 200 * time.Millisecond
)

// fleetDeleted tells PostgreSQL that retention deleted a segment.
func (d *Daemon) fleetDeleted(g archive.Segment) {
	if s := d.fleetSensor(); s != nil && g.Packets > 0 {
		s.Segment(segmentRow(g, time.Now().UnixNano()))
	}
}

func segmentRow(g archive.Segment, deleted int64) fleet.SegmentRow {
	return fleet.SegmentRow{Interface: g.Interface, Segment: g.File, FirstNS: g.MinNS, LastNS: g.MaxNS, Packets: g.Packets,
		Bytes: g.Bytes, Closed: g.Closed || deleted != 0, DeletedNS: deleted}
}

// reloadFleet checks a reload's fleet block: it can change only with a
// restart (the outbox and the connection are the daemon's); the
// interfaces registered follow the configuration.
func (d *Daemon) reloadFleet(old, c *Config) error {
	if !reflect.DeepEqual(old.fleetConfig(), c.fleetConfig()) {
		return fmt.Errorf("fleet: changing the fleet block needs a restart")
	}
	if s := d.fleetSensor(); s != nil {
		s.SetInterfaces(d.fleetInterfaces(c))
	}
	return nil
}

// FleetStatus is the fleet's part of GET /api/v1/status (absent without
// a fleet block).
type FleetStatus struct {
	Sensor        string `json:"sensor"`
	Connected     bool   `json:"connected"`
	OutboxBytes   int64  `json:"outbox_bytes"`
	OutboxRecords int64  `json:"outbox_records"`
	OutboxMax     int64  `json:"outbox_max_bytes"`
	// Shipped counts records PostgreSQL committed; Dropped those refused
	// because the outbox was full.
	Shipped       uint64     `json:"shipped_records"`
	Dropped       uint64     `json:"dropped_records"`
	LastError     string     `json:"last_error,omitempty"`
	LastErrorAt   *time.Time `json:"last_error_at,omitempty"`
	LastSuccessAt *time.Time `json:"last_success_at,omitempty"`
	// OutboxWriteError is the store disk's error while the outbox cannot
	// be written (records wait in memory).
	OutboxWriteError string `json:"outbox_write_error,omitempty"`
}

func (d *Daemon) fleetStatus() *FleetStatus {
	s := d.fleetSensor()
	if s == nil {
		return nil
	}
	st := s.Stats()
	fs := &FleetStatus{Sensor: st.Sensor, Connected: st.Connected, OutboxBytes: st.OutboxBytes, OutboxRecords: st.OutboxRecords,
		OutboxMax: st.OutboxMax, Shipped: st.Shipped, Dropped: st.Dropped, LastError: st.LastError, OutboxWriteError: st.OutboxWriteErr}
	if !st.LastErrorAt.IsZero() {
		t := st.LastErrorAt.UTC()
		fs.LastErrorAt = &t
	}
	if !st.LastSuccessAt.IsZero() {
		t := st.LastSuccessAt.UTC()
		fs.LastSuccessAt = &t
	}
	return fs
}

var (
	descFleetOutboxBytes = prometheus.NewDesc("packetrecorder_fleet_outbox_bytes",
		"Bytes in the fleet outbox (records not yet committed by PostgreSQL), on disk and waiting for it.", nil, nil)
	descFleetOutboxRecords = prometheus.NewDesc("packetrecorder_fleet_outbox_records",
		"Records in the fleet outbox not yet committed by PostgreSQL.", nil, nil)
	descFleetOutboxMax = prometheus.NewDesc("packetrecorder_fleet_outbox_max_bytes",
		"The fleet outbox's bound (fleet.outbox_max): beyond it records are dropped.", nil, nil)
	descFleetShipped = prometheus.NewDesc("packetrecorder_fleet_shipped_records_total",
		"Flow records and segment summaries PostgreSQL committed.", nil, nil)
	descFleetDropped = prometheus.NewDesc("packetrecorder_fleet_dropped_records_total",
		"Records dropped because the fleet outbox was full.", nil, nil)
	descFleetUp = prometheus.NewDesc("packetrecorder_fleet_connected",
		"1 while the last attempt to ship to PostgreSQL succeeded.", nil, nil)
	descFleetLastSuccess = prometheus.NewDesc("packetrecorder_fleet_last_success_timestamp_seconds",
		"When PostgreSQL last committed a batch.", nil, nil)
	descFleetLastError = prometheus.NewDesc("packetrecorder_fleet_last_error_timestamp_seconds",
		"When shipping to PostgreSQL last failed.", nil, nil)
)

// fleetCollector adds the fleet's metrics to the daemon's registry.
type fleetCollector struct{ d *Daemon }

func (c fleetCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descFleetOutboxBytes, descFleetOutboxRecords, descFleetOutboxMax, descFleetShipped, descFleetDropped,
		descFleetUp, descFleetLastSuccess, descFleetLastError} {
		ch <- d
	}
}

func (c fleetCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.d.fleetSensor()
	if s == nil {
		return
	}
	st := s.Stats()
	ch <- prometheus.MustNewConstMetric(descFleetOutboxBytes, prometheus.GaugeValue, float64(st.OutboxBytes))
	ch <- prometheus.MustNewConstMetric(descFleetOutboxRecords, prometheus.GaugeValue, float64(st.OutboxRecords))
	ch <- prometheus.MustNewConstMetric(descFleetOutboxMax, prometheus.GaugeValue, float64(st.OutboxMax))
	ch <- prometheus.MustNewConstMetric(descFleetShipped, prometheus.CounterValue, float64(st.Shipped))
	ch <- prometheus.MustNewConstMetric(descFleetDropped, prometheus.CounterValue, float64(st.Dropped))
	up := 0.0
	if st.Connected {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(descFleetUp, prometheus.GaugeValue, up)
	if !st.LastSuccessAt.IsZero() {
		ch <- prometheus.MustNewConstMetric(descFleetLastSuccess, prometheus.GaugeValue, float64(st.LastSuccessAt.UnixNano())/1e9)
	}
	if !st.LastErrorAt.IsZero() {
		ch <- prometheus.MustNewConstMetric(descFleetLastError, prometheus.GaugeValue, float64(st.LastErrorAt.UnixNano())/1e9)
	}
}

// fleetState is the Daemon's fleet fields.
type fleetState struct {
	fleetMu sync.Mutex
	fleet   *fleetRun
}
