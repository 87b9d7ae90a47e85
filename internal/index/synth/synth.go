// Package synth generates a synthetic traffic mix for the block index's
// tests and its bench: many flows of heavy-tailed sizes (Pareto), IPv4 and
// IPv6, TCP and UDP, spread over a time span, as Ethernet frames in time
// order. It is deterministic for a seed.
package synth

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"net/netip"
	"sort"
)

// Config describes the mix. Zero fields take the defaults in brackets.
type Config struct {
	Seed    uint64
	Flows   int   // number of flows [1000]
	Packets int   // total packets, about [100000]
	Start   int64 // ns of the first packet [2026-01-01]
	Span    int64 // ns from the first to the last packet [24 h]
	// Servers is the number of server addresses [Flows/50+1]; clients
	// are drawn from a pool ten times as large.
	Servers int
}

// Flow is one generated connection.
type Flow struct {
	Client, Server   netip.Addr
	CPort, SPort     uint16
	Proto            uint8 // 6 or 17
	Packets          int
	FirstNS, LastNS  int64
	FirstPkt, LastPk int // indexes in the packet order, for tests
}

// Packet is one generated frame's place: its flow, direction and time.
type Packet struct {
	TS     int64
	Flow   int32
	Reply  bool
	Length uint16 // frame length
}

// Mix is a generated traffic mix.
type Mix struct {
	Flows   []Flow
	Packets []Packet // in time order
}

// Generate builds a mix.
func Generate(c Config) *Mix {
	if c.Flows == 0 {
		c.Flows = 1000
	}
	if c.Packets == 0 {
		c.Packets = 100000
	}
	if c.Start == 0 {
		c.Start = 1767225600e9
	}
	if c.Span == 0 {
		c.Span = 24 * 3600e9
	}
	if c.Servers == 0 {
		c.Servers = c.Flows/50 + 1
	}
	r := rand.New(rand.NewPCG(c.Seed, 0x5eed))
	m := &Mix{Flows: make([]Flow, c.Flows)}
	// Flow sizes: Pareto with alpha 1.2 (a few elephants, many mice),
	// scaled to the packet total.
	w := make([]float64, c.Flows)
	var sum float64
	for i := range w {
		w[i] = 1 / math.Pow(1-r.Float64(), 1/1.2)
		sum += w[i]
	}
	ports := []uint16{443, 443, 443, 443, 80, 80, 53, 22, 25, 123, 8080, 3306, 5432, 6379, 993}
	total := 0
	for i := range m.Flows {
		f := &m.Flows[i]
		f.Packets = max(1, int(w[i]/sum*float64(c.Packets)))
		total += f.Packets
		v6 := r.IntN(5) == 0
		f.Client = addr(r, v6, 10, uint32(r.IntN(c.Servers*10)))
		f.Server = addr(r, v6, 172, uint32(r.IntN(c.Servers)))
		f.Proto = 6
		if r.IntN(10) < 3 {
			f.Proto = 17
		}
		f.SPort = ports[r.IntN(len(ports))]
		if r.IntN(10) == 0 {
			f.SPort = uint16(1024 + r.IntN(60000))
		}
		f.CPort = uint16(32768 + r.IntN(28000))
		// Durations: log-uniform from 1 ms to an hour, elephants longer.
		dur := int64(math.Exp(r.Float64()*math.Log(3600e6))) * 1000
		dur = min(dur*int64(1+f.Packets/1000), c.Span)
		f.FirstNS = c.Start + r.Int64N(c.Span-dur+1)
		f.LastNS = f.FirstNS + dur
	}
	m.Packets = make([]Packet, 0, total)
	for i := range m.Flows {
		f := &m.Flows[i]
		for k := 0; k < f.Packets; k++ {
			ts := f.FirstNS
			if f.Packets > 1 {
				ts += (f.LastNS - f.FirstNS) * int64(k) / int64(f.Packets-1)
			}
			var n int
			switch x := r.IntN(10); {
			case x < 5:
				n = 60 + r.IntN(20)
			case x < 7:
				n = 1514
			default:
				n = 100 + r.IntN(500)
			}
			m.Packets = append(m.Packets, Packet{TS: ts, Flow: int32(i), Reply: k%2 == 1, Length: uint16(n)})
		}
	}
	m.order()
	return m
}

// order sorts the mix's packets by time (at a tie, the lower flow
// index first) and sets each flow's first and last packet.
func (m *Mix) order() {
	sort.Slice(m.Packets, func(a, b int) bool {
		pa, pb := &m.Packets[a], &m.Packets[b]
		if pa.TS != pb.TS {
			return pa.TS < pb.TS
		}
		return pa.Flow < pb.Flow
	})
	for i := range m.Flows {
		m.Flows[i].FirstPkt = -1
	}
	for i, p := range m.Packets {
		f := &m.Flows[p.Flow]
		if f.FirstPkt < 0 {
			f.FirstPkt = i
		}
		f.LastPk = i
	}
}

func addr(r *rand.Rand, v6 bool, net byte, n uint32) netip.Addr {
	if v6 {
		var b [16]byte
		b[0], b[1], b[2] = 0x20, 0x01, net
		binary.BigEndian.PutUint32(b[12:], n)
		return netip.AddrFrom16(b)
	}
	return netip.AddrFrom4([4]byte{net, byte(n >> 16), byte(n >> 8), byte(n)})
}

// Frame appends packet p's Ethernet frame to dst.
func (m *Mix) Frame(dst []byte, p Packet) []byte {
	f := &m.Flows[p.Flow]
	src, dst4, sp, dp := f.Client, f.Server, f.CPort, f.SPort
	if p.Reply {
		src, dst4, sp, dp = dst4, src, dp, sp
	}
	start := len(dst)
	dst = append(dst, 0, 0, 0x5e, 0, 0, 1, 0, 0, 0x5e, 0, 0, 2)
	l4 := 8
	if f.Proto == 6 {
		l4 = 20
	}
	if src.Is4() {
		dst = append(dst, 0x08, 0x00)
		ipLen := max(int(p.Length)-14, 20+l4)
		dst = append(dst, 0x45, 0, byte(ipLen>>8), byte(ipLen), 0, 0, 0x40, 0, 64, f.Proto, 0, 0)
		s, d := src.As4(), dst4.As4()
		dst = append(dst, s[:]...)
		dst = append(dst, d[:]...)
		ip := dst[start+14:]
		var sum uint32
		for i := 0; i < 20; i += 2 {
			sum += uint32(binary.BigEndian.Uint16(ip[i:]))
		}
		for sum > 0xffff {
			sum = sum&0xffff + sum>>16
		}
		binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
	} else {
		dst = append(dst, 0x86, 0xdd)
		pl := max(int(p.Length)-54, l4)
		dst = append(dst, 0x60, 0, 0, 0, byte(pl>>8), byte(pl), f.Proto, 64)
		s, d := src.As16(), dst4.As16()
		dst = append(dst, s[:]...)
		dst = append(dst, d[:]...)
	}
	dst = binary.BigEndian.AppendUint16(dst, sp)
	dst = binary.BigEndian.AppendUint16(dst, dp)
	if f.Proto == 6 {
		dst = append(dst, 0, 0, 0, 1, 0, 0, 0, 1, 0x50, 0x10, 0xff, 0xff, 0, 0, 0, 0)
	} else {
		n := max(int(p.Length)-(len(dst)-start), 0) + 8
		dst = append(dst, byte(n>>8), byte(n), 0, 0)
	}
	for len(dst)-start < int(p.Length) {
		dst = append(dst, 0)
	}
	return dst
}
