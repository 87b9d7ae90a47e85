package store

import (
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// StartWriteback asks the kernel, every 100 ms, to start writing the
// database file's dirty pages to disk without waiting for them
// (sync_file_range with SYNC_FILE_RANGE_WRITE). A bulk load then overlaps
// its disk writes with its work, and each commit's fsync finds most pages
// already written instead of waiting for all of them. Durability is
// unchanged: commits still fsync. Call stop when the load ends.
func (db *DB) StartWriteback() (stop func()) {
	f, err := os.Open(db.path)
	if err != nil {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				unix.SyncFileRange(int(f.Fd()), 0, 0, unix.SYNC_FILE_RANGE_WRITE)
			}
		}
	}()
	return func() {
		close(done)
		<-finished
		f.Close()
	}
}
