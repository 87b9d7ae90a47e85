package daemon

import (
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics is the daemon's own Prometheus registry (never the global
// one). Its collector reads the recorders' and retention's own counters
// at each scrape: nothing is sampled twice.
type metrics struct {
	reg *prometheus.Registry
}

var (
	descCaptured = prometheus.NewDesc("packetrecorder_packets_captured_total",
		"Packets stored from the interface.", []string{"interface"}, nil)
	descCapturedBytes = prometheus.NewDesc("packetrecorder_bytes_captured_total",
		"Captured bytes stored from the interface.", []string{"interface"}, nil)
	descReceived = prometheus.NewDesc("packetrecorder_packets_received_total",
		"Packets the kernel's filter accepted on the interface (stored or dropped).", []string{"interface"}, nil)
	descDropped = prometheus.NewDesc("packetrecorder_packets_dropped_total",
		"Packets accepted but not stored: reason kernel (the ring was full) or app (not stored by packetrecorder); reason reload: packets the interface carried while a reload replaced its rings, before any filter (at most what was missed).", []string{"interface", "reason"}, nil)
	descCompressionSkipped = prometheus.NewDesc("packetrecorder_compression_skipped_blocks_total",
		"Blocks stored uncompressed, though the store compresses, because the writer fell behind (compression is skipped rather than a packet lost).", []string{"interface"}, nil)
	descUp = prometheus.NewDesc("packetrecorder_interface_up",
		"1 while the interface records, 0 while it is down, missing or paused.", []string{"interface", "state"}, nil)
	descFileBytes = prometheus.NewDesc("packetrecorder_store_file_bytes",
		"File bytes of the store: what its files take on disk (segments with their side files, open ones at their current size, the catalog, the reserve); the measure of retention.max_bytes.", nil, nil)
	descStoreBytes = prometheus.NewDesc("packetrecorder_store_bytes",
		"The old name of packetrecorder_store_file_bytes (same value).", nil, nil)
	descKeepFree = prometheus.NewDesc("packetrecorder_retention_keep_free_bytes",
		"Free bytes retention keeps on the store's filesystem: min_free, or the margin the write rate needs if that is more.", nil, nil)
	descRate = prometheus.NewDesc("packetrecorder_store_write_bytes_per_second",
		"Recent peak rate at which the interfaces write into the store, in bytes per second.", nil, nil)
	descReserve = prometheus.NewDesc("packetrecorder_store_reserve",
		"1 while the store's reserve file (room for retention's deletes on a full disk) is in place.", nil, nil)
	descFreeBytes = prometheus.NewDesc("packetrecorder_store_free_bytes",
		"Bytes free on the store's filesystem.", nil, nil)
	descSegments = prometheus.NewDesc("packetrecorder_store_segments",
		"Segments in the store.", nil, nil)
	descOldest = prometheus.NewDesc("packetrecorder_store_oldest_packet_timestamp_seconds",
		"Timestamp of the oldest packet in the store.", nil, nil)
	descNewest = prometheus.NewDesc("packetrecorder_store_newest_packet_timestamp_seconds",
		"Timestamp of the newest packet in the store.", nil, nil)
	descDelBytes = prometheus.NewDesc("packetrecorder_retention_deleted_bytes_total",
		"File bytes retention deleted.", nil, nil)
	descDelPackets = prometheus.NewDesc("packetrecorder_retention_deleted_packets_total",
		"Packets retention deleted.", nil, nil)
	descDelSegments = prometheus.NewDesc("packetrecorder_retention_deleted_segments_total",
		"Segments retention deleted.", nil, nil)
	descDelHeldBytes = prometheus.NewDesc("packetrecorder_retention_deleted_held_bytes_total",
		"File bytes of held segments retention deleted because holds left no room (when_held: delete).", nil, nil)
	descDelHeldPackets = prometheus.NewDesc("packetrecorder_retention_deleted_held_packets_total",
		"Packets of held segments retention deleted because holds left no room (when_held: delete).", nil, nil)
	descDelHeldSegments = prometheus.NewDesc("packetrecorder_retention_deleted_held_segments_total",
		"Held segments retention deleted because holds left no room (when_held: delete).", nil, nil)
	descBlocked = prometheus.NewDesc("packetrecorder_retention_blocked",
		"1 when the store is over a limit and only held segments could bring it back (when_held: stop pauses recording; delete deletes them).", nil, nil)
	descHolds = prometheus.NewDesc("packetrecorder_holds",
		"Holds exempting time windows from retention.", nil, nil)
	descReloads = prometheus.NewDesc("packetrecorder_config_reloads_total",
		"Configuration reloads, by result.", []string{"result"}, nil)
	descIfaceSeenRate = prometheus.NewDesc("packetrecorder_interface_seen_bytes_per_second",
		"Bytes the interface's stored packets carried on the wire (original lengths), per second over the window (1m, 1h; less while the daemon is younger).", []string{"interface", "window"}, nil)
	descIfaceStoredRate = prometheus.NewDesc("packetrecorder_interface_stored_bytes_per_second",
		"File bytes the interface's segments grew by, per second over the window (1m, 1h; less while the daemon is younger).", []string{"interface", "window"}, nil)
	descSeenRate = prometheus.NewDesc("packetrecorder_store_seen_bytes_per_second",
		"Bytes on the wire (original lengths) of the packets the interfaces stored, per second over the window, all interfaces together.", []string{"window"}, nil)
	descStoredRate = prometheus.NewDesc("packetrecorder_store_stored_bytes_per_second",
		"File bytes the store's segments grew by, per second over the window, all interfaces together.", []string{"window"}, nil)
	descBudget = prometheus.NewDesc("packetrecorder_store_budget_bytes",
		"File bytes the store may fill: retention.max_bytes, or the store's file bytes plus the filesystem's free bytes less what retention keeps free, if that is less.", nil, nil)
	descBudgetUsed = prometheus.NewDesc("packetrecorder_store_budget_used_ratio",
		"The store's file bytes over its budget.", nil, nil)
	descHorizon = prometheus.NewDesc("packetrecorder_store_horizon_seconds",
		"How far back the store reaches now: now minus the oldest packet's timestamp.", nil, nil)
	descProjected = prometheus.NewDesc("packetrecorder_store_horizon_projected_seconds",
		"How far back the store will reach once its budget is full: budget over the stored bytes per second of the 1h window, at most retention.max_age.", nil, nil)
	descProjectedWhole = prometheus.NewDesc("packetrecorder_store_horizon_projected_whole_seconds",
		"The projected horizon if every packet seen were stored whole and uncompressed (no cutoff, snaplen or compression), at most retention.max_age.", nil, nil)
	descCompression = prometheus.NewDesc("packetrecorder_store_compression_ratio",
		"Raw block bytes of the stored packets (captured bytes with record headers) over the bytes their blocks take (1h window).", nil, nil)
	descCut = prometheus.NewDesc("packetrecorder_store_cut_ratio",
		"Share of the bytes seen on the wire not stored (cutoff, snaplen), 0 to 1 (1h window).", nil, nil)
	descBuild = prometheus.NewDesc("packetrecorder_build_info",
		"Always 1: the build's version, VCS revision and Go version.", []string{"version", "revision", "goversion"}, nil)
)

func newMetrics(d *Daemon) *metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector{d}, fleetCollector{d}, cutoffCollector{d}, summaryCollector{d}, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return &metrics{reg: reg}
}

type collector struct{ d *Daemon }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descCaptured, descCapturedBytes, descReceived, descDropped, descCompressionSkipped, descUp, descFileBytes, descStoreBytes,
		descKeepFree, descRate, descReserve, descDelHeldBytes, descDelHeldPackets, descDelHeldSegments, descFreeBytes, descSegments, descOldest, descNewest, descDelBytes, descDelPackets, descDelSegments, descBlocked,
		descHolds, descReloads, descBuild, descIfaceSeenRate, descIfaceStoredRate, descSeenRate, descStoredRate, descBudget, descBudgetUsed,
		descHorizon, descProjected, descProjectedWhole, descCompression, descCut} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	d := c.d
	for _, r := range d.runnerListLocked() {
		s := r.snapshot()
		name := r.cfg.Name
		ch <- prometheus.MustNewConstMetric(descCaptured, prometheus.CounterValue, float64(s.Stored), name)
		ch <- prometheus.MustNewConstMetric(descCapturedBytes, prometheus.CounterValue, float64(s.Bytes), name)
		ch <- prometheus.MustNewConstMetric(descReceived, prometheus.CounterValue, float64(s.Received), name)
		ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(s.KernelDropped), name, "kernel")
		ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(s.AppDropped), name, "app")
		ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(s.Unseen), name, "reload")
		ch <- prometheus.MustNewConstMetric(descCompressionSkipped, prometheus.CounterValue, float64(s.CompressionSkipped), name)
		up := 0.0
		if r.State() == StateRecording {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, up, name, r.State())
	}
	ret := d.ret
	ch <- prometheus.MustNewConstMetric(descFileBytes, prometheus.GaugeValue, float64(ret.fileBytes.Load()))
	ch <- prometheus.MustNewConstMetric(descStoreBytes, prometheus.GaugeValue, float64(ret.fileBytes.Load()))
	ch <- prometheus.MustNewConstMetric(descKeepFree, prometheus.GaugeValue, float64(ret.floorBytes.Load()))
	ch <- prometheus.MustNewConstMetric(descRate, prometheus.GaugeValue, float64(ret.rate.Load()))
	reserve := 0.0
	if ret.reserve.Load() {
		reserve = 1
	}
	ch <- prometheus.MustNewConstMetric(descReserve, prometheus.GaugeValue, reserve)
	ch <- prometheus.MustNewConstMetric(descDelHeldBytes, prometheus.CounterValue, float64(ret.heldBytes.Load()))
	ch <- prometheus.MustNewConstMetric(descDelHeldPackets, prometheus.CounterValue, float64(ret.heldPackets.Load()))
	ch <- prometheus.MustNewConstMetric(descDelHeldSegments, prometheus.CounterValue, float64(ret.heldSegments.Load()))
	ch <- prometheus.MustNewConstMetric(descFreeBytes, prometheus.GaugeValue, float64(ret.freeBytes.Load()))
	ch <- prometheus.MustNewConstMetric(descSegments, prometheus.GaugeValue, float64(ret.segments.Load()))
	if o := ret.oldestNS.Load(); o != 0 {
		ch <- prometheus.MustNewConstMetric(descOldest, prometheus.GaugeValue, float64(o)/1e9)
		ch <- prometheus.MustNewConstMetric(descNewest, prometheus.GaugeValue, float64(ret.newestNS.Load())/1e9)
	}
	ch <- prometheus.MustNewConstMetric(descDelBytes, prometheus.CounterValue, float64(ret.deletedBytes.Load()))
	ch <- prometheus.MustNewConstMetric(descDelPackets, prometheus.CounterValue, float64(ret.deletedPackets.Load()))
	ch <- prometheus.MustNewConstMetric(descDelSegments, prometheus.CounterValue, float64(ret.deletedSegments.Load()))
	blocked := 0.0
	if ret.blocked.Load() {
		blocked = 1
	}
	ch <- prometheus.MustNewConstMetric(descBlocked, prometheus.GaugeValue, blocked)
	ch <- prometheus.MustNewConstMetric(descHolds, prometheus.GaugeValue, float64(ret.holds.Load()))
	ch <- prometheus.MustNewConstMetric(descReloads, prometheus.CounterValue, float64(d.reloadsOK.Load()), "success")
	ch <- prometheus.MustNewConstMetric(descReloads, prometheus.CounterValue, float64(d.reloadsFailed.Load()), "failure")
	ch <- prometheus.MustNewConstMetric(descBuild, prometheus.GaugeValue, 1, d.version, buildRevision(), runtime.Version())
	collectHorizon(ch, d.horizonStatus())
}

// buildRevision is the VCS revision the binary was built from.
func buildRevision() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return "unknown"
}
