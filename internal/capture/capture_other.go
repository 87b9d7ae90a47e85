//go:build !linux

package capture

import (
	"time"

	"golang.org/x/net/bpf"
)

// LinkTypeOf is not supported on this system.
func LinkTypeOf(name string) (uint32, error) { return 0, ErrNotSupported }

func promiscuous(string) bool { return false }

// InterfacePackets is not supported on this system.
func InterfacePackets(string) (uint64, error) { return 0, ErrNotSupported }

// CheckFilter reports ErrNotSupported.
func CheckFilter([]bpf.RawInstruction) error { return ErrNotSupported }

// Ring is a live capture; it is not supported on this system.
type Ring struct{}

// Open reports ErrNotSupported.
func Open(Config) (*Ring, error) { return nil, ErrNotSupported }

func (*Ring) Read(time.Duration, func(Packet)) (int, error) { return 0, ErrNotSupported }
func (*Ring) Stop() error                                   { return ErrNotSupported }
func (*Ring) Stats() (Stats, error)                         { return Stats{}, ErrNotSupported }
func (*Ring) Seen() uint64                                  { return 0 }
func (*Ring) LinkType() uint32                              { return 0 }
func (*Ring) Close() error                                  { return nil }

// SetFilter reports ErrNotSupported.
func (*Ring) SetFilter([]bpf.RawInstruction) error { return ErrNotSupported }

// Sender sends frames; it is not supported on this system.
type Sender struct{}

// OpenSender reports ErrNotSupported.
func OpenSender(string) (*Sender, error) { return nil, ErrNotSupported }

func (*Sender) Queue([]byte) error { return ErrNotSupported }
func (*Sender) Flush() error       { return ErrNotSupported }
func (*Sender) Stats() SendStats   { return SendStats{} }
func (*Sender) Close() error       { return nil }

// TimedSender sends paced frames; it is not supported on this system.
type TimedSender struct{}

// OpenTimedSender reports ErrNotSupported.
func OpenTimedSender(string) (*TimedSender, error) { return nil, ErrNotSupported }

func (*TimedSender) Send([]byte, bool) error  { return ErrNotSupported }
func (*TimedSender) Stamp() (time.Time, bool) { return time.Time{}, false }
func (*TimedSender) Prime(int)                {}
func (*TimedSender) MaxFrame() int            { return 0 }
func (*TimedSender) Stats() SendStats         { return SendStats{} }
func (*TimedSender) Close() error             { return nil }

// SetQdiscBypass reports ErrNotSupported.
func (*Sender) SetQdiscBypass(bool) error { return ErrNotSupported }

// SetQdiscBypass reports ErrNotSupported.
func (*TimedSender) SetQdiscBypass(bool) error { return ErrNotSupported }
