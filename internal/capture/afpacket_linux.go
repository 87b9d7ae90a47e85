package capture

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Link types (pcap LINKTYPE_ numbers) this package captures.
const (
	linkTypeEthernet  = 1
	linkTypeRaw       = 101
	linkTypeLinuxSLL2 = 276
)

// ARPHRD_ values from /sys/class/net/IF/type.
const (
	arphrdEther    = 1
	arphrdLoopback = 772
	arphrdNone     = 0xfffe
)

// LinkTypeOf returns the pcap link type of the frames a capture on the
// interface yields.
func LinkTypeOf(name string) (uint32, error) {
	if name == AnyDevice {
		return linkTypeLinuxSLL2, nil
	}
	hw, err := readSysInt(name, "type")
	if err != nil {
		if _, lerr := lookup(name); lerr != nil {
			return 0, lerr
		}
		return 0, fmt.Errorf("interface %s: %w", name, err)
	}
	switch hw {
	case arphrdEther, arphrdLoopback:
		return linkTypeEthernet, nil
	case arphrdNone:
		return linkTypeRaw, nil
	}
	return 0, fmt.Errorf("interface %s (ARPHRD %d): %w", name, hw, ErrLinkUnsupported)
}

func readSysInt(ifname, attr string) (int64, error) {
	if strings.ContainsAny(ifname, "/") || ifname == "." || ifname == ".." {
		return 0, fmt.Errorf("%w %q", ErrNoInterface, ifname)
	}
	b, err := os.ReadFile("/sys/class/net/" + ifname + "/" + attr)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 0, 64)
}

// InterfacePackets is how many packets the interface has received and
// sent, by its own counters (/sys/class/net/NAME/statistics): what a
// capture on it could see, before any filter. The daemon counts with it
// what passed while no ring was open.
func InterfacePackets(name string) (uint64, error) {
	rx, err := readSysInt(name, "statistics/rx_packets")
	if err != nil {
		return 0, fmt.Errorf("interface counters of %s: %w", name, err)
	}
	tx, err := readSysInt(name, "statistics/tx_packets")
	if err != nil {
		return 0, fmt.Errorf("interface counters of %s: %w", name, err)
	}
	return uint64(rx + tx), nil
}

func promiscuous(name string) bool {
	flags, err := readSysInt(name, "flags")
	return err == nil && flags&unix.IFF_PROMISC != 0
}

// upInterface finds an interface that is up and the link type of its
// frames, for capturing on it or sending onto it.
func upInterface(name string) (*net.Interface, uint32, error) {
	ifi, err := lookup(name)
	if err != nil {
		return nil, 0, err
	}
	if ifi.Flags&net.FlagUp == 0 {
		return nil, 0, fmt.Errorf("%w: %s", ErrInterfaceDown, name)
	}
	lt, err := LinkTypeOf(name)
	if err != nil {
		return nil, 0, err
	}
	return ifi, lt, nil
}

// sysErr wraps a syscall error with the operation, keeping errno reachable
// (errors.Is(err, os.ErrPermission) works for EPERM and EACCES).
func sysErr(op string, err error) error {
	return fmt.Errorf("%s: %w", op, err)
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// Ring is a live capture on one interface through a TPACKET_V3 ring. Read,
// Stop, Stats and Close are meant for one goroutine; Read never blocks
// longer than the timeout it is given, so a stop request is seen promptly.
type Ring struct {
	fd int
	// file holds fd in the runtime's network poller (epoll), which is how
	// Read waits for the kernel to hand a block over: the goroutine parks
	// instead of holding a thread in poll(2), so the runtime neither hands
	// the waiting thread's P to another thread nor keeps its system
	// monitor waking every 20 us to do so (see docs/PERFORMANCE.md, the
	// capture hot path). It is a duplicate of fd; raw is its
	// syscall.RawConn. Both are nil when the poller would not take the
	// socket, and Read falls back to poll(2).
	file      *os.File
	raw       syscall.RawConn
	ring      []byte
	blockSize int
	blocks    int
	cur       int
	linkType  uint32
	snaplen   int
	walker    blockWalker
	seen      uint64
	stats     Stats
	closed    bool

	direction string
	// filterMu orders SetFilter against Stop: once stopped, the filter
	// stays the one that admits nothing.
	filterMu sync.Mutex
	stopped  bool
}

var _ Source = (*Ring)(nil)

// Open starts a capture. The filter is attached before the socket is bound
// to the interface, so no packet that fails it ever enters the ring.
//
// On the "any" device the socket is cooked (SOCK_DGRAM): it sees every
// interface of the network namespace, each packet from its network
// header, and the ring walker puts a LINUX_SLL2 header in front, as
// libpcap does. Its filter, compiled for that header, runs here (Match)
// rather than in the kernel, which sees no such header; the kernel only
// applies the snaplen.
func Open(cfg Config) (*Ring, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	cooked := c.Interface == AnyDevice
	var ifi *net.Interface
	var lt uint32
	var hw int64
	if cooked {
		ifi, lt = &net.Interface{Name: AnyDevice}, linkTypeLinuxSLL2
	} else {
		if ifi, lt, err = upInterface(c.Interface); err != nil {
			return nil, err
		}
		hw, _ = readSysInt(c.Interface, "type")
	}

	sockType := unix.SOCK_RAW
	if cooked {
		sockType = unix.SOCK_DGRAM
	}
	fd, err := unix.Socket(unix.AF_PACKET, sockType|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, sysErr("open packet socket", err)
	}
	r := &Ring{fd: fd, linkType: lt, snaplen: c.Snaplen, direction: c.Direction}
	r.usePoller()
	// On loopback each packet shows twice, sent and received: the sent copy
	// is skipped (as libpcap does), unless only sent packets are wanted.
	r.walker = blockWalker{ethernet: lt == linkTypeEthernet, skipOutgoing: hw == arphrdLoopback && c.Direction != "out", snaplen: c.Snaplen}
	ok := false
	defer func() {
		if !ok {
			r.Close()
		}
	}()
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return nil, sysErr("set TPACKET_V3", err)
	}
	prog := c.Filter
	if len(prog) == 0 {
		// The kernel keeps as many bytes as the filter returns: a filter
		// is what applies the snaplen.
		prog = []bpf.RawInstruction{{Op: 0x06, K: uint32(c.Snaplen)}}
	}
	ringSnap := c.Snaplen
	if cooked {
		// Room before each packet for the cooked header, built in place.
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_RESERVE, sll2HdrLen); err != nil {
			return nil, sysErr("set packet reserve", err)
		}
		r.walker.cooked = true
		r.walker.loIndex = -1
		if lo, err := net.InterfaceByName("lo"); err == nil {
			r.walker.loIndex = lo.Index
		}
		// The kernel runs the filter when it can be moved off the cooked
		// header; otherwise it keeps whole packets and the filter runs
		// here, on each packet before the snaplen cuts it, as libpcap's
		// does in that case.
		kprog, ok := cookedFilter(prog)
		if ok && attach(fd, withDirection(c.Direction, kprog)) == nil {
			prog = nil
		} else {
			r.walker.match = c.Match
			prog = withDirection(c.Direction, []bpf.RawInstruction{{Op: 0x06, K: MaxSnaplen}})
			ringSnap = MaxSnaplen
		}
	}
	if prog != nil {
		if !cooked {
			prog = withDirection(c.Direction, prog)
		}
		if err := attach(fd, prog); err != nil {
			return nil, err
		}
	}
	r.blockSize, r.blocks = ringGeometry(c.BufferSize, ringSnap)
	tmo := c.BlockTimeout
	if tmo == 0 {
		tmo = blockTimeout(r.blocks)
	}
	const frameSize = 2048
	req := unix.TpacketReq3{
		Block_size:     uint32(r.blockSize),
		Block_nr:       uint32(r.blocks),
		Frame_size:     frameSize,
		Frame_nr:       uint32(r.blockSize / frameSize * r.blocks),
		Retire_blk_tov: uint32(max(1, tmo.Milliseconds())),
	}
	if err := unix.SetsockoptTpacketReq3(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return nil, sysErr("set up ring", err)
	}
	r.ring, err = unix.Mmap(fd, 0, r.blockSize*r.blocks, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return nil, sysErr("map ring", err)
	}
	sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}
	if err := unix.Bind(fd, sa); err != nil {
		return nil, sysErr("bind to "+c.Interface, err)
	}
	if c.FanoutGroup != 0 {
		arg := int(c.FanoutGroup) | (unix.PACKET_FANOUT_HASH|unix.PACKET_FANOUT_FLAG_DEFRAG)<<16
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_FANOUT, arg); err != nil {
			return nil, sysErr("join fanout group", err)
		}
	}
	if c.Promisc && !cooked {
		mreq := unix.PacketMreq{Ifindex: int32(ifi.Index), Type: unix.PACKET_MR_PROMISC}
		if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq); err != nil {
			return nil, sysErr("enable promiscuous mode", err)
		}
	}
	ok = true
	return r, nil
}

// cookedFilter rewrites a program compiled for LINUX_SLL2 for a cooked
// socket, whose packets start at the network header, as libpcap does for
// "any": loads past the 20-byte header move back by 20, and loads of the
// header's protocol, interface index and packet type become the kernel's
// ancillary loads of the same values. ok is false when the program reads
// any other header byte: it must then run in the process.
//
// An indexed load [x + k] is moved only for k of 20 or more: the
// compiler then indexes within the network layer (k is its offset, x the
// position in it); with a smaller k, x holds an offset into the header
// itself (link[11], unoptimized: x = 11, k = 0), which no rewrite of k
// can move. An absolute load of the protocol, interface index or packet
// type must read the whole field.
func cookedFilter(prog []bpf.RawInstruction) (out []bpf.RawInstruction, ok bool) {
	const (
		skfAdOff      = 0xfffff000 // SKF_AD_OFF, -0x1000
		skfAdProtocol = 0
		skfAdPkttype  = 4
		skfAdIfindex  = 8

		ld, ldx             = 0x00, 0x01
		abs, ind, msh       = 0x20, 0x40, 0xa0
		sizeW, sizeH, sizeB = 0x00, 0x08, 0x10
	)
	out = make([]bpf.RawInstruction, len(prog))
	copy(out, prog)
	for i := range out {
		ins := &out[i]
		class, mode, size := ins.Op&0x07, ins.Op&0xe0, ins.Op&0x18
		if (class != ld && class != ldx) || (mode != abs && mode != ind && mode != msh) {
			continue
		}
		switch k := ins.K; {
		case k >= skfAdOff && mode == abs:
			// Already an ancillary load.
		case k >= sll2HdrLen && k < skfAdOff:
			ins.K -= sll2HdrLen
		case mode != abs || class != ld:
			return nil, false
		case k == 0 && size == sizeH:
			ins.K = skfAdOff + skfAdProtocol
		case k == 4 && size == sizeW:
			ins.K = skfAdOff + skfAdIfindex
		case k == 10 && size == sizeB:
			ins.K = skfAdOff + skfAdPkttype
		default:
			return nil, false
		}
	}
	return out, true
}

// CheckFilter asks the kernel whether it accepts prog as a socket
// filter: it attaches prog to a throwaway AF_PACKET socket (protocol 0
// and never bound, so it receives nothing) and closes it. A program the
// kernel refuses gives an error wrapping the kernel's errno (EINVAL for
// a program its checker rejects, such as a backward jump or scratch
// memory read before it is written; ENOMEM for one larger than
// net.core.optmem_max allows). Opening the socket needs CAP_NET_RAW:
// errors.Is(err, os.ErrPermission) tells that case apart.
func CheckFilter(prog []bpf.RawInstruction) error {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return sysErr("open packet socket", err)
	}
	defer unix.Close(fd)
	return attach(fd, prog)
}

func attach(fd int, prog []bpf.RawInstruction) error {
	if len(prog) == 0 || len(prog) > 4096 {
		return fmt.Errorf("attach filter: program of %d instructions", len(prog))
	}
	filters := make([]unix.SockFilter, len(prog))
	for i, ins := range prog {
		filters[i] = unix.SockFilter{Code: ins.Op, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
	}
	fprog := unix.SockFprog{Len: uint16(len(filters)), Filter: &filters[0]}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fprog); err != nil {
		return sysErr("attach filter", err)
	}
	return nil
}

// LinkType is the pcap link type of the captured frames.
func (r *Ring) LinkType() uint32 { return r.linkType }

// FD is the socket, for a Multi to poll.
func (r *Ring) FD() int { return r.fd }

// Seen counts the packets Read walked, delivered or skipped.
func (r *Ring) Seen() uint64 { return r.seen }

func (r *Ring) blockStatus(i int) *uint32 {
	return (*uint32)(unsafe.Pointer(&r.ring[i*r.blockSize+blkStatusOff]))
}

// Read delivers the packets of every block the kernel has handed over,
// waiting up to timeout for the first one. Packet data is valid only during
// fn: the block goes back to the kernel right after.
func (r *Ring) Read(timeout time.Duration, fn func(Packet)) (int, error) {
	if r.closed {
		return 0, ErrClosed
	}
	total := 0
	for n := 0; n < r.blocks; n++ {
		st := r.blockStatus(r.cur)
		if atomic.LoadUint32(st)&tpStatusUser == 0 {
			if total > 0 || timeout <= 0 {
				break
			}
			if err := r.wait(timeout); err != nil {
				return total, err
			}
			if atomic.LoadUint32(st)&tpStatusUser == 0 {
				break
			}
		}
		block := r.ring[r.cur*r.blockSize : (r.cur+1)*r.blockSize]
		seen, delivered, err := r.walker.walk(block, fn)
		r.seen += uint64(seen)
		total += delivered
		atomic.StoreUint32(st, tpStatusKernel)
		r.cur = (r.cur + 1) % r.blocks
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// usePoller puts a duplicate of the socket's descriptor in the runtime's
// network poller (the two share the socket, and its non-blocking flag).
// On any failure the Ring keeps its plain descriptor and waits with
// poll(2).
func (r *Ring) usePoller() {
	nfd, err := unix.FcntlInt(uintptr(r.fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return
	}
	if err := unix.SetNonblock(nfd, true); err != nil {
		unix.Close(nfd)
		return
	}
	f := os.NewFile(uintptr(nfd), "packet socket")
	raw, err := f.SyscallConn()
	// A descriptor the poller refused cannot take a deadline.
	if err != nil || f.SetReadDeadline(time.Time{}) != nil {
		f.Close()
		unix.SetNonblock(r.fd, false)
		return
	}
	r.file, r.raw = f, raw
}

// wait waits up to timeout for the block at r.cur to be handed over (or
// for a socket error), through the runtime's poller when the socket is in
// it. It returns nil on a timeout: the caller looks at the block again.
//
// The socket's error is read before every park, not only after a
// wake-up. When the interface goes down the kernel sets the socket's
// error (ENETDOWN) and wakes its waiters once; the poller's wake-ups are
// edges, and one that comes while no Read waits (the reader is walking
// blocks, or between two Reads) is noted for the descriptor and then
// forgotten as the next wait begins (RawRead resets the descriptor's
// readiness first). The error stays on the socket until read, and no
// block comes again: a wait that looked only after wake-ups would time
// out, Read after Read, for ever. Looked at after the reset, the error
// cannot be missed: one raised later wakes the park.
func (r *Ring) wait(timeout time.Duration) error {
	if r.raw == nil {
		return r.poll(timeout)
	}
	if err := r.file.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return r.poll(timeout)
	}
	st := r.blockStatus(r.cur)
	var sockErr error
	err := r.raw.Read(func(fd uintptr) bool {
		if atomic.LoadUint32(st)&tpStatusUser != 0 {
			return true
		}
		sockErr = socketError(int(fd))
		return sockErr != nil
	})
	switch {
	case sockErr != nil:
		return sockErr
	case errors.Is(err, os.ErrDeadlineExceeded):
		return nil
	case errors.Is(err, os.ErrClosed):
		return ErrClosed
	case err != nil:
		return sysErr("poll", err)
	}
	return nil
}

// socketError reads and clears the socket's pending error (SO_ERROR): on
// a packet socket, ENETDOWN once its interface went down or away. It
// returns nil when there is none.
func socketError(fd int) error {
	soErr, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil {
		return sysErr("read socket error", err)
	}
	if soErr != 0 {
		return sysErr("capture", unix.Errno(soErr))
	}
	return nil
}

// pendingError reads and clears the socket's pending error: Multi asks
// each of its rings at every Read, after the ring's blocks.
func (r *Ring) pendingError() error {
	if r.closed {
		return ErrClosed
	}
	return socketError(r.fd)
}

func (r *Ring) poll(timeout time.Duration) error {
	fds := []unix.PollFd{{Fd: int32(r.fd), Events: unix.POLLIN | unix.POLLERR}}
	ms := int(timeout / time.Millisecond)
	if ms == 0 {
		ms = 1
	}
	for {
		_, err := unix.Poll(fds, ms)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return sysErr("poll", err)
		}
		switch {
		case fds[0].Revents&unix.POLLNVAL != 0:
			return ErrClosed
		case fds[0].Revents&unix.POLLERR != 0:
			// A POLLERR on a packet socket means the interface went
			// down or away: report the socket's error.
			return socketError(r.fd)
		}
		return nil
	}
}

// Stop replaces the filter with one that accepts nothing, so the ring
// receives no new packets while those already accepted are drained.
func (r *Ring) Stop() error {
	r.filterMu.Lock()
	defer r.filterMu.Unlock()
	r.stopped = true
	return attach(r.fd, []bpf.RawInstruction{{Op: 0x06, K: 0}})
}

// SetFilter replaces the kernel filter of a running capture. The kernel
// swaps the program atomically (SO_ATTACH_FILTER on a socket that has
// one): every packet meets either the old program or the new one, none
// is missed, and the ring, its counters and the packets it holds stay.
// An empty prog keeps everything up to the snaplen. It may be called
// while another goroutine reads, not after Close; after Stop it returns
// ErrStopped. The "any" device, whose filter may run in the process, is
// not supported (ErrNotSupported).
func (r *Ring) SetFilter(prog []bpf.RawInstruction) error {
	if r.walker.cooked {
		return fmt.Errorf("set filter on %s: %w", AnyDevice, ErrNotSupported)
	}
	if len(prog) == 0 {
		prog = []bpf.RawInstruction{{Op: 0x06, K: uint32(r.snaplen)}}
	}
	r.filterMu.Lock()
	defer r.filterMu.Unlock()
	if r.stopped {
		return ErrStopped
	}
	return attach(r.fd, withDirection(r.direction, prog))
}

// Stats returns the kernel's cumulative counters for this capture.
func (r *Ring) Stats() (Stats, error) {
	if r.closed {
		return r.stats, nil
	}
	st, err := unix.GetsockoptTpacketStatsV3(r.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		return r.stats, sysErr("read capture statistics", err)
	}
	// The kernel resets its counters on every read; keep the running sum.
	r.stats.Received += uint64(st.Packets)
	r.stats.Dropped += uint64(st.Drops)
	return r.stats, nil
}

// Close releases the ring and the socket.
func (r *Ring) Close() error {
	if r.closed {
		return nil
	}
	r.Stats()
	r.closed = true
	var errs []error
	if r.ring != nil {
		errs = append(errs, unix.Munmap(r.ring))
		r.ring = nil
	}
	if r.file != nil {
		errs = append(errs, r.file.Close())
	}
	errs = append(errs, unix.Close(r.fd))
	return errors.Join(errs...)
}

// withDirection puts a test of the packet's type (the kernel's ancillary
// pkttype: PACKET_OUTGOING for what this host sends) before prog, so
// that only packets going the asked way reach it. Jumps in prog are
// relative and stay valid.
func withDirection(dir string, prog []bpf.RawInstruction) []bpf.RawInstruction {
	const (
		ldAbsW     = 0x20       // BPF_LD | BPF_W | BPF_ABS
		jeqK       = 0x15       // BPF_JMP | BPF_JEQ | BPF_K
		retK       = 0x06       // BPF_RET | BPF_K
		adPktType  = 0xfffff004 // SKF_AD_OFF + SKF_AD_PKTTYPE
		pktOutgoig = 4          // PACKET_OUTGOING
	)
	var jt, jf uint8
	switch dir {
	case "in":
		jt, jf = 0, 1 // outgoing: drop
	case "out":
		jt, jf = 1, 0 // not outgoing: drop
	default:
		return prog
	}
	out := []bpf.RawInstruction{{Op: ldAbsW, K: adPktType}, {Op: jeqK, Jt: jt, Jf: jf, K: pktOutgoig}, {Op: retK, K: 0}}
	return append(out, prog...)
}
