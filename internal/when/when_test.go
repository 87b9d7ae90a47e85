package when

import (
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	local := func(y int, mo time.Month, d, h, mi, s, ns int) time.Time {
		return time.Date(y, mo, d, h, mi, s, ns, time.Local)
	}
	cases := []struct {
		in   string
		want time.Time
	}{
		{"2026-01-02T15:04:05Z", time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)},
		{"2026-01-02t15:04:05.25+01:00", time.Date(2026, 1, 2, 14, 4, 5, 250e6, time.UTC)},
		{"2026-12-02 01:08:13", local(2026, 12, 2, 1, 8, 13, 0)},
		{"2026-12-02 01:08:13.000000123", local(2026, 12, 2, 1, 8, 13, 123)},
		{"2026-12-02T01:08:13", local(2026, 12, 2, 1, 8, 13, 0)},
		{"2026-12-02", local(2026, 12, 2, 0, 0, 0, 0)},
		{"1764849600", time.Unix(1764849600, 0)},
		{"1764849600.000000001", time.Unix(1764849600, 1)},
		{"0", time.Unix(0, 0)},
		{"5m ago", now.Add(-5 * time.Minute)},
		{"3h ago", now.Add(-3 * time.Hour)},
		{"2d ago", now.Add(-48 * time.Hour)},
		{"-90s", now.Add(-90 * time.Second)},
		{"-1h30m", now.Add(-90 * time.Minute)},
		{"now", now},
		{" NOW ", now},
	}
	for _, c := range cases {
		got, err := Parse(c.in, now)
		if err != nil || !got.Equal(c.want) {
			t.Errorf("Parse(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "yesterday", "5 minutes ago", "2026-13-01", "-", "1e9", "99999999999999999999", "2300-01-01T00:00:00Z", "5x ago", "--5m"} {
		if got, err := Parse(bad, now); err == nil {
			t.Errorf("Parse(%q) = %v, want an error", bad, got)
		} else if strings.Contains(err.Error(), "\n") {
			t.Errorf("Parse(%q): error of several lines: %v", bad, err)
		}
	}
}
