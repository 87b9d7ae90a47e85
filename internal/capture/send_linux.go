package capture

import (
	"errors"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TPACKET_V2 transmit ring layout (linux/if_packet.h).
const (
	tpStatusAvailable   = 0
	tpStatusSendRequest = 1
	tpStatusSending     = 2
	tpStatusWrongFormat = 4
	tp2HdrLen           = 32 // TPACKET_ALIGN(sizeof(struct tpacket2_hdr))
	tp2LenOff           = 4
	txRingBytes         = 4 << 20
)

// Sender writes whole link-layer frames onto one interface through a
// PACKET_TX_RING, for replay at top speed: Queue copies a frame into the
// ring, Flush hands every queued frame to the kernel in one syscall.
// Paced replay, where each frame leaves at its own time, uses TimedSender.
type Sender struct {
	fd        int
	ring      []byte
	frameSize int
	frames    int
	cur       int
	queued    int
	maxFrame  int
	stats     SendStats
}

// txSocket is a packet socket for sending on one interface, not yet
// bound: bound with protocol 0, it receives nothing.
type txSocket struct {
	fd, ifindex int
	name        string
	maxFrame    int // MTU plus the link header (and a VLAN tag on Ethernet)
}

func openTxSocket(name string) (txSocket, error) {
	ifi, lt, err := upInterface(name)
	if err != nil {
		return txSocket{}, err
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return txSocket{}, sysErr("open packet socket", err)
	}
	t := txSocket{fd: fd, ifindex: ifi.Index, name: name, maxFrame: ifi.MTU}
	if lt == linkTypeEthernet {
		t.maxFrame += 14 + vlanTagLen
	}
	// Frames bypass the qdisc layer (as trafgen's do). Best effort: older
	// kernels lack it, and it only saves time.
	unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1)
	return t, nil
}

func (t txSocket) bind() error {
	if err := unix.Bind(t.fd, &unix.SockaddrLinklayer{Ifindex: t.ifindex}); err != nil {
		return sysErr("bind to "+t.name, err)
	}
	return nil
}

// OpenSender opens a packet socket with a transmit ring bound to the
// interface.
func OpenSender(name string) (*Sender, error) {
	t, err := openTxSocket(name)
	if err != nil {
		return nil, err
	}
	s := &Sender{fd: t.fd, maxFrame: t.maxFrame}
	ok := false
	defer func() {
		if !ok {
			s.Close()
		}
	}()
	if err := unix.SetsockoptInt(s.fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V2); err != nil {
		return nil, sysErr("set TPACKET_V2", err)
	}
	s.frameSize = 2048
	for s.frameSize < tp2HdrLen+s.maxFrame {
		s.frameSize <<= 1
	}
	blockSize := max(s.frameSize, MinBlockSize)
	blocks := max(1, txRingBytes/blockSize)
	s.frames = blocks * (blockSize / s.frameSize)
	req := unix.TpacketReq{Block_size: uint32(blockSize), Block_nr: uint32(blocks), Frame_size: uint32(s.frameSize), Frame_nr: uint32(s.frames)}
	if err := unix.SetsockoptTpacketReq(s.fd, unix.SOL_PACKET, unix.PACKET_TX_RING, &req); err != nil {
		return nil, sysErr("set up transmit ring", err)
	}
	s.ring, err = unix.Mmap(s.fd, 0, blockSize*blocks, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return nil, sysErr("map transmit ring", err)
	}
	if err := t.bind(); err != nil {
		return nil, err
	}
	ok = true
	return s, nil
}

func (s *Sender) status(i int) *uint32 {
	return (*uint32)(unsafe.Pointer(&s.ring[i*s.frameSize]))
}

// Queue copies frame into the next free slot of the ring without sending
// it. A frame over the MTU returns ErrFrameTooBig. When the ring is full it
// flushes and waits for the kernel to free a slot.
func (s *Sender) Queue(frame []byte) error {
	if len(frame) > s.maxFrame {
		return ErrFrameTooBig
	}
	st := s.status(s.cur)
	var deadline time.Time
	for {
		v := atomic.LoadUint32(st)
		if v == tpStatusAvailable {
			break
		}
		if v&tpStatusWrongFormat != 0 {
			atomic.StoreUint32(st, tpStatusAvailable)
			return sysErr("send", unix.EINVAL)
		}
		// The kernel still owns the slot: push what is queued and wait.
		if err := s.Flush(); err != nil {
			return err
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(time.Second)
		} else if time.Now().After(deadline) {
			return sysErr("send", unix.ENOBUFS)
		}
		s.stats.Retries++
		fds := []unix.PollFd{{Fd: int32(s.fd), Events: unix.POLLOUT}}
		unix.Poll(fds, 10)
	}
	slot := s.ring[s.cur*s.frameSize : (s.cur+1)*s.frameSize]
	copy(slot[tp2HdrLen:], frame)
	*(*uint32)(unsafe.Pointer(&slot[tp2LenOff])) = uint32(len(frame))
	atomic.StoreUint32(st, tpStatusSendRequest)
	s.cur = (s.cur + 1) % s.frames
	s.queued++
	s.stats.Packets++
	s.stats.Bytes += uint64(len(frame))
	return nil
}

// Flush asks the kernel to send every queued frame, waiting until it has.
// A full device queue (ENOBUFS, EAGAIN) is retried with a growing pause for
// up to a second.
func (s *Sender) Flush() error {
	if s.queued == 0 {
		return nil
	}
	var retry retrier
	for {
		_, _, errno := unix.Syscall6(unix.SYS_SENDTO, uintptr(s.fd), 0, 0, 0, 0, 0)
		if errno == 0 {
			s.queued = 0
			return nil
		}
		if err := retry.after(&s.stats, errno); err != nil {
			return err
		}
	}
}

// retrier paces the retries of a send the device's queue refused
// (ENOBUFS, EAGAIN): a pause growing from 20 us to 10 ms, for up to a
// second from the first refusal.
type retrier struct {
	backoff  time.Duration
	deadline time.Time
}

// after decides what follows a send that failed with errno: nil to send
// again (at once after EINTR; after a pause when the queue is full,
// ENOBUFS or EAGAIN), or the error that ends the send (EMSGSIZE is
// ErrFrameTooBig).
func (r *retrier) after(stats *SendStats, errno unix.Errno) error {
	switch errno {
	case unix.EINTR:
		return nil
	case unix.ENOBUFS, unix.EAGAIN:
		return r.wait(stats, errno)
	case unix.EMSGSIZE:
		return ErrFrameTooBig
	}
	return sysErr("send", errno)
}

// wait counts a retry and sleeps before it, or returns the send error
// once the second is over.
func (r *retrier) wait(stats *SendStats, errno unix.Errno) error {
	if r.deadline.IsZero() {
		r.deadline, r.backoff = time.Now().Add(time.Second), 20*time.Microsecond
	} else if time.Now().After(r.deadline) {
		return sysErr("send", errno)
	}
	stats.Retries++
	time.Sleep(r.backoff)
	r.backoff = min(2*r.backoff, 10*time.Millisecond)
	return nil
}

// Stats returns what was sent so far.
func (s *Sender) Stats() SendStats { return s.stats }

// Close sends what is still queued and closes the socket.
func (s *Sender) Close() error {
	var errs []error
	if s.ring != nil {
		errs = append(errs, s.Flush(), unix.Munmap(s.ring))
		s.ring = nil
	}
	errs = append(errs, unix.Close(s.fd))
	return errors.Join(errs...)
}

// SetQdiscBypass says whether frames skip the interface's qdisc layer
// (on, the default from Open: the shortest path to the driver) or go
// through it (off), where tc and netem apply and a capture of the
// interface's outgoing traffic (tcpdump -Q out) sees them.
func (s *Sender) SetQdiscBypass(on bool) error { return setQdiscBypass(s.fd, on) }

// SetQdiscBypass: see Sender.SetQdiscBypass.
func (s *TimedSender) SetQdiscBypass(on bool) error { return setQdiscBypass(s.fd, on) }

func setQdiscBypass(fd int, on bool) error {
	v := 0
	if on {
		v = 1
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, v); err != nil {
		return sysErr("set PACKET_QDISC_BYPASS", err)
	}
	return nil
}
