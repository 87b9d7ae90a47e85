package flow

import (
	"fmt"
	"net/netip"
	"strconv"
)

// IP protocol numbers the package treats specially.
const (
	ProtoICMP   = 1
	ProtoIPIP   = 4
	ProtoTCP    = 6
	ProtoUDP    = 17
	ProtoIPv6   = 41
	ProtoGRE    = 47
	ProtoICMPv6 = 58
	ProtoSCTP   = 132
)

// Key is one direction of a flow: addresses, IP protocol and, for TCP,
// UDP and SCTP, ports. For ICMP and ICMPv6 SrcPort is the type and
// DstPort the code, as the Community ID spec treats them. Other IP
// protocols, and fragments after the first (which carry no ports), have
// HasPorts false and zero ports. Key is comparable and used as a map key.
type Key struct {
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	Proto            uint8
	HasPorts         bool
}

// Reverse is the other direction's key (ports swapped as they are).
func (k Key) Reverse() Key {
	k.Src, k.Dst = k.Dst, k.Src
	k.SrcPort, k.DstPort = k.DstPort, k.SrcPort
	return k
}

// Canonical is the key both directions of k's flow share, and whether k
// is that key's reverse direction. It is the Community ID spec's ordering:
// the lower endpoint first; an ICMP request and its reply share the key
// (type and counterpart type as ports); one-way ICMP types keep their
// direction and their code.
func (k Key) Canonical() (c Key, reversed bool) {
	return k.ordered()
}

// ProtoName is the usual name of an IP protocol number ("tcp", "udp",
// "icmp", ...), or its number.
func ProtoName(p uint8) string {
	switch p {
	case ProtoICMP:
		return "icmp"
	case 2:
		return "igmp"
	case ProtoIPIP:
		return "ipip"
	case ProtoTCP:
		return "tcp"
	case ProtoUDP:
		return "udp"
	case ProtoIPv6:
		return "ipv6"
	case ProtoGRE:
		return "gre"
	case 50:
		return "esp"
	case 51:
		return "ah"
	case ProtoICMPv6:
		return "icmp6"
	case 89:
		return "ospf"
	case 103:
		return "pim"
	case 112:
		return "vrrp"
	case ProtoSCTP:
		return "sctp"
	}
	return strconv.Itoa(int(p))
}

// String is "proto src:sport > dst:dport" ([addr]:port for IPv6).
func (k Key) String() string {
	return fmt.Sprintf("%s %s > %s", ProtoName(k.Proto), Endpoint(k.Src, k.SrcPort, k.HasPorts), Endpoint(k.Dst, k.DstPort, k.HasPorts))
}

// Endpoint formats an address and port as tshark's conversation table
// does: addr:port, the address alone when there is no port.
func Endpoint(a netip.Addr, port uint16, hasPort bool) string {
	if !hasPort {
		return a.String()
	}
	return a.String() + ":" + strconv.Itoa(int(port))
}
