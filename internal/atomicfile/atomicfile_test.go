package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

// TestRename: the name holds the new file whole, the temporary is gone,
// and a rename that cannot happen (the temporary missing) is an error
// that leaves the old file.
func TestRename(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, ".f.tmp")
	if err := os.WriteFile(tmp, []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "new" {
		t.Fatalf("after Rename: %q, %v", b, err)
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Errorf("the temporary is still there: %v", err)
	}
	if err := Rename(tmp, path); err == nil {
		t.Error("a missing temporary renamed without an error")
	}
	if b, _ := os.ReadFile(path); string(b) != "new" {
		t.Errorf("a failed Rename changed the file: %q", b)
	}
	if err := SyncDir(filepath.Join(dir, "none")); err == nil {
		t.Error("SyncDir of a missing directory: no error")
	}
}
