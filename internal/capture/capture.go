// Package capture reads packets from a network interface and sends packets
// onto one. It is the only package that makes socket syscalls.
//
// On Linux a Ring is an AF_PACKET socket with a TPACKET_V3 memory-mapped
// ring: the kernel runs the BPF filter, copies accepted packets into blocks
// of the ring and hands whole blocks to user space, so one poll wakes the
// reader for many packets. The reader walks each block (ring.go, pure code
// over []byte, testable without privileges), passes every packet to a
// callback and returns the block to the kernel. A Sender writes frames to an
// interface for replay.
//
// Live is the one set-up of a live capture, which the capture command and
// the daemon both use: the interface's link type, the filter compiled for
// it (link type, netmask, snaplen), and its rings opened, with a fanout
// group when there are several. The bounds of a capture (snaplen, ring
// size, fanout, block sizes) are this package's constants, which Open
// enforces and the callers' settings are checked against.
//
// Other systems get ErrNotSupported from Open and OpenSender.
package capture

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"sort"
	"strings"
	"time"

	"golang.org/x/net/bpf"
)

// AnyDevice is the pseudo-interface that captures on every interface of
// the network namespace, as tcpdump's "-i any", with LINUX_SLL2 headers.
const AnyDevice = "any"

// Defaults used when a Config field is zero.
const (
	DefaultSnaplen    = 65535
	DefaultBufferSize = 10 << 20
)

// Limits of a capture, which Open and NewLive enforce: the daemon's
// config and the capture command check their settings against these.
const (
	// MinSnaplen and MaxSnaplen bound the bytes kept per packet
	// (MaxSnaplen is libpcap's largest, and tcpdump -s 0's).
	MinSnaplen = 1
	MaxSnaplen = 262144
	// MinBufferSize and MaxBufferSize bound a ring's size in bytes.
	MinBufferSize = 64 << 10
	MaxBufferSize = 4 << 30
	// MaxFanout is the most rings one interface's capture spreads its
	// packets over (LiveConfig.Fanout).
	MaxFanout = 64
	// BlockSize is the size of a ring's blocks, the unit the kernel hands
	// over, when the ring holds at least 16 of them; a smaller ring has
	// smaller blocks, down to MinBlockSize, and a block always holds a
	// packet of the full snaplen (see ringgeometry.go).
	BlockSize    = 1 << 20
	MinBlockSize = 64 << 10
)

// Errors callers can check with errors.Is. Permission problems also match
// os.ErrPermission.
var (
	ErrNotSupported    = fmt.Errorf("live capture is not supported on %s", runtime.GOOS)
	ErrNoInterface     = errors.New("no such interface")
	ErrInterfaceDown   = errors.New("interface is down")
	ErrLinkUnsupported = errors.New("link type not supported for capture")
	ErrClosed          = errors.New("capture closed")
	ErrStopped         = errors.New("capture stopped") // SetFilter after Stop
)

// Config describes a capture. The zero value of each field means its
// default; Promisc is the exception, since false is a meaningful choice.
type Config struct {
	Interface  string
	Snaplen    int                  // bytes kept per packet; 0 = DefaultSnaplen
	Promisc    bool                 // put the interface in promiscuous mode
	BufferSize int                  // ring size in bytes; 0 = DefaultBufferSize
	Filter     []bpf.RawInstruction // attached before the socket is bound; nil = everything
	// Match is the filter for the "any" device, run on each packet with
	// its LINUX_SLL2 header (the kernel cannot run a program compiled for
	// that header); nil = everything. Other devices ignore it.
	Match func(data []byte, wireLen int) bool
	// BlockTimeout is how long the kernel holds a partly filled block;
	// 0 = chosen from the ring's block count, so that the ring rides out
	// as long a stall at low rates as its bytes do at high ones, within
	// MinBlockTimeout and MaxBlockTimeout (see ringgeometry.go).
	BlockTimeout time.Duration
	// FanoutGroup, when not 0, joins the socket to the PACKET_FANOUT group
	// of that id on its interface: the kernel spreads packets over the
	// group's rings by a hash of their flow (fragments reassembled first),
	// so the packets of one connection stay in order in one ring.
	FanoutGroup uint16
	// Direction selects packets by the way they go, as tcpdump -Q: "in"
	// (received), "out" (sent by this host), "" or "inout" (both). The
	// kernel's filter applies it, so its counters count what is kept.
	Direction string
}

func (c *Config) withDefaults() (Config, error) {
	out := *c
	if out.Interface == "" {
		return out, errors.New("no interface given")
	}
	if out.Snaplen == 0 {
		out.Snaplen = DefaultSnaplen
	}
	switch out.Direction {
	case "", "inout", "in", "out":
	default:
		return out, fmt.Errorf("invalid direction %q: use in, out or inout", out.Direction)
	}
	if out.Snaplen < MinSnaplen || out.Snaplen > MaxSnaplen {
		return out, fmt.Errorf("snaplen %d out of range %d..%d", out.Snaplen, MinSnaplen, MaxSnaplen)
	}
	if out.BufferSize == 0 {
		out.BufferSize = DefaultBufferSize
	}
	if out.BufferSize < MinBufferSize || int64(out.BufferSize) > MaxBufferSize {
		return out, fmt.Errorf("buffer size %d out of range %dKiB..%dGiB", out.BufferSize, MinBufferSize>>10, MaxBufferSize>>30)
	}
	if out.BlockTimeout < 0 {
		return out, fmt.Errorf("negative block timeout %v", out.BlockTimeout)
	}
	return out, nil
}

// Packet is one captured packet. Data points into the ring (or a scratch
// buffer) and is valid only until the callback that received it returns.
type Packet struct {
	Timestamp int64 // ns since the Unix epoch, from the kernel
	OrigLen   int   // length on the wire
	Data      []byte
	// Interface and LinkType say where a Multi's packet came from (the
	// index of its source, and that source's link type); 0 from a Ring.
	Interface int
	LinkType  uint32
}

// Stats are cumulative kernel counters for a Ring.
type Stats struct {
	Received uint64 // packets that passed the filter, including those dropped
	Dropped  uint64 // packets the kernel dropped because the ring was full
}

// Source is what a recorder reads from; a Ring is one, tests provide others.
type Source interface {
	// Read waits up to timeout for packets and calls fn for each one that
	// is ready. It returns the number of packets delivered.
	Read(timeout time.Duration, fn func(Packet)) (int, error)
	// Stop makes the source admit no new packets; those already accepted
	// can still be read.
	Stop() error
	// Stats returns the cumulative counters.
	Stats() (Stats, error)
	// Seen is how many accepted packets Read has walked, including ones it
	// skipped (such as loopback duplicates); when Seen reaches
	// Stats().Received - Stats().Dropped after Stop, the source is drained.
	Seen() uint64
	LinkType() uint32
	Close() error
}

// Interface describes one network interface.
type Interface struct {
	Name      string   `json:"name"`
	Index     int      `json:"index"`
	MAC       string   `json:"mac"`
	MTU       int      `json:"mtu"`
	Flags     []string `json:"flags"`
	Addresses []string `json:"addresses"`
	LinkType  uint32   `json:"link_type"`
}

// Interfaces lists the interfaces of this host, and on Linux the "any"
// pseudo-device last. It needs no privileges.
func Interfaces() ([]Interface, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	out := make([]Interface, 0, len(ifs))
	for _, ifi := range ifs {
		it := Interface{Name: ifi.Name, Index: ifi.Index, MAC: ifi.HardwareAddr.String(), MTU: ifi.MTU, Flags: []string{}, Addresses: []string{}}
		if ifi.Flags&net.FlagUp != 0 {
			it.Flags = append(it.Flags, "up")
		}
		if ifi.Flags&net.FlagRunning != 0 {
			it.Flags = append(it.Flags, "running")
		}
		if ifi.Flags&net.FlagLoopback != 0 {
			it.Flags = append(it.Flags, "loopback")
		}
		if promiscuous(ifi.Name) {
			it.Flags = append(it.Flags, "promisc")
		}
		if addrs, err := ifi.Addrs(); err == nil {
			for _, a := range addrs {
				it.Addresses = append(it.Addresses, a.String())
			}
		}
		it.LinkType, _ = LinkTypeOf(ifi.Name)
		out = append(out, it)
	}
	if runtime.GOOS == "linux" {
		out = append(out, Interface{Name: AnyDevice, Flags: []string{"pseudo"}, Addresses: []string{}, LinkType: 276})
	}
	return out, nil
}

// lookup finds an interface by name, with an error that lists the ones that
// exist when it is missing.
func lookup(name string) (*net.Interface, error) {
	ifi, err := net.InterfaceByName(name)
	if err == nil {
		return ifi, nil
	}
	var names []string
	if ifs, err := net.Interfaces(); err == nil {
		for _, i := range ifs {
			names = append(names, i.Name)
		}
	}
	sort.Strings(names)
	return nil, fmt.Errorf("%w %q (available: %s)", ErrNoInterface, name, strings.Join(names, ", "))
}
