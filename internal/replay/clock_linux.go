package replay

import (
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// sleep pauses the calling thread with nanosleep(2). Go's own timers wake
// 0.5 to 1 ms late; a thread prepared by LockThread wakes within tens of
// microseconds, which the spin before each deadline then covers.
func sleep(d time.Duration) {
	ts := unix.NsecToTimespec(int64(d))
	for unix.Nanosleep(&ts, &ts) == unix.EINTR {
	}
}

// LockThread pins the calling goroutine to its OS thread and sets the
// thread's timer slack to 1 ns (the default 50 us would delay every wake-up),
// so that SystemClock's sleeps are precise. Where allowed (root or
// CAP_SYS_NICE) it also gives the thread a low real-time priority
// (SCHED_FIFO 10), so that a busy machine does not make it wait for a CPU
// after each wake-up; the kernel's real-time throttling still leaves other
// tasks 5% of the CPU even if it never slept. Call the returned function to
// undo it all when the replay ends.
func LockThread() (unlock func()) {
	runtime.LockOSThread()
	old, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0)
	oldSched, serr := unix.SchedGetAttr(0, 0)
	rt := serr == nil && unix.SchedSetAttr(0, &unix.SchedAttr{Policy: unix.SCHED_FIFO, Priority: 10}, 0) == nil
	return func() {
		if rt {
			unix.SchedSetAttr(0, oldSched, 0)
		}
		if err == nil && old > 0 {
			unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(old), 0, 0, 0)
		}
		runtime.UnlockOSThread()
	}
}
