package hub

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/packetrecorderd/packetrecorderd/internal/selection"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// TestListFlowsFromRows: the hub's flows are prd_flows' rows, each with
// its sensor; a filter matches a flow when a packet of a direction it was
// seen in matches (src host of the responder only when it answered); a
// filter the records cannot answer is the client's mistake.
func TestListFlowsFromRows(t *testing.T) {
	dsn := testkit.StartPostgres(t)
	ctx := context.Background()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	schemaOn(t, c)
	insertFlow(t, c, "s1", "eth0", "1:a", 17, "10.0.0.1", 5353, "10.0.0.2", 53, sec(10), sec(20)) // 3 -> 2 <-
	insertFlow(t, c, "s2", "eth1", "1:b", 6, "10.0.0.3", 40000, "10.0.0.2", 443, sec(5), sec(40))
	if _, err := c.Exec(ctx, `UPDATE prd_flows SET packets_rev = 0, bytes_rev = 0 WHERE community_id = '1:b'`); err != nil {
		t.Fatal(err)
	}
	insertFlow(t, c, "s2", "eth1", "1:c", 6, "10.0.0.4", 40001, "10.0.0.5", 22, sec(100), sec(101))

	h, err := New(Options{Config: &Config{Postgres: dsn}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	window := store.Range{Since: sec(0), Until: sec(50), HasSince: true, HasUntil: true}
	ids := func(l selection.FlowList) []string {
		var out []string
		for _, f := range l.Flows {
			out = append(out, f.Sensor+"/"+f.Interface+" "+f.CommunityID)
		}
		return out
	}
	for _, tc := range []struct {
		spec selection.Spec
		opts selection.FlowOptions
		want []string
	}{
		{selection.Spec{Range: window}, selection.FlowOptions{}, []string{"s2/eth1 1:b", "s1/eth0 1:a"}},
		{selection.Spec{}, selection.FlowOptions{Sort: "bytes"}, []string{"s1/eth0 1:a", "s2/eth1 1:c", "s2/eth1 1:b"}},
		{selection.Spec{}, selection.FlowOptions{Sort: "duration", Limit: 1}, []string{"s2/eth1 1:b"}},
		// 10.0.0.2 sent packets in 1:a (it answered), none in 1:b.
		{selection.Spec{Filter: "src host 10.0.0.2"}, selection.FlowOptions{}, []string{"s1/eth0 1:a"}},
		{selection.Spec{Filter: "dst host 10.0.0.2"}, selection.FlowOptions{}, []string{"s2/eth1 1:b", "s1/eth0 1:a"}},
		{selection.Spec{Filter: "tcp and not port 22"}, selection.FlowOptions{}, []string{"s2/eth1 1:b"}},
		{selection.Spec{Filter: "udp", ForcedFilter: "net 10.0.0.0/30"}, selection.FlowOptions{}, []string{"s1/eth0 1:a"}},
		{selection.Spec{Interface: "s2/eth1"}, selection.FlowOptions{}, []string{"s2/eth1 1:b", "s2/eth1 1:c"}},
		{selection.Spec{CommunityID: "1:c"}, selection.FlowOptions{}, []string{"s2/eth1 1:c"}},
	} {
		l, err := h.ListFlows(ctx, tc.spec, tc.opts)
		if err != nil {
			t.Fatalf("%+v: %v", tc.spec, err)
		}
		if got := ids(l); !equal(got, tc.want) {
			t.Errorf("%+v %+v: flows %v, want %v", tc.spec, tc.opts, got, tc.want)
		}
	}
	// A limit keeps the first flows of the whole sorted list (the hub
	// keeps at most twice the limit while it reads), and the totals are
	// the whole list's.
	for _, by := range []string{"start", "packets", "bytes", "duration"} {
		all, err := h.ListFlows(ctx, selection.Spec{}, selection.FlowOptions{Sort: by})
		if err != nil {
			t.Fatal(err)
		}
		for _, limit := range []int64{1, 2} {
			l, err := h.ListFlows(ctx, selection.Spec{}, selection.FlowOptions{Sort: by, Limit: limit})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := ids(l), ids(all)[:limit]; !equal(got, want) || l.End.Flows != all.End.Flows || l.End.Packets != all.End.Packets || l.End.Bytes != all.End.Bytes {
				t.Errorf("sort %s, limit %d: %v (%+v), want %v (%+v)", by, limit, got, l.End, want, all.End)
			}
		}
	}
	for _, expr := range []string{"len > 100", "tcp[13] & 2 != 0", "vlan 5", "ether host 02:00:00:00:00:01"} {
		_, err := h.ListFlows(ctx, selection.Spec{Filter: expr}, selection.FlowOptions{})
		var fe *selection.FilterError
		if !errors.As(err, &fe) || fe.Forced {
			t.Errorf("%q: error %v, want the client's filter error", expr, err)
		}
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
