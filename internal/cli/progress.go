package cli

import (
	"fmt"
	"io"
	"time"
)

// progress prints a one-line running count on a terminal, at most five
// times a second, and nothing when the output is not a terminal.
type progress struct {
	w     io.Writer
	verb  string
	start time.Time
	last  time.Time
	on    bool
}

func newProgress(w io.Writer, verb string) *progress {
	return &progress{w: w, verb: verb, start: time.Now(), on: isTerminal(w)}
}

// update shows packets and bytes done so far.
func (p *progress) update(packets, bytes int64) {
	if !p.on || time.Since(p.last) < 200*time.Millisecond {
		return
	}
	p.last = time.Now()
	secs := time.Since(p.start).Seconds()
	fmt.Fprintf(p.w, "\r%s %d packets, %s, %.0f pkt/s   ", p.verb, packets, humanBytes(bytes), float64(packets)/secs)
}

// done clears the line.
func (p *progress) done() {
	if p.on && !p.last.IsZero() {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
