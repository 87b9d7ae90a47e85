package decode

import "encoding/binary"

// Frame Relay (Q.922) and Multilink Frame Relay (FRF.16) as tcpdump
// 4.99's fr_print and mfr_print print them without -e: only what the
// frame carries, with "UI xx!" where the control byte is not UI and no
// known ethertype follows.

// LinkTypeMFR is LINKTYPE_MFR, Multilink Frame Relay (FRF.16).
const LinkTypeMFR = 182

var frfFlagNames = []bitName{{0x80, "Begin"}, {0x40, "End"}, {0x20, "Control"}}

// q922Header parses a Q.922 address: its length and DLCI; ret is 1 for
// a valid address, 0 for an invalid one, -1 when truncated.
func q922Header(p []byte, length int) (addrLen int, dlci uint32, ret int) {
	if len(p) < 1 || length < 1 {
		return 0, 0, -1
	}
	if p[0]&1 != 0 {
		return 0, 0, 0
	}
	if len(p) < 2 || length < 2 {
		return 0, 0, -1
	}
	addrLen = 2
	dlci = uint32(p[0]&0xfc)<<2 | uint32(p[1]&0xf0)>>4
	if p[1]&1 != 0 {
		return addrLen, dlci, 1
	}
	q, l := p[2:], length-2
	if len(q) < 1 || l < 1 {
		return 0, 0, -1
	}
	addrLen++
	if q[0]&1 == 0 {
		dlci = dlci<<7 | uint32(q[0]>>1)
		addrLen++
		q, l = q[1:], l-1
	}
	if len(q) < 1 || l < 1 {
		return 0, 0, -1
	}
	if q[0]&1 == 0 {
		return 0, 0, 0
	}
	dlci = dlci<<6 | uint32(q[0]>>2)
	return addrLen, dlci, 1
}

// knownEthertype reports whether tcpdump's ethertype_print decodes et
// (of those the decoders here know).
func knownEthertype(et uint16) bool {
	switch et {
	case 0x0800, 0x86dd, 0x0806, 0x8035, 0x8100, 0x88a8, 0x9100, 0x8847, 0x8848, 0x8863, 0x8864,
		0x88cc, 0xfefe:
		return true
	}
	return false
}

// frameRelay prints a Q.922 frame (fr_print).
func (s *Summarizer) frameRelay(p []byte, length int) {
	addrLen, dlci, ret := q922Header(p, length)
	if ret == -1 {
		s.str(" [|fr]")
		return
	}
	if ret == 0 {
		s.str("Q.922, invalid address")
		return
	}
	if len(p) < addrLen+1 || length < addrLen+1 {
		s.str(" [|fr]")
		return
	}
	if p[addrLen] != 0x03 && dlci != 0 {
		if len(p) < addrLen+2 || length < addrLen+2 {
			s.str("UI ")
			s.hex8(p[addrLen])
			s.str("! ")
		} else {
			et := binary.BigEndian.Uint16(p[addrLen:])
			if s.opts.Link {
				s.frHeader(length, addrLen, dlci, q922Flags(p, addrLen), et)
			}
			if knownEthertype(et) {
				s.ethertype(et, p[addrLen+2:], length-addrLen-2)
				return
			}
			s.str("UI ")
			s.hex8(p[addrLen])
			s.str("! ")
		}
	}
	if len(p) < addrLen+2 || length < addrLen+2 {
		s.str(" [|fr]")
		return
	}
	var hdrLen int
	if p[addrLen+1] == 0 {
		if addrLen != 3 {
			s.str("Pad! ")
		}
		hdrLen = addrLen + 3
	} else {
		if addrLen == 3 {
			s.str("No pad! ")
		}
		hdrLen = addrLen + 2
	}
	if len(p) < hdrLen || length < hdrLen {
		s.str(" [|fr]")
		return
	}
	nlpid := p[hdrLen-1]
	if s.opts.Link {
		s.frHeader(length, addrLen, dlci, q922Flags(p, addrLen), uint16(nlpid))
	}
	q, l := p[hdrLen:], length-hdrLen
	switch nlpid {
	case 0xcc:
		s.ip(q, l)
	case 0x8e:
		s.ipv6(q, l)
	case 0x81, 0x82, 0x83:
		s.isoclns(p[hdrLen-1:], l+1)
	default:
		s.fallbackLink(LinkTypeFrameRelay)
	}
}

// mfr prints an FRF.16 frame (mfr_print); control frames are named only.
func (s *Summarizer) mfr(p []byte, length int) {
	if length < 4 {
		s.str("[length ")
		s.int(length)
		s.str(" < 4] (invalid)")
		return
	}
	if len(p) < 4 {
		s.str(" [|mfr]")
		return
	}
	bec := p[0] & 0xe0
	if bec == 0xe0 && p[1] == 0 {
		s.str("FRF.16 Control, Flags [")
		s.bits(frfFlagNames, "none", uint32(bec))
		s.str("], ")
		s.tok(map[uint32]string{1: "Add-link", 2: "Add-link-ack", 3: "Add-link-reject", 4: "Hello",
			5: "Hello-ack", 6: "Remove-link", 7: "Remove-link-ack"}, "Unknown Message", uint32(p[2]))
		s.str(", length ")
		s.int(length)
		return
	}
	seq := uint32(p[0]&0x1e)<<7 | uint32(p[1])
	s.str("FRF.16 Frag, seq ")
	s.uint(uint64(seq))
	s.str(", Flags [")
	s.bits(frfFlagNames, "none", uint32(bec))
	s.str("]")
	if bec == 0xc0 || bec == 0x80 {
		s.str(", ")
		s.frameRelay(p[2:], length-2)
		return
	}
	s.hexOnly("\n\t", p[:min(len(p), length)])
}
