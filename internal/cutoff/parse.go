package cutoff

import (
	"errors"
	"fmt"
	"strings"

	"github.com/packetrecorderd/packetrecorderd/internal/bytesize"
)

// ErrBadSize is ParseBytes's error for what is not a size.
var ErrBadSize = errors.New("invalid size")

// ParseBytes reads a cutoff in bytes: "unlimited" (Unlimited), or a size
// such as 65536, 20KiB, 1MiB, 5MB (binary units, as the daemon's sizes).
func ParseBytes(text string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(text))
	if t == "UNLIMITED" {
		return Unlimited, nil
	}
	n, ok := bytesize.Parse(t)
	if !ok {
		return 0, fmt.Errorf("%w %q (use e.g. 64KiB, 1MiB or unlimited)", ErrBadSize, text)
	}
	return n, nil
}

// FromFlags is the cutoff of capture's and import's --cutoff SIZE and
// --cutoff-keep headers|none: nil when size is empty (no cutoff).
func FromFlags(size, keep string) (*Config, error) {
	if size == "" {
		if keep != "" {
			return nil, errors.New("--cutoff-keep needs --cutoff")
		}
		return nil, nil
	}
	n, err := ParseBytes(size)
	if err != nil {
		return nil, fmt.Errorf("--cutoff: %w", err)
	}
	k, err := ParseKeep(keep)
	if err != nil {
		return nil, fmt.Errorf("--cutoff-keep: %w", err)
	}
	return &Config{Enabled: true, Default: Limit{Bytes: n, Keep: k}}, nil
}

// String is a one-line description of the cutoff ("64 KiB, headers kept").
func (c *Config) String() string {
	if c == nil || !c.Enabled {
		return "no cutoff"
	}
	s := limitString(c.Default)
	if len(c.Rules) > 0 {
		s += fmt.Sprintf(" (and %d rules)", len(c.Rules))
	}
	return s
}

func limitString(l Limit) string {
	var s string
	switch {
	case l.Packets > 0:
		s = fmt.Sprintf("%d packets", l.Packets)
	case l.Bytes < 0:
		return "unlimited"
	default:
		s = fmt.Sprintf("%d bytes", l.Bytes)
	}
	return s + ", " + l.Keep.String() + " kept"
}
