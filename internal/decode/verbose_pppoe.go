package decode

import (
	"encoding/binary"
	"strconv"
)

// PPPoE discovery (RFC 2516) as tcpdump 4.99's pppoe_print prints it:
// "PPPoE PADI [Service-Name] [Host-Uniq 0x64138518]", each tag as text
// when most of its bytes are printable, else in hex.

var pppoeCodes = map[uint8]string{0x09: "PADI", 0x07: "PADO", 0x19: "PADR", 0x65: "PADS", 0xa7: "PADT"}

var pppoeTags = map[uint16]string{0x0000: "EOL", 0x0101: "Service-Name", 0x0102: "AC-Name",
	0x0103: "Host-Uniq", 0x0104: "AC-Cookie", 0x0105: "Vendor-Specific", 0x0110: "Relay-Session-ID",
	0x0120: "PPP-Max-Payload", 0x0201: "Service-Name-Error", 0x0202: "AC-System-Error",
	0x0203: "Generic-Error"}

func (s *Summarizer) pppoeTag(t uint16) {
	if n, ok := pppoeTags[t]; ok {
		s.str(n)
		return
	}
	s.str("TAG-0x")
	s.buf = strconv.AppendUint(s.buf, uint64(t), 16)
}

// pppoeDiscovery prints a PPPoE discovery packet of length bytes.
func (s *Summarizer) pppoeDiscovery(p []byte, length int) {
	if length < 6 {
		s.str(" (length ")
		s.int(max(length, 0))
		s.str(" < 6) (invalid)")
		return
	}
	if len(p) < 6 {
		s.str(" [|pppoe]")
		return
	}
	length -= 6
	if v := p[0] >> 4; v != 1 {
		s.str(" [ver ")
		s.uint(uint64(v))
		s.str("]")
	}
	if t := p[0] & 0x0f; t != 1 {
		s.str(" [type ")
		s.uint(uint64(t))
		s.str("]")
	}
	code := p[1]
	sess := binary.BigEndian.Uint16(p[2:])
	plen := int(binary.BigEndian.Uint16(p[4:]))
	s.str("PPPoE ")
	if n, ok := pppoeCodes[code]; ok {
		s.str(n)
	} else if code != 0 {
		s.str("PAD-")
		s.buf = strconv.AppendUint(s.buf, uint64(code), 16)
	}
	if code == 0x09 && plen > 1484-6 {
		s.str(" [len ")
		s.int(plen)
		s.str("!]")
	}
	if plen > length {
		s.str(" [len ")
		s.int(plen)
		s.str(" > ")
		s.int(length)
		s.str("!]")
		plen = length
	}
	if sess != 0 {
		s.str(" [ses 0x")
		s.buf = strconv.AppendUint(s.buf, uint64(sess), 16)
		s.str("]")
	}
	if code == 0 {
		s.str(" ")
		s.ppp(p[6:], plen)
		return
	}
	q := p[6:]
	for off := 0; off < plen; {
		if off+4 > len(q) {
			s.str(" [|pppoe]")
			return
		}
		tag := binary.BigEndian.Uint16(q[off:])
		tl := int(binary.BigEndian.Uint16(q[off+2:]))
		off += 4
		if tl == 0 {
			s.str(" [")
			s.pppoeTag(tag)
			s.str("]")
		} else {
			if off+tl > len(q) {
				s.str(" [|pppoe]")
				return
			}
			v := q[off : off+tl]
			shown := v[:min(len(v), 79)]
			ascii := 0
			for _, c := range shown {
				if c >= 0x20 && c < 0x7f {
					ascii++
				}
			}
			if ascii > len(shown)-ascii {
				s.str(" [")
				s.pppoeTag(tag)
				s.str(" \"")
				for _, c := range shown {
					if c >= 0x20 && c < 0x7f {
						s.buf = append(s.buf, c)
					} else {
						s.buf = append(s.buf, '.')
					}
				}
				s.str("\"]")
			} else {
				s.str(" [")
				s.pppoeTag(tag)
				s.str(" 0x")
				for _, c := range v {
					s.buf = append(s.buf, "0123456789ABCDEF"[c>>4], "0123456789ABCDEF"[c&15])
				}
				s.str("]")
			}
		}
		off += tl
		if tag == 0 {
			break
		}
	}
}
