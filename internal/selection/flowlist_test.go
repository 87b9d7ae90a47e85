package selection

import (
	"context"
	"testing"

	"github.com/packetrecorderd/packetrecorderd/internal/flow"
)

// ListFlows with a filter lists the flows holding a matching packet,
// counted whole, and says what its listing pass read: every packet of
// the window and their captured bytes (udpFrame's 14+20+8).
func TestListFlowsRead(t *testing.T) {
	path := twoSessions(t)
	spec := Spec{Database: path, DatabaseSet: true, Sessions: "all", Filter: "udp dst port 3"}
	list, err := ListFlows(context.Background(), spec, FlowOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Flows) != 1 || list.Flows[0].Dport != 3 || list.Flows[0].Packets != 2 {
		t.Fatalf("flows %+v: want the one flow to port 3, of its 2 packets", list.Flows)
	}
	if list.End.PacketsRead != 6 || list.BytesRead != 6*(14+20+8) {
		t.Errorf("read %d packets, %d bytes: want 6 and %d", list.End.PacketsRead, list.BytesRead, 6*(14+20+8))
	}
}

// A flow's endpoints and flags as tcpdump and RFC 3986 write them: an
// IPv6 address bracketed before its port, ICMP's type and code under
// the flags, TCP's flag letters in tcpdump's order.
func TestFlowEndpointsAndFlags(t *testing.T) {
	for _, tc := range []struct {
		f               Flow
		src, dst, flags string
	}{
		{Flow{IPProto: flow.ProtoTCP, Src: "2001:db8::1", Sport: 40000, Dst: "2001:db8::2", Dport: 443, TCPFlags: flow.SYN | flow.ACK | flow.FIN},
			"[2001:db8::1]:40000", "[2001:db8::2]:443", "SF."},
		{Flow{IPProto: flow.ProtoTCP, Src: "10.0.0.1", Sport: 1, Dst: "10.0.0.2", Dport: 2},
			"10.0.0.1:1", "10.0.0.2:2", "none"},
		{Flow{IPProto: flow.ProtoICMP, Src: "10.0.0.1", Sport: 8, Dst: "10.0.0.2", Dport: 0},
			"10.0.0.1", "10.0.0.2", "type 8 code 0"},
		{Flow{IPProto: flow.ProtoUDP, Src: "10.0.0.1", Dst: "10.0.0.2"}, // later fragments only: no ports
			"10.0.0.1", "10.0.0.2", "-"},
		{Flow{IPProto: 47, Src: "10.0.0.1", Dst: "10.0.0.2"}, "10.0.0.1", "10.0.0.2", "-"},
	} {
		src, dst := tc.f.Endpoints()
		if src != tc.src || dst != tc.dst || tc.f.FlagLetters() != tc.flags {
			t.Errorf("%+v: %s %s %q, want %s %s %q", tc.f, src, dst, tc.f.FlagLetters(), tc.src, tc.dst, tc.flags)
		}
	}
}
