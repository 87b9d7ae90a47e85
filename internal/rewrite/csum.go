package rewrite

import "encoding/binary"

// sum adds b to the ones'-complement running sum acc (RFC 1071), as
// big-endian 16-bit words, an odd last byte padded with zero. Words start
// at even offsets of b, so b must start at an even offset of the
// checksummed data.
func sum(acc uint64, b []byte) uint64 {
	for len(b) >= 8 {
		acc += uint64(binary.BigEndian.Uint32(b)) + uint64(binary.BigEndian.Uint32(b[4:]))
		b = b[8:]
	}
	for len(b) >= 2 {
		acc += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		acc += uint64(b[0]) << 8
	}
	return acc
}

// fold folds a running sum to 16 bits and complements it: the checksum.
func fold(acc uint64) uint16 {
	for acc > 0xffff {
		acc = acc&0xffff + acc>>16
	}
	return ^uint16(acc)
}

// ipv4HeaderChecksum recomputes the IPv4 header checksum at l3.
func ipv4HeaderChecksum(f []byte, l3 int) {
	ihl := int(f[l3]&0x0f) * 4
	f[l3+10], f[l3+11] = 0, 0
	binary.BigEndian.PutUint16(f[l3+10:], fold(sum(0, f[l3:l3+ihl])))
}

// pseudo is the sum of the pseudo-header of a transport segment of length
// n and protocol proto (RFC 793, RFC 8200 section 8.1).
func pseudo(f []byte, ly Layers, proto uint8, n int) uint64 {
	src, dst := ly.Addrs(f)
	acc := sum(sum(0, src), dst)
	return acc + uint64(proto) + uint64(n)
}

// csumOffset is where the transport checksum lies in the header at l4.
func csumOffset(proto uint8) int {
	switch proto {
	case protoTCP:
		return 16
	case protoUDP:
		return 6
	case protoICMP, protoICMPv6:
		return 2
	}
	return -1
}

// transportChecksum recomputes the checksum of the transport segment
// f[ly.L4:ly.IPEnd], which must be whole and not a fragment.
func transportChecksum(f []byte, ly Layers) bool {
	off := csumOffset(ly.Proto)
	if off < 0 || ly.L4 == 0 || !ly.Whole || ly.Frag {
		return false
	}
	if ly.Proto == protoICMP && ly.Version != 4 || ly.Proto == protoICMPv6 && ly.Version != 6 {
		return false
	}
	seg := f[ly.L4:ly.IPEnd]
	seg[off], seg[off+1] = 0, 0
	var acc uint64
	if ly.Proto != protoICMP {
		acc = pseudo(f, ly, ly.Proto, len(seg))
	}
	c := fold(sum(acc, seg))
	if c == 0 && ly.Proto == protoUDP {
		c = 0xffff // 0 would mean "no checksum"
	}
	binary.BigEndian.PutUint16(seg[off:], c)
	return true
}

// adjust updates checksum c for 16-bit-aligned data old replaced by new
// of the same even length (RFC 1624, eqn. 3).
func adjust(c uint16, old, new []byte) uint16 {
	acc := uint64(^c)
	for i := 0; i+1 < len(old); i += 2 {
		acc += uint64(^binary.BigEndian.Uint16(old[i:])) + uint64(binary.BigEndian.Uint16(new[i:]))
	}
	return fold(acc)
}
