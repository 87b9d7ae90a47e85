package fleet

import (
	"bytes"
	"net/netip"
	"reflect"
	"testing"
)

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

func TestRecordRoundTrip(t *testing.T) {
	f := FlowRow{Interface: "eth0", FirstNS: 1765000000123456789, LastNS: 1765000001123456789, CommunityID: "1:abc=", Proto: 6,
		Src: mustAddr("2001:db8::1"), Dst: mustAddr("192.0.2.1"), SPort: 443, DPort: 65535, Packets: [2]uint64{1, 2}, Bytes: [2]uint64{3, 1 << 40},
		StoredPackets: 3, StoredBytes: 99, TCPFlags: 0x12, Cut: true, Ended: true}
	got, err := decodeFlow(encodeFlow(nil, &f))
	if err != nil || got != f {
		t.Fatalf("flow: %v\n%+v\n%+v", err, got, f)
	}
	g := SegmentRow{Interface: "eth1", Segment: "segments/eth1/x-r0.db", FirstNS: -1, LastNS: 5, Packets: 7, Bytes: 8, Closed: true, DeletedNS: 9}
	gs, err := decodeSegment(encodeSegment(nil, &g))
	if err != nil || !reflect.DeepEqual(gs, g) {
		t.Fatalf("segment: %v %+v", err, gs)
	}
	// A closed segment's summary trails the record; a record without one
	// (as written before summaries were shipped) still decodes.
	old := encodeSegment(nil, &g)
	g.Summary, g.SummaryPairs = []byte{1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0}, true
	withSum := encodeSegment(nil, &g)
	if gs, err = decodeSegment(withSum); err != nil || !reflect.DeepEqual(gs, g) {
		t.Fatalf("segment with a summary: %v %+v", err, gs)
	}
	if !bytes.HasPrefix(withSum, old) {
		t.Fatal("the summary does not trail the old record's bytes")
	}
	for i := len(old) + 1; i < len(withSum); i++ {
		if _, err := decodeSegment(withSum[:i]); err == nil {
			t.Fatalf("a segment record cut at %d of %d decoded", i, len(withSum))
		}
	}
	gap := GapRow{FromNS: 5, UntilNS: 9, Records: 3}
	if gg, err := decodeGap(encodeGap(nil, &gap)); err != nil || gg != gap {
		t.Fatalf("gap: %v %+v", err, gg)
	}
	b := encodeFlow(nil, &f)
	for i := range b {
		if _, err := decodeFlow(b[:i]); err == nil {
			t.Fatalf("a flow record cut at %d of %d decoded", i, len(b))
		}
	}
}
