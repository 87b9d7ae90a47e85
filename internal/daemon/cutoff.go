package daemon

import (
	"encoding/json"
	"fmt"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/packetrecorderd/packetrecorderd/internal/cutoff"
	"github.com/packetrecorderd/packetrecorderd/internal/filter"
)

// CutoffConfig is the per-flow cutoff (the config's cutoff block): once a
// flow has carried a rule's bytes of payload (both ways together) or
// packets, its further packets are stored cut to their headers (keep:
// headers, the default) or not at all (keep: none). Rules are tried in
// order on a flow's first packet, first match wins; flows no rule matches
// get Default (absent: unlimited).
type CutoffConfig struct {
	Default CutoffBytes `yaml:"default"`
	// Keep is what the default keeps, and every rule that does not say.
	Keep string `yaml:"keep"`
	// TableSize bounds the flows tracked at once per ring (default
	// 65536); a full table evicts the least recently active flow, which
	// starts afresh if it comes back. IdleTimeout ends a silent flow
	// (default 2m).
	TableSize   int       `yaml:"table_size"`
	IdleTimeout Duration  `yaml:"idle_timeout"`
	Rules       []CutRule `yaml:"rules"`
}

// CutRule is one class of traffic.
type CutRule struct {
	Filter  string       `yaml:"filter"` // tcpdump's language
	Bytes   *CutoffBytes `yaml:"bytes"`
	Packets int64        `yaml:"packets"`
	Keep    string       `yaml:"keep"`
}

// CutoffBytes is a payload size (64KiB, 1MiB) or "unlimited".
type CutoffBytes struct {
	N   int64
	Set bool
}

// UnmarshalYAML reads a size or unlimited.
func (b *CutoffBytes) UnmarshalYAML(n *yaml.Node) error {
	v, err := cutoff.ParseBytes(n.Value)
	if err != nil {
		return valueError(n, err)
	}
	*b = CutoffBytes{N: v, Set: true}
	return nil
}

// validateCutoff checks the cutoff block, naming the key of each problem.
func (c *Config) validateCutoff() []error {
	cc := c.Cutoff
	if cc == nil {
		return nil
	}
	var errs []error
	if _, err := cutoff.ParseKeep(cc.Keep); err != nil {
		errs = append(errs, c.errorf("cutoff.keep", "%q: use headers or none", cc.Keep))
	}
	if cc.TableSize < 0 {
		errs = append(errs, c.errorf("cutoff.table_size", "%d: must be 1 or more (0: the default)", cc.TableSize))
	}
	if cc.IdleTimeout < 0 {
		errs = append(errs, c.errorf("cutoff.idle_timeout", "must not be negative"))
	}
	for i, r := range cc.Rules {
		key := fmt.Sprintf("cutoff.rules.%d", i)
		if r.Filter == "" {
			errs = append(errs, c.errorf(key+".filter", "required: the traffic the rule applies to, in tcpdump's language"))
		} else if _, err := filter.Compile(r.Filter, filter.Options{LinkType: 1, Netmask: filter.ZeroNetmask}); err != nil {
			errs = append(errs, c.errorf(key+".filter", "%v", err))
		}
		if r.Packets < 0 {
			errs = append(errs, c.errorf(key+".packets", "%d: must be 1 or more", r.Packets))
		}
		if r.Bytes == nil && r.Packets == 0 {
			errs = append(errs, c.errorf(key, "give bytes (a size or unlimited) or packets"))
		}
		if _, err := cutoff.ParseKeep(r.Keep); err != nil {
			errs = append(errs, c.errorf(key+".keep", "%q: use headers or none", r.Keep))
		}
	}
	return errs
}

// cutoffConfig is the engine's configuration of cfg's cutoff block, nil
// without one.
func (cfg *Config) cutoffConfig() *cutoff.Config {
	cc := cfg.Cutoff
	if cc == nil {
		return nil
	}
	keep, _ := cutoff.ParseKeep(cc.Keep)
	out := &cutoff.Config{Enabled: true, TableSize: cc.TableSize, IdleTimeout: cc.IdleTimeout.Std(),
		Default: cutoff.Limit{Bytes: cutoff.Unlimited, Keep: keep}}
	if cc.Default.Set {
		out.Default.Bytes = cc.Default.N
	}
	for _, r := range cc.Rules {
		k := keep
		if r.Keep != "" {
			k, _ = cutoff.ParseKeep(r.Keep)
		}
		l := cutoff.Limit{Bytes: cutoff.Unlimited, Packets: r.Packets, Keep: k}
		if r.Bytes != nil {
			l.Bytes = r.Bytes.N
		}
		out.Rules = append(out.Rules, cutoff.Rule{Filter: r.Filter, Limit: l})
	}
	return out
}

// cutoffKey is cfg's cutoff as segmentLimits carries it: comparable, so
// that a reload that changes the cutoff block restarts the rings with it
// ("" without one).
func (cfg *Config) cutoffKey() string {
	cc := cfg.cutoffConfig()
	if cc == nil {
		return ""
	}
	b, err := json.Marshal(cc)
	if err != nil {
		return "" // cannot happen: the config has no funcs set
	}
	return string(b)
}

// cutoffConfig is the engine's configuration a runner's rings record
// with, nil without a cutoff.
func (s segmentLimits) cutoffConfig() *cutoff.Config {
	if s.cutoff == "" {
		return nil
	}
	var cc cutoff.Config
	if err := json.Unmarshal([]byte(s.cutoff), &cc); err != nil {
		return nil // cannot happen: cutoffKey wrote it
	}
	return &cc
}

// cutCounters add up an interface's cutoff counters over its finished
// rings; liveCut holds a running ring's.
type cutCounters struct {
	trunc, drop, bytes, flowsCut, evicted, flows atomic.Int64
}

func (c *cutCounters) add(s cutoff.Stats) {
	c.trunc.Add(int64(s.TruncPackets))
	c.drop.Add(int64(s.DropPackets))
	c.bytes.Add(int64(s.CutBytes))
	c.flowsCut.Add(int64(s.FlowsCut))
	c.evicted.Add(int64(s.Evicted))
	c.flows.Add(int64(s.Flows))
}

// CutoffStatus is what an interface's cutoff did, in GET /api/v1/status.
type CutoffStatus struct {
	// TruncatedPackets were stored cut to their headers; NotStored were
	// cut and not stored (keep: none); CutBytes the captured bytes not
	// stored.
	TruncatedPackets int64 `json:"truncated_packets"`
	NotStored        int64 `json:"not_stored_packets"`
	CutBytes         int64 `json:"cut_bytes"`
	Flows            int64 `json:"flows"`
	FlowsCut         int64 `json:"flows_cut"`
	Evicted          int64 `json:"flows_evicted"`
}

// cutoffStatus is r's cutoff counters, nil while none was counted (no
// cutoff block, or no flow yet).
func (r *ifaceRunner) cutoffStatus() *CutoffStatus {
	t := &r.total.cut
	r.liveMu.Lock() // the totals too (see snapshot)
	s := CutoffStatus{TruncatedPackets: t.trunc.Load(), NotStored: t.drop.Load(), CutBytes: t.bytes.Load(),
		Flows: t.flows.Load(), FlowsCut: t.flowsCut.Load(), Evicted: t.evicted.Load()}
	for _, l := range r.live {
		if p := l.cut.Load(); p != nil {
			s.TruncatedPackets += int64(p.TruncPackets)
			s.NotStored += int64(p.DropPackets)
			s.CutBytes += int64(p.CutBytes)
			s.Flows += int64(p.Flows)
			s.FlowsCut += int64(p.FlowsCut)
			s.Evicted += int64(p.Evicted)
		}
	}
	r.liveMu.Unlock()
	if s == (CutoffStatus{}) {
		return nil // no cutoff, or no flow yet
	}
	return &s
}

var (
	descCutPackets = prometheus.NewDesc("packetrecorder_cutoff_packets_total",
		"Packets the per-flow cutoff applied to: kept headers (stored cut to their headers) or none (not stored).", []string{"interface", "kept"}, nil)
	descCutBytes = prometheus.NewDesc("packetrecorder_cutoff_bytes_total",
		"Captured bytes the per-flow cutoff did not store.", []string{"interface"}, nil)
	descCutFlows = prometheus.NewDesc("packetrecorder_cutoff_flows_cut_total",
		"Flows the per-flow cutoff applied to.", []string{"interface"}, nil)
	descCutFlowsSeen = prometheus.NewDesc("packetrecorder_cutoff_flows_total",
		"Flows the per-flow cutoff tracked.", []string{"interface"}, nil)
	descCutEvicted = prometheus.NewDesc("packetrecorder_cutoff_flows_evicted_total",
		"Flows the cutoff's table ended early because it was full (cutoff.table_size).", []string{"interface"}, nil)
)

// cutoffCollector exports the interfaces' cutoff counters.
type cutoffCollector struct{ d *Daemon }

func (c cutoffCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descCutPackets, descCutBytes, descCutFlows, descCutFlowsSeen, descCutEvicted} {
		ch <- d
	}
}

func (c cutoffCollector) Collect(ch chan<- prometheus.Metric) {
	for _, r := range c.d.runnerListLocked() {
		s := r.cutoffStatus()
		if s == nil {
			continue
		}
		name := r.cfg.Name
		ch <- prometheus.MustNewConstMetric(descCutPackets, prometheus.CounterValue, float64(s.TruncatedPackets), name, "headers")
		ch <- prometheus.MustNewConstMetric(descCutPackets, prometheus.CounterValue, float64(s.NotStored), name, "none")
		ch <- prometheus.MustNewConstMetric(descCutBytes, prometheus.CounterValue, float64(s.CutBytes), name)
		ch <- prometheus.MustNewConstMetric(descCutFlows, prometheus.CounterValue, float64(s.FlowsCut), name)
		ch <- prometheus.MustNewConstMetric(descCutFlowsSeen, prometheus.CounterValue, float64(s.Flows), name)
		ch <- prometheus.MustNewConstMetric(descCutEvicted, prometheus.CounterValue, float64(s.Evicted), name)
	}
}
