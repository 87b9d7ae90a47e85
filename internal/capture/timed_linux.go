package capture

import (
	"encoding/binary"
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TimedSender sends frames one at a time, each at the moment the caller
// chooses, for paced replay. Unlike Sender's transmit ring, which batches
// well but maps the frame's pages into the packet, every Send here is one
// sendmsg(2) whose frame the kernel copies into a fresh buffer: the
// shortest path from the call to the driver.
//
// Two things make that path's timing knowable and steady. Send can ask the
// kernel for a software transmit timestamp, taken by the driver as it
// takes the frame (SO_TIMESTAMPING, SOF_TIMESTAMPING_TX_SOFTWARE), which
// Stamp returns: the moment the frame left, as close to the wire as
// software sees. And Prime runs the first half of the send path without
// sending anything, so that a send after a long pause does not find the
// kernel's code and data cold: on the machines measured, the path from
// sendmsg to the driver takes 1.5 us when it ran within the last 200 us
// and 12 to 16 us after 10 ms of idleness.
type TimedSender struct {
	fd       int
	maxFrame int
	stats    SendStats

	stamping bool // the socket delivers transmit timestamps
	pending  bool // a stamp was asked for and not yet read

	guard []byte // an inaccessible page: Prime's sends fault on it

	iov     unix.Iovec
	msg     unix.Msghdr
	cmsg    []byte // SO_TIMESTAMPING control message asking for a stamp
	errMsg  unix.Msghdr
	errIov  unix.Iovec
	errBuf  []byte
	errOOB  []byte
	primeOK bool
}

// OpenTimedSender opens a packet socket bound to the interface for paced
// sends.
func OpenTimedSender(name string) (*TimedSender, error) {
	t, err := openTxSocket(name)
	if err != nil {
		return nil, err
	}
	fd := t.fd
	s := &TimedSender{fd: fd, maxFrame: t.maxFrame}
	ok := false
	defer func() {
		if !ok {
			s.Close()
		}
	}()
	if err := t.bind(); err != nil {
		return nil, err
	}
	// Reporting flags on the socket; each stamped Send asks for its own
	// timestamp in a control message.
	const report = unix.SOF_TIMESTAMPING_SOFTWARE | unix.SOF_TIMESTAMPING_OPT_TSONLY
	s.stamping = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPING, report) == nil
	s.cmsg = make([]byte, unix.CmsgSpace(4))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&s.cmsg[0]))
	h.Level, h.Type = unix.SOL_SOCKET, unix.SO_TIMESTAMPING
	h.SetLen(unix.CmsgLen(4))
	binary.NativeEndian.PutUint32(s.cmsg[unix.CmsgLen(0):], unix.SOF_TIMESTAMPING_TX_SOFTWARE)

	s.errBuf = make([]byte, 64)
	s.errOOB = make([]byte, 256)

	if g, err := unix.Mmap(-1, 0, os.Getpagesize(), unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS); err == nil {
		s.guard, s.primeOK = g, true
	}
	ok = true
	return s, nil
}

// MaxFrame is the largest frame Send accepts.
func (s *TimedSender) MaxFrame() int { return s.maxFrame }

// Stats returns what was sent so far.
func (s *TimedSender) Stats() SendStats { return s.stats }

// Prime runs the send path as far as the kernel's copy of a frame of size
// bytes, which fails on an inaccessible page: the socket, the allocation
// of the packet buffer and the system call path are then warm for the
// Send that follows, and nothing can leave the host, as the kernel never
// gets the frame's bytes.
func (s *TimedSender) Prime(size int) {
	if !s.primeOK || size <= 0 {
		return
	}
	size = min(size, len(s.guard), s.maxFrame)
	_, _, errno := unix.Syscall6(unix.SYS_SENDTO, uintptr(s.fd), uintptr(unsafe.Pointer(unsafe.SliceData(s.guard))), uintptr(size), unix.MSG_DONTWAIT, 0, 0)
	if errno == 0 {
		// The kernel took it: it cannot have read the page, but this is
		// not the refusal expected. Stop priming rather than guess.
		s.primeOK = false
	}
}

// Send sends one frame now, retrying ENOBUFS/EAGAIN with a growing pause
// for up to a second. With stamp set it asks for the frame's transmit
// timestamp, which Stamp then returns. A frame over the MTU returns
// ErrFrameTooBig.
func (s *TimedSender) Send(frame []byte, stamp bool) error {
	if len(frame) > s.maxFrame {
		return ErrFrameTooBig
	}
	if len(frame) == 0 {
		return nil
	}
	s.iov.Base = unsafe.SliceData(frame)
	s.iov.SetLen(len(frame))
	s.msg = unix.Msghdr{Iov: &s.iov}
	s.msg.SetIovlen(1)
	stamp = stamp && s.stamping
	if stamp {
		s.msg.Control = unsafe.SliceData(s.cmsg)
		s.msg.SetControllen(len(s.cmsg))
	}
	var retry retrier
	withoutStamp := false // retrying after EINVAL without the request
	for {
		_, _, errno := unix.Syscall(unix.SYS_SENDMSG, uintptr(s.fd), uintptr(unsafe.Pointer(&s.msg)), 0)
		switch {
		case errno == 0:
			s.stats.Packets++
			s.stats.Bytes += uint64(len(frame))
			s.pending = stamp
			if withoutStamp {
				s.stamping = false
			}
			return nil
		case errno == unix.EINVAL && stamp:
			// Either the frame is invalid (shorter than the link header)
			// or the kernel takes no per-frame timestamp requests: try
			// once without, and stop asking only if that goes through.
			stamp, withoutStamp = false, true
			s.msg.Control, s.msg.Controllen = nil, 0
		default:
			if err := retry.after(&s.stats, errno); err != nil {
				return err
			}
		}
	}
}

// Stamp returns when the driver took the last frame sent with stamp set,
// and false if the kernel has not reported it (drivers that do not
// timestamp, or a full error queue). It empties the error queue and takes
// the newest stamp: a stamp that came too late for an earlier Stamp is
// older, and the queue is empty before the next frame is sent.
func (s *TimedSender) Stamp() (time.Time, bool) {
	if !s.pending {
		return time.Time{}, false
	}
	s.pending = false
	var last time.Time
	found := false
	for {
		at, ok, more := s.readStamp()
		if !more {
			return last, found
		}
		if ok {
			last, found = at, true
		}
	}
}

// readStamp takes one entry from the socket's error queue without
// blocking: more is false when the queue is empty, ok whether the entry
// was a transmit timestamp.
func (s *TimedSender) readStamp() (at time.Time, ok, more bool) {
	s.errIov.Base = unsafe.SliceData(s.errBuf)
	s.errIov.SetLen(len(s.errBuf))
	s.errMsg = unix.Msghdr{Iov: &s.errIov, Control: unsafe.SliceData(s.errOOB)}
	s.errMsg.SetIovlen(1)
	s.errMsg.SetControllen(len(s.errOOB))
	for {
		_, _, errno := unix.Syscall(unix.SYS_RECVMSG, uintptr(s.fd), uintptr(unsafe.Pointer(&s.errMsg)), unix.MSG_ERRQUEUE|unix.MSG_DONTWAIT)
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return time.Time{}, false, false
		}
		break
	}
	oob := s.errOOB[:s.errMsg.Controllen]
	var isStamp, gotTime bool
	for len(oob) >= unix.CmsgLen(0) {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		n := int(h.Len)
		if n < unix.CmsgLen(0) || n > len(oob) {
			break
		}
		data := oob[unix.CmsgLen(0):n]
		switch {
		case h.Level == unix.SOL_SOCKET && h.Type == unix.SO_TIMESTAMPING:
			// Three timespecs, in this platform's layout; the first is
			// the software stamp.
			var ts unix.Timespec
			if len(data) >= int(unsafe.Sizeof(ts)) {
				copy(unsafe.Slice((*byte)(unsafe.Pointer(&ts)), unsafe.Sizeof(ts)), data)
				at, gotTime = time.Unix(int64(ts.Sec), int64(ts.Nsec)), ts.Sec != 0 || ts.Nsec != 0
			}
		case h.Level == unix.SOL_PACKET && h.Type == unix.PACKET_TX_TIMESTAMP && len(data) >= int(unsafe.Sizeof(unix.SockExtendedErr{})):
			var ee unix.SockExtendedErr
			copy(unsafe.Slice((*byte)(unsafe.Pointer(&ee)), unsafe.Sizeof(ee)), data)
			isStamp = ee.Origin == unix.SO_EE_ORIGIN_TIMESTAMPING && ee.Info == unix.SCM_TSTAMP_SND
		}
		oob = oob[min(len(oob), unix.CmsgSpace(n-unix.CmsgLen(0))):]
	}
	return at, isStamp && gotTime, true
}

// Close closes the socket.
func (s *TimedSender) Close() error {
	if s.guard != nil {
		unix.Munmap(s.guard)
		s.guard = nil
	}
	return unix.Close(s.fd)
}
