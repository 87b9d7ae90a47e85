package rewrite

import "encoding/binary"

// Link types whose frames this package reads (pcap LINKTYPE_ values).
const (
	LinkEthernet = 1
	LinkRaw      = 101 // raw IPv4 or IPv6, no link header
	LinkIPv4     = 228
	LinkIPv6     = 229
)

// IP protocol numbers.
const (
	protoICMP   = 1
	protoTCP    = 6
	protoUDP    = 17
	protoICMPv6 = 58
)

// Layers locates the headers of one frame. Offsets are from the start of
// the frame; L4 is 0 when there is no transport header to read (not IP, a
// protocol without one, a fragment other than the first, or too short).
type Layers struct {
	L3        int   // start of the IP header (after any VLAN tags); -1 if not IP
	Version   int   // 4 or 6
	L4        int   // start of the transport header, 0 if none
	Proto     uint8 // transport protocol (after IPv6 extension headers)
	IPEnd     int   // end of the IP packet by its length field, capped at the frame
	Whole     bool  // the frame holds the whole IP packet its length field says
	Frag      bool  // a fragment (first or not)
	FragHdr   int   // IPv6: offset of the fragment header, 0 if none
	UnfragEnd int   // IPv6: end of the unfragmentable part (base header, hop-by-hop, routing)
}

// Parse reads the headers of a frame of link type lt. It never reads past
// the frame.
func Parse(lt uint32, f []byte) Layers {
	ly := Layers{L3: -1}
	off := 0
	switch lt {
	case LinkEthernet:
		if len(f) < 14 {
			return ly
		}
		et := binary.BigEndian.Uint16(f[12:])
		off = 14
		for i := 0; i < 2 && (et == 0x8100 || et == 0x88a8 || et == 0x9100); i++ {
			if len(f) < off+4 {
				return ly
			}
			et = binary.BigEndian.Uint16(f[off+2:])
			off += 4
		}
		if et != 0x0800 && et != 0x86dd {
			return ly
		}
	case LinkRaw, LinkIPv4, LinkIPv6:
	default:
		return ly
	}
	if len(f) < off+1 {
		return ly
	}
	switch f[off] >> 4 {
	case 4:
		parse4(f, off, &ly)
	case 6:
		parse6(f, off, &ly)
	}
	return ly
}

func parse4(f []byte, off int, ly *Layers) {
	if len(f) < off+20 {
		return
	}
	ihl := int(f[off]&0x0f) * 4
	if ihl < 20 || len(f) < off+ihl {
		return
	}
	ly.L3, ly.Version, ly.Proto = off, 4, f[off+9]
	total := int(binary.BigEndian.Uint16(f[off+2:]))
	if total == 0 { // a TSO/GRO frame over 64 KiB (BIG TCP): the frame says
		total = len(f) - off
	}
	ly.IPEnd = min(off+total, len(f))
	ly.Whole = off+total <= len(f) && total >= ihl
	frag := binary.BigEndian.Uint16(f[off+6:])
	ly.Frag = frag&0x3fff != 0
	if frag&0x1fff != 0 {
		return // not the first fragment: no transport header
	}
	ly.L4 = transport(f, off+ihl, ly.IPEnd, ly.Proto)
}

func parse6(f []byte, off int, ly *Layers) {
	if len(f) < off+40 {
		return
	}
	ly.L3, ly.Version = off, 6
	plen := int(binary.BigEndian.Uint16(f[off+4:]))
	if plen == 0 { // jumbogram or BIG TCP: the frame says
		plen = len(f) - off - 40
	}
	ly.IPEnd = min(off+40+plen, len(f))
	ly.Whole = off+40+plen <= len(f)
	next := f[off+6]
	p := off + 40
	ly.UnfragEnd = p
	unfrag := true
	for range 8 {
		switch next {
		case 0, 43, 60: // hop-by-hop, routing, destination options
			if ly.IPEnd < p+8 {
				ly.Proto = next
				return
			}
			if next == 60 {
				unfrag = false // destination options for the final destination come after the fragment header
			}
			nx, n := f[p], (int(f[p+1])+1)*8
			p += n
			next = nx
			if unfrag {
				ly.UnfragEnd = p
			}
		case 44: // fragment
			if ly.IPEnd < p+8 {
				ly.Proto = next
				return
			}
			ly.Frag, ly.FragHdr = true, p
			fo := binary.BigEndian.Uint16(f[p+2:]) &^ 7
			next = f[p]
			p += 8
			if fo != 0 {
				ly.Proto = next
				return
			}
		default:
			ly.Proto = next
			ly.L4 = transport(f, p, ly.IPEnd, next)
			return
		}
	}
	ly.Proto = next
}

// transport returns off if a whole header of proto starts there, else 0.
func transport(f []byte, off, end int, proto uint8) int {
	need := 0
	switch proto {
	case protoTCP:
		if end < off+20 || f[off+12]>>4 < 5 {
			return 0 // short, or a data offset inside the fixed header
		}
		need = int(f[off+12]>>4) * 4
	case protoUDP, protoICMP, protoICMPv6:
		need = 8
	default:
		return 0
	}
	if end < off+need {
		return 0
	}
	return off
}

// l4HeaderLen is the length of the transport header at ly.L4.
func (ly Layers) l4HeaderLen(f []byte) int {
	if ly.Proto == protoTCP {
		return int(f[ly.L4+12]>>4) * 4
	}
	return 8
}

// Ports returns the transport ports, and false when the frame has none.
func (ly Layers) Ports(f []byte) (src, dst uint16, ok bool) {
	if ly.L4 == 0 || (ly.Proto != protoTCP && ly.Proto != protoUDP) {
		return 0, 0, false
	}
	return binary.BigEndian.Uint16(f[ly.L4:]), binary.BigEndian.Uint16(f[ly.L4+2:]), true
}

// Addrs returns the source and destination addresses (4 or 16 bytes each,
// slices of f), or nil when the frame is not IP.
func (ly Layers) Addrs(f []byte) (src, dst []byte) {
	switch ly.Version {
	case 4:
		return f[ly.L3+12 : ly.L3+16], f[ly.L3+16 : ly.L3+20]
	case 6:
		return f[ly.L3+8 : ly.L3+24], f[ly.L3+24 : ly.L3+40]
	}
	return nil, nil
}
