package daemon

import (
	"log/slog"
	"syscall"
)

// raiseNoFile raises the soft limit of open files to the hard limit (the
// most the process may have without privilege) and returns the limit in
// force. Connections, segments and sockets all take descriptors; the API's
// connection limit is computed from this one.
func raiseNoFile(log *slog.Logger) uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		log.Warn("cannot read the open files limit", "err", err)
		return 1024
	}
	if rl.Cur < rl.Max {
		want := rl
		want.Cur = rl.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
			log.Warn("cannot raise the open files limit", "soft", rl.Cur, "hard", rl.Max, "err", err)
			return rl.Cur
		}
		rl = want
	}
	return rl.Cur
}
