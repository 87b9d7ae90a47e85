//go:build unix

package store

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
)

// lowOnSpace reports whether the filesystem holding path has less than
// 4 MiB available to this user. SQLite's Go VFS reports a failed write on a
// full filesystem as a generic I/O error; this tells the two apart.
func lowOnSpace(path string) bool {
	var st syscall.Statfs_t
	if err := syscall.Statfs(filepath.Dir(path), &st); err != nil {
		return false
	}
	return uint64(st.Bavail)*uint64(st.Bsize) < 4<<20
}

// writable reports whether this process may write the file (and so
// could be writing it).
func writable(path string) bool {
	return syscall.Access(path, 2 /* W_OK */) == nil
}

// memoryCap is how much memory a SQLite connection may use: maxMemory, or
// a quarter of the address-space limit (ulimit -v) when one is set, since
// the whole cap is reserved as address space when the connection opens.
func memoryCap() int64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_AS, &lim); err != nil || lim.Cur == ^uint64(0) || lim.Cur/4 >= maxMemory {
		return maxMemory
	}
	return max(int64(lim.Cur/4)&^0xffff, 16<<20)
}

// nearFileLimit reports whether this process has (nearly) as many files
// open as its limit allows: SQLite needs two or three at a time beside
// the database (journal, WAL, shared memory, the directory to sync).
func nearFileLimit() bool {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur > 1<<20 {
		return false
	}
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		// Not even one more file could be opened, or no /proc: probe.
		f, ferr := os.Open(os.DevNull)
		if ferr != nil {
			return errors.Is(ferr, syscall.EMFILE) || errors.Is(ferr, syscall.ENFILE)
		}
		f.Close()
		return false
	}
	return uint64(len(entries))+3 >= lim.Cur
}
