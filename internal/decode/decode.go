// Package decode turns raw packet bytes into the short text and index
// columns the recorder shows and stores.
//
// Input is always a pcap LINKTYPE_ number (1 Ethernet, 101 raw IP, 113 Linux
// SLL, ...), the captured bytes and the original wire length. From these,
// Summary builds a one-line description in the style of `tcpdump -n` (without
// the timestamp), FlowKey extracts the IP 5-tuple used as index columns, and
// HexDump renders bytes like `tcpdump -X`.
//
// The decoders are hand-written over []byte: every field access is bounds
// checked, so arbitrary (truncated, malformed, hostile) input yields a
// summary that says where it stopped ("[|tcp]") instead of an error or a
// panic. A Summarizer reuses its output buffer, so summarising costs one
// allocation (the returned string) per packet.
//
// Above IP the text is tcpdump's (4.99), as tests check it against tcpdump
// itself: TCP with relative sequence numbers (Options.AbsoluteSeq for -S)
// and options; the first line of HTTP, FTP, SMTP, RTSP and SIP messages;
// SSH identification; DNS and mDNS questions and answers (over UDP and
// TCP); BOOTP/DHCP, DHCPv6, NTP, VXLAN, Geneve, LDP; SCTP chunks; ICMP
// (unreachables named by the returned header), ICMPv6 with neighbour
// discovery and MLD, IGMP; AH with its ICV, IPComp, GRE; OSPFv2 and
// OSPFv3, IS-IS, VRRPv2 headers; ARP; LLDP, CDP; STP BPDUs; PPPoE
// discovery and sessions, PPP control protocols and PAP; Frame Relay and
// FRF.16; 802.1Q tags, which tcpdump without -e does not print; IPv6
// extension headers, after which ports are printed apart from the
// addresses ("IP6 a > b: HBH 1 > 2: UDP"). Options.Verbose adds what
// tcpdump -v adds: the IP header fields, checksums, and the detail lines
// of the protocols in the verbose_*.go files (GRE flags, PPP options,
// OSPF, BOOTP/DHCP options, LDP, LLDP, CDP, IS-IS). Options.Quiet and
// Options.Link print what tcpdump -q and -e print inside the packet
// (tunnels' inner packets, link headers LinkLine does not add). What is
// not listed (SNMP, BGP, PIM, 802.11 radio headers, ...) ends in
// tcpdump's generic forms or ours ("UDP, length 20").
//
// Fidelity is measured by the tests against tcpdump on the shared corpus
// (TestSummaryCorpusFidelity) and on traffic recorded in a network lab
// (TestSummaryLabFidelity).
package decode

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
)

// Link types (pcap LINKTYPE_ values) understood by the decoders.
const (
	LinkTypeNull          = 0
	LinkTypeEthernet      = 1
	LinkTypePPP           = 9
	LinkTypePPPSerial     = 50
	LinkTypeRaw           = 101
	LinkTypeCHDLC         = 104
	LinkTypeIEEE80211     = 105
	LinkTypeLoop          = 108
	LinkTypeLinuxSLL      = 113
	LinkTypeRadiotap      = 127
	LinkTypePPI           = 192
	LinkTypeIPv4          = 228
	LinkTypeIPv6          = 229
	LinkTypeNFLOG         = 239
	LinkTypeLinuxSLL2     = 276
	LinkTypeFDDI          = 10
	LinkTypeARCNETLinux   = 129
	LinkTypeFrameRelay    = 107
	LinkTypeIPNET         = 226
	LinkTypeIPoIB         = 242
	maxEncapsulationDepth = 8
)

// Flow is the IP 5-tuple of a packet: the outermost IP header and, for TCP,
// UDP and SCTP, its ports. Ports are zero for other protocols.
type Flow struct {
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	Proto            uint8
}

// Summarizer builds packet summaries, reusing its internal buffers between
// calls. The zero value is ready to use. A Summarizer is not safe for
// concurrent use; give each goroutine its own.
type Summarizer struct {
	buf     []byte
	wireLen int
	depth   int
	flow    Flow
	hasFlow bool
	flowSrc []byte // source address bytes of the header s.flow came from
	ethHdr  []byte // the outermost Ethernet header, if any
	opts    Options

	tcpConns map[tcpConnKey]tcpConn // relative sequence number origins
	appLen   int                    // on-wire length of the application payload being printed
	flowOnly bool                   // in Flow: leave tcpConns alone

	// InterfaceName, when set, names the interface index of a LINUX_SLL2
	// packet: the summary then starts with the name and the direction
	// ("eth0  In  IP ..."), as tcpdump prints them. It returns "" for an
	// index it does not know, printed "?" as tcpdump does.
	InterfaceName func(index uint32) string
}

// Options select how a Summarizer prints. The zero value prints like
// tcpdump -n.
type Options struct {
	// AbsoluteSeq prints TCP sequence and acknowledgement numbers as they
	// are on the wire (tcpdump -S) instead of relative to the first
	// packet seen of each connection.
	AbsoluteSeq bool
	// Verbose adds the IP header fields tcpdump -v prints ("(tos 0x0,
	// ttl 64, id 0, offset 0, flags [DF], proto UDP (17), length 84)")
	// and the detail lines of the protocols decoded in verbose_*.go.
	Verbose bool
	// Quiet prints tcpdump -q's short forms wherever they occur, inside
	// tunnels too: "tcp N" for a TCP segment, "UDP, length N" for every
	// UDP datagram whatever it carries, "igmp" for IGMP.
	Quiet bool
	// Link prints link-level headers as tcpdump -e does, on the frames
	// tunnels carry too ("proto TEB (0x6558)" in GRE, then the inner
	// Ethernet header), and leaves out the protocol names tcpdump prints
	// only without -e ("IP ", "IP6 ", "ARP, "). The outermost header of
	// the link types LinkLine knows is LinkLine's to print.
	Link bool
}

// NewSummarizer returns a Summarizer with default Options.
func NewSummarizer() *Summarizer {
	return NewSummarizerOptions(Options{})
}

// NewSummarizerOptions returns a Summarizer that prints as opts say.
func NewSummarizerOptions(opts Options) *Summarizer {
	return &Summarizer{buf: make([]byte, 0, 256), opts: opts}
}

// Summary describes one packet in one line, like tcpdump -n prints after the
// timestamp, for example
//
//	IP 10.0.0.1.5000 > 10.0.0.2.53: UDP, length 20
//	ARP, Request who-has 10.0.0.2 tell 10.0.0.1, length 28
//	ethertype 0x88cc, length 60
//
// linkType is a pcap LINKTYPE_ value, data the captured bytes and wireLen
// the original length on the wire (a value below len(data) is treated as
// len(data)). Summary never fails: what it cannot decode it names with a
// generic fallback, and truncated headers are marked like tcpdump does
// ("[|tcp]"). It uses a fresh Summarizer; reuse one in loops.
//
// The package-level Summary has no memory between calls, so TCP sequence
// numbers come out as tcpdump prints the first packet of a connection
// (absolute); a Summarizer remembers connections and makes them relative.
// SLL2's interface and direction are printed only by a Summarizer with
// InterfaceName set. What the decoders know beyond IP, TCP and UDP, and
// how they differ from tcpdump, is listed in the package documentation.
func Summary(linkType uint32, data []byte, wireLen int) string {
	var s Summarizer
	return s.Summary(linkType, data, wireLen)
}

// Summary is like the package-level Summary but reuses s's buffer. The
// returned string is independent of s.
//
// Unless s was built with Options.AbsoluteSeq, s remembers each TCP
// connection it sees, as tcpdump does, to print sequence and
// acknowledgement numbers relative to the connection's first packet with
// an ACK: summarise packets once each, in capture order. With
// Options.Verbose the text is that of tcpdump -v, which for IPv4 breaks
// the line after the IP header ("IP (tos 0x0, ..., length 84)\n    10.0.0.1
// > ..."); print it as it is.
func (s *Summarizer) Summary(linkType uint32, data []byte, wireLen int) string {
	s.decode(linkType, data, wireLen)
	return string(s.buf)
}

// AppendSummary appends the summary of a packet to dst and returns the
// extended slice, without allocating when dst has room.
func (s *Summarizer) AppendSummary(dst []byte, linkType uint32, data []byte, wireLen int) []byte {
	s.decode(linkType, data, wireLen)
	return append(dst, s.buf...)
}

// Flow returns the 5-tuple of the outermost IP header of the packet, or
// ok=false when the packet carries no (decodable) IP header.
func (s *Summarizer) Flow(linkType uint32, data []byte) (f Flow, ok bool) {
	s.flowOnly = true
	s.decode(linkType, data, len(data))
	s.flowOnly = false
	return s.flow, s.hasFlow
}

// FlowKey returns the 5-tuple of the outermost IP header of a packet, or
// ok=false when it is not IP. See Summarizer.Flow to avoid allocations.
func FlowKey(linkType uint32, data []byte) (Flow, bool) {
	var s Summarizer
	return s.Flow(linkType, data)
}

func (s *Summarizer) decode(linkType uint32, data []byte, wireLen int) {
	if wireLen < len(data) {
		wireLen = len(data)
	}
	s.buf = s.buf[:0]
	s.wireLen = wireLen
	s.depth = 0
	s.flow = Flow{}
	s.hasFlow = false
	s.flowSrc = nil
	s.ethHdr = nil
	s.link(linkType, data, wireLen)
}

// fixedLink decodes a link header of hdrLen bytes that carries a big-endian
// ethertype at typeOff, then what follows it; trunc marks a short header.
func (s *Summarizer) fixedLink(data []byte, wire, hdrLen, typeOff int, trunc string) {
	if len(data) < hdrLen {
		s.str(trunc)
		return
	}
	s.ethertype(binary.BigEndian.Uint16(data[typeOff:]), data[hdrLen:], wire-hdrLen)
}

// link dispatches on the link type. wire is the on-wire length of data.
func (s *Summarizer) link(linkType uint32, data []byte, wire int) {
	s.depth++
	if s.depth > maxEncapsulationDepth {
		s.str("[|encapsulation too deep]")
		return
	}
	switch linkType {
	case LinkTypeEthernet:
		s.ethernet(data, wire)
	case LinkTypeRaw:
		s.ip(data, wire)
	case LinkTypeIPv4:
		s.ipv4(data, wire)
	case LinkTypeIPv6:
		s.ipv6(data, wire)
	case LinkTypeLinuxSLL:
		s.fixedLink(data, wire, 16, 14, " [|sll]")
	case LinkTypeLinuxSLL2:
		if s.InterfaceName != nil && len(data) >= 20 {
			s.sll2Prefix(binary.BigEndian.Uint32(data[4:]), data[10])
		}
		s.fixedLink(data, wire, 20, 0, " [|sll2]")
	case LinkTypeNull, LinkTypeLoop:
		s.null(linkType, data, wire)
	case LinkTypePPP, LinkTypePPPSerial:
		s.ppp(data, wire)
	case LinkTypeCHDLC:
		s.chdlc(data, wire)
	case LinkTypeARCNETLinux:
		s.arcnetLinux(data, wire)
	case LinkTypeDSATagBRCM, LinkTypeDSATagBRCMPrepend:
		s.brcmLink(linkType, data, wire)
	case LinkTypeIEEE80211:
		s.ieee80211(data, wire)
	case LinkTypeRadiotap:
		if len(data) < 8 {
			s.str(" [|radiotap]")
			return
		}
		n := int(binary.LittleEndian.Uint16(data[2:]))
		if n < 8 || n > len(data) {
			s.str(" [|radiotap]")
			return
		}
		s.ieee80211(data[n:], wire-n)
	case LinkTypePPI:
		if len(data) < 8 {
			s.str(" [|ppi]")
			return
		}
		n := int(binary.LittleEndian.Uint16(data[2:]))
		inner := binary.LittleEndian.Uint32(data[4:])
		if n < 8 || n > len(data) || inner == LinkTypePPI {
			s.str(" [|ppi]")
			return
		}
		s.link(inner, data[n:], wire-n)
	case LinkTypeNFLOG:
		s.nflog(data, wire)
	case LinkTypeFrameRelay:
		if len(data) < 4 {
			s.str(" [|fr]")
			return
		}
		s.frameRelay(data, wire)
	case LinkTypeMFR:
		if len(data) < 2 {
			s.str(" [|mfr]")
			return
		}
		s.mfr(data, wire)
	case LinkTypeIPoIB:
		if s.opts.Link && len(data) >= 44 {
			s.ipoibHeader(data, wire)
		}
		s.fixedLink(data, wire, 44, 40, " [|ipoib]")
	case LinkTypeIPNET:
		if len(data) < 24 {
			s.str(" [|ipnet]")
			return
		}
		if s.opts.Link {
			s.ipnetHeader(data, wire)
		}
		switch data[1] {
		case 2:
			s.ipv4(data[24:], wire-24)
		case 26:
			s.ipv6(data[24:], wire-24)
		default:
			s.fallbackLink(linkType)
		}
	case LinkTypeFDDI:
		if len(data) < 13 {
			s.str(" [|fddi]")
			return
		}
		s.llc(data[13:], wire-13)
	default:
		if unsupportedLink(linkType) {
			// tcpdump has no printer for these: it names them so and
			// dumps the whole packet.
			s.str("UNSUPPORTED")
			s.hexLines(data)
			return
		}
		s.fallbackLink(linkType)
	}
}

// unsupportedLink reports whether tcpdump 4.99 has no printer for a link
// type it reads: MTP2 (140), BACnet MS/TP (165), D-Bus (231) and the
// user-defined types (147-162).
func unsupportedLink(linkType uint32) bool {
	switch {
	case linkType == 140, linkType == 165, linkType == 231:
		return true
	case linkType >= 147 && linkType <= 162:
		return true
	}
	return false
}

func (s *Summarizer) fallbackLink(linkType uint32) {
	s.str("LINKTYPE ")
	s.uint(uint64(linkType))
	s.str(", length ")
	s.int(s.wireLen)
}

func (s *Summarizer) ethernet(data []byte, wire int) {
	if len(data) >= 14 {
		s.ethHdr = data[:14]
	}
	if s.opts.Link && s.depth > 1 {
		// A frame inside a tunnel: its header as -e prints it. The
		// outermost one is LinkLine's, as the CLI adds it.
		s.etherLinked(data, wire)
		return
	}
	s.fixedLink(data, wire, 14, 12, " [|ether]")
}

// etherLinked prints an Ethernet frame with its header in front of what
// it carries, as LinkLine prints it.
func (s *Summarizer) etherLinked(data []byte, wire int) {
	if len(data) >= 14 {
		s.ethHdr = data[:14]
	}
	mark := len(s.buf)
	s.fixedLink(data, wire, 14, 12, " [|ether]")
	if len(data) < 14 {
		return
	}
	inner := string(s.buf[mark:])
	s.buf = append(s.buf[:mark], LinkLine(LinkTypeEthernet, data, wire, inner, s.opts.Quiet)...)
}

// ethertype decodes the payload of an Ethernet-like header whose type field
// is et. Values up to 1500 are 802.3 lengths followed by LLC.
func (s *Summarizer) ethertype(et uint16, data []byte, wire int) {
	for {
		switch et {
		case 0x8100, 0x88a8, 0x9100:
			if len(data) < 4 {
				s.str(" [|vlan]")
				return
			}
			// Without -e, tcpdump prints only what the tags carry.
			et = binary.BigEndian.Uint16(data[2:])
			data, wire = data[4:], wire-4
			continue
		}
		break
	}
	switch {
	case et <= 1500: // 802.3 length: what follows is LLC, padding excluded
		n := int(et)
		if len(data) > n {
			data = data[:n]
		}
		s.llc(data, min(wire, n))
	case et == 0x0800:
		s.ipv4(data, wire)
	case et == 0x86dd:
		s.ipv6(data, wire)
	case et == 0x0806 || et == 0x8035:
		s.arp(data, wire)
	case et == 0x8847 || et == 0x8848:
		s.mpls(data, wire)
	case et == 0x8864:
		s.pppoeSession(data, wire)
	case et == 0x8863:
		s.pppoeDiscovery(data, wire)
	case et == 0x88cc:
		s.lldp(data, wire)
	case et == 0xfefe && len(data) > 0 && wire > 0:
		s.isoclns(data[1:], wire-1)
	default:
		// tcpdump names the frame by its addresses, as with -e.
		if s.ethHdr != nil {
			s.mac(s.ethHdr[6:12])
			s.str(" > ")
			s.mac(s.ethHdr[0:6])
			s.str(", ")
			if s.opts.Quiet {
				// tcpdump -q's phrase: the name alone.
				if n, ok := etherNames[et]; ok {
					s.str(n)
				} else {
					s.str("Unknown Ethertype (0x")
					s.hex16raw(et)
					s.str(")")
				}
			} else {
				s.str("ethertype ")
				s.etherName(et)
			}
			s.str(", length ")
			s.int(s.wireLen)
			s.str(": ")
			// tcpdump follows with a hex dump of what the header carries.
			s.hexLines(data)
			return
		}
		s.str("ethertype ")
		s.hex16(et)
		s.str(", length ")
		s.int(s.wireLen)
	}
}

var etherNames = map[uint16]string{
	0x0800: "IPv4",
	0x0806: "ARP",
	0x8035: "Reverse ARP",
	0x86dd: "IPv6",
	0x8100: "802.1Q",
	0x88a8: "802.1Q-QinQ",
	0x9100: "802.1Q-9100",
	0x8847: "MPLS unicast",
	0x8848: "MPLS multicast",
	0x8863: "PPPoE D",
	0x8864: "PPPoE S",
	0x88cc: "LLDP",
}

func (s *Summarizer) etherName(et uint16) {
	if n, ok := etherNames[et]; ok {
		s.str(n)
		s.str(" (")
		s.hex16(et)
		s.str(")")
		return
	}
	s.str("Unknown")
	s.str(" (")
	s.hex16(et)
	s.str(")")
}

func (s *Summarizer) llc(data []byte, wire int) {
	if len(data) < 3 {
		s.str(" [|llc]")
		return
	}
	dsap, ssap := data[0], data[1]
	if dsap == 0xaa && ssap == 0xaa && data[2] == 0x03 {
		if len(data) < 8 {
			s.str(" [|snap]")
			return
		}
		if data[3] == 0 && data[4] == 0 && data[5] == 0 {
			if s.opts.Link {
				s.llcHeader(data)
				s.snapHeader(data, wire)
			}
			s.ethertype(binary.BigEndian.Uint16(data[6:]), data[8:], wire-8)
			return
		}
		if data[3] == 0 && data[4] == 0 && data[5] == 0x0c && binary.BigEndian.Uint16(data[6:]) == 0x2000 {
			if s.opts.Link {
				s.llcHeader(data)
				s.snapHeader(data, wire)
			}
			s.cdp(data[8:], wire-8)
			return
		}
	}
	if dsap == 0x42 && ssap == 0x42 {
		if s.opts.Link && data[2]&3 == 3 {
			s.llcHeader(data)
		}
		s.stp(data[3:], max(wire-3, 0))
		return
	}
	if dsap == 0xfe && ssap == 0xfe && data[2] == 0x03 {
		if s.opts.Link {
			s.llcHeader(data)
		}
		s.isoclns(data[3:], max(wire-3, 0))
		return
	}
	s.str("LLC, dsap 0x")
	s.hex8(dsap)
	s.str(", ssap 0x")
	s.hex8(ssap)
	s.str(", length ")
	s.int(s.wireLen)
}

func (s *Summarizer) null(linkType uint32, data []byte, wire int) {
	if len(data) < 4 {
		s.str(" [|null]")
		return
	}
	var af uint32
	if linkType == LinkTypeLoop || (data[0] == 0 && data[1] == 0) {
		af = binary.BigEndian.Uint32(data)
	} else {
		af = binary.LittleEndian.Uint32(data)
	}
	switch af {
	case 2:
		s.ipv4(data[4:], wire-4)
	case 10, 24, 28, 30:
		s.ipv6(data[4:], wire-4)
	default:
		s.str("NULL, AF ")
		s.uint(uint64(af))
		s.str(", length ")
		s.int(s.wireLen)
	}
}

func (s *Summarizer) ppp(data []byte, wire int) {
	if len(data) >= 2 && data[0] == 0xff && data[1] == 0x03 {
		data, wire = data[2:], wire-2
	}
	if len(data) < 1 {
		s.str(" [|ppp]")
		return
	}
	var proto uint16
	if data[0]&1 == 1 { // compressed one-byte protocol field
		proto = uint16(data[0])
		data, wire = data[1:], wire-1
	} else {
		if len(data) < 2 {
			s.str(" [|ppp]")
			return
		}
		proto = binary.BigEndian.Uint16(data)
		data, wire = data[2:], wire-2
	}
	s.pppProto(proto, data, wire)
}

func (s *Summarizer) pppProto(proto uint16, data []byte, wire int) {
	if name := pppCtrlNames[proto]; name != "" {
		// tcpdump counts the protocol field in the length.
		s.pppCtrl(name, proto, data, wire+2)
		return
	}
	switch proto {
	case 0x0021:
		s.ipv4(data, wire)
	case 0x0057:
		s.ipv6(data, wire)
	case 0x0281:
		s.mpls(data, wire)
	case 0xc023:
		s.pap(data, wire)
	default:
		s.str("PPP, proto 0x")
		s.hex16raw(proto)
		s.str(", length ")
		s.int(s.wireLen)
	}
}

func (s *Summarizer) pppoeSession(data []byte, wire int) {
	if len(data) < 8 {
		s.str("PPPoE [|pppoe]")
		return
	}
	s.str("PPPoE  [ses 0x")
	s.buf = appendHex(s.buf, uint32(binary.BigEndian.Uint16(data[2:])))
	s.str("] ")
	proto := binary.BigEndian.Uint16(data[6:])
	plen := int(binary.BigEndian.Uint16(data[4:]))
	if s.opts.Link {
		// tcpdump -e: the PPP protocol and the PPPoE length.
		n, ok := pppTypeNames[proto]
		if !ok {
			n = "unknown"
		}
		s.str(n)
		s.str(" (0x")
		s.hex16raw(proto)
		s.str("), length ")
		s.int(plen)
		if !ok {
			return
		}
		s.str(": ")
	}
	if name := pppCtrlNames[proto]; name != "" {
		s.pppCtrl(name, proto, data[8:], plen)
		return
	}
	if proto == 0xc023 {
		s.pap(data[8:], plen-2)
		return
	}
	s.pppProto(proto, data[8:], wire-8)
}

func (s *Summarizer) mpls(data []byte, wire int) {
	for {
		if len(data) < 4 {
			s.str("MPLS [|mpls]")
			return
		}
		v := binary.BigEndian.Uint32(data)
		s.str("MPLS (label ")
		s.uint(uint64(v >> 12))
		s.str(", tc ")
		s.uint(uint64(v >> 9 & 7))
		bottom := v&0x100 != 0
		if bottom {
			s.str(", [S]")
		}
		s.str(", ttl ")
		s.uint(uint64(v & 0xff))
		s.str(") ")
		data, wire = data[4:], wire-4
		if bottom {
			break
		}
	}
	if len(data) < 1 {
		s.str(" [|mpls]")
		return
	}
	switch data[0] >> 4 {
	case 4, 6:
		s.ip(data, wire)
	default:
		s.str("length ")
		s.int(max(wire, 0))
	}
}

func (s *Summarizer) nflog(data []byte, wire int) {
	if len(data) < 4 {
		s.str(" [|nflog]")
		return
	}
	if s.opts.Link {
		s.nflogHeader(data, wire)
	}
	family := data[0]
	off := 4
	for off < max(wire, len(data)) {
		// As tcpdump's nflog_if_print: every TLV up to the payload's,
		// that one included, must be captured whole (its length
		// rounded up to 4).
		if off+4 > len(data) {
			s.str(" [|nflog]")
			return
		}
		tl := int(binary.LittleEndian.Uint16(data[off:]))
		typ := binary.LittleEndian.Uint16(data[off+2:])
		if tl < 4 || off+(tl+3)&^3 > len(data) {
			s.str(" [|nflog]")
			return
		}
		if typ == 9 { // NFULA_PAYLOAD
			p := data[off+4 : off+tl]
			pw := max(wire-off-4, len(p))
			switch family {
			case 2:
				s.ipv4(p, pw)
			case 10:
				s.ipv6(p, pw)
			default:
				s.ip(p, pw)
			}
			return
		}
		off += (tl + 3) &^ 3
	}
	s.str("NFLOG, length ")
	s.int(s.wireLen)
}

var (
	wlanMgmt = [16]string{"Assoc Request", "Assoc Response", "ReAssoc Request", "ReAssoc Response",
		"Probe Request", "Probe Response", "Timing Advertisement", "", "Beacon", "ATIM",
		"Disassociation", "Authentication", "DeAuthentication", "Action", "Action No Ack", ""}
	wlanCtrl = [16]string{7: "Control Wrapper", 8: "BAR", 9: "BA", 10: "Power Save-Poll",
		11: "Request-To-Send", 12: "Clear-To-Send", 13: "Acknowledgment", 14: "CF-End", 15: "CF-End+CF-Ack"}
)

func (s *Summarizer) ieee80211(data []byte, wire int) {
	if len(data) < 2 {
		s.str("802.11 [|802.11]")
		return
	}
	fc0, fc1 := data[0], data[1]
	typ, sub := fc0>>2&3, fc0>>4
	switch typ {
	case 0:
		s.wlanName(wlanMgmt[sub], sub)
		return
	case 1:
		s.wlanName(wlanCtrl[sub], sub)
		return
	case 2:
	default:
		s.str("802.11 type 3, length ")
		s.int(s.wireLen)
		return
	}
	hl := 24
	if fc1&3 == 3 {
		hl += 6
	}
	if sub&8 != 0 { // QoS
		hl += 2
		if fc1&0x80 != 0 {
			hl += 4
		}
	}
	if sub&4 != 0 { // no data
		s.str("802.11 Null Data, length ")
		s.int(s.wireLen)
		return
	}
	if fc1&0x40 != 0 {
		s.str("802.11 Data, protected, length ")
		s.int(s.wireLen)
		return
	}
	if len(data) < hl {
		s.str("802.11 [|802.11]")
		return
	}
	s.llc(data[hl:], wire-hl)
}

func (s *Summarizer) wlanName(name string, sub uint8) {
	s.str("802.11 ")
	if name == "" {
		s.str("subtype ")
		s.uint(uint64(sub))
	} else {
		s.str(name)
	}
	s.str(", length ")
	s.int(s.wireLen)
}

func (s *Summarizer) arp(data []byte, wire int) {
	// As tcpdump's arp_print, the addresses must be captured before
	// anything is printed.
	if len(data) < 8 || len(data) < 8+2*int(data[4])+2*int(data[5]) {
		s.str(" [|arp]")
		return
	}
	if !s.opts.Link {
		s.str("ARP, ")
	}
	ptype := binary.BigEndian.Uint16(data[2:])
	hln, pln := int(data[4]), int(data[5])
	op := binary.BigEndian.Uint16(data[6:])
	need := 8 + 2*hln + 2*pln
	// Hardware addresses of other lengths (ARCNET's one byte) are
	// printed as tcpdump prints them, hex bytes joined by colons; -v's
	// hardware type names only Ethernet here.
	if ptype != 0x0800 || pln != 4 || hln == 0 || hln > 8 || (hln != 6 && s.opts.Verbose) {
		s.str(arpOpName(op))
		s.str(", length ")
		s.int(max(wire, 0))
		return
	}
	if s.opts.Verbose {
		s.str("Ethernet (len 6), IPv4 (len 4), ")
	}
	if len(data) < need {
		s.str(arpOpName(op))
		s.str(" [|arp]")
		return
	}
	sha, spa := data[8:8+hln], data[8+hln:12+hln]
	tha, tpa := data[12+hln:12+2*hln], data[12+2*hln:16+2*hln]
	switch op {
	case 1:
		s.str("Request who-has ")
		s.ip4(tpa)
		if !allZero(tha) {
			s.str(" (")
			s.mac(tha)
			s.str(")")
		}
		s.str(" tell ")
		s.ip4(spa)
	case 2:
		s.str("Reply ")
		s.ip4(spa)
		s.str(" is-at ")
		s.mac(sha)
	case 3:
		s.str("Reverse Request who-is ")
		s.mac(tha)
		s.str(" tell ")
		s.mac(sha)
	case 4:
		s.str("Reverse Reply ")
		s.mac(tha)
		s.str(" at ")
		s.ip4(tpa)
	default:
		s.str(arpOpName(op))
	}
	s.str(", length ")
	s.int(max(wire, 0))
}

func arpOpName(op uint16) string {
	switch op {
	case 1:
		return "Request"
	case 2:
		return "Reply"
	case 3:
		return "Reverse Request"
	case 4:
		return "Reverse Reply"
	case 8:
		return "InARP request"
	case 9:
		return "InARP reply"
	}
	return "Unknown operation"
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// Output helpers. All append to s.buf without allocating.

func (s *Summarizer) str(v string) { s.buf = append(s.buf, v...) }

// sll2Prefix writes the interface name and the direction of a LINUX_SLL2
// packet in tcpdump's columns ("%-5s %-3s ").
func (s *Summarizer) sll2Prefix(index uint32, pktType byte) {
	name := s.InterfaceName(index)
	if name == "" {
		name = "?"
	}
	dir := "?"
	if int(pktType) < len(sllDirections) {
		dir = sllDirections[pktType]
	}
	s.buf = fmt.Appendf(s.buf, "%-5s %-3s ", name, dir)
}

// sllDirections are tcpdump's names for the Linux packet types (PACKET_HOST
// and on).
var sllDirections = [...]string{"In", "B", "M", "P", "Out"}

func (s *Summarizer) int(v int) { s.buf = strconv.AppendInt(s.buf, int64(v), 10) }

func (s *Summarizer) uint(v uint64) { s.buf = strconv.AppendUint(s.buf, v, 10) }

const hexDigits = "0123456789abcdef"

func (s *Summarizer) hex8(v uint8) {
	s.buf = append(s.buf, hexDigits[v>>4], hexDigits[v&15])
}

// hex16 appends 0x%04x.
func (s *Summarizer) hex16(v uint16) {
	s.str("0x")
	s.hex16raw(v)
}

func (s *Summarizer) hex16raw(v uint16) {
	s.hex8(uint8(v >> 8))
	s.hex8(uint8(v))
}

func (s *Summarizer) hex32raw(v uint32) {
	s.hex16raw(uint16(v >> 16))
	s.hex16raw(uint16(v))
}

func (s *Summarizer) mac(b []byte) {
	for i, c := range b {
		if i > 0 {
			s.buf = append(s.buf, ':')
		}
		s.hex8(c)
	}
}

func (s *Summarizer) ip4(b []byte) {
	for i := 0; i < 4; i++ {
		if i > 0 {
			s.buf = append(s.buf, '.')
		}
		s.buf = strconv.AppendUint(s.buf, uint64(b[i]), 10)
	}
}

func (s *Summarizer) ip6(b []byte) {
	s.buf = netip.AddrFrom16([16]byte(b[:16])).AppendTo(s.buf)
}

var rstpFlags = [...]struct {
	bit  uint8
	name string
}{{0x01, "Topology change"}, {0x02, "Proposal"}, {0x10, "Learn"}, {0x20, "Forward"}, {0x40, "Agreement"}, {0x80, "Topology change ACK"}}

// stp prints a spanning tree BPDU b of length n: "STP 802.1d, Config,
// Flags [none], bridge-id 8001.00:19:06:ea:b8:80.8005, length 35".
func (s *Summarizer) stp(b []byte, n int) {
	if len(b) < 4 {
		s.str("STP 802.1d, length ")
		s.int(n)
		return
	}
	switch {
	case b[2] == 0 && b[3] == 0 && len(b) >= 35:
		s.str("STP 802.1d, Config, Flags [")
	case b[2] == 2 && b[3] == 2 && len(b) >= 36:
		s.str("STP 802.1w, Rapid STP, Flags [")
	case b[3] == 0x80:
		s.str("STP 802.1d, Topology Change, length ")
		s.int(n)
		return
	default:
		s.str("STP 802.1d, length ")
		s.int(n)
		return
	}
	flags, sep := b[4], ""
	if flags&0xf3 == 0 {
		s.str("none")
	}
	for _, f := range rstpFlags {
		if flags&f.bit != 0 {
			s.str(sep)
			s.str(f.name)
			sep = ", "
		}
	}
	s.str("], bridge-id ")
	s.hex16raw(binary.BigEndian.Uint16(b[17:]))
	s.str(".")
	s.mac(b[19:25])
	s.str(".")
	s.hex16raw(binary.BigEndian.Uint16(b[25:]))
	s.str(", length ")
	s.int(n)
	if s.opts.Verbose {
		s.stpVerbose(b)
	}
}
