package replay

import (
	"context"
	"math"
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
		s := NewScheduler(clk, Pace{Speed: speed})
		ts := []int64{0, 50e3, 20e6, 20.1e6, 40e6, 1e9}
		base := int64(1_700_000_000e9)
		for i, t0 := range ts {
			slot, err := s.Wait(context.Background(), base+t0, 100)
			if err != nil {
				t.Fatal(err)
			}
			due := s.Start().Add(time.Duration(float64(t0) / speed))
			if !slot.Due.Equal(due) {
				t.Errorf("speed %g packet %d due at %v, want %v", speed, i, slot.Due, due)
			}
			if late := slot.Release.Sub(due); late < 0 || late > time.Microsecond {
				t.Errorf("speed %g packet %d released %v after its deadline", speed, i, late)
			}
			s.Sent(slot, time.Time{}, false)
		}
		if e := s.Errors(); e.Max > time.Microsecond || e.P50 > e.P99 || e.P99 > e.Max {
			t.Errorf("speed %g: errors %+v", speed, e)
		}
	}
}

func TestFixedRates(t *testing.T) {
	s := NewScheduler(&fakeClock{now: time.Unix(0, 0)}, Pace{PPS: 1000})
	for i := 0; i < 5; i++ {
		if off := s.Offset(int64(i)*7e9, 60); off != time.Duration(i)*time.Millisecond {
			t.Errorf("pps packet %d at %v", i, off)
		}
	}
	// 8 Mbit/s: a 1000-byte frame takes 1 ms; each packet waits for the bits before it.
	s = NewScheduler(&fakeClock{now: time.Unix(0, 0)}, Pace{Mbps: 8})
	for i := 0; i < 5; i++ {
		if off := s.Offset(0, 1000); off != time.Duration(i)*time.Millisecond {
			t.Errorf("mbps packet %d at %v", i, off)
		}
	}
}

func TestLoopsContinueTheSchedule(t *testing.T) {
	s := NewScheduler(&fakeClock{now: time.Unix(0, 0)}, Pace{Speed: 1})
	var offs []time.Duration
	for loop := 0; loop < 3; loop++ {
		if loop > 0 {
			s.NextLoop()
		}
		for _, ts := range []int64{5e9, 5e9 + 1e6, 5e9 + 3e6} {
			offs = append(offs, s.Offset(ts, 60))
		}
	}
	want := []time.Duration{0, 1e6, 3e6, 3e6, 4e6, 6e6, 6e6, 7e6, 9e6}
	for i := range want {
		if offs[i] != want[i] {
			t.Fatalf("offsets %v, want %v", offs, want)
		}
	}
}

func TestSleepsAreBoundedAndSpinCoversTheRest(t *testing.T) {
	clk := &fakeClock{now: time.Unix(0, 0), perNow: 50 * time.Nanosecond}
	s := NewScheduler(clk, Pace{Speed: 1})
	s.Wait(context.Background(), 0, 60)
	s.Wait(context.Background(), int64(time.Second), 60)
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
	s := NewScheduler(clk, Pace{})
	for i := int64(0); i < 100; i++ {
		s.Wait(context.Background(), i*int64(time.Second), 60)
	}
	if len(clk.slept) != 0 {
		t.Errorf("speed 0 slept %d times", len(clk.slept))
	}
}

func TestWaitStopsOnCancel(t *testing.T) {
	clk := &fakeClock{now: time.Unix(0, 0), perNow: 100 * time.Nanosecond}
	s := NewScheduler(clk, Pace{Speed: 1})
	ctx, cancel := context.WithCancel(context.Background())
	s.Wait(ctx, 0, 60)
	cancel()
	if _, err := s.Wait(ctx, int64(time.Hour), 60); err == nil {
		t.Error("Wait returned nil after cancel")
	}
	if clk.now.Sub(time.Unix(0, 0)) > time.Second {
		t.Errorf("cancelled wait advanced the clock by %v", clk.now.Sub(time.Unix(0, 0)))
	}
}

// A timestamp that goes back is no gap; the packets after it keep their
// spacing, relative to it (as tcpreplay plays them), instead of being
// sent at once until the old time is reached again.
func TestBackwardJumpIsNoGap(t *testing.T) {
	s := NewScheduler(&fakeClock{now: time.Unix(0, 0)}, Pace{Speed: 2})
	ts := []int64{10e9, 11e9, 12e9, 5e9, 5.5e9, 7e9, 6e9, 13e9}
	// Elapsed recorded time, counting a step back as no gap: 0, 1, 2,
	// 2 (back), 2.5, 4, 4 (back), 11 s; halved at speed 2.
	want := []time.Duration{0, 500 * time.Millisecond, time.Second, time.Second, 1250 * time.Millisecond, 2 * time.Second, 2 * time.Second, 5500 * time.Millisecond}
	for i, t0 := range ts {
		if off := s.Offset(t0, 60); off != want[i] {
			t.Errorf("packet %d (ts %d) due at %v, want %v", i+1, t0, off, want[i])
		}
	}
	if n := s.BackwardJumps(); n != 2 {
		t.Errorf("BackwardJumps = %d, want 2", n)
	}
	// Extreme timestamps saturate instead of wrapping around.
	s = NewScheduler(&fakeClock{now: time.Unix(0, 0)}, Pace{Speed: 1})
	for _, t0 := range []int64{math.MinInt64, math.MaxInt64, math.MinInt64, math.MaxInt64} {
		if off := s.Offset(t0, 60); off < 0 {
			t.Fatalf("offset %v went negative", off)
		}
	}
}

func TestHistogramQuantiles(t *testing.T) {
	var h histogram
	for i := 1; i <= 1000; i++ {
		h.add(time.Duration(i) * time.Microsecond) // 1 us .. 1 ms
	}
	if p50 := h.quantile(0.5); p50 < 500*time.Microsecond || p50 > 510*time.Microsecond {
		t.Errorf("p50 %v", p50)
	}
	if p99 := h.quantile(0.99); p99 < 990*time.Microsecond || p99 > 1000*time.Microsecond {
		t.Errorf("p99 %v", p99)
	}
	if h.max != time.Millisecond {
		t.Errorf("max %v", h.max)
	}
}

// slowPath models a send path that is fast when used recently and slow
// after a pause: the frame reaches the driver warm or cold after release.
type slowPath struct {
	last       time.Time
	warm, cold time.Duration
}

func (p *slowPath) latency(release time.Time) time.Duration {
	defer func() { p.last = release }()
	if !p.last.IsZero() && release.Sub(p.last) < 200*time.Microsecond {
		return p.warm
	}
	return p.cold
}

func TestSchedulerLearnsTheSendLatency(t *testing.T) {
	clk := &fakeClock{now: time.Unix(0, 0), perNow: 20 * time.Nanosecond}
	path := &slowPath{warm: 2 * time.Microsecond, cold: 14 * time.Microsecond}
	s := NewScheduler(clk, Pace{Speed: 1})
	// Alternate short (50 us) and long (10 ms) gaps: the frame after a
	// long gap takes 12 us longer to reach the driver.
	var ts int64
	var errs []time.Duration
	for i := 0; i < 400; i++ {
		if i%2 == 0 {
			ts += int64(10 * time.Millisecond)
		} else {
			ts += int64(50 * time.Microsecond)
		}
		slot, err := s.Wait(context.Background(), ts, 100)
		if err != nil {
			t.Fatal(err)
		}
		at := slot.Release.Add(path.latency(slot.Release))
		s.Sent(slot, at, true)
		errs = append(errs, abs(at.Sub(slot.Due)))
	}
	// Learnt: the last 100 frames reach the driver within 1 us of due,
	// warm and cold alike.
	for i, e := range errs[300:] {
		if e > time.Microsecond {
			t.Errorf("frame %d reached the driver %v off its deadline", 300+i, e)
		}
	}
	if e := s.Errors(); e.P50 > time.Microsecond || e.Max < 10*time.Microsecond {
		t.Errorf("errors %+v: want a small median and the untrained first frames as max", e)
	}
	// The first frame left 14 us after its deadline (cold, untrained), the
	// last within a microsecond of its own: the replay ran 13 us short.
	if d := s.Drift(); d > -12*time.Microsecond || d < -15*time.Microsecond {
		t.Errorf("drift %v, want about -13 us", d)
	}
}

func TestPrimeBeforeReleasesAfterAPause(t *testing.T) {
	clk := &fakeClock{now: time.Unix(0, 0), perNow: 100 * time.Nanosecond}
	s := NewScheduler(clk, Pace{Speed: 1})
	var primed []time.Time
	var sizes []int
	s.Prime = func(size int) { primed = append(primed, clk.now); sizes = append(sizes, size) }
	gaps := []time.Duration{0, 20 * time.Microsecond, 5 * time.Millisecond, 30 * time.Microsecond, 150 * time.Microsecond}
	var ts int64
	var releases []time.Time
	for i, g := range gaps {
		ts += int64(g)
		slot, err := s.Wait(context.Background(), ts, 100+i)
		if err != nil {
			t.Fatal(err)
		}
		releases = append(releases, slot.Release)
		s.Sent(slot, time.Time{}, false)
	}
	// The first packet has no pause before it that the scheduler knows
	// of, but no previous send either: it is primed, as are the ones
	// after 5 ms and 150 us; the ones 20 and 30 us after another are not.
	want := []int{0, 2, 4}
	if len(primed) != len(want) {
		t.Fatalf("primed %d times (sizes %v), want %d", len(primed), sizes, len(want))
	}
	for i, p := range want {
		if sizes[i] != 100+p {
			t.Errorf("prime %d for a %d-byte frame, want %d", i, sizes[i], 100+p)
		}
		if lead := releases[p].Sub(primed[i]); lead < 0 || lead > primeLead {
			t.Errorf("packet %d primed %v before release, want within %v", p, lead, primeLead)
		}
	}
}

func TestIdleClasses(t *testing.T) {
	for _, c := range []struct {
		idle time.Duration
		want int
	}{{0, 0}, {15 * time.Microsecond, 0}, {16 * time.Microsecond, 1}, {63 * time.Microsecond, 1},
		{64 * time.Microsecond, 2}, {time.Millisecond, 3}, {2 * time.Millisecond, 4}, {20 * time.Millisecond, 6}, {time.Hour, 6}} {
		if got := idleClass(c.idle); got != c.want {
			t.Errorf("idleClass(%v) = %d, want %d", c.idle, got, c.want)
		}
	}
}

func TestLatencyModelIgnoresOutliers(t *testing.T) {
	var m latencyModel
	for i := 0; i < 100; i++ {
		m.observe(3, 5*time.Microsecond)
	}
	m.observe(3, 500*time.Microsecond) // one preempted send
	if p := m.predict(3); p > 6*time.Microsecond {
		t.Errorf("one outlier moved the estimate to %v", p)
	}
	if p := m.predict(5); p != m.predict(3) {
		t.Errorf("an unseen class predicts %v, want its warmer neighbour's %v", p, m.predict(3))
	}
	if p := m.predict(1); p != 0 {
		t.Errorf("a class with no warmer data predicts %v, want 0", p)
	}
}

func TestWaitStopsOnCancelWithoutSleeping(t *testing.T) {
	clk := &fakeClock{now: time.Unix(0, 0), perNow: 100 * time.Nanosecond}
	s := NewScheduler(clk, Pace{PPS: 1e6}) // 1 us apart: never a nap
	ctx, cancel := context.WithCancel(context.Background())
	for i := 0; i < 3; i++ {
		if _, err := s.Wait(ctx, 0, 60); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	if _, err := s.Wait(ctx, 0, 60); err == nil {
		t.Error("Wait returned nil after cancel between close packets")
	}
}

func TestSlowSpeedsSaturate(t *testing.T) {
	s := NewScheduler(&fakeClock{now: time.Unix(0, 0)}, Pace{Speed: 1e-9})
	s.Offset(0, 60)
	if off := s.Offset(int64(3*time.Hour), 60); off <= 0 {
		t.Errorf("3 hours at speed 1e-9 due at %v, want far in the future", off)
	}
}
