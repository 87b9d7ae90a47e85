package ui

import (
	"encoding/json"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/packetrecorderd/packetrecorderd/internal/api"
	"github.com/packetrecorderd/packetrecorderd/internal/selection"
)

// horizonStatus is a daemon's status with a horizon: the oldest packet
// 3 days old, a 1 GiB budget 700 MiB full that holds 4096 s at the
// current rate and would hold 1000 s if every packet were stored whole
// and uncompressed.
const horizonStatus = `{"interfaces":[],"store":{"file_bytes":734003200,"segments":3},"retention":{},
	"horizon":{"reach_seconds":259200,"budget_bytes":1073741824,"budget_from":"max_bytes","used_bytes":734003200,
		"projected_seconds":4096,"limited_by":"budget","projected_whole_seconds":1000,"compression_ratio":2.5,"cut_share":0.375,
		"rates":[{"window":"1m","span_seconds":60,"seen_bytes_per_second":2097152,"stored_bytes_per_second":524288,"interfaces":[]},
			{"window":"1h","span_seconds":3600,"seen_bytes_per_second":1048576,"stored_bytes_per_second":262144,"interfaces":[]}]}}`

// TestBrowserOverviewHorizon: the overview's horizon panel says in
// Chromium what the API's status says, in human units worked out by
// hand, and its bars are in proportion to the spans.
func TestBrowserOverviewHorizon(t *testing.T) {
	_, dir := writeFixtures(t)
	var raw map[string]any
	if err := json.Unmarshal([]byte(horizonStatus), &raw); err != nil {
		t.Fatal(err)
	}
	access := api.Access{Tokens: []api.Token{{Name: "analyst", SHA256: api.TokenSum(adminSecret), Scopes: []string{api.ScopeRead}}}}
	srv := api.New(api.Options{Selector: selection.Store{Dir: dir}, Holds: api.StoreHolds(dir), Status: func() any { return raw },
		Log: slog.New(slog.DiscardHandler)}, access)
	u, err := New(Options{API: srv, Store: dir})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(Mount(u, srv))
	defer ts.Close()

	// What the API gives.
	req, _ := http.NewRequest("GET", ts.URL+"/api/v1/status", nil)
	req.Header.Set("Authorization", "Bearer "+adminSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var st struct{ Horizon horizonJSON }
	err = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if err != nil || st.Horizon.ProjectedSeconds == nil || *st.Horizon.ProjectedSeconds != 4096 || *st.Horizon.ReachSeconds != 259200 ||
		*st.Horizon.ProjectedWholeSeconds != 1000 {
		t.Fatalf("the API's horizon: %+v (%v)", st.Horizon, err)
	}

	fx := &uiFixture{url: ts.URL, screens: os.Getenv("PRD_UI_SCREENSHOTS")}
	ctx := browser(t)
	do(t, ctx, chromedp.Navigate(ts.URL+"/ui/login"), chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), adminSecret), chromedp.Submit(chromedp.ID("token")))
	waitURL(t, ctx, "/ui/")
	do(t, ctx, chromedp.WaitVisible(chromedp.ID("horizon")))
	fx.shot(t, ctx, "12-overview-horizon")
	text := func(id string) string { return run(t, ctx, chromedp.Text(chromedp.ID(id))) }
	for id, want := range map[string]string{
		"h-reach":     "3.0 days of packets",                                                 // 259,200 s
		"h-projected": "1.1 hours once the budget is full",                                   // 4096 s
		"h-whole":     "16.7 minutes",                                                        // 1000 s
		"h-gain":      "4.1× longer history; compression 2.50×; 37.5% of the bytes seen cut", // 4096 / 1000
		"h-budget":    "1.0 GiB (retention.max_bytes), 68% used",                             // 700 of 1024 MiB
	} {
		if got := strings.TrimSpace(text(id)); got != want {
			t.Errorf("#%s says %q, want %q", id, got, want)
		}
	}
	if main := run(t, ctx, chromedp.Text(chromedp.CSS("main"))); strings.Contains(main, "fit at the current rate") {
		t.Errorf("the store's card still says how many days fit at the peak write rate beside the horizon:\n%s", main)
	}
	rows := run(t, ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#horizon table tbody tr")).map(r => Array.from(r.cells).map(c => c.textContent).join("|"))`))
	want := []string{"1m|1.0 minutes|2.0 MiB/s|512.0 KiB/s", "1h|1.0 hours|1.0 MiB/s|256.0 KiB/s"}
	if strings.Join(rows, "\n") != strings.Join(want, "\n") {
		t.Errorf("rates %q, want %q", rows, want)
	}
	// The bars as drawn: in proportion to 259200, 4096 and 1000 s.
	widths := run(t, ctx, chromedp.Evaluate[[]float64](`Array.from(document.querySelectorAll("#horizon svg rect")).map(r => r.getBBox().width)`))
	if len(widths) != 3 || widths[0] <= 0 {
		t.Fatalf("bars %v", widths)
	}
	for i, s := range []float64{259200, 4096, 1000} {
		if want := widths[0] * s / 259200; math.Abs(widths[i]-max(want, 1)) > 0.01 {
			t.Errorf("bar %d is %.3f wide, want %.3f", i, widths[i], want)
		}
	}
}
