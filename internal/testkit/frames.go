package testkit

import (
	"encoding/binary"
	"net"
)

// UDPFrame builds an Ethernet frame holding an IPv4/UDP datagram from
// port 40000 to dport, with a valid IPv4 header checksum (the UDP checksum
// is 0: none), 802.1Q-tagged with tci unless tci is negative.
func UDPFrame(dst, src net.HardwareAddr, tci int, srcIP, dstIP net.IP, dport int, payload []byte) []byte {
	f := append(append([]byte{}, dst...), src...)
	if tci >= 0 {
		f = binary.BigEndian.AppendUint16(f, 0x8100)
		f = binary.BigEndian.AppendUint16(f, uint16(tci))
	}
	f = binary.BigEndian.AppendUint16(f, 0x0800)
	ip := make([]byte, 20, 28+len(payload))
	ip[0], ip[8], ip[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(ip[2:], uint16(28+len(payload)))
	copy(ip[12:], srcIP.To4())
	copy(ip[16:], dstIP.To4())
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
	ip = binary.BigEndian.AppendUint16(ip, 40000)
	ip = binary.BigEndian.AppendUint16(ip, uint16(dport))
	ip = binary.BigEndian.AppendUint16(ip, uint16(8+len(payload)))
	ip = binary.BigEndian.AppendUint16(ip, 0)
	return append(append(f, ip...), payload...)
}
