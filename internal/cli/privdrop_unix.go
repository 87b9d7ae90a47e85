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

// PrivateFiles makes every file this process creates private to its
// owner: the database's journal, WAL and shared-memory files hold packet
// payloads as the database does, and SQLite creates them with the
// process's umask.
func PrivateFiles() {
	syscall.Umask(syscall.Umask(0) | 0o077)
}

// runAs is a user to switch to, as tcpdump -Z does.
type runAs struct {
	name     string
	uid, gid int
}

// lookupUser checks the --user value before anything is created, so that
// a typo leaves no session behind.
func lookupUser(name string) (runAs, error) {
	if name == "" {
		return runAs{}, errors.New("--user needs a user name (is $USER empty? as root, name the user to hand the database to)")
	}
	u, err := user.Lookup(name)
	if err != nil {
		return runAs{}, fmt.Errorf("--user %s: %w", name, err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err := errors.Join(err1, err2); err != nil {
		return runAs{}, fmt.Errorf("--user %s: %w", name, err)
	}
	if os.Geteuid() != 0 && os.Geteuid() != uid {
		return runAs{}, fmt.Errorf("--user %s: only root can switch users", name)
	}
	return runAs{name: name, uid: uid, gid: gid}, nil
}

// dropPrivileges switches the process to the user, once the capture
// socket and the database are open. The database files are handed to
// that user first so the capture can go on writing and the user can read
// them afterwards.
func dropPrivileges(u runAs, files ...string) error {
	if os.Geteuid() == u.uid {
		return nil // already that user
	}
	for _, f := range files {
		if err := os.Chown(f, u.uid, u.gid); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("--user %s: %w", u.name, err)
		}
	}
	if err := syscall.Setgroups(nil); err != nil {
		return fmt.Errorf("--user %s: setgroups: %w", u.name, err)
	}
	if err := syscall.Setgid(u.gid); err != nil {
		return fmt.Errorf("--user %s: setgid: %w", u.name, err)
	}
	if err := syscall.Setuid(u.uid); err != nil {
		return fmt.Errorf("--user %s: setuid: %w", u.name, err)
	}
	return nil
}
