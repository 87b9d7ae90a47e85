package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/packetrecorderd/packetrecorderd/internal/archive"
	"github.com/packetrecorderd/packetrecorderd/internal/capture"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

// completions teaches the shell completion (cobra's `completion` command)
// the values a user types most: interface names for -i, --interface and
// --source-interface, session ids (with their names) for -s.
func (a *app) completions(root *cobra.Command) {
	ifaces := func(cmd *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
		list, err := capture.Interfaces()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []string
		for _, it := range list {
			if strings.HasPrefix(it.Name, prefix) {
				out = append(out, it.Name)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
	storeIfaces := func(cmd *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
		dir, _ := cmd.Flags().GetString("database")
		if !archive.IsStore(dir) {
			return ifaces(cmd, args, prefix)
		}
		ar, err := archive.Open(dir, archive.Options{ReadOnly: true})
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		defer ar.Close()
		segs, _ := ar.Segments()
		seen := map[string]bool{}
		var out []string
		for _, s := range segs {
			if !seen[s.Interface] && strings.HasPrefix(s.Interface, prefix) {
				seen[s.Interface] = true
				out = append(out, s.Interface)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
	sessions := func(cmd *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
		path, _ := cmd.Flags().GetString("database")
		db, err := store.Open(path, store.Options{ReadOnly: true})
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		defer db.Close()
		list, _ := db.Sessions()
		var out []string
		for _, s := range list {
			if id := fmt.Sprint(s.ID); strings.HasPrefix(id, prefix) {
				out = append(out, id+"\t"+s.Name)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for name, fn := range map[string]cobra.CompletionFunc{"interface": ifaces, "source-interface": storeIfaces, "session": sessions} {
			if c.Flags().Lookup(name) == nil {
				continue
			}
			if name == "interface" && c.Name() != "capture" && c.Name() != "replay" {
				fn = storeIfaces // a store's recorded interfaces
			}
			c.RegisterFlagCompletionFunc(name, fn)
		}
		if c.Name() == "sessions" {
			for _, sub := range c.Commands() {
				if sub.Name() != "completion" {
					sub.ValidArgsFunction = sessions
				}
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}
