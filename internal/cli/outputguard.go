package cli

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/packetrecorderd/packetrecorderd/internal/archive"
)

// notInAStore refuses an output inside a store directory (its catalog, a
// segment, a side file, anything under it), by name or through symbolic
// links: writing it would replace a file the daemon and every reader of
// the store depend on.
func notInAStore(flag, output string) error {
	abs, err := filepath.Abs(output)
	if err != nil {
		return nil
	}
	for _, p := range []string{abs, resolvePath(abs, 0)} {
		for d := filepath.Dir(p); ; d = filepath.Dir(d) {
			if holdsAStore(d) {
				return fmt.Errorf("%s %s is inside the store %s: name a file outside it", flag, output, d)
			}
			if d == filepath.Dir(d) {
				break
			}
		}
	}
	return nil
}

// resolvePath is p with every symbolic link resolved, as far as it exists:
// the file itself when it exists (a link to a segment names the segment),
// else its directory.
func resolvePath(p string, depth int) string {
	if depth > 40 { // a loop of links, as the kernel's ELOOP
		return p
	}
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	// A dangling link: where it points.
	if target, err := os.Readlink(p); err == nil {
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(p), target)
		}
		return resolvePath(filepath.Clean(target), depth+1)
	}
	dir, base := filepath.Split(p)
	if dir == "" || filepath.Clean(dir) == p {
		return p
	}
	return filepath.Join(resolvePath(filepath.Clean(dir), depth+1), base)
}

// holdsAStore reports whether d is a store directory: it has a catalog,
// or segment files (a store whose catalog is gone). A directory that
// merely has a subdirectory named segments is not one.
func holdsAStore(d string) bool {
	if !archive.IsStore(d) {
		return false
	}
	if fi, err := os.Stat(filepath.Join(d, archive.CatalogFile)); err == nil && fi.Mode().IsRegular() {
		return true
	}
	segs, _ := filepath.Glob(filepath.Join(d, archive.SegmentsDir, "*", "*.db"))
	return len(segs) > 0
}
