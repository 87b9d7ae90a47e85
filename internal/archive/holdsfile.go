package archive

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/atomicfile"
)

// HoldsFile keeps the holds beside the catalog: the catalog is an index
// that may be lost, damaged or rebuilt from the segments, which know
// nothing of holds. Every change to the holds rewrites it whole (a
// temporary file, synced, renamed over it), and every catalog open merges
// it back, so a hold, once acknowledged, outlives any catalog.
const HoldsFile = "holds.json"

// holdJSON is a hold in the holds file.
type holdJSON struct {
	ID        int64  `json:"id"`
	SinceNS   int64  `json:"since_ns"`
	UntilNS   int64  `json:"until_ns"`
	Reason    string `json:"reason"`
	CreatedNS int64  `json:"created_ns"`
}

// errHoldsDamaged: the holds file is not the JSON it should be (as
// opposed to a file that could not be read or written: a full disk, EIO).
var errHoldsDamaged = errors.New("damaged")

// holdsFileTrouble is the log line for an error of the holds file.
func holdsFileTrouble(err error) string {
	if errors.Is(err, errHoldsDamaged) {
		return "holds file damaged: fix or remove it; the catalog's holds are in force"
	}
	return "holds file not read or not updated (retried at the next change of holds); the catalog's holds are in force"
}

// readHoldsFile reads the holds file; a missing one holds nothing.
func readHoldsFile(dir string) ([]Hold, error) {
	b, err := os.ReadFile(filepath.Join(dir, HoldsFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", HoldsFile, err)
	}
	var hs []holdJSON
	if err := json.Unmarshal(b, &hs); err != nil {
		return nil, fmt.Errorf("read %s: %w: %w", HoldsFile, errHoldsDamaged, err)
	}
	out := make([]Hold, 0, len(hs))
	for _, h := range hs {
		out = append(out, Hold{ID: h.ID, Since: h.SinceNS, Until: h.UntilNS, Reason: h.Reason, Created: time.Unix(0, h.CreatedNS)})
	}
	return out, nil
}

// writeHoldsFile replaces the holds file with holds: the old file or the
// whole new one, never a part.
func writeHoldsFile(dir string, holds []Hold) error {
	hs := make([]holdJSON, 0, len(holds))
	for _, h := range holds {
		hs = append(hs, holdJSON{h.ID, h.Since, h.Until, h.Reason, h.Created.UnixNano()})
	}
	b, err := json.MarshalIndent(hs, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+HoldsFile+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", HoldsFile, err)
	}
	tmp := f.Name()
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = atomicfile.Rename(tmp, filepath.Join(dir, HoldsFile))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", HoldsFile, err)
	}
	return nil
}

// sameHold reports whether two holds are one (ids aside: a rebuilt
// catalog may have given it another).
func sameHold(a, b Hold) bool {
	return a.Since == b.Since && a.Until == b.Until && a.Reason == b.Reason && a.Created.UnixNano() == b.Created.UnixNano()
}
