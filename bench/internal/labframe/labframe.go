// Package labframe builds the frames of the lab's traffic mix, for the
// benches that generate it.
package labframe

import (
	"encoding/binary"
	"math/rand/v2"
)

// Packet builds in buf an Ethernet/IPv4 frame of the given size and IP
// protocol (6, 17 or 1) between two hosts of the lab's 10.213.0.0/16, in a
// direction drawn from rng; port is the server side. It is the frame
// bench/mkmix writes and bench/compressbench measures.
func Packet(buf []byte, rng *rand.Rand, proto byte, size, port int) []byte {
	return PacketOf(buf, rng, rng, proto, size, port)
}

// PacketOf is Packet with the hosts and the client's port drawn from
// ends instead (a flow's own source, seeded by the flow: its packets
// share their 5-tuple), the rest (direction, sequence numbers) from rng.
// Packet(buf, rng, ...) is PacketOf(buf, rng, rng, ...).
func PacketOf(buf []byte, rng, ends *rand.Rand, proto byte, size, port int) []byte {
	b := buf[:size]
	clear(b)
	copy(b[0:6], []byte{0x02, 0, 0, 0, 0, 1})
	copy(b[6:12], []byte{0x02, 0, 0, 0, 0, 2})
	binary.BigEndian.PutUint16(b[12:], 0x0800)
	ip := b[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(size-14))
	ip[8] = 64
	ip[9] = proto
	client := [4]byte{10, 213, byte(1 + ends.IntN(4)), byte(1 + ends.IntN(250))}
	server := [4]byte{10, 213, 0, byte(1 + ends.IntN(20))}
	src, dst := client, server
	toServer := rng.IntN(2) == 0
	if !toServer {
		src, dst = server, client
	}
	copy(ip[12:16], src[:])
	copy(ip[16:20], dst[:])
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
	l4 := ip[20:]
	cport := uint16(32768 + ends.IntN(20000))
	sport, dport := cport, uint16(port)
	if !toServer {
		sport, dport = dport, sport
	}
	switch proto {
	case 6:
		binary.BigEndian.PutUint16(l4[0:], sport)
		binary.BigEndian.PutUint16(l4[2:], dport)
		binary.BigEndian.PutUint32(l4[4:], rng.Uint32())
		binary.BigEndian.PutUint32(l4[8:], rng.Uint32())
		l4[12] = 5 << 4
		l4[13] = 0x10 // ACK
		if size == 1514 {
			l4[13] = 0x18 // PSH ACK
		}
		binary.BigEndian.PutUint16(l4[14:], 502)
	case 17:
		binary.BigEndian.PutUint16(l4[0:], sport)
		binary.BigEndian.PutUint16(l4[2:], dport)
		binary.BigEndian.PutUint16(l4[4:], uint16(size-34))
	case 1:
		l4[0] = 8
		binary.BigEndian.PutUint16(l4[4:], uint16(rng.IntN(65536)))
	}
	return b
}
