package fleet

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func testFlow(i int) FlowRow {
	return FlowRow{Interface: "eth0", FirstNS: int64(i), LastNS: int64(i) + 5, CommunityID: fmt.Sprintf("1:%d", i), Proto: 17,
		Src: mustAddr("10.0.0.1"), Dst: mustAddr("10.0.0.2"), SPort: uint16(i), DPort: 53, Packets: [2]uint64{1, 0}, Ended: true}
}

// runOutbox runs an outbox's flusher until the test ends or stop.
func runOutbox(t *testing.T, o *Outbox) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { o.Run(ctx); close(done) }()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	t.Cleanup(stop)
	return stop
}

func appendFlows(t *testing.T, o *Outbox, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		f := testFlow(i)
		if !o.appendRecord(kindFlow, encodeFlow(nil, &f)) {
			t.Fatalf("record %d refused", i)
		}
	}
}

func nextAll(t *testing.T, o *Outbox, want int) []record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []record
	for len(out) < want {
		recs, err := o.Next(ctx, 1000)
		if err != nil {
			t.Fatalf("after %d of %d records: %v", len(out), want, err)
		}
		out = append(out, recs...)
	}
	return out
}

// A crash mid-write leaves a torn record at the end of the last file: it
// is cut off at the next open, the records before it are all there in
// order, the acknowledged ones are not read again, and appending goes on
// with the next sequence number. Files are private (0600).
func TestOutboxRecoversTornTail(t *testing.T) {
	dir := filepath.Join(t.TempDir(), OutboxDir)
	o, err := OpenOutbox(dir, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := runOutbox(t, o)
	appendFlows(t, o, 0, 1000)
	recs := nextAll(t, o, 1000)
	o.Ack(recs[299].seq)
	stop()
	files, _ := filepath.Glob(filepath.Join(dir, "*"+recSuffix))
	if len(files) != 1 {
		t.Fatalf("files %v", files)
	}
	for _, p := range append(files, filepath.Join(dir, ackedFile)) {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v, want 0600", p, fi.Mode(), err)
		}
	}
	// Half a record at the end.
	f, _ := os.OpenFile(files[0], os.O_WRONLY|os.O_APPEND, 0)
	half := testFlow(5000)
	frame := encodeFlow(nil, &half)
	f.Write([]byte{0, 0, 0, byte(len(frame) + 9), 1, 2, 3, 4, 0, 0})
	f.Close()

	o, err = OpenOutbox(dir, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st := o.Stats(); st.Records != 700 {
		t.Errorf("reopened: %d records, want 700 (1000, 300 acknowledged)", st.Records)
	}
	runOutbox(t, o)
	appendFlows(t, o, 1000, 10)
	recs = nextAll(t, o, 710)
	if len(recs) != 710 {
		t.Fatalf("%d records", len(recs))
	}
	for i, r := range recs {
		if want := 300 + i; r.flow.CommunityID != fmt.Sprintf("1:%d", want) || r.seq != uint64(want+1) {
			t.Fatalf("record %d: seq %d %s, want seq %d flow %d", i, r.seq, r.flow.CommunityID, want+1, want)
		}
	}
}

// TestOutboxBatchBytesBounded: a batch is one transaction with its
// timeout, so the outbox hands out about maxBatchBytes of records at a
// time however many the count allows: 40 segment records with 512 KiB
// summaries (20 MiB) come in batches of at most maxBatchBytes plus one
// record, all of them, in order. Without the bound one batch held them
// all, which a slow link could not commit in time, ever.
func TestOutboxBatchBytesBounded(t *testing.T) {
	dir := filepath.Join(t.TempDir(), OutboxDir)
	o, err := OpenOutbox(dir, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	runOutbox(t, o)
	const n = 40
	sum := make([]byte, 512<<10)
	for i := range n {
		s := SegmentRow{Interface: "eth0", Segment: fmt.Sprintf("seg%d.db", i), FirstNS: int64(i), LastNS: int64(i) + 1, Packets: 1, Closed: true, Summary: sum}
		if !o.appendRecord(kindSegment, encodeSegment(nil, &s)) {
			t.Fatalf("record %d refused", i)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []record
	batches := 0
	for len(got) < n {
		recs, err := o.Next(ctx, 50000)
		if err != nil {
			t.Fatalf("after %d of %d records: %v", len(got), n, err)
		}
		if size := len(recs) * len(sum); size > maxBatchBytes+len(sum) {
			t.Errorf("a batch of %d records, %d summary bytes: over %d", len(recs), size, maxBatchBytes)
		}
		got = append(got, recs...)
		batches++
	}
	for i, r := range got {
		if r.seg.Segment != fmt.Sprintf("seg%d.db", i) {
			t.Fatalf("record %d is %q", i, r.seg.Segment)
		}
	}
	if batches < n*len(sum)/maxBatchBytes {
		t.Errorf("%d batches for %d MiB", batches, n*len(sum)>>20)
	}
}
