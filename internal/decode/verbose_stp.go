package decode

import (
	"encoding/binary"
	"strconv"
)

// stpVerbose prints the lines tcpdump -v adds to a configuration or
// rapid STP BPDU b (at least 35 bytes): its timers, the root and, for
// 802.1w, the port role.
func (s *Summarizer) stpVerbose(b []byte) {
	s.str("\n\tmessage-age ")
	for i, name := range [...]string{"", ", max-age ", ", hello-time ", ", forwarding-delay "} {
		s.str(name)
		t := float32(binary.BigEndian.Uint16(b[27+2*i:])) / 256
		s.buf = strconv.AppendFloat(s.buf, float64(t), 'f', 2, 64)
		s.str("s")
	}
	s.str("\n\troot-id ")
	s.hex16raw(binary.BigEndian.Uint16(b[5:]))
	s.str(".")
	s.mac(b[7:13])
	s.str(", root-pathcost ")
	s.uint(uint64(binary.BigEndian.Uint32(b[13:])))
	if b[2] == 2 {
		s.str(", port-role ")
		s.str([...]string{"Unknown", "Alternate", "Root", "Designated"}[b[4]>>2&3])
	}
}
