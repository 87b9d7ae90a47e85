package cli_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// horizonStatusJSON is a daemon's status with a horizon: 700 MiB of a
// 1 GiB max_bytes budget used, the oldest packet 3 days old, 1 MiB/s
// seen and 256 KiB/s stored over the hour (half a MiB/s in the last
// minute).
const horizonStatusJSON = `{"version":"x","started_at":"2026-12-07T10:00:00Z","interfaces":[],
	"store":{"path":"/s","file_bytes":734003200,"oldest_packet":"2026-12-04T10:00:00Z","newest_packet":"2026-12-07T10:00:00Z"},
	"retention":{},
	"horizon":{"reach_seconds":259200,"budget_bytes":1073741824,"budget_from":"max_bytes","used_bytes":734003200,"max_age_seconds":0,
		"projected_seconds":4096,"limited_by":"budget","projected_whole_seconds":1000,"compression_ratio":2.5,"cut_share":0.375,
		"rates":[{"window":"1m","span_seconds":60,"seen_bytes_per_second":2097152,"stored_bytes_per_second":524288,"interfaces":[]},
			{"window":"1h","span_seconds":3600,"seen_bytes_per_second":1048576,"stored_bytes_per_second":262144,"interfaces":[]}]}}`

// TestStatusShowsHorizon: status says the daemon's horizon in human
// units (the numbers worked out by hand from the JSON), and --json
// passes the daemon's keys through.
func TestStatusShowsHorizon(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, horizonStatusJSON)
	}))
	defer srv.Close()
	out := mustRun(t, "status", "--server", srv.URL)
	for _, want := range []string{
		"horizon: the store reaches back 3.0 days (oldest packet ",
		"budget 1.0 GiB (retention.max_bytes), 68% used", // 700 MiB of 1024
		"stored 256.0 KiB/s of 1.0 MiB/s seen on the wire over the last 1.0 hours (last 1.0 minutes: 512.0 KiB/s of 2.0 MiB/s)",
		"at that rate the budget holds 1.1 hours; 16.7 minutes if every packet were stored whole and uncompressed", // 4096 s, 1000 s
		"compression 2.50x, 37.5% of the bytes seen cut",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	var st struct {
		Horizon struct {
			Projected *float64 `json:"projected_seconds"`
			Rates     []struct {
				Window string `json:"window"`
			} `json:"rates"`
		} `json:"horizon"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, "status", "--server", srv.URL, "--json")), &st); err != nil {
		t.Fatal(err)
	}
	if st.Horizon.Projected == nil || *st.Horizon.Projected != 4096 || len(st.Horizon.Rates) != 2 {
		t.Errorf("status --json: %+v", st.Horizon)
	}
}
