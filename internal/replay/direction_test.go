package replay

import (
	"encoding/binary"
	"net/netip"
	"testing"
)

// frame builds an Ethernet frame with an IPv4 or IPv6 header and the first
// bytes of a transport header: ports, or an ICMP type, and TCP flags.
func frame(src, dst string, proto uint8, sport, dport uint16, tcpFlags byte) []byte {
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	f := make([]byte, 14, 100)
	var l3 []byte
	if s.Is4() {
		binary.BigEndian.PutUint16(f[12:], 0x0800)
		l3 = make([]byte, 20)
		l3[0], l3[9] = 0x45, proto
		binary.BigEndian.PutUint16(l3[2:], 40)
		copy(l3[12:], s.AsSlice())
		copy(l3[16:], d.AsSlice())
	} else {
		binary.BigEndian.PutUint16(f[12:], 0x86dd)
		l3 = make([]byte, 40)
		l3[0], l3[6] = 0x60, proto
		binary.BigEndian.PutUint16(l3[4:], 20)
		copy(l3[8:], s.AsSlice())
		copy(l3[24:], d.AsSlice())
	}
	l4 := make([]byte, 20)
	binary.BigEndian.PutUint16(l4, sport)
	binary.BigEndian.PutUint16(l4[2:], dport)
	if proto == 1 || proto == 58 {
		l4[0] = byte(sport)
	}
	l4[12], l4[13] = 0x50, tcpFlags
	return append(append(f, l3...), l4...)
}

const (
	syn    = 0x02
	synAck = 0x12
	ack    = 0x10
)

func TestSides(t *testing.T) {
	type pkt struct {
		f    []byte
		want Side
	}
	for _, tc := range []struct {
		name string
		pkts []pkt
	}{
		{"tcp handshake from the high address", []pkt{
			{frame("10.0.0.9", "10.0.0.1", 6, 80, 40000, syn), Client}, // odd but a SYN decides
			{frame("10.0.0.1", "10.0.0.9", 6, 40000, 80, synAck), Server},
			{frame("10.0.0.9", "10.0.0.1", 6, 80, 40000, ack), Client},
		}},
		{"tcp syn-ack first", []pkt{
			{frame("10.0.0.1", "10.0.0.2", 6, 22, 50000, synAck), Server},
			{frame("10.0.0.2", "10.0.0.1", 6, 50000, 22, ack), Client},
		}},
		{"tcp mid-stream: the higher port is the client", []pkt{
			{frame("10.0.0.1", "10.0.0.2", 6, 443, 50000, ack), Server},
			{frame("10.0.0.2", "10.0.0.1", 6, 50000, 443, ack), Client},
		}},
		{"tcp port reuse: a new SYN decides again", []pkt{
			{frame("10.0.0.1", "10.0.0.2", 6, 5000, 6000, syn), Client},
			{frame("10.0.0.2", "10.0.0.1", 6, 6000, 5000, syn), Client},
			{frame("10.0.0.1", "10.0.0.2", 6, 5000, 6000, ack), Server},
		}},
		{"udp: the lower port is the server", []pkt{
			{frame("192.168.1.1", "192.168.1.2", 17, 53, 33333, 0), Server},
			{frame("192.168.1.2", "192.168.1.1", 17, 33333, 53, 0), Client},
		}},
		{"udp equal ports: the first sender", []pkt{
			{frame("192.168.1.2", "192.168.1.1", 17, 123, 123, 0), Client},
			{frame("192.168.1.1", "192.168.1.2", 17, 123, 123, 0), Server},
		}},
		{"icmp echo", []pkt{
			{frame("10.0.0.2", "10.0.0.1", 1, 0, 0, 0), Server}, // a reply first
			{frame("10.0.0.1", "10.0.0.2", 1, 8, 0, 0), Client},
		}},
		{"ipv6 tcp", []pkt{
			{frame("2001:db8::2", "2001:db8::1", 6, 40000, 80, syn), Client},
			{frame("2001:db8::1", "2001:db8::2", 6, 80, 40000, synAck), Server},
		}},
		{"icmpv6 echo", []pkt{
			{frame("2001:db8::2", "2001:db8::1", 58, 128, 0, 0), Client},
			{frame("2001:db8::1", "2001:db8::2", 58, 129, 0, 0), Server},
		}},
		{"other protocols: the first sender", []pkt{
			{frame("10.0.0.2", "10.0.0.1", 47, 0, 0, 0), Client},
			{frame("10.0.0.1", "10.0.0.2", 47, 0, 0, 0), Server},
		}},
		{"not IP", []pkt{
			{append(make([]byte, 12), 0x08, 0x06, 0, 1), Client},
			{[]byte{1, 2, 3}, Client},
		}},
	} {
		s := NewSides()
		for i, p := range tc.pkts {
			if got := s.Of(1, p.f); got != p.want {
				t.Errorf("%s: packet %d is the %v's, want the %v's", tc.name, i, got, p.want)
			}
		}
	}
}

func TestSidesAllocs(t *testing.T) {
	s := NewSides()
	f := frame("10.0.0.1", "10.0.0.2", 6, 5000, 6000, ack)
	s.Of(1, f)
	if n := testing.AllocsPerRun(100, func() { s.Of(1, f) }); n != 0 {
		t.Errorf("Of allocates %v times per known flow's frame", n)
	}
}
