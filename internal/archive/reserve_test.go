package archive

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// TestReserve: the store's reserve is made whole and private, once, and
// given back on demand; nothing temporary is left beside it.
func TestReserve(t *testing.T) {
	dir := t.TempDir()
	if HasReserve(dir) {
		t.Fatal("a reserve in an empty directory")
	}
	for range 2 {
		if err := KeepReserve(dir); err != nil {
			t.Fatal(err)
		}
	}
	fi, err := os.Stat(ReservePath(dir))
	if err != nil || fi.Size() != ReserveSize || fi.Mode().Perm() != 0o600 {
		t.Fatalf("reserve: %v %v", fi, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("files beside the reserve: %v", entries)
	}
	if !ReleaseReserve(dir) || HasReserve(dir) || ReleaseReserve(dir) {
		t.Errorf("release: the reserve is still there, or was released twice")
	}
}

// TestDiskUsage: the store's file bytes are what du(1) counts, the trash
// apart.
func TestDiskUsage(t *testing.T) {
	testkit.RequireTool(t, "du")
	dir := t.TempDir()
	if err := KeepReserve(dir); err != nil {
		t.Fatal(err)
	}
	seg := filepath.Join(dir, SegmentsDir, "eth0")
	os.MkdirAll(seg, 0o700)
	os.WriteFile(filepath.Join(seg, "a-r0.db"), make([]byte, 300_001), 0o600)
	os.WriteFile(filepath.Join(seg, "a-r0.db-journal"), make([]byte, 5000), 0o600)
	os.MkdirAll(filepath.Join(dir, TrashDir), 0o700)
	os.WriteFile(filepath.Join(dir, TrashDir, "1-old.db"), make([]byte, 70_000), 0o600)
	u := DiskUsage(dir)
	du := func(args ...string) int64 {
		out, err := exec.Command("du", append([]string{"-s", "-B1"}, args...)...).Output()
		if err != nil {
			t.Fatal(err)
		}
		n, _ := strconv.ParseInt(strings.Fields(string(out))[0], 10, 64)
		return n
	}
	// du counts directories' own blocks too; DiskUsage files only.
	dirs := du("--exclude=trash", "--exclude=*.db*", "--exclude=reserve", dir)
	if want := du("--exclude=trash", dir) - dirs; u.Total != want {
		t.Errorf("file bytes %d, du says %d", u.Total, want)
	}
	if want := du(filepath.Join(dir, TrashDir, "1-old.db")); u.Trash != want {
		t.Errorf("trash %d, du says %d", u.Trash, want)
	}
}
