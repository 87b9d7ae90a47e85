package daemon

import (
	"testing"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/archive"
)

// TestRetentionRoomWaitsForPass: a commit that would take the free space
// under half retention's floor waits for a pass that begins after it asks
// (it wakes retention), up to roomPasses passes or roomWait; it does not
// wait while there is room, when the last pass could make no more
// (short), or once retention has stopped. The passes here are made by
// hand, so the test says when retention runs: the free space is what
// statfs says of the test's directory, and the floor is set above or far
// below it.
func TestRetentionRoomWaitsForPass(t *testing.T) {
	l := newRetentionLab(t, "  min_free: 1MiB")
	r := l.d.ret
	free, _ := archive.DiskSpace(l.dir)
	if free <= 0 {
		t.Fatalf("statfs of the test's directory: %d bytes free", free)
	}
	// passes stands for the loop: it makes a pass whenever woken, after
	// lag, that deletes deletes segments, and reports each pass's end.
	passes := func(lag time.Duration, deletes int64) (ended chan time.Time, stop func()) {
		ended = make(chan time.Time, 16)
		quit := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				select {
				case <-quit:
					return
				case <-r.wake:
				}
				select {
				case <-quit:
					return
				case <-time.After(lag):
				}
				r.deletedSegments.Add(deletes) // deleted, yet not enough
				close(r.passBegins())
				ended <- time.Now()
			}
		}()
		return ended, func() { close(quit); <-done }
	}
	waits := func() int64 { return r.roomWaits.Load() }

	// Room: no wait, no pass asked for.
	r.floorBytes.Store(free / 4)
	if took := timed(func() { r.room(1 << 10) }); took > 100*time.Millisecond || waits() != 0 || len(r.wake) != 0 {
		t.Errorf("with room: waited %v (%d waits, %d passes asked)", took, waits(), len(r.wake))
	}

	// Under half the floor: the commit waits for the pass it asks for;
	// the pass leaves the filesystem as it was (still under half the
	// floor), so it waits for roomPasses of them.
	r.floorBytes.Store(4 * free)
	ended, stop := passes(100*time.Millisecond, 1)
	var took time.Duration
	took = timed(func() { r.room(1 << 10) })
	stop()
	if n := len(ended); n != roomPasses {
		t.Errorf("the commit waited for %d passes, want %d", n, roomPasses)
	}
	if took < roomPasses*100*time.Millisecond || took >= roomWait+200*time.Millisecond {
		t.Errorf("the commit waited %v for %d passes of 100 ms", took, roomPasses)
	}
	if waits() != 1 || r.roomTimeouts.Load() != 0 || r.roomMaxNS.Load() < int64(roomPasses*100*time.Millisecond) {
		t.Errorf("counted %d waits, %d timeouts, longest %v", waits(), r.roomTimeouts.Load(), time.Duration(r.roomMaxNS.Load()))
	}

	// A pass that is late past roomWait: the commit goes on at roomWait.
	_, stop = passes(3*roomWait, 1)
	took = timed(func() { r.room(1 << 10) })
	if took < roomWait || took > roomWait+500*time.Millisecond || r.roomTimeouts.Load() != 1 {
		t.Errorf("retention stalled: the commit waited %v (%d timeouts), want %v", took, r.roomTimeouts.Load(), roomWait)
	}
	stop()

	// A pass that deletes nothing: retention can do no more, the
	// commit waits for that one pass only.
	ended, stop = passes(100*time.Millisecond, 0)
	took = timed(func() { r.room(1 << 10) })
	stop()
	if n := len(ended); n != 1 || took >= 300*time.Millisecond {
		t.Errorf("passes that delete nothing: the commit waited %v for %d passes, want 1", took, n)
	}
	// Each wait asked the next pass for the commit's room above half
	// the floor.
	if got, want := r.roomNeed.Load(), int64(1<<10)+4*free/2; got != want {
		t.Errorf("the room asked of retention: %d, want %d", got, want)
	}

	// The last pass could make no more room: no wait.
	r.short.Store(true)
	before := waits()
	if took := timed(func() { r.room(1 << 10) }); took > 100*time.Millisecond || waits() != before {
		t.Errorf("retention short of room: waited %v", took)
	}
	r.short.Store(false)

	// Retention has stopped: no wait past it.
	close(r.loopDone)
	if took := timed(func() { r.room(1 << 10) }); took > 100*time.Millisecond {
		t.Errorf("retention stopped: waited %v", took)
	}
}

func timed(f func()) time.Duration {
	start := time.Now()
	f()
	return time.Since(start)
}
