package cli

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// rotation is capture -w's file rotation, as tcpdump's -C, -G and -W:
//
//   - -C N: before writing a packet, a file larger than N million bytes is
//     closed and the next begun: the -w name, then name1, name2, ...
//   - -W N with -C: a ring of N files, numbered with enough digits for N
//     (name0 ... name9 for -W 10), the oldest overwritten.
//   - -G S: a packet S seconds or more after the file was begun begins a
//     new one, its name the -w name through strftime at that time; with -W
//     N and no -C the capture ends after N files ("Maximum file limit
//     reached").
//
// Each file is written as a temporary beside its name and renamed into
// place when it is complete, so a name holds either its old file or the
// whole new one. -G's time is the packet's (tcpdump reads the clock as it
// handles the packet: the same second but for the kernel's queue).
type rotation struct {
	size    int64 // -C, in bytes; 0: none
	seconds int64 // -G; 0: none
	files   int   // -W; 0: no limit
}

func (r rotation) on() bool { return r.size > 0 || r.seconds > 0 }

// errFileLimit ends a capture whose -G -W files are all written: a normal
// end (exit 0), as tcpdump's.
var errFileLimit = errors.New("maximum file limit reached")

// parseRotation checks -C, -G and -W as tcpdump does, with its words.
func parseRotation(size, seconds, files string, write string) (rotation, error) {
	var r rotation
	if size != "" {
		n, err := strconv.ParseInt(size, 10, 64)
		if err != nil || n <= 0 || n > (1<<62)/1000000 {
			return r, fmt.Errorf("invalid file size %s", size)
		}
		r.size = n * 1000000
	}
	if seconds != "" {
		n, err := strconv.ParseInt(seconds, 10, 64)
		if err != nil || n < 0 {
			return r, fmt.Errorf("invalid number of seconds %s", seconds)
		}
		r.seconds = n
	}
	if files != "" {
		n, err := strconv.Atoi(files)
		if err != nil || n <= 0 {
			return r, fmt.Errorf("invalid number of output files %s", files)
		}
		r.files = n
	}
	if (r.on() || r.files > 0) && (write == "" || write == "-") {
		return r, errors.New("-C, -G and -W rotate the files -w writes: give -w FILE")
	}
	return r, nil
}

// wflagChars is how many digits -W N numbers files with (tcpdump's
// getWflagChars: those of N-1).
func wflagChars(n int) int {
	c := 0
	for n--; n > 0; n /= 10 {
		c++
	}
	return c
}

// rotationName is tcpdump's MakeFilename: the -w name through strftime
// (with -G) at gTime, then cnt with chars digits unless both are 0.
func rotationName(name string, strftime bool, gTime int64, cnt, chars int) string {
	if strftime {
		name = formatStrftime(name, time.Unix(gTime, 0))
	}
	if cnt == 0 && chars == 0 {
		return name
	}
	return fmt.Sprintf("%s%0*d", name, chars, cnt)
}

// setRotation turns rotation on for a file tee begun now: its first file
// is named as tcpdump names it.
func (t *fileTee) setRotation(r rotation, now time.Time) error {
	t.rot, t.gTime = r, now.Unix()
	if r.files > 0 {
		t.chars = wflagChars(r.files)
	}
	first := t.name(0, 0)
	if r.size > 0 {
		first = t.name(0, t.chars)
	}
	if first == t.cur {
		return nil
	}
	// The temporary was made for the -w name, which rotation may not use.
	t.abandon()
	t.f = nil
	return t.openFile(first)
}

func (t *fileTee) name(cnt, chars int) string {
	return rotationName(t.path, t.rot.seconds > 0, t.gTime, cnt, chars)
}

// rotate begins the next file before a packet of time ts where -G or -C
// says so, as tcpdump's dump_packet_and_trunc.
func (t *fileTee) rotate(ts int64) error {
	if !t.rot.on() {
		return nil
	}
	if t.rot.seconds > 0 {
		sec := floorDiv(ts, 1e9)
		if sec-t.gTime >= t.rot.seconds {
			t.gTime = sec
			t.gCount++
			if err := t.closeFile(); err != nil {
				return err
			}
			if t.rot.size == 0 && t.rot.files > 0 && t.gCount >= t.rot.files {
				return errFileLimit
			}
			t.count = 0
			chars := 0
			if t.rot.size > 0 {
				chars = t.chars
			}
			if err := t.openFile(t.name(0, chars)); err != nil {
				return err
			}
		}
	}
	if t.rot.size > 0 {
		if err := t.w.Flush(); err != nil { // into cw: its count is the file's size
			return err
		}
		if t.cw.n > t.rot.size {
			t.count++
			if t.rot.files > 0 && t.count >= t.rot.files {
				t.count = 0
			}
			if err := t.closeFile(); err != nil {
				return err
			}
			return t.openFile(t.name(t.count, t.chars))
		}
	}
	return nil
}

// closeFile puts the current file in place.
func (t *fileTee) closeFile() error {
	return t.finish()
}

// openFile begins the file name (as a temporary beside it).
func (t *fileTee) openFile(name string) error {
	f, err := createTemp(name)
	if err != nil {
		return err
	}
	t.f, t.cur = f, name
	return t.start(f)
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// formatStrftime is C's strftime for the conversions file names use
// (%Y %m %d %H %M %S %y %j %e %I %p %a %A %b %B %h %T %F %D %R %s %u %w
// %Z %z %%); others are kept as written.
func formatStrftime(format string, t time.Time) string {
	t = t.Local()
	var b strings.Builder
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c != '%' || i+1 == len(format) {
			b.WriteByte(c)
			continue
		}
		i++
		switch format[i] {
		case 'Y':
			fmt.Fprintf(&b, "%d", t.Year())
		case 'm':
			fmt.Fprintf(&b, "%02d", int(t.Month()))
		case 'd':
			fmt.Fprintf(&b, "%02d", t.Day())
		case 'e':
			fmt.Fprintf(&b, "%2d", t.Day())
		case 'H':
			fmt.Fprintf(&b, "%02d", t.Hour())
		case 'I':
			fmt.Fprintf(&b, "%02d", (t.Hour()+11)%12+1)
		case 'p':
			b.WriteString(t.Format("PM"))
		case 'M':
			fmt.Fprintf(&b, "%02d", t.Minute())
		case 'S':
			fmt.Fprintf(&b, "%02d", t.Second())
		case 'y':
			fmt.Fprintf(&b, "%02d", t.Year()%100)
		case 'j':
			fmt.Fprintf(&b, "%03d", t.YearDay())
		case 'a':
			b.WriteString(t.Format("Mon"))
		case 'A':
			b.WriteString(t.Format("Monday"))
		case 'b', 'h':
			b.WriteString(t.Format("Jan"))
		case 'B':
			b.WriteString(t.Format("January"))
		case 'T':
			b.WriteString(t.Format("15:04:05"))
		case 'R':
			b.WriteString(t.Format("15:04"))
		case 'F':
			b.WriteString(t.Format("2006-01-02"))
		case 'D':
			b.WriteString(t.Format("01/02/06"))
		case 's':
			fmt.Fprintf(&b, "%d", t.Unix())
		case 'u':
			fmt.Fprintf(&b, "%d", (int(t.Weekday())+6)%7+1)
		case 'w':
			fmt.Fprintf(&b, "%d", int(t.Weekday()))
		case 'Z':
			b.WriteString(t.Format("MST"))
		case 'z':
			b.WriteString(t.Format("-0700"))
		case '%':
			b.WriteByte('%')
		default:
			b.WriteByte('%')
			b.WriteByte(format[i])
		}
	}
	return b.String()
}
