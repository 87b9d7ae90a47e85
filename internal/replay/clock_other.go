//go:build !linux

package replay

import "time"

func sleep(d time.Duration) { time.Sleep(d) }

// LockThread does nothing on this system.
func LockThread() (unlock func()) { return func() {} }
