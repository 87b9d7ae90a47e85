// Package when reads the times people type for a time window: RFC 3339,
// the local time the CLI prints ("2026-12-02 01:08:13", optional
// fraction), epoch seconds, and times relative to now ("5m ago", "-90s",
// "now").
package when

import (
	"fmt"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Nanosecond timestamps (int64) reach from 1677-09-21 to 2262-04-11.
var (
	Min = time.Unix(0, math.MinInt64)
	Max = time.Unix(0, math.MaxInt64)
)

// Forms is the one-line description of what Parse accepts, for errors.
const Forms = `RFC 3339 (2026-01-02T15:04:05Z), local time (2026-01-02 15:04:05), epoch seconds, or relative (5m ago, -90s, now)`

var (
	epoch    = regexp.MustCompile(`^[0-9]+(\.[0-9]{1,9})?$`)
	relative = regexp.MustCompile(`^(?:-\s*([0-9][0-9a-z.]*)|([0-9][0-9a-z.]*)\s+ago)$`)
)

// localLayouts are the local-time forms, tried in order.
var localLayouts = []string{
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04",
	"2006-01-02",
}

// Parse reads text as a time, relative times counting back from now.
func Parse(text string, now time.Time) (time.Time, error) {
	t, err := parse(strings.TrimSpace(text), now)
	if err != nil {
		return time.Time{}, err
	}
	if t.Before(Min) || t.After(Max) {
		return time.Time{}, fmt.Errorf("%q is out of range: timestamps reach from %s to %s", text,
			Min.UTC().Format(time.RFC3339), Max.UTC().Format(time.RFC3339))
	}
	return t, nil
}

// ParseNS is Parse giving nanoseconds since the epoch.
func ParseNS(text string, now time.Time) (int64, error) {
	t, err := Parse(text, now)
	if err != nil {
		return 0, err
	}
	return t.UnixNano(), nil
}

func parse(s string, now time.Time) (time.Time, error) {
	low := strings.ToLower(s)
	if low == "now" {
		return now, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, strings.ToUpper(s)); err == nil {
		return t, nil
	}
	if epoch.MatchString(s) {
		r, ok := new(big.Rat).SetString(s)
		if ok {
			ns := new(big.Rat).Mul(r, big.NewRat(1e9, 1))
			if ns.IsInt() && ns.Num().IsInt64() {
				return time.Unix(0, ns.Num().Int64()), nil
			}
		}
		return time.Time{}, fmt.Errorf("%q is out of range", s)
	}
	if m := relative.FindStringSubmatch(low); m != nil {
		d, err := Duration(m[1] + m[2])
		if err != nil {
			return time.Time{}, fmt.Errorf("invalid time %q: %v", s, err)
		}
		return now.Add(-d), nil
	}
	for _, layout := range localLayouts {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("invalid time %q: use %s", s, Forms)
}

// Duration reads 90s, 15m, 1h, 2d, 1h30m, 1.5h (units s, m, h, d; ms, us
// and ns too).
func Duration(text string) (time.Duration, error) {
	t := strings.TrimSpace(text)
	if days, ok := strings.CutSuffix(t, "d"); ok {
		n, err := strconv.ParseFloat(days, 64)
		if err == nil && n >= 0 && n < 106751 {
			return time.Duration(n * 24 * float64(time.Hour)), nil
		}
	} else if v, err := time.ParseDuration(t); err == nil && v >= 0 {
		return v, nil
	}
	return 0, fmt.Errorf("invalid duration %q (use e.g. 90s, 15m, 1h, 30d)", text)
}
