package replay

import (
	"fmt"
	"net"

	"github.com/packetrecorderd/packetrecorderd/internal/capture"
	"github.com/packetrecorderd/packetrecorderd/internal/filter"
)

// LinkType is the link type of the interfaces a replay sends on (the
// first one's, the clients'; the second one's, the servers'): they must
// be real interfaces, not "any", all of one link type.
func LinkType(names ...string) (uint32, error) {
	var lt uint32
	for i, name := range names {
		if name == capture.AnyDevice {
			return 0, fmt.Errorf("replay onto %s: the %q device only captures: give a real interface with -i", name, capture.AnyDevice)
		}
		l, err := capture.LinkTypeOf(name)
		if err != nil {
			return 0, fmt.Errorf("replay onto %s: %w", name, err)
		}
		if i == 0 {
			lt = l
		} else if l != lt {
			return 0, fmt.Errorf("replay onto %s and %s: link types %s and %s differ", names[0], name, filter.LinkTypeName(lt), filter.LinkTypeName(l))
		}
	}
	return lt, nil
}

// OpenInterface opens the network interface name to send a replay of cfg
// on: a TimedSender when cfg is paced (frames leave one by one at their
// deadlines, each timed by the driver where it can), a transmit ring at
// top speed (frames queued and handed to the kernel in batches); through
// the qdisc layer with cfg.Qdisc; with its MTU read when cfg segments or
// truncates. The caller closes it.
func OpenInterface(name string, cfg Config) (*Output, error) {
	o := &Output{Name: name}
	if lt, err := capture.LinkTypeOf(name); err == nil {
		o.LinkType = lt
	}
	if cfg.Segment || cfg.Truncate {
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			return nil, fmt.Errorf("replay onto %s: %w", name, err)
		}
		o.MTU = ifi.MTU
	}
	var bypass func(bool) error
	if cfg.Pace.Paced() {
		s, err := capture.OpenTimedSender(name)
		if err != nil {
			return nil, fmt.Errorf("replay onto %s: %w", name, err)
		}
		o.Timed, o.close, bypass = s, s.Close, s.SetQdiscBypass
	} else {
		s, err := capture.OpenSender(name)
		if err != nil {
			return nil, fmt.Errorf("replay onto %s: %w", name, err)
		}
		o.Batch, o.close, bypass = s, s.Close, s.SetQdiscBypass
	}
	if cfg.Qdisc {
		if err := bypass(false); err != nil {
			o.Close()
			return nil, fmt.Errorf("replay onto %s: --qdisc: %w", name, err)
		}
	}
	return o, nil
}
