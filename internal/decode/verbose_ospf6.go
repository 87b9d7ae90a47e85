package decode

import "encoding/binary"

// ospf6 prints "OSPFv2, Hello, length 44" (tcpdump prints more only for
// some OSPFv2 messages).
func (s *Summarizer) ospf6(b []byte, plen int) {
	if len(b) < 2 {
		s.str("OSPF [|ospf]")
		return
	}
	s.str("OSPFv")
	s.uint(uint64(b[0]))
	s.str(", ")
	if int(b[1]) < len(ospfTypes) && b[1] != 0 {
		s.str(ospfTypes[b[1]])
	} else {
		s.str("unknown packet type (")
		s.uint(uint64(b[1]))
		s.str(")")
	}
	s.str(", length ")
	if b[0] == 2 && len(b) >= 20 && binary.BigEndian.Uint16(b[14:]) == 2 {
		plen -= int(b[19]) // cryptographic authentication data follows
	}
	s.int(plen)
}
