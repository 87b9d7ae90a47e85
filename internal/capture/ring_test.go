package capture

import (
	"bytes"
	"encoding/binary"
	"slices"
	"testing"
)

type testPkt struct {
	sec, nsec uint32
	data      []byte
	wire      int
	status    uint32
	tci       uint16
	tpid      uint16
	pkttype   byte
	// sockaddr_ll fields, for cooked captures.
	protocol uint16
	ifindex  int32
	hatype   uint16
	addr     []byte
	mac      int // offset of the packet from its header; 0 means 80
}

// buildBlock lays packets out as the kernel does in a TPACKET_V3 block.
func buildBlock(pkts []testPkt) []byte {
	ne := binary.NativeEndian
	block := make([]byte, 1<<16)
	ne.PutUint32(block[blkNumPktsOff:], uint32(len(pkts)))
	ne.PutUint32(block[blkFirstPktOff:], blkHdrLen)
	off := blkHdrLen
	for i, p := range pkts {
		h := block[off:]
		mac := 80 // after header and sockaddr_ll, aligned
		if p.mac != 0 {
			mac = p.mac
		}
		size := (mac + len(p.data) + 15) &^ 15
		if i < len(pkts)-1 {
			ne.PutUint32(h[pktNextOff:], uint32(size))
		}
		ne.PutUint32(h[pktSecOff:], p.sec)
		ne.PutUint32(h[pktNsecOff:], p.nsec)
		ne.PutUint32(h[pktSnaplenOff:], uint32(len(p.data)))
		ne.PutUint32(h[pktLenOff:], uint32(p.wire))
		ne.PutUint32(h[pktStatusOff:], p.status|tpStatusUser)
		ne.PutUint16(h[pktMacOff:], uint16(mac))
		ne.PutUint32(h[pktVLANTCIOff:], uint32(p.tci))
		ne.PutUint16(h[pktVLANTPIDOff:], p.tpid)
		h[pktTypeOff] = p.pkttype
		binary.BigEndian.PutUint16(h[sllProtocolOff:], p.protocol)
		ne.PutUint32(h[sllIfindexOff:], uint32(p.ifindex))
		ne.PutUint16(h[sllHatypeOff:], p.hatype)
		h[sllHalenOff] = byte(len(p.addr))
		copy(h[sllAddrOff:sllAddrOff+8], p.addr)
		copy(h[mac:], p.data)
		off += size
	}
	return block
}

func frame(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i)
	}
	binary.BigEndian.PutUint16(b[12:], 0x0800)
	return b
}

func TestWalkBlock(t *testing.T) {
	pkts := []testPkt{
		{sec: 1700000000, nsec: 123456789, data: frame(60), wire: 60},
		{sec: 1700000001, nsec: 5, data: frame(100), wire: 1500},
		{sec: 1700000002, nsec: 0, data: frame(64), wire: 64, status: tpStatusVLANValid, tci: 0x2064},
		{sec: 1700000003, nsec: 0, data: frame(64), wire: 64, status: tpStatusVLANValid | tpStatusVLANTPIDValid, tci: 7, tpid: 0x88a8},
		{sec: 1700000004, nsec: 0, data: frame(70), wire: 70, pkttype: packetOutgoing},
	}
	w := blockWalker{ethernet: true}
	var got []Packet
	seen, delivered, err := w.walk(buildBlock(pkts), func(p Packet) {
		p.Data = append([]byte(nil), p.Data...)
		got = append(got, p)
	})
	if err != nil || seen != 5 || delivered != 5 {
		t.Fatalf("seen %d delivered %d err %v", seen, delivered, err)
	}
	if got[0].Timestamp != 1700000000123456789 || !bytes.Equal(got[0].Data, pkts[0].data) || got[0].OrigLen != 60 {
		t.Errorf("packet 1: %+v", got[0])
	}
	if got[1].OrigLen != 1500 || len(got[1].Data) != 100 {
		t.Errorf("packet 2 lengths: caplen %d len %d", len(got[1].Data), got[1].OrigLen)
	}
	// The tag goes back between the MAC addresses and the EtherType.
	want := append(append(append([]byte{}, pkts[2].data[:12]...), 0x81, 0x00, 0x20, 0x64), pkts[2].data[12:]...)
	if !bytes.Equal(got[2].Data, want) || got[2].OrigLen != 68 {
		t.Errorf("vlan packet: % x (len %d)", got[2].Data[:20], got[2].OrigLen)
	}
	if got[3].Data[12] != 0x88 || got[3].Data[13] != 0xa8 || got[3].Data[15] != 7 {
		t.Errorf("QinQ tpid not kept: % x", got[3].Data[:16])
	}

	// On loopback the outgoing copy is skipped but still counted as seen.
	lo := blockWalker{ethernet: true, skipOutgoing: true}
	seen, delivered, _ = lo.walk(buildBlock(pkts), func(Packet) {})
	if seen != 5 || delivered != 4 {
		t.Errorf("loopback: seen %d delivered %d", seen, delivered)
	}
}

func TestWalkBlockRejectsGarbage(t *testing.T) {
	block := buildBlock([]testPkt{{data: frame(60), wire: 60}})
	binary.NativeEndian.PutUint32(block[blkHdrLen+pktSnaplenOff:], 1<<20)
	w := blockWalker{}
	if _, _, err := w.walk(block, func(Packet) {}); err == nil {
		t.Error("snaplen beyond the block accepted")
	}
	binary.NativeEndian.PutUint32(block[blkFirstPktOff:], 1<<30)
	if _, _, err := w.walk(block, func(Packet) {}); err == nil {
		t.Error("first packet offset beyond the block accepted")
	}
	if _, _, err := w.walk(block[:10], func(Packet) {}); err == nil {
		t.Error("short block accepted")
	}
}

func TestRingGeometry(t *testing.T) {
	for _, c := range []struct{ size, snap int }{{10 << 20, 65535}, {64 << 20, 65535}, {64 << 10, 65535}, {1 << 20, 262144}, {10 << 20, 100}} {
		bs, n := ringGeometry(c.size, c.snap)
		if bs&(bs-1) != 0 || bs < 4096 || bs < c.snap+blkHdrLen+pktHdrLen || n < 4 {
			t.Errorf("ringGeometry(%d, %d) = %d x %d", c.size, c.snap, bs, n)
		}
	}
}

// TestWalkCookedBlock: on the "any" device each packet gets the 20-byte
// LINUX_SLL2 header of the link type's specification (protocol, zero,
// interface index, ARPHRD type, packet type, address length, address
// padded with zeros to 8 bytes), its wire length grows by 20, the snaplen
// cuts the whole; the loopback's outgoing copies are skipped.
func TestWalkCookedBlock(t *testing.T) {
	mac := []byte{0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee}
	pkts := []testPkt{
		{sec: 1, data: ipBytes(40), wire: 40, protocol: 0x0800, ifindex: 5, hatype: 1, pkttype: 0, addr: mac},
		{sec: 2, data: ipBytes(60), wire: 60, protocol: 0x0800, ifindex: 1, hatype: 772, pkttype: packetOutgoing, addr: make([]byte, 6)},
		{sec: 3, data: ipBytes(60), wire: 60, protocol: 0x0800, ifindex: 1, hatype: 772, pkttype: 0, addr: make([]byte, 6)},
		{sec: 4, data: ipBytes(100), wire: 1500, protocol: 0x86dd, ifindex: 7, hatype: 1, pkttype: packetOutgoing, addr: mac},
		{sec: 5, data: ipBytes(30), wire: 30, protocol: 0x0806, ifindex: 9, hatype: 0xfffe, pkttype: 3, addr: nil},
	}
	// Packets 80 bytes after their header leave no room for the cooked
	// header (it is built in a copy); 112 bytes after, with the 20 bytes
	// PACKET_RESERVE keeps, it is built in place. The results are the same.
	for _, off := range []int{80, 112} {
		for i := range pkts {
			pkts[i].mac = off
		}
		walkCooked(t, pkts, off, mac)
	}
}

func walkCooked(t *testing.T, pkts []testPkt, off int, mac []byte) {
	t.Helper()
	block := buildBlock(pkts)
	var seenByFilter, bytesSeenByFilter []int
	w := blockWalker{cooked: true, loIndex: 1, snaplen: 80, match: func(data []byte, wire int) bool {
		seenByFilter = append(seenByFilter, wire)
		bytesSeenByFilter = append(bytesSeenByFilter, len(data))
		return binary.BigEndian.Uint16(data) != 0x0806 // drop ARP
	}}
	var got []Packet
	seen, delivered, err := w.walk(block, func(p Packet) {
		p.Data = bytes.Clone(p.Data)
		got = append(got, p)
	})
	if err != nil || seen != 5 || delivered != 3 {
		t.Fatalf("offset %d: seen %d delivered %d err %v; want 5, 3, nil", off, seen, delivered, err)
	}
	// As libpcap's, the filter sees the length without the cooked header
	// (what the kernel's filter would see) and the whole packet, before
	// the snaplen cuts it; it never sees the loopback's outgoing copy.
	if want := []int{40, 60, 1500, 30}; !slices.Equal(seenByFilter, want) {
		t.Errorf("the filter saw wire lengths %v, want %v", seenByFilter, want)
	}
	if want := []int{60, 80, 120, 50}; !slices.Equal(bytesSeenByFilter, want) {
		t.Errorf("the filter saw %v bytes, want %v", bytesSeenByFilter, want)
	}
	hdr := func(proto uint16, ifindex uint32, hatype uint16, pkttype byte, addr []byte) []byte {
		h := binary.BigEndian.AppendUint16(nil, proto)
		h = append(h, 0, 0)
		h = binary.BigEndian.AppendUint32(h, ifindex)
		h = binary.BigEndian.AppendUint16(h, hatype)
		h = append(h, pkttype, byte(len(addr)))
		var a [8]byte
		copy(a[:], addr)
		return append(h, a[:]...)
	}
	want := []Packet{
		{Timestamp: 1e9, OrigLen: 60, Data: append(hdr(0x0800, 5, 1, 0, mac), ipBytes(40)...)},
		{Timestamp: 3e9, OrigLen: 80, Data: append(hdr(0x0800, 1, 772, 0, make([]byte, 6)), ipBytes(60)...)},
		{Timestamp: 4e9, OrigLen: 1520, Data: append(hdr(0x86dd, 7, 1, packetOutgoing, mac), ipBytes(100)...)[:80]},
	}
	for i := range want {
		if got[i].Timestamp != want[i].Timestamp || got[i].OrigLen != want[i].OrigLen || !bytes.Equal(got[i].Data, want[i].Data) {
			t.Errorf("offset %d, packet %d:\ngot  %d %d % x\nwant %d %d % x", off, i, got[i].Timestamp, got[i].OrigLen, got[i].Data, want[i].Timestamp, want[i].OrigLen, want[i].Data)
		}
	}
}

// FuzzRingWalk: no block makes the ring walker panic or read out of
// bounds, in any of its modes (Ethernet with tags put back, loopback,
// cooked with its built headers and a filter), and what it delivers
// stays within the block's packets and the snaplen.
func FuzzRingWalk(f *testing.F) {
	f.Add(buildBlock([]testPkt{{data: frame(60), wire: 60, status: tpStatusVLANValid, tci: 5}}), uint16(100))
	f.Add(buildBlock([]testPkt{
		{data: frame(40), wire: 40, protocol: 0x0800, ifindex: 3, hatype: 1, addr: []byte{1, 2, 3, 4, 5, 6}},
		{data: frame(20), wire: 90, protocol: 0x86dd, ifindex: 1, pkttype: packetOutgoing},
	}), uint16(30))
	f.Fuzz(func(t *testing.T, block []byte, snap uint16) {
		snaplen := int(snap) + 1
		for _, w := range []blockWalker{
			{ethernet: true, snaplen: snaplen},
			{ethernet: true, skipOutgoing: true, snaplen: snaplen},
			{cooked: true, loIndex: 1, snaplen: snaplen, match: func(d []byte, wire int) bool { return len(d) > 0 && d[0]&1 == 0 }},
		} {
			n := 0
			seen, delivered, _ := w.walk(block, func(p Packet) {
				n++
				if w.cooked && len(p.Data) > snaplen {
					t.Fatalf("cooked packet of %d bytes, snaplen %d", len(p.Data), snaplen)
				}
			})
			if delivered != n || delivered > seen {
				t.Fatalf("seen %d delivered %d, callback ran %d times", seen, delivered, n)
			}
		}
	})
}

// ipBytes is n bytes that start like an IPv4 header.
func ipBytes(n int) []byte {
	b := make([]byte, n)
	b[0] = 0x45
	for i := 1; i < n; i++ {
		b[i] = byte(i * 3)
	}
	return b
}
