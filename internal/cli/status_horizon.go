package cli

import (
	"fmt"
	"io"
	"math"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/daemon"
)

// printHorizon says how far back the store reaches and would reach at
// the current rate (daemon.HorizonStatus), in human units.
func printHorizon(w io.Writer, h daemon.HorizonStatus, oldest *time.Time) {
	if h.Rates == nil {
		return // a daemon from before the horizon
	}
	fmt.Fprint(w, "horizon: ")
	if h.ReachSeconds != nil && oldest != nil {
		fmt.Fprintf(w, "the store reaches back %s (oldest packet %s)\n", humanSpan(*h.ReachSeconds), oldest.Local().Format("2006-01-02 15:04:05"))
	} else {
		fmt.Fprintln(w, "the store holds no packet yet")
	}
	if h.BudgetBytes > 0 {
		from := "retention.max_bytes"
		if h.BudgetFrom == "disk" {
			from = "what the disk offers"
		}
		fmt.Fprintf(w, "  budget %s (%s), %.0f%% used\n", humanBytes(h.BudgetBytes), from, 100*float64(h.UsedBytes)/float64(h.BudgetBytes))
	}
	var short, long *daemon.HorizonRates
	for i := range h.Rates {
		switch h.Rates[i].Window {
		case "1m":
			short = &h.Rates[i]
		case "1h":
			long = &h.Rates[i]
		}
	}
	if long == nil || long.SpanSeconds == 0 {
		fmt.Fprintln(w, "  rates: not measured yet")
		return
	}
	fmt.Fprintf(w, "  stored %s/s of %s/s seen on the wire over the last %s", humanBytes(int64(long.StoredBytesPerSecond)),
		humanBytes(int64(long.SeenBytesPerSecond)), humanSpan(long.SpanSeconds))
	if short != nil && short.SpanSeconds > 0 && short.SpanSeconds < long.SpanSeconds {
		fmt.Fprintf(w, " (last %s: %s/s of %s/s)", humanSpan(short.SpanSeconds), humanBytes(int64(short.StoredBytesPerSecond)), humanBytes(int64(short.SeenBytesPerSecond)))
	}
	fmt.Fprintln(w)
	if h.ProjectedSeconds != nil {
		fmt.Fprintf(w, "  at that rate the budget holds %s", humanSpan(*h.ProjectedSeconds))
		if h.LimitedBy == "max_age" {
			fmt.Fprint(w, " (retention.max_age)")
		}
		if h.ProjectedWholeSeconds != nil {
			fmt.Fprintf(w, "; %s if every packet were stored whole and uncompressed", humanSpan(*h.ProjectedWholeSeconds))
		}
		fmt.Fprintln(w)
	}
	if h.CompressionRatio != nil || h.CutShare != nil {
		fmt.Fprint(w, "  ")
		if h.CompressionRatio != nil {
			fmt.Fprintf(w, "compression %.2fx", *h.CompressionRatio)
		}
		if h.CompressionRatio != nil && h.CutShare != nil {
			fmt.Fprint(w, ", ")
		}
		if h.CutShare != nil {
			fmt.Fprintf(w, "%.1f%% of the bytes seen cut (cutoff, snaplen)", 100**h.CutShare)
		}
		fmt.Fprintln(w)
	}
}

// humanSpan is a number of seconds in the largest unit that keeps it
// above 1 (days past two days), with one decimal.
func humanSpan(s float64) string {
	switch {
	case math.IsInf(s, 0) || math.IsNaN(s):
		return "—"
	case s >= 2*86400:
		return fmt.Sprintf("%.1f days", s/86400)
	case s >= 3600:
		return fmt.Sprintf("%.1f hours", s/3600)
	case s >= 60:
		return fmt.Sprintf("%.1f minutes", s/60)
	}
	return fmt.Sprintf("%.0f seconds", s)
}
