package decode

import (
	"encoding/binary"
	"time"
)

// ntpTimeVerbose prints the lines tcpdump -v adds to an NTP time message
// p of length bytes: leap, stratum, poll and precision; root delay,
// dispersion and reference ID; the four timestamps, the originator's
// deltas and the key and digest of an authenticated message.
//
// p may be cut short of length: as tcpdump's ntp_time_print, each field is
// printed once it is captured, and " [|ntp]" ends the text where one is
// not.
func (s *Summarizer) ntpTimeVerbose(p []byte, length int) {
	cut := func(n int) bool {
		if len(p) < n {
			s.str(" [|ntp]")
			return true
		}
		return false
	}
	li := p[0] & 0xc0
	s.str("\n\tLeap indicator: ")
	switch li {
	case 0x40:
		s.str("+1s")
	case 0x80:
		s.str("-1s")
	case 0xc0:
		s.str("clock unsynchronized")
	}
	s.str(" (")
	s.uint(uint64(li))
	s.str(")")
	if cut(2) {
		return
	}
	s.str(", Stratum ")
	stratum := p[1]
	s.uint(uint64(stratum))
	switch {
	case stratum == 0:
		s.str(" (unspecified)")
	case stratum == 1:
		s.str(" (primary reference)")
	case stratum <= 15:
		s.str(" (secondary reference)")
	default:
		s.str(" (reserved)")
	}
	if cut(3) {
		return
	}
	poll := int(int8(p[2]))
	s.str(", poll ")
	s.int(poll)
	if poll >= -32 && poll <= 32 {
		if poll >= 0 {
			s.str(" (")
			s.uint(uint64(1) << poll)
			s.str("s)")
		} else {
			s.str(" (1/")
			s.uint(uint64(1) << -poll)
			s.str("s)")
		}
	}
	if cut(4) {
		return
	}
	s.str(", precision ")
	s.int(int(int8(p[3])))
	if cut(8) {
		return
	}
	s.str("\n\tRoot Delay: ")
	s.ntpShortFixed(p[4:8])
	if cut(12) {
		return
	}
	s.str(", Root dispersion: ")
	s.ntpShortFixed(p[8:12])
	if cut(16) {
		return
	}
	s.str(", Reference-ID: ")
	refid := p[12:16]
	switch stratum {
	case 0:
		s.str("(unspec)")
	case 1:
		for _, c := range refid {
			if c == 0 {
				break
			}
			s.printable([]byte{c})
		}
	default:
		s.str("0x")
		s.hex32(binary.BigEndian.Uint32(refid))
	}
	for i, label := range [...]string{"\n\t  Reference Timestamp:  ", "\n\t  Originator Timestamp: ",
		"\n\t  Receive Timestamp:    ", "\n\t  Transmit Timestamp:   "} {
		off := 16 + 8*i
		if cut(off + 8) {
			return
		}
		s.str(label)
		s.ntpTime(p[off : off+8])
	}
	s.str("\n\t    Originator - Receive Timestamp:  ")
	s.ntpDelta(p[24:32], p[32:40])
	s.str("\n\t    Originator - Transmit Timestamp: ")
	s.ntpDelta(p[24:32], p[40:48])
	switch {
	case length == 52 || length == 68 || length == 72:
		if cut(52) {
			return
		}
		s.str("\n\tKey id: ")
		s.uint(uint64(binary.BigEndian.Uint32(p[48:])))
		if length == 52 || cut(length) {
			return
		}
		s.str("\n\tAuthentication: ")
		for off := 52; off < length; off += 4 {
			s.hex32(binary.BigEndian.Uint32(p[off:]))
		}
	}
}

// ntpShortFixed prints an NTP short format value as tcpdump's p_sfix.
func (s *Summarizer) ntpShortFixed(b []byte) {
	s.uint(uint64(binary.BigEndian.Uint16(b)))
	s.str(".")
	f := uint32(float64(binary.BigEndian.Uint16(b[2:])) / 65536.0 * 1000000.0)
	s.pad(uint64(f), 6)
}

// ntpTime prints an NTP timestamp as tcpdump's p_ntp_time: seconds and
// nanoseconds, and the UTC time when the seconds are not zero.
func (s *Summarizer) ntpTime(b []byte) {
	i := binary.BigEndian.Uint32(b)
	s.uint(uint64(i))
	s.str(".")
	s.pad(uint64(uint32(float64(binary.BigEndian.Uint32(b[4:]))/4294967296.0*1000000000.0)), 9)
	if i != 0 {
		const jan1970 = 2208988800
		s.str(" (")
		s.buf = time.Unix(int64(i)-jan1970, 0).UTC().AppendFormat(s.buf, "2006-01-02T15:04:05Z")
		s.str(")")
	}
}

// ntpDelta prints the difference of two NTP timestamps as tcpdump's
// p_ntp_delta does (the later one alone when the first is zero).
func (s *Summarizer) ntpDelta(old, cur []byte) {
	u, uf := binary.BigEndian.Uint32(cur), binary.BigEndian.Uint32(cur[4:])
	ou, ouf := binary.BigEndian.Uint32(old), binary.BigEndian.Uint32(old[4:])
	if ou == 0 && ouf == 0 {
		s.ntpTime(cur)
		return
	}
	var i, f uint32
	neg := false
	switch {
	case u > ou:
		i, f = u-ou, uf-ouf
		if ouf > uf {
			i--
		}
	case u < ou:
		neg = true
		i, f = ou-u, ouf-uf
		if uf > ouf {
			i--
		}
	default:
		if uf > ouf {
			f = uf - ouf
		} else {
			neg = true
			f = ouf - uf
		}
	}
	if neg {
		s.str("-")
	} else {
		s.str("+")
	}
	s.uint(uint64(i))
	s.str(".")
	s.pad(uint64(uint32(float64(f)/4294967296.0*1000000000.0)), 9)
}

// pad appends v in decimal with leading zeros to width digits.
func (s *Summarizer) pad(v uint64, width int) {
	var b [20]byte
	n := len(b)
	for v > 0 || len(b)-n < width {
		n--
		b[n] = byte('0' + v%10)
		v /= 10
	}
	s.buf = append(s.buf, b[n:]...)
}
