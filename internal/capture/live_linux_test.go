package capture

import (
	"errors"
	"testing"
)

// TestNewLive checks the set-up's defaults and bounds without opening a
// socket: what needs no privileges.
func TestNewLive(t *testing.T) {
	l, err := NewLive(LiveConfig{Interface: "lo"})
	if err != nil {
		t.Fatal(err)
	}
	// /sys/class/net/lo/type is ARPHRD_LOOPBACK, which libpcap captures
	// as EN10MB (tcpdump -i lo: "link-type EN10MB").
	if l.LinkType != linkTypeEthernet || l.Snaplen != DefaultSnaplen || l.cfg.BufferSize != DefaultBufferSize || l.cfg.Fanout != 1 {
		t.Errorf("lo: link type %d, snaplen %d, buffer %d, fanout %d; want 1, %d, %d, 1", l.LinkType, l.Snaplen, l.cfg.BufferSize, l.cfg.Fanout, DefaultSnaplen, DefaultBufferSize)
	}
	// tcpdump -i any -s 5: "snaplen raised from 5 to 21" (the cooked
	// header and a byte).
	if l, err := NewLive(LiveConfig{Interface: AnyDevice, Snaplen: 5}); err != nil || l.Snaplen != 21 || l.LinkType != linkTypeLinuxSLL2 {
		t.Errorf("any -s 5: %+v, %v; want snaplen 21, LINUX_SLL2", l, err)
	}
	if l, err := NewLive(LiveConfig{Interface: "lo", Snaplen: 5}); err != nil || l.Snaplen != 5 {
		t.Errorf("lo -s 5: %+v, %v; want snaplen 5", l, err)
	}
	for _, c := range []LiveConfig{
		{Interface: "lo", Snaplen: MaxSnaplen + 1},
		{Interface: "lo", Snaplen: -1},
		{Interface: "lo", BufferSize: MinBufferSize - 1},
		{Interface: "lo", BufferSize: MaxBufferSize + 1},
		{Interface: "lo", Fanout: MaxFanout + 1},
		{Interface: "lo", Fanout: -1},
		{Interface: "lo", Direction: "sideways"},
		{},
	} {
		if _, err := NewLive(c); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
	for _, c := range []LiveConfig{
		{Interface: "lo", Snaplen: MinSnaplen},
		{Interface: "lo", Snaplen: MaxSnaplen},
		{Interface: "lo", BufferSize: MinBufferSize},
		{Interface: "lo", BufferSize: MaxBufferSize},
		{Interface: "lo", Fanout: MaxFanout},
	} {
		if _, err := NewLive(c); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
	if _, err := NewLive(LiveConfig{Interface: "prd-no-such0"}); !errors.Is(err, ErrNoInterface) {
		t.Errorf("a missing interface: %v, want ErrNoInterface", err)
	}
}

// TestLiveCompile: the filter is compiled for the interface's link type
// as a live capture (on "any", for the cooked header it stores).
func TestLiveCompile(t *testing.T) {
	lo, err := NewLive(LiveConfig{Interface: "lo"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lo.Compile("tcp port 80"); err != nil {
		t.Error(err)
	}
	if _, err := lo.Compile("tcp port"); err == nil {
		t.Error("a bad filter compiled")
	}
	eth := []byte{0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 2, 0x08, 0x06, 0, 1} // ARP
	p, err := lo.Compile("arp")
	if err != nil || !p.Match(eth, len(eth)) {
		t.Errorf("arp on lo: %v, or it does not match an Ethernet ARP frame", err)
	}
	cooked, err := NewLive(LiveConfig{Interface: AnyDevice})
	if err != nil {
		t.Fatal(err)
	}
	// LINUX_SLL2: protocol (2 bytes), reserved, ifindex, ARPHRD, packet
	// type, address length, address (8); then the ARP packet.
	sll2 := make([]byte, 20, 28)
	sll2[0], sll2[1] = 0x08, 0x06
	sll2 = append(sll2, 0, 1, 8, 0, 6, 4, 0, 1)
	p, err = cooked.Compile("arp")
	if err != nil || !p.Match(sll2, len(sll2)) || p.Match(eth, len(eth)) {
		t.Errorf("arp on any: %v, or it does not read the cooked header", err)
	}
}
