package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/packetrecorderd/packetrecorderd/internal/api"
	"github.com/packetrecorderd/packetrecorderd/internal/archive"
	selpkg "github.com/packetrecorderd/packetrecorderd/internal/selection"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
	"github.com/packetrecorderd/packetrecorderd/internal/ui"
)

func (a *app) uiCmd() *cobra.Command {
	var dir, listen string
	cmd := &cobra.Command{
		Use:   "ui [-d DB|STORE] [--listen 127.0.0.1:0]",
		Short: "Serve the web UI over a local database or store, without a daemon",
		Long: `ui serves the analyst's web page (the daemon's /ui/) over a database (all its
sessions, merged by time) or a store directory: the timeline, flows and
packets, transcripts, pcap downloads and, for a store, holds. It prints a URL
with a one-time login secret; the session it opens lasts until ui stops (at
most a week). It listens on loopback unless told otherwise.`,
		Example: `  packetrecorder capture -i eth0 -c 1000 && packetrecorder ui
  packetrecorder ui -d /var/lib/packetrecorder
  packetrecorder ui -d store --listen 127.0.0.1:8080`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			return a.runUI(ctx, dir, listen)
		},
	}
	cmd.Flags().StringVarP(&dir, "database", "d", DefaultDatabase, "the database file or store directory to serve")
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:0", "address to listen on")
	return cmd
}

func (a *app) runUI(ctx context.Context, dir, listen string) error {
	if dir == "" {
		return errors.New("ui serves a database or a store directory: give -d DB|STORE")
	}
	var sel api.Selector = selpkg.Store{Dir: dir}
	if !archive.IsStore(dir) {
		fi, err := os.Stat(dir)
		if err != nil {
			return fmt.Errorf("open database: %w", err)
		}
		if fi.IsDir() {
			return fmt.Errorf("%s is a directory but not a store (no catalog): give a database file or a store directory", dir)
		}
		db, err := store.Open(dir, store.Options{ReadOnly: true})
		if err != nil {
			return fmt.Errorf("open database %s: %w", dir, err)
		}
		db.Close()
		sel = ui.Database(dir)
	}
	b := make([]byte, 24)
	rand.Read(b)
	secret := hex.EncodeToString(b)
	access := api.Access{Tokens: []api.Token{{Name: "ui", SHA256: api.TokenSum(secret), Scopes: []string{api.ScopeRead, api.ScopeAdmin}}}}
	srv := api.New(api.Options{Selector: sel, Holds: api.StoreHolds(dir), Version: "ui", Log: a.log}, access)
	u, err := ui.New(ui.Options{API: srv, Store: dir, Log: a.log, OneTime: api.TokenSum(secret), SessionTTL: 7 * 24 * time.Hour})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", listen, err)
	}
	hs := &http.Server{Handler: ui.Mount(u, srv), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(a.stdout, "Serving %s at http://%s/ui/\nOpen this URL to log in (it works once):\n    http://%s/ui/login?secret=%s\n", dir, ln.Addr(), ln.Addr(), secret)
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hs.Shutdown(sctx)
		<-done
		return nil
	case err := <-done:
		return err
	}
}
