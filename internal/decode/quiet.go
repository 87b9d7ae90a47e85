package decode

import (
	"strconv"
	"strings"
)

// Quiet is summary as tcpdump -q prints it: over IPv4 and IPv6, a TCP
// segment is "src.port > dst.port: tcp N" and a UDP datagram
// "src.port > dst.port: UDP, length N" (N the payload's length by the
// headers), whatever they carry. Other packets keep their summary.
func Quiet(linkType uint32, data []byte, summary string) string {
	off, ok := networkOffset(linkType, data)
	if !ok || off >= len(data) {
		return summary
	}
	ip := data[off:]
	var proto byte
	var payload []byte
	var plen int // the IP payload's length by the IP header
	switch ip[0] >> 4 {
	case 4:
		if len(ip) < 20 {
			return summary
		}
		ihl := int(ip[0]&15) * 4
		total := int(ip[2])<<8 | int(ip[3])
		frag := (uint16(ip[6])<<8 | uint16(ip[7])) & 0x3fff
		if ihl < 20 || len(ip) < ihl || total < ihl || frag != 0 {
			return summary
		}
		proto, payload, plen = ip[9], ip[ihl:], total-ihl
	case 6:
		if len(ip) < 40 {
			return summary
		}
		proto, payload, plen = ip[6], ip[40:], int(ip[4])<<8|int(ip[5])
	default:
		return summary
	}
	var quiet string
	switch proto {
	case 6:
		if len(payload) < 13 {
			return summary
		}
		hlen := int(payload[12]>>4) * 4
		if hlen < 20 || hlen > plen {
			return summary
		}
		quiet = "tcp " + strconv.Itoa(plen-hlen)
	case 17:
		if len(payload) < 8 || plen < 8 {
			return summary
		}
		ulen := int(payload[4])<<8 | int(payload[5])
		if ulen < 8 {
			return summary
		}
		quiet = "UDP, length " + strconv.Itoa(min(ulen, plen)-8)
	default:
		return summary
	}
	// The addresses and ports end at the first ": " after " > ".
	gt := strings.Index(summary, " > ")
	if gt < 0 {
		return summary
	}
	colon := strings.Index(summary[gt:], ": ")
	if colon < 0 {
		return summary
	}
	return summary[:gt+colon+2] + quiet
}

// networkOffset is where the network header starts in a packet of the
// link types tcpdump's everyday captures have (Ethernet with its VLAN
// tags, Linux cooked v1 and v2, BSD loopback, raw IP).
func networkOffset(linkType uint32, data []byte) (int, bool) {
	switch linkType {
	case 1:
		n := 14
		for n <= len(data) {
			et := uint16(data[n-2])<<8 | uint16(data[n-1])
			switch et {
			case 0x0800, 0x86dd:
				return n, true
			case 0x8100, 0x88a8, 0x9100:
				n += 4
			default:
				return 0, false
			}
		}
	case 113:
		return 16, len(data) >= 16
	case 276:
		return 20, len(data) >= 20
	case 0, 108:
		return 4, len(data) >= 4
	case 12, 14, 101, 228, 229:
		return 0, true
	}
	return 0, false
}
