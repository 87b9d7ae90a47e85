package capture

import (
	"bytes"
	"encoding/binary"
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
