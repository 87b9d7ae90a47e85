package archive

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/index"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

// RecordingConfig describes one continuous recording: one ring of one
// interface.
type RecordingConfig struct {
	Interface  string
	Ring       int // fanout ring number, 0 for the first
	Filter     string
	LinkType   uint32
	Snaplen    uint32
	Promisc    bool
	BufferSize int64
	Netmask    uint32 // the interface's IPv4 netmask, for "ip broadcast"
	// A segment closes once it holds MaxBytes (on disk) or is MaxAge old,
	// whichever comes first, at the commit that reaches it.
	MaxBytes int64
	MaxAge   time.Duration
	// Compression is how the segments store their blocks (the zero
	// value: zstd where it pays).
	Compression store.Compression
	Logger      *slog.Logger
	// Catalogued, when set, is called with a segment's summary whenever
	// the recording writes its catalog row and the segment holds packets
	// (after a commit, and when it closes), from the recording's
	// goroutine: it must not block.
	Catalogued func(Segment)
	// Room, when set, is called with the bytes a transaction adds to the
	// filesystem at most (its blocks, uncompressed): before the first
	// Append of each transaction (and the segment it may open), before
	// an Append that takes it past a multiple of roomStep (SQLite writes
	// the pages of a large transaction before its commit), and before
	// each commit, from the recording's goroutine. It may wait, bounded, for room:
	// the daemon's retention makes it when the filesystem is low, so a
	// writer does not grow the store past retention's floor while
	// retention is behind (a busy machine).
	Room func(need int64)
}

// Recording writes a continuous recording into segments, rolling over to
// a new segment between two commits: the recorder above it never notices,
// and no packet is lost or written twice. Packet numbers go on across
// segments. It implements recorder.Sink and is used by one goroutine.
type Recording struct {
	a    *Archive // a catalog connection of its own
	cfg  RecordingConfig
	uuid string
	next int64 // number of the next packet
	seg  *openSegment
	// hosts are the SQLite instances the segments are written on, warm
	// from one segment to the next: two, so that the next segment opens
	// on one while the open one closes on the other (see rollOver).
	hosts [2]*store.Host
	busy  time.Duration
	log   *slog.Logger

	// Closed counts the segments this recording closed; Err holds the
	// last catalog error (the catalog is an index: recording goes on).
	Closed  int64
	Err     error
	pending struct {
		packets int64
		bytes   int64 // of the blocks appended since the last commit
		lo, hi  int64
	}
	// unsynced are closed segments whose last catalog update failed:
	// retried after each commit until it lands.
	unsynced []*openSegment
	// filter is the filter set while recording (SetFilter); nil until then.
	filter atomic.Pointer[string]
	// blobs is the blob bytes the closed segments' writers committed
	// (StoredBytes).
	blobs int64
	// spare is a segment summary's accumulator to reuse (1 MiB).
	spare *index.Summary
}

// SetFilter says that the packets pass expr from now on (the capture's
// filter was swapped in place): the open segment closes at its next
// commit, and the next segment's session names expr. It may be called
// from any goroutine. Packets the capture admitted under the old filter
// and read after the swap may land in the new segment.
func (r *Recording) SetFilter(expr string) { r.filter.Store(&expr) }

// filterNow is the filter of the packets being recorded.
func (r *Recording) filterNow() string {
	if f := r.filter.Load(); f != nil {
		return *f
	}
	return r.cfg.Filter
}

type openSegment struct {
	host     *store.Host
	db       *store.DB
	w        *store.Writer
	endBulk  func()
	session  store.Session
	rel      string
	opened   time.Time
	packets  int64
	lo, hi   int64
	hasRange bool
	// summary gathers the terms of the segment's blocks while it is
	// written; sketch is the summary made of it when the segment closes,
	// kept until the catalog has taken it.
	summary *index.Summary
	sketch  []byte
	paired  bool
}

// NewRecording starts a recording in the store directory dir (which Open
// has created). The first segment is made with the first packet.
func NewRecording(dir string, cfg RecordingConfig) (*Recording, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	a, err := Open(dir, Options{Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	// Catalog updates come between two commits of the recorder: they
	// never wait long for another process's transaction (the next one
	// carries the same absolute counts).
	a.conn.BusyTimeout(catalogWait)
	a.busy = catalogWait
	var b [16]byte
	rand.Read(b[:])
	uuid := fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
	return &Recording{a: a, cfg: cfg, uuid: uuid, next: 1, busy: 10 * time.Second, log: cfg.Logger}, nil
}

// ID is the recording's UUID.
func (r *Recording) ID() string { return r.uuid }

// Next is the number the next packet will get.
func (r *Recording) Next() int64 { return r.next }

func (r *Recording) open() error {
	seg, err := r.openNext()
	if err != nil {
		return err
	}
	r.seg = seg
	return nil
}

// freeHost is a host the open segment, if any, is not written on.
func (r *Recording) freeHost() (*store.Host, error) {
	for i, h := range r.hosts {
		if h != nil && r.seg != nil && r.seg.host == h {
			continue
		}
		if h == nil {
			var err error
			if h, err = store.NewHost(); err != nil {
				return nil, err
			}
			r.hosts[i] = h
		}
		return h, nil
	}
	return nil, errors.New("no free database host") // cannot happen: one segment is open at most
}

// openNext creates a segment for the packets from r.next on, beside the
// open one if any.
func (r *Recording) openNext() (*openSegment, error) {
	dir := filepath.Join(r.a.dir, SegmentsDir, r.cfg.Interface)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	now := time.Now()
	var rel, path string
	var creating *store.Creating
	for t := now; ; t = t.Add(time.Nanosecond) {
		rel = filepath.Join(SegmentsDir, r.cfg.Interface, fmt.Sprintf("%s-r%d.db", t.UTC().Format("20060102T150405.000000000Z"), r.cfg.Ring))
		path = filepath.Join(r.a.dir, rel)
		var err error
		if creating, err = store.Create(path); err == nil {
			break
		} else if !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
	}
	// Until the file holds its session and the catalog its row, a repair
	// (another ring starting, a hold from the command line) would take it
	// for one a killed recording left empty, and remove it.
	defer creating.Release()
	host, err := r.freeHost()
	if err != nil {
		os.Remove(path)
		return nil, err
	}
	db, err := host.Open(path, store.Options{Create: true, NoReserve: true})
	if err != nil {
		os.Remove(path) // a full disk may leave a file too short to be a segment
		return nil, err
	}
	sess := &store.Session{
		Name:        fmt.Sprintf("%s ring %d", r.cfg.Interface, r.cfg.Ring),
		Interface:   r.cfg.Interface,
		Filter:      r.filterNow(),
		LinkType:    r.cfg.LinkType,
		Snaplen:     r.cfg.Snaplen,
		Promisc:     r.cfg.Promisc,
		BufferSize:  r.cfg.BufferSize,
		Started:     now,
		Notes:       "recording " + r.uuid,
		FirstPacket: r.next,
		Netmask:     r.cfg.Netmask,
	}
	if err := db.CreateSession(sess); err != nil {
		db.Close()
		os.Remove(path)
		return nil, err
	}
	w, err := db.NewWriter(sess.ID)
	if err != nil {
		db.Close()
		os.Remove(path)
		return nil, err
	}
	w.SetBusyTimeout(r.busy)
	if err := w.SetCompression(r.cfg.Compression); err != nil {
		w.Close()
		db.Close()
		os.Remove(path)
		return nil, err
	}
	end := func() {}
	if e, ok := db.BeginBulk(); ok {
		end = e
	}
	sum := r.spare
	r.spare = nil
	if sum == nil {
		sum = new(index.Summary)
	}
	sum.Reset()
	sum.SetPairs(true)
	w.SetSummary(sum)
	seg := &openSegment{host: host, db: db, w: w, endBulk: end, session: *sess, rel: rel, opened: now, summary: sum}
	r.catalog(seg, fileSize(path), false)
	return seg, nil
}

// roomStep is how much a transaction grows between two asks for room
// (RecordingConfig.Room): about what SQLite's page cache holds before it
// writes pages out.
const roomStep = 2 << 20

// catalogWait is how long a recording's catalog update waits for a lock.
const catalogWait = 250 * time.Millisecond

// Append adds a block to the open transaction, opening a segment first
// if none is open.
func (r *Recording) Append(b *store.Block) error {
	if n := r.pending.bytes + int64(len(b.Data)); r.cfg.Room != nil && (r.pending.bytes == 0 || n/roomStep != r.pending.bytes/roomStep) {
		r.cfg.Room(n)
	}
	if r.seg == nil {
		if err := r.open(); err != nil {
			return err
		}
	}
	// The Writer adds the block's terms and address-port pairs to the
	// segment's summary (SetSummary).
	if err := r.seg.w.Append(b); err != nil {
		return err
	}
	p := &r.pending
	if p.packets == 0 {
		p.lo, p.hi = b.MinTS, b.MaxTS
	}
	p.lo, p.hi = min(p.lo, b.MinTS), max(p.hi, b.MaxTS)
	p.packets += int64(b.Count)
	p.bytes += int64(len(b.Data))
	return nil
}

// Compression is how the segments store their blocks: the recorder
// prepares blocks ahead with it (store.PrepareBlock).
func (r *Recording) Compression() store.Compression { return r.cfg.Compression }

// SummaryPairs says that the recording's segment summaries take the
// address-port pairs of its blocks' packets: a recorder's preparers
// collect them while they sketch each block (store.Preparer.Pairs).
func (r *Recording) SummaryPairs() bool { return true }

// StoredBytes is the bytes of the block blobs the recording has
// committed, in all its segments: what its blocks take compressed (or
// raw), before the files' own overhead.
func (r *Recording) StoredBytes() int64 {
	n := r.blobs
	if r.seg != nil && r.seg.w != nil {
		n += r.seg.w.StoredBytes()
	}
	return n
}

// InTx reports whether blocks wait for Commit.
func (r *Recording) InTx() bool { return r.seg != nil && r.seg.w.InTx() }

// Rollback abandons the blocks appended since the last Commit.
func (r *Recording) Rollback() error {
	r.pending.packets, r.pending.bytes = 0, 0
	if r.seg == nil {
		return nil
	}
	return r.seg.w.Rollback()
}

// Dir is the directory of the segments (for a spill file).
func (r *Recording) Dir() string {
	dir := filepath.Join(r.a.dir, SegmentsDir, r.cfg.Interface)
	os.MkdirAll(dir, 0o700)
	return dir
}

// SetBusyTimeout bounds how long a write waits for a lock.
func (r *Recording) SetBusyTimeout(d time.Duration) error {
	r.busy = d
	if r.seg != nil {
		return r.seg.w.SetBusyTimeout(d)
	}
	return nil
}

// Commit makes the appended blocks durable, updates the catalog, and
// closes the segment when it has reached its size or age.
func (r *Recording) Commit() error {
	seg := r.seg
	if seg == nil || !seg.w.InTx() {
		return nil
	}
	if r.cfg.Room != nil {
		r.cfg.Room(r.pending.bytes)
	}
	if err := seg.w.Commit(); err != nil {
		return err
	}
	p := r.pending
	r.pending.packets, r.pending.bytes = 0, 0
	r.next = seg.w.Next()
	if p.packets > 0 {
		if !seg.hasRange {
			seg.lo, seg.hi, seg.hasRange = p.lo, p.hi, true
		}
		seg.lo, seg.hi = min(seg.lo, p.lo), max(seg.hi, p.hi)
		seg.packets += p.packets
	}
	size := fileSize(filepath.Join(r.a.dir, seg.rel))
	r.catalog(seg, size, false)
	if len(r.unsynced) > 0 {
		r.resync()
	}
	if size >= r.cfg.MaxBytes && r.cfg.MaxBytes > 0 || r.cfg.MaxAge > 0 && time.Since(seg.opened) >= r.cfg.MaxAge ||
		seg.session.Filter != r.filterNow() {
		// The packets are committed: a segment that cannot be closed
		// cleanly (its file made unwritable) is no commit error, else the
		// recorder would store them again.
		if err := r.rollOver(); err != nil {
			r.log.Warn("close segment", "ring", r.cfg.Ring, "err", err)
		}
	}
	return nil
}

// Reopen gives up the open segment after a write it refused (disk full,
// EIO, the file made immutable): what it committed stays, it is closed as
// well as it can be, and the next Append starts a new segment. The
// recorder calls it before it retries the blocks it holds.
func (r *Recording) Reopen() error {
	if r.seg == nil {
		return nil
	}
	r.seg.w.Rollback()
	r.pending.packets, r.pending.bytes = 0, 0
	return r.roll()
}

// Tick closes a segment that has reached its age on an idle link, so that
// retention can expire it. The recorder calls it between transactions.
func (r *Recording) Tick() error {
	if len(r.unsynced) > 0 {
		r.resync()
	}
	// An empty segment stays open however old: it is the recording's
	// mark of life (see rollOver), and closing it would only make another.
	if r.seg != nil && !r.seg.w.InTx() && (r.cfg.MaxAge > 0 && time.Since(r.seg.opened) >= r.cfg.MaxAge && r.seg.packets > 0 ||
		r.seg.session.Filter != r.filterNow()) {
		return r.rollOver()
	}
	return nil
}

// catalog writes the segment's row (found by its file: a catalog rebuilt
// meanwhile gave it another id, or has yet to learn of it). It reports
// whether the row was written.
func (r *Recording) catalog(seg *openSegment, size int64, closed bool) bool {
	if r.cfg.Catalogued != nil && seg.hasRange {
		r.cfg.Catalogued(Segment{File: seg.rel, Interface: r.cfg.Interface, Ring: r.cfg.Ring, Recording: r.uuid,
			FirstPacket: seg.session.FirstPacket, Packets: seg.packets, Bytes: size, MinNS: seg.lo, MaxNS: seg.hi,
			Created: seg.opened, Closed: closed})
	}
	if !r.a.ensureLight() {
		r.Err = errNoCatalog
		return false
	}
	row := func() error {
		return r.a.exec(`INSERT INTO segments (file, interface, ring, recording, first_packet, packets, bytes, min_ns, max_ns, created_ns, closed)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (file) DO UPDATE SET packets = excluded.packets, bytes = excluded.bytes, min_ns = excluded.min_ns,
			max_ns = excluded.max_ns, closed = excluded.closed WHERE NOT expiring`,
			seg.rel, r.cfg.Interface, r.cfg.Ring, r.uuid, seg.session.FirstPacket, seg.packets, size, seg.lo, seg.hi, seg.opened.UnixNano(), closed)
	}
	var err error
	if closed && seg.sketch != nil {
		// The row closes with its summary, in one transaction: a reader
		// sees the closed segment with its summary or, before, open.
		err = r.a.inTx(func() error {
			if err := row(); err != nil {
				return err
			}
			return r.a.putSummary(seg.rel, seg.packets, seg.summaryBlocks(), seg.paired, seg.sketch)
		})
	} else {
		err = row()
	}
	if err != nil {
		r.Err = err
		return false
	}
	return true
}

// summaryBlocks is how many blocks the segment's summary covers.
func (seg *openSegment) summaryBlocks() int64 {
	if seg.summary == nil {
		return 0
	}
	return seg.summary.Blocks()
}

// errNoCatalog: the catalog was removed and not yet rebuilt (the
// daemon's retention rebuilds it within a second).
var errNoCatalog = errors.New("no catalog: waiting for it to be rebuilt")

// resync retries the last catalog update of segments closed while the
// catalog could not take it.
func (r *Recording) resync() {
	kept := r.unsynced[:0]
	for _, seg := range r.unsynced {
		if !r.catalog(seg, fileSize(filepath.Join(r.a.dir, seg.rel)), true) {
			kept = append(kept, seg)
		} else {
			r.recycle(seg)
		}
	}
	r.unsynced = kept
}

// rollOver opens the next segment, then closes the open one: while the
// recording lives, one of its segments is open, so a recording killed at
// any moment (a roll-over included) has a segment its restart finds open
// and marks interrupted; closed ones alone would make it look complete.
// If the next segment cannot be opened, the next Append tries again.
func (r *Recording) rollOver() error {
	next, err := r.openNext()
	if err != nil {
		r.log.Warn("open the next segment", "ring", r.cfg.Ring, "err", err)
	}
	err = r.roll()
	r.seg = next
	return err
}

// roll closes the open segment; the next Append opens another. A segment
// that never got a packet (opened ahead by rollOver) is removed instead.
func (r *Recording) roll() error {
	seg := r.seg
	r.seg = nil
	if seg.packets == 0 && !seg.hasRange {
		return r.discard(seg)
	}
	ended := time.Now()
	if seg.hasRange {
		ended = time.Unix(0, seg.hi)
	}
	err := seg.db.Finish(seg.session.ID, store.StatusComplete, ended, seg.packets, 0, 0)
	r.blobs += seg.w.StoredBytes()
	seg.w.Close()
	if seg.summary != nil {
		seg.sketch, seg.paired = seg.summary.Sketch(nil), seg.summary.Paired()
	}
	seg.endBulk()
	seg.db.Checkpoint(true)
	if cerr := seg.db.Close(); err == nil {
		err = cerr
	}
	seg.db, seg.w = nil, nil
	if !r.catalog(seg, fileSize(filepath.Join(r.a.dir, seg.rel)), true) {
		r.unsynced = append(r.unsynced, seg)
	} else {
		r.recycle(seg)
	}
	r.Closed++
	r.log.Info("segment closed", "ring", r.cfg.Ring, "file", seg.rel,
		"packets", seg.packets, "first_packet", seg.session.FirstPacket)
	return err
}

// recycle keeps a closed segment's summary accumulator for the next
// segment, once the catalog has its summary.
func (r *Recording) recycle(seg *openSegment) {
	if seg.summary != nil && r.spare == nil {
		r.spare = seg.summary
	}
	seg.summary, seg.sketch = nil, nil
}

// discard removes a segment that holds no packet: its file first, so that
// a crash in between leaves a catalog row without a file, which the next
// repair drops.
func (r *Recording) discard(seg *openSegment) error {
	seg.w.Close()
	seg.endBulk()
	err := seg.db.Close()
	seg.db, seg.w = nil, nil
	path := filepath.Join(r.a.dir, seg.rel)
	for _, p := range []string{path, path + "-journal", path + "-wal", path + "-shm"} {
		os.Remove(p)
	}
	if r.a.ensureLight() {
		if cerr := r.a.exec(`DELETE FROM segments WHERE file = ?`, seg.rel); cerr != nil {
			r.Err = cerr // the next repair drops the row of a file that is gone
		}
	}
	return err
}

// Close closes the open segment, if any, and the catalog connection. The
// recorder has committed everything by then.
func (r *Recording) Close() error {
	var err error
	if r.seg != nil {
		r.seg.w.Rollback()
		err = r.roll()
	}
	if len(r.unsynced) > 0 {
		r.resync() // else the next catalog repair takes the counts from the files
	}
	for i, h := range r.hosts {
		if h != nil {
			if cerr := h.Close(); err == nil {
				err = cerr
			}
			r.hosts[i] = nil
		}
	}
	if cerr := r.a.Close(); err == nil {
		err = cerr
	}
	return err
}
