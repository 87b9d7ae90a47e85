package capture

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// Sender writes whole link-layer frames onto one interface.
type Sender struct {
	fd       int
	maxFrame int
	stats    SendStats
}

// OpenSender opens a raw packet socket bound to the interface for sending.
// The socket is bound with protocol 0, so it receives nothing.
func OpenSender(name string) (*Sender, error) {
	ifi, err := lookup(name)
	if err != nil {
		return nil, err
	}
	if ifi.Flags&(1<<0) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrInterfaceDown, name)
	}
	lt, err := LinkTypeOf(name)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, sysErr("open packet socket", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifi.Index}); err != nil {
		unix.Close(fd)
		return nil, sysErr("bind to "+name, err)
	}
	s := &Sender{fd: fd, maxFrame: ifi.MTU}
	if lt == linkTypeEthernet {
		s.maxFrame += 14 + vlanTagLen
	}
	return s, nil
}

// MaxFrame is the largest frame Send accepts.
func (s *Sender) MaxFrame() int { return s.maxFrame }

// Send writes one frame. A full transmit queue (ENOBUFS, EAGAIN) is retried
// with a growing pause, up to about a second; a frame over the MTU returns
// ErrFrameTooBig without a syscall.
func (s *Sender) Send(frame []byte) error {
	if len(frame) > s.maxFrame {
		return ErrFrameTooBig
	}
	backoff := 20 * time.Microsecond
	for deadline := time.Now().Add(time.Second); ; {
		_, err := unix.Write(s.fd, frame)
		switch {
		case err == nil:
			s.stats.Packets++
			s.stats.Bytes += uint64(len(frame))
			return nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.EAGAIN):
			if time.Now().After(deadline) {
				return sysErr("send", err)
			}
			s.stats.Retries++
			time.Sleep(backoff)
			backoff = min(2*backoff, 10*time.Millisecond)
		case errors.Is(err, unix.EMSGSIZE):
			return ErrFrameTooBig
		default:
			return sysErr("send", err)
		}
	}
}

// Stats returns what was sent so far.
func (s *Sender) Stats() SendStats { return s.stats }

// Close closes the socket.
func (s *Sender) Close() error { return unix.Close(s.fd) }
