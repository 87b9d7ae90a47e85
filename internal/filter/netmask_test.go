package filter

import (
	"net"
	"os/exec"
	"strings"
	"testing"
)

// TestInterfaceNetmask: the mask of lo's IPv4 address as ip(8) shows it,
// and an interface that does not exist gives tcpdump's 0.
func TestInterfaceNetmask(t *testing.T) {
	out, err := exec.Command("ip", "-4", "-o", "addr", "show", "dev", "lo").Output()
	if err != nil {
		t.Fatalf("ip: %v", err)
	}
	f := strings.Fields(string(out))
	var want net.IPMask
	for i, w := range f {
		if w == "inet" && i+1 < len(f) {
			_, n, err := net.ParseCIDR(f[i+1])
			if err == nil {
				want = n.Mask
			}
		}
	}
	if got := InterfaceNetmask("lo"); want == nil || got.String() != want.String() {
		t.Errorf("lo: %v, ip says %v", got, want)
	}
	if got := InterfaceNetmask("no-such-if0"); got.String() != ZeroNetmask.String() {
		t.Errorf("missing interface: %v", got)
	}
}
