package decode

import (
	"encoding/binary"
	"strconv"
)

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
			// tcpdump's in_cksum_shouldbe: the stored sum plus the
			// computed one, in ones' complement.
			stored := binary.BigEndian.Uint16(h[10:])
			should := uint32(stored) + (^sum & 0xffff)
			should = should&0xffff + should>>16
			should = should&0xffff + should>>16
			s.str(", bad cksum ")
			s.buf = appendHex(s.buf, uint32(stored))
			s.str(" (->")
			s.buf = appendHex(s.buf, should&0xffff)
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

// pseudoSum returns the ones' complement checksum of a transport segment
// seg of plen bytes over the IP pseudo header (0 when it is right), and
// whether the segment was captured whole.
func pseudoSum(h ipHeader, proto uint8, seg []byte, plen int) (uint16, bool) {
	if plen < 0 || len(seg) < plen || (h.v6 && plen > 0xffff) {
		return 0, false
	}
	sum := onesSum(0, h.src)
	sum = onesSum(sum, h.dst)
	sum += uint32(proto) + uint32(plen)
	sum = onesSum(sum, seg[:plen])
	return ^fold(sum), true
}

// sumVerdict prints tcpdump -v's bracketed verdict on a UDP or ICMPv6
// checksum ("[udp sum ok] ", "[bad icmp6 cksum 0x1234 -> 0x5678!] ");
// the checksum is at offset 2 (ICMPv6) or 6 (UDP).
func (s *Summarizer) sumVerdict(h ipHeader, proto uint8, seg []byte, plen int, name string) {
	at := 2
	if proto == protoUDP {
		at = 6
	}
	computed, ok := pseudoSum(h, proto, seg, plen)
	if !ok || len(seg) < at+2 {
		return
	}
	if computed == 0 {
		s.str("[")
		s.str(name)
		s.str(" sum ok] ")
		return
	}
	stored := binary.BigEndian.Uint16(seg[at:])
	s.str("[bad ")
	s.str(name)
	s.str(" cksum 0x")
	s.hex16raw(stored)
	s.str(" -> 0x")
	s.hex16raw(fold(uint32(stored) + uint32(computed)))
	s.str("!] ")
}

var icmp6Names = map[uint8]string{
	1: "destination unreachable", 2: "packet too big", 3: "time exceeded in-transit",
	4: "parameter problem", 128: "echo request", 129: "echo reply",
	130: "multicast listener query", 131: "multicast listener report", 132: "multicast listener done",
	133: "router solicitation", 134: "router advertisement", 135: "neighbor solicitation",
	136: "neighbor advertisement", 137: "redirect", 143: "multicast listener report v2",
}

var mldv2RecordTypes = [...]string{1: "is_in", 2: "is_ex", 3: "to_in", 4: "to_ex", 5: "allow", 6: "block"}

// icmp6Verbose prints what follows "ICMP6, " for tcpdump -v. It knows the
// messages of everyday IPv6 (echo, neighbor discovery, MLDv2 reports) and
// prints the others as without -v.
func (s *Summarizer) icmp6Verbose(b []byte, plen int) {
	typ := b[0]
	name, ok := icmp6Names[typ]
	switch typ {
	case 130, 131, 132:
		s.mldVerbose(b, plen)
		return
	}
	if !ok || typ < 128 || typ == 137 {
		// Not decoded in -v's way: the plain line.
		s.opts.Verbose = false
		s.icmp6Body(b, plen)
		s.opts.Verbose = true
		return
	}
	s.str(name)
	switch typ {
	case 133, 134, 135, 136:
		s.str(", length ")
		s.int(plen)
	}
	switch typ {
	case 128, 129:
		s.echoIDSeq(b, " [|icmp6]")
	case 133:
		s.icmp6Options(b, 8, plen)
	case 134:
		s.routerAdvert(b, plen)
	case 135, 136:
		if len(b) < 24 {
			s.str(" [|icmp6]")
			return
		}
		if typ == 135 {
			s.str(", who has ")
			s.ip6(b[8:24])
		} else {
			s.str(", tgt is ")
			s.ip6(b[8:24])
			s.str(", Flags [")
			flags := b[4]
			if flags&0xe0 == 0 {
				s.str("none")
			}
			sep := ""
			for i, n := range [...]string{"router", "solicited", "override"} {
				if flags&(0x80>>i) != 0 {
					s.str(sep)
					s.str(n)
					sep = ", "
				}
			}
			s.str("]")
		}
		s.icmp6Options(b, 24, plen)
	case 143:
		if len(b) < 8 {
			s.str(" [|icmp6]")
			return
		}
		n := int(binary.BigEndian.Uint16(b[6:]))
		s.str(", ")
		s.uint(uint64(n))
		s.str(" group record(s)")
		off := 8
		for range n {
			if plen < off+20 || len(b) < off+20 {
				s.str(" [invalid number of groups]")
				return
			}
			s.str(" [gaddr ")
			s.ip6(b[off+4 : off+20])
			s.str(" ")
			if rt := b[off]; int(rt) < len(mldv2RecordTypes) && rt != 0 {
				s.str(mldv2RecordTypes[rt])
			} else {
				s.str(" [v2-report-#")
				s.uint(uint64(rt))
				s.str("]")
			}
			nsrc := int(binary.BigEndian.Uint16(b[off+2:]))
			if plen < off+20+16*nsrc {
				s.str(" [invalid number of sources ")
				s.uint(uint64(nsrc))
				s.str("]")
				return
			}
			s.str(", ")
			s.uint(uint64(nsrc))
			s.str(" source(s)]")
			off += 20 + 16*nsrc
		}
	}
}

var ndOptNames = map[uint8]string{1: "source link-address", 2: "destination link-address", 3: "prefix info", 5: "mtu"}

// icmp6Options prints neighbor discovery options from offset off as
// tcpdump -v does, each on a line of its own.
func (s *Summarizer) icmp6Options(b []byte, off, plen int) {
	end := min(plen, len(b))
	for off+2 <= end {
		typ, l := b[off], int(b[off+1])*8
		if l == 0 || off+l > end {
			return
		}
		name, known := ndOptNames[typ]
		if !known {
			if typ == 4 || typ >= 6 && typ <= 11 || typ == 24 || typ == 25 || typ == 31 {
				return // named by tcpdump, not decoded here
			}
			name = "unknown"
		}
		s.str("\n\t  ")
		s.str(name)
		s.str(" option (")
		s.uint(uint64(typ))
		s.str("), length ")
		s.int(l)
		s.str(" (")
		s.int(l / 8)
		s.str("): ")
		v := b[off+2 : off+l]
		switch typ {
		case 1, 2:
			s.mac(v)
		case 5:
			if len(v) < 6 {
				return
			}
			s.str(" ")
			s.uint(uint64(binary.BigEndian.Uint32(v[2:])))
		case 3:
			if len(v) < 30 {
				return
			}
			s.ip6(v[14:30])
			s.str("/")
			s.uint(uint64(v[0]))
			if l != 32 {
				s.str("badlen")
			}
			s.str(", Flags [")
			s.bits([]bitName{{0x80, "onlink"}, {0x40, "auto"}, {0x20, "router"}}, "none", uint32(v[1]))
			s.str("], valid time ")
			s.lifetime(binary.BigEndian.Uint32(v[2:]))
			s.str(", pref. time ")
			s.lifetime(binary.BigEndian.Uint32(v[6:]))
		default:
			s.hexOnly("\n\t  ", v)
		}
		off += l
	}
}

// ip6OptionsVerbose returns an options header's name followed by its
// options as tcpdump -v prints them ("HBH (rtalert: 0x0000) (padn)").
func ip6OptionsVerbose(name string, o []byte) string {
	b := []byte(name)
	for len(o) > 0 {
		if o[0] == 0 {
			b = append(b, " (pad1)"...)
			o = o[1:]
			continue
		}
		if len(o) < 2 || len(o) < 2+int(o[1]) {
			return string(append(b, " [|ip6]"...))
		}
		l := 2 + int(o[1])
		switch {
		case o[0] == 1:
			b = append(b, " (padn)"...)
		case o[0] == 5 && l == 4:
			b = append(b, " (rtalert: 0x"...)
			b = append(b, hexDigits[o[2]>>4], hexDigits[o[2]&15], hexDigits[o[3]>>4], hexDigits[o[3]&15])
			b = append(b, ')')
		case o[0] == 0xc2 && l == 6:
			b = append(b, " (jumbo: "...)
			b = strconv.AppendUint(b, uint64(binary.BigEndian.Uint32(o[2:])), 10)
			b = append(b, ')')
		default:
			b = append(b, " (opt_type 0x"...)
			b = append(b, hexDigits[o[0]>>4], hexDigits[o[0]&15])
			b = append(b, ": len="...)
			b = strconv.AppendInt(b, int64(o[1]), 10)
			b = append(b, ')')
		}
		o = o[l:]
	}
	return string(b)
}

// lifetime prints tcpdump's get_lifetime: "infinity" or "%us".
func (s *Summarizer) lifetime(v uint32) {
	if v == 0xffffffff {
		s.str("infinity")
		return
	}
	s.uint(uint64(v))
	s.str("s")
}

// routerAdvert prints what tcpdump -v prints of a router advertisement:
// its parameters, then its options.
func (s *Summarizer) routerAdvert(b []byte, plen int) {
	if len(b) < 16 {
		s.str(" [|icmp6]")
		return
	}
	s.str("\n\thop limit ")
	s.uint(uint64(b[4]))
	s.str(", Flags [")
	s.bits([]bitName{{0x80, "managed"}, {0x40, "other stateful"}, {0x20, "home agent"}, {0x02, "ipv6 only"}}, "none", uint32(b[5]))
	s.str("], pref ")
	s.str([...]string{"medium", "high", "rsv", "low"}[b[5]>>3&3])
	s.str(", router lifetime ")
	s.uint(uint64(binary.BigEndian.Uint16(b[6:])))
	s.str("s, reachable time ")
	s.uint(uint64(binary.BigEndian.Uint32(b[8:])))
	s.str("ms, retrans timer ")
	s.uint(uint64(binary.BigEndian.Uint32(b[12:])))
	s.str("ms")
	s.icmp6Options(b, 16, plen)
}

// mldVerbose prints an MLD message as tcpdump -v does: MLDv1's fields, or
// an MLDv2 query's maximum response delay, group, robustness and query
// interval; no length follows.
func (s *Summarizer) mldVerbose(b []byte, plen int) {
	typ := b[0]
	s.str([3]string{"multicast listener query", "multicast listener report", "multicast listener done"}[typ-130])
	switch {
	case typ == 130 && plen == 24, typ != 130:
		if len(b) >= 24 {
			s.str("max resp delay: ")
			s.uint(uint64(binary.BigEndian.Uint16(b[4:])))
			s.str(" addr: ")
			s.ip6(b[8:24])
		}
	case plen >= 28:
		s.str(" v2")
		if len(b) < 28 {
			s.str(" [|icmp6]")
			return
		}
		mrc := uint32(binary.BigEndian.Uint16(b[4:]))
		if mrc >= 32768 {
			mrc = (mrc&0x0fff | 0x1000) << ((mrc&0x7000)>>12 + 3)
		}
		s.str(" [max resp delay=")
		s.uint(uint64(mrc))
		s.str("] [gaddr ")
		s.ip6(b[8:24])
		if b[24]&0x08 != 0 {
			s.str(" sflag")
		}
		if r := b[24] & 0x07; r != 0 {
			s.str(" robustness=")
			s.uint(uint64(r))
		}
		qqi := uint32(b[25])
		if qqi >= 128 {
			qqi = (qqi&0x0f | 0x10) << ((qqi&0x70)>>4 + 3)
		}
		s.str(" qqi=")
		s.uint(uint64(qqi))
		if n := int(binary.BigEndian.Uint16(b[26:])); n > 0 {
			if plen < 28+16*n {
				s.str(" [invalid number of sources]")
			} else {
				s.str(", ")
				s.int(n)
				s.str(" source(s)")
			}
		}
		s.str("]")
	default:
		s.str(" unknown-version (len ")
		s.int(plen)
		s.str(") ")
	}
}
