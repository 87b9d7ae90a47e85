package replay

import (
	"runtime"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// rtSleeps is set by LockThread when the thread may use SCHED_FIFO: it
// then sleeps at real-time priority and spins at normal priority.
var rtSleeps atomic.Bool

// sleep pauses the calling thread with nanosleep(2). Go's own timers wake
// 0.5 to 1 ms late; a thread prepared by LockThread wakes within tens of
// microseconds, which the spin before each deadline then covers. Only the
// sleep runs at real-time priority: a waking real-time thread preempts
// ordinary ones at once, while a real-time thread that spun for most of a
// second would be throttled by the kernel for the rest of it.
func sleep(d time.Duration) {
	rt := rtSleeps.Load()
	if rt {
		unix.SchedSetAttr(0, &unix.SchedAttr{Policy: unix.SCHED_FIFO, Priority: 10}, 0)
	}
	ts := unix.NsecToTimespec(int64(d))
	for unix.Nanosleep(&ts, &ts) == unix.EINTR {
	}
	if rt {
		unix.SchedSetAttr(0, &unix.SchedAttr{Policy: unix.SCHED_NORMAL}, 0)
	}
}

// LockThread pins the calling goroutine to its OS thread and sets the
// thread's timer slack to 1 ns (the default 50 us would delay every wake-up),
// so that SystemClock's sleeps are precise. Where allowed (root or
// CAP_SYS_NICE) the sleeps also run at SCHED_FIFO priority 10, so that a
// busy machine does not make the thread wait for a CPU after each wake-up.
// Call the returned function to undo it all when the replay ends.
func LockThread() (unlock func()) {
	runtime.LockOSThread()
	old, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0)
	oldSched, serr := unix.SchedGetAttr(0, 0)
	if serr == nil && unix.SchedSetAttr(0, &unix.SchedAttr{Policy: unix.SCHED_FIFO, Priority: 10}, 0) == nil {
		unix.SchedSetAttr(0, oldSched, 0)
		rtSleeps.Store(true)
	}
	return func() {
		rtSleeps.Store(false)
		if err == nil && old > 0 {
			unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(old), 0, 0, 0)
		}
		runtime.UnlockOSThread()
	}
}
