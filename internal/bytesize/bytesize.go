// Package bytesize reads byte counts written for people: 65536, 512KB,
// 64MiB, 1GiB, 2TiB. Every unit is binary (KB = KiB = K = 1024 bytes), as
// in the daemon's configuration and the CLI's size flags. The callers word
// their own errors (each names what it expects).
package bytesize

import (
	"strconv"
	"strings"
)

// Max is the largest count Parse accepts (2^60 bytes, 1 EiB).
const Max = 1 << 60

var units = []struct {
	suffix string
	mult   int64
}{{"KIB", 1 << 10}, {"MIB", 1 << 20}, {"GIB", 1 << 30}, {"TIB", 1 << 40},
	{"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"TB", 1 << 40},
	{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"T", 1 << 40}, {"B", 1}}

// Parse reads a size: a number, possibly fractional (1.5GiB), and an
// optional unit, case and spaces ignored. ok is false for anything else,
// for a negative size and for one over Max.
func Parse(text string) (n int64, ok bool) {
	t := strings.ToUpper(strings.TrimSpace(text))
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	// !(v >= 0) refuses NaN too, which every comparison lets through.
	if err != nil || !(v >= 0) || v*float64(mult) > Max {
		return 0, false
	}
	return int64(v * float64(mult)), true
}
