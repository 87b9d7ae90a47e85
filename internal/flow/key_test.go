package flow

import (
	"errors"
	"net/netip"
	"testing"
)

// TestCommunityIDDirections: both directions of a flow share an ID, an
// ICMP echo and its reply share one, one-way ICMP types in opposite
// directions do not, and the seed changes the ID (first principles of the
// spec; TestCommunityIDAgainstTshark checks the values).
func TestCommunityIDDirections(t *testing.T) {
	a, b := netip.MustParseAddr("192.0.2.9"), netip.MustParseAddr("192.0.2.1")
	tcp := Key{Src: a, Dst: b, SrcPort: 1234, DstPort: 80, Proto: ProtoTCP, HasPorts: true}
	if tcp.ID(0) != tcp.Reverse().ID(0) {
		t.Error("tcp: directions differ")
	}
	if tcp.ID(0) == tcp.ID(1) {
		t.Error("the seed does not change the id")
	}
	if c, rev := tcp.Canonical(); !rev || c.Src != b || c.SrcPort != 80 {
		t.Errorf("canonical %v reversed %v", c, rev)
	}
	echo := Key{Src: a, Dst: b, SrcPort: 8, Proto: ProtoICMP, HasPorts: true}
	reply := Key{Src: b, Dst: a, SrcPort: 0, Proto: ProtoICMP, HasPorts: true}
	if echo.ID(0) != reply.ID(0) {
		t.Error("icmp echo and reply differ")
	}
	if ce, _ := echo.Canonical(); ce != func() Key { c, _ := reply.Canonical(); return c }() {
		t.Error("icmp echo and reply have different canonical keys")
	}
	e6 := Key{Src: netip.MustParseAddr("2001:db8::1"), Dst: netip.MustParseAddr("2001:db8::2"), SrcPort: 128, Proto: ProtoICMPv6, HasPorts: true}
	r6 := Key{Src: e6.Dst, Dst: e6.Src, SrcPort: 129, Proto: ProtoICMPv6, HasPorts: true}
	if e6.ID(0) != r6.ID(0) {
		t.Error("icmpv6 echo and reply differ")
	}
	unreach := Key{Src: a, Dst: b, SrcPort: 3, DstPort: 1, Proto: ProtoICMP, HasPorts: true}
	if unreach.ID(0) == unreach.Reverse().ID(0) {
		t.Error("one-way icmp: directions share an id")
	}
	if (Key{}).ID(0) != (CommunityID{}) {
		t.Error("no addresses, yet an id")
	}
	mixed := Key{Src: a, Dst: e6.Dst, Proto: 1}
	if !mixed.ID(0).IsZero() {
		t.Error("mixed families, yet an id")
	}
}

func TestParseCommunityID(t *testing.T) {
	k := Key{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"), Proto: 50}
	id := k.ID(0)
	got, err := ParseCommunityID(" " + id.String() + "\n")
	if err != nil || got != id {
		t.Fatalf("parse %q: %v %v", id, got, err)
	}
	for _, bad := range []string{"", "1:", "2:" + id.String()[2:], id.String()[:29], "1:!!!!!!!!!!!!!!!!!!!!!!!!!!!!"} {
		if _, err := ParseCommunityID(bad); !errors.Is(err, ErrCommunityID) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
