package cutoff

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
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
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KIB", 1 << 10}, {"MIB", 1 << 20}, {"GIB", 1 << 30}, {"TIB", 1 << 40},
		{"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"TB", 1 << 40},
		{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"T", 1 << 40}, {"B", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseFloat(t, 64)
	if err != nil || n < 0 || n*float64(mult) > 1<<60 || t == "" {
		return 0, fmt.Errorf("%w %q (use e.g. 64KiB, 1MiB or unlimited)", ErrBadSize, text)
	}
	return int64(n * float64(mult)), nil
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
