package replay

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

// sliceSource is a Source over records in memory, which it hands out as
// a store hands out its own: Data valid during the call only.
type sliceSource []store.Record

func (s sliceSource) Walk(ctx context.Context, limit int64, fn func(store.Record) error) error {
	var buf []byte
	for i, rec := range s {
		if limit > 0 && int64(i) >= limit {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		buf = append(buf[:0], rec.Data...)
		rec.Data = buf
		if err := fn(rec); err != nil {
			if errors.Is(err, store.ErrStop) {
				return nil
			}
			return err
		}
		clear(buf) // a reader that kept Data sees it change
	}
	return nil
}

// frameFor is packet i's content: sizes from 60 bytes to 1.5 KB, and every
// 700th frame as large as a whole batch's buffer (the largest snaplen).
func frameFor(i int) []byte {
	n := 60 + (i*37)%1440
	if i%700 == 699 {
		n = batchBytes
	}
	f := make([]byte, n)
	for j := range f {
		f[j] = byte(i + j*7)
	}
	return f
}

// TestReadAhead checks the replay reader against the packets it was given:
// every packet once per pass, in order, byte for byte, across batch
// boundaries and recycled batches; --loop and -c across passes; a
// selection matching nothing ends even with --loop 0; stop mid-way is no
// error, a cancelled parent is.
func TestReadAhead(t *testing.T) {
	const n = 3000
	var all sliceSource
	for i := 0; i < n; i++ {
		fr := frameFor(i)
		all = append(all, store.Record{Number: int64(i + 1), Timestamp: int64(1e18) + int64(i)*1e6, OrigLen: len(fr), LinkType: 1, Data: fr})
	}

	type got struct {
		pass, count int64
	}
	play := func(src Source, passes, count int64, stopAfter int) (got, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		ra := startReadAhead(ctx, src, passes, count)
		var g got
		g.pass = -1
		i := 0
	loop:
		for b := range ra.batches {
			if b.pass != g.pass {
				if b.pass != g.pass+1 || (g.pass >= 0 && i != n) {
					t.Errorf("pass %d began after %d packets of pass %d", b.pass, i, g.pass)
				}
				g.pass, i = b.pass, 0
			}
			for _, rec := range b.recs {
				if rec.Number != int64(i+1) || !bytes.Equal(rec.Data, frameFor(i)) {
					t.Fatalf("pass %d: packet %d is number %d, %d bytes", g.pass, i+1, rec.Number, len(rec.Data))
				}
				i++
				g.count++
				if stopAfter > 0 && int(g.count) == stopAfter {
					break loop
				}
			}
			ra.done(b)
		}
		if ctx.Err() != nil {
			t.Fatal("read-ahead did not end")
		}
		return g, ra.stop()
	}
	for _, c := range []struct {
		passes, count int64
		want          got
	}{
		{1, 0, got{0, n}},
		{3, 0, got{2, 3 * n}},
		{0, 2*n + 500, got{2, 2*n + 500}},
		{2, 100, got{0, 100}},
	} {
		g, err := play(all, c.passes, c.count, 0)
		if err != nil || g != c.want {
			t.Errorf("passes %d count %d: got pass %d, %d packets, err %v; want %+v", c.passes, c.count, g.pass, g.count, err, c.want)
		}
	}
	if g, err := play(sliceSource{}, 0, 0, 0); err != nil || g.count != 0 {
		t.Errorf("a selection matching nothing, --loop 0: %d packets, %v", g.count, err)
	}
	if g, err := play(all, 0, 0, 5000); err != nil || g.count != 5000 {
		t.Errorf("stopped after 5000 of an endless replay: %d packets, %v", g.count, err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	ra := startReadAhead(ctx, all, 0, 0)
	<-ra.batches
	cancel()
	if err := ra.stop(); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled replay: reader says %v, want context.Canceled", err)
	}
}
