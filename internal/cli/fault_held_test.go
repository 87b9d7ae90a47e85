package cli_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/netlab"
)

// retentionExtra is what these tests read of the status beyond
// daemonStatus: the held data retention deleted.
type retentionExtra struct {
	Store struct {
		FileBytes int64 `json:"file_bytes"`
		Holds     []struct {
			Reason string `json:"reason"`
		} `json:"holds"`
	} `json:"store"`
	Retention struct {
		Blocked             bool  `json:"blocked"`
		DeletedHeldSegments int64 `json:"deleted_held_segments"`
		DeletedHeldPackets  int64 `json:"deleted_held_packets"`
	} `json:"retention"`
}

func (d *daemonProc) statusExtra(t *testing.T) retentionExtra {
	t.Helper()
	code, body := d.get(t, "/api/v1/status")
	var x retentionExtra
	if code != 200 || json.Unmarshal([]byte(body), &x) != nil {
		t.Fatalf("status: %d %s", code, body)
	}
	return x
}

// TestFaultHeldWindowSurvivesMaxAge: with when_held: delete and a store
// with room to spare (max_bytes 10GiB, a large filesystem), a held burst
// outlives max_age whole, packet for packet as the sender counted them,
// while the unheld traffic after it goes by max_age; no held data is
// deleted and retention is not blocked. Before: the held window was gone
// 14 s later, silently, blocked false.
func TestFaultHeldWindowSurvivesMaxAge(t *testing.T) {
	lab := netlab.New(t, "fhw")
	d, _, st := startStoreDaemon(t, `store: %s
compression: none
segment:
  max_age: 2s
retention:
  max_age: 4s
  max_bytes: 10GiB
  when_held: delete
listen: 127.0.0.1:0
interfaces:
  - name: %s
    filter: udp dst port 9999
`, lab.HostIf)
	tA0 := time.Now()
	sentA := flood(t, lab, 9999, 5_000, 2*time.Second)
	tA1 := time.Now()
	since, until := tA0.Add(-100*time.Millisecond).UTC().Format(time.RFC3339Nano), tA1.Add(100*time.Millisecond).UTC().Format(time.RFC3339Nano)
	mustRun(t, "hold", "-d", st, "--since", since, "--until", until, "--reason", "burst A")
	// A gap longer than a segment's age: A's segments close by age, and
	// B's packets go into segments of their own.
	time.Sleep(3 * time.Second)
	tB0 := time.Now()
	sentB := flood(t, lab, 9999, 5_000, 3*time.Second)
	time.Sleep(6 * time.Second) // B's first segments pass max_age
	s, x := d.status(t), d.statusExtra(t)
	if code, body := d.get(t, "/healthz"); code != 200 {
		t.Errorf("/healthz %d %s", code, body)
	}
	d.stop(t, 5*time.Second)

	if n := storeCount(t, st, "--since", since, "--until", until); n != int64(sentA) {
		t.Errorf("the held window holds %d packets, the sender sent %d", n, sentA)
	}
	early := tB0.Add(time.Second).UTC().Format(time.RFC3339Nano)
	if n := storeCount(t, st, "--since", tB0.UTC().Format(time.RFC3339Nano), "--until", early); n != 0 {
		t.Errorf("%d unheld packets older than max_age kept", n)
	}
	if s.Retention.DeletedSegments == 0 || s.Retention.DeletedPackets == 0 {
		t.Errorf("max_age deleted nothing: %+v", s.Retention)
	}
	if x.Retention.DeletedHeldSegments != 0 || x.Retention.Blocked || s.Retention.Blocked {
		t.Errorf("room to spare, yet held data deleted (%d segments) or blocked (%v)", x.Retention.DeletedHeldSegments, x.Retention.Blocked)
	}
	if len(x.Store.Holds) != 1 || x.Store.Holds[0].Reason != "burst A" {
		t.Errorf("holds in status: %+v", x.Store.Holds)
	}
	if strings.Contains(d.stderr.String(), "deleted held segments") {
		t.Errorf("the log says held segments were deleted: %s", grepLines(d.stderr.String(), "held"))
	}
	countInvariant(t, settle(t, d, s), int64(sentA+sentB), 0, storeCount(t, st))
}

// TestFaultHeldDeletedLoudly: holds over everything on a store over its
// max_bytes with when_held: delete: held segments go, but only then, and
// loudly: a log line, blocked and the held counters in status and metrics.
func TestFaultHeldDeletedLoudly(t *testing.T) {
	lab := netlab.New(t, "fhl")
	d, _, st := startStoreDaemon(t, `store: %s
compression: none
segment:
  max_bytes: 1MiB
retention:
  max_bytes: 8MiB
  when_held: delete
listen: 127.0.0.1:0
interfaces:
  - name: %s
    filter: udp dst port 9999
`, lab.HostIf)
	mustRun(t, "hold", "-d", st, "--since", "2000-01-01T00:00:00Z", "--until", "2200-01-01T00:00:00Z", "--reason", "everything")
	sent := flood(t, lab, 9999, 20_000, 4*time.Second)
	time.Sleep(1500 * time.Millisecond)
	s, x := d.status(t), d.statusExtra(t)
	_, metrics := d.get(t, "/metrics")
	d.stop(t, 5*time.Second)
	if x.Retention.DeletedHeldSegments == 0 || x.Retention.DeletedHeldPackets != s.Retention.DeletedPackets {
		t.Errorf("held deleted: %+v; all deleted: %+v", x.Retention, s.Retention)
	}
	if !strings.Contains(d.stderr.String(), "holds leave no room: deleted held segments") {
		t.Errorf("no log line for deleting held data")
	}
	if !strings.Contains(metrics, "packetrecorder_retention_deleted_held_segments_total ") ||
		strings.Contains(metrics, "packetrecorder_retention_deleted_held_segments_total 0\n") {
		t.Errorf("metrics: %s", grepLines(metrics, "held"))
	}
	if x.Store.FileBytes > 8<<20+(2<<20) {
		t.Errorf("store at %d file bytes against max_bytes 8MiB", x.Store.FileBytes)
	}
	countInvariant(t, settle(t, d, s), int64(sent), 0, storeCount(t, st))
}
