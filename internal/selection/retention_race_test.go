package selection

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/archive"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

// TestSelectionDuringRetention: readers select and walk a store while a
// recording rolls a segment over at every commit and retention expires
// all but the newest few and reaps the trash, as fast as it can. Every
// walk ends without error, and reads whole segments: a segment is read
// whole or (gone before it could be pinned) not at all, so every run of
// consecutive packets begins at a segment's first packet and ends at a
// segment's last.
func TestSelectionDuringRetention(t *testing.T) {
	testSelectionDuringRetention(t, "")
}

// TestSelectionDuringRetentionFiltered is the same with a filter that
// one segment in four matches, which the segments' summaries answer: no
// closed segment is ever taken for one without a summary (retention
// deletes a summary with its row, maybe after the selection chose the
// segment).
func TestSelectionDuringRetentionFiltered(t *testing.T) {
	testSelectionDuringRetention(t, "udp and dst port 2000")
}

func testSelectionDuringRetention(t *testing.T, expr string) {
	const (
		per  = 50 // packets a commit, and so a segment
		keep = 3  // closed segments retention keeps
		run  = 3 * time.Second
	)
	dir := filepath.Join(t.TempDir(), "store")
	ret, err := archive.Open(dir, archive.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ret.Close()
	rec, err := archive.NewRecording(dir, archive.RecordingConfig{Interface: "eth0", LinkType: 1, MaxBytes: 1, Compression: store.Compression{None: true}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), run)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	// The recorder: one segment a commit.
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer rec.Close()
		var b store.Block
		for i := 0; ctx.Err() == nil; {
			b.Reset(1)
			for j := 0; j < per; j++ {
				// Each segment's packets go to one port of four.
				// (udpFrame's length fields say no payload: filters
				// read headers only.)
				data := binary.BigEndian.AppendUint64(udpFrame(1000, uint16(2000+i/per%4)), uint64(i))
				b.Append(int64(1e18)+int64(i)*1000, len(data), data)
				i++
			}
			if err := rec.Append(&b); err != nil {
				errs <- err
				return
			}
			if err := rec.Commit(); err != nil {
				errs <- err
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	// Retention: all but the newest closed segments go, and the trash is
	// freed, at once.
	deleted := 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			segs, err := ret.Segments()
			if err != nil {
				errs <- err
				return
			}
			var closed []archive.Segment
			for _, s := range segs {
				if s.Closed {
					closed = append(closed, s)
				}
			}
			for i := 0; i < len(closed)-keep; i++ {
				if err := ret.Expire(closed[i]); err != nil {
					errs <- err
					return
				}
				deleted++
			}
			if err := ret.Reap(nil); err != nil {
				errs <- err
				return
			}
		}
	}()
	// The readers, until the first fault (then the others stop before
	// the test ends).
	walks, packets, skipped := 0, 0, int64(0)
	fault := ""
	for ctx.Err() == nil && fault == "" {
		sl, err := Open(context.Background(), Spec{Database: dir, Filter: expr})
		if err != nil {
			fault = fmt.Sprintf("walk %d: open: %v", walks, err)
			break
		}
		prev := int64(-1)
		err = sl.Walk(context.Background(), 0, func(r store.Record) error {
			n := r.Number - 1 // numbers from 1, the data from 0
			if got := int64(binary.BigEndian.Uint64(r.Data[42:])); got != n {
				return fmt.Errorf("packet %d holds %d", r.Number, got)
			}
			if n != prev+1 && (prev >= 0 && (prev+1)%per != 0 || n%per != 0) {
				return fmt.Errorf("packet %d after %d: a segment (of %d packets) read in part", n, prev, per)
			}
			prev = n
			packets++
			return nil
		})
		st := sl.PlanStats()
		sl.Close()
		switch {
		case err != nil:
			fault = fmt.Sprintf("walk %d: %v", walks, err)
		case st.Unsummarized != 0:
			fault = fmt.Sprintf("walk %d: %d of %d closed segments without a usable summary (each was closed with one)", walks, st.Unsummarized, st.Segments)
		}
		skipped += st.SegmentsSkipped
		walks++
	}
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if fault != "" {
		t.Fatal(fault)
	}
	t.Logf("%d walks read %d packets, %d segments skipped by their summaries; retention deleted %d segments", walks, packets, skipped, deleted)
	if deleted == 0 || walks < 10 || packets == 0 {
		t.Errorf("%d walks, %d packets, %d segments deleted: the test did not race", walks, packets, deleted)
	}
	if expr != "" && skipped == 0 {
		t.Errorf("no segment skipped by its summary: the summary check did not run")
	}
}

// TestSegmentPastPinCapGoneIsSkipped: a selection pins its first maxPins
// segments when it opens and the rest as the walk reaches them; one of
// those that retention deleted meanwhile is left out, as one gone before
// the selection could pin it is, and never fails the walk or the count.
func TestSegmentPastPinCapGoneIsSkipped(t *testing.T) {
	const per, segments = 10, maxPins + 20
	dir := filepath.Join(t.TempDir(), "store")
	ret, err := archive.Open(dir, archive.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ret.Close()
	rec, err := archive.NewRecording(dir, archive.RecordingConfig{Interface: "eth0", LinkType: 1, MaxBytes: 1, Compression: store.Compression{None: true}})
	if err != nil {
		t.Fatal(err)
	}
	var b store.Block
	for i := 0; i < per*segments; {
		b.Reset(1)
		for j := 0; j < per; j++ {
			b.Append(int64(1e18)+int64(i)*1000, 50, binary.BigEndian.AppendUint64(udpFrame(1000, 2000), uint64(i)))
			i++
		}
		if err := rec.Append(&b); err != nil {
			t.Fatal(err)
		}
		if err := rec.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	segs, err := ret.Segments()
	if err != nil || len(segs) != segments {
		t.Fatalf("%d segments, want %d: %v", len(segs), segments, err)
	}
	gone := segs[maxPins+5] // pinned only when the walk reaches it
	for _, expr := range []string{"", "udp"} {
		sl, err := Open(context.Background(), Spec{Database: dir, Filter: expr})
		if err != nil {
			t.Fatal(err)
		}
		if expr == "" {
			if err := ret.Expire(gone); err != nil {
				t.Fatal(err)
			}
			if err := ret.Reap(nil); err != nil {
				t.Fatal(err)
			}
			n, err := sl.Count(context.Background())
			if err != nil || n != per*(segments-1) {
				t.Errorf("count: %d packets, want %d: %v", n, per*(segments-1), err)
			}
		}
		var got []int64
		err = sl.Walk(context.Background(), 0, func(r store.Record) error {
			got = append(got, r.Number)
			return nil
		})
		sl.Close()
		if err != nil {
			t.Fatalf("walk %q: %v", expr, err)
		}
		// Every packet but the gone segment's, in order.
		want := int64(1)
		for _, n := range got {
			if want == gone.FirstPacket {
				want += per
			}
			if n != want {
				t.Fatalf("walk %q: packet %d where %d was due (segment %d-%d gone)", expr, n, want, gone.FirstPacket, gone.FirstPacket+per-1)
			}
			want++
		}
		if len(got) != per*(segments-1) {
			t.Errorf("walk %q: %d packets, want %d", expr, len(got), per*(segments-1))
		}
	}
}

// TestEmptyOpenSegmentRemovedIsSkipped: a recording opens its next
// segment ahead of the next commit and removes it, empty, when it stops;
// a selection that had chosen and pinned it reads every packet of the
// others and leaves it out, without error.
func TestEmptyOpenSegmentRemovedIsSkipped(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	ret, err := archive.Open(dir, archive.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ret.Close()
	rec, err := archive.NewRecording(dir, archive.RecordingConfig{Interface: "eth0", LinkType: 1, MaxBytes: 1})
	if err != nil {
		t.Fatal(err)
	}
	appendPackets(t, rec, 0, 10) // rolls over: the next segment is open, empty
	segs, _ := ret.Segments()
	if len(segs) != 2 || !segs[0].Closed || segs[1].Closed || segs[1].Packets != 0 {
		t.Fatalf("segments %+v, want one closed and one open, empty", segs)
	}
	sl, err := Open(context.Background(), Spec{Database: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer sl.Close()
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(ret.Path(segs[1])); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the empty open segment is still there (%v): the test did not test", err)
	}
	n := 0
	err = sl.Walk(context.Background(), 0, func(r store.Record) error {
		n++
		return nil
	})
	if err != nil || n != 10 {
		t.Errorf("walk: %d packets, want 10: %v", n, err)
	}
}
