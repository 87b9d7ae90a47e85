package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
)

// One meaning per flag, on every command (as tcpdump):
//
//	-c N, --max-packets N  stop after N packets (capture, query, export, replay)
//	--count                print only the number of matching packets (query)
//
// --count N, which capture, export and replay took for -c, is refused
// there with a line saying what to type: it reads as tcpdump's --count.
// query's -l/--limit, an older spelling of its -c, still works: it
// cannot be read otherwise.

// addMaxPacketsFlag adds -c/--max-packets to cmd, and the refusal of
// --count N.
func addMaxPacketsFlag(cmd *cobra.Command, dst *int64, def int64, usage string) {
	cmd.Flags().Int64VarP(dst, "max-packets", "c", def, usage)
	cmd.Flags().Var(movedFlag{func(v string) string {
		return fmt.Sprintf("--count only counts, as tcpdump --count: stop after %s packets with -c %s", v, v)
	}}, "count", "")
	cmd.Flags().Lookup("count").Hidden = true
}

// movedFlag is a flag that no longer means what it did: giving it is an
// error that says what to type instead.
type movedFlag struct{ advice func(value string) string }

func (m movedFlag) String() string     { return "" }
func (m movedFlag) Set(v string) error { return errors.New(m.advice(v)) }
func (m movedFlag) Type() string       { return "N" }
