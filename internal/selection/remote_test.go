package selection

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

// TestRemoteLimitReadsEnd: a walk with a limit over a hub's answer still
// learns which sensors the hub could not reach. The hub, told the limit,
// sends that many packets and then its end line naming a sensor cut off
// mid-stream; the walk stopped at its limit without reading that line,
// and the answer looked whole (the CLI exited 0).
func TestRemoteLimitReadsEnd(t *testing.T) {
	const total = 50
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("describe") == "true" {
			json.NewEncoder(w).Encode(Description{LinkTypes: []uint32{1}, Interfaces: []DescriptionInterface{{ID: 0, Name: "a/eth0", LinkType: 1}}})
			return
		}
		n := total
		if l, err := strconv.Atoi(q.Get("limit")); err == nil && l > 0 && l < n {
			n = l
		}
		enc := json.NewEncoder(w)
		for i := range n {
			enc.Encode(PacketJSON{N: int64(i + 1), TS: time.Unix(1_700_000_000, int64(i)).UTC().Format(time.RFC3339Nano), CapLen: 2, Len: 2, LinkType: 1, Data: "abcd", Interface: "a/eth0"})
		}
		enc.Encode(map[string]End{"end": {Packets: int64(n), Truncated: n < total, Missing: []Missing{{Sensor: "c", Error: "its stream broke"}}}})
	}))
	defer srv.Close()
	for _, limit := range []int64{0, 7, total} {
		sl, err := Open(context.Background(), Spec{Server: Remote{Server: srv.URL}})
		if err != nil {
			t.Fatal(err)
		}
		n := int64(0)
		if err := sl.Walk(context.Background(), limit, func(store.Record) error { n++; return nil }); err != nil {
			t.Fatalf("limit %d: %v", limit, err)
		}
		want := limit
		if want == 0 {
			want = total
		}
		if n != want {
			t.Errorf("limit %d: walked %d packets, want %d", limit, n, want)
		}
		if m := sl.Missing(); len(m) != 1 || m[0].Sensor != "c" {
			t.Errorf("limit %d: missing %s, want sensor c named", limit, fmt.Sprint(m))
		}
		sl.Close()
	}
}

// fakeSensor serves describe and n packets of one interface from ts on,
// one every gap.
func fakeSensor(t *testing.T, n int, ts time.Time, gap time.Duration) *Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("describe") == "true" {
			json.NewEncoder(w).Encode(Description{LinkTypes: []uint32{1}, Interfaces: []DescriptionInterface{{ID: 0, Name: "eth0", LinkType: 1}},
				FirstNS: ts.UnixNano(), LastNS: ts.Add(time.Duration(n) * time.Second).UnixNano(), Packets: int64(n)})
			return
		}
		enc := json.NewEncoder(w)
		fl, _ := w.(http.Flusher)
		for i := range n {
			enc.Encode(PacketJSON{N: int64(i + 1), TS: ts.Add(time.Duration(i) * time.Second).UTC().Format(time.RFC3339Nano), CapLen: 2, Len: 2, LinkType: 1, Data: "abcd", Interface: "eth0"})
			if gap > 0 {
				fl.Flush()
				time.Sleep(gap)
			}
		}
		enc.Encode(map[string]End{"end": {Packets: int64(n)}})
	}))
	t.Cleanup(srv.Close)
	c, err := Dial(Remote{Server: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestFleetTimeoutIsTheSensors: a sensor whose packets all come after
// another's waits in the merge while the other streams, longer than the
// sensor timeout; that wait is not the sensor's pause. Both answer whole
// and none is named missing; the waiting one used to be cut off as
// stalled ("no answer for ...").
func TestFleetTimeoutIsTheSensors(t *testing.T) {
	base := time.Unix(1_700_000_000, 0)
	early := fakeSensor(t, 8, base, 100*time.Millisecond) // 0.8 s in all, no pause over 0.1 s
	late := fakeSensor(t, 2000, base.Add(time.Hour), 0)   // more than the merge's buffer holds
	spec := Spec{Server: Remote{Server: "fleet", Fleet: &Fleet{Timeout: 400 * time.Millisecond, Sensors: []FleetSensor{
		{Name: "early", Client: early}, {Name: "late", Client: late}}}}}
	sl, err := Open(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	defer sl.Close()
	n := 0
	if err := sl.Walk(context.Background(), 0, func(store.Record) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if m := sl.Missing(); n != 2008 || len(m) != 0 {
		t.Errorf("walked %d of 2008 packets, missing %v", n, m)
	}
}

// TestFleetOfHubsKeepsInnerMissing: a sensor that is itself a hub, and
// whose answer lacks one of its own sensors, makes the fleet's answer
// partial too, naming HUB/SENSOR, in a walk and in a count. The inner
// hub's end line and count were read and thrown away: the outer answer
// looked whole.
func TestFleetOfHubsKeepsInnerMissing(t *testing.T) {
	inner := []Missing{{Sensor: "d", Error: "connection refused"}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		switch {
		case q.Get("describe") == "true":
			json.NewEncoder(w).Encode(Description{LinkTypes: []uint32{1}, Interfaces: []DescriptionInterface{{ID: 0, Name: "c/eth0", LinkType: 1}}, Packets: 1, Missing: inner})
		case q.Get("count") == "true":
			json.NewEncoder(w).Encode(CountAnswer{Count: 1, Missing: inner})
		default:
			enc := json.NewEncoder(w)
			enc.Encode(PacketJSON{N: 1, TS: time.Unix(1_700_000_000, 0).UTC().Format(time.RFC3339Nano), CapLen: 2, Len: 2, LinkType: 1, Data: "abcd", Interface: "c/eth0"})
			enc.Encode(map[string]End{"end": {Packets: 1, Missing: inner}})
		}
	}))
	defer srv.Close()
	c, err := Dial(Remote{Server: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	spec := Spec{Server: Remote{Server: "fleet", Fleet: &Fleet{Sensors: []FleetSensor{{Name: "hubB", Client: c}}}}}
	for _, count := range []bool{false, true} {
		sl, err := Open(context.Background(), spec)
		if err != nil {
			t.Fatal(err)
		}
		if count {
			if n, err := sl.Count(context.Background()); err != nil || n != 1 {
				t.Fatalf("count %d, %v", n, err)
			}
		} else if err := sl.Walk(context.Background(), 0, func(store.Record) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if m := sl.Missing(); len(m) != 1 || m[0].Sensor != "hubB/d" || m[0].Error != "connection refused" {
			t.Errorf("count %v: missing %v, want hubB/d", count, m)
		}
		sl.Close()
	}
}

// TestFleetKeepalive: a sensor that finds nothing for longer than the
// sensor timeout but says it is there (keepalive lines, which the hub
// asks for with HeaderKeepalive) is not named missing; one that says
// nothing for as long is.
func TestFleetKeepalive(t *testing.T) {
	for _, alive := range []bool{true, false} {
		asked := make(chan string, 1)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			q := r.URL.Query()
			if q.Get("describe") == "true" {
				json.NewEncoder(w).Encode(Description{LinkTypes: []uint32{1}, Interfaces: []DescriptionInterface{{ID: 0, Name: "eth0", LinkType: 1}}, Packets: 1})
				return
			}
			select {
			case asked <- r.Header.Get(HeaderKeepalive):
			default:
			}
			fl := w.(http.Flusher)
			for range 8 { // 1.2 s of walking that finds nothing
				if alive {
					io.WriteString(w, `{"keepalive":true}`+"\n")
					fl.Flush()
				}
				time.Sleep(150 * time.Millisecond)
			}
			enc := json.NewEncoder(w)
			enc.Encode(PacketJSON{N: 1, TS: time.Unix(1_700_000_000, 0).UTC().Format(time.RFC3339Nano), CapLen: 2, Len: 2, LinkType: 1, Data: "abcd", Interface: "eth0"})
			enc.Encode(map[string]End{"end": {Packets: 1}})
		}))
		c, err := Dial(Remote{Server: srv.URL})
		if err != nil {
			t.Fatal(err)
		}
		spec := Spec{Server: Remote{Server: "fleet", Fleet: &Fleet{Timeout: 500 * time.Millisecond, Sensors: []FleetSensor{{Name: "s", Client: c}}}}}
		sl, err := Open(context.Background(), spec)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		if err := sl.Walk(context.Background(), 0, func(store.Record) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		m := sl.Missing()
		sl.Close()
		srv.Close()
		if d, err := time.ParseDuration(<-asked); err != nil || d < time.Second {
			t.Errorf("the hub asked for keepalives every %v (%v)", d, err)
		}
		if alive && (n != 1 || len(m) != 0) {
			t.Errorf("a sensor that kept saying it was there: %d packets, missing %v", n, m)
		}
		if !alive && (len(m) != 1 || m[0].Sensor != "s") {
			t.Errorf("a sensor that said nothing for 1.2 s: %d packets, missing %v, want it named", n, m)
		}
	}
}
