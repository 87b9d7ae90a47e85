package store

import "os"

// Creating is a database file this process has just made, with its
// creation lock held: a process making a segment holds it from the moment
// the file exists until the file holds its session and the catalog its
// row, and a catalog repair, which removes a segment file with no session
// (a recording killed as it created it), leaves a file being created
// alone (BeingCreated). The kernel drops the lock when the process dies,
// however it dies.
type Creating struct{ f *os.File }

// Create makes an empty database file at path, private to its owner, and
// takes its creation lock. A file already there is an error
// (fs.ErrExist): it is somebody else's.
func Create(path string) (*Creating, error) {
	// Packets carry passwords and cookies: only the owner may read them.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if err := lockCreating(f); err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	return &Creating{f: f}, nil
}

// Release lets go of the creation lock.
func (c *Creating) Release() {
	if c != nil && c.f != nil {
		c.f.Close() // the lock goes with the file's last descriptor
		c.f = nil
	}
}

// BeingCreated reports whether a process holds the creation lock of the
// database file at path (Create).
func BeingCreated(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	return creatingHeld(f)
}
