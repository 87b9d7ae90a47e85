package ui

import (
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/archive"
)

// daemonStatus is the part of the daemon's status (GET /api/v1/status)
// the overview shows.
type daemonStatus struct {
	Interfaces []struct {
		Name     string `json:"name"`
		State    string `json:"state"`
		Error    string `json:"error"`
		Filter   string `json:"filter"`
		Packets  int64  `json:"packets"`
		Bytes    int64  `json:"bytes"`
		Received int64  `json:"received"`
		Drops    struct {
			Kernel int64 `json:"kernel"`
			App    int64 `json:"app"`
			Reload int64 `json:"reload"`
		} `json:"drops"`
	} `json:"interfaces"`
	Store struct {
		FileBytes     int64      `json:"file_bytes"`
		FreeBytes     int64      `json:"free_bytes"`
		KeepFreeBytes int64      `json:"keep_free_bytes"`
		WriteRate     int64      `json:"write_bytes_per_second"`
		Segments      int64      `json:"segments"`
		OldestPacket  *time.Time `json:"oldest_packet"`
		NewestPacket  *time.Time `json:"newest_packet"`
	} `json:"store"`
	Retention struct {
		Blocked  bool   `json:"blocked"`
		Paused   bool   `json:"recording_paused"`
		WhenHeld string `json:"when_held"`
		Deleted  int64  `json:"deleted_segments"`
	} `json:"retention"`
	Horizon *horizonJSON `json:"horizon"`
}

// rateSampler remembers the last counters seen, to tell rates now.
type rateSampler struct {
	at   time.Time
	seen map[string][2]int64 // packets, bytes
}

type ifaceRow struct {
	Name, State, Error, Filter, Link string
	PacketsPerS, BitsPerS            string
	Packets, Bytes                   int64
	DropKernel, DropApp, DropReload  int64
}

// rates gives each interface's packets/s and bits/s since the last
// sample (taking two samples when the last is old).
func (s *Server) rates(st *daemonStatus) map[string][2]float64 {
	now := s.opts.Now()
	cur := map[string][2]int64{}
	for _, it := range st.Interfaces {
		cur[it.Name] = [2]int64{it.Packets, it.Bytes}
	}
	s.mu.Lock()
	prev, at := s.sampler.seen, s.sampler.at
	s.mu.Unlock()
	if prev == nil || now.Sub(at) > time.Minute || now.Sub(at) < 100*time.Millisecond {
		time.Sleep(250 * time.Millisecond)
		prev, at = cur, now
		now = s.opts.Now()
		st2, err := statusOf(s.opts.API.Status())
		if err == nil && st2 != nil {
			*st = *st2
		}
		cur = map[string][2]int64{}
		for _, it := range st.Interfaces {
			cur[it.Name] = [2]int64{it.Packets, it.Bytes}
		}
	}
	s.mu.Lock()
	s.sampler.seen, s.sampler.at = cur, now
	s.mu.Unlock()
	out := map[string][2]float64{}
	dt := now.Sub(at).Seconds()
	for k, c := range cur {
		p := prev[k]
		if dt > 0 {
			out[k] = [2]float64{float64(c[0]-p[0]) / dt, float64(c[1]-p[1]) * 8 / dt}
		}
	}
	return out
}

func (s *Server) handleOverview(w http.ResponseWriter, r *http.Request, c *call) error {
	start := time.Now()
	q := s.parseQuery(r)
	d := map[string]any{"Title": "Overview"}
	var st *daemonStatus
	if !s.isFleet() { // a hub's status is its sensors': the timeline is theirs
		var err error
		if st, err = statusOf(s.opts.API.Status()); err != nil {
			return err
		}
	}
	segs, err := s.segments(r.Context())
	if err != nil {
		return err
	}
	holds, err := s.holdList()
	if err != nil {
		return err
	}
	if st == nil {
		// No daemon: what the catalog says.
		st = &daemonStatus{}
		st.Store.Segments = int64(len(segs))
		var lo, hi int64 = math.MaxInt64, 0
		for _, sg := range segs {
			st.Store.FileBytes += sg.Bytes
			if sg.Packets > 0 {
				lo, hi = min(lo, sg.MinNS), max(hi, sg.MaxNS)
			}
		}
		if fi, err := os.Stat(s.opts.Store); err == nil && s.isDatabase() {
			st.Store.FileBytes = fi.Size()
		}
		if hi > 0 {
			a, b := time.Unix(0, lo).UTC(), time.Unix(0, hi).UTC()
			st.Store.OldestPacket, st.Store.NewestPacket = &a, &b
		}
		d["NoDaemon"] = true
		d["Database"] = s.isDatabase()
	} else {
		rates := s.rates(st)
		var rows []ifaceRow
		for _, it := range st.Interfaces {
			rt := rates[it.Name]
			rows = append(rows, ifaceRow{Name: it.Name, Link: "/ui/?" + url.Values{"interface": {it.Name}}.Encode(), State: it.State, Error: it.Error, Filter: it.Filter,
				PacketsPerS: fmt.Sprintf("%.1f", rt[0]), BitsPerS: fmtBits(rt[1]), Packets: it.Packets, Bytes: it.Bytes,
				DropKernel: it.Drops.Kernel, DropApp: it.Drops.App, DropReload: it.Drops.Reload})
		}
		d["Interfaces"] = rows
	}
	d["Status"] = st
	d["Horizon"] = newHorizonView(st.Horizon)
	if o, n := st.Store.OldestPacket, st.Store.NewestPacket; o != nil && n != nil {
		d["History"] = fmtSpan(n.Sub(*o))
		d["Oldest"] = o.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	if rate := st.Store.WriteRate; rate > 0 && st.Horizon == nil {
		// A daemon from before the horizon: room at its peak write rate
		// (the horizon's panel says it at the measured rate).
		room := st.Store.FileBytes + st.Store.FreeBytes - st.Store.KeepFreeBytes
		d["DaysAtRate"] = fmt.Sprintf("%.1f", float64(room)/float64(rate)/86400)
	}
	var hs []holdRow
	for _, h := range holds {
		hs = append(hs, newHoldRow(h))
	}
	d["Holds"] = hs
	d["Timeline"] = newTimeline(segs, q)
	d["Form"] = s.form(q)
	d["Live"] = r.URL.Query().Get("live") == "1"
	d["Elapsed"] = time.Since(start).Round(time.Millisecond).String()
	s.render(w, http.StatusOK, "overview", c, d)
	return nil
}

func fmtBits(b float64) string {
	units := []string{"bit/s", "kbit/s", "Mbit/s", "Gbit/s", "Tbit/s"}
	i := 0
	for b >= 1000 && i < len(units)-1 {
		b /= 1000
		i++
	}
	return fmt.Sprintf("%.1f %s", b, units[i])
}

func fmtSpan(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%.1f days", d.Hours()/24)
	case d >= time.Hour:
		return fmt.Sprintf("%.1f hours", d.Hours())
	case d >= time.Minute:
		return fmt.Sprintf("%.1f minutes", d.Minutes())
	}
	return fmt.Sprintf("%.1f seconds", d.Seconds())
}

// timeline is the SVG chart of packets and bytes over time.
type timeline struct {
	Width, Height int
	Bars          []bar
	Ticks         []tick
	FromNS, ToNS  int64
	Empty         bool
	MaxPackets    string
	Summary       string
}

type bar struct {
	X, W, Y, H, BY, BH float64
	Title              string
}

type tick struct {
	X      float64
	Label  string
	Anchor string // start, middle, end
}

// timelineBuckets is how many bars the chart has.
const timelineBuckets = 120

// newTimeline spreads each segment's packets and bytes over its time span
// (catalog metadata: no packet is read), over the whole store or the
// window of q.
func newTimeline(segs []archive.Segment, q query) timeline {
	t := timeline{Width: 960, Height: 180}
	var lo, hi int64 = math.MaxInt64, math.MinInt64
	for _, sg := range segs {
		if sg.Packets == 0 || q.iface != "" && sg.Interface != q.iface {
			continue
		}
		lo, hi = min(lo, sg.MinNS), max(hi, sg.MaxNS)
	}
	if q.r.HasSince {
		lo = q.r.Since
	}
	if q.r.HasUntil {
		hi = q.r.Until
	}
	if lo >= hi {
		if lo == math.MaxInt64 {
			t.Empty = true
			return t
		}
		lo, hi = lo-int64(time.Second), hi+int64(time.Second)
	}
	t.FromNS, t.ToNS = lo, hi
	span := float64(hi - lo)
	pk := make([]float64, timelineBuckets)
	by := make([]float64, timelineBuckets)
	var totalP, totalB float64
	for _, sg := range segs {
		if sg.Packets == 0 || q.iface != "" && sg.Interface != q.iface || sg.MaxNS < lo || sg.MinNS > hi {
			continue
		}
		sLo, sHi := float64(sg.MinNS), float64(sg.MaxNS)
		width := max(sHi-sLo, 1)
		for i := 0; i < timelineBuckets; i++ {
			bLo := float64(lo) + span*float64(i)/timelineBuckets
			bHi := float64(lo) + span*float64(i+1)/timelineBuckets
			ov := min(bHi, sHi+1) - max(bLo, sLo)
			if ov <= 0 {
				continue
			}
			frac := min(ov/width, 1)
			pk[i] += float64(sg.Packets) * frac
			by[i] += float64(sg.Bytes) * frac
			totalP += float64(sg.Packets) * frac
			totalB += float64(sg.Bytes) * frac
		}
	}
	maxP, maxB := 1.0, 1.0
	for i := range pk {
		maxP, maxB = max(maxP, pk[i]), max(maxB, by[i])
	}
	plotH := float64(t.Height - 30)
	bw := float64(t.Width) / timelineBuckets
	for i := range pk {
		h := pk[i] / maxP * (plotH / 2)
		bh := by[i] / maxB * (plotH / 2)
		bLo := lo + int64(span*float64(i)/timelineBuckets)
		t.Bars = append(t.Bars, bar{X: float64(i) * bw, W: bw - 1, Y: plotH/2 - h, H: h, BY: plotH / 2, BH: bh,
			Title: fmt.Sprintf("%s: about %.0f packets, %s", fmtTime(bLo), pk[i], fmtBytes(by[i]))})
	}
	for i := 0; i <= 4; i++ {
		ns := lo + int64(span*float64(i)/4)
		anchor := "middle"
		switch i {
		case 0:
			anchor = "start"
		case 4:
			anchor = "end"
		}
		t.Ticks = append(t.Ticks, tick{X: float64(t.Width) * float64(i) / 4, Label: time.Unix(0, ns).UTC().Format("01-02 15:04:05"), Anchor: anchor})
	}
	t.Summary = fmt.Sprintf("%s to %s: about %.0f packets, %s on disk", fmtTime(lo), fmtTime(hi), totalP, fmtBytes(totalB))
	return t
}
