package decode

import (
	"encoding/binary"
	"net/netip"
)

// IP protocol numbers.
const (
	protoHopByHop = 0
	protoICMP     = 1
	protoIGMP     = 2
	protoIPIP     = 4
	protoTCP      = 6
	protoUDP      = 17
	protoIPv6     = 41
	protoRouting  = 43
	protoFragment = 44
	protoGRE      = 47
	protoESP      = 50
	protoAH       = 51
	protoICMPv6   = 58
	protoNoNext   = 59
	protoDstOpts  = 60
	protoOSPF     = 89
	protoPIM      = 103
	protoVRRP     = 112
	protoSCTP     = 132
	protoUDPLite  = 136
	protoIPComp   = 108
)

// ipHeader carries what the transport printers need from the IP layer.
type ipHeader struct {
	v6       bool
	src, dst []byte
	// shown: the addresses are already printed (after an IPv6 fragment
	// header), so transport headers print their ports alone
	// ("sport > dport: "), as tcpdump does.
	shown bool
	// fragmented: the transport header starts a datagram that continues in
	// other fragments (IPv4 more-fragments flag, any IPv6 fragment header),
	// so the IP length covers only part of it.
	fragmented bool
}

// ip dispatches on the IP version nibble (raw IP link types, tunnels).
func (s *Summarizer) ip(data []byte, wire int) {
	if len(data) < 1 {
		s.str(" [|ip]")
		return
	}
	switch data[0] >> 4 {
	case 4:
		s.ipv4(data, wire)
	case 6:
		s.ipv6(data, wire)
	default:
		s.str("IP, bad version ")
		s.uint(uint64(data[0] >> 4))
		s.str(", length ")
		s.int(s.wireLen)
	}
}

func (s *Summarizer) ipv4(data []byte, wire int) {
	if len(data) >= 1 && data[0]>>4 == 6 {
		s.ipv6(data, wire)
		return
	}
	if len(data) < 20 {
		if len(data) > 0 && !s.opts.Link { // tcpdump has read the version
			s.str("IP ")
		}
		s.str(" [|ip]")
		return
	}
	if v := data[0] >> 4; v != 4 {
		s.str("IP, bad version ")
		s.uint(uint64(v))
		s.str(", length ")
		s.int(s.wireLen)
		return
	}
	ihl := int(data[0]&0x0f) * 4
	if ihl < 20 {
		s.str("IP bad-len ")
		s.int(ihl)
		return
	}
	h := ipHeader{src: data[12:16], dst: data[16:20]}
	if !s.hasFlow {
		s.flow = Flow{Src: netip.AddrFrom4([4]byte(h.src)), Dst: netip.AddrFrom4([4]byte(h.dst)), Proto: data[9]}
		s.hasFlow = true
		s.flowSrc = h.src
	}
	// Like tcpdump, a total length below the header length (including the
	// 0 that TSO leaves on outgoing packets) ends decoding.
	total := int(binary.BigEndian.Uint16(data[2:]))
	if total < ihl {
		s.str("IP bad-len ")
		s.int(total)
		return
	}
	if len(data) < ihl {
		s.str("IP  [|ip]")
		return
	}
	if !s.opts.Link {
		s.str("IP ")
	}
	if total > wire {
		s.str("truncated-ip - ")
		s.int(total - wire)
		s.str(" bytes missing! ")
	}
	if s.opts.Verbose {
		s.ipv4Verbose(data, ihl, total)
	}
	if total < len(data) {
		data = data[:total] // drop link-layer padding
	}
	payload := data[ihl:]
	plen := total - ihl
	proto := data[9]
	frag := binary.BigEndian.Uint16(data[6:])
	if frag&0x1fff != 0 {
		// A later fragment: no transport header to decode. tcpdump -n
		// names the protocol by number and prints no length.
		s.addrs(h, nil, nil)
		s.str(protoNum[proto])
		return
	}
	h.fragmented = frag&0x2000 != 0 // first fragment: more follow
	s.transport(h, proto, payload, plen)
}

func (s *Summarizer) ipv6(data []byte, wire int) {
	if len(data) < 40 {
		s.str(" [|ip6]")
		return
	}
	if v := data[0] >> 4; v != 6 {
		s.str("IP6 version error: ")
		s.uint(uint64(v))
		s.str(" != 6")
		return
	}
	h := ipHeader{v6: true, src: data[8:24], dst: data[24:40]}
	nh := data[6]
	if !s.hasFlow {
		s.flow = Flow{Src: netip.AddrFrom16([16]byte(h.src)), Dst: netip.AddrFrom16([16]byte(h.dst)), Proto: nh}
		s.hasFlow = true
		s.flowSrc = h.src
	}
	if !s.opts.Link {
		s.str("IP6 ")
	}
	if s.opts.Verbose {
		s.ipv6Verbose(data)
	}
	plen := int(binary.BigEndian.Uint16(data[4:]))
	if plen == 0 { // jumbogram or TSO
		plen = max(wire-40, 0)
	}
	if 40+plen > wire {
		s.str("truncated-ip6 - ")
		s.int(40 + plen - wire)
		s.str(" bytes missing! ")
	}
	if 40+plen < len(data) {
		data = data[:40+plen]
	}
	payload := data[40:]

	// Extension headers, remembered by name to print after the addresses
	// and ports. A fragment header ends that: as tcpdump does, the
	// addresses, the headers so far and "frag (offset|length)" are printed
	// at once, and what follows is printed in order, ports without
	// addresses.
	var ext [8]string
	n := 0
	for range len(ext) {
		var hl int
		var name string
		switch nh {
		case protoHopByHop, protoDstOpts, protoRouting:
			// tcpdump prints an extension header once it has read it
			// whole; where the capture ends first, its printer's mark.
			trunc := " [|rt6]"
			switch nh {
			case protoHopByHop:
				name, trunc = "HBH", " [|hbhopt]"
			case protoDstOpts:
				name, trunc = "DSTOPT", " [|dstopt]"
			default:
				name = "srcrt"
			}
			if len(payload) < 2 || len(payload) < (int(payload[1])+1)*8 {
				s.addrs(h, nil, nil)
				s.exts(ext[:n])
				s.str(trunc)
				return
			}
			hl = (int(payload[1]) + 1) * 8
		case protoFragment:
			if len(payload) < 8 {
				s.addrs(h, nil, nil)
				s.exts(ext[:n])
				s.str("frag [|frag]")
				return
			}
			s.addrs(h, nil, nil)
			s.exts(ext[:n])
			n = 0
			off := binary.BigEndian.Uint16(payload[2:]) &^ 7
			s.str("frag (")
			s.uint(uint64(off))
			s.str("|")
			s.int(plen - 8)
			s.str(")")
			if off != 0 {
				return // a later fragment: nothing more to decode
			}
			s.str(" ")
			h.shown, h.fragmented = true, true
			nh = payload[0]
			payload = payload[8:]
			plen -= 8
			continue
		default:
			goto done
		}
		if len(payload) < hl {
			s.addrs(h, nil, nil)
			s.exts(ext[:n])
			s.str(name)
			s.str(" [|ip6]")
			return
		}
		if s.opts.Verbose && nh != protoRouting {
			name = ip6OptionsVerbose(name, payload[2:hl])
		}
		if h.shown {
			s.str(name)
			s.str(" ")
		} else {
			ext[n] = name
			n++
		}
		nh = payload[0]
		payload = payload[hl:]
		plen -= hl
	}
done:
	if s.isFlowHeader(h) {
		s.flow.Proto = nh
	}
	if n > 0 && !h.shown {
		// As tcpdump: "a > b: HBH 1 > 2: UDP, ...".
		s.addrs(h, nil, nil)
		s.exts(ext[:n])
		h.shown = true
	}
	s.transportExt(h, nh, payload, plen, nil)
}

func (s *Summarizer) exts(names []string) {
	for _, n := range names {
		s.str(n)
		s.str(" ")
	}
}

// addrs prints "src[.sport] > dst[.dport]: ", or when h.shown only
// "sport > dport: " (nothing without ports).
func (s *Summarizer) addrs(h ipHeader, sport, dport []byte) {
	if h.shown {
		if sport != nil {
			s.uint(uint64(binary.BigEndian.Uint16(sport)))
			s.str(" > ")
			s.uint(uint64(binary.BigEndian.Uint16(dport)))
			s.str(": ")
		}
		return
	}
	s.addr(h, h.src, sport)
	s.str(" > ")
	s.addr(h, h.dst, dport)
	s.str(": ")
}

func (s *Summarizer) addr(h ipHeader, a, port []byte) {
	if h.v6 {
		s.ip6(a)
	} else {
		s.ip4(a)
	}
	if port != nil {
		s.buf = append(s.buf, '.')
		s.uint(uint64(binary.BigEndian.Uint16(port)))
	}
}

func (s *Summarizer) transport(h ipHeader, proto uint8, b []byte, plen int) {
	s.transportExt(h, proto, b, plen, nil)
}

// transportExt prints the addresses, the IPv6 extension header names and the
// transport layer. b holds the captured transport bytes, plen the length the
// IP header claims for them.
func (s *Summarizer) transportExt(h ipHeader, proto uint8, b []byte, plen int, ext []string) {
	if plen < 0 {
		plen = 0
	}
	switch proto {
	case protoTCP:
		s.tcp(h, b, plen, ext)
		return
	case protoUDP, protoUDPLite:
		s.udp(h, b, plen, ext)
		return
	case protoSCTP:
		if !s.portsHeader(h, b, ext, "[|sctp]") {
			return
		}
		s.sctp(b, plen)
		return
	}
	s.addrs(h, nil, nil)
	s.exts(ext)
	switch proto {
	case protoICMP:
		s.icmp(b, plen)
	case protoICMPv6:
		if s.opts.Verbose && !h.fragmented {
			s.sumVerdict(h, protoICMPv6, b, plen, "icmp6")
		}
		s.icmp6(b, plen)
	case protoIGMP:
		s.igmp(b, plen)
	case protoIPIP:
		s.ipv4(b, plen)
	case protoIPv6:
		s.ipv6(b, plen)
	case protoGRE:
		s.gre(b, plen)
	case protoESP:
		if len(b) <= 8 { // tcpdump wants a byte past the ESP header
			s.str(" [|esp]")
			return
		}
		s.str("ESP(spi=0x")
		s.hex32raw(binary.BigEndian.Uint32(b))
		s.str(",seq=0x")
		s.buf = appendHex(s.buf, binary.BigEndian.Uint32(b[4:]))
		s.str("), length ")
		s.int(plen)
	case protoAH:
		if !s.ah(b) {
			return
		}
		hl := (int(b[1]) + 2) * 4
		s.depth++
		if s.depth > maxEncapsulationDepth {
			s.str("[|encapsulation too deep]")
			return
		}
		// What AH protects follows without the addresses again.
		h.shown = true
		s.transport(h, b[0], b[hl:], plen-hl)
	case protoIPComp:
		if len(b) < 4 {
			s.str("IPComp [|ipcomp]")
			return
		}
		s.str("IPComp(cpi=0x")
		s.hex16raw(binary.BigEndian.Uint16(b[2:]))
		s.str(")")
	case protoNoNext:
		s.str("no next header")
	case protoOSPF:
		s.ospf(h, b, plen)
	case protoVRRP:
		s.vrrp(b, plen)
	default:
		s.str(protoName(proto))
		s.str(", length ")
		s.int(plen)
	}
}

// isFlowHeader reports whether h is the IP header recorded in s.flow (the
// outermost one), comparing slice identity rather than contents.
func (s *Summarizer) isFlowHeader(h ipHeader) bool {
	return s.hasFlow && len(h.src) > 0 && len(s.flowSrc) > 0 && &h.src[0] == &s.flowSrc[0]
}

func (s *Summarizer) setPorts(h ipHeader, b []byte) {
	if s.isFlowHeader(h) {
		s.flow.SrcPort = binary.BigEndian.Uint16(b)
		s.flow.DstPort = binary.BigEndian.Uint16(b[2:])
	}
}

// portsHeader writes the addresses of h with the ports that start the
// transport header b (recording them in the flow), then the extension
// headers ext. If b is too short for the ports it writes the addresses
// alone, the extensions and trunc, and reports false.
func (s *Summarizer) portsHeader(h ipHeader, b []byte, ext []string, trunc string) bool {
	if len(b) < 4 {
		s.addrs(h, nil, nil)
		s.exts(ext)
		s.str(trunc)
		return false
	}
	s.setPorts(h, b)
	s.addrs(h, b[0:2], b[2:4])
	s.exts(ext)
	return true
}

var tcpFlagChars = [...]struct {
	bit uint16
	c   byte
}{{0x01, 'F'}, {0x02, 'S'}, {0x04, 'R'}, {0x08, 'P'}, {0x10, '.'}, {0x20, 'U'}, {0x40, 'E'}, {0x80, 'W'}, {0x100, 'e'}}

func (s *Summarizer) tcp(h ipHeader, b []byte, plen int, ext []string) {
	if !s.portsHeader(h, b, ext, "[|tcp]") {
		return
	}
	if len(b) < 20 {
		// tcpdump has printed "a.p > b.q: " and stops at the header.
		s.str(" [|tcp]")
		return
	}
	hl := int(b[12]>>4) * 4
	if hl < 20 {
		// As tcpdump, with or without -q.
		s.str(" tcp ")
		s.uint(uint64(uint32(plen - hl)))
		s.str(" [bad hdr length ")
		s.int(hl)
		s.str(" - too short, < 20]")
		return
	}
	if s.opts.Quiet {
		s.str("tcp ")
		s.uint(uint64(uint32(plen - hl)))
		if hl > plen {
			s.str(" [bad hdr length ")
			s.int(hl)
			s.str(" - too long, > ")
			s.int(plen)
			s.str("]")
		}
		return
	}
	if hl > plen {
		s.str("tcp [bad hdr length ")
		s.int(hl)
		s.str(" - too long, > ")
		s.int(plen)
		s.str("]")
		return
	}
	flags := binary.BigEndian.Uint16(b[12:]) & 0x1ff
	seq := binary.BigEndian.Uint32(b[4:])
	ack := binary.BigEndian.Uint32(b[8:])
	var ackBase uint32 // subtracted from SACK blocks, which number the peer's bytes
	if !s.opts.AbsoluteSeq && !s.flowOnly && flags&0x10 != 0 {
		seq, ack, ackBase = s.relativeSeq(h, b, flags, seq, ack)
	}
	win := binary.BigEndian.Uint16(b[14:])
	urg := binary.BigEndian.Uint16(b[18:])
	dlen := plen - hl

	s.str("Flags [")
	if flags == 0 {
		s.str("none")
	}
	for _, f := range tcpFlagChars {
		if flags&f.bit != 0 {
			s.buf = append(s.buf, f.c)
		}
	}
	s.str("]")
	if s.opts.Verbose && !h.fragmented {
		s.transportChecksum(h, protoTCP, b, plen)
	}
	if dlen > 0 || flags&0x07 != 0 {
		s.str(", seq ")
		s.uint(uint64(seq))
		if dlen > 0 {
			s.str(":")
			s.uint(uint64(seq + uint32(dlen)))
		}
	}
	if flags&0x10 != 0 {
		s.str(", ack ")
		s.uint(uint64(ack))
	}
	s.str(", win ")
	s.uint(uint64(win))
	if flags&0x20 != 0 {
		s.str(", urg ")
		s.uint(uint64(urg))
	}
	if hl > 20 {
		s.str(", options [")
		if !s.tcpOptions(b[20:min(hl, len(b))], hl-20, ackBase) {
			return
		}
		s.str("]")
	}
	s.str(", length ")
	s.int(dlen)
	if dlen > 0 {
		// As tcpdump, the port's printer runs whenever the segment
		// carries data, captured or not (a snaplen or the per-flow
		// cutoff keeps only the headers): it prints its name and
		// where the capture ended.
		var p []byte
		if len(b) > hl {
			p = b[hl:]
		}
		if len(p) > dlen {
			p = p[:dlen]
		}
		s.appLen = dlen
		s.tcpPayload(b, p)
	}
}

// tcpOptions prints TCP options; like tcpdump it gives up on a bad one
// ("[bad opt]", and "]" after a good one) and reports false, after which
// nothing more of the segment is printed.
//
// o holds the captured option bytes and total their length by the header
// length; when the capture ends inside them (o shorter than total) it
// prints as far as tcpdump does and " [|tcp]": with ">" after it when the
// capture ended inside an option's data after a first whole option
// (tcpdump's LENCHECK), without when it ended on an option's kind or
// length byte.
func (s *Summarizer) tcpOptions(o []byte, total int, ackBase uint32) bool {
	first := true
	for total > 0 {
		if !first {
			s.str(",")
		}
		wasFirst := first
		first = false
		if len(o) < 1 {
			s.str(" [|tcp]")
			return false
		}
		kind := o[0]
		if kind == 0 {
			s.str("eol")
			return true
		}
		if kind == 1 {
			s.str("nop")
			o = o[1:]
			total--
			continue
		}
		if len(o) < 2 && total >= 2 {
			s.str(" [|tcp]")
			return false
		}
		if len(o) < 2 || int(o[1]) < 2 || int(o[1]) > total {
			s.str("[bad opt]")
			if !wasFirst {
				s.str("]")
			}
			return false
		}
		l := int(o[1])
		if l > len(o) {
			s.tcpOptionCut(kind, l, o[2:], ackBase, wasFirst)
			return false
		}
		total -= l
		v := o[2:l]
		switch {
		case kind == 2 && l == 4:
			s.str("mss ")
			s.uint(uint64(binary.BigEndian.Uint16(v)))
		case kind == 3 && l == 3:
			s.str("wscale ")
			s.uint(uint64(v[0]))
		case kind == 4 && l == 2:
			s.str("sackOK")
		case kind == 5 && (l-2)%8 == 0:
			s.str("sack ")
			s.int((l - 2) / 8)
			s.str(" ")
			for i := 0; i+8 <= len(v); i += 8 {
				s.str("{")
				s.uint(uint64(binary.BigEndian.Uint32(v[i:]) - ackBase))
				s.str(":")
				s.uint(uint64(binary.BigEndian.Uint32(v[i+4:]) - ackBase))
				s.str("}")
			}
		case kind == 8 && l == 10:
			s.str("TS val ")
			s.uint(uint64(binary.BigEndian.Uint32(v)))
			s.str(" ecr ")
			s.uint(uint64(binary.BigEndian.Uint32(v[4:])))
		case kind == 19 && l == 18:
			s.str("md5 ")
			for _, c := range v {
				s.hex8(c)
			}
		case kind == 30:
			s.str("mptcp")
		case kind == 34:
			s.str("tfo")
		default:
			s.str("unknown-")
			s.uint(uint64(kind))
		}
		o = o[l:]
	}
	return true
}

// tcpOptionCut prints an option of kind and length l of which only v (its
// data) was captured, as tcpdump's options loop does when its LENCHECK
// finds the data not captured: the name, what of the data it prints before
// checking, " [|tcp]" and ">" unless this is the first option.
func (s *Summarizer) tcpOptionCut(kind uint8, l int, v []byte, ackBase uint32, first bool) {
	datalen := l - 2
	switch kind {
	case 2:
		s.str("mss")
		datalen = 2
	case 3:
		s.str("wscale")
		datalen = 1
	case 4:
		s.str("sackOK")
		datalen = 0
	case 5:
		s.str("sack")
		if datalen%8 != 0 {
			s.str(" invalid sack")
			datalen = 0
			break
		}
		s.str(" ")
		s.int(datalen / 8)
		s.str(" ")
		for i := 0; i+8 <= len(v); i += 8 {
			s.str("{")
			s.uint(uint64(binary.BigEndian.Uint32(v[i:]) - ackBase))
			s.str(":")
			s.uint(uint64(binary.BigEndian.Uint32(v[i+4:]) - ackBase))
			s.str("}")
		}
	case 8:
		s.str("TS")
		datalen = 8
	case 19:
		s.str("md5")
		datalen = 16
	case 30:
		s.str("mptcp")
	case 34:
		s.str("tfo")
	default:
		s.str("unknown-")
		s.uint(uint64(kind))
		if datalen > 0 {
			s.str(" 0x")
			for _, c := range v[:min(len(v), datalen)] {
				s.hex8(c)
			}
		}
	}
	s.str(" [|tcp]")
	if datalen > len(v) && !first {
		s.str(">")
	}
}

// udp prints a UDP header as tcpdump's udp_print does, checking in its
// order: captured ports, the IP length, the captured length field, the
// length field itself, the rest of the captured header.
func (s *Summarizer) udp(h ipHeader, b []byte, plen int, ext []string) {
	if !s.portsHeader(h, b, ext, " [|udp]") {
		return
	}
	if plen < 8 {
		s.str("truncated-udp ")
		s.int(plen)
		return
	}
	if len(b) < 6 {
		s.str(" [|udp]")
		return
	}
	ulen := int(binary.BigEndian.Uint16(b[4:]))
	if ulen == 0 && plen > 0xffff { // IPv6 jumbogram
		ulen = plen
	}
	if ulen < 8 {
		s.str("truncated-udplength ")
		s.int(ulen)
		return
	}
	if len(b) < 8 {
		s.str(" [|udp]")
		return
	}
	ulen -= 8
	avail := min(plen-8, ulen)
	// The length field of a first fragment covers the whole datagram,
	// more than this fragment holds; that is no error.
	if ulen > avail && !h.fragmented {
		s.str("UDP, bad length ")
		s.int(ulen)
		s.str(" > ")
		s.int(avail)
		return
	}
	p := b[8:]
	if len(p) > ulen {
		p = p[:ulen]
	}
	if s.opts.Verbose && h.v6 && !h.fragmented {
		s.sumVerdict(h, protoUDP, b, ulen+8, "udp")
	}
	if !h.shown && !s.opts.Quiet && s.udpPayload(b, p, ulen) {
		return
	}
	s.str("UDP, length ")
	s.int(ulen)
}

var icmpUnreach = [...]string{"net", "host", "protocol", "port", "need to frag", "source route failed",
	"net unknown", "host unknown", "src host isolated", "net prohibited", "host prohibited",
	"net tos", "host tos", "admin prohibited", "host precedence violation", "precedence cutoff"}

// echoIDSeq writes the id and sequence number of an ICMP or ICMPv6 echo
// message b. If b is too short it writes trunc instead and reports false.
func (s *Summarizer) echoIDSeq(b []byte, trunc string) bool {
	if len(b) < 8 {
		s.str(trunc)
		return false
	}
	s.str(", id ")
	s.uint(uint64(binary.BigEndian.Uint16(b[4:])))
	s.str(", seq ")
	s.uint(uint64(binary.BigEndian.Uint16(b[6:])))
	return true
}

func (s *Summarizer) icmp(b []byte, plen int) {
	if len(b) < 4 {
		s.str(" [|icmp]")
		return
	}
	typ, code := b[0], b[1]
	// tcpdump's icmp_print builds the text before printing it: a field
	// it needs not captured leaves " [|icmp]" alone.
	need := 0
	switch typ {
	case 0, 8:
		need = 8
	case 3, 5:
		need = 8 + 20 // the returned header's destination
		if typ == 3 && code == 3 && len(b) >= 9 {
			need = 8 + int(b[8]&0xf)*4 + 4 // and the port it names
		}
	}
	if len(b) < need {
		s.str(" [|icmp]")
		return
	}
	s.str("ICMP ")
	switch typ {
	case 0, 8:
		if typ == 0 {
			s.str("echo reply")
		} else {
			s.str("echo request")
		}
		if !s.echoIDSeq(b, " [|icmp]") {
			return
		}
	case 3:
		if s.icmpUnreach(b, code) {
			break
		}
		if int(code) < len(icmpUnreach) {
			s.str(icmpUnreach[code])
			s.str(" unreachable")
		} else {
			s.str("unreachable code ")
			s.uint(uint64(code))
		}
	case 4:
		s.str("source quench")
	case 5:
		s.str("redirect")
	case 9:
		s.str("router advertisement")
	case 10:
		s.str("router solicitation")
	case 11:
		if code == 1 {
			s.str("ip reassembly time exceeded")
		} else {
			s.str("time exceeded in-transit")
		}
	case 12:
		s.str("parameter problem")
	case 13:
		s.str("time stamp query")
	case 14:
		s.str("time stamp reply")
	case 17:
		s.str("address mask request")
	case 18:
		s.str("address mask reply")
	default:
		s.str("type-#")
		s.uint(uint64(typ))
	}
	s.str(", length ")
	s.int(plen)
	if s.opts.Verbose && (typ == 3 || typ == 4 || typ == 5 || typ == 11 || typ == 12) {
		s.icmpQuoted(b)
	}
}

// icmpQuoted prints, as tcpdump -v does after an ICMP error, the IP packet
// it returns on lines of its own, decoded as far as it was quoted (and
// captured).
func (s *Summarizer) icmpQuoted(b []byte) {
	s.str("\n\t")
	if len(b) < 8+4 {
		s.str(" [|icmp]")
		return
	}
	in := b[8:]
	ipLen := int(binary.BigEndian.Uint16(in[2:]))
	s.depth++
	if s.depth > maxEncapsulationDepth {
		s.str("[|encapsulation too deep]")
		return
	}
	s.ipv4(in[:min(len(in), ipLen)], ipLen)
}

// icmpUnreach prints the common destination unreachable messages the way
// tcpdump names them from the returned header ("10.0.0.2 udp port 53
// unreachable"); it reports false for the others, and when the returned
// header is cut short.
func (s *Summarizer) icmpUnreach(b []byte, code uint8) bool {
	if len(b) < 8+20 || b[8]>>4 != 4 {
		return false
	}
	in := b[8:]
	ihl := int(in[0]&0xf) * 4
	dst := in[16:20]
	switch code {
	case 0, 1:
		if code == 0 {
			s.str("net ")
		} else {
			s.str("host ")
		}
		s.ip4(dst)
		s.str(" unreachable")
	case 2:
		s.ip4(dst)
		s.str(" protocol ")
		s.uint(uint64(in[9]))
		s.str(" unreachable")
	case 3:
		if ihl < 20 || len(in) < ihl+4 || (in[9] != protoUDP && in[9] != protoTCP) {
			return false
		}
		s.ip4(dst)
		if in[9] == protoUDP {
			s.str(" udp port ")
		} else {
			s.str(" tcp port ")
		}
		s.uint(uint64(binary.BigEndian.Uint16(in[ihl+2:])))
		s.str(" unreachable")
	case 4:
		s.ip4(dst)
		s.str(" unreachable - need to frag (mtu ")
		s.uint(uint64(binary.BigEndian.Uint16(b[6:])))
		s.str(")")
	default:
		return false
	}
	return true
}

func (s *Summarizer) icmp6(b []byte, plen int) {
	if len(b) == 0 {
		s.str(" [|icmp6]")
		return
	}
	if len(b) < 4 {
		s.str("ICMP6 [|icmp6]")
		return
	}
	s.str("ICMP6, ")
	if s.opts.Verbose {
		s.icmp6Verbose(b, plen)
		return
	}
	s.icmp6Body(b, plen)
}

// icmp6Body prints what follows "ICMP6, " without -v.
func (s *Summarizer) icmp6Body(b []byte, plen int) {
	typ := b[0]
	switch typ {
	case 1:
		s.str("destination unreachable")
	case 2:
		s.str("packet too big")
	case 3:
		s.str("time exceeded in-transit")
	case 4:
		s.str("parameter problem")
	case 128, 129:
		if typ == 128 {
			s.str("echo request")
		} else {
			s.str("echo reply")
		}
		if !s.echoIDSeq(b, " [|icmp6]") {
			return
		}
	case 130, 131, 132:
		s.str([3]string{"multicast listener query", "multicast listener report", "multicast listener done"}[typ-130])
		switch {
		case typ == 130 && plen >= 28 && len(b) >= 24:
			s.str(" v2 [gaddr ")
			s.ip6(b[8:24])
			s.str("]")
		case len(b) >= 24:
			// MLDv1: tcpdump prints the fields right after the name.
			s.str("max resp delay: ")
			s.uint(uint64(binary.BigEndian.Uint16(b[4:])))
			s.str(" addr: ")
			s.ip6(b[8:24])
		}
	case 133:
		s.str("router solicitation")
	case 134:
		s.str("router advertisement")
	case 135, 136:
		if typ == 135 {
			s.str("neighbor solicitation")
		} else {
			s.str("neighbor advertisement")
		}
		if len(b) < 24 {
			s.str(" [|icmp6]")
			return
		}
		if typ == 135 {
			s.str(", who has ")
		} else {
			s.str(", tgt is ")
		}
		s.ip6(b[8:24])
	case 137:
		s.str("redirect")
	case 143:
		s.str("multicast listener report v2")
		if len(b) >= 8 {
			s.str(", ")
			s.uint(uint64(binary.BigEndian.Uint16(b[6:])))
			s.str(" group record(s)")
		}
	default:
		s.str("type-#")
		s.uint(uint64(typ))
	}
	s.str(", length ")
	s.int(plen)
}

// igmp prints an IGMP message as tcpdump does without -v: the type and
// group, no length.
func (s *Summarizer) igmp(b []byte, plen int) {
	if s.opts.Quiet {
		s.str("igmp")
		return
	}
	if len(b) < 8 {
		s.str("igmp [|igmp]")
		return
	}
	switch b[0] {
	case 0x11:
		switch {
		case plen >= 12:
			s.str("igmp query v3")
			if b[1] != 0 && b[1] != 100 { // tcpdump leaves out the default, 10 s
				s.str(" [max resp time ")
				s.igmpTime(b[1])
				s.str("]")
			}
		case b[1] == 0:
			s.str("igmp query v1")
		default:
			s.str("igmp query v2")
		}
		if !allZero(b[4:8]) {
			s.str(" [gaddr ")
			s.ip4(b[4:8])
			s.str("]")
		}
	case 0x12:
		s.str("igmp v1 report ")
		s.ip4(b[4:8])
	case 0x16:
		s.str("igmp v2 report ")
		s.ip4(b[4:8])
	case 0x17:
		s.str("igmp leave ")
		s.ip4(b[4:8])
	case 0x22:
		s.str("igmp v3 report, ")
		s.uint(uint64(binary.BigEndian.Uint16(b[6:])))
		s.str(" group record(s)")
	default:
		s.str("igmp type 0x")
		s.hex8(b[0])
		s.str(", length ")
		s.int(plen)
	}
}

// igmpTime prints an IGMPv3 max response code, in tenths of a second
// (with a floating-point form from 128 on), as "1.0s" or "51m12s".
func (s *Summarizer) igmpTime(code uint8) {
	t := uint64(code)
	if code >= 128 {
		t = uint64(code&0x0f|0x10) << (code>>4&7 + 3)
	}
	if t < 600 {
		s.uint(t / 10)
		s.str(".")
		s.uint(t % 10)
		s.str("s")
		return
	}
	sec := t / 10
	if sec >= 3600 {
		s.uint(sec / 3600)
		s.str("h")
		sec %= 3600
	}
	s.uint(sec / 60)
	s.str("m")
	s.uint(sec % 60)
	s.str("s")
}

var protoNames = map[uint8]string{
	protoHopByHop: "hopopt", protoICMP: "icmp", protoIGMP: "igmp", protoIPIP: "ipip", protoTCP: "tcp",
	protoUDP: "udp", protoIPv6: "ip6", protoRouting: "ip6-route", protoFragment: "ip6-frag",
	protoGRE: "gre", protoESP: "esp", protoAH: "ah", protoICMPv6: "icmp6", protoDstOpts: "ip6-dstopts",
	protoOSPF: "OSPFv2", protoPIM: "pim", protoVRRP: "vrrp", protoSCTP: "sctp", protoUDPLite: "udplite",
	9: "igrp", 46: "rsvp", 88: "eigrp", 108: "ipcomp", 115: "l2tp", 135: "mobility", 137: "mpls-in-ip",
}

func protoName(p uint8) string {
	if n, ok := protoNames[p]; ok {
		return n
	}
	return protoNum[p]
}

// protoNum holds "ip-proto-N" for every N so the hot path never formats.
var protoNum = func() (t [256]string) {
	for i := range t {
		t[i] = "ip-proto-" + itoa(i)
	}
	return t
}()

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b [20]byte
	n := len(b)
	for i > 0 {
		n--
		b[n] = byte('0' + i%10)
		i /= 10
	}
	return string(b[n:])
}

func appendHex(dst []byte, v uint32) []byte {
	if v == 0 {
		return append(dst, '0')
	}
	var b [8]byte
	n := len(b)
	for v > 0 {
		n--
		b[n] = hexDigits[v&15]
		v >>= 4
	}
	return append(dst, b[n:]...)
}

// vrrp prints a VRRPv2 advertisement: "VRRPv2, Advertisement, vrid 1,
// prio 1, authtype none, intvl 1s, length 36".
func (s *Summarizer) vrrp(b []byte, plen int) {
	if len(b) < 8 || b[0] != 0x21 || b[4] > 2 {
		s.str("vrrp, length ")
		s.int(plen)
		return
	}
	s.str("VRRPv2, Advertisement, vrid ")
	s.uint(uint64(b[1]))
	s.str(", prio ")
	s.uint(uint64(b[2]))
	s.str(", authtype ")
	s.str([3]string{"none", "simple", "ah"}[b[4]])
	s.str(", intvl ")
	s.uint(uint64(b[5]))
	s.str("s, length ")
	s.int(plen)
}

// ah prints an AH header as tcpdump's ah_print does, field by field, up to
// where the capture ends (" [|ah]"), and reports whether it was whole.
func (s *Summarizer) ah(b []byte) bool {
	if len(b) < 1 { // tcpdump reads the next header first
		s.str(" [|ah]")
		return false
	}
	s.str("AH")
	if len(b) < 2 {
		s.str(" [|ah]")
		return false
	}
	hl := (int(b[1]) + 2) * 4
	s.str("(")
	if s.opts.Verbose {
		s.str("length=")
		s.uint(uint64(b[1]))
		s.str("(")
		s.int(hl)
		s.str("-bytes),")
	}
	if len(b) < 4 {
		s.str(" [|ah]")
		return false
	}
	if r := binary.BigEndian.Uint16(b[2:]); r != 0 {
		s.str("reserved=0x")
		s.buf = appendHex(s.buf, uint32(r))
		s.str("[MustBeZero],")
	}
	if len(b) < 8 {
		s.str(" [|ah]")
		return false
	}
	s.str("spi=0x")
	s.hex32raw(binary.BigEndian.Uint32(b[4:]))
	s.str(",")
	if len(b) < 12 {
		s.str(" [|ah]")
		return false
	}
	s.str("seq=0x")
	s.buf = appendHex(s.buf, binary.BigEndian.Uint32(b[8:]))
	if hl < 12 {
		s.str("): [|ah]")
		return false
	}
	s.str(",icv=0x")
	for i := 12; i < hl; i++ {
		if i >= len(b) {
			s.str(" [|ah]")
			return false
		}
		s.hex8(b[i])
	}
	s.str("): ")
	return true
}
