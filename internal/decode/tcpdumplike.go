package decode

import "encoding/binary"

// This file holds the decoders added to print what tcpdump 4.99 prints for
// the corpus's less common protocols (CDP, ...), and the hex layout
// tcpdump's print_unknown_data uses inside them.

// hexOnly appends data as tcpdump's hex_print does: indent, then lines of
// "0x%04x: " and up to eight groups of " %02x%02x" (an odd last byte as
// " %02x"), each line starting with indent.
func (s *Summarizer) hexOnly(indent string, data []byte) {
	for i := 0; i < len(data); i += 2 {
		if i%16 == 0 {
			s.str(indent)
			s.str("0x")
			s.buf = appendOffset(s.buf, i)
			s.str(": ")
		}
		s.str(" ")
		s.buf = append(s.buf, hexDigits[data[i]>>4], hexDigits[data[i]&15])
		if i+1 < len(data) {
			s.buf = append(s.buf, hexDigits[data[i+1]>>4], hexDigits[data[i+1]&15])
		}
	}
}

// cdp prints a Cisco Discovery Protocol PDU as tcpdump -n does without -v:
// the version, the TTL, the Device-ID, and the value of every other TLV
// as a hex dump, then the PDU's length.
func (s *Summarizer) cdp(data []byte, wire int) {
	if len(data) < 4 {
		s.str("[|cdp]")
		return
	}
	s.str("CDPv")
	s.uint(uint64(data[0]))
	s.str(", ttl: ")
	s.uint(uint64(data[1]))
	s.str("s")
	for off := 4; off < len(data); {
		if off+4 > len(data) {
			s.str(" [|cdp]")
			return
		}
		typ := binary.BigEndian.Uint16(data[off:])
		l := int(binary.BigEndian.Uint16(data[off+2:]))
		if l < 4 {
			s.str(" (invalid)")
			return
		}
		if off+l > len(data) {
			s.str(" [|cdp]")
			return
		}
		v := data[off+4 : off+l]
		if typ == 1 {
			s.str(", Device-ID '")
			s.printable(v)
			s.str("'")
		} else {
			s.hexOnly("\n\t  ", v)
		}
		off += l
	}
	s.str(", length ")
	s.int(max(wire, 0))
}
