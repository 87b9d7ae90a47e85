package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/packetrecorderd/packetrecorderd/internal/cutoff"
	"github.com/packetrecorderd/packetrecorderd/internal/daemon"
)

func (a *app) daemonCmd() *cobra.Command {
	var (
		config    string
		check     bool
		logFormat string
	)
	cmd := &cobra.Command{
		Use:   "daemon --config FILE",
		Short: "Record the configured interfaces continuously into a store, within a disk budget",
		Long: `daemon records every configured interface into a store directory of
segments, deletes the oldest segments to stay within the retention limits
(holds exempt time windows), and serves /healthz, /api/v1/status and
/metrics on the listen address. SIGTERM or SIGINT stops it after draining
every ring; SIGHUP reloads the configuration. Under systemd (Type=notify)
it reports readiness, reloads and stopping, and pings the watchdog.`,
		Example: `  packetrecorder daemon --check --config /etc/packetrecorder/config.yaml
  packetrecorder daemon --config /etc/packetrecorder/config.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if check {
				cfg, err := daemon.LoadFile(config)
				if err != nil {
					return err
				}
				fmt.Fprintln(a.stdout, config+": valid: "+checkSummary(cfg))
				return nil
			}
			var h slog.Handler
			switch logFormat {
			case "text":
				h = slog.NewTextHandler(a.stderr, nil)
			case "json":
				h = slog.NewJSONHandler(a.stderr, nil)
			default:
				return fmt.Errorf("invalid --log-format %q: use text or json", logFormat)
			}
			log := slog.New(h)
			d, err := daemon.New(config, log, version())
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
			defer stop()
			sig := make(chan os.Signal, 1)
			signal.Notify(sig, syscall.SIGHUP)
			defer signal.Stop(sig)
			hup := make(chan struct{}, 1)
			go func() {
				for {
					select {
					case <-sig:
						select {
						case hup <- struct{}{}:
						default:
						}
					case <-ctx.Done():
						return
					}
				}
			}()
			return d.Run(ctx, hup)
		},
	}
	cmd.Flags().StringVarP(&config, "config", "c", "/etc/packetrecorder/config.yaml", "configuration file (YAML)")
	cmd.Flags().BoolVar(&check, "check", false, "validate the configuration and exit")
	cmd.Flags().StringVar(&logFormat, "log-format", "text", "text or json")
	return cmd
}

// checkSummary is daemon --check's one line: the config's summary, then
// the fleet sensor it ships as and the cutoff, when configured. It reads
// the config only: --check connects to nothing (not even PostgreSQL).
func checkSummary(cfg *daemon.Config) string {
	s := cfg.CheckSummary()
	if cfg.Fleet != nil {
		s += "; fleet sensor " + cfg.Fleet.Sensor
	}
	if cfg.Cutoff != nil {
		s += "; cutoff " + cutoffSummary(cfg.Cutoff)
	}
	return s
}

// cutoffSummary is a cutoff block in a few words: its default and how
// many rules.
func cutoffSummary(c *daemon.CutoffConfig) string {
	def := "unlimited"
	if c.Default.Set && c.Default.N != cutoff.Unlimited {
		def = humanBytes(c.Default.N)
	}
	keep := c.Keep
	if keep == "" {
		keep = "headers"
	}
	return fmt.Sprintf("(default %s, keep %s, %d %s)", def, keep, len(c.Rules), plural(int64(len(c.Rules)), "rule"))
}
