package replay

import (
	"bytes"

	"github.com/packetrecorderd/packetrecorderd/internal/rewrite"
)

// Side is the end of a conversation that sent a packet.
type Side uint8

const (
	Client Side = iota // the side that opened the conversation
	Server
)

// Sides splits a replay by direction, as tcpreplay does with a tcpprep
// cache, but per flow (5-tuple) rather than per host. Which end of a flow
// is the client is decided by the first of these that applies:
//
//   - TCP: the sender of a SYN without ACK is the client (a later SYN
//     starts a new connection and decides again); the receiver of a
//     SYN-ACK seen before any SYN is the client.
//   - ICMP and ICMPv6 echo: the sender of the request (the receiver of the
//     reply) is the client.
//   - TCP without a handshake in the capture, and UDP: the end with the higher port is the client, the lower
//     port being the service (tcpprep's port-based mode); with equal
//     ports, the first sender seen.
//   - Any other IP packet (other protocols, fragments after the first):
//     per address pair and protocol, the first sender seen.
//   - Frames that are not IP (ARP, LLDP) count as the client's, as
//     tcpprep sends non-IP traffic out of the primary interface.
//
// A Sides allocates only when it meets a new flow.
type Sides struct {
	flows map[flowKey]Side // the side of the flow's lower end
}

// flowKey names a flow with its lower (address, port) end first.
type flowKey struct {
	lo, hi     [16]byte
	loP, hiP   uint16
	proto      uint8
	portsKnown bool
}

// NewSides returns an empty flow table.
func NewSides() *Sides { return &Sides{flows: make(map[flowKey]Side)} }

// Of returns the side that sent frame f of link type lt.
func (s *Sides) Of(lt uint32, f []byte) Side {
	ly := rewrite.Parse(lt, f)
	if ly.L3 < 0 {
		return Client
	}
	var k flowKey
	src, dst := ly.Addrs(f)
	sp, dp, ports := ly.Ports(f)
	k.proto, k.portsKnown = ly.Proto, ports
	srcLow := bytes.Compare(src, dst) < 0 || bytes.Equal(src, dst) && sp <= dp
	if srcLow {
		copy(k.lo[:], src)
		copy(k.hi[:], dst)
		k.loP, k.hiP = sp, dp
	} else {
		copy(k.lo[:], dst)
		copy(k.hi[:], src)
		k.loP, k.hiP = dp, sp
	}
	// sender and receiver as sides of the lower end: if the sender is
	// the client, the lower end is Client exactly when it is the sender.
	senderIsClient := func(yes bool) Side {
		if yes == srcLow {
			return Client
		}
		return Server
	}
	lowSide, known := s.flows[k]
	decided := true
	switch {
	case ly.Proto == 6 && ly.L4 != 0 && f[ly.L4+13]&0x12 == 0x02: // SYN
		lowSide = senderIsClient(true)
	case known:
		decided = false
	case ly.Proto == 6 && ly.L4 != 0 && f[ly.L4+13]&0x12 == 0x12: // SYN-ACK
		lowSide = senderIsClient(false)
	case ly.L4 != 0 && (ly.Proto == 1 && f[ly.L4] == 8 || ly.Proto == 58 && f[ly.L4] == 128): // echo request
		lowSide = senderIsClient(true)
	case ly.L4 != 0 && (ly.Proto == 1 && f[ly.L4] == 0 || ly.Proto == 58 && f[ly.L4] == 129): // echo reply
		lowSide = senderIsClient(false)
	case ports && sp != dp:
		lowSide = senderIsClient(sp > dp)
	default:
		lowSide = senderIsClient(true)
	}
	if decided && (!known || s.flows[k] != lowSide) {
		s.flows[k] = lowSide
	}
	if srcLow {
		return lowSide
	}
	return 1 - lowSide
}
