// Package cutoff tracks flows over blocks of packets and applies a
// per-flow cutoff to them, as the Time Machine does (Kornexl et al., IMC
// 2005): once a flow has carried a rule's payload bytes (both directions
// together) or packets, its further packets are stored truncated to their
// headers (link, IP, transport), or not at all with KeepNone.
//
// Data flows through an Engine one block at a time, in the goroutine that
// writes blocks (the recorder's writer, import's loop): Apply walks the
// block's records, counts each IP packet in its interface's bounded
// flow.Table, classifies a new flow by the first rule whose filter
// matches its first packet (tcpdump's language, compiled for the block's
// link type), and compacts the block in place when packets are cut. A
// packet that belongs to no flow (not IP) is never cut. Flows are reported
// to Config.Flows when they end and, through Report, while they last.
package cutoff

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/filter"
	"github.com/packetrecorderd/packetrecorderd/internal/flow"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

// Keep says what is stored of a packet past the cutoff.
type Keep uint8

// What a cut packet keeps.
const (
	KeepHeaders Keep = iota // link, IP and transport headers; the original length stays
	KeepNone                // nothing: the packet is counted as cut, not stored
)

func (k Keep) String() string {
	if k == KeepNone {
		return "none"
	}
	return "headers"
}

// ParseKeep reads "headers" or "none" ("" is headers).
func ParseKeep(s string) (Keep, error) {
	switch s {
	case "", "headers":
		return KeepHeaders, nil
	case "none":
		return KeepNone, nil
	}
	return 0, fmt.Errorf("keep %q: want headers or none", s)
}

// Unlimited is Limit.Bytes for a flow that is never cut by its bytes.
const Unlimited = -1

// Limit is where a flow is cut: after Bytes payload bytes (Unlimited:
// never) or after Packets packets (0: no packet limit), whichever comes
// first. The packet that crosses the line is stored whole.
type Limit struct {
	Bytes   int64
	Packets int64
	Keep    Keep
}

// Rule is a class of traffic: the flows whose first packet Filter
// matches.
type Rule struct {
	Filter string
	Limit
}

// Config configures an Engine. With Enabled false flows are tracked and
// counted but never cut.
type Config struct {
	Enabled bool
	Rules   []Rule // first match wins
	Default Limit  // for flows no rule matches
	// TableSize bounds the flows tracked at once per interface (0:
	// flow.DefaultSize); IdleTimeout ends a silent flow (0:
	// flow.DefaultIdleTimeout).
	TableSize   int
	IdleTimeout time.Duration
	// Flows, if set, receives each flow when it ends (final true) and,
	// through Report, active flows that changed. The *Flow is valid only
	// during the call.
	Flows func(f *flow.Flow, iface int, final bool) `json:"-"`
	// Warn, if set, is told once per rule and link type that a rule's
	// filter cannot be compiled for the link type (the rule then
	// matches nothing).
	Warn func(msg string) `json:"-"`
}

// Stats are an engine's counters.
type Stats struct {
	TruncPackets uint64 // packets stored cut to their headers
	DropPackets  uint64 // packets not stored (KeepNone)
	DropBytes    uint64 // their original lengths (what they carried on the wire)
	CutBytes     uint64 // captured bytes not stored
	FlowsCut     uint64 // flows the cutoff applied to
	Evicted      uint64 // flows ended because a table was full
	Flows        uint64 // flows started
	Active       int    // flows tracked now
}

// CutPackets is every packet the cutoff applied to.
func (s Stats) CutPackets() uint64 { return s.TruncPackets + s.DropPackets }

// Engine tracks flows and cuts packets. It is not safe for concurrent
// use: one goroutine owns it.
type Engine struct {
	cfg    Config
	limits []Limit // rules' then the default's
	tables map[int]*ifTable
	progs  map[uint32][]*filter.Program // per link type, one per rule (nil: matches nothing)
	stats  Stats
	pkt    flow.Packet
}

type ifTable struct {
	t       *flow.Table
	seen    uint64 // Seq at the last Report
	cutSeen uint64 // Seq at the last CutChanged
}

// New makes an engine. Rules' filters are compiled for each link type as
// blocks of it come; Validate checks them beforehand.
func New(cfg Config) *Engine {
	e := &Engine{cfg: cfg, tables: map[int]*ifTable{}, progs: map[uint32][]*filter.Program{}}
	for _, r := range cfg.Rules {
		e.limits = append(e.limits, r.Limit)
	}
	e.limits = append(e.limits, cfg.Default)
	return e
}

// Validate compiles every rule's filter for Ethernet, the link type of a
// daemon's interfaces, and reports the first that does not compile.
func Validate(rules []Rule, linkType uint32) error {
	for i, r := range rules {
		if _, err := filter.Compile(r.Filter, filter.Options{LinkType: linkType, Netmask: filter.ZeroNetmask}); err != nil {
			return fmt.Errorf("rule %d: filter %q: %w", i+1, r.Filter, err)
		}
	}
	return nil
}

func (e *Engine) table(iface int) *ifTable {
	it := e.tables[iface]
	if it != nil {
		return it
	}
	it = &ifTable{}
	t, _ := flow.NewTable(flow.Config{Size: e.cfg.TableSize, IdleTimeout: e.cfg.IdleTimeout, Emit: func(f *flow.Flow) {
		if e.cfg.Flows != nil {
			e.cfg.Flows(f, iface, true)
		}
	}})
	it.t = t
	e.tables[iface] = it
	return it
}

func (e *Engine) programs(linkType uint32) []*filter.Program {
	if ps, ok := e.progs[linkType]; ok {
		return ps
	}
	ps := make([]*filter.Program, len(e.cfg.Rules))
	for i, r := range e.cfg.Rules {
		p, err := filter.Compile(r.Filter, filter.Options{LinkType: linkType, Netmask: filter.ZeroNetmask})
		if err != nil {
			if e.cfg.Warn != nil {
				e.cfg.Warn(fmt.Sprintf("cutoff rule %d (%q) matches nothing on link type %s: %v", i+1, r.Filter, filter.LinkTypeName(linkType), err))
			}
			continue
		}
		ps[i] = p
	}
	e.progs[linkType] = ps
	return ps
}

// Apply counts b's packets in their flows and, when the cutoff is
// enabled, cuts the packets past their flow's limit, compacting b in
// place (its records only shrink or go, so the bytes move forward).
func (e *Engine) Apply(b *store.Block) {
	if b.Count == 0 {
		return
	}
	data := b.Data
	w := 0
	changed := false
	var count int
	var firstTS, lastTS, minTS, maxTS, wire int64
	for off := 0; off+store.RecordHeaderLen <= len(data); {
		ts := int64(binary.LittleEndian.Uint64(data[off:]))
		capLen := int(binary.LittleEndian.Uint32(data[off+8:]))
		origLen := int(binary.LittleEndian.Uint32(data[off+12:]))
		body := off + store.RecordHeaderLen
		if capLen > len(data)-body {
			break // cannot happen: the reader built the block
		}
		keep := e.Packet(b.LinkType, b.Interface, ts, data[body:body+capLen], origLen)
		if keep != capLen {
			changed = true
		}
		if keep >= 0 {
			if changed {
				copy(data[w:], data[off:body+keep])
				binary.LittleEndian.PutUint32(data[w+8:], uint32(keep))
			}
			if count == 0 {
				firstTS, minTS, maxTS = ts, ts, ts
			}
			lastTS, minTS, maxTS = ts, min(minTS, ts), max(maxTS, ts)
			wire += int64(origLen)
			count++
			w += store.RecordHeaderLen + keep
		}
		off = body + capLen
	}
	if !changed {
		return
	}
	b.Data = data[:w]
	b.Count = count
	b.FirstTS, b.LastTS, b.MinTS, b.MaxTS, b.WireBytes = firstTS, lastTS, minTS, maxTS, wire
}

// Packet counts one packet (its link type, interface, timestamp in ns,
// captured bytes and original length) in its flow and returns how many of
// its captured bytes to store: all of them, its headers' (cut), or -1 (cut,
// not stored). A packet that is not IP belongs to no flow and is stored
// whole.
func (e *Engine) Packet(linkType uint32, iface int, ts int64, pkt []byte, origLen int) int {
	capLen := len(pkt)
	if !flow.Extract(linkType, pkt, &e.pkt) {
		return capLen
	}
	it := e.table(iface)
	f, d := it.t.AddDir(ts, &e.pkt, origLen)
	keep := capLen
	if e.cfg.Enabled {
		hdr, payload, ok := flow.Headers(linkType, pkt)
		if !ok {
			hdr, payload = capLen, 0
		}
		if f.Class == 0 {
			f.Class = int32(len(e.limits)) // the default
			if len(e.cfg.Rules) > 0 {
				for i, p := range e.programs(linkType) {
					if p != nil && p.Match(pkt, origLen) {
						f.Class = int32(i + 1)
						break
					}
				}
			}
		}
		lim := &e.limits[f.Class-1]
		if lim.Packets > 0 && f.TotalPackets() > uint64(lim.Packets) ||
			lim.Bytes >= 0 && f.Payload >= uint64(lim.Bytes) {
			if !f.Cut {
				f.Cut = true
				e.stats.FlowsCut++
			}
			if lim.Keep == KeepNone {
				keep = -1
				e.stats.DropPackets++
				e.stats.DropBytes += uint64(origLen)
			} else {
				keep = min(capLen, hdr)
				e.stats.TruncPackets++
			}
			e.stats.CutBytes += uint64(capLen - max(keep, 0))
		}
		f.Payload += uint64(payload) // after the decision: the crossing packet is whole
	}
	if keep >= 0 {
		f.StoredPackets[d]++
		f.StoredBytes[d] += uint64(keep)
	} else {
		f.UnstoredBytes[d] += uint64(origLen)
	}
	return keep
}

// Report advances each table's clock to now (ns; ending the flows idle
// since) and passes every active flow that counted a packet since the
// last Report to Config.Flows. now <= 0 leaves the clocks alone.
func (e *Engine) Report(now int64) {
	for iface, it := range e.tables {
		if now > 0 {
			it.t.Advance(now)
		}
		if e.cfg.Flows == nil {
			continue
		}
		it.seen = it.t.Changed(it.seen, func(f *flow.Flow) { e.cfg.Flows(f, iface, false) })
	}
}

// CutChanged calls fn for every active flow the cutoff applied to that
// counted a packet since the last CutChanged: a recorder records them
// with each commit, so that what it stores says what was cut up to then.
// The *Flow is valid only during the call.
func (e *Engine) CutChanged(fn func(f *flow.Flow, iface int)) {
	for iface, it := range e.tables {
		it.cutSeen = it.t.Changed(it.cutSeen, func(f *flow.Flow) {
			if f.Cut {
				fn(f, iface)
			}
		})
	}
}

// Flush ends every tracked flow (the end of a recording).
func (e *Engine) Flush() {
	for _, it := range e.tables {
		it.t.Flush()
	}
}

// Stats returns the engine's counters.
func (e *Engine) Stats() Stats {
	s := e.stats
	for _, it := range e.tables {
		ts := it.t.Stats()
		s.Evicted += ts.Evicted
		s.Flows += ts.Flows
		s.Active += ts.Active
	}
	return s
}

// Record is the store's row for a flow the cutoff applied to.
func Record(f *flow.Flow, iface int) store.FlowCut {
	return store.FlowCut{Interface: iface, CommunityID: f.CommunityID.String(), FirstNS: f.FirstNS, LastNS: f.LastNS,
		Proto: f.Key.Proto, Src: f.Key.Src.String(), SrcPort: f.Key.SrcPort, Dst: f.Key.Dst.String(), DstPort: f.Key.DstPort,
		Packets: f.Packets, Bytes: f.Bytes, StoredPackets: f.StoredPackets, StoredBytes: f.StoredBytes, UnstoredBytes: f.UnstoredBytes}
}
