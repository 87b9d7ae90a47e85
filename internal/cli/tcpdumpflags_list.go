package cli

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/packetrecorderd/packetrecorderd/internal/capture"
)

// tcpdumpDevice is one line of tcpdump -D: libpcap's name, description
// and flags of an interface.
type tcpdumpDevice struct {
	name, description     string
	up, running, loopback bool
	wireless              bool
	status                capture.LinkStatus
}

// merit is libpcap 1.10's figure of merit (get_figure_of_merit in pcap.c):
// lower is listed first; equal ones keep the order the system gave.
func (d tcpdumpDevice) merit() uint32 {
	var n uint32
	if !d.running {
		n |= 0x80000000
	}
	if !d.up {
		n |= 0x40000000
	}
	if !d.wireless && d.status == capture.LinkDisconnected {
		n |= 0x20000000
	}
	if d.loopback {
		n |= 0x10000000
	}
	if d.name == capture.AnyDevice {
		n |= 0x08000000
	}
	return n
}

// line is the device as tcpdump 4.99 prints it after its number:
// "eth0 [Up, Running, Connected]", "any (Pseudo-device ...) [Up, Running]".
func (d tcpdumpDevice) line() string {
	var b strings.Builder
	b.WriteString(d.name)
	if d.description != "" {
		b.WriteString(" (" + d.description + ")")
	}
	var flags []string
	for _, f := range []struct {
		on   bool
		name string
	}{{d.up, "Up"}, {d.running, "Running"}, {d.loopback, "Loopback"}, {d.wireless, "Wireless"}} {
		if f.on {
			flags = append(flags, f.name)
		}
	}
	if len(flags) == 0 {
		flags = []string{"none"}
	}
	b.WriteString(" [" + strings.Join(flags, ", "))
	switch {
	case d.wireless && d.status == capture.LinkStatusUnknown:
		b.WriteString(", Association status unknown")
	case d.wireless && d.status == capture.LinkConnected:
		b.WriteString(", Associated")
	case d.wireless && d.status == capture.LinkDisconnected:
		b.WriteString(", Not associated")
	case !d.wireless && d.status == capture.LinkStatusUnknown:
		b.WriteString(", Connection status unknown")
	case !d.wireless && d.status == capture.LinkConnected:
		b.WriteString(", Connected")
	case !d.wireless && d.status == capture.LinkDisconnected:
		b.WriteString(", Disconnected")
	}
	b.WriteString("]")
	return b.String()
}

// sortDevices orders devices as pcap_findalldevs does: each inserted
// before the first of a greater figure of merit (a stable sort).
func sortDevices(devs []tcpdumpDevice) {
	slices.SortStableFunc(devs, func(a, b tcpdumpDevice) int {
		return int(int64(a.merit()) - int64(b.merit()))
	})
}

// tcpdumpDevices are this host's interfaces and "any" as libpcap lists
// them. libpcap's other capture sources (bluetooth-monitor, nflog,
// nfqueue, dbus) are not listed: packetrecorder cannot capture on them.
func tcpdumpDevices() ([]tcpdumpDevice, error) {
	ifs, err := capture.Interfaces()
	if err != nil {
		return nil, err
	}
	var devs []tcpdumpDevice
	for _, it := range ifs {
		d := tcpdumpDevice{name: it.Name}
		for _, f := range it.Flags {
			switch f {
			case "up":
				d.up = true
			case "running":
				d.running = true
			case "loopback":
				d.loopback = true
			}
		}
		switch {
		case it.Name == capture.AnyDevice:
			d.up, d.running, d.status = true, true, capture.LinkStatusNotApplicable
			d.description = "Pseudo-device that captures on all interfaces"
		case d.loopback:
			d.status = capture.LinkStatusNotApplicable
		default:
			d.wireless = isWireless(it.Name)
			d.status = capture.InterfaceLinkStatus(it.Name)
		}
		devs = append(devs, d)
	}
	sortDevices(devs)
	return devs, nil
}

// isWireless reports a Wi-Fi interface (one with a wireless extension or
// an 802.11 PHY in sysfs, as libpcap's is_wifi) or of a wireless ARPHRD
// type.
func isWireless(name string) bool {
	for _, p := range []string{"wireless", "phy80211"} {
		if _, err := os.Stat(filepath.Join("/sys/class/net", name, p)); err == nil {
			return true
		}
	}
	b, err := os.ReadFile(filepath.Join("/sys/class/net", name, "type"))
	if err != nil {
		return false
	}
	switch t, _ := strconv.Atoi(strings.TrimSpace(string(b))); t {
	case 783, 801, 802, 803, 804, 805, 825: // IRDA, IEEE80211 (+PRISM, RADIOTAP), IEEE802154 (+MONITOR), 6LOWPAN
		return true
	}
	return false
}

// listInterfacesTcpdump prints the interfaces as tcpdump -D does.
func (a *app) listInterfacesTcpdump() error {
	devs, err := tcpdumpDevices()
	if err != nil {
		return err
	}
	out := bufio.NewWriter(a.stdout)
	for i, d := range devs {
		fmt.Fprintf(out, "%d.%s\n", i+1, d.line())
	}
	return out.Flush()
}
