//go:build !linux

package store

// StartWriteback does nothing on this system.
func (db *DB) StartWriteback() (stop func()) { return func() {} }
