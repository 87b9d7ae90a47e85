package fleet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// FlowRow is one flow record as prd_flows holds it. Its identity is
// (interface, community ID, first_ns): a record sent again, or an active
// flow's later record, replaces the earlier one.
type FlowRow struct {
	Interface   string
	FirstNS     int64
	LastNS      int64
	CommunityID string
	Proto       uint8
	Src, Dst    netip.Addr // initiator, responder
	SPort       uint16
	DPort       uint16
	// Packets and Bytes are per direction: 0 initiator to responder, 1
	// the other way. Bytes are frame lengths on the wire.
	Packets, Bytes [2]uint64
	// StoredPackets and StoredBytes are what the recorder stored of the
	// flow (both directions; captured bytes); Cut says the cutoff applied.
	StoredPackets, StoredBytes uint64
	TCPFlags                   uint8
	Cut                        bool
	Ended                      bool // the flow's final record
	// First says no earlier record of this flow was emitted (the
	// recorder knows: flow.Flow.Reported). A first record that is also
	// the final one is the flow's only record: no row can hold its key
	// unless this very record was shipped before, so it goes by plain
	// COPY. Records queued before the bit existed decode without it:
	// maybe shipped before, upserted.
	First bool
}

// Day is the UTC day of the flow's first packet: its partition.
func (f *FlowRow) Day() time.Time { return time.Unix(dayNumber(f.FirstNS)*86400, 0).UTC() }

// dayNumber is the UTC day of ns (since the epoch): days since
// 1970-01-01, rounded down (UTC days are all 86,400 s long in Go's time).
func dayNumber(ns int64) int64 {
	const day = int64(24 * time.Hour)
	d := ns / day
	if ns%day < 0 {
		d--
	}
	return d
}

// SegmentRow is one segment's summary as prd_segments holds it.
type SegmentRow struct {
	Interface string
	Segment   string // its file name in the store
	FirstNS   int64
	LastNS    int64
	Packets   int64
	Bytes     int64
	Closed    bool
	// DeletedNS is when retention deleted it (0: it is there).
	DeletedNS int64
	// Summary is the closed segment's summary as the store's catalog
	// holds it (segment_summaries.sketch: an index.Sketch covering its
	// Packets), nil when none is known; SummaryPairs is its pairs flag
	// (match with MatchPaired).
	Summary      []byte
	SummaryPairs bool
}

// MaxSummary bounds a summary shipped with its segment record (an outbox
// frame holds at most 1 MiB): a larger one is left out, and the hub
// asks the sensor whenever the segment overlaps a window.
const MaxSummary = 1<<20 - 4096

// GapRow is a span of records the outbox dropped because it was full:
// the flow records and segment summaries of [FromNS, UntilNS] (packet
// times) that PostgreSQL may lack, Records of them.
type GapRow struct {
	FromNS, UntilNS int64
	Records         int64
}

// Record kinds in the outbox.
const (
	kindFlow    = 1
	kindSegment = 2
	kindGap     = 3
)

// record is one decoded outbox record.
type record struct {
	seq  uint64
	kind byte
	flow FlowRow
	seg  SegmentRow
	gap  GapRow
}

var errRecord = errors.New("malformed outbox record")

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendAddr(b []byte, a netip.Addr) []byte {
	if a.Is4() {
		v := a.As4()
		return append(append(b, 4), v[:]...)
	}
	v := a.As16()
	return append(append(b, 16), v[:]...)
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

// encodeFlow appends f's payload to b. Its last byte holds flags: 1
// cut, 2 ended, 4 first (records written before the first flag have it
// clear, and decode as maybe shipped before).
func encodeFlow(b []byte, f *FlowRow) []byte {
	b = appendString(b, f.Interface)
	b = binary.AppendVarint(b, f.FirstNS)
	b = binary.AppendVarint(b, f.LastNS-f.FirstNS)
	b = appendString(b, f.CommunityID)
	b = append(b, f.Proto)
	b = appendAddr(b, f.Src)
	b = appendAddr(b, f.Dst)
	b = binary.BigEndian.AppendUint16(b, f.SPort)
	b = binary.BigEndian.AppendUint16(b, f.DPort)
	for _, v := range []uint64{f.Packets[0], f.Packets[1], f.Bytes[0], f.Bytes[1], f.StoredPackets, f.StoredBytes} {
		b = binary.AppendUvarint(b, v)
	}
	return append(b, f.TCPFlags, boolByte(f.Cut)|boolByte(f.Ended)<<1|boolByte(f.First)<<2)
}

func encodeSegment(b []byte, s *SegmentRow) []byte {
	b = appendString(b, s.Interface)
	b = appendString(b, s.Segment)
	for _, v := range []int64{s.FirstNS, s.LastNS, s.Packets, s.Bytes, s.DeletedNS} {
		b = binary.AppendVarint(b, v)
	}
	b = append(b, boolByte(s.Closed))
	if s.Summary != nil && len(s.Summary) <= MaxSummary {
		// The summary trails the record (records written before it
		// existed end at Closed): flags (1: a summary, 2: pairs), its
		// length and bytes.
		b = append(b, 1|boolByte(s.SummaryPairs)<<1)
		b = binary.AppendUvarint(b, uint64(len(s.Summary)))
		b = append(b, s.Summary...)
	}
	return b
}

func encodeGap(b []byte, g *GapRow) []byte {
	b = binary.AppendVarint(b, g.FromNS)
	b = binary.AppendVarint(b, g.UntilNS)
	return binary.AppendVarint(b, g.Records)
}

// decoder reads a payload; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errRecord
	}
	d.b = nil
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes(n int) []byte {
	if n < 0 || len(d.b) < n {
		d.fail()
		return make([]byte, max(n, 0))
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte() byte { return d.bytes(1)[0] }

func (d *decoder) string() string {
	n := d.uvarint()
	if n > 1<<16 {
		d.fail()
		return ""
	}
	return string(d.bytes(int(n)))
}

func (d *decoder) addr() netip.Addr {
	switch n := d.byte(); n {
	case 4, 16:
		a, _ := netip.AddrFromSlice(d.bytes(int(n)))
		return a
	}
	d.fail()
	return netip.Addr{}
}

func decodeFlow(p []byte) (FlowRow, error) {
	d := decoder{b: p}
	var f FlowRow
	f.Interface = d.string()
	f.FirstNS = d.varint()
	f.LastNS = f.FirstNS + d.varint()
	f.CommunityID = d.string()
	f.Proto = d.byte()
	f.Src = d.addr()
	f.Dst = d.addr()
	ports := d.bytes(4)
	f.SPort, f.DPort = binary.BigEndian.Uint16(ports), binary.BigEndian.Uint16(ports[2:])
	f.Packets[0], f.Packets[1] = d.uvarint(), d.uvarint()
	f.Bytes[0], f.Bytes[1] = d.uvarint(), d.uvarint()
	f.StoredPackets, f.StoredBytes = d.uvarint(), d.uvarint()
	f.TCPFlags = d.byte()
	fl := d.byte()
	f.Cut, f.Ended, f.First = fl&1 != 0, fl&2 != 0, fl&4 != 0
	if d.err == nil && len(d.b) != 0 {
		d.err = errRecord
	}
	if d.err != nil {
		return FlowRow{}, fmt.Errorf("flow: %w", d.err)
	}
	return f, nil
}

func decodeSegment(p []byte) (SegmentRow, error) {
	d := decoder{b: p}
	var s SegmentRow
	s.Interface = d.string()
	s.Segment = d.string()
	s.FirstNS, s.LastNS, s.Packets, s.Bytes, s.DeletedNS = d.varint(), d.varint(), d.varint(), d.varint(), d.varint()
	s.Closed = d.byte() != 0
	if d.err == nil && len(d.b) != 0 {
		fl := d.byte()
		n := d.uvarint()
		if fl&1 == 0 || n > MaxSummary {
			d.fail()
		}
		s.Summary = append([]byte(nil), d.bytes(int(n))...)
		s.SummaryPairs = fl&2 != 0
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = errRecord
	}
	if d.err != nil {
		return SegmentRow{}, fmt.Errorf("segment: %w", d.err)
	}
	return s, nil
}

func decodeGap(p []byte) (GapRow, error) {
	d := decoder{b: p}
	g := GapRow{FromNS: d.varint(), UntilNS: d.varint(), Records: d.varint()}
	if d.err == nil && len(d.b) != 0 {
		d.err = errRecord
	}
	if d.err != nil {
		return GapRow{}, fmt.Errorf("gap: %w", d.err)
	}
	return g, nil
}
