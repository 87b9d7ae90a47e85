package decode

import "encoding/binary"

// The IP header fields tcpdump -v prints before the addresses.

// vProtoNames are tcpdump -v's names of IP protocols ("proto UDP (17)").
var vProtoNames = map[uint8]string{
	protoHopByHop: "Options", protoICMP: "ICMP", protoIGMP: "IGMP", protoIPIP: "IPIP", protoTCP: "TCP",
	protoUDP: "UDP", protoIPv6: "IPv6", protoRouting: "Routing", protoFragment: "frag", protoGRE: "GRE",
	protoESP: "ESP", protoAH: "AH", protoICMPv6: "ICMPv6", protoNoNext: "none", protoDstOpts: "DSTOPTS",
	protoOSPF: "OSPF", protoPIM: "PIM", protoVRRP: "VRRP", protoSCTP: "SCTP", 135: "Mobility",
	protoUDPLite: "UDPLite",
}

func (s *Summarizer) vProto(p uint8) {
	if n, ok := vProtoNames[p]; ok {
		s.str(n)
	} else {
		s.str("unknown")
	}
	s.str(" (")
	s.uint(uint64(p))
	s.str(")")
}

var ecnNames = [4]string{"", ",ECT(1)", ",ECT(0)", ",CE"}

// ipv4Verbose prints "(tos 0x0, ttl 64, id 0, offset 0, flags [DF],
// proto UDP (17), length 84)" and the line break and indent tcpdump -v
// puts before the addresses. h is the header of ihl bytes.
func (s *Summarizer) ipv4Verbose(h []byte, ihl, total int) {
	s.str("(tos 0x")
	s.buf = appendHex(s.buf, uint32(h[1]))
	s.str(ecnNames[h[1]&3])
	s.str(", ttl ")
	s.uint(uint64(h[8]))
	s.str(", id ")
	s.uint(uint64(binary.BigEndian.Uint16(h[4:])))
	frag := binary.BigEndian.Uint16(h[6:])
	s.str(", offset ")
	s.uint(uint64(frag&0x1fff) * 8)
	s.str(", flags [")
	switch {
	case frag&0xe000 == 0:
		s.str("none")
	default:
		sep := ""
		if frag&0x8000 != 0 {
			s.str("rsvd")
			sep = ", "
		}
		if frag&0x2000 != 0 {
			s.str(sep)
			s.str("+")
			sep = ", "
		}
		if frag&0x4000 != 0 {
			s.str(sep)
			s.str("DF")
		}
	}
	s.str("], proto ")
	s.vProto(h[9])
	s.str(", length ")
	s.int(total)
	if len(h) >= ihl {
		var sum uint32
		for i := 0; i+1 < ihl; i += 2 {
			sum += uint32(binary.BigEndian.Uint16(h[i:]))
		}
		for sum>>16 != 0 {
			sum = sum&0xffff + sum>>16
		}
		if sum != 0xffff {
			stored := binary.BigEndian.Uint16(h[10:])
			sum -= uint32(stored)
			for sum>>16 != 0 {
				sum = sum&0xffff + sum>>16
			}
			s.str(", bad cksum ")
			s.buf = appendHex(s.buf, uint32(stored))
			s.str(" (->")
			s.buf = appendHex(s.buf, ^sum&0xffff)
			s.str(")!")
		}
	}
	s.str(")\n    ")
}

// ipv6Verbose prints "(class 0x10, flowlabel 0x12345, hlim 64,
// next-header UDP (17) payload length: 20) " as tcpdump -v does.
func (s *Summarizer) ipv6Verbose(h []byte) {
	w := binary.BigEndian.Uint32(h)
	s.str("(")
	if class := w >> 20 & 0xff; class != 0 {
		s.str("class 0x")
		s.hex8(uint8(class))
		s.str(", ")
	}
	if fl := w & 0xfffff; fl != 0 {
		s.str("flowlabel 0x")
		s.buf = append(s.buf, hexDigits[fl>>16])
		s.hex16raw(uint16(fl))
		s.str(", ")
	}
	s.str("hlim ")
	s.uint(uint64(h[7]))
	s.str(", next-header ")
	s.vProto(h[6])
	s.str(" payload length: ")
	s.uint(uint64(binary.BigEndian.Uint16(h[4:])))
	s.str(") ")
}

// onesSum adds b to sum as big-endian 16-bit words (an odd last byte
// padded with zero), without folding.
func onesSum(sum uint32, b []byte) uint32 {
	for len(b) >= 2 {
		sum += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	return sum
}

func fold(sum uint32) uint16 {
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}

// transportChecksum prints tcpdump -v's verdict on the checksum of a TCP
// segment seg of plen bytes (", cksum 0x14cb (correct)" or ", cksum
// 0x14cb (incorrect -> 0xd862)"), computed over the IPv4 or IPv6 pseudo
// header. As tcpdump, it says nothing when the segment is not all
// captured or an IPv6 payload length is zero (a jumbogram).
func (s *Summarizer) transportChecksum(h ipHeader, proto uint8, seg []byte, plen int) {
	if plen < 0 || len(seg) < plen || len(seg) < 18 || (h.v6 && plen > 0xffff) {
		return
	}
	seg = seg[:plen]
	sum := onesSum(0, h.src)
	sum = onesSum(sum, h.dst)
	sum += uint32(proto) + uint32(plen)
	sum = onesSum(sum, seg)
	computed := ^fold(sum)
	stored := binary.BigEndian.Uint16(seg[16:])
	s.str(", cksum 0x")
	s.hex16raw(stored)
	if computed == 0 {
		s.str(" (correct)")
		return
	}
	s.str(" (incorrect -> 0x")
	s.hex16raw(fold(uint32(stored) + uint32(computed)))
	s.str(")")
}
