package replay

import "time"

// idleClasses divides the time since the previous release into ranges a
// factor of 4 apart, from 16 us to 16 ms: within one range the send path
// is about as cold, and so about as slow.
const idleClasses = 7

func idleClass(idle time.Duration) int {
	c := 0
	for limit := 16 * time.Microsecond; c < idleClasses-1 && idle >= limit; limit *= 4 {
		c++
	}
	return c
}

// latencyModel estimates, per idle class, how long a frame takes from its
// release to the driver. Each estimate follows its observations by an
// eighth of the difference, the difference capped at maxStep so that one
// outlier (an interrupt, a preemption) moves it little: it tracks a
// central value, not the mean of a heavy tail.
type latencyModel struct {
	est  [idleClasses]time.Duration
	seen [idleClasses]bool
}

const (
	maxStep    = 4 * time.Microsecond
	maxLatency = 200 * time.Microsecond
)

// predict returns the expected latency for the class: its own estimate,
// or before it has one, that of the nearest warmer class that has.
func (m *latencyModel) predict(class int) time.Duration {
	for c := class; c >= 0; c-- {
		if m.seen[c] {
			return m.est[c]
		}
	}
	return 0
}

// observe moves the class's estimate towards d. A class's first
// observation moves it from the prediction it had by up to maxStep.
func (m *latencyModel) observe(class int, d time.Duration) {
	d = min(max(d, 0), maxLatency)
	if !m.seen[class] {
		m.est[class] = m.predict(class) + min(max(d-m.predict(class), -maxStep), maxStep)
		m.seen[class] = true
		return
	}
	m.est[class] += min(max(d-m.est[class], -maxStep), maxStep) / 8
}
