package capture

import (
	"fmt"
	"net"
	"os"

	"github.com/packetrecorderd/packetrecorderd/internal/filter"
)

// LiveConfig describes the live capture of one interface, as the capture
// command and the daemon record it. The zero value of each field means
// its default; Promisc is the exception, since false is a meaningful
// choice.
type LiveConfig struct {
	Interface  string
	Snaplen    int  // bytes kept per packet; 0 = DefaultSnaplen
	Promisc    bool // put the interface in promiscuous mode
	BufferSize int  // bytes of each ring; 0 = DefaultBufferSize
	// Fanout is how many rings share the interface's packets, spread by
	// flow in one PACKET_FANOUT group; 0 = 1, at most MaxFanout.
	Fanout int
	// Direction is "in", "out", or "" and "inout" (both), as tcpdump -Q.
	Direction string
}

// Live is the set-up of a live capture on one interface, in three steps
// that the capture command and the daemon both take: NewLive reads the
// interface's link type, Compile compiles a filter for it as libpcap does
// for a live capture, Open opens its rings with the filter attached.
type Live struct {
	Interface string
	LinkType  uint32 // of the frames its rings yield
	// Snaplen is the bytes kept per packet: the configured one, or on the
	// "any" device at least its cooked header and a byte, as libpcap.
	Snaplen int
	cfg     LiveConfig
}

// NewLive checks cfg and reads the interface's link type; it opens
// nothing. A missing interface is an error matching ErrNoInterface.
func NewLive(cfg LiveConfig) (*Live, error) {
	if cfg.Fanout == 0 {
		cfg.Fanout = 1
	}
	if cfg.Fanout < 1 || cfg.Fanout > MaxFanout {
		return nil, fmt.Errorf("fanout %d out of range 1..%d", cfg.Fanout, MaxFanout)
	}
	if cfg.Interface == AnyDevice && cfg.Snaplen != 0 {
		cfg.Snaplen = max(cfg.Snaplen, sll2HdrLen+1)
	}
	c := Config{Interface: cfg.Interface, Snaplen: cfg.Snaplen, BufferSize: cfg.BufferSize, Direction: cfg.Direction}
	c, err := c.withDefaults()
	if err != nil {
		return nil, err
	}
	cfg.Snaplen, cfg.BufferSize = c.Snaplen, c.BufferSize
	lt, err := LinkTypeOf(cfg.Interface)
	if err != nil {
		return nil, err
	}
	return &Live{Interface: cfg.Interface, LinkType: lt, Snaplen: cfg.Snaplen, cfg: cfg}, nil
}

// Netmask is the interface's IPv4 netmask (filter.InterfaceNetmask), which
// Compile compiles with.
func (l *Live) Netmask() net.IPMask { return filter.InterfaceNetmask(l.Interface) }

// Compile compiles expr, in tcpdump's language, for the interface: its
// link type, its netmask and the snaplen. On every device but "any" the
// program is the one a live capture runs in the kernel; on "any" it reads
// the cooked headers, as for stored packets, and Open moves it into the
// kernel when it can.
func (l *Live) Compile(expr string) (*filter.Program, error) {
	return filter.Compile(expr, filter.Options{LinkType: l.LinkType, Snaplen: uint32(l.Snaplen), Live: l.Interface != AnyDevice, Netmask: l.Netmask()})
}

// Open opens the capture's rings with prog (from Compile; nil admits
// everything) attached: one, or with Fanout, that many in a fanout group
// of the interface. The caller closes them.
func (l *Live) Open(prog *filter.Program) ([]*Ring, error) {
	var group uint16
	if l.cfg.Fanout > 1 {
		ifi, err := net.InterfaceByName(l.Interface)
		if err != nil {
			return nil, fmt.Errorf("%w: %s", ErrNoInterface, l.Interface)
		}
		// A group id of this process and interface: another process's
		// rings (a second daemon) never join it.
		group = uint16(os.Getpid()*31+ifi.Index)&0x7fff | 1
	}
	c := Config{Interface: l.Interface, Snaplen: l.Snaplen, Promisc: l.cfg.Promisc, BufferSize: l.cfg.BufferSize,
		Direction: l.cfg.Direction, FanoutGroup: group}
	if prog != nil {
		c.Filter, c.Match = prog.KernelInstructions(), prog.Match
	}
	rings := make([]*Ring, 0, l.cfg.Fanout)
	for range l.cfg.Fanout {
		ring, err := Open(c)
		if err != nil {
			for _, r := range rings {
				r.Close()
			}
			return nil, err
		}
		rings = append(rings, ring)
	}
	return rings, nil
}
