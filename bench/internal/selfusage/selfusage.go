// Package selfusage is what the bench process itself has used so far, for
// benches that measure the work of a call as the difference of two
// readings: its CPU time and the bytes it has read.
package selfusage

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// CPU is the process's CPU time so far, user and system (getrusage).
func CPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// ReadBytes is the bytes the process has read so far through read(2)
// and its kin, from the page cache or not (rchar in /proc/self/io); 0
// where that file cannot be read.
func ReadBytes() int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "rchar: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}
