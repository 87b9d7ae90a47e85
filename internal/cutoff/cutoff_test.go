package cutoff

import (
	"encoding/binary"
	"testing"

	"github.com/packetrecorderd/packetrecorderd/internal/flow"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

// frame is an Ethernet + IPv4 + TCP (or UDP) frame of payload bytes
// from a:ap to b:bp, with TCP flags.
func frame(a, b [4]byte, ap, bp uint16, udp bool, flags byte, payload int) []byte {
	l4 := 20
	if udp {
		l4 = 8
	}
	f := make([]byte, 14+20+l4+payload)
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:]
	ip[0], ip[8], ip[9] = 0x45, 64, 6
	if udp {
		ip[9] = 17
	}
	binary.BigEndian.PutUint16(ip[2:], uint16(20+l4+payload))
	copy(ip[12:], a[:])
	copy(ip[16:], b[:])
	binary.BigEndian.PutUint16(ip[20:], ap)
	binary.BigEndian.PutUint16(ip[22:], bp)
	if udp {
		binary.BigEndian.PutUint16(ip[24:], uint16(8+payload))
	} else {
		ip[32], ip[33] = 5<<4, flags
	}
	return f
}

var (
	client  = [4]byte{192, 168, 1, 10}
	server  = [4]byte{192, 168, 1, 20}
	suspect = [4]byte{10, 0, 0, 5}
)

// TestRulesFirstMatch sends ten 1000-byte packets on flows that the rules
// classify, and checks from the rules' definitions which packets are cut:
// a flow that matches several rules takes the first.
func TestRulesFirstMatch(t *testing.T) {
	rules := []Rule{
		{Filter: "tcp port 443", Limit: Limit{Bytes: 2000}},
		{Filter: "port 22", Limit: Limit{Bytes: Unlimited, Packets: 5}},
		{Filter: "host 10.0.0.5", Limit: Limit{Bytes: Unlimited}},
		{Filter: "udp", Limit: Limit{Bytes: 0, Keep: KeepNone}},
	}
	for _, c := range []struct {
		name   string
		a, b   [4]byte
		bp     uint16
		udp    bool
		whole  int // packets stored whole
		stored int // packets stored at all
	}{
		// 2000 bytes: packets 1 and 2 carry 0 and 1000 before them,
		// packet 3 carries 2000 before it: cut.
		{"tls", client, server, 443, false, 2, 10},
		// host 10.0.0.5 comes after tcp port 443: the first match wins.
		{"tls of the suspect", suspect, server, 443, false, 2, 10},
		{"ssh", client, server, 22, false, 5, 10},
		{"ssh of the suspect", suspect, server, 22, false, 5, 10},
		{"suspect's web", suspect, server, 80, false, 10, 10},
		// bytes: 0 cuts from the first packet; keep none stores nothing.
		{"udp", client, server, 53, true, 0, 0},
		{"suspect's udp", suspect, server, 53, true, 10, 10},
		// No rule: the default, 3000 bytes.
		{"web", client, server, 80, false, 3, 10},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := New(Config{Enabled: true, Rules: rules, Default: Limit{Bytes: 3000}})
			whole, stored := 0, 0
			for i := range 10 {
				var f []byte
				if i%2 == 0 {
					f = frame(c.a, c.b, 40000, c.bp, c.udp, 0x18, 1000)
				} else {
					f = frame(c.b, c.a, c.bp, 40000, c.udp, 0x18, 1000)
				}
				keep := e.Packet(1, 0, int64(i+1)*1e6, f, len(f))
				switch {
				case keep == len(f):
					whole++
					stored++
				case keep >= 0:
					hdr := 14 + 20 + 20
					if c.udp {
						hdr = 14 + 20 + 8
					}
					if keep != hdr {
						t.Errorf("packet %d cut to %d bytes, want its %d bytes of headers", i+1, keep, hdr)
					}
					stored++
				}
			}
			if whole != c.whole || stored != c.stored {
				t.Errorf("%d whole, %d stored; want %d, %d", whole, stored, c.whole, c.stored)
			}
			if whole < 10 && e.Stats().FlowsCut != 1 || whole == 10 && e.Stats().FlowsCut != 0 {
				t.Errorf("flows cut: %d", e.Stats().FlowsCut)
			}
		})
	}
}

// TestNotIPNeverCut: a frame of no flow (ARP) is stored whole whatever
// the cutoff.
func TestNotIPNeverCut(t *testing.T) {
	e := New(Config{Enabled: true, Default: Limit{Bytes: 0, Keep: KeepNone}})
	arp := make([]byte, 60)
	binary.BigEndian.PutUint16(arp[12:], 0x0806)
	for i := range 5 {
		if keep := e.Packet(1, 0, int64(i), arp, 60); keep != 60 {
			t.Fatalf("ARP frame: keep %d", keep)
		}
	}
	if s := e.Stats(); s.CutPackets() != 0 || s.Flows != 0 {
		t.Errorf("stats %+v", s)
	}
}

// TestApplyCompactsBlock: a block's cut records shrink in place, the
// dropped ones go, and the block's counts and times follow; the original
// lengths stay.
func TestApplyCompactsBlock(t *testing.T) {
	e := New(Config{Enabled: true, Default: Limit{Bytes: 1500, Keep: KeepHeaders}})
	var b store.Block
	b.Reset(1)
	var want [][2]int // caplen, origlen
	for i := range 6 {
		f := frame(client, server, 40000, 80, false, 0x18, 1000)
		b.Append(int64(10-i), len(f), f) // times out of order
		capLen := len(f)
		if i >= 2 { // 0 and 1000 carried before packets 1 and 2; 2000 before 3
			capLen = 54
		}
		want = append(want, [2]int{capLen, len(f)})
	}
	arp := make([]byte, 42)
	binary.BigEndian.PutUint16(arp[12:], 0x0806)
	b.Append(100, 42, arp)
	want = append(want, [2]int{42, 42})
	wire := b.WireBytes
	e.Apply(&b)
	var got [][2]int
	err := store.WalkBlock(b.Data, 1, b.LinkType, 0, func(r store.Record) error {
		got = append(got, [2]int{len(r.Data), r.OrigLen})
		return nil
	})
	if err != nil || len(got) != len(want) || b.Count != len(want) || b.WireBytes != wire {
		t.Fatalf("block: %v (%v), count %d, wire %d (was %d)", got, err, b.Count, b.WireBytes, wire)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("record %d: caplen, len %v; want %v", i+1, got[i], want[i])
		}
	}

	// keep none: the cut records go; the block's times are the rest's.
	e = New(Config{Enabled: true, Default: Limit{Bytes: 1500, Keep: KeepNone}})
	b.Reset(1)
	for i := range 6 {
		f := frame(client, server, 40000, 80, false, 0x18, 1000)
		b.Append(int64(10+i), len(f), f)
	}
	e.Apply(&b)
	if b.Count != 2 || b.FirstTS != 10 || b.LastTS != 11 || b.MinTS != 10 || b.MaxTS != 11 || b.WireBytes != 2*1054 || len(b.Data) != 2*(16+1054) {
		t.Errorf("keep none: %+v", b)
	}
	if s := e.Stats(); s.DropPackets != 4 || s.CutBytes != 4*1054 || s.DropBytes != 4*1054 {
		t.Errorf("keep none: stats %+v", s)
	}
}

// TestTableBoundedEvictsAndCounts: with a table of 2 flows, a third
// evicts the least recently active, counted; the evicted flow starts
// afresh (its cutoff too) when it comes back.
func TestTableBoundedEvictsAndCounts(t *testing.T) {
	var ended []flow.End
	e := New(Config{Enabled: true, TableSize: 2, Default: Limit{Bytes: 1000},
		Flows: func(f *flow.Flow, iface int, final bool) {
			if final {
				ended = append(ended, f.End)
			}
		}})
	a := frame(client, server, 1, 80, false, 0x18, 1000)
	b := frame(client, server, 2, 80, false, 0x18, 1000)
	c := frame(client, server, 3, 80, false, 0x18, 1000)
	e.Packet(1, 0, 1, a, len(a))
	if k := e.Packet(1, 0, 2, a, len(a)); k != 54 {
		t.Fatalf("second packet of a: keep %d, want 54", k)
	}
	e.Packet(1, 0, 3, b, len(b))
	e.Packet(1, 0, 4, c, len(c)) // evicts a
	if s := e.Stats(); s.Evicted != 1 || s.Active != 2 || len(ended) != 1 || ended[0] != flow.EndEvicted {
		t.Fatalf("stats %+v, ended %v", s, ended)
	}
	if k := e.Packet(1, 0, 5, a, len(a)); k != len(a) {
		t.Errorf("a after its eviction: keep %d, want it whole (a new flow)", k)
	}
}

// TestFINAndIdleEndFlows: a flow ends after FIN both ways (and the
// linger) or when idle; a new connection on the same 5-tuple starts with
// a fresh count.
func TestFINAndIdleEndFlows(t *testing.T) {
	var ends []flow.End
	e := New(Config{Enabled: true, IdleTimeout: 10e9, Default: Limit{Bytes: 1000},
		Flows: func(f *flow.Flow, iface int, final bool) {
			if final {
				ends = append(ends, f.End)
			}
		}})
	d := frame(client, server, 1, 80, false, 0x18, 1000)
	e.Packet(1, 0, 1e9, d, len(d))
	e.Packet(1, 0, 2e9, frame(client, server, 1, 80, false, 0x11, 0), 54)
	e.Packet(1, 0, 3e9, frame(server, client, 80, 1, false, 0x11, 0), 54)
	// After the linger (2 s), the 5-tuple is a new connection.
	if k := e.Packet(1, 0, 10e9, d, len(d)); k != len(d) {
		t.Errorf("after FIN: keep %d, want whole", k)
	}
	if k := e.Packet(1, 0, 11e9, d, len(d)); k != 54 {
		t.Errorf("second packet: keep %d, want 54", k)
	}
	// Idle for more than 10 s: a new flow again.
	if k := e.Packet(1, 0, 30e9, d, len(d)); k != len(d) {
		t.Errorf("after idle: keep %d, want whole", k)
	}
	if len(ends) != 2 || ends[0] != flow.EndFIN || ends[1] != flow.EndIdle {
		t.Errorf("ends %v, want fin, idle", ends)
	}
}
