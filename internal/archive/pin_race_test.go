package archive

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestReaperLeavesPinnedSegmentWithoutFDs: the reaper learns that a
// trashed segment is pinned by trying to lock it; when it cannot even
// open it (no file descriptor left), it must take it for pinned, not for
// gone.
func TestReaperLeavesPinnedSegmentWithoutFDs(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	a, err := Open(dir, Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	r, _ := NewRecording(dir, RecordingConfig{Interface: "eth0", LinkType: 1, MaxBytes: 1})
	feed(t, r, 0, 100, 100)
	r.Close()
	segs, _ := a.Segments()
	if len(segs) != 1 {
		t.Fatalf("segments %+v", segs)
	}
	pin, err := a.Pin(segs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer pin.Close()
	if err := a.Expire(segs[0]); err != nil {
		t.Fatal(err)
	}
	trashed := a.trashPath(a.Path(segs[0]))
	// No descriptor left: the soft limit at the lowest free one.
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	probe, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	low := lim
	low.Cur = uint64(probe.Fd())
	probe.Close()
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	unlock, ok := lockForReap(trashed)
	_, openErr := os.Open(trashed)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if openErr == nil {
		t.Fatal("a file could be opened under the lowered limit: the test did not test")
	}
	if ok {
		unlock()
		t.Errorf("the reaper may free a segment it could not open (%v): a reader pins it", openErr)
	}
	if path, err := pin.Path(); err != nil || path != trashed {
		t.Errorf("pinned segment at %q: %v", path, err)
	}
}

// TestPinsSurviveRetention: readers pin every segment of a store while
// retention expires them one after the other and reaps the trash as fast
// as it can. A pin taken is never freed under its reader: its file stays
// where Path says, at the size it had when pinned, until the pin goes;
// and a segment that could not be pinned is gone (ErrExpired).
func TestPinsSurviveRetention(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	a, err := Open(dir, Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	r, _ := NewRecording(dir, RecordingConfig{Interface: "eth0", LinkType: 1, MaxBytes: 1})
	feed(t, r, 0, 4000, 20) // 200 segments
	r.Close()
	segs, err := a.Segments()
	if err != nil || len(segs) < 150 {
		t.Fatalf("%d segments: %v", len(segs), err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	faults := make(chan string, 16)
	fault := func(msg string) {
		select {
		case faults <- msg:
		default:
		}
	}
	pinned, expired := 0, 0
	var mu sync.Mutex
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				type held struct {
					p    *Pin
					size int64
				}
				var pins []held
				for _, s := range segs {
					p, err := a.Pin(s)
					if err != nil {
						mu.Lock()
						expired++
						mu.Unlock()
						if !errors.Is(err, ErrExpired) {
							fault("pin: " + err.Error())
						}
						continue
					}
					fi, _ := p.f.Stat()
					pins = append(pins, held{p, fi.Size()})
				}
				time.Sleep(time.Millisecond) // the reaper runs meanwhile
				for _, h := range pins {
					path, err := h.p.Path()
					if err != nil {
						fault("a pinned segment was moved out of reach: " + err.Error())
						h.p.Close()
						continue
					}
					fi, err := os.Stat(path)
					if err != nil {
						// Expired between Path and Stat: moved to the
						// trash (once), where Path finds it again.
						if path, err = h.p.Path(); err == nil {
							fi, err = os.Stat(path)
						}
					}
					if err != nil || fi.Size() != h.size {
						fault("a pinned segment was freed under its reader: " + path)
					}
					h.p.Close()
				}
				mu.Lock()
				pinned += len(pins)
				mu.Unlock()
			}
		}()
	}
	// Retention: its own catalog connection, as the daemon's.
	ret, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range segs {
		if err := ret.Expire(s); err != nil {
			t.Error(err)
			break
		}
		if err := ret.Reap(nil); err != nil {
			t.Error(err)
			break
		}
	}
	close(done)
	wg.Wait()
	ret.Reap(nil)
	ret.Close()
	close(faults)
	for msg := range faults {
		t.Error(msg)
	}
	if left, _ := os.ReadDir(filepath.Join(dir, TrashDir)); len(left) != 0 {
		t.Errorf("trash once every pin went: %d files", len(left))
	}
	t.Logf("%d pins held across the reaper, %d segments gone before they were pinned", pinned, expired)
	if pinned == 0 || expired == 0 {
		t.Error("the readers did not race the reaper")
	}
}
