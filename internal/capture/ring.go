package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// TPACKET_V3 layout (linux/if_packet.h). Fields are in host byte order.
const (
	tpStatusKernel        = 0
	tpStatusUser          = 1 << 0
	tpStatusVLANValid     = 1 << 4
	tpStatusVLANTPIDValid = 1 << 6

	// struct tpacket_block_desc: version, offset_to_priv, then
	// struct tpacket_hdr_v1.
	blkStatusOff   = 8
	blkNumPktsOff  = 12
	blkFirstPktOff = 16
	blkLenOff      = 20
	blkHdrLen      = 48

	// struct tpacket3_hdr.
	pktNextOff     = 0
	pktSecOff      = 4
	pktNsecOff     = 8
	pktSnaplenOff  = 12
	pktLenOff      = 16
	pktStatusOff   = 20
	pktMacOff      = 24
	pktVLANTCIOff  = 32
	pktVLANTPIDOff = 36
	pktHdrLen      = 48
	// struct sockaddr_ll follows the header at TPACKET_ALIGN(sizeof hdr);
	// sll_pkttype is its byte 10.
	pktTypeOff = pktHdrLen + 10

	packetOutgoing = 4 // PACKET_OUTGOING
	vlanTagLen     = 4

	// struct sockaddr_ll fields, from the start of the header.
	sllProtocolOff = pktHdrLen + 2
	sllIfindexOff  = pktHdrLen + 4
	sllHatypeOff   = pktHdrLen + 8
	sllHalenOff    = pktHdrLen + 11
	sllAddrOff     = pktHdrLen + 12
	sllLen         = 20

	// sll2HdrLen is the LINKTYPE_LINUX_SLL2 header a cooked capture puts
	// before each packet: protocol, reserved, interface index, ARPHRD
	// type, packet type, address length, 8 bytes of address.
	sll2HdrLen = 20
)

var errBadBlock = errors.New("malformed ring block")

// blockWalker turns one ring block into Packets.
type blockWalker struct {
	// ethernet: the frames have an Ethernet header, so a VLAN tag the
	// kernel moved into metadata is put back at byte 12, as libpcap does.
	ethernet bool
	// skipOutgoing drops the copy of each packet that a loopback device
	// shows when sending (the receive copy follows), as libpcap does.
	skipOutgoing bool
	// snaplen caps the bytes delivered once a tag was put back.
	snaplen int
	// cooked: the socket delivers packets from their network header
	// (the "any" device); each gets a LINUX_SLL2 header built from the
	// packet's sockaddr_ll. loIndex is the loopback device's index: its
	// outgoing copies are skipped, as on lo itself.
	cooked  bool
	loIndex int
	// match, when set, is a filter run here rather than in the kernel,
	// on the packet as delivered.
	match   func(data []byte, wireLen int) bool
	scratch []byte
}

// walk calls fn for each packet in block. seen counts every packet of the
// block, delivered those passed to fn.
func (w *blockWalker) walk(block []byte, fn func(Packet)) (seen, delivered int, err error) {
	if len(block) < blkHdrLen {
		return 0, 0, errBadBlock
	}
	ne := binary.NativeEndian
	num := int(ne.Uint32(block[blkNumPktsOff:]))
	off := int(ne.Uint32(block[blkFirstPktOff:]))
	for i := 0; i < num; i++ {
		if off < blkHdrLen || off > len(block)-pktHdrLen-sllLen {
			return seen, delivered, fmt.Errorf("%w: packet %d at offset %d", errBadBlock, i, off)
		}
		h := block[off:]
		next := ne.Uint32(h[pktNextOff:])
		snap32 := ne.Uint32(h[pktSnaplenOff:])
		wire := int(min(ne.Uint32(h[pktLenOff:]), 1<<30))
		status := ne.Uint32(h[pktStatusOff:])
		mac := int(ne.Uint16(h[pktMacOff:]))
		// Unsigned: on 32-bit systems int(uint32) can be negative.
		if uint64(mac)+uint64(snap32) > uint64(len(h)) {
			return seen, delivered, fmt.Errorf("%w: packet %d data out of block", errBadBlock, i)
		}
		snap := int(snap32)
		seen++
		skip := w.skipOutgoing && h[pktTypeOff] == packetOutgoing
		if w.cooked && h[pktTypeOff] == packetOutgoing && int(int32(ne.Uint32(h[sllIfindexOff:]))) == w.loIndex {
			skip = true
		}
		if !skip {
			p := Packet{
				Timestamp: int64(ne.Uint32(h[pktSecOff:]))*1e9 + int64(ne.Uint32(h[pktNsecOff:])),
				OrigLen:   wire,
				Data:      h[mac : mac+snap : mac+snap],
			}
			keep := true
			if w.cooked {
				p.Data = w.withCookedHeader(h, mac, snap)
				p.OrigLen += sll2HdrLen
				// As libpcap's, a filter run here sees the whole packet
				// and the length without the cooked header, as the
				// kernel's would.
				keep = w.match == nil || w.match(p.Data, wire)
				if len(p.Data) > w.snaplen {
					p.Data = p.Data[:w.snaplen]
				}
			}
			if w.ethernet && status&tpStatusVLANValid != 0 && snap >= 12 {
				tci := uint16(ne.Uint32(h[pktVLANTCIOff:]))
				tpid := uint16(0x8100)
				if status&tpStatusVLANTPIDValid != 0 {
					tpid = ne.Uint16(h[pktVLANTPIDOff:])
				}
				p.Data = w.withTag(p.Data, tpid, tci)
				p.OrigLen += vlanTagLen
				if w.snaplen > 0 && len(p.Data) > w.snaplen {
					p.Data = p.Data[:w.snaplen]
				}
			}
			if keep {
				fn(p)
				delivered++
			}
		}
		if next == 0 {
			break
		}
		if uint64(next) > uint64(len(block)) {
			return seen, delivered, fmt.Errorf("%w: packet %d: next packet out of block", errBadBlock, i)
		}
		off += int(next)
	}
	return seen, delivered, nil
}

// withCookedHeader returns the packet at h[mac:mac+snap] with a
// LINUX_SLL2 header in front, built from the sockaddr_ll that follows the
// packet header h. Address bytes beyond the address length are zero. The
// header goes into the room the kernel leaves before the packet
// (PACKET_RESERVE) when there is room, else the packet is copied into a
// scratch buffer reused across packets.
func (w *blockWalker) withCookedHeader(h []byte, mac, snap int) []byte {
	var out []byte
	if mac >= pktHdrLen+sllLen+sll2HdrLen {
		out = h[mac-sll2HdrLen : mac+snap : mac+snap]
	} else {
		n := sll2HdrLen + snap
		if cap(w.scratch) < n {
			w.scratch = make([]byte, n, max(n, 2048))
		}
		out = w.scratch[:n]
		copy(out[sll2HdrLen:], h[mac:mac+snap])
	}
	ne, be := binary.NativeEndian, binary.BigEndian
	copy(out[0:2], h[sllProtocolOff:sllProtocolOff+2]) // already big-endian
	out[2], out[3] = 0, 0
	be.PutUint32(out[4:], ne.Uint32(h[sllIfindexOff:]))
	be.PutUint16(out[8:], ne.Uint16(h[sllHatypeOff:]))
	out[10] = h[pktTypeOff]
	halen := h[sllHalenOff]
	out[11] = halen
	clear(out[12:20])
	copy(out[12:12+min(int(halen), 8)], h[sllAddrOff:sllAddrOff+8])
	return out
}

// withTag returns data with an 802.1Q tag inserted after the MAC
// addresses, built in a scratch buffer reused across packets.
func (w *blockWalker) withTag(data []byte, tpid, tci uint16) []byte {
	n := len(data) + vlanTagLen
	if cap(w.scratch) < n {
		w.scratch = make([]byte, n, max(n, 2048))
	}
	out := w.scratch[:n]
	copy(out, data[:12])
	binary.BigEndian.PutUint16(out[12:], tpid)
	binary.BigEndian.PutUint16(out[14:], tci)
	copy(out[16:], data[12:])
	return out
}
