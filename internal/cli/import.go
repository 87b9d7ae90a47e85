package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/packetrecorderd/packetrecorderd/internal/pcapio"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

func (a *app) importCmd() *cobra.Command {
	var (
		dbPath      string
		name        string
		keepPartial bool
	)
	cmd := &cobra.Command{
		Use:   "import FILE...",
		Short: "Import pcap or pcapng files, one session each",
		Example: `  packetrecorder import trace.pcapng
  tcpdump -i eth0 -w - | packetrecorder import -`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if name != "" && len(args) > 1 {
				return errors.New("--name names one session: import one file at a time with it")
			}
			db, err := store.Open(dbPath, store.Options{Create: true})
			if err != nil {
				return err
			}
			defer db.Close()
			for _, file := range args {
				s, err := a.importFile(db, file, name, keepPartial)
				if err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "session %d: imported %d packets (%s) from %s\n", s.ID, s.Packets, humanBytes(s.Bytes), file)
			}
			return nil
		},
	}
	addDatabaseFlag(cmd, &dbPath)
	cmd.Flags().StringVar(&name, "name", "", "session name (default: the file name)")
	cmd.Flags().BoolVar(&keepPartial, "keep-partial", false, "on a damaged file keep what was read, as an interrupted session")
	return cmd
}

// importFile reads one capture file into a new session. On a read error the
// session is deleted, unless keepPartial, when it is kept as interrupted.
func (a *app) importFile(db *store.DB, file, name string, keepPartial bool) (store.Session, error) {
	var in io.Reader
	display := file
	if file == "-" {
		in, display = a.stdin, "standard input"
	} else {
		f, err := os.Open(file)
		if err != nil {
			return store.Session{}, fmt.Errorf("import: %w", err)
		}
		defer f.Close()
		in = f
	}
	r, err := pcapio.NewReader(bufio.NewReaderSize(in, 1<<20))
	if err != nil {
		return store.Session{}, fmt.Errorf("import %s: %w", display, err)
	}
	if name == "" {
		name = filepath.Base(file)
		if file == "-" {
			name = "stdin " + time.Now().Format("2006-01-02 15:04:05")
		}
	}
	sess := &store.Session{Name: name, Source: "import", Started: time.Now()}
	ifaces := r.Interfaces()
	if len(ifaces) > 0 {
		sess.LinkType, sess.Snaplen = ifaces[0].LinkType, ifaces[0].Snaplen
		sess.Interface, sess.Filter = ifaces[0].Name, ifaces[0].Filter
	}
	var notes []string
	for _, sec := range r.Sections() {
		notes = append(notes, sec.Comments...)
	}
	sess.Notes = strings.Join(notes, "\n")
	if err := db.CreateSession(sess); err != nil {
		return store.Session{}, err
	}
	w, err := db.NewWriter(sess.ID)
	if err != nil {
		return store.Session{}, err
	}
	defer w.Close()
	if end, ok := db.BeginBulk(); ok {
		defer end()
	}
	defer db.StartWriteback()()

	var (
		block      store.Block
		knownIf    = map[int]bool{}
		first      = true
		firstTS    int64
		lastTS     int64
		count      int64
		lastCommit = time.Now()
		readErr    error
	)
	block.Data = make([]byte, 0, 512<<10)
	bar := newProgress(a.stderr, "importing")
	defer bar.done()
	var bytes int64
	addIfaces := func() error {
		// pcapng may introduce interfaces at any point in the file.
		for i, it := range r.Interfaces() {
			if knownIf[i] {
				continue
			}
			knownIf[i] = true
			err := db.AddInterface(sess.ID, store.Interface{ID: i, Name: it.Name, Description: it.Description, Filter: it.Filter, LinkType: it.LinkType, Snaplen: it.Snaplen})
			if err != nil {
				return err
			}
		}
		return nil
	}
	flush := func() error {
		if block.Count == 0 {
			return nil
		}
		if err := w.Append(&block); err != nil {
			return err
		}
		block.Reset(block.LinkType)
		if time.Since(lastCommit) > 500*time.Millisecond {
			lastCommit = time.Now()
			return w.Commit()
		}
		return nil
	}
	for {
		p, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			readErr = err
			break
		}
		if len(p.Data) > store.MaxCapLen {
			readErr = fmt.Errorf("packet %d: captured length %d exceeds %d", count+1, len(p.Data), store.MaxCapLen)
			break
		}
		if !knownIf[p.Interface] {
			if err := addIfaces(); err != nil {
				return store.Session{}, err
			}
		}
		if block.Count > 0 && (block.LinkType != p.LinkType || block.Interface != p.Interface || len(block.Data) >= 256<<10) {
			if err := flush(); err != nil {
				return store.Session{}, err
			}
		}
		if block.Count == 0 {
			block.Reset(p.LinkType)
			block.Interface = p.Interface
		}
		block.Append(p.Timestamp, p.OrigLen, p.Data)
		if first {
			firstTS, first = p.Timestamp, false
		}
		lastTS = p.Timestamp
		count++
		bytes += int64(len(p.Data))
		if count&0xfff == 0 {
			bar.update(count, bytes)
		}
	}
	if readErr == nil || keepPartial {
		if err := flush(); err != nil {
			return store.Session{}, err
		}
		if err := w.Commit(); err != nil {
			return store.Session{}, err
		}
	}
	if readErr != nil {
		if !keepPartial {
			w.Rollback()
			if err := db.Delete(sess.ID); err != nil {
				return store.Session{}, fmt.Errorf("import %s: %w (and removing the partial session: %v)", display, readErr, err)
			}
			return store.Session{}, fmt.Errorf("import %s: %w (nothing stored; --keep-partial keeps the %d packets before it)", display, readErr, count)
		}
	}
	if count > 0 {
		if err := db.SetTimes(sess.ID, firstTS, lastTS); err != nil {
			return store.Session{}, err
		}
	}
	status := store.StatusComplete
	if readErr != nil {
		status = store.StatusInterrupted
	}
	out, err := db.Session(sess.ID)
	if err != nil {
		return store.Session{}, err
	}
	ended := out.Ended
	if ended.IsZero() {
		ended = out.Started
	}
	if err := db.Finish(sess.ID, status, ended, 0, 0, 0); err != nil {
		return store.Session{}, err
	}
	if readErr != nil {
		return out, fmt.Errorf("import %s: %w (kept %d packets as interrupted session %d)", display, readErr, count, sess.ID)
	}
	return out, nil
}
