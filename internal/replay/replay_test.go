package replay

import (
	"context"
	"testing"
	"time"
)

// fakeClock advances only when slept on, plus a fixed cost per reading,
// which models the spin loop's clock reads.
type fakeClock struct {
	now    time.Time
	perNow time.Duration
	slept  []time.Duration
}

func (c *fakeClock) Now() time.Time { c.now = c.now.Add(c.perNow); return c.now }
func (c *fakeClock) Sleep(d time.Duration) {
	c.slept = append(c.slept, d)
	c.now = c.now.Add(d + 30*time.Microsecond) // timers wake late
}

func TestScheduleIsAbsolute(t *testing.T) {
	for _, speed := range []float64{0.5, 1, 2, 10} {
		clk := &fakeClock{now: time.Unix(1000, 0), perNow: 100 * time.Nanosecond}
		s := NewScheduler(clk, speed)
		ts := []int64{0, 50e3, 20e6, 20.1e6, 40e6, 1e9}
		base := int64(1_700_000_000e9)
		var start time.Time
		for i, t0 := range ts {
			at, err := s.Wait(context.Background(), base+t0)
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				start = s.Start()
			}
			due := start.Add(time.Duration(float64(t0) / speed))
			if late := at.Sub(due); late < 0 || late > time.Microsecond {
				t.Errorf("speed %g packet %d released %v after its deadline", speed, i, late)
			}
		}
		// Errors never accumulate: the last deadline is exact.
		if got, want := s.Deadline(base+ts[len(ts)-1]).Sub(start), time.Duration(float64(1e9)/speed); got != want {
			t.Errorf("speed %g: last deadline %v, want %v", speed, got, want)
		}
		if e := s.Errors(); e.Max > time.Microsecond || e.P50 < 0 {
			t.Errorf("speed %g: errors %+v", speed, e)
		}
	}
}

func TestSleepsAreBoundedAndSpinCoversTheRest(t *testing.T) {
	clk := &fakeClock{now: time.Unix(0, 0), perNow: 50 * time.Nanosecond}
	s := NewScheduler(clk, 1)
	s.Wait(context.Background(), 0)
	s.Wait(context.Background(), int64(time.Second))
	for _, d := range clk.slept {
		if d > maxNap {
			t.Errorf("slept %v in one go, more than %v", d, maxNap)
		}
	}
	if len(clk.slept) < 10 {
		t.Errorf("a 1 s gap took %d sleeps", len(clk.slept))
	}
}

func TestTopSpeedNeverWaits(t *testing.T) {
	clk := &fakeClock{now: time.Unix(0, 0)}
	s := NewScheduler(clk, 0)
	for i := int64(0); i < 100; i++ {
		s.Wait(context.Background(), i*int64(time.Second))
	}
	if len(clk.slept) != 0 {
		t.Errorf("speed 0 slept %d times", len(clk.slept))
	}
}

func TestWaitStopsOnCancel(t *testing.T) {
	clk := &fakeClock{now: time.Unix(0, 0)}
	s := NewScheduler(clk, 1)
	ctx, cancel := context.WithCancel(context.Background())
	s.Wait(ctx, 0)
	cancel()
	if _, err := s.Wait(ctx, int64(time.Hour)); err == nil {
		t.Error("Wait returned nil after cancel")
	}
	if clk.now.Sub(time.Unix(0, 0)) > time.Second {
		t.Errorf("cancelled wait advanced the clock by %v", clk.now.Sub(time.Unix(0, 0)))
	}
}

func TestBackwardsTimestampsSendAtOnce(t *testing.T) {
	clk := &fakeClock{now: time.Unix(0, 0)}
	s := NewScheduler(clk, 1)
	s.Wait(context.Background(), 10e9)
	if d := s.Deadline(5e9); !d.Equal(s.Start()) {
		t.Errorf("earlier timestamp due at %v, want the start", d.Sub(s.Start()))
	}
}
