package decode

import (
	"fmt"
	"strings"
)

// LinkLine is summary with the link-level header in front, as tcpdump -e
// prints it. On Ethernet (DLT_EN10MB):
//
//	8a:3b:14:42:c3:eb > ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806), length 42: Request who-has ...
//
// where the protocol's own name that tcpdump prints only without -e ("IP ",
// "IP6 ", "ARP, ") is left out of the summary. Other link types are
// returned unchanged.
//
// With quiet (-q -e), the ethertype is its name alone ("IPv4, length 98: ").
func LinkLine(linkType uint32, data []byte, origLen int, summary string, quiet bool) string {
	switch linkType {
	case 1:
	case 12, 14, 101, 228, 229: // RAW, IPV4, IPV6
		return "ip: " + omitProtocol(summary, 0x0800, 0x86dd)
	case 0, 108: // NULL, LOOP
		return nullLinkLine(linkType, data, origLen, summary, quiet)
	case 113:
		return sllLinkLine(data, origLen, summary, quiet)
	case 276:
		return sll2LinkLine(data, origLen, summary, quiet)
	default:
		return summary
	}
	if len(data) < 14 {
		return summary
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s > %s, ", mac(data[6:12]), mac(data[0:6]))
	if strings.HasPrefix(summary, b.String()) {
		// tcpdump prints the header of a frame it cannot decode with or
		// without -e, once.
		return summary
	}
	et := uint16(data[12])<<8 | uint16(data[13])
	if et < 0x0600 {
		fmt.Fprintf(&b, "802.3, length %d: ", et) // the frame's own length field
		b.WriteString(summary)
		return b.String()
	}
	fmt.Fprintf(&b, "%s, length %d: ", etherTypePhrase(et, quiet), origLen)
	// VLAN tags, each as tcpdump -e prints them (ieee8021q_tci_string).
	for off := 14; (et == 0x8100 || et == 0x88a8 || et == 0x9100) && off+4 <= len(data); off += 4 {
		tci := uint16(data[off])<<8 | uint16(data[off+1])
		fmt.Fprintf(&b, "vlan %d, p %d", tci&0x0fff, tci>>13)
		if tci&0x1000 != 0 {
			b.WriteString(", DEI")
		}
		b.WriteString(", ")
		et = uint16(data[off+2])<<8 | uint16(data[off+3])
		if et > 1500 {
			b.WriteString(etherTypePhrase(et, quiet) + ", ")
		}
	}
	b.WriteString(omitProtocol(summary, et))
	return b.String()
}

// omitProtocol is summary without the protocol's name that tcpdump prints
// only without -e, for a packet of one of these ethertypes.
func omitProtocol(summary string, ets ...uint16) string {
	for _, et := range ets {
		for _, p := range eflagOmits[et] {
			if rest, ok := strings.CutPrefix(summary, p); ok {
				return rest
			}
		}
	}
	return summary
}

// sllPacketType is tcpdump's name of a Linux cooked packet type.
func sllPacketType(t uint16) string {
	switch t {
	case 0:
		return "In"
	case 1:
		return "B"
	case 2:
		return "M"
	case 3:
		return "P"
	case 4:
		return "Out"
	}
	return "?"
}

// sllProtocol is the protocol field of a Linux cooked header as tcpdump
// -e prints it, with its ", length N: ".
func sllProtocol(b *strings.Builder, et uint16, origLen int, quiet bool) {
	if quiet {
		return
	}
	switch {
	case et == 1:
		b.WriteString("802.3")
	case et == 4:
		b.WriteString("802.2")
	case et <= 1500:
		fmt.Fprintf(b, "ethertype Unknown (0x%04x)", et)
	default:
		fmt.Fprintf(b, "ethertype %s (0x%04x)", etherTypeName(et), et)
	}
	fmt.Fprintf(b, ", length %d: ", origLen)
}

// sllLinkLine is tcpdump -e's LINUX_SLL header: packet type, the address
// where it is 6 bytes, the protocol and length.
func sllLinkLine(data []byte, origLen int, summary string, quiet bool) string {
	if len(data) < 16 {
		return summary
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%3s ", sllPacketType(uint16(data[0])<<8|uint16(data[1])))
	if uint16(data[4])<<8|uint16(data[5]) == 6 {
		b.WriteString(mac(data[6:12]) + " ")
	}
	et := uint16(data[14])<<8 | uint16(data[15])
	sllProtocol(&b, et, origLen, quiet)
	b.WriteString(omitProtocol(summary, et))
	return b.String()
}

// sll2LinkLine is tcpdump -e's LINUX_SLL2 header, after the interface's
// name and the packet type that every SLL2 line begins with: the
// interface index, the address, the protocol and length.
func sll2LinkLine(data []byte, origLen int, summary string, quiet bool) string {
	if len(data) < 20 {
		return summary
	}
	// The summary begins "%-5s %-3s " (name, packet type).
	i := strings.IndexByte(summary, ' ')
	if i < 0 {
		return summary
	}
	for i < len(summary) && summary[i] == ' ' {
		i++
	}
	j := strings.IndexByte(summary[i:], ' ')
	if j < 0 {
		return summary
	}
	j += i
	for j < len(summary) && summary[j] == ' ' {
		j++
	}
	var b strings.Builder
	b.WriteString(summary[:j])
	index := uint32(data[4])<<24 | uint32(data[5])<<16 | uint32(data[6])<<8 | uint32(data[7])
	fmt.Fprintf(&b, "ifindex %d ", index)
	if data[11] == 6 {
		b.WriteString(mac(data[12:18]) + " ")
	}
	et := uint16(data[0])<<8 | uint16(data[1])
	sllProtocol(&b, et, origLen, quiet)
	b.WriteString(omitProtocol(summary[j:], et))
	return b.String()
}

// nullLinkLine is tcpdump -e's BSD loopback header: the address family
// (in the capturing host's byte order for NULL, big-endian for LOOP).
func nullLinkLine(linkType uint32, data []byte, origLen int, summary string, quiet bool) string {
	if len(data) < 4 {
		return summary
	}
	family := uint32(data[0])<<24 | uint32(data[1])<<16 | uint32(data[2])<<8 | uint32(data[3])
	if linkType == 0 && family&0xffff0000 != 0 {
		family = uint32(data[3])<<24 | uint32(data[2])<<16 | uint32(data[1])<<8 | uint32(data[0])
	}
	name, et := "", uint16(0)
	switch family {
	case 2:
		name, et = "IPv4", 0x0800
	case 24, 28, 30:
		name, et = "IPv6", 0x86dd
	}
	var b strings.Builder
	switch {
	case !quiet && name == "":
		fmt.Fprintf(&b, "AF Unknown (%d)", family)
	case !quiet:
		fmt.Fprintf(&b, "AF %s (%d)", name, family)
	case name == "":
		fmt.Fprintf(&b, "Unknown AF %d", family)
	default:
		b.WriteString(name)
	}
	fmt.Fprintf(&b, ", length %d: ", origLen)
	b.WriteString(omitProtocol(summary, et))
	return b.String()
}

// eflagOmits are the prefixes tcpdump prints for a protocol only when -e
// is not given (the -e header names the ethertype instead).
var eflagOmits = map[uint16][]string{
	0x0800: {"IP "},
	0x86dd: {"IP6 "},
	0x0806: {"ARP, "},
	0x8035: {"ARP, ", "RARP, "},
}

// etherTypePhrase is an ethertype as tcpdump -e names it: "ethertype
// IPv4 (0x0800)", or with -q "IPv4" ("Unknown Ethertype (0x88b5)").
func etherTypePhrase(et uint16, quiet bool) string {
	name := etherTypeName(et)
	switch {
	case !quiet:
		return fmt.Sprintf("ethertype %s (0x%04x)", name, et)
	case name == "Unknown":
		return fmt.Sprintf("Unknown Ethertype (0x%04x)", et)
	}
	return name
}

// etherTypeName is tcpdump's name of an ethertype (its ethertype_values).
func etherTypeName(et uint16) string {
	switch et {
	case 0x0800:
		return "IPv4"
	case 0x86dd:
		return "IPv6"
	case 0x0806:
		return "ARP"
	case 0x8035:
		return "Reverse ARP"
	case 0x8100:
		return "802.1Q"
	case 0x88a8:
		return "802.1Q-QinQ"
	case 0x9100:
		return "802.1Q-9100"
	case 0x88cc:
		return "LLDP"
	case 0x8847:
		return "MPLS unicast"
	case 0x8848:
		return "MPLS multicast"
	case 0x8863:
		return "PPPoE D"
	case 0x8864:
		return "PPPoE S"
	case 0x888e:
		return "EAPOL"
	case 0x9000:
		return "Loopback"
	case 0x8809:
		return "Slow Protocols"
	case 0x88f7:
		return "PTP"
	}
	return "Unknown"
}

func mac(b []byte) string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5])
}
