package decode

import "bytes"

// maxTCPConns bounds the connections a Summarizer remembers for relative
// sequence numbers; past it the table starts afresh.
const maxTCPConns = 1 << 16

// tcpConnKey names a TCP connection independently of the direction of a
// packet: (a, pa) is the lower of the two endpoints.
type tcpConnKey struct {
	a, b   [16]byte
	pa, pb uint16
	v6     bool
}

// tcpConn holds the sequence numbers that count as 0 in each direction:
// base[0] for bytes sent from (a, pa), base[1] for bytes sent from (b, pb).
type tcpConn struct {
	base [2]uint32
}

// relativeSeq turns seq and ack of a TCP segment that carries an ACK into
// numbers relative to its connection, as tcpdump does without -S: the
// first segment with ACK seen of a connection (and any later SYN) sets the
// origin for both directions and is itself printed absolute. It returns
// the origin of the peer's numbers as ackBase (0 for that first segment).
func (s *Summarizer) relativeSeq(h ipHeader, b []byte, flags uint16, seq, ack uint32) (rseq, rack, ackBase uint32) {
	var k tcpConnKey
	k.v6 = h.v6
	sport := uint16(b[0])<<8 | uint16(b[1])
	dport := uint16(b[2])<<8 | uint16(b[3])
	c := bytes.Compare(h.src, h.dst)
	rev := c > 0 || (c == 0 && sport > dport)
	if rev {
		copy(k.a[:], h.dst)
		copy(k.b[:], h.src)
		k.pa, k.pb = dport, sport
	} else {
		copy(k.a[:], h.src)
		copy(k.b[:], h.dst)
		k.pa, k.pb = sport, dport
	}
	me, peer := 0, 1
	if rev {
		me, peer = 1, 0
	}
	conn, ok := s.tcpConns[k]
	if !ok || flags&0x02 != 0 {
		if s.tcpConns == nil || len(s.tcpConns) >= maxTCPConns {
			s.tcpConns = make(map[tcpConnKey]tcpConn)
		}
		conn.base[me] = seq
		conn.base[peer] = ack - 1
		s.tcpConns[k] = conn
		return seq, ack, 0
	}
	return seq - conn.base[me], ack - conn.base[peer], conn.base[peer]
}
