package rewrite

import (
	"encoding/binary"
	"errors"
)

// ErrCannotSplit reports a frame over the MTU that Segmenter cannot cut:
// not IP, cut short by the capture's snaplen, or with headers that leave
// no room for data within the MTU.
var ErrCannotSplit = errors.New("cannot split the frame to the MTU")

// Segmenter cuts IP packets larger than an interface's MTU into packets
// that fit, as they were on the wire before the kernel's receive offload
// (GRO) merged them, or would have been after its transmit offload (TSO,
// GSO) cut them:
//
//   - TCP is segmented as TSO does: every segment carries the original
//     headers (IP options and extension headers, TCP options) and at most
//     MTU minus headers of payload; sequence numbers advance by the
//     payload before; IPv4 ids increment from the original's; FIN and PSH
//     stay on the last segment only, CWR on the first only; lengths and
//     checksums (IPv4 header, TCP with its pseudo-header) are computed
//     afresh.
//   - Anything else, UDP included, is fragmented (IPv4 fragments, or IPv6
//     ones with a fragment header after the unfragmentable part). A UDP GSO
//     frame was a train of datagrams of the socket's gso_size, but a
//     capture does not record that size, and no rule tells it from the
//     payload: fragmentation delivers the very bytes the frame carried,
//     reassembled by the receiver into one datagram, where guessing a
//     size could deliver different datagrams than were sent. A whole UDP,
//     ICMP or ICMPv6 datagram gets its checksum computed afresh first (a
//     frame captured on its way out carries only the partial sum the NIC
//     was to complete); IPv4 fragments have DF cleared.
//
// The segments live in the Segmenter's buffer, valid until the next call
// to Split. A Segmenter allocates only to grow that buffer.
type Segmenter struct {
	mtu    int
	buf    []byte
	segs   [][]byte
	fragID uint32
}

// NewSegmenter returns a Segmenter for an interface of this MTU (the
// largest IP packet it sends).
func NewSegmenter(mtu int) *Segmenter {
	return &Segmenter{mtu: mtu, buf: make([]byte, 0, 128<<10), fragID: 0x5052_0000}
}

// Fits reports whether frame f of link type lt goes out as it is: its IP
// packet (or, not IP, the frame past the link header) is at most the MTU.
func (s *Segmenter) Fits(lt uint32, f []byte) bool {
	return l3Len(lt, f) <= s.mtu
}

func l3Len(lt uint32, f []byte) int {
	ly := Parse(lt, f)
	if ly.L3 >= 0 {
		return ly.IPEnd - ly.L3
	}
	if lt == LinkEthernet {
		return len(f) - 14
	}
	return len(f)
}

// Split returns the frames that carry frame f of link type lt within the
// MTU: f itself when it fits, else segments or fragments (see Segmenter).
// Bytes past the IP packet's length (an Ethernet trailer) are dropped.
func (s *Segmenter) Split(lt uint32, f []byte) ([][]byte, error) {
	s.segs = s.segs[:0]
	if s.Fits(lt, f) {
		return append(s.segs, f), nil
	}
	ly := Parse(lt, f)
	if ly.L3 < 0 || !ly.Whole {
		return nil, ErrCannotSplit
	}
	if ly.Proto == protoTCP && ly.L4 != 0 && !ly.Frag {
		return s.tcp(f, ly)
	}
	if !ly.Frag {
		transportChecksum(f, ly)
	}
	if ly.Version == 4 {
		return s.frag4(f, ly)
	}
	return s.frag6(f, ly)
}

// reserve makes room for n bytes of output.
func (s *Segmenter) reserve(n int) {
	if cap(s.buf) < n {
		s.buf = make([]byte, 0, n)
	}
	s.buf = s.buf[:0]
}

// add appends a frame made of the parts to the buffer and returns it.
func (s *Segmenter) add(parts ...[]byte) []byte {
	start := len(s.buf)
	for _, p := range parts {
		s.buf = append(s.buf, p...)
	}
	seg := s.buf[start:len(s.buf):len(s.buf)]
	s.segs = append(s.segs, seg)
	return seg
}

func (s *Segmenter) tcp(f []byte, ly Layers) ([][]byte, error) {
	hdr := ly.L4 + ly.l4HeaderLen(f) // link, IP and TCP headers
	mss := s.mtu - (hdr - ly.L3)
	if mss <= 0 {
		return nil, ErrCannotSplit
	}
	payload := f[hdr:ly.IPEnd]
	n := (len(payload) + mss - 1) / mss
	s.reserve(n*hdr + len(payload))
	seq := binary.BigEndian.Uint32(f[ly.L4+4:])
	id := uint16(0)
	if ly.Version == 4 {
		id = binary.BigEndian.Uint16(f[ly.L3+4:])
	}
	flags := f[ly.L4+13]
	const fin, psh, cwr = 0x01, 0x08, 0x80
	for k := 0; k < n; k++ {
		chunk := payload[k*mss : min((k+1)*mss, len(payload))]
		seg := s.add(f[:hdr], chunk)
		sly := ly
		sly.IPEnd = len(seg)
		setIPLength(seg, sly)
		if ly.Version == 4 {
			binary.BigEndian.PutUint16(seg[ly.L3+4:], id+uint16(k))
			ipv4HeaderChecksum(seg, ly.L3)
		}
		binary.BigEndian.PutUint32(seg[ly.L4+4:], seq+uint32(k*mss))
		fl := flags
		if k > 0 {
			fl &^= cwr
		}
		if k < n-1 {
			fl &^= fin | psh
		}
		seg[ly.L4+13] = fl
		transportChecksum(seg, sly)
	}
	return s.segs, nil
}

// setIPLength sets the IP length field for a packet ending at ly.IPEnd.
func setIPLength(f []byte, ly Layers) {
	if ly.Version == 4 {
		binary.BigEndian.PutUint16(f[ly.L3+2:], uint16(ly.IPEnd-ly.L3))
	} else {
		binary.BigEndian.PutUint16(f[ly.L3+4:], uint16(ly.IPEnd-ly.L3-40))
	}
}

func (s *Segmenter) frag4(f []byte, ly Layers) ([][]byte, error) {
	ihl := int(f[ly.L3]&0x0f) * 4
	hdr := ly.L3 + ihl
	piece := (s.mtu - ihl) &^ 7
	if piece <= 0 {
		return nil, ErrCannotSplit
	}
	data := f[hdr:ly.IPEnd]
	n := (len(data) + piece - 1) / piece
	s.reserve(n*hdr + len(data))
	fw := binary.BigEndian.Uint16(f[ly.L3+6:])
	base := int(fw & 0x1fff) // in 8-byte units, when f is itself a fragment
	lastMF := fw & 0x2000
	for k := 0; k < n; k++ {
		seg := s.add(f[:hdr], data[k*piece:min((k+1)*piece, len(data))])
		binary.BigEndian.PutUint16(seg[ly.L3+2:], uint16(len(seg)-ly.L3))
		w := uint16(base+k*piece/8) & 0x1fff
		if k < n-1 {
			w |= 0x2000
		} else {
			w |= lastMF
		}
		binary.BigEndian.PutUint16(seg[ly.L3+6:], w)
		ipv4HeaderChecksum(seg, ly.L3)
	}
	return s.segs, nil
}

func (s *Segmenter) frag6(f []byte, ly Layers) ([][]byte, error) {
	if ly.FragHdr != 0 {
		return nil, ErrCannotSplit // refragmenting a fragment: not done
	}
	unfrag := ly.UnfragEnd
	piece := (s.mtu - (unfrag - ly.L3) - 8) &^ 7
	if piece <= 0 {
		return nil, ErrCannotSplit
	}
	// The next-header field that names the first fragmentable header
	// becomes 44 (fragment), and the fragment header names that header.
	nextAt := ly.L3 + 6
	for p := ly.L3 + 40; p < unfrag; p += (int(f[p+1]) + 1) * 8 {
		nextAt = p
	}
	next := f[nextAt]
	data := f[unfrag:ly.IPEnd]
	n := (len(data) + piece - 1) / piece
	s.reserve(n*(unfrag+8) + len(data))
	s.fragID++
	var fh [8]byte
	fh[0] = next
	binary.BigEndian.PutUint32(fh[4:], s.fragID)
	for k := 0; k < n; k++ {
		w := uint16(k * piece) // offset in bytes, a multiple of 8
		if k < n-1 {
			w |= 1
		}
		binary.BigEndian.PutUint16(fh[2:], w)
		seg := s.add(f[:unfrag], fh[:], data[k*piece:min((k+1)*piece, len(data))])
		seg[nextAt] = 44
		binary.BigEndian.PutUint16(seg[ly.L3+4:], uint16(len(seg)-ly.L3-40))
	}
	return s.segs, nil
}

// Truncate cuts frame f of link type lt to the MTU, as tcpreplay's
// --mtu-trunc does, and returns the shorter frame (a prefix of f). An IP
// packet's length field then says the length it has now, and its
// checksums are recomputed over what is left (a TCP or UDP segment cut
// short is checksummed as the shorter segment, UDP's length fixed too), so
// the receiver takes a shorter packet rather than drops a damaged one.
func Truncate(lt uint32, f []byte, mtu int) []byte {
	ly := Parse(lt, f)
	if ly.L3 < 0 {
		link := 0
		if lt == LinkEthernet {
			link = 14
		}
		return f[:min(len(f), link+mtu)]
	}
	if ly.IPEnd-ly.L3 <= mtu {
		return f
	}
	hdr := 40
	if ly.Version == 4 {
		hdr = int(f[ly.L3]&0x0f) * 4
	}
	l4End := 0 // end of the transport header
	if ly.L4 != 0 {
		l4End = ly.L4 + ly.l4HeaderLen(f)
	}
	f = f[:ly.L3+mtu]
	if mtu < hdr {
		return f // an MTU below the IP header: no packet is left to fix
	}
	ly.IPEnd = len(f)
	setIPLength(f, ly)
	if ly.Version == 4 {
		ipv4HeaderChecksum(f, ly.L3)
	}
	if ly.L4 != 0 && l4End <= len(f) {
		if ly.Proto == protoUDP {
			binary.BigEndian.PutUint16(f[ly.L4+4:], uint16(len(f)-ly.L4))
		}
		transportChecksum(f, ly)
	}
	return f
}
