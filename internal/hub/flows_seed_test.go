package hub

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/packetrecorderd/packetrecorderd/internal/api"
	"github.com/packetrecorderd/packetrecorderd/internal/fleet"
	"github.com/packetrecorderd/packetrecorderd/internal/flow"
	"github.com/packetrecorderd/packetrecorderd/internal/selection"
	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// tsharkIDs are tshark's Community IDs (with seed) of a capture's
// frames, in order, each fragment keyed by what it carries itself.
func tsharkIDs(t *testing.T, path string, seed uint16) []string {
	t.Helper()
	out, err := exec.Command("tshark", "-r", path, "--enable-protocol", "communityid", "-o", "communityid.seed:"+strconv.Itoa(int(seed)),
		"-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE", "-T", "fields", "-e", "communityid").Output()
	if err != nil {
		t.Fatalf("tshark -r %s: %v", path, err)
	}
	return strings.Split(strings.TrimRight(string(out), "\n"), "\n")
}

// laterFragment makes an IPv4 frame of synthPacket a fragment that is
// not the first (offset 1480): what follows its IP header is payload,
// not a transport header.
func laterFragment(b []byte) []byte {
	binary.BigEndian.PutUint16(b[14+6:], 185)
	return b
}

// TestHubFlowsCommunityIDSeed: flows of a capture go through the flow
// table and a real shipper into PostgreSQL; the hub answers
// /api/v1/flows?community_id=X&community_id_seed=4242 with the flow
// whose packets tshark gives that ID with that seed (UDP, TCP, ICMP echo
// and reply, IPv6, a lone later fragment keyed without ports), the
// window and the filter narrowing it as for seed 0; and its packets
// through the hub are those tshark gives the ID. Before, flows of a
// non-zero seed were refused (400).
func TestHubFlowsCommunityIDSeed(t *testing.T) {
	testkit.RequireTool(t, "tshark")
	testkit.RequireTool(t, "tcpdump")
	const seed = 4242
	base := time.Now().Add(-3 * time.Hour).Truncate(time.Second).UnixNano()
	a := netip.MustParseAddr
	type pkt struct {
		flow string
		ts   int64
		data []byte
	}
	pkts := []pkt{
		{"udp", base, synthPacket(a("10.5.0.1"), a("10.5.0.2"), 17, 5353, 53)},
		{"udp", base + 1e6, synthPacket(a("10.5.0.2"), a("10.5.0.1"), 17, 53, 5353)},
		{"tcp", base + 2e6, synthPacket(a("10.5.0.3"), a("10.5.0.4"), 6, 40000, 443)},
		{"tcp", base + 3e6, synthPacket(a("10.5.0.4"), a("10.5.0.3"), 6, 443, 40000)},
		{"icmp", base + 4e6, synthPacket(a("10.5.0.5"), a("10.5.0.6"), 1, 8, 0)},
		{"icmp", base + 5e6, synthPacket(a("10.5.0.6"), a("10.5.0.5"), 1, 0, 0)},
		{"udp6", base + 6e6, synthPacket(a("2001:db8::1"), a("2001:db8::2"), 17, 1000, 53)},
		{"frag", base + 7e6, laterFragment(synthPacket(a("10.5.0.7"), a("10.5.0.8"), 6, 1234, 80))},
		{"udp again", base + int64(time.Hour), synthPacket(a("10.5.0.1"), a("10.5.0.2"), 17, 5353, 53)},
	}
	path := filepath.Join(t.TempDir(), "flows.pcapng")
	var tp []testPacket
	for _, p := range pkts {
		tp = append(tp, testPacket{ts: p.ts, data: p.data})
	}
	writeCapture(t, path, tp)
	ids0, idsN := tsharkIDs(t, path, 0), tsharkIDs(t, path, seed)
	if len(ids0) != len(pkts) || len(idsN) != len(pkts) {
		t.Fatalf("tshark: %d and %d IDs for %d frames", len(ids0), len(idsN), len(pkts))
	}
	first := map[string]int{} // each flow's first frame
	for i, p := range pkts {
		if j, ok := first[p.flow]; ok {
			if ids0[i] != ids0[j] || idsN[i] != idsN[j] {
				t.Fatalf("tshark keys frames %d and %d of flow %s apart", j+1, i+1, p.flow)
			}
			continue
		}
		first[p.flow] = i
		if idsN[i] == "" || idsN[i] == ids0[i] {
			t.Fatalf("frame %d: tshark's IDs %q (seed 0), %q (seed %d)", i+1, ids0[i], idsN[i], seed)
		}
	}

	// The flows, as a sensor's recorder makes and ships them.
	var rows []fleet.FlowRow
	table, err := flow.NewTable(flow.Config{Emit: func(f *flow.Flow) { rows = append(rows, fleet.FlowRowOf("eth0", f, true)) }})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pkts {
		var fp flow.Packet
		if !flow.Extract(1, p.data, &fp) {
			t.Fatalf("flow %s: no flow key", p.flow)
		}
		table.Add(p.ts, &fp, len(p.data))
	}
	table.Flush()
	if len(rows) != len(first) {
		t.Fatalf("%d flows, want %d", len(rows), len(first))
	}
	pg := testkit.StartPostgresCluster(t)
	// Sensor s1 serves the capture through the real API (its packets),
	// and ships the flows.
	sensor := httptest.NewServer(api.New(api.Options{Selector: fileSelector{path}}, testAccess()))
	defer sensor.Close()
	s := startShipper(t, "s1", pg.DSN, sensor.URL)
	for i := range rows {
		if !s.Flow(&rows[i]) {
			t.Fatal("the outbox refused a flow")
		}
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for deadline := time.Now().Add(30 * time.Second); ; {
		var n int
		var through int64
		err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM prd_flows), coalesce((SELECT flows_through_ns FROM prd_sensors WHERE sensor = 's1'), 0)`).Scan(&n, &through)
		if err == nil && n == len(rows) && through > time.Now().Add(-time.Minute).UnixNano() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("PostgreSQL holds %d of %d flows, mark %d (%v)", n, len(rows), through, err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	_, srv := startTestHub(t, pg.DSN)
	list := func(q url.Values) []selection.Flow {
		t.Helper()
		resp, body := hubGet(t, srv, "/api/v1/flows", q)
		if resp.StatusCode != 200 {
			t.Fatalf("flows %v: %s %s", q, resp.Status, body)
		}
		var out []selection.Flow
		for _, line := range strings.Split(strings.TrimSpace(string(body)), "\n") {
			var probe map[string]json.RawMessage
			if err := json.Unmarshal([]byte(line), &probe); err != nil {
				t.Fatalf("line %q: %v", line, err)
			}
			if probe["end"] != nil {
				var end struct{ End struct{ Missing []any } }
				json.Unmarshal([]byte(line), &end)
				if len(end.End.Missing) != 0 {
					t.Fatalf("flows %v: missing %v", q, end.End.Missing)
				}
				continue
			}
			var f selection.Flow
			json.Unmarshal([]byte(line), &f)
			out = append(out, f)
		}
		return out
	}
	window := func(until time.Duration, more ...string) url.Values {
		q := url.Values{"since": {time.Unix(0, base-int64(time.Second)).UTC().Format(time.RFC3339Nano)},
			"until": {time.Unix(0, base+int64(until)).UTC().Format(time.RFC3339Nano)}, "limit": {"0"}}
		for i := 0; i+1 < len(more); i += 2 {
			q.Set(more[i], more[i+1])
		}
		return q
	}
	for name, i := range first {
		if name == "udp again" {
			continue
		}
		got := list(window(time.Minute, "community_id", idsN[i], "community_id_seed", strconv.Itoa(seed)))
		var fp flow.Packet
		flow.Extract(1, pkts[i].data, &fp)
		if len(got) != 1 || got[0].CommunityID != ids0[i] || got[0].Src != fp.Key.Src.String() || got[0].Dst != fp.Key.Dst.String() {
			t.Errorf("flow %s, tshark's ID %s with seed %d: got %+v, want the one flow of %s > %s (seed 0: %s)", name, idsN[i], seed, got,
				fp.Key.Src, fp.Key.Dst, ids0[i])
		}
	}
	udp := idsN[first["udp"]]
	// Packets with the seed, through the hub: each flow's, as many as
	// tshark gives its ID with that seed, in tcpdump's reading of the
	// answer.
	if _, err := conn.Exec(ctx, `INSERT INTO prd_segments (sensor, interface, segment, first_ns, last_ns, packets, bytes, closed)
		VALUES ('s1', 'eth0', 'a', $1, $2, $3, 1000, false)`, base, base+int64(time.Hour), len(pkts)); err != nil {
		t.Fatal(err)
	}
	for name, i := range first {
		want := 0
		for j := range pkts {
			if idsN[j] == idsN[i] {
				want++
			}
		}
		q := window(2*time.Hour, "community_id", idsN[i], "community_id_seed", strconv.Itoa(seed), "format", "pcap")
		resp, body := hubGet(t, srv, "/api/v1/packets", q)
		if resp.StatusCode != 200 {
			t.Fatalf("packets of %s: %s %s", name, resp.Status, body)
		}
		out := filepath.Join(t.TempDir(), "answer.pcap")
		if err := os.WriteFile(out, body, 0o600); err != nil {
			t.Fatal(err)
		}
		lines, err := exec.Command("tcpdump", "-r", out, "-nn").Output()
		if err != nil {
			t.Fatalf("tcpdump -r: %v", err)
		}
		if got := strings.Count(string(lines), "\n"); got != want {
			t.Errorf("packets of flow %s (tshark's ID %s, seed %d): tcpdump reads %d, want %d", name, idsN[i], seed, got, want)
		}
	}
	for _, tc := range []struct {
		what string
		q    url.Values
		want int
	}{
		{"a window over both udp flows", window(2*time.Hour, "community_id", udp, "community_id_seed", strconv.Itoa(seed)), 2},
		{"the filter port 53", window(2*time.Hour, "community_id", udp, "community_id_seed", strconv.Itoa(seed), "filter", "port 53"), 2},
		{"the filter tcp", window(2*time.Hour, "community_id", udp, "community_id_seed", strconv.Itoa(seed), "filter", "tcp"), 0},
		{"the interface eth1", window(2*time.Hour, "community_id", udp, "community_id_seed", strconv.Itoa(seed), "interface", "eth1"), 0},
		{"the interface eth0", window(2*time.Hour, "community_id", udp, "community_id_seed", strconv.Itoa(seed), "interface", "eth0"), 2},
		{"the seed-4242 ID as seed 0", window(2*time.Hour, "community_id", udp), 0},
		{"the seed-0 ID as seed 4242", window(2*time.Hour, "community_id", ids0[first["udp"]], "community_id_seed", strconv.Itoa(seed)), 0},
		{"the seed-0 ID as seed 0", window(2*time.Hour, "community_id", ids0[first["udp"]]), 2},
	} {
		if got := list(tc.q); len(got) != tc.want {
			t.Errorf("%s: %d flows, want %d: %+v", tc.what, len(got), tc.want, got)
		}
	}
}
