//go:build unix

package cli

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// dropPrivileges switches the process to the named user, as tcpdump -Z
// does, once the capture socket and the database are open. The database
// files are handed to that user first so the capture can go on writing and
// the user can read them afterwards.
func dropPrivileges(name string, files ...string) error {
	u, err := user.Lookup(name)
	if err != nil {
		return fmt.Errorf("--user %s: %w", name, err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("--user %s: %w", name, err)
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("--user %s: only root can switch users", name)
	}
	for _, f := range files {
		if err := os.Chown(f, uid, gid); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("--user %s: %w", name, err)
		}
	}
	if err := syscall.Setgroups(nil); err != nil {
		return fmt.Errorf("--user %s: setgroups: %w", name, err)
	}
	if err := syscall.Setgid(gid); err != nil {
		return fmt.Errorf("--user %s: setgid: %w", name, err)
	}
	if err := syscall.Setuid(uid); err != nil {
		return fmt.Errorf("--user %s: setuid: %w", name, err)
	}
	return nil
}
