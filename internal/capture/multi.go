package capture

import (
	"errors"
	"time"

	"golang.org/x/sys/unix"
)

// Multi is one Source over several (capture -i A -i B, as dumpcap and
// tcpdump on "any" do): each packet says which source it came from
// (Packet.Interface, the index in the list) and carries that source's link
// type. Counters are the sums of the sources'.
//
// Every Read looks at each source's pending socket error (one
// getsockopt a source, after its blocks), whether or not it waits: a
// source that always has a block ready (overloaded) keeps Multi from
// ever polling, and another's interface going down would otherwise go
// unsaid until the load dropped.
type Multi struct {
	srcs []Source
	fds  []unix.PollFd // nil when a source has no descriptor to poll
	errs []fdSource    // per source, nil when it has no socket error to read
}

// fdSource is a Source whose readiness a poll(2) can wait for. A POLLERR
// on its descriptor is an error pendingError reads and clears (the
// interface went down); poll(2) says so at once until it is read.
type fdSource interface {
	FD() int
	pendingError() error
}

// NewMulti reads from every source; it owns them (Close closes them).
func NewMulti(srcs ...Source) *Multi {
	m := &Multi{srcs: srcs, errs: make([]fdSource, len(srcs))}
	polled := true
	for i, s := range srcs {
		f, ok := s.(fdSource)
		if !ok || f.FD() < 0 {
			polled = false
			continue
		}
		m.errs[i] = f
		m.fds = append(m.fds, unix.PollFd{Fd: int32(f.FD()), Events: unix.POLLIN})
	}
	if !polled {
		m.fds = nil
	}
	return m
}

// Read delivers what every source has ready, waiting up to timeout for
// the first packet of any.
func (m *Multi) Read(timeout time.Duration, fn func(Packet)) (int, error) {
	total, err := m.readReady(fn)
	if total > 0 || err != nil || timeout <= 0 {
		return total, err
	}
	if m.fds == nil {
		// Sources without descriptors (tests): wait on each in turn.
		per := timeout / time.Duration(len(m.srcs))
		for i, s := range m.srcs {
			n, err := s.Read(per, tagged(i, s.LinkType(), fn))
			total += n
			if err != nil || total > 0 {
				return total, err
			}
		}
		return total, nil
	}
	for i := range m.fds {
		m.fds[i].Revents = 0
	}
	if _, err := unix.Poll(m.fds, int(max(1, timeout.Milliseconds()))); err != nil && !errors.Is(err, unix.EINTR) {
		return 0, err
	}
	// A POLLERR (an interface went down) is read by readReady, with the
	// packets of every source.
	return m.readReady(fn)
}

// readReady delivers what every source has ready, and reads each one's
// pending socket error after its blocks: a source's read with no timeout
// does not look at it. Unread, the error would go unsaid while another
// source keeps Read from waiting, and once Read waits its poll would
// return at once again and again. An error comes with the packets read.
func (m *Multi) readReady(fn func(Packet)) (int, error) {
	total := 0
	var errs []error
	for i, s := range m.srcs {
		n, err := s.Read(0, tagged(i, s.LinkType(), fn))
		total += n
		if err == nil && m.errs[i] != nil {
			err = m.errs[i].pendingError()
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return total, errors.Join(errs...)
}

func tagged(i int, lt uint32, fn func(Packet)) func(Packet) {
	return func(p Packet) {
		p.Interface, p.LinkType = i, lt
		fn(p)
	}
}

// Stop stops every source.
func (m *Multi) Stop() error {
	var errs []error
	for _, s := range m.srcs {
		errs = append(errs, s.Stop())
	}
	return errors.Join(errs...)
}

// Stats sums the sources' counters.
func (m *Multi) Stats() (Stats, error) {
	var st Stats
	for _, s := range m.srcs {
		x, err := s.Stats()
		if err != nil {
			return st, err
		}
		st.Received += x.Received
		st.Dropped += x.Dropped
	}
	return st, nil
}

// Seen sums what the sources walked.
func (m *Multi) Seen() uint64 {
	var n uint64
	for _, s := range m.srcs {
		n += s.Seen()
	}
	return n
}

// LinkType is the first source's; each packet carries its own.
func (m *Multi) LinkType() uint32 { return m.srcs[0].LinkType() }

// Close closes every source.
func (m *Multi) Close() error {
	var errs []error
	for _, s := range m.srcs {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}
