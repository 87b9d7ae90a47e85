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
// so that SystemClock's sleeps are precise. Call the returned function to
// undo it when the replay ends.
func LockThread() (unlock func()) {
	runtime.LockOSThread()
	old, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0)
	return func() {
		if err == nil && old > 0 {
			unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(old), 0, 0, 0)
		}
		runtime.UnlockOSThread()
	}
}
