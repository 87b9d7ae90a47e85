package bytesize

import "testing"

func TestParse(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"65536", 65536, true},
		{" 512kb ", 512 * 1024, true},
		{"64MiB", 64 * 1024 * 1024, true},
		{"1.5G", 3 * 1024 * 1024 * 1024 / 2, true},
		{"2 TiB", 2 * 1024 * 1024 * 1024 * 1024, true},
		{"10B", 10, true},
		{"1048576T", 1 << 60, true},
		{"1048577T", 0, false},
		{"-5KiB", 0, false},
		{"KB", 0, false},
		{"", 0, false},
		{"lots", 0, false},
	} {
		got, ok := Parse(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("Parse(%q) = %d, %v; want %d, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}
