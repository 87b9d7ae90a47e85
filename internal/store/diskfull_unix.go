//go:build unix

package store

import (
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
