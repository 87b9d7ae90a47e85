package decode

import "strconv"

// SNMP (UDP ports 161 and 162) as tcpdump -n prints SNMPv1 and SNMPv2c
// messages without -v and without a MIB:
//
//	 GetRequest(25)  .1.3.6.1.2.1.1.2.0
//	 GetResponse(58)  .1.3.6.1.2.1.1.5.0="B6300" .1.3.6.1.2.1.1.6.0="Chandra's cube"
//
// What it does not know (SNMPv3, v1 traps, error statuses, value types
// other than those below) it leaves to the generic "UDP, length N".

var snmpPDUNames = [...]string{"GetRequest", "GetNextRequest", "GetResponse", "SetRequest", "Trap",
	"GetBulk", "Inform", "V2Trap", "Report"}

// berElem is one BER element: its tag byte, its contents and what follows it.
type berElem struct {
	tag        byte
	body, rest []byte
}

// ber reads one BER element with a single-byte tag and a definite length.
func ber(b []byte) (berElem, bool) {
	if len(b) < 2 || b[0]&0x1f == 0x1f {
		return berElem{}, false
	}
	tag, l, off := b[0], int(b[1]), 2
	if l&0x80 != 0 {
		n := l & 0x7f
		if n == 0 || n > 3 || len(b) < 2+n {
			return berElem{}, false
		}
		l = 0
		for _, c := range b[2 : 2+n] {
			l = l<<8 | int(c)
		}
		off += n
	}
	if len(b)-off < l {
		return berElem{}, false
	}
	return berElem{tag, b[off : off+l], b[off+l:]}, true
}

// berInt reads a two's complement integer of up to 8 bytes.
func berInt(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 8 {
		return 0, false
	}
	v := int64(int8(b[0]))
	for _, c := range b[1:] {
		v = v<<8 | int64(c)
	}
	return v, true
}

// berUint reads an unsigned integer of up to 8 bytes (a leading zero byte
// allowed before them).
func berUint(b []byte) (uint64, bool) {
	if len(b) == 9 && b[0] == 0 {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 8 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v, true
}

// snmp prints an SNMP message p and reports whether it could; when it
// cannot, s.buf is as it was.
func (s *Summarizer) snmp(p []byte) bool {
	mark := len(s.buf)
	if !s.snmpMessage(p) {
		s.buf = s.buf[:mark]
		return false
	}
	return true
}

func (s *Summarizer) snmpMessage(p []byte) bool {
	msg, ok := ber(p)
	if !ok || msg.tag != 0x30 {
		return false
	}
	ver, ok := ber(msg.body)
	if !ok || ver.tag != 0x02 || len(ver.body) != 1 || ver.body[0] > 1 {
		return false // SNMPv1 and v2c only
	}
	comm, ok := ber(ver.rest)
	if !ok || comm.tag != 0x04 {
		return false
	}
	pdu, ok := ber(comm.rest)
	if !ok || pdu.tag < 0xa0 || pdu.tag > 0xa8 || pdu.tag == 0xa4 || pdu.tag == 0xa5 {
		return false
	}
	s.str(" ")
	if s.opts.Verbose {
		// tcpdump -v frames the message: "{ SNMPv1 { GetRequest(25)
		// R=38  .1.3.6.1.2.1.1.2.0 } } ".
		s.str([2]string{"{ SNMPv1 ", "{ SNMPv2c "}[ver.body[0]])
	}
	if string(comm.body) != "public" {
		if !isPrintable(comm.body) {
			return false
		}
		s.str("C=")
		s.buf = append(s.buf, comm.body...)
		s.str(" ")
	}
	if s.opts.Verbose {
		s.str("{ ")
	}
	s.str(snmpPDUNames[pdu.tag-0xa0])
	s.str("(")
	s.int(len(pdu.body))
	s.str(") ")
	reqID, ok := ber(pdu.body)
	if !ok || reqID.tag != 0x02 {
		return false
	}
	if s.opts.Verbose {
		id, ok := berInt(reqID.body)
		if !ok {
			return false
		}
		s.str("R=")
		s.buf = strconv.AppendInt(s.buf, id, 10)
		s.str(" ")
	}
	status, ok := ber(reqID.rest)
	if !ok || status.tag != 0x02 || len(status.body) != 1 || status.body[0] != 0 {
		return false
	}
	index, ok := ber(status.rest)
	if !ok || index.tag != 0x02 || len(index.body) != 1 || index.body[0] != 0 {
		return false
	}
	list, ok := ber(index.rest)
	if !ok || list.tag != 0x30 {
		return false
	}
	for b := list.body; len(b) > 0; {
		vb, ok := ber(b)
		if !ok || vb.tag != 0x30 {
			return false
		}
		b = vb.rest
		name, ok := ber(vb.body)
		if !ok || name.tag != 0x06 {
			return false
		}
		s.str(" ")
		if !s.oid(name.body) {
			return false
		}
		if pdu.tag == 0xa0 || pdu.tag == 0xa1 {
			continue // requests' values are not printed
		}
		val, ok := ber(name.rest)
		if !ok {
			return false
		}
		s.str("=")
		if !s.snmpValue(val) {
			return false
		}
	}
	if s.opts.Verbose {
		s.str(" } } ")
	}
	return true
}

// oid prints an object identifier as ".1.3.6.1...".
func (s *Summarizer) oid(b []byte) bool {
	first := true
	var v uint64
	for i, c := range b {
		v = v<<7 | uint64(c&0x7f)
		if c&0x80 != 0 {
			if i == len(b)-1 || v > 1<<56 {
				return false
			}
			continue
		}
		if first {
			first = false
			a := min(v/40, 2)
			s.str(".")
			s.uint(a)
			v -= a * 40
		}
		s.str(".")
		s.uint(v)
		v = 0
	}
	return !first
}

func (s *Summarizer) snmpValue(v berElem) bool {
	switch v.tag {
	case 0x02: // INTEGER
		n, ok := berInt(v.body)
		if !ok {
			return false
		}
		s.buf = strconv.AppendInt(s.buf, n, 10)
	case 0x04: // OCTET STRING
		if isPrintable(v.body) {
			s.str(`"`)
			s.buf = append(s.buf, v.body...)
			s.str(`"`)
			return true
		}
		for i, c := range v.body {
			if i > 0 {
				s.str("_")
			}
			s.buf = append(s.buf, hexDigits[c>>4], hexDigits[c&15])
		}
	case 0x06:
		return s.oid(v.body)
	case 0x40: // IpAddress
		if len(v.body) != 4 {
			return false
		}
		for i, c := range v.body {
			if i > 0 {
				s.str(".")
			}
			s.uint(uint64(c))
		}
	case 0x41, 0x42, 0x43, 0x46: // Counter, Gauge, TimeTicks, Counter64
		n, ok := berUint(v.body)
		if !ok {
			return false
		}
		s.uint(n)
	default:
		return false
	}
	return true
}

func isPrintable(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}
