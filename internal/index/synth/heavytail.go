package synth

import (
	"math"
	"math/rand/v2"
	"net/netip"
)

// HeavyConfig describes the cutoff's heavy-tailed mix (issue #21): IPv4
// TCP and UDP flows where flow i carries packets in proportion to
// 1/(i+1)^Exponent; the largest 1% of the TCP flows are bulk transfers in
// full-size segments with one pure ACK in four, the rest mixed sizes.
// Zero fields take the defaults in brackets.
type HeavyConfig struct {
	Seed     uint64
	Flows    int     // [30000]
	Packets  int     // about [1000000]
	Exponent float64 // [1.3]
	Start    int64   // ns of the earliest packet [2026-01-01]
	Span     int64   // ns [6 min]
}

// HeavyTail builds the mix. Packets of a flow are evenly spaced, never
// more than 10 s apart, so that no flow goes idle for a flow table's
// timeout: each generated flow is one flow to a recorder.
func HeavyTail(c HeavyConfig) *Mix {
	if c.Flows == 0 {
		c.Flows = 30000
	}
	if c.Packets == 0 {
		c.Packets = 1_000_000
	}
	if c.Exponent == 0 {
		c.Exponent = 1.3
	}
	if c.Start == 0 {
		c.Start = 1767225600e9
	}
	if c.Span == 0 {
		c.Span = 6 * 60e9
	}
	r := rand.New(rand.NewPCG(c.Seed, 0x21c0))
	var sum float64
	for i := range c.Flows {
		sum += 1 / math.Pow(float64(i+1), c.Exponent)
	}
	m := &Mix{Flows: make([]Flow, c.Flows)}
	tcp := 0
	bulk := make([]bool, c.Flows)
	for i := range m.Flows {
		f := &m.Flows[i]
		f.Packets = max(1, int(math.Round(float64(c.Packets)/math.Pow(float64(i+1), c.Exponent)/sum)))
		f.Proto = 6
		if r.IntN(5) == 0 {
			f.Proto = 17
		}
		if f.Proto == 6 {
			tcp++
		}
		// Distinct 5-tuples: the client address is the flow's number.
		f.Client = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		f.Server = netip.AddrFrom4([4]byte{172, 16, byte(r.IntN(4)), byte(1 + r.IntN(250))})
		f.CPort = uint16(32768 + r.IntN(28000))
		// Ports whose payload tcpdump does not decode at its default
		// verbosity (the mix's payloads are zeros).
		f.SPort = []uint16{443, 443, 993, 8443, 5201, 9443}[r.IntN(6)]
		if f.Proto == 17 {
			f.SPort = []uint16{4789 + 1000, 5001, 9000, 27015}[r.IntN(4)]
		}
		dur := min(c.Span, int64(f.Packets)*int64(r.IntN(10_000)+1)*1e6, int64(max(f.Packets-1, 1))*10e9)
		f.FirstNS = c.Start + r.Int64N(c.Span-dur+1)
		f.LastNS = f.FirstNS + dur
	}
	// The largest 1% of the TCP flows (the lowest numbers) are bulk.
	for i, n := 0, 0; i < c.Flows && n < (tcp+99)/100; i++ {
		if m.Flows[i].Proto == 6 {
			bulk[i] = true
			n++
		}
	}
	total := 0
	for i := range m.Flows {
		total += m.Flows[i].Packets
	}
	m.Packets = make([]Packet, 0, total)
	for i := range m.Flows {
		f := &m.Flows[i]
		for k := 0; k < f.Packets; k++ {
			ts := f.FirstNS
			if f.Packets > 1 {
				ts += (f.LastNS - f.FirstNS) * int64(k) / int64(f.Packets-1)
			}
			p := Packet{TS: ts, Flow: int32(i)}
			switch {
			case bulk[i] && k%4 == 3:
				p.Length = 54 // the client's pure ACK
			case bulk[i]:
				p.Length, p.Reply = 1514, true // the server's full-size segment
			default:
				p.Reply = k%2 == 1
				switch x := r.IntN(10); {
				case x < 4:
					p.Length = uint16(60 + r.IntN(40))
				case x < 6:
					p.Length = 1514
				default:
					p.Length = uint16(100 + r.IntN(900))
				}
			}
			m.Packets = append(m.Packets, p)
		}
	}
	m.order()
	return m
}
