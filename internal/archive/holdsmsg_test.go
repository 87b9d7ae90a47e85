package archive

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestHoldsFileTroubleSaysWhatHappened: only a holds file that is not
// JSON is called damaged; one that could not be written (a full disk)
// is said to be not updated. A full disk used to log "holds file damaged:
// fix or remove it" about a sound file.
func TestHoldsFileTroubleSaysWhatHappened(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, HoldsFile), []byte("[{\"id\": 1,"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := readHoldsFile(dir)
	if err == nil || !strings.Contains(holdsFileTrouble(err), "damaged") {
		t.Errorf("a truncated holds file: %v: %q", err, holdsFileTrouble(err))
	}
	full := fmt.Errorf("write %s: %w", HoldsFile, &os.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC})
	if msg := holdsFileTrouble(full); strings.Contains(msg, "damaged") {
		t.Errorf("a full disk: %q", msg)
	}
}
