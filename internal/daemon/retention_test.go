package daemon

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/archive"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// retentionLab is a daemon without interfaces over a store of closed
// segments made to order, for retention's passes.
type retentionLab struct {
	d   *Daemon
	a   *archive.Archive
	log *testkit.SyncBuffer
	dir string
}

func newRetentionLab(t *testing.T, retentionYAML string) *retentionLab {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "store")
	cfg, err := Parse([]byte(fmt.Sprintf("store: %s\nsegment:\n  max_bytes: 1MiB\n  max_age: 2s\nretention:\n%s\ninterfaces: [{name: eth0}]\n", dir, retentionYAML)))
	if err != nil {
		t.Fatal(err)
	}
	a, err := archive.Open(dir, archive.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	buf := &testkit.SyncBuffer{}
	d := &Daemon{storeDir: dir, cfg: cfg, log: slog.New(slog.NewTextHandler(buf, nil)), runners: map[string]*ifaceRunner{}}
	d.ret = newRetention(d, a)
	return &retentionLab{d: d, a: a, log: buf, dir: dir}
}

// segment records a closed segment of n packets of 1000 bytes spread
// over [from, to].
func (l *retentionLab) segment(t *testing.T, from, to time.Time, n int) {
	t.Helper()
	// Raw blocks: the retention tests count file bytes per packet.
	rec, err := archive.NewRecording(l.dir, archive.RecordingConfig{Interface: "eth0", LinkType: 1, Snaplen: 65535, Compression: store.Compression{None: true}})
	if err != nil {
		t.Fatal(err)
	}
	b := &store.Block{LinkType: 1}
	payload := make([]byte, 1000)
	for i := range n {
		ts := from.UnixNano() + int64(i)*(to.UnixNano()-from.UnixNano())/int64(max(n-1, 1))
		b.Append(ts, len(payload), payload)
	}
	if err := rec.Append(b); err != nil {
		t.Fatal(err)
	}
	if err := rec.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
}

// kept is how many packets of [from, to] the catalog still has, by segment.
func (l *retentionLab) kept(t *testing.T, from, to time.Time) (segments int, packets int64) {
	t.Helper()
	segs, err := l.a.Select("", from.UnixNano(), to.UnixNano())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range segs {
		segments++
		packets += s.Packets
	}
	return segments, packets
}

// TestRetentionHoldExemptsFromMaxAge: with when_held: delete and room to
// spare, max_age deletes every old segment but the held one. (Before, a
// held segment went by max_age as soon as when_held was delete.)
func TestRetentionHoldExemptsFromMaxAge(t *testing.T) {
	l := newRetentionLab(t, "  max_age: 10s\n  max_bytes: 1GiB\n  when_held: delete")
	base := time.Now().Add(-time.Minute)
	for i := range 3 {
		l.segment(t, base.Add(time.Duration(i)*2*time.Second), base.Add(time.Duration(i)*2*time.Second+time.Second), 100)
	}
	heldFrom, heldTo := base.Add(2*time.Second), base.Add(3*time.Second)
	if _, err := l.a.AddHold(heldFrom.UnixNano(), heldTo.UnixNano(), "case 1"); err != nil {
		t.Fatal(err)
	}
	l.d.ret.run()
	if segs, pkts := l.kept(t, heldFrom, heldTo); segs != 1 || pkts != 100 {
		t.Errorf("held window: %d segments, %d packets kept; want 1 and 100", segs, pkts)
	}
	if segs, _ := l.kept(t, base, base.Add(time.Minute)); segs != 1 {
		t.Errorf("%d segments kept, want only the held one", segs)
	}
	if n := l.d.ret.deletedSegments.Load(); n != 2 {
		t.Errorf("deleted %d segments, want 2", n)
	}
	if l.d.ret.blocked.Load() || l.d.ret.heldSegments.Load() != 0 {
		t.Errorf("blocked %v, held deleted %d: nothing was short of room", l.d.ret.blocked.Load(), l.d.ret.heldSegments.Load())
	}
}

// TestRetentionDeletesHeldOnlyWithoutRoom: over max_bytes with
// when_held: delete, newer segments no hold covers go before an older held
// one; only when holds cover everything is held data deleted, and then
// loudly: a log line, status, metrics.
func TestRetentionDeletesHeldOnlyWithoutRoom(t *testing.T) {
	l := newRetentionLab(t, "  max_bytes: 1GiB\n  when_held: delete")
	base := time.Now().Add(-time.Hour)
	for i := range 4 {
		l.segment(t, base.Add(time.Duration(i)*time.Minute), base.Add(time.Duration(i)*time.Minute+time.Second), 900)
	}
	if err := archive.KeepReserve(l.dir); err != nil {
		t.Fatal(err)
	}
	// The budget, in file bytes as du counts them: all but one and a half
	// segments' worth, so two segments must go.
	segs, err := l.a.Segments()
	if err != nil {
		t.Fatal(err)
	}
	one := l.a.SegmentFileBytes(segs[0])
	if one < 900*1000 {
		t.Fatalf("a segment of 900 kB takes %d file bytes", one)
	}
	l.d.cfg.Retention.MaxBytes = Size(archive.DiskUsage(l.dir).Total - one - one/2)
	oldest := base.Add(time.Second / 2)
	if _, err := l.a.AddHold(oldest.UnixNano(), oldest.UnixNano(), "the first minute"); err != nil {
		t.Fatal(err)
	}
	l.d.ret.run()
	if n, _ := l.kept(t, oldest, oldest); n != 1 {
		t.Errorf("the held (oldest) segment went while newer ones could go")
	}
	if n, _ := l.kept(t, base, time.Now()); n != 2 {
		t.Errorf("%d segments kept, want 2 (the held one and the newest)", n)
	}
	if l.d.ret.heldSegments.Load() != 0 || l.d.ret.blocked.Load() {
		t.Errorf("held deleted %d, blocked %v", l.d.ret.heldSegments.Load(), l.d.ret.blocked.Load())
	}

	// A hold over everything, and a budget of half a segment less: only
	// held data can go, and it does, loudly.
	if _, err := l.a.AddHold(base.UnixNano(), time.Now().UnixNano(), "everything"); err != nil {
		t.Fatal(err)
	}
	l.d.cfg.Retention.MaxBytes = Size(archive.DiskUsage(l.dir).Total - one/2)
	l.d.ret.run()
	if n, _ := l.kept(t, base, time.Now()); n != 1 {
		t.Errorf("%d segments kept, want 1", n)
	}
	if n := l.d.ret.heldSegments.Load(); n != 1 {
		t.Errorf("held segments deleted: %d, want 1", n)
	}
	if !l.d.ret.blocked.Load() {
		t.Errorf("not blocked, though holds left no room")
	}
	if !strings.Contains(l.log.String(), "holds leave no room: deleted held segments") {
		t.Errorf("no log line for deleting held data:\n%s", l.log)
	}
	st := l.d.status()
	if st.Retention.DeletedHeldSegments != 1 || st.Retention.DeletedHeldPackets != 900 || st.Retention.DeletedHeldBytes < 900*1000 {
		t.Errorf("status: %+v", st.Retention)
	}
}

// TestWhenHeldReloadResumes: with when_held: stop, holds that leave no
// room pause recording; a reload to when_held: delete resumes it at the
// next pass (which deletes held data instead). Nothing else cleared the
// pause: the interfaces stayed paused, /healthz 503, until a restart.
func TestWhenHeldReloadResumes(t *testing.T) {
	l := newRetentionLab(t, "  max_bytes: 1GiB\n  when_held: stop")
	base := time.Now().Add(-time.Hour)
	for i := range 2 {
		l.segment(t, base.Add(time.Duration(i)*time.Minute), base.Add(time.Duration(i)*time.Minute+time.Second), 900)
	}
	if _, err := l.a.AddHold(base.UnixNano(), time.Now().UnixNano(), "everything"); err != nil {
		t.Fatal(err)
	}
	segs, err := l.a.Segments()
	if err != nil {
		t.Fatal(err)
	}
	l.d.cfg.Retention.MaxBytes = Size(archive.DiskUsage(l.dir).Total - l.a.SegmentFileBytes(segs[0])/2)
	l.d.ret.run()
	if !l.d.paused.Load() {
		t.Fatal("when_held: stop with no room: recording not paused")
	}
	l.d.cfg.Retention.WhenHeld = "delete"
	l.d.ret.run()
	if l.d.paused.Load() {
		t.Error("after the reload to when_held: delete, recording is still paused")
	}
}
