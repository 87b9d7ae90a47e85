package flow

// Headers returns how many bytes of a frame of the given link type are
// headers, the link layer, IP and transport up to the payload, and how
// many bytes of payload the packet carried on the wire, as its IP length
// fields say (TCP: IP length less the IP and TCP headers; UDP: less the
// UDP header). ok is false when the frame holds no IP packet it can read.
//
// Tunnels Extract keys by their inner packet (IP in IP, GRE carrying IP or
// Ethernet, VXLAN, GENEVE) are followed: the headers run to the inner
// transport's payload. A later IP fragment's headers end with its IP
// header (its bytes are payload); an IP protocol without a known
// transport header ends with the IP header too. The header length may
// exceed len(data) when the frame was captured short; callers take the
// minimum.
func Headers(linkType uint32, data []byte) (hdr, payload int, ok bool) {
	var h hdrWalk
	h.data = data
	switch linkType & 0x03FFFFFF {
	case LinkEthernet:
		return h.ether(0)
	case LinkSLL:
		if len(data) < 16 {
			return 0, 0, false
		}
		return h.ethertype(be16(data[14:]), 16)
	case LinkSLL2:
		if len(data) < 20 {
			return 0, 0, false
		}
		return h.ethertype(be16(data), 20)
	case LinkPPP, LinkPPPHDLC:
		off := 0
		if len(data) >= 2 && data[0] == 0xff && data[1] == 0x03 {
			off = 2
		}
		if len(data) < off+2 {
			return 0, 0, false
		}
		return h.ppp(be16(data[off:]), off+2)
	case LinkCHDLC:
		if len(data) < 4 {
			return 0, 0, false
		}
		return h.ethertype(be16(data[2:]), 4)
	case LinkRaw, 12, 14, LinkIPv4, LinkIPv6:
		return h.ip(0)
	case LinkNull, LinkLoop:
		if len(data) < 4 {
			return 0, 0, false
		}
		af := uint32(data[0]) | uint32(data[1])<<8 | uint32(data[2])<<16 | uint32(data[3])<<24
		if linkType == LinkLoop || af&0xffff == 0 {
			af = be32(data)
		}
		switch af {
		case 2, 10, 24, 28, 30:
			return h.ip(4)
		}
	}
	return 0, 0, false
}

// hdrWalk walks a frame's headers by offset.
type hdrWalk struct {
	data  []byte
	depth int
}

func (h *hdrWalk) at(off, n int) bool { return off >= 0 && off+n <= len(h.data) }

func (h *hdrWalk) ip(off int) (int, int, bool) {
	if !h.at(off, 1) {
		return 0, 0, false
	}
	switch h.data[off] >> 4 {
	case 4:
		return h.ipv4(off)
	case 6:
		return h.ipv6(off)
	}
	return 0, 0, false
}

func (h *hdrWalk) ether(off int) (int, int, bool) {
	if !h.at(off, 14) {
		return 0, 0, false
	}
	return h.ethertype(be16(h.data[off+12:]), off+14)
}

func (h *hdrWalk) ethertype(et uint16, off int) (int, int, bool) {
	d := h.data
	for range 16 {
		switch et {
		case 0x8100, 0x88a8, 0x9100, 0x9200:
			if !h.at(off, 4) {
				return 0, 0, false
			}
			et, off = be16(d[off+2:]), off+4
		case 0x0800:
			return h.ipv4(off)
		case 0x86dd:
			return h.ipv6(off)
		case 0x8847, 0x8848:
			for {
				if !h.at(off, 4) {
					return 0, 0, false
				}
				bottom := d[off+2]&1 != 0
				off += 4
				if bottom {
					break
				}
			}
			return h.ip(off)
		case 0x8903:
			return h.ether(off + 2)
		case 0x8926:
			if !h.at(off, 6) {
				return 0, 0, false
			}
			et, off = be16(d[off+4:]), off+6
		case 0x8864:
			if !h.at(off, 8) {
				return 0, 0, false
			}
			return h.ppp(be16(d[off+6:]), off+8)
		default:
			if et > 1500 || !h.at(off, 8) || d[off] != 0xaa || d[off+1] != 0xaa || d[off+2] != 0x03 {
				return 0, 0, false
			}
			et, off = be16(d[off+6:]), off+8
		}
	}
	return 0, 0, false
}

func (h *hdrWalk) ppp(proto uint16, off int) (int, int, bool) {
	switch proto {
	case 0x0021:
		return h.ipv4(off)
	case 0x0057:
		return h.ipv6(off)
	}
	return 0, 0, false
}

// ipv4 reads an IPv4 header at off. The payload length is the IP
// length's, or what was captured when the length field is zero (TSO).
func (h *hdrWalk) ipv4(off int) (int, int, bool) {
	d := h.data
	if !h.at(off, 20) || d[off]>>4 != 4 {
		return 0, 0, false
	}
	hl := int(d[off]&0x0f) * 4
	if hl < 20 || !h.at(off, hl) {
		return 0, 0, false
	}
	tl := int(be16(d[off+2:]))
	if tl < hl {
		tl = len(d) - off
	}
	frag := be16(d[off+6:])&0x1fff != 0
	return h.transport(d[off+9], off+hl, tl-hl, frag)
}

func (h *hdrWalk) ipv6(off int) (int, int, bool) {
	d := h.data
	if !h.at(off, 40) || d[off]>>4 != 6 {
		return 0, 0, false
	}
	pl := int(be16(d[off+4:]))
	if pl == 0 { // a jumbogram, or TSO: what was captured
		pl = len(d) - off - 40
	}
	nh, p := d[off+6], off+40
	frag := false
	for range 16 {
		switch nh {
		case 0, 43, 60:
			if !h.at(p, 2) || !h.at(p, (int(d[p+1])+1)*8) {
				return p, max(0, pl-(p-off-40)), true
			}
			n := (int(d[p+1]) + 1) * 8
			nh, p = d[p], p+n
			continue
		case 44:
			if !h.at(p, 8) {
				return p, max(0, pl-(p-off-40)), true
			}
			frag = frag || be16(d[p+2:])>>3 != 0
			nh, p = d[p], p+8
			continue
		case 51:
			if !h.at(p, 2) || !h.at(p, (int(d[p+1])+2)*4) {
				return p, max(0, pl-(p-off-40)), true
			}
			n := (int(d[p+1]) + 2) * 4
			nh, p = d[p], p+n
			continue
		}
		break
	}
	return h.transport(nh, p, pl-(p-off-40), frag)
}

// transport reads the transport header at off of an IP payload of n
// bytes on the wire.
func (h *hdrWalk) transport(proto uint8, off, n int, frag bool) (int, int, bool) {
	d := h.data
	n = max(n, 0)
	if frag {
		return off, n, true
	}
	th := 0
	switch proto {
	case ProtoTCP:
		if !h.at(off, 13) {
			return off + 20, max(0, n-20), true
		}
		th = int(d[off+12]>>4) * 4
		th = max(th, 20)
	case ProtoUDP:
		th = 8
		if h.at(off, 8) && h.depth < maxDepth {
			sport, dport := be16(d[off:]), be16(d[off+2:])
			inner := off + 8
			switch {
			case sport == 4789 || dport == 4789:
				if h.at(inner, 8) && d[inner]&0x08 != 0 {
					if r, p, ok := h.enter(func() (int, int, bool) { return h.ether(inner + 8) }); ok {
						return r, p, true
					}
				}
			case sport == 6081 || dport == 6081:
				if h.at(inner, 8) && d[inner]>>6 == 0 {
					hl := 8 + int(d[inner]&0x3f)*4
					proto := be16(d[inner+2:])
					if r, p, ok := h.enter(func() (int, int, bool) {
						if proto == 0x6558 {
							return h.ether(inner + hl)
						}
						return h.ethertype(proto, inner+hl)
					}); ok {
						return r, p, true
					}
				}
			}
		}
	case ProtoSCTP:
		th = 12
	case ProtoICMP, ProtoICMPv6:
		th = 8
		if proto == ProtoICMPv6 {
			th = 4
		}
		// An ICMP error quotes a packet: what follows its header is
		// payload, as the Time Machine counts it.
	case 51:
		if !h.at(off, 2) || h.depth >= maxDepth {
			return off, n, true
		}
		al := (int(d[off+1]) + 2) * 4
		h.depth++
		return h.transport(d[off], off+al, n-al, false)
	case ProtoIPIP, ProtoIPv6:
		if r, p, ok := h.enter(func() (int, int, bool) { return h.ip(off) }); ok {
			return r, p, true
		}
		return off, n, true
	case ProtoGRE:
		if r, p, ok := h.gre(off); ok {
			return r, p, true
		}
		return off, n, true
	default:
		return off, n, true
	}
	return off + th, max(0, n-th), true
}

// enter reads an encapsulated packet, one level deeper.
func (h *hdrWalk) enter(inner func() (int, int, bool)) (int, int, bool) {
	if h.depth >= maxDepth {
		return 0, 0, false
	}
	h.depth++
	r, p, ok := inner()
	h.depth--
	return r, p, ok
}

// gre reads a GRE header (RFC 2784/2890, ERSPAN) and the packet inside.
func (h *hdrWalk) gre(off int) (int, int, bool) {
	d := h.data
	if !h.at(off, 4) {
		return 0, 0, false
	}
	flags, proto := be16(d[off:]), be16(d[off+2:])
	if flags&7 != 0 || flags&0x4000 != 0 {
		return 0, 0, false
	}
	p := off + 4
	if flags&0xc000 != 0 {
		p += 4
	}
	if flags&0x2000 != 0 {
		p += 4
	}
	if flags&0x1000 != 0 {
		p += 4
	}
	switch proto {
	case 0x0800, 0x86dd:
		return h.enter(func() (int, int, bool) { return h.ethertype(proto, p) })
	case 0x6558:
		return h.enter(func() (int, int, bool) { return h.ether(p) })
	case 0x88be:
		if flags&0x1000 == 0 {
			return h.enter(func() (int, int, bool) { return h.ether(p) })
		}
		return h.enter(func() (int, int, bool) { return h.ether(p + 8) })
	case 0x22eb:
		if !h.at(p, 12) {
			return 0, 0, false
		}
		hl := 12
		if d[p+11]&1 != 0 {
			hl += 8
		}
		return h.enter(func() (int, int, bool) { return h.ether(p + hl) })
	}
	return 0, 0, false
}
