// Package cli implements the packetrecorder command line: one file per
// subcommand, each parsing its flags, calling the packages that do the work
// and printing the result. Main is the only entry point; it turns every
// error into one line on stderr and an exit code.
package cli

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

// DefaultDatabase is where packets go when -d is not given.
const DefaultDatabase = "packets.db"

// app carries what every subcommand shares.
type app struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	log    *slog.Logger
}

// Main runs the command line and returns the process exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := NewRootCmd(stdin, stdout, stderr)
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		fmt.Fprintf(stderr, "packetrecorder: %s\n", oneLine(explain(err)))
		var pe *partialError
		if errors.As(err, &pe) {
			return ExitPartial
		}
		return 1
	}
	return 0
}

// Exit codes, a contract for scripts: 0 done, 1 failed (nothing of the
// failed step kept), ExitPartial done in part as asked (import
// --keep-partial kept what it read of a damaged or interrupted file).
const ExitPartial = 3

// partialError is a command's error when it did in part what was asked
// and kept that part: its message says what was kept; the exit code is
// ExitPartial.
type partialError struct{ err error }

func (e *partialError) Error() string { return e.err.Error() }
func (e *partialError) Unwrap() error { return e.err }

// NewRootCmd builds the command tree. Tests drive it with SetArgs.
func NewRootCmd(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr,
		log: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	root := &cobra.Command{
		Use:   "packetrecorder",
		Short: "Capture packets into SQLite, query them, replay them",
		Long: `packetrecorder captures packets from a network interface through a
tcpdump-style filter into a SQLite database, one session per capture, and
lets you list sessions, look at their packets and replay them.`,
		SilenceErrors: true,
		SilenceUsage:  true,
		Version:       version(),
	}
	root.SetVersionTemplate(versionLine() + "\n")
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(
		a.listInterfacesCmd(),
		a.captureCmd(),
		a.sessionsCmd(),
		a.queryCmd(),
		a.flowsCmd(),
		a.replayCmd(),
		a.importCmd(),
		a.exportCmd(),
		a.filterCmd(),
		a.versionCmd(),
		a.daemonCmd(),
		a.hubCmd(),
		a.holdCmd(),
		a.tokenCmd(),
		a.statusCmd(),
		a.uiCmd(),
		a.vacuumCmd(),
		a.reindexCmd(),
	)
	a.completions(root)
	return root
}

// explain adds advice to errors a user can act on.
func explain(err error) error {
	switch {
	case errors.Is(err, os.ErrPermission) && strings.Contains(err.Error(), "packet socket"):
		return fmt.Errorf("%w: needs root or CAP_NET_RAW and CAP_NET_ADMIN (sudo setcap cap_net_raw,cap_net_admin=eip $(command -v packetrecorder))", err)
	case (errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)) && !strings.Contains(err.Error(), "ulimit -n"):
		return fmt.Errorf("%w (raise ulimit -n)", err)
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("%w (capture into it first, or give the right -d)", err)
	}
	return err
}

// oneLine keeps an error message on one line.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

func addDatabaseFlag(cmd *cobra.Command, dst *string) {
	cmd.Flags().StringVarP(dst, "database", "d", DefaultDatabase, "SQLite database file")
}
