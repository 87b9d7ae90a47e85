package ui

import (
	"fmt"
	"time"
)

// horizonJSON is the daemon's horizon (daemon.HorizonStatus, the
// "horizon" of GET /api/v1/status) as the overview reads it.
type horizonJSON struct {
	ReachSeconds          *float64 `json:"reach_seconds"`
	BudgetBytes           int64    `json:"budget_bytes"`
	BudgetFrom            string   `json:"budget_from"`
	UsedBytes             int64    `json:"used_bytes"`
	ProjectedSeconds      *float64 `json:"projected_seconds"`
	LimitedBy             string   `json:"limited_by"`
	ProjectedWholeSeconds *float64 `json:"projected_whole_seconds"`
	CompressionRatio      *float64 `json:"compression_ratio"`
	CutShare              *float64 `json:"cut_share"`
	Rates                 []struct {
		Window      string  `json:"window"`
		SpanSeconds float64 `json:"span_seconds"`
		Seen        float64 `json:"seen_bytes_per_second"`
		Stored      float64 `json:"stored_bytes_per_second"`
	} `json:"rates"`
}

// horizonView is the overview's horizon panel: how far back the store
// reaches, how far it will reach at the current rate, and how far it
// would without compression and cutoff, as text and as three bars.
type horizonView struct {
	Reach, Projected, Whole string // "" when not known
	MaxAge                  bool   // the projection is retention.max_age
	Budget, BudgetFrom      string
	UsedPercent             string
	Gain                    string // how many times longer the budget holds than it would whole
	Compression, Cut        string
	Rates                   []horizonRate
	Bars                    []horizonBar
	Width, Height           int
}

type horizonRate struct{ Window, Span, Seen, Stored string }

type horizonBar struct {
	Label, Value string
	Class        string
	X, Y, W, VX  float64 // the bar's start, top and width; the value's start
}

// horizonBarsWidth is the width of the bars' chart; labels take the
// first horizonLabelWidth.
const (
	horizonBarsWidth  = 640
	horizonLabelWidth = 190
)

func spanOf(s *float64) string {
	if s == nil {
		return ""
	}
	return fmtSpan(time.Duration(*s * float64(time.Second)))
}

// newHorizonView reads the daemon's horizon; nil without one (no daemon,
// or one from before the horizon).
func newHorizonView(h *horizonJSON) *horizonView {
	if h == nil {
		return nil
	}
	v := &horizonView{Reach: spanOf(h.ReachSeconds), Projected: spanOf(h.ProjectedSeconds), Whole: spanOf(h.ProjectedWholeSeconds),
		MaxAge: h.LimitedBy == "max_age", Width: horizonBarsWidth}
	if h.BudgetBytes > 0 {
		v.Budget = fmtBytes(h.BudgetBytes)
		v.BudgetFrom = "retention.max_bytes"
		if h.BudgetFrom == "disk" {
			v.BudgetFrom = "what the disk offers"
		}
		v.UsedPercent = fmt.Sprintf("%.0f%%", 100*float64(h.UsedBytes)/float64(h.BudgetBytes))
	}
	if p, w := h.ProjectedSeconds, h.ProjectedWholeSeconds; p != nil && w != nil && *w > 0 {
		v.Gain = fmt.Sprintf("%.1f×", *p / *w)
	}
	if c := h.CompressionRatio; c != nil {
		v.Compression = fmt.Sprintf("%.2f×", *c)
	}
	if c := h.CutShare; c != nil {
		v.Cut = fmt.Sprintf("%.1f%%", 100**c)
	}
	for _, r := range h.Rates {
		hr := horizonRate{Window: r.Window, Span: "not measured yet"}
		if r.SpanSeconds > 0 {
			hr.Span = fmtSpan(time.Duration(r.SpanSeconds * float64(time.Second)))
			hr.Seen, hr.Stored = fmtBytes(r.Seen)+"/s", fmtBytes(r.Stored)+"/s"
		}
		v.Rates = append(v.Rates, hr)
	}
	// Bars in proportion to the longest of the three spans.
	bars := []struct {
		label, class string
		s            *float64
	}{{"Reach now", "now", h.ReachSeconds}, {"At the current rate", "projected", h.ProjectedSeconds},
		{"Whole and uncompressed", "whole", h.ProjectedWholeSeconds}}
	longest := 0.0
	for _, b := range bars {
		if b.s != nil {
			longest = max(longest, *b.s)
		}
	}
	for _, b := range bars {
		if b.s == nil {
			continue
		}
		w := 0.0
		if longest > 0 {
			w = *b.s / longest * (horizonBarsWidth - horizonLabelWidth - 90)
		}
		w = max(w, 1)
		v.Bars = append(v.Bars, horizonBar{Label: b.label, Value: spanOf(b.s), Class: b.class,
			X: horizonLabelWidth, Y: float64(len(v.Bars) * 24), W: w, VX: horizonLabelWidth + w + 6})
	}
	v.Height = len(v.Bars)*24 + 2
	return v
}
