package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/packetrecorderd/packetrecorderd/internal/api"
	"github.com/packetrecorderd/packetrecorderd/internal/hub"
	selpkg "github.com/packetrecorderd/packetrecorderd/internal/selection"
)

func (a *app) hubCmd() *cobra.Command {
	var (
		config    string
		check     bool
		logFormat string
	)
	cmd := &cobra.Command{
		Use:   "hub --config FILE",
		Short: "Serve one API over a fleet of sensors (flows from PostgreSQL, packets from the sensors)",
		Long: `hub serves the daemon's API (/api/v1/packets, /flows, /sessions, /status,
Stenographer's /query) over the sensors that ship their flow records and
segment summaries to PostgreSQL: each query asks only the sensors whose
segments and flow records can hold a match, in parallel, and merges their
packets by timestamp, each labelled with its sensor (interfaces are named
SENSOR/IFACE). A sensor that does not answer is named in the answer (the
Packetrecorder-Partial trailer, "missing" in the JSON end line); the CLI's
--server HUB says so on stderr and exits 3 unless --partial-ok. SIGHUP reads
the configuration again (tokens, tokens_file, tls certificates, limits,
metrics_public, sensors; listen and postgres need a restart); a file that
does not load is refused, logged, and the old configuration kept.`,
		Example: `  packetrecorder hub --check --config /etc/packetrecorder/hub.yaml
  packetrecorder hub --config /etc/packetrecorder/hub.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := hub.LoadFile(config)
			if err != nil {
				return err
			}
			if check {
				fmt.Fprintf(a.stdout, "%s: valid: listen %s; tokens %d\n", config, *cfg.Listen, len(cfg.Tokens))
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
			hb, err := hub.New(hub.Options{Config: cfg, Path: config, Log: slog.New(h), Version: version()})
			if err != nil {
				return err
			}
			defer hb.Close()
			ctx := cmdContext(cmd)
			ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
			defer stop()
			sig := make(chan os.Signal, 1)
			signal.Notify(sig, syscall.SIGHUP)
			defer signal.Stop(sig)
			reloaded := make(chan struct{})
			go func() {
				defer close(reloaded)
				for {
					select {
					case <-sig:
						hb.Reload() // logs what it did, or why not
					case <-ctx.Done():
						return
					}
				}
			}()
			defer func() { stop(); <-reloaded }() // the reloads end before the hub closes
			return hb.Run(ctx, nil)
		},
	}
	cmd.Flags().StringVar(&config, "config", "", "the hub's configuration file (YAML)")
	cmd.Flags().BoolVar(&check, "check", false, "validate the configuration and exit")
	cmd.Flags().StringVar(&logFormat, "log-format", "text", "log lines as text or json")
	cmd.MarkFlagRequired("config")
	return cmd
}

// partialAnswer says on stderr, one line each, which sensors of a hub's
// answer did not answer; it is an error (exit 3) unless --partial-ok.
func (a *app) partialAnswer(missing []selpkg.Missing, ok bool) error {
	for _, m := range missing {
		fmt.Fprintf(a.stderr, "packetrecorder: sensor %s did not answer: %s\n", m.Sensor, m.Error)
	}
	if len(missing) == 0 || ok {
		return nil
	}
	return &partialError{err: fmt.Errorf("%w (--partial-ok accepts it)", &selpkg.PartialError{Missing: missing})}
}

// hubRecordings gets /api/v1/sessions, and from a hub the sensors that
// did not answer (its Packetrecorder-Partial header: "SENSOR: WHY; ...").
func hubRecordings(ctx context.Context, c *selpkg.Client) ([]selpkg.Recording, []selpkg.Missing, error) {
	resp, err := c.Do(ctx, "GET", "/api/v1/sessions", nil, nil)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	var recs []selpkg.Recording
	if err := json.NewDecoder(resp.Body).Decode(&recs); err != nil {
		return nil, nil, fmt.Errorf("%s: bad answer: %w", c.Host(), err)
	}
	return recs, parsePartial(resp.Header.Get(api.TrailerPartial)), nil
}

// parsePartial reads a Packetrecorder-Partial value (api.PartialText).
func parsePartial(v string) []selpkg.Missing {
	var out []selpkg.Missing
	for part := range strings.SplitSeq(v, "; ") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		name, why, _ := strings.Cut(part, ": ")
		out = append(out, selpkg.Missing{Sensor: name, Error: why})
	}
	return out
}

// hubStatus is a hub's /api/v1/status (hub.Status).
type hubStatus hub.Status

// hubStatusOf reads a status answer as a hub's, if it is one.
func hubStatusOf(raw []byte) (hubStatus, bool) {
	var keys map[string]json.RawMessage
	var hs hubStatus
	if json.Unmarshal(raw, &keys) != nil || keys["postgres"] == nil || keys["sensors"] == nil {
		return hs, false
	}
	if json.Unmarshal(raw, &hs) != nil {
		return hs, false
	}
	return hs, true
}

// missing are the sensors the hub could not reach.
func (hs hubStatus) missing() []selpkg.Missing {
	var out []selpkg.Missing
	for _, s := range hs.Sensors {
		if !s.Reachable {
			out = append(out, selpkg.Missing{Sensor: s.Sensor, Error: s.Error})
		}
	}
	return out
}

func (a *app) printHubStatus(hs hubStatus) error {
	fmt.Fprintf(a.stdout, "hub: PostgreSQL %s\n\n", hs.Postgres)
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SENSOR\tURL\tINTERFACES\tREACHABLE")
	for _, s := range hs.Sensors {
		reach := "yes"
		if !s.Reachable {
			reach = "no"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", printable(s.Sensor), printable(s.URL), dash(printable(strings.Join(s.Interfaces, ","))), reach)
	}
	return tw.Flush()
}
