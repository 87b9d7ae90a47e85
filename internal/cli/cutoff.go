package cli

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/packetrecorderd/packetrecorderd/internal/cutoff"
)

// addCutoffFlags adds capture's and import's --cutoff and --cutoff-keep.
func addCutoffFlags(cmd *cobra.Command, size, keep *string) {
	cmd.Flags().StringVar(size, "cutoff", "", "per-flow cutoff: once a flow has carried this many payload bytes (both ways, e.g. 64KiB), store its further packets cut to their headers")
	cmd.Flags().StringVar(keep, "cutoff-keep", "", "what is kept of a packet past the cutoff: headers (the default) or none (counted, not stored)")
}

// printCutoff is the summary line of what a cutoff did.
func printCutoff(w io.Writer, cut *cutoff.Config, st cutoff.Stats) {
	fmt.Fprintf(w, "cutoff (%s): %s cut, %d of them not stored, %s saved; %d of %d %s cut, %d evicted from a full table\n",
		cut, packets(int64(st.CutPackets())), st.DropPackets, humanBytes(int64(st.CutBytes)),
		st.FlowsCut, st.Flows, plural(int64(st.Flows), "flow"), st.Evicted)
}
