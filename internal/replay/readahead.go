package replay

import (
	"context"
	"errors"

	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

// Read-ahead: the packets are read, selected and copied by a
// goroutine of their own, into batches the sender takes from a channel, so
// that neither a block read from disk nor the filter ever runs on the
// sender's clock. Batches are recycled: a replay allocates a fixed amount
// of memory, whatever its length, and gives the garbage collector nothing
// to do.
const (
	batchRecords = 1024
	batchBytes   = 256 << 10
	batchesAhead = 8
)

// recordBatch is consecutive records with their bytes.
type recordBatch struct {
	recs []store.Record
	data []byte
	pass int64 // which pass over the packets (--loop) they belong to
}

// readAhead yields the packets of a Source, passes times over (0: until
// ctx ends) and at most count in all (0: no limit).
type readAhead struct {
	batches chan *recordBatch
	free    chan *recordBatch
	parent  context.Context
	cancel  context.CancelFunc
	err     error // the reader's error, set before batches is closed
}

func startReadAhead(parent context.Context, src Source, passes, count int64) *readAhead {
	ctx, cancel := context.WithCancel(parent)
	ra := &readAhead{
		parent:  parent,
		batches: make(chan *recordBatch, batchesAhead),
		free:    make(chan *recordBatch, batchesAhead+2),
		cancel:  cancel,
	}
	go func() {
		defer close(ra.batches)
		ra.err = ra.read(ctx, src, passes, count)
	}()
	return ra
}

func (ra *readAhead) read(ctx context.Context, src Source, passes, count int64) error {
	var total int64
	for pass := int64(0); passes == 0 || pass < passes; pass++ {
		remaining := int64(0)
		if count > 0 {
			remaining = count - total
		}
		b := ra.batch(pass)
		var n int64
		err := src.Walk(ctx, remaining, func(rec store.Record) error {
			if len(b.recs) == batchRecords || len(b.data)+len(rec.Data) > cap(b.data) {
				if err := ra.send(ctx, b); err != nil {
					return err
				}
				b = ra.batch(pass)
				if len(rec.Data) > cap(b.data) {
					b.data = make([]byte, 0, len(rec.Data))
				}
			}
			start := len(b.data)
			b.data = append(b.data, rec.Data...)
			rec.Data = b.data[start:len(b.data):len(b.data)]
			b.recs = append(b.recs, rec)
			n++
			return nil
		})
		if err == nil && len(b.recs) > 0 {
			err = ra.send(ctx, b)
		}
		total += n
		if err != nil {
			return err
		}
		if n == 0 || (count > 0 && total >= count) {
			return nil // nothing (more) to play
		}
	}
	return nil
}

// batch returns an empty batch, recycled when one is free.
func (ra *readAhead) batch(pass int64) *recordBatch {
	var b *recordBatch
	select {
	case b = <-ra.free:
		b.recs, b.data = b.recs[:0], b.data[:0]
		if cap(b.data) > batchBytes {
			b.data = make([]byte, 0, batchBytes) // a one-off giant frame's buffer
		}
	default:
		b = &recordBatch{recs: make([]store.Record, 0, batchRecords), data: make([]byte, 0, batchBytes)}
	}
	b.pass = pass
	return b
}

func (ra *readAhead) send(ctx context.Context, b *recordBatch) error {
	select {
	case ra.batches <- b:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// done returns a batch the sender has finished with.
func (ra *readAhead) done(b *recordBatch) {
	select {
	case ra.free <- b:
	default:
	}
}

// stop ends the reader and returns its error: nil when it read everything
// or was stopped by stop itself, the parent context's error when that
// ended it.
func (ra *readAhead) stop() error {
	ra.cancel()
	for range ra.batches {
	}
	if errors.Is(ra.err, context.Canceled) && ra.parent.Err() == nil {
		return nil
	}
	return ra.err
}
