package selection

import (
	"container/heap"
	"iter"

	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

// stream is one time-ordered sequence of selected packets: a session's,
// a recording's, a file's. Its records are valid until the next is asked
// for.
type stream = iter.Seq2[store.Record, error]

// pushed is a stream of a reader that calls emit for each record (an
// error from emit ends the read with it; store.ErrStop ends it well).
func pushed(read func(emit func(store.Record) error) error) stream {
	return func(yield func(store.Record, error) bool) {
		stopped := false
		err := read(func(rec store.Record) error {
			if !yield(rec, nil) {
				stopped = true
				return store.ErrStop
			}
			return nil
		})
		if err != nil && !stopped {
			yield(store.Record{}, err)
		}
	}
}

// merge calls emit for the records of the streams, merged by timestamp
// (ties: the earlier stream first), until emit says to stop or returns an
// error. A single stream is read directly.
func merge(streams []stream, emit func(store.Record) (bool, error)) error {
	if len(streams) == 1 {
		for rec, err := range streams[0] {
			if err != nil {
				return err
			}
			if more, err := emit(rec); !more || err != nil {
				return err
			}
		}
		return nil
	}
	h := &mergeHeap{}
	var stops []func()
	defer func() {
		for _, stop := range stops {
			stop()
		}
	}()
	for k, seq := range streams {
		next, stop := iter.Pull2(seq)
		stops = append(stops, stop)
		rec, err, ok := next()
		if err != nil {
			return err
		}
		if ok {
			heap.Push(h, mergeItem{rec, k, next})
		}
	}
	for h.Len() > 0 {
		top := (*h)[0]
		if more, err := emit(top.rec); !more || err != nil {
			return err
		}
		rec, err, ok := top.next()
		if err != nil {
			return err
		}
		if ok {
			(*h)[0].rec = rec
			heap.Fix(h, 0)
		} else {
			heap.Pop(h)
		}
	}
	return nil
}

type mergeItem struct {
	rec  store.Record
	k    int // the stream's index, for ties
	next func() (store.Record, error, bool)
}

type mergeHeap []mergeItem

func (h mergeHeap) Len() int { return len(h) }
func (h mergeHeap) Less(i, j int) bool {
	a, b := h[i].rec, h[j].rec
	if a.Timestamp != b.Timestamp {
		return a.Timestamp < b.Timestamp
	}
	return h[i].k < h[j].k
}
func (h mergeHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *mergeHeap) Push(x any)   { *h = append(*h, x.(mergeItem)) }
func (h *mergeHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}
