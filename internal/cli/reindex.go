package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/packetrecorderd/packetrecorderd/internal/archive"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

func (a *app) reindexCmd() *cobra.Command {
	var (
		dbPath  string
		rebuild bool
	)
	cmd := &cobra.Command{
		Use:   "reindex -d DB|STORE",
		Short: "Build the block index of a database or of every segment of a store",
		Long: `Build the block index where it is missing or damaged: the per-block
sketches of the terms (addresses, ports, protocols, VLAN ids) that let a
query read only the blocks that can hold its packets. Of a store, it also
gives every closed segment without a usable summary in the catalog one
(the sketch of all its packets' terms, which lets a query open only the
segments that can hold its packets). A database of an
older schema gets its index when it is first opened with write access;
reindex does the same, and repairs an index that a query warned about.
A query never depends on the index for its answer: blocks without an
index entry are read whole.`,
		Example: `  packetrecorder reindex -d capture.db
  packetrecorder reindex -d /var/lib/packetrecorder --rebuild`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			paths := []string{dbPath}
			isStore := archive.IsStore(dbPath)
			if isStore {
				ar, err := archive.Open(dbPath, archive.Options{})
				if err != nil {
					return err
				}
				segs, err := ar.Segments()
				if err != nil {
					ar.Close()
					return err
				}
				paths = paths[:0]
				for _, s := range segs {
					paths = append(paths, ar.Path(s))
				}
				ar.Close()
			}
			var total store.ReindexStats
			for _, p := range paths {
				st, err := reindexDB(p, rebuild)
				if err != nil {
					return err
				}
				total.Blocks += st.Blocks
				total.Kept += st.Kept
				total.Sketch += st.Sketch
				total.Packets += st.Packets
			}
			pct := 0.0
			if total.Packets > 0 {
				pct = 100 * float64(total.Sketch) / float64(total.Packets)
			}
			fmt.Fprintf(a.stdout, "%d blocks indexed, %d kept; index %d bytes, %.2f%% of %d packet bytes (%d files)\n",
				total.Blocks, total.Kept, total.Sketch, pct, total.Packets, len(paths))
			if isStore {
				return a.summarizeStore(dbPath, rebuild)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&dbPath, "database", "d", "", "database file or store directory")
	cmd.MarkFlagRequired("database")
	cmd.Flags().BoolVar(&rebuild, "rebuild", false, "rebuild the whole index, not only what is missing or damaged")
	return cmd
}

func reindexDB(path string, rebuild bool) (store.ReindexStats, error) {
	db, err := store.Open(path, store.Options{NoReserve: true})
	if err != nil {
		return store.ReindexStats{}, err
	}
	defer db.Close()
	st, err := db.Reindex(rebuild)
	if err != nil {
		return st, fmt.Errorf("%s: %w", path, err)
	}
	return st, nil
}

// summarizeStore gives the store's closed segments their catalog
// summaries where they are missing (all of them, with rebuild).
func (a *app) summarizeStore(dir string, rebuild bool) error {
	ar, err := archive.Open(dir, archive.Options{})
	if err != nil {
		return err
	}
	defer ar.Close()
	st, err := ar.Summarize(rebuild)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "%d segment summaries built, %d kept; %d bytes\n", st.Built, st.Kept, st.Bytes)
	return nil
}
