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
	if linkType != 1 || len(data) < 14 {
		return summary
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s > %s, ", mac(data[6:12]), mac(data[0:6]))
	et := uint16(data[12])<<8 | uint16(data[13])
	if et < 0x0600 {
		fmt.Fprintf(&b, "802.3, length %d: ", origLen)
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
	for _, p := range eflagOmits[et] {
		if rest, ok := strings.CutPrefix(summary, p); ok {
			summary = rest
			break
		}
	}
	b.WriteString(summary)
	return b.String()
}

// eflagOmits are the prefixes tcpdump prints for a protocol only when -e
// is not given (the -e header names the ethertype instead).
var eflagOmits = map[uint16][]string{
	0x0800: {"IP "},
	0x86dd: {"IP6 "},
	0x0806: {"ARP, "},
	0x8035: {"RARP, "},
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
