package fleet

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The outbox's files, in the store directory's OutboxDir:
//
//	NNNNNNNNNNNNNNNNNNNN.rec  records from sequence number N on (20
//	                          decimal digits), appended and fsync'd in
//	                          batches; a new file every OutboxFileBytes
//	acked                     the sequence number of the last record
//	                          PostgreSQL committed (8 bytes, big endian),
//	                          replaced whole (written beside, renamed)
//
// A record is framed as
//
//	u32 n      length of what follows the checksum (8 + 1 + payload)
//	u32 crc    CRC-32C (Castagnoli) of those n bytes
//	u64 seq    its sequence number, one more than the record before
//	u8  kind   1 flow, 2 segment
//	payload    varints and strings (see encodeFlow, encodeSegment)
//
// all big endian. A torn record at the end of the last file (a crash
// mid-write) is cut off when the outbox is opened. A file whose records
// are all acknowledged is deleted.
const (
	OutboxDir       = "outbox"
	OutboxFileBytes = 16 << 20
	// DefaultOutboxMax bounds the outbox (fleet.outbox_max's default).
	DefaultOutboxMax = 256 << 20
	// MinOutboxMax is the least fleet.outbox_max allowed.
	MinOutboxMax = 1 << 20
	frameHeader  = 8
	ackedFile    = "acked"
	recSuffix    = ".rec"
	// maxPending bounds what waits in memory for the disk.
	maxPending = 64 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrOutboxFull is counted, never returned to the recorder: the record
// was dropped because the outbox held OutboxMax bytes.
var ErrOutboxFull = errors.New("outbox full")

type outFile struct {
	first, last uint64 // sequence numbers held (last < first: none yet)
	path        string
	size        int64 // durable bytes
}

// Outbox is a bounded, durable queue of records on disk. Append never
// blocks on the disk or the database: records wait in memory until the
// flusher (Run) writes and fsyncs them; the shipper reads them back (Next)
// and acknowledges what PostgreSQL committed (Ack); files whose records
// are all acknowledged are deleted. When the outbox holds its maximum,
// new records are dropped and counted.
type Outbox struct {
	dir      string
	max      int64
	interval time.Duration
	log      *slog.Logger

	mu        sync.Mutex
	pend      []byte // framed records not yet written
	writing   int64  // bytes the flusher is writing (taken from pend)
	pendFirst uint64 // seq of pend's first record
	nextSeq   uint64
	durable   uint64 // last seq written and fsync'd
	acked     uint64
	files     []outFile
	diskBytes int64
	dropped   uint64
	writeErr  error
	ackDirty  bool

	wake  chan struct{} // to the flusher: pend is large
	avail chan struct{} // to the reader: durable moved

	// The flusher's own.
	cur     *os.File
	curSize int64
	// The reader's own.
	rd     *os.File
	rdPath string
	rbuf   *bufio.Reader
	roff   int64
	rseq   uint64 // last seq handed out by Next
}

// OutboxStats are the outbox's counters.
type OutboxStats struct {
	Bytes   int64  // on disk and waiting for it
	Records int64  // not yet committed by PostgreSQL
	Dropped uint64 // refused because the outbox was full
	Err     error  // the disk write error being retried, nil while writes succeed
}

// OpenOutbox opens (creating 0700) the outbox in dir, keeping at most
// maxBytes (0: DefaultOutboxMax), and recovers what an earlier run left:
// records not acknowledged are shipped again (the upsert makes that
// harmless), a torn last record is cut off.
func OpenOutbox(dir string, maxBytes int64, log *slog.Logger) (*Outbox, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultOutboxMax
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	o := &Outbox{dir: dir, max: maxBytes, interval: 50 * time.Millisecond, log: log,
		wake: make(chan struct{}, 1), avail: make(chan struct{}, 1), nextSeq: 1}
	if b, err := os.ReadFile(filepath.Join(dir, ackedFile)); err == nil && len(b) == 8 {
		o.acked = binary.BigEndian.Uint64(b)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	names, err := filepath.Glob(filepath.Join(dir, "*"+recSuffix))
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	sort.Strings(names)
	for i, name := range names {
		first, err := strconv.ParseUint(strings.TrimSuffix(filepath.Base(name), recSuffix), 10, 64)
		if err != nil {
			continue // not ours
		}
		f := outFile{first: first, last: first - 1, path: name}
		good, last, n, err := scanFile(name)
		if err != nil {
			return nil, fmt.Errorf("outbox: %w", err)
		}
		if fi, err := os.Stat(name); err == nil && fi.Size() > good {
			if i < len(names)-1 {
				log.Error("fleet outbox: a damaged file's records after the damage are lost", "file", name, "offset", good)
			}
			// A torn write at the end: cut it off.
			if err := os.Truncate(name, good); err != nil {
				return nil, fmt.Errorf("outbox: %w", err)
			}
		}
		if n > 0 {
			f.last = last
		}
		f.size = good
		if n > 0 && f.last <= o.acked || n == 0 {
			os.Remove(name)
			continue
		}
		o.files = append(o.files, f)
		o.diskBytes += f.size
		o.nextSeq = max(o.nextSeq, f.last+1)
	}
	o.nextSeq = max(o.nextSeq, o.acked+1)
	o.durable = o.nextSeq - 1
	o.rseq = o.acked
	return o, nil
}

// scanFile reads a file's frames: the offset after the last whole one,
// its sequence number and how many there are.
func scanFile(path string) (good int64, last uint64, n int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, 0, err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	for {
		seq, _, size, err := readFrame(r, nil)
		if err != nil {
			return good, last, n, nil
		}
		good += size
		last = seq
		n++
	}
}

// readFrame reads one frame into buf's space: its seq, kind+payload, and
// its size on disk.
func readFrame(r *bufio.Reader, buf []byte) (seq uint64, body []byte, size int64, err error) {
	var h [frameHeader]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, 0, err
	}
	n := binary.BigEndian.Uint32(h[:])
	if n < 9 || n > 1<<20 {
		return 0, nil, 0, errRecord
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		return 0, nil, 0, err
	}
	if crc32.Checksum(buf, castagnoli) != binary.BigEndian.Uint32(h[4:]) {
		return 0, nil, 0, errRecord
	}
	return binary.BigEndian.Uint64(buf), buf[8:], int64(frameHeader) + int64(n), nil
}

// appendRecord frames a record of kind with payload, unless the outbox
// is full.
func (o *Outbox) appendRecord(kind byte, payload []byte) bool {
	size := int64(frameHeader + 9 + len(payload))
	o.mu.Lock()
	if o.diskBytes+o.writing+int64(len(o.pend))+size > o.max || len(o.pend)+int(size) > maxPending {
		o.dropped++
		o.mu.Unlock()
		return false
	}
	if len(o.pend) == 0 {
		o.pendFirst = o.nextSeq
	}
	seq := o.nextSeq
	o.nextSeq++
	start := len(o.pend)
	o.pend = binary.BigEndian.AppendUint32(o.pend, uint32(9+len(payload)))
	o.pend = append(o.pend, 0, 0, 0, 0)
	o.pend = binary.BigEndian.AppendUint64(o.pend, seq)
	o.pend = append(o.pend, kind)
	o.pend = append(o.pend, payload...)
	binary.BigEndian.PutUint32(o.pend[start+4:], crc32.Checksum(o.pend[start+frameHeader:], castagnoli))
	big := len(o.pend) >= 1<<20
	o.mu.Unlock()
	if big {
		select {
		case o.wake <- struct{}{}:
		default:
		}
	}
	return true
}

// Stats are the outbox's counters now.
func (o *Outbox) Stats() OutboxStats {
	o.mu.Lock()
	defer o.mu.Unlock()
	return OutboxStats{Bytes: o.diskBytes + o.writing + int64(len(o.pend)), Records: int64(o.nextSeq - 1 - o.acked), Dropped: o.dropped, Err: o.writeErr}
}

// Run writes and fsyncs the records appended, in batches, until ctx
// ends; then it writes what is left and closes the files.
func (o *Outbox) Run(ctx context.Context) {
	t := time.NewTicker(o.interval)
	defer t.Stop()
	var lastDropped uint64
	var lastLog time.Time
	var ackAt time.Time
	for {
		select {
		case <-ctx.Done():
			o.flush()
			o.writeAcked()
			o.removeAcked()
			o.closeFiles()
			return
		case <-t.C:
		case <-o.wake:
		}
		o.flush()
		if time.Since(ackAt) >= time.Second {
			ackAt = time.Now()
			o.writeAcked()
			o.removeAcked()
		}
		// Dropping is loud: the first drop at once, then every 10 s while
		// it lasts.
		st := o.Stats()
		if st.Dropped > lastDropped && (lastDropped == 0 || time.Since(lastLog) >= 10*time.Second) {
			o.log.Error("fleet outbox full: flow records dropped (PostgreSQL unreachable for too long?)",
				"dropped_total", st.Dropped, "outbox_bytes", st.Bytes, "outbox_max", o.max)
			lastDropped, lastLog = st.Dropped, time.Now()
		}
	}
}

// flush writes the pending records to the current file and fsyncs it.
func (o *Outbox) flush() {
	o.mu.Lock()
	buf, first, last := o.pend, o.pendFirst, o.nextSeq-1
	o.pend = nil
	o.writing = int64(len(buf))
	o.mu.Unlock()
	if len(buf) == 0 {
		return
	}
	err := o.write(buf, first, last)
	o.mu.Lock()
	defer o.mu.Unlock()
	o.writing = 0
	if err != nil {
		if o.writeErr == nil {
			o.log.Error("fleet outbox: write failed, records wait in memory", "err", err)
		}
		o.writeErr = err
		// Back in front of what came meanwhile, in order.
		o.pend = append(buf, o.pend...)
		o.pendFirst = first
		return
	}
	if o.writeErr != nil {
		o.log.Info("fleet outbox: writes succeed again")
	}
	o.writeErr = nil
	o.durable = last
	select {
	case o.avail <- struct{}{}:
	default:
	}
}

func (o *Outbox) write(buf []byte, first, last uint64) error {
	if o.cur == nil || o.curSize >= min(OutboxFileBytes, o.max/8) {
		if err := o.roll(first); err != nil {
			return err
		}
	}
	if _, err := o.cur.Write(buf); err != nil {
		// Leave no torn record: the file ends where it ended.
		o.cur.Truncate(o.curSize)
		o.cur.Seek(o.curSize, io.SeekStart)
		return fmt.Errorf("outbox: %w", err)
	}
	if err := o.cur.Sync(); err != nil {
		o.cur.Truncate(o.curSize)
		o.cur.Seek(o.curSize, io.SeekStart)
		return fmt.Errorf("outbox: %w", err)
	}
	o.curSize += int64(len(buf))
	o.mu.Lock()
	f := &o.files[len(o.files)-1]
	f.size = o.curSize
	f.last = last
	o.diskBytes += int64(len(buf))
	o.writing -= int64(len(buf))
	o.mu.Unlock()
	return nil
}

// roll starts a new file for records from first on.
func (o *Outbox) roll(first uint64) error {
	if o.cur != nil {
		o.cur.Close()
		o.cur = nil
	}
	path := filepath.Join(o.dir, fmt.Sprintf("%020d%s", first, recSuffix))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	if d, err := os.Open(o.dir); err == nil {
		d.Sync()
		d.Close()
	}
	o.cur, o.curSize = f, 0
	o.mu.Lock()
	o.files = append(o.files, outFile{first: first, last: first - 1, path: path})
	o.mu.Unlock()
	return nil
}

func (o *Outbox) closeFiles() {
	if o.cur != nil {
		o.cur.Close()
		o.cur = nil
	}
}

// Ack says PostgreSQL committed every record up to seq.
func (o *Outbox) Ack(seq uint64) {
	o.mu.Lock()
	if seq > o.acked {
		o.acked = seq
		o.ackDirty = true
	}
	o.mu.Unlock()
}

// writeAcked replaces the acked file (beside, then renamed).
func (o *Outbox) writeAcked() {
	o.mu.Lock()
	dirty, acked := o.ackDirty, o.acked
	o.ackDirty = false
	o.mu.Unlock()
	if !dirty {
		return
	}
	tmp := filepath.Join(o.dir, ackedFile+".new")
	b := binary.BigEndian.AppendUint64(nil, acked)
	err := os.WriteFile(tmp, b, 0o600)
	if err == nil {
		err = os.Rename(tmp, filepath.Join(o.dir, ackedFile))
	}
	if err != nil {
		// Only an optimization: without it, acknowledged records are
		// shipped again after a restart, and the upsert absorbs them.
		o.log.Warn("fleet outbox: save the acknowledged position", "err", err)
	}
}

// removeAcked deletes the files whose records are all acknowledged, the
// one being written too (the next write starts another).
func (o *Outbox) removeAcked() {
	o.mu.Lock()
	var gone []string
	kept := o.files[:0]
	for i, f := range o.files {
		if f.last >= f.first && f.last <= o.acked {
			gone = append(gone, f.path)
			o.diskBytes -= f.size
			if i == len(o.files)-1 && o.cur != nil {
				o.cur.Close()
				o.cur = nil
			}
			continue
		}
		kept = append(kept, f)
	}
	o.files = kept
	o.mu.Unlock()
	for _, p := range gone {
		os.Remove(p)
	}
}

// Next returns the durable records after those it returned before, at
// most max of them, waiting until there is one or ctx ends.
func (o *Outbox) Next(ctx context.Context, max int) ([]record, error) {
	for {
		recs, err := o.read(max)
		if err != nil || len(recs) > 0 {
			return recs, err
		}
		select {
		case <-ctx.Done():
			if o.rd != nil {
				o.rd.Close()
				o.rd, o.rdPath = nil, ""
			}
			return nil, ctx.Err()
		case <-o.avail:
		case <-time.After(time.Second):
		}
	}
}

// maxBatchBytes bounds the records' bytes one read returns: a batch is
// one transaction, with its timeout (shipTimeout), and a batch of 50,000
// records with segment summaries of up to 1 MiB each could not commit in
// time over a slow link (below about 1.5 Mbit/s), be retried unchanged,
// and never commit. 4 MiB commits in time down to about 0.6 Mbit/s.
const maxBatchBytes = 4 << 20

// read returns up to max durable records after rseq, and at most about
// maxBatchBytes of them (at least one).
func (o *Outbox) read(maxRecs int) ([]record, error) {
	var out []record
	var buf []byte
	var nbytes int64
	for len(out) < maxRecs && nbytes < maxBatchBytes {
		o.mu.Lock()
		durable := o.durable
		var fc outFile
		found := false
		for _, f := range o.files {
			if f.last >= f.first && f.last > o.rseq {
				fc, found = f, true
				break
			}
		}
		o.mu.Unlock()
		if o.rseq >= durable || !found {
			return out, nil
		}
		if o.rdPath != fc.path {
			if o.rd != nil {
				o.rd.Close()
			}
			f, err := os.Open(fc.path)
			if err != nil {
				o.rd, o.rdPath = nil, ""
				return out, fmt.Errorf("outbox: %w", err)
			}
			o.rd, o.rdPath, o.roff = f, fc.path, 0
			o.rbuf = bufio.NewReaderSize(f, 1<<20)
		}
		// Read this file's durable part.
	frames:
		for len(out) < maxRecs && nbytes < maxBatchBytes && o.roff < fc.size {
			// Bound the reader at the durable size: what follows may be
			// half written.
			seq, body, size, err := readFrame(o.rbuf, buf)
			if err != nil {
				// Damage in what was written and synced (the disk):
				// the rest of this file is lost, and counted.
				lost := fc.last - o.rseq
				o.log.Error("fleet outbox: a damaged file's records after the damage are lost", "file", fc.path, "offset", o.roff, "records", lost, "err", err)
				o.mu.Lock()
				o.dropped += lost
				o.mu.Unlock()
				o.rseq = fc.last
				o.rd.Close()
				o.rd, o.rdPath = nil, ""
				break frames
			}
			o.roff += size
			if seq <= o.rseq {
				continue // acknowledged before a restart
			}
			o.rseq = seq
			rec := record{seq: seq, kind: body[0]}
			switch body[0] {
			case kindFlow:
				rec.flow, err = decodeFlow(body[1:])
			case kindSegment:
				rec.seg, err = decodeSegment(body[1:])
			case kindGap:
				rec.gap, err = decodeGap(body[1:])
			default:
				err = errRecord
			}
			if err != nil {
				o.log.Error("fleet outbox: skipping a record it cannot read", "seq", seq, "err", err)
				continue
			}
			if out == nil {
				out = make([]record, 0, min(maxRecs, int(durable-seq)+1))
			}
			out = append(out, rec)
			nbytes += size
		}
		if o.roff < fc.size || len(out) >= maxRecs || nbytes >= maxBatchBytes {
			return out, nil
		}
		if fc.last >= durable {
			return out, nil // at the end of what is written
		}
		// This file is done; the next one follows.
		o.rd.Close()
		o.rd, o.rdPath = nil, ""
		o.rseq = fc.last
	}
	return out, nil
}
