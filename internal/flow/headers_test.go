package flow

import (
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// TestHeadersAgainstGopacket builds frames with gopacket and checks
// Headers against gopacket's decoding of them: the headers end where the
// innermost transport layer's payload begins (the IP layer's for a later
// fragment), and the payload is that layer's length.
func TestHeadersAgainstGopacket(t *testing.T) {
	eth := func(et layers.EthernetType) *layers.Ethernet {
		return &layers.Ethernet{SrcMAC: net.HardwareAddr{0, 1, 2, 3, 4, 5}, DstMAC: net.HardwareAddr{0, 1, 2, 3, 4, 6}, EthernetType: et}
	}
	ip4 := func(p layers.IPProtocol) *layers.IPv4 {
		return &layers.IPv4{Version: 4, TTL: 64, Protocol: p, SrcIP: net.IP{10, 0, 0, 1}, DstIP: net.IP{10, 0, 0, 2}}
	}
	ip6 := func(p layers.IPProtocol) *layers.IPv6 {
		return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: p, SrcIP: net.ParseIP("2001:db8::1"), DstIP: net.ParseIP("2001:db8::2")}
	}
	tcp := func() *layers.TCP {
		return &layers.TCP{SrcPort: 1, DstPort: 2, ACK: true, Window: 1,
			Options: []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{5, 0xb4}}}}
	}
	payload := gopacket.Payload(make([]byte, 333))
	hopByHop := func() *layers.IPv6HopByHop {
		h := &layers.IPv6HopByHop{Options: []*layers.IPv6HopByHopOption{{OptionType: 1, OptionLength: 4, OptionData: make([]byte, 4)}}}
		h.NextHeader = layers.IPProtocolUDP
		return h
	}
	withOpts := ip4(layers.IPProtocolTCP)
	withOpts.Options = []layers.IPv4Option{{OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 0}}
	frag := ip4(layers.IPProtocolUDP)
	frag.FragOffset = 100
	for _, c := range []struct {
		name   string
		layers []gopacket.SerializableLayer
		last   gopacket.LayerType
	}{
		{"tcp", []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), tcp(), payload}, layers.LayerTypeTCP},
		{"ip options", []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4), withOpts, tcp(), payload}, layers.LayerTypeTCP},
		{"udp", []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolUDP), &layers.UDP{SrcPort: 1, DstPort: 2}, payload}, layers.LayerTypeUDP},
		{"vlan", []gopacket.SerializableLayer{eth(layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 7, Type: layers.EthernetTypeIPv4}, ip4(layers.IPProtocolTCP), tcp(), payload}, layers.LayerTypeTCP},
		{"ipv6 tcp", []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolTCP), tcp(), payload}, layers.LayerTypeTCP},
		{"ipv6 hop-by-hop", []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolIPv6HopByHop),
			hopByHop(),
			&layers.UDP{SrcPort: 1, DstPort: 2}, payload}, layers.LayerTypeUDP},
		{"later fragment", []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4), frag, payload}, layers.LayerTypeIPv4},
		{"icmp", []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolICMPv4), &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0)}, payload}, layers.LayerTypeICMPv4},
		{"ip in ip", []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolIPv4), ip4(layers.IPProtocolTCP), tcp(), payload}, layers.LayerTypeTCP},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, l := range c.layers {
				if tl, ok := l.(*layers.TCP); ok {
					for _, n := range c.layers {
						if nl, ok := n.(gopacket.NetworkLayer); ok {
							tl.SetNetworkLayerForChecksum(nl)
						}
					}
				}
			}
			buf := gopacket.NewSerializeBuffer()
			if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true}, c.layers...); err != nil {
				t.Fatal(err)
			}
			data := buf.Bytes()
			p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
			var last gopacket.Layer
			for _, l := range p.Layers() {
				if l.LayerType() == c.last {
					last = l // the innermost
				}
			}
			if last == nil {
				t.Fatalf("gopacket finds no %v in %v", c.last, p)
			}
			wantPayload := len(last.LayerPayload())
			wantHdr := len(data) - wantPayload
			hdr, pl, ok := Headers(LinkEthernet, data)
			if !ok || hdr != wantHdr || pl != wantPayload {
				t.Errorf("Headers = %d, %d, %v; gopacket: %d bytes of headers, %d of payload", hdr, pl, ok, wantHdr, wantPayload)
			}
			// Captured short of its headers: the length says how many
			// there were; the caller keeps what it has.
			if hdr2, _, ok := Headers(LinkEthernet, data[:wantHdr]); !ok || hdr2 != wantHdr {
				t.Errorf("cut at its headers: %d, %v", hdr2, ok)
			}
		})
	}
}
