package filter

import "net"

// ZeroNetmask is the netmask tcpdump compiles with when it knows none
// (reading a file, or an interface without an IPv4 address): with it,
// "ip broadcast" matches 0.0.0.0 and 255.255.255.255 only.
var ZeroNetmask = net.IPv4Mask(0, 0, 0, 0)

// InterfaceNetmask is the mask of the interface's first IPv4 address, as
// libpcap's pcap_lookupnet finds it for a live capture, or ZeroNetmask.
func InterfaceNetmask(name string) net.IPMask {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return ZeroNetmask
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return ZeroNetmask
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && len(ipn.Mask) == net.IPv4len {
			return ipn.Mask
		} else if ok && ipn.IP.To4() != nil && len(ipn.Mask) == net.IPv6len {
			return ipn.Mask[12:]
		}
	}
	return ZeroNetmask
}

// NetmaskOf is a netmask kept as a number (0xffffff00), as sessions
// record it; 0 is ZeroNetmask.
func NetmaskOf(v uint32) net.IPMask {
	return net.IPv4Mask(byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// NetmaskBits is m as a number (0xffffff00); 0 for a mask that is not IPv4.
func NetmaskBits(m net.IPMask) uint32 {
	if len(m) != net.IPv4len {
		return 0
	}
	return uint32(m[0])<<24 | uint32(m[1])<<16 | uint32(m[2])<<8 | uint32(m[3])
}
