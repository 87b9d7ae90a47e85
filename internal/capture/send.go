package capture

import "errors"

// ErrFrameTooBig reports a frame larger than the output interface takes
// (its MTU plus the link header). Replay skips and counts such frames.
var ErrFrameTooBig = errors.New("frame larger than the interface MTU")

// SendStats counts what a Sender did.
type SendStats struct {
	Packets uint64 // frames handed to the kernel
	Bytes   uint64
	Retries uint64 // sends retried after ENOBUFS/EAGAIN
}
